"""Sweeps over any config: the --vary grammar, the file, executors, kill and resume, blow-ups, the CLI."""

import os
import subprocess
import sys

import h5py
import numpy as np
import pytest

import wgf
from _common import swap_config
from wgf import ConfigError, parse_config, sweep
from wgf.cli import main
from wgf.executors import JobError
from wgf.sweep import STATUS, Sweep, parse_vary, read_sweep, run_sweep, sweep_table

BASE = swap_config(n=(8, 16), seeds=2)
VARIES = ("training.scheme=vanilla,fa", "training.init+training.noise=si+projected,wi+full")


@pytest.mark.parametrize("text,keys,levels", [
    ("training.scheme=vanilla,da,fa", ("training.scheme",), (("vanilla",), ("da",), ("fa",))),
    ("particles.n=10,100", ("particles.n",), (("10",), ("100",))),
    ("pde.cells=[32, 32],[64,64]", ("pde.cells",), (("[32, 32]",), ("[64,64]",))),
    ('data.teacher="wi", "si"', ("data.teacher",), (('"wi"',), ('"si"',))),
    ("training.init+training.noise=si+projected,wi+full", ("training.init", "training.noise"),
     (("si", "projected"), ("wi", "full"))),
])
def test_vary_grammar(text, keys, levels):
    v = parse_vary(text)
    assert v.keys == keys and v.levels == levels
    assert parse_vary(v.text()) == v  # the file stores the text and reads it back


def test_joint_values_split_at_plus_signs_but_not_in_exponents():
    v = parse_vary("training.beta+training.tau=1e+3+2e-4,1E+2+0")
    assert v.levels == (("1e+3", "2e-4"), ("1E+2", "0")) and v.values(0) == [1000.0, 100.0]


def test_vary_values_are_toml_values_and_dims_are_named_after_keys():
    assert parse_vary("particles.n=10,100").values() == [10, 100]
    assert parse_vary("particles.n=10,100").dim == "N"
    assert parse_vary("training.beta=1e-3,1e-4").values() == [1e-3, 1e-4]
    assert parse_vary("pde.cells=[32, 32],[64,64]").values() == [[32, 32], [64, 64]]
    assert parse_vary("training.init+training.noise=si+projected,wi+full").dim == "init"


@pytest.mark.parametrize("text,message", [
    ("scheme=vanilla,fa", "expected section.key=v1,v2"),
    ("training.scheme", "expected section.key=v1,v2"),
    ("training.scheme=", "expected section.key=v1,v2"),
    ("training.init+training.noise=si,wi+full", "needs 2 parts joined by +"),
    ("training.scheme=fa,fa", "the values fa and fa are the same"),
    ("training.beta=1e-3,0.001", "the values 1e-3 and 0.001 are the same"),
    ("particles.n=10,20,10.0", "the values 10 and 10.0 are the same"),
    ("training. beta=1e-3", "'training. beta' is not a config key"),
    ("particles .n=30,40", "'particles .n' is not a config key"),
    ("training.betta=1e-3", r"\[training\] betta: unknown key"),
    ("training={beta=1e-3}", "expected section.key=v1,v2"),
    ('training.scheme=fa,"da"\n[model]\ndim_x=3', "is not one value"),
    ("training.beta=1" + "0" * 5000, "--vary training.beta: an integer of more than 4300 digits"),
    ("training.beta=1e-3,,2e-3", "an empty value"),
])
def test_bad_vary_is_one_line_naming_it(text, message):
    with pytest.raises(ConfigError, match=message) as e:
        parse_vary(text)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("varies,message", [
    (["training.scheme=vanilla,gd"], r"\[training\] scheme.*gd.*\(at particles.n=8, training.scheme=gd\)"),
    (["training.scheme=vanilla", "training.scheme=fa"], "training.scheme is varied twice"),
    (["training.beta=1e-3", "model.beta=1"], r"\[model\] beta: unknown key"),
    (["discover.seed=0,1"], "--vary discover.seed: a sweep does not use it"),
    (["particles.seeds=2,3"], "--vary particles.seeds: a sweep does not use it"),
    (["training.init+model.seed=si+1"], r"\[model\] seed: unknown key"),
    (["particles.n=[10, 20],30"], "particles.n takes one integer N per level"),
])
def test_every_combination_is_checked_before_any_run(varies, message):
    with pytest.raises(ConfigError, match=message):
        Sweep.build(BASE, varies)


def test_a_large_sweep_refused_at_a_combination_prints_one_line(tmp_path, capsys, monkeypatch):
    """The check of a large sweep shows a progress bar only on a terminal, erased before the refusal."""
    from wgf import sweep as sweep_module
    from wgf.cli import main

    monkeypatch.setattr(sweep_module, "LARGE_SWEEP", 1)
    cfg = tmp_path / "c.toml"
    cfg.write_text(BASE)
    assert main(["sweep", str(cfg), "--vary", "training.scheme=vanilla,gd", "-o", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "(at particles.n=8, training.scheme=gd)" in err, err


def test_a_sweep_needs_particles():
    with pytest.raises(ConfigError, match=r"\[particles\]"):
        Sweep.build(BASE[: BASE.index("[particles]")], [])


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    path = tmp_path_factory.mktemp("sweep") / "whole.h5"
    run_sweep(Sweep.build(BASE, VARIES), path, progress=False)
    return path


def _datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def test_the_file_opens_with_xarray_on_the_varied_keys(whole):
    ds = wgf.open_results(whole)["sweep"].to_dataset()
    assert ds["risk"].dims == ("N", "scheme", "init", "seed")
    assert ds["N"].values.tolist() == [8, 16] and ds["scheme"].values.tolist() == ["vanilla", "fa"]
    assert ds["init"].values.tolist() == ["si", "wi"] and ds["noise"].dims == ("init",)
    assert ds["noise"].values.tolist() == ["projected", "full"] and "noise" in ds.coords
    for name in list(ds.data_vars) + list(ds.coords):
        assert ds[name].attrs["long_name"] and "units" in ds[name].attrs, name
    assert ds["scheme"].attrs["config_key"] == "training.scheme"
    assert (ds["status"] == STATUS["finished"]).all()


def test_each_value_is_the_run_of_its_config(whole):
    from wgf.particles import simulate
    from wgf.validation import si_rmd2, wi_rmd2

    ds = read_sweep(whole)
    exp = parse_config(BASE.replace('init = "wi"', 'init = "wi"\nscheme = "fa"\nnoise = "full"'))
    theta = simulate(exp.problem, 16, 1, [0.0, 2.0], alpha=4.0, batch=5, store=False).final
    at = dict(N=16, scheme="fa", init="wi", seed=1)
    assert float(ds["risk"].sel(at)) == wgf.risk(exp.problem, theta)
    assert float(ds["si_rmd2"].sel(at)) == si_rmd2(exp.problem.symmetry, theta)
    assert float(ds["wi_rmd2"].sel(at)) == wi_rmd2(exp.problem.symmetry, theta)
    assert float(ds["m2"].sel(at)) == pytest.approx((theta ** 2).sum(axis=1).mean(), rel=1e-14)
    # FA from an SI start with projected noise stays on E^G (Thm 5); vanilla does not
    assert float(ds["si_rmd2"].sel(scheme="fa", init="si").max()) < 1e-25
    assert float(ds["si_rmd2"].sel(scheme="vanilla", init="si").min()) > 1e-5


@pytest.mark.slow
def test_two_processes_give_the_same_file(whole, tmp_path):
    pooled = run_sweep(Sweep.build(BASE, VARIES), tmp_path / "pool.h5", workers=2, progress=False)
    a, b = _datasets(whole), _datasets(pooled)
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_an_interrupted_sweep_resumes_to_the_same_file(whole, tmp_path, monkeypatch):
    cut = tmp_path / "cut.h5"
    real, calls = sweep.sweep_job, []

    def failing(*job):
        calls.append(job)
        if len(calls) > 5:
            raise RuntimeError("stopped")
        return real(*job)

    monkeypatch.setattr(sweep, "sweep_job", failing)
    with pytest.raises(JobError):
        run_sweep(Sweep.build(BASE, VARIES), cut, progress=False, retries=0)
    assert not cut.exists()
    with h5py.File(cut.with_name("cut.h5.partial")) as f:
        assert (f["sweep/status"][()] == STATUS["finished"]).sum() == 5
    done = []
    monkeypatch.setattr(sweep, "sweep_job", lambda *job: done.append(job) or real(*job))
    run_sweep(Sweep.build(BASE, VARIES), cut, resume=True, progress=False)
    assert len(done) == 16 - 5  # the five finished runs are not redone
    a, b = _datasets(whole), _datasets(cut)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


KILLED_AT_THE_FOURTH_RUN = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from wgf import io, sweep
io.MARK_SECONDS = {mark_seconds!r}
real, calls = sweep.sweep_job, []

def dying(*job):
    calls.append(job)
    if len(calls) == 4:
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*job)

sweep.sweep_job = dying
sweep.run_sweep(sweep.Sweep.build({base!r}, {varies!r}), {out!r}, progress=False)
"""


@pytest.mark.slow
@pytest.mark.parametrize("mark_seconds", [0.0, 60.0])
def test_a_killed_sweep_resumes_to_the_same_file(whole, tmp_path, mark_seconds):
    """SIGKILL in the middle of a sweep (no clean-up runs): the file is readable and the runs marked finished are
    kept: all three when every run is marked at once, none when the marks wait for their batch (they are run
    again)."""
    out = tmp_path / "killed.h5"
    script = KILLED_AT_THE_FOURTH_RUN.format(tests=os.path.dirname(__file__), base=BASE, varies=VARIES, out=str(out),
                                             mark_seconds=mark_seconds)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert proc.returncode == -9, proc.stderr
    with h5py.File(out.with_name("killed.h5.partial")) as f:
        assert (f["sweep/status"][()] == STATUS["finished"]).sum() == (3 if mark_seconds == 0.0 else 0)
    run_sweep(Sweep.build(BASE, VARIES), out, resume=True, progress=False)
    a, b = _datasets(whole), _datasets(out)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_wi_rmd2_is_measured_wherever_exact_ot_fits(tmp_path, monkeypatch):
    import wgf.validation

    monkeypatch.setattr(wgf.validation, "SPARSE_OT_MAX_PAIRS", 8 * 8 * 2)  # N = 8 fits, N = 16 does not
    out = run_sweep(Sweep.build(swap_config(n=(8, 16), seeds=1), []), tmp_path / "wi.h5", progress=False)
    ds = read_sweep(out)
    assert np.isfinite(ds["wi_rmd2"].sel(N=8)).all() and np.isnan(ds["wi_rmd2"].sel(N=16)).all()
    assert (ds["status"] == STATUS["finished"]).all() and np.isfinite(ds["si_rmd2"]).all()
    assert ds.attrs["wi_rmd2_skipped"].startswith("at N = 16:")


def test_a_run_that_blows_up_is_recorded_not_written(tmp_path, caplog):
    # tau = 1000 with eps = 0.002: theta <- (1 - 2 tau eps) theta = -3 theta, 1000 steps overflow
    base = swap_config(n=(8,), seeds=2).replace("alpha = 4.0", "step = 0.002")
    out = run_sweep(Sweep.build(base, ["training.tau=1e-4,1000.0"]), tmp_path / "hot.h5", progress=False)
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["sweep/status"][()], [[[1, 1], [2, 2]]])
        assert np.all(f["sweep/risk"][0, 1] == -1.0) and np.all(np.isfinite(f["sweep/risk"][()]))
    ds = read_sweep(out)
    assert np.isnan(ds["risk"].sel(tau=1000.0)).all() and np.isfinite(ds["risk"].sel(tau=1e-4)).all()
    assert "became non-finite" in caplog.text and "training.tau=1000.0" in caplog.text
    assert "(2 blew up)" in sweep_table(out)


def test_cli_sweep_writes_file_table_and_figures(tmp_path, capsys):
    cfg = tmp_path / "base.toml"
    cfg.write_text(BASE)
    out = tmp_path / "sw"
    assert main(["sweep", str(cfg), "--vary", "training.scheme=vanilla,fa", "--set", "particles.seeds=1",
                 "-o", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "vanilla" in text and "si_rmd2" in text
    # what wgf report prints, with the settings the runs share and the varied keys
    assert ("ran: unit sigmoid_matrix, group swap, loss squared, schedule constant, init wi, noise full, beta 0.0001; "
            "varied: N, scheme\n") in text
    ds = read_sweep(out / "sweep.h5")
    assert dict(ds.sizes) == {"N": 2, "scheme": 2, "seed": 1}
    assert (out / "si_rmd2_vs_N.png").exists() and (out / "si_rmd2_vs_N.pdf").exists()
    # the x axis by its config key; N is the default even when another key is varied first
    assert main(["sweep", str(cfg), "--vary", "training.scheme=vanilla,fa", "--set", "particles.seeds=1",
                 "-o", str(out), "--quiet", "--resume", "--x", "training.scheme"]) == 0
    assert (out / "si_rmd2_vs_scheme.png").exists()
    capsys.readouterr()
    # again: the file exists
    assert main(["sweep", str(cfg), "--vary", "training.scheme=vanilla,fa", "-o", str(out), "--quiet"]) == 2
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize("args,message", [
    (["--vary", "training.scheme=vanilla,gd"], "gd"),
    (["--vary", "scheme=fa"], "expected section.key=v1,v2"),
    (["--vary", "training.scheme=fa", "--x", "beta"], "--x 'beta': not a varied key"),
    (["--workers", "0"], "--workers must be >= 1"),
    (["--vary", "training.scheme=vanilla,fa", "--set", "training.scheme"], "--set 'training.scheme': expected"),
    (["--vary", "particles.n=8,16", "--set", "particles.n=[8,16]", "--vary", "training.scheme=fa,gd"], "gd"),
])
def test_cli_refuses_bad_input_before_any_work(tmp_path, capsys, args, message):
    cfg = tmp_path / "base.toml"
    cfg.write_text(BASE)
    assert main(["sweep", str(cfg), "-o", str(tmp_path / "x"), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_a_changed_named_sweep_is_a_sweep_of_its_own(tmp_path, capsys, monkeypatch):
    from wgf import study
    from wgf.study import StudyPlan, paper_sweep

    tiny = StudyPlan(n=(10, 20), seeds=1, t_end=20.0, teachers=("wi",), schemes=("vanilla",), starts=("si",))
    monkeypatch.setitem(study.NAMED_SWEEPS, "paper-quick", lambda: paper_sweep(tiny))
    assert main(["sweep", "paper-quick", "--set", "particles.n=[5]", "-o", str(tmp_path / "a"), "--dry-run"]) == 0
    assert "sweep: N (1) x init (1) x teacher (1) x scheme (1) = 1 combinations" in capsys.readouterr().out
    assert main(["sweep", "paper-quick", "--set", "training.t_end=10.0", "-o", str(tmp_path / "b"), "--quiet"]) == 0
    with h5py.File(tmp_path / "b" / "sweep.h5") as f:
        assert f["sweep"].attrs["name"] == "" and not study.is_study(f)
    assert main(["sweep", "paper-quick", "-o", str(tmp_path / "c"), "--quiet"]) == 0
    with h5py.File(tmp_path / "c" / "sweep.h5") as f:
        assert study.is_study(f)


def test_named_sweeps_are_the_paper_study():
    from wgf.study import NAMED_SWEEPS, StudyPlan, paper_sweep

    assert set(NAMED_SWEEPS) == {"paper", "paper-quick", "paper-rotation"}
    quick = NAMED_SWEEPS["paper-quick"]()
    assert quick == paper_sweep(StudyPlan.quick())
    assert [v.dim for v in quick.varies] == ["N", "init", "teacher", "scheme"] and quick.seeds == 3
    assert quick.shape == (3, 2, 3, 4)


def test_sweep_quantity_draws_one_line_per_combination_with_geometric_means():
    import matplotlib

    matplotlib.use("Agg")
    import xarray as xr

    from wgf.plot import sweep_quantity

    v = np.array([[[1e-30, 1e-32], [1e-3, 1e-1]], [[4e-2, 1e-2], [0.0, 0.0]]])  # (scheme, N, seed)
    da = xr.DataArray(v, dims=("scheme", "N", "seed"), coords={"scheme": ["fa", "vanilla"], "N": [10, 1000]},
                      name="si_rmd2")
    ax = sweep_quantity(da, "N")
    assert ax.get_yscale() == "log" and ax.get_xscale() == "log"
    assert [c.get_label() for c in ax.containers] == ["scheme=fa", "scheme=vanilla"]
    lines = [c.lines[0] for c in ax.containers]
    # geometric means over seeds; the first (1e-31) is at round-off: a mark in the band, not a value
    np.testing.assert_allclose(lines[0].get_ydata(), [np.nan, 1e-2], rtol=1e-12)
    assert [p.get_label() for p in ax.patches] == ["at round-off (< 2.2e-13)"]  # an RMD^2: 1000 eps
    np.testing.assert_allclose(ax.lines[0].get_xydata(), [[10, 2.2e-14]], rtol=0.01)
    y = np.asarray(lines[1].get_ydata(), dtype=float)  # the exact zeros are left out on a log axis
    assert y[0] == pytest.approx(2e-2, rel=1e-12) and np.isnan(y[1])
    assert sweep_quantity(da.sel(scheme=["vanilla"]) + 1.0, "N").get_yscale() == "linear"
    cat = sweep_quantity(da.transpose("N", "scheme", "seed"), "scheme")
    assert [t.get_text() for t in cat.get_xticklabels()] == ["fa", "vanilla"]


@pytest.mark.parametrize("damaged", ["sweep/risk", "sweep/status"])
def test_a_damaged_chunk_is_run_again_on_resume(whole, tmp_path, damaged):
    """Flipped bytes in a stored chunk (a value or its finished mark) fail HDF5's checksum: --resume runs
    what that chunk held again and the file ends as the uninterrupted one, bit for bit."""
    cut = tmp_path / "cut.h5"
    cut.with_name("cut.h5.partial").write_bytes(whole.read_bytes())
    with h5py.File(cut.with_name("cut.h5.partial"), "r") as f:
        info = f[damaged].id.get_chunk_info(0)
    with open(cut.with_name("cut.h5.partial"), "r+b") as fh:
        fh.seek(info.byte_offset)
        fh.write(bytes(b ^ 0xFF for b in fh.read(8)))  # data bytes at the chunk's start, not its checksum
    with h5py.File(cut.with_name("cut.h5.partial"), "r") as f, pytest.raises(OSError):
        f[damaged][()]
    run_sweep(Sweep.build(BASE, VARIES), cut, resume=True, progress=False)
    a, b = _datasets(whole), _datasets(cut)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_a_sweep_checks_the_configuration_it_runs(tmp_path, capsys):
    # wgf run refuses this config: its N = 2 (eps = 2 for the snapshot spacing 0.02 of 101 snapshots) and its [pde]
    # (a grid on E^G with a WI start); --vary particles.n replaces the one, a sweep does not read the other, and
    # its runs go from 0 to t_end in one stretch (snapshots = 2, no record_every)
    text = swap_config(n=(2,)).replace("snapshots = 3", "snapshots = 101")
    text = text.replace("[particles]", "[particles]\nrecord_every = 1")
    text += '[pde]\nspace = "fixed"\n'
    with pytest.raises(ConfigError, match=r"\[particles\] alpha"):
        parse_config(text.split("[pde]")[0])
    sweep = Sweep.build(text, ["particles.n=8,16"])
    assert "[pde]" not in sweep.text and "record_every" not in sweep.text and sweep.shape == (2,)
    assert sweep.experiment((1,)).pde is None and sweep.experiment((1,)).problem.snapshots == 2
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    assert main(["sweep", str(cfg), "--vary", "particles.n=8,16", "--dry-run", "-o", str(tmp_path / "x")]) == 0
    assert "N (2) = 2 combinations x 2 seeds = 4 runs" in capsys.readouterr().out
    # what runs is still checked, naming the combination: eps = 4 at N = 1 exceeds t_end
    with pytest.raises(ConfigError, match=r"\[particles\] alpha: .* at N = 1 .*\(at particles.n=1\)"):
        Sweep.build(text, ["particles.n=8,1"])


def test_many_combinations_are_checked_once_each_and_cheaply(monkeypatch):
    import time

    from wgf import config

    built = {"symmetry": 0, "problem": 0}

    def counted(name, fn):
        def call(*args, **kwargs):
            built[name] += 1
            return fn(*args, **kwargs)
        return call

    monkeypatch.setattr(config, "_symmetry_data", counted("symmetry", config._symmetry_data))
    monkeypatch.setattr(config, "_problem", counted("problem", config._problem))
    betas = ",".join(repr(1e-4 * (1 + i)) for i in range(40))
    alphas = ",".join(repr(2.0 + 0.01 * i) for i in range(50))
    start = time.perf_counter()
    sweep = Sweep.build(BASE, ["training.beta=" + betas, "particles.alpha=" + alphas])
    elapsed = time.perf_counter() - start
    assert sweep.shape == (2, 40, 50) and len(sweep.plan()) == 4000
    assert built == {"symmetry": 1, "problem": 40}  # the problem once per beta, whatever N and alpha
    assert sweep.plan() is sweep.plan()  # run_sweep reads the checked plan: nothing is parsed twice
    assert sweep.plan()[1, 0, 49][:3] == (16, 16 * 2.0 / (2.49 / 16), True)
    assert elapsed < 3.0, elapsed  # about 0.3 s (75 microseconds per combination)
    # an absurd number of runs is refused before any combination is checked
    many = ",".join(str(i / 1e4) for i in range(1, 1002))
    with pytest.raises(ConfigError, match=r"--vary: 4008004 runs \(2004002 combinations x 2 seeds\), more than"):
        Sweep.build(BASE, ["training.beta=" + many, "training.tau=" + many])
    assert built["problem"] == 40


def test_text_beyond_the_basic_plane_in_a_sweep():
    sweep = Sweep.build(swap_config(title="sweep \U0001F600"), ["training.scheme=vanilla,fa"])
    again = Sweep.from_json(sweep.to_json())
    assert again == sweep and again.title == "sweep \U0001F600" and "\\ud83d" not in sweep.text
    assert "sweep \U0001F600" in sweep.to_json()  # as it is, never as surrogate escapes
    with pytest.raises(ConfigError, match="expected one of .*got '\U0001F600'"):
        Sweep.build(BASE, ["training.scheme=vanilla,\U0001F600"])


def test_a_sweep_replaces_the_base_values_of_its_varied_keys_before_checking(tmp_path, capsys):
    """The base config's values of the varied keys (here an N of 0, a negative alpha, an unknown start) are never
    checked or run; a bad --vary value still is, in one line naming it."""
    cfg = tmp_path / "bad.toml"
    cfg.write_text(BASE.replace("n = [8, 16]", "n = [0, -3]").replace("alpha = 4.0", "alpha = -4.0")
                   .replace('init = "wi"', 'init = "bogus"'))
    args = ["sweep", str(cfg), "--vary", "particles.n=8,16", "--vary", "particles.alpha+training.init=2+wi,4+si",
            "--dry-run", "-o", str(tmp_path / "x")]
    assert main(args) == 0
    assert "sweep: N (2) x alpha (2) = 4 combinations x 2 seeds = 8 runs" in capsys.readouterr().out
    assert main(args[:-3] + ["--vary", "training.scheme=fa,nope", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err and "training.scheme" in err and len(err.strip().splitlines()) == 1


def test_set_of_a_varied_key_follows_one_precedence_rule(tmp_path, capsys, caplog, monkeypatch):
    """--vary over --set over a built-in sweep's levels over the base config: a --set of a key --vary gives is
    not used (one warning line says so); a --set of a key a built-in sweep varies fixes it, the keys varied with
    it keep their levels; a --vary of such a key takes its place."""
    from wgf import study
    from wgf.study import StudyPlan, paper_sweep

    cfg = tmp_path / "base.toml"
    cfg.write_text(BASE)
    out = ["--dry-run", "-o", str(tmp_path / "x")]
    assert main(["sweep", str(cfg), "--set", "training.scheme=bogus", "--vary", "training.scheme=vanilla,fa", *out]) == 0
    assert "N (2) x scheme (2) = 4 combinations" in capsys.readouterr().out
    assert ["--set training.scheme=bogus is not used: --vary training.scheme gives its values (--vary takes "
            "precedence over --set)"] == [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    tiny = StudyPlan(n=(10, 20), seeds=1, t_end=20.0, teachers=("wi", "si"), schemes=("vanilla", "fa"),
                     starts=("si", "wi"))
    monkeypatch.setitem(study.NAMED_SWEEPS, "paper-quick", lambda: paper_sweep(tiny))
    expected = {("--set", "particles.n=[10,20,40]"): "N (3) x init (2) x teacher (2) x scheme (2) = 24",
                ("--vary", "particles.n=10,40"): "N (2) x init (2) x teacher (2) x scheme (2) = 16",
                ("--set", "training.scheme=fa"): "N (2) x init (2) x teacher (2) = 8",
                ("--set", "training.noise=full"): "N (2) x init (2) x teacher (2) x scheme (2) = 16"}
    for (option, value), dims in expected.items():
        assert main(["sweep", "paper-quick", option, value, *out]) == 0
        printed = capsys.readouterr().out
        assert f"sweep: {dims} combinations" in printed, printed
    assert "training.noise=full" not in printed and "training.init=si, data.teacher=wi" in printed
