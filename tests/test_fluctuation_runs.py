"""[compare] fluctuations: /fluctuations of a results file (N Var_seeds per N and snapshot, its interval, the seed mean
and the predicted limit), its in-memory twin wgf.validation.fluctuation_dataset, the refusals, the figure and the
summary, on one run of the linear problem of docs/theory.md §11 (D = 2, 100 seeds at N = 1000 and 2000).

The group is trivial: E^G = Z, so wi_rmd2 and si_rmd2 are exact zeros, written without being computed (exact OT would
take most of the run)."""

import h5py
import matplotlib
import numpy as np
import pytest
import xarray as xr

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import wgf  # noqa: E402
from wgf import plot  # noqa: E402
from wgf.labels import display_name  # noqa: E402

RUN = """title = "fluctuations of the linear unit"
[model]
unit = "linear"
dim_x = 2
dim_y = 1
[group]
name = "trivial"
[data]
x_std = 1.0
teacher = "arbitrary"
teacher_particles = [[0.8, -0.3]]
label_noise = 0.3
quadrature_points = 4
[training]
tau = 0.1
beta = 0.25
init = "wi"
init_std = 1.0
t_end = 0.5
snapshots = 3
[pde]
space = "full"
cells = 32
half_width = 4.0
[particles]
n = [1000, 2000]
seeds = 100
alpha = 5.0
batch = 10
record_every = 1000
[compare]
metrics = ["moments"]
fluctuations = ["mean", "second_moment"]
"""
NAMES = ("mean", "second_moment")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """The run of RUN by ``wgf run`` (numba on one thread: the seeds are independent, and the results do not depend on
    the threads) and its experiment."""
    import numba

    from wgf.cli import main

    folder = tmp_path_factory.mktemp("fluctuations")
    (folder / "c.toml").write_text(RUN)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        assert main(["run", str(folder / "c.toml"), "-o", str(folder / "r.h5"), "--quiet"]) == 0
    finally:
        numba.set_num_threads(threads)
    return folder / "r.h5", wgf.parse_config(RUN)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _as_read(ds):
    """``ds`` loaded, without the file's bookkeeping attributes (checksums, the done mark)."""
    ds = ds.load()
    ds.attrs = {k: v for k, v in ds.attrs.items() if k not in ("metadata_checksum", "done")}
    for v in ds.variables.values():
        v.attrs.pop("metadata_checksum", None)
    return ds


# ------------------------------------------------------------------ the file
@pytest.mark.slow  # a whole wgf run: 200 particle runs, a PDE, the grid prediction (about 30 s)
def test_the_group_holds_exactly_the_schema_and_xarray_reads_it(results):
    from wgf import schema

    path, exp = results
    declared = {"N", "time"}
    for name in NAMES:
        declared |= {f"{name}_component", *(v.format(f=name).name for v in schema.FLUCTUATION_VARIABLES.values())}
    with h5py.File(path) as f:
        g = f["fluctuations"]
        assert set(g) == declared
        for key, var in schema.FLUCTUATION_VARIABLES.items():
            v = var.format(f="mean")
            assert g[v.name].attrs["long_name"] == v.long_name
        assert g.attrs["test_functions"] == "mean, second_moment" and g.attrs["seeds"] == 100
        assert g.attrs["alpha"] == 5.0 and g.attrs["batch"] == 10 and g.attrs["level"] == 0.95 and g.attrs["done"] == 1
        assert not any(k.endswith("_limit_skipped") for k in g.attrs)
    ds = wgf.open_results(path)["fluctuations"].to_dataset()
    assert ds["mean"].dims == ("N", "time", "mean_component") and ds["mean"].shape == (2, 3, 2)
    assert ds["mean_limit"].dims == ("time", "mean_component")
    assert list(ds["N"].values) == [1000, 2000] and np.allclose(ds["time"], [0.0, 0.25, 0.5])
    assert list(ds["mean_component"].values) == ["z0", "z1"]
    assert list(ds["second_moment_component"].values) == ["z0^2", "z1^2"]
    assert ds["mean_limit"].attrs["source"] == "linear_ode"
    assert ds["second_moment_limit"].attrs["source"] == "grid"
    assert list(ds["second_moment_limit"].attrs["cells"]) == [32, 32]


@pytest.mark.slow  # the run of the module
def test_the_values_are_n_var_over_the_seeds_of_the_stored_positions(results):
    """N s^2 (ddof 1) of the particles' mean over the 100 seeds, recomputed from /particles/N<N>/positions, and the
    chi-square interval's ends (S - 1) N s^2 / chi2_{S-1, q}."""
    from scipy import stats

    path, _ = results
    with h5py.File(path) as f:
        g = f["fluctuations"]
        for i, n in enumerate((1000, 2000)):
            means = f[f"particles/N{n}/positions"][()].mean(axis=2)  # (S, T, D)
            n_var = n * means.var(axis=0, ddof=1)
            assert np.allclose(g["mean"][i], n_var, rtol=1e-12, atol=0)
            assert np.allclose(g["mean_mean"][i], means.mean(axis=0), rtol=1e-12, atol=1e-15)
            assert np.allclose(g["mean_mean_se"][i], means.std(axis=0, ddof=1) / 10.0, rtol=1e-12)
            assert np.allclose(g["mean_low"][i], 99 * n_var / stats.chi2.ppf(0.975, 99), rtol=1e-12)
            assert np.allclose(g["mean_high"][i], 99 * n_var / stats.chi2.ppf(0.025, 99), rtol=1e-12)
            second = (f[f"particles/N{n}/positions"][()] ** 2).mean(axis=2)
            assert np.allclose(g["second_moment"][i], n * second.var(axis=0, ddof=1), rtol=1e-12)


@pytest.mark.slow  # the run of the module
def test_the_limit_is_the_linear_ode_and_the_intervals_hold_it(results):
    """The bar: the file's predicted limit of N Var of the mean within 10% of Sigma(t_end) of the linear ODE (it is
    that ODE); the measured 95% intervals at N = 1000 and 2000 hold it at t_end, and the exact discrete value too."""
    from wgf.validation import linear_mean_limit, linear_mean_moments

    path, exp = results
    problem = exp.problem
    sigma = linear_mean_limit(problem, alpha=5.0, batch=10).n_var  # (T, 2): Sigma(t) = (0.424, 0.353) at t_end
    with h5py.File(path) as f:
        g = f["fluctuations"]
        limit, low, high = g["mean_limit"][()], g["mean_low"][()], g["mean_high"][()]
    assert np.allclose(sigma[-1], [0.42397, 0.35342], atol=5e-5)
    assert np.max(np.abs(limit[-1] / sigma[-1] - 1)) < 0.1
    assert np.allclose(limit, sigma, rtol=1e-12)
    assert np.allclose(limit[0], [1.0, 1.0], rtol=1e-12)  # Sigma(0) = s_0^2 I: the initial law alone
    for i, n in enumerate((1000, 2000)):
        assert np.all((low[i, -1] <= limit[-1]) & (limit[-1] <= high[i, -1])), (n, low[i, -1], high[i, -1])
        exact = linear_mean_moments(problem, n, alpha=5.0, batch=10).n_var[-1]
        assert np.all((low[i, -1] <= exact) & (exact <= high[i, -1]))
        assert np.max(np.abs(exact / sigma[-1] - 1)) < 0.006  # O(1/N): 0.5% at N = 1000


@pytest.mark.slow  # the grid prediction on the run's 32^2 grid (about 2 s)
def test_the_grid_prediction_forced_agrees_with_the_linear_ode(results):
    """``fluctuation_limit(prediction="grid")`` on the [pde] grid (32^2 cells of [-4, 4]^2, 200 backward steps)
    within 10% of Sigma(t) at every snapshot (measured: +0.4% at t = 0, +0.9% and +1.1% at t_end); the "auto" choice
    is the linear ODE."""
    from wgf.validation import fluctuation_limit, linear_mean_limit

    _, exp = results
    problem, grid = exp.problem, exp.pde.make_grid(exp.problem)
    sigma = linear_mean_limit(problem, alpha=5.0, batch=10).n_var
    forced = fluctuation_limit(problem, "mean", alpha=5.0, batch=10, grid=grid, prediction="grid")
    assert forced.skipped is None and forced.attrs["source"] == "grid" and forced.attrs["space"] == "full"
    gap = np.abs(forced.values / sigma - 1)
    assert gap.max() < 0.1, gap
    assert gap[-1].max() > 1e-3  # a grid value, not the ODE's
    assert fluctuation_limit(problem, "mean", alpha=5.0, batch=10, grid=grid).attrs == {"source": "linear_ode"}


@pytest.mark.slow  # the run of the module and the grid prediction again
def test_in_memory_dataset_is_the_file_group(results):
    """``fluctuation_dataset`` on the stored positions is the file's group; on Trajectories of the same seeds it gives
    the same values as on their stored positions."""
    from wgf.particles import simulate
    from wgf.validation import fluctuation_dataset

    path, exp = results
    problem, grid = exp.problem, exp.pde.make_grid(exp.problem)
    tree = wgf.open_results(path)
    with h5py.File(path) as f:
        positions = {n: f[f"particles/N{n}/positions"] for n in (1000, 2000)}
        ds = fluctuation_dataset(problem, positions, list(NAMES), alpha=5.0, batch=10, grid=grid)
        xr.testing.assert_identical(ds, _as_read(tree["fluctuations"].to_dataset()))
        stored = fluctuation_dataset(problem, {1000: f["particles/N1000/positions"][:3]}, ["mean"], alpha=5.0,
                                     batch=10)
    runs = [simulate(problem, 1000, s, alpha=5.0, batch=10) for s in range(3)]
    fresh = fluctuation_dataset(problem, {1000: runs}, ["mean"], alpha=5.0, batch=10)
    xr.testing.assert_allclose(fresh, stored, rtol=1e-12, atol=0)
    assert fresh.attrs["seeds"] == 3


# ------------------------------------------------------------------ the key and the prediction's scope
def test_the_key_is_checked_before_any_work(tmp_path, capsys):
    from wgf.cli import main

    small = RUN.replace("seeds = 100", "seeds = 2")
    cases = {'fluctuations = ["mean", "nope"]': "unknown test function 'nope'",
             'fluctuations = "mean"': "expected a list of test function names",
             'fluctuations = ["mean", "mean"]': "'mean' is given twice"}
    for line, message in cases.items():
        (tmp_path / "c.toml").write_text(small.replace('fluctuations = ["mean", "second_moment"]', line))
        assert main(["run", str(tmp_path / "c.toml"), "-o", str(tmp_path / "r.h5"), "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert "[compare] fluctuations" in err and message in err and len(err.splitlines()) == 1, err
    (tmp_path / "c.toml").write_text(RUN.replace("seeds = 100", "seeds = 1"))
    assert main(["run", str(tmp_path / "c.toml"), "-o", str(tmp_path / "r.h5"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "[compare] fluctuations" in err and "seeds >= 2" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r.h5").exists()
    # without the key: no fluctuations, and the resolved config does not name it (existing runs unchanged)
    from wgf.config import resolved_config

    exp = wgf.parse_config(small.replace('fluctuations = ["mean", "second_moment"]\n', ""))
    assert exp.compare.fluctuations is None and "fluctuations =" not in resolved_config(exp)
    assert wgf.parse_config(RUN.replace("seeds = 100", "seeds = 1").replace(
        'fluctuations = ["mean", "second_moment"]', "fluctuations = []")).compare.fluctuations == ()


def test_the_limit_says_why_it_is_absent():
    """No limit with a fixed step, none for the covariance without a grid; on E^G under vanilla the particles' own
    test functions are not functions of P_E z (docs/theory.md §11, Scope)."""
    from _common import swap_config

    from wgf.grids import make_grid
    from wgf.validation import fluctuation_limit
    from wgf.validation.fluctuations import linear_fluctuation_problem

    problem = linear_fluctuation_problem()
    assert "fixed step" in fluctuation_limit(problem, "mean", alpha=None, batch=10).skipped
    why = fluctuation_limit(problem, "covariance", alpha=5.0, batch=10).skipped
    assert why == "linear ODE: the linear unit's exact limit is derived for the mean, not covariance; grid: no grid " \
                  "(a [pde] section)"
    assert "derived for the mean" in fluctuation_limit(problem, "risk", alpha=5.0, batch=10,
                                                       prediction="linear").skipped
    assert fluctuation_limit(problem, "mean", alpha=5.0, batch=10, prediction="none").values is None
    with pytest.raises(ValueError, match="prediction must be one of"):
        fluctuation_limit(problem, "mean", alpha=5.0, batch=10, prediction="exact")
    swap = wgf.parse_config(swap_config(training='noise = "projected"\n').replace('init = "wi"', 'init = "si"')).problem
    grid = make_grid(swap, "fixed", cells=8, half_width=1.0)
    why = fluctuation_limit(swap, "mean", alpha=4.0, batch=5, grid=grid).skipped
    assert why.startswith("linear ODE: the exact fluctuations need the linear unit")
    assert "grid: the grid is on E^G and under vanilla one sample's drift leaves E^G" in why
    wi = swap.replace(init="wi")
    assert "start off it" in fluctuation_limit(wi, "mean", alpha=4.0, batch=5, grid=grid, prediction="grid").skipped


# ------------------------------------------------------------------ figure and summary
@pytest.mark.slow  # the run of the module
def test_the_figure_draws_one_curve_and_band_per_n_and_the_limit_dashed(results, tmp_path):
    from matplotlib.collections import PolyCollection

    path, _ = results
    args = plot.read_fluctuations(path, "mean", "z1")
    ax = plot.fluctuations(**args)
    with h5py.File(path) as f:
        g = f["fluctuations"]
        values, low, high, limit = (g[k][()][..., 1] for k in ("mean", "mean_low", "mean_high", "mean_limit"))
    lines = {line.get_label(): line for line in ax.lines}
    assert set(lines) == {"$N = 1000$", "$N = 2000$", "predicted limit (linear ODE)"}
    for i, n in enumerate((1000, 2000)):
        assert np.array_equal(lines[f"$N = {n}$"].get_ydata(), values[i])
        assert lines[f"$N = {n}$"].get_linestyle() == "-"
    assert lines["predicted limit (linear ODE)"].get_linestyle() == "--"
    assert np.array_equal(lines["predicted limit (linear ODE)"].get_ydata(), limit)
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    for band, i in zip(bands, (0, 1)):
        y = band.get_paths()[0].vertices[:, 1]
        assert np.isclose(y.min(), low[i].min()) and np.isclose(y.max(), high[i].max())
    assert ax.get_ylabel() == display_name("n_var") and ax.get_title() == "mean: z1" and ax.get_ylim()[0] == 0
    plot.place_legends(ax.figure)
    assert not plot._legend_overlaps(ax, ax.get_legend())
    with pytest.raises(ValueError, match="limit has 2 entries"):
        plot.fluctuations(**{**args, "limit": [1.0, 2.0]})
    with pytest.raises(ValueError, match="no test function 'risk'.*mean, second_moment"):
        plot.read_fluctuations(path, "risk")
    # the in-memory dataset draws the same
    from wgf.validation import fluctuation_dataset

    ds = _as_read(wgf.open_results(path)["fluctuations"].to_dataset())
    same = plot.read_fluctuations(ds, "mean", 1)
    assert same["title"] == args["title"] and np.array_equal(same["limit"], args["limit"])
    assert callable(fluctuation_dataset)


@pytest.mark.slow  # the run of the module
def test_report_draws_and_summarizes_the_fluctuations(results, tmp_path, monkeypatch):
    """draw_figures draws fluctuations_<f> for each test function (figures kept in memory: ``plot.save`` and the
    animation stubbed out, the drawing is tested above), a panel per component with a legend below them; the
    summary's table at t_end."""
    from pathlib import Path

    from wgf.report import draw_figures, summary

    path, _ = results
    figures = {}

    def keep(fig, target, **kw):
        figures[Path(target).name] = fig
        return [Path(f"{target}.png")]

    monkeypatch.setattr(plot, "save", keep)
    monkeypatch.setattr(plot, "animate", lambda *a, **k: None)
    drawn = {p.name for p in draw_figures(path, tmp_path)}
    assert {"fluctuations_mean.png", "fluctuations_second_moment.png"} <= drawn
    fig = figures["fluctuations_mean"]
    panels = [a for a in fig.axes if a.lines]
    assert [a.get_title() for a in panels] == ["mean: z0", "mean: z1"]
    assert all(len(a.lines) == 3 and a.get_legend() is None for a in panels) and len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["$N = 1000$", "$N = 2000$",
                                                                 "predicted limit (linear ODE)"]
    assert "grid 32x32" in figures["fluctuations_second_moment"].legends[0].get_texts()[-1].get_text()
    text = summary(path)
    with h5py.File(path) as f:
        g = f["fluctuations"]
        v, lo, hi, lim = (g[k][()] for k in ("mean", "mean_low", "mean_high", "mean_limit"))
    assert "Fluctuations at t = 0.5: N Var_seeds <f, nu^N> [95% chi-square interval] over 100 seeds" in text
    row = next(line for line in text.splitlines() if line.strip().startswith("mean z0"))
    assert f"{v[0, -1, 0]:.4g} [{lo[0, -1, 0]:.4g}, {hi[0, -1, 0]:.4g}]" in row
    assert f"{v[1, -1, 0]:.4g} [{lo[1, -1, 0]:.4g}, {hi[1, -1, 0]:.4g}]" in row and row.endswith(f"{lim[-1, 0]:.4g}")
    assert "  mean: limit from the linear ODE" in text and "  second_moment: limit from the grid 32x32" in text
