"""Convergence to the minimizer and uniformly in time: /minimizer/particles_<metric> (the particles at the final time
against rho*), /compare/<metric>_sup (the largest particle-PDE distance over the snapshots) with their rates, the
report's lines and the minimizer figure, on one small run of the linear unit (1D grid of 64 cells)."""

import h5py
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import wgf  # noqa: E402
from wgf import plot  # noqa: E402
from wgf.labels import display_name  # noqa: E402

RUN = """title = "convergence test"
[model]
unit = "linear"
dim_x = 1
dim_y = 1
[group]
name = "sign"
[data]
x_std = 1.0
teacher = "arbitrary"
teacher_particles = [[0.8]]
[training]
tau = 0.5
beta = 0.05
init = "wi"
init_std = 0.25
t_end = 2.0
snapshots = 5
[pde]
space = "full"
cells = 64
half_width = 2.0
[minimizer]
tolerance = 1e-12
[particles]
n = [20, 40, 80]
seeds = 2
step = 1e-2
batch = 10
[compare]
metrics = ["mmd", "energy"]
bandwidth = 0.1
"""
METRICS = ("energy", "mmd")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    from wgf.runner import run_experiment

    return run_experiment(wgf.parse_config(RUN), tmp_path_factory.mktemp("convergence") / "run.h5", quiet=True)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_the_file_holds_exactly_the_schema_and_xarray_reads_it(results):
    from wgf import schema

    with h5py.File(results) as f:
        arrays = {k for k, v in f["minimizer"].items() if isinstance(v, h5py.Dataset)}
        declared = {*schema.MINIMIZER_SCALARS, "density", "pde_free_energy_gap", "pde_distance", "time", "u0", "N",
                    "seed", *(f"particles_{m}" for m in METRICS)}
        assert arrays == declared
        for m in METRICS:
            var = schema.MINIMIZER_VARIABLES["particles_{metric}"].format(metric=m)
            assert f[f"minimizer/particles_{m}"].attrs["long_name"] == var.long_name and var.dims == ("N", "seed")
            sup = schema.COMPARE_VARIABLES["{metric}_sup"].format(metric=m)
            assert f[f"compare/{m}_sup"].attrs["long_name"] == sup.long_name
    tree = wgf.open_results(results)
    best, compared = tree["minimizer"].to_dataset(), tree["compare"].to_dataset()
    for m in METRICS:
        assert best[f"particles_{m}"].dims == ("N", "seed") and best[f"particles_{m}"].shape == (3, 2)
        assert compared[f"{m}_sup"].dims == ("N", "seed")
        for attrs in (best[f"particles_{m}"].attrs, compared[f"{m}_sup"].attrs):
            assert {"n_points", "floor", "floor_order"} <= set(attrs)
            assert {"slope", "slope_low", "slope_high"} <= set(attrs) or "slope_skipped" in attrs
        assert best[f"particles_{m}"].attrs["time"] == 2.0 and "time" not in compared[f"{m}_sup"].attrs
    assert best["N"].values.tolist() == [20, 40, 80] and best["seed"].values.tolist() == [0, 1]


def test_the_sup_over_time_is_the_max_of_the_compare_values_and_its_fit(results):
    from wgf.validation import fit_rate

    with h5py.File(results) as f:
        n = f["compare/N"][()]
        for m in METRICS:
            values, sup = f[f"compare/{m}"][()], f[f"compare/{m}_sup"]
            np.testing.assert_array_equal(sup[()], values.max(axis=2))
            assert (sup[()] >= values[:, :, -1]).all() and (sup[()] > values[:, :, -1]).any()  # not the final time
            fit = fit_rate(n, values.max(axis=2), floor=f[f"compare/{m}"].attrs["floor"])
            assert sup.attrs["floor"] == f[f"compare/{m}"].attrs["floor"]
            assert (sup.attrs["slope"], sup.attrs["slope_low"], sup.attrs["slope_high"], sup.attrs["n_points"]) == fit


def test_particles_against_the_minimizer_are_the_compare_metrics_of_rho_star(results):
    """The stored values are the compare metrics between the clouds and rho*'s cell measure, recomputed here; the
    floor is twice the PDE's own distance to rho* plus its Richardson floor; MMD is a metric, so the particles' distance
    to rho* differs from their distance to the PDE's density by at most the PDE's distance to rho* (a number that
    fails if the wrong snapshot or density were compared)."""
    from wgf.grids import History
    from wgf.validation import as_measure, cell_measure, fit_rate, metric_functions

    exp = wgf.parse_config(RUN)
    grid = exp.pde.make_grid(exp.problem)
    with h5py.File(results) as f:
        star = cell_measure(grid, f["minimizer/density"][()])
        final = as_measure(History(grid, f["pde/time"][()], f["pde/density"][()], {}), -1)
        functions = metric_functions(exp.problem, METRICS, 0.1)
        for m in METRICS:
            d = f[f"minimizer/particles_{m}"]
            clouds = [f[f"particles/N{n}/positions"][s, -1] for n in (20, 40, 80) for s in range(2)]
            np.testing.assert_allclose(d[()].ravel(), functions[m](clouds, star), rtol=1e-12, atol=0)
            assert d.attrs["pde_value"] == pytest.approx(functions[m]([final], star)[0], rel=1e-12)
            assert d.attrs["pde_floor"] == f[f"compare/{m}"].attrs["floor"]
            assert d.attrs["floor"] == 2 * (d.attrs["pde_value"] + d.attrs["pde_floor"])
            fit = fit_rate([20, 40, 80], d[()], floor=d.attrs["floor"])
            np.testing.assert_equal(d.attrs.get("slope", np.nan), fit.slope)
        gap = np.abs(f["minimizer/particles_mmd"][()] - f["compare/mmd"][()][:, :, -1])
        assert gap.max() <= f["minimizer/particles_mmd"].attrs["pde_value"] * (1 + 1e-9)
        assert f["minimizer/pde_distance"][-1] < 0.05  # the flow to t = 2 is near rho* (rate about -2.6)
        assert f["minimizer"].attrs["long_time_distance"] == 0.1  # the rule the file was written by


def test_summary_states_the_minimizer_the_sup_slopes_and_the_particles_against_rho_star(results):
    from wgf.report import summary

    text = summary(results)
    with h5py.File(results) as f:
        m = f["minimizer"]
        fstar, dist = m["free_energy"][()], m["pde_distance"]
        sup = f["compare/mmd_sup"].attrs
        particles = f["minimizer/particles_mmd"]
        assert f"Minimizer of F on the 64 grid ({int(m['iterations'][()])} Newton iterations" in text
        assert "  F*              %.6e" % fstar in text
        assert "  residual        %.2e" % m["residual"][()] in text
        rate = "%+.2f [%+.2f, %+.2f]" % (dist.attrs["decay_rate"], dist.attrs["decay_rate_low"],
                                         dist.attrs["decay_rate_high"])
        assert f"  rate ||rho-rho*|| {rate} per unit time" in text
        lines = text.splitlines()
        start = lines.index("Largest particle-PDE distance over the snapshots (sup over t of each run, mean over "
                            "seeds):")
        row = next(r for r in lines[start:] if r.strip().startswith("mmd"))
        assert "%+.2f [%+.2f, %+.2f]" % (sup["slope"], sup["slope_low"], sup["slope_high"]) in row
        assert "%11.3e" % f["compare/mmd_sup"][()].mean(axis=1)[0] in row
        start = lines.index("Particles at t = 2 vs the minimizer rho* (mean over seeds):")
        row = next(r for r in lines[start:] if r.strip().startswith("mmd"))
        assert "%.2e" % particles.attrs["pde_value"] in row and "%11.3e" % particles[()].mean(axis=1)[-1] in row
    assert "far from converged" not in text  # ||rho_2 - rho*||_1 < 0.05


def test_minimizer_figure_draws_the_flow_on_log_axes_and_one_panel_per_metric(results):
    from matplotlib.figure import Figure

    from wgf.report import _minimizer_figure

    with h5py.File(results) as f:
        fig = _minimizer_figure(Figure, plot, f)
        gap, dist = f["minimizer/pde_free_energy_gap"][()], f["minimizer/pde_distance"][()]
    panels = [a for a in fig.axes if a.axison]
    assert len(panels) == 3
    flow, *particles = panels
    assert flow.get_yscale() == "log" and flow.get_xlabel() == display_name("time")
    labels = [line.get_label() for line in flow.lines if not line.get_label().startswith("_")]
    assert len(labels) == 2 and labels[0].startswith(display_name("pde_free_energy_gap") + ", rate $-")
    assert labels[1].startswith(display_name("pde_distance") + ", rate $-")
    np.testing.assert_array_equal(flow.lines[1].get_ydata(), dist)  # every distance above round-off is drawn
    assert np.all(gap > 0)
    for ax, m in zip(particles, METRICS):
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
        assert ax.get_ylabel() == display_name(m) + r" to $\rho^*$" and ax.get_legend() is None
    assert len(fig.legends) == 1
    assert "floor: twice the PDE's distance to $\\rho^*$ and its error" in [t.get_text() for t in fig.legends[0].get_texts()]


def test_minimizer_convergence_draws_round_off_as_a_band_not_data():
    t = np.linspace(0.0, 4.0, 5)
    gap = np.array([1e-1, 1e-4, 1e-9, 0.0, -3e-17])  # F at round-off at the last two times (one below F*)
    ax = plot.minimizer_convergence(t, gap, np.array([1.0, 0.1, 1e-2, 1e-3, 1e-4]), free_energy=0.25,
                                    residual=1e-14, gap_rate=(np.nan, np.nan, np.nan, 2))
    assert [p.get_label() for p in ax.patches] == ["at round-off (< 2.2e-13)"]
    marks = [line for line in ax.lines if line.get_marker() == "v"]
    assert len(marks) == 1 and marks[0].get_xdata().tolist() == [3.0, 4.0]
    assert ax.lines[0].get_label() == display_name("pde_free_energy_gap")  # no rate: not stated
    assert np.isnan(ax.lines[0].get_ydata()[3:]).all()
    assert "1.0e-14" in ax.get_title()
    with pytest.raises(ValueError, match="distance has 4 entries along axis 0"):
        plot.minimizer_convergence(t, gap, np.ones(4))


def test_report_draws_the_minimizer_figure_when_the_file_has_one(results, tmp_path, monkeypatch):
    from wgf.report import draw_figures

    names = []
    monkeypatch.setattr(plot, "save", lambda fig, path, **kw: names.append(path.name) or [])
    monkeypatch.setattr(plot, "animate", lambda *a, **kw: None)
    draw_figures(results, tmp_path)
    assert names[-1] == "minimizer" and names.count("minimizer") == 1
