"""The paper's study for varying N (`wgf paper-study`, docs/theory.md §7.8 and §9)."""

import h5py
import numpy as np
import pytest

import wgf
from wgf import study
from wgf.cli import main
from wgf.study import StudyPlan, read_study, run_paper_study, study_table, verdicts

# 20 and 40 particles for 20 and 40 steps (eps = 50 / N, t_end = 50), 2 seeds: seconds
TINY = StudyPlan(n=(20, 40), seeds=2, t_end=50.0)
SMALL = StudyPlan(n=(20, 40), seeds=2, t_end=50.0, teachers=("arbitrary", "wi"), schemes=("vanilla", "fa"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("study") / "paper_study.h5"
    run_paper_study(TINY, path, progress=False)
    return path


def _datasets(path):
    with h5py.File(path, "r") as f:
        out = {}
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        attrs = {name: dict(f[name].attrs) for name in out if "/" in name}
        return out, attrs


def test_study_opens_with_xarray_as_a_sweep(tiny):
    import wgf

    ds = wgf.open_results(tiny)["sweep"].to_dataset()
    assert ds["si_rmd2"].dims == ("N", "init", "teacher", "scheme", "seed")
    assert ds["N"].values.tolist() == [20, 40] and ds["seed"].values.tolist() == list(range(TINY.seeds))
    assert ds["init"].values.tolist() == ["si", "wi"] and ds["noise"].values.tolist() == ["projected", "full"]
    assert ds["teacher"].values.tolist() == list(TINY.teachers) and ds["scheme"].values.tolist() == list(TINY.schemes)
    assert all(var.attrs["long_name"] and var.attrs["units"] for var in ds.data_vars.values())
    assert ds["init"].attrs["config_key"] == "training.init" and ds["noise"].attrs["config_key"] == "training.noise"


def test_layout_and_values(tiny):
    data, _ = _datasets(tiny)
    np.testing.assert_array_equal(data["sweep/N"], [20, 40])
    assert len(TINY.combinations()) == 24
    for q in ("si_rmd2", "wi_rmd2", "risk", "m2"):
        v = data[f"sweep/{q}"]
        assert v.shape == (2, 2, 3, 4, 2) and np.all(np.isfinite(v)) and np.all(v >= 0)
    assert np.all(data["sweep/status"] == 1)  # every run finished
    with h5py.File(tiny, "r") as f:
        assert "t_end = 50.0" in f["sweep"].attrs["base_config"]


def test_invariant_schemes_stay_in_the_fixed_subspace_from_an_si_start(tiny):
    # Thm 5: projected noise and an invariant risk keep the particles in E^G (round-off only)
    _, _, values = read_study(tiny)
    for teacher in ("arbitrary", "wi", "si"):
        for scheme in ("da", "fa", "ea"):
            assert values[("si", teacher, scheme)]["si_rmd2"].max() < 1e-25
    # vanilla with the arbitrary teacher leaves E^G (the paper's observation)
    assert values[("si", "arbitrary", "vanilla")]["si_rmd2"].min() > 1e-3
    # the WI-start values are the RMD^2 of a cloud that is not SI: far from 0
    assert values[("wi", "wi", "da")]["si_rmd2"].min() > 1e-2


def test_a_run_is_the_engine_run_of_its_problem(tiny):
    from wgf.particles import simulate

    problem = study.paper_problem("si", "arbitrary", "vanilla", TINY)
    assert problem.noise == "projected" and study.paper_problem("wi", "si", "fa", TINY).noise == "full"
    theta = simulate(problem, 40, 1, [0.0, 50.0], alpha=50.0, batch=20, store=False).final
    _, _, values = read_study(tiny)
    assert values[("si", "arbitrary", "vanilla")]["si_rmd2"][1, 1] == wgf.validation.si_rmd2(problem.symmetry, theta)
    # the built-in problem is examples/paper_c2.toml's
    example = wgf.load_config(study.Path(__file__).parents[1] / "examples" / "paper_c2.toml").problem
    np.testing.assert_array_equal(example.data.teacher, problem.data.teacher)
    assert (example.tau, example.beta, example.init_std, example.noise) == (1e-4, 1e-6, 0.25, problem.noise)


def test_verdicts_and_table(tiny):
    rows = {statement: (value, holds) for statement, value, holds in verdicts(tiny)}
    for scheme in ("da", "fa", "ea"):
        value, holds = rows[f"SI start: {scheme} stays in E^G for every teacher (max RMD^2)"]
        assert holds and value < 1e-25
    value, holds = rows["SI start, arbitrary teacher: vanilla leaves E^G at every N (min over N of mean RMD^2)"]
    assert holds and value > 1e-3
    table = study_table(tiny)
    assert "N=20" in table and "N=40" in table and len(table.splitlines()) == 2 + 12 + 24


def test_report_reads_a_study_file(tiny, tmp_path, capsys):
    assert main(["report", str(tiny), "--figures", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "RMD^2 at MF time 50, mean over 2 seeds" in text and "holds  SI start: ea stays in E^G" in text
    assert (tmp_path / "paper_study.png").exists() and (tmp_path / "paper_study.pdf").exists()


def test_study_figure_draws_round_off_as_a_band_not_as_data(tiny, tmp_path, monkeypatch):
    """SI starts: DA, FA and EA keep E^G, their RMD^2 is round-off: a mark in the grey band, no value on the
    log axis (they were drawn at 1e-16 as if measured)."""
    from wgf import plot

    figures = []
    monkeypatch.setattr(plot, "save", lambda fig, path, **kw: figures.append(fig) or [])
    study.draw_study(tiny, tmp_path)
    (fig,) = figures
    si_wi = next(a for a in fig.axes if a.get_title() == "SI start, wi teacher")
    level = plot.rmd2_round_off()
    assert [p.get_label() for p in fig.axes[0].patches] == [f"at round-off (< {level:.1e})"]
    marks = [line for line in si_wi.lines if line.get_linestyle() == "None" and line.get_marker() in "s^v"]
    assert len(marks) == 3 and all(np.allclose(m.get_ydata(), 0.1 * level) for m in marks)  # da, fa, ea
    drawn = np.concatenate([c.lines[0].get_ydata() for c in si_wi.containers]).astype(float)
    assert np.nanmin(drawn) > level  # no value at round-off drawn as data
    assert si_wi.get_xscale() == "log" and fig.axes[-1].get_xlabel() == "number of particles $N$"


@pytest.mark.slow
def test_local_processes_give_the_same_file(tmp_path):
    serial, pool = tmp_path / "a.h5", tmp_path / "b.h5"
    run_paper_study(SMALL, serial, progress=False)
    run_paper_study(SMALL, pool, workers=2, progress=False)
    a, _ = _datasets(serial)
    b, _ = _datasets(pool)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_a_resume_with_another_plan_is_refused(tmp_path, monkeypatch):
    from wgf.io import ResumeError

    path = tmp_path / "s.h5"
    path.with_name("s.h5.partial").write_bytes(b"")
    run_paper_study(SMALL, path, resume=True, progress=False)  # unreadable partial: started over
    assert path.exists()
    run_paper_study(SMALL, tmp_path / "t.h5", progress=False)
    (tmp_path / "t.h5").rename(tmp_path / "u.h5.partial")
    with pytest.raises(ResumeError, match="different config"):
        run_paper_study(TINY, tmp_path / "u.h5", resume=True, progress=False)


def test_cli_quick_study_writes_file_figure_table(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(StudyPlan, "quick", classmethod(lambda cls, **kw: SMALL))
    out = tmp_path / "ps"
    assert main(["paper-study", "--quick", "-o", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert (out / "paper_study.h5").exists() and (out / "paper_study.png").exists()
    assert (out / "paper_study.pdf").exists()
    assert "holds  SI start: fa stays in E^G for every teacher" in text
    assert "si_rmd2" in text
    # an existing output is refused before any work
    assert main(["paper-study", "--quick", "-o", str(out), "--quiet"]) == 2
    assert "exists" in capsys.readouterr().err
    # --resume of the complete file: nothing to do (exit 0, as wgf run and wgf sweep); of a file another study
    # or program wrote: one line, exit 2
    assert main(["paper-study", "--quick", "-o", str(out), "--quiet", "--resume"]) == 0
    assert "is complete: nothing to resume" in capsys.readouterr().out
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    with h5py.File(foreign / "paper_study.h5", "w") as f:
        f.attrs["config"] = "another program's file"
    assert main(["paper-study", "--quick", "-o", str(foreign), "--quiet", "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is complete but was written by a different study" in err[0]


@pytest.mark.parametrize("args,message", [
    (["--workers", "0"], "--workers must be >= 1"),
    (["--dask", "localhost"], "--dask"),
    (["--dask", "tcp://127.0.0.1:1", "--workers", "2"], "exclude each other"),
])
def test_cli_refuses_bad_options(tmp_path, capsys, args, message):
    assert main(["paper-study", "-o", str(tmp_path / "x"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_plan_validation():
    with pytest.raises(ValueError, match="schemes"):
        StudyPlan(schemes=("vanilla", "gd"))
    with pytest.raises(ValueError, match="N >= 1"):
        StudyPlan(n=(0, 10))
    assert StudyPlan.quick().n == (10, 100, 1000) and StudyPlan.quick().seeds == 3
    assert StudyPlan().n == (5, 10, 50, 100, 500, 1000) and StudyPlan().seeds == 10
