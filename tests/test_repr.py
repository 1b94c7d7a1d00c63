"""Objects that read well: short reprs (names, shapes, times; never arrays) and ``to_xarray`` giving what
``wgf.open_results`` gives for the same run (docs/outputs.md, "Saved objects")."""

import pickle

import numpy as np
import pytest
import xarray as xr

from _common import GATED, swap_config
from wgf import open_results, parse_config
from wgf.grids import Grid, History
from wgf.grids.solver import TRACKER_ATTRS
from wgf.grids.stepper import StepStats
from wgf.particles import Trajectory
from wgf.validation import Comparison, RateFit, fit_rate

LIMIT = 600  # the bar for History, Trajectory and Comparison


def _large_history():
    """256 x 256 cells, 50 snapshots, every tracker: built without solving."""
    grid = Grid([[-2.0, 2.0], [-2.0, 2.0]], 256, np.eye(4)[:, :2])
    times = np.linspace(0.0, 20.0, 50)
    density = np.full((50, 256, 256), 1.0 / 16.0)
    return History(grid, times, density, {name: np.zeros(50) for name in TRACKER_ATTRS},
                   StepStats(steps=1234, method="implicit"))


def test_history_repr_names_shapes_and_times():
    text = repr(_large_history())
    assert text == ("History(50 snapshots t = 0 .. 20, density (50, 256, 256) on 256 x 256 cells of [-2, 2]^2 in u, "
                    "z = B u in R^4, trackers mass, risk, free_energy, wi_defect, si_defect, boundary_mass, 1234 steps "
                    "(implicit))")
    assert len(text) < LIMIT


def test_trajectory_repr_names_shapes_and_times():
    times = np.linspace(0.0, 20.0, 50)
    full = Trajectory(times, np.zeros((50, 10_000, 4)), 10_000, 3, 0.005)
    assert repr(full) == "Trajectory(N = 10000, seed 3, eps = 0.005, 50 snapshots t = 0 .. 20, positions (50, 10000, 4))"
    last = Trajectory(times, np.zeros((1, 10_000, 4)), 10_000, 3, 0.005)  # store=False
    assert repr(last) == ("Trajectory(N = 10000, seed 3, eps = 0.005, the last 1 of 50 snapshots (t = 0 .. 20), "
                          "positions (1, 10000, 4))")


def _comparison(metrics, ns=(10, 30, 100, 300, 1000, 3000, 10_000, 30_000, 100_000), seeds=3):
    ns = np.asarray(ns)
    values = 0.3 * ns[:, None, None] ** -0.5 * np.ones((1, seeds, 11))
    out = Comparison(ns, np.linspace(0.0, 20.0, 11))
    for name in metrics:
        out.values[name] = values
        out.floor[name], out.floor_order[name] = 1e-4, 2.0
        out.rate[name] = fit_rate(ns, values[:, :, -1], floor=1e-4)
    return out


def test_comparison_repr_gives_each_rate_and_floor():
    c = _comparison(["mmd", "energy"])
    c.skipped["sliced_w2"] = "too large"
    c.rate["energy"] = RateFit(np.nan, np.nan, np.nan, 2)
    assert repr(c) == ("Comparison(N = 10 .. 100000 (9 values); 3 seeds; 11 times t = 0 .. 20\n"
                       "  mmd: slope -0.50 [-0.50, -0.50] (27 points), floor 0.0001\n"
                       "  energy: no slope (2 points above the floor), floor 0.0001\n"
                       "  skipped: sliced_w2)")


def test_comparison_repr_stays_short_with_many_metrics():
    names = [f"metric_number_{k}" for k in range(40)]
    text = repr(_comparison(names))
    assert len(text) < LIMIT and "array" not in text
    assert text.startswith("Comparison(N = 10 .. 100000 (9 values); 3 seeds; 11 times t = 0 .. 20\n  metrics: "
                           "metric_number_0, metric_number_1")


def test_ratefit_repr_and_tuple():
    fit = RateFit(-0.4712, -0.5203, -0.4301, 9)
    assert repr(fit) == "RateFit(slope=-0.471, 95% [-0.52, -0.43], n_points=9)"
    slope, low, high, n = fit  # still the 4-tuple it was
    assert (slope, low, high, n) == (-0.4712, -0.5203, -0.4301, 9) and fit == (-0.4712, -0.5203, -0.4301, 9)
    again = pickle.loads(pickle.dumps(fit_rate([10, 100, 1000], [1.0, 0.3, 0.1], level=0.9)))
    assert repr(again) == "RateFit(slope=-0.5, 90% [-0.583, -0.417], n_points=3)"
    assert repr(fit_rate([10, 100], [1.0, 0.3])) == \
        "RateFit(no slope: 2 points, a rate needs at least 3 over 2 values of N)"


def test_problem_and_symmetry_reprs_name_what_was_chosen():
    problem = parse_config(swap_config(training='scheme = "da"\nloss = "huber"\n')).problem
    symmetry = ("Symmetry(unit 'sigmoid_matrix' (s(W x), s = sigmoid), group 'swap' (|G| = 2), dim E^G = 2, "
                "dim Z = 4)")
    assert repr(problem.symmetry) == symmetry
    assert repr(problem) == (
        f"Problem({symmetry},\n"
        "  data: teacher 'wi' of 4 particles, x ~ N(0, 4^2 I), 8 quadrature points per axis; "
        "loss Loss('huber', huber_delta=1), schedule Schedule('constant'),\n"
        "  scheme da (orbit mode), init wi (std 0.25), noise full, tau = 0.0001, beta = 0.0001, t_end = 2 "
        "(3 snapshots))")
    gated = parse_config(GATED).problem.symmetry
    assert repr(gated) == ("Symmetry(unit 'gated_matrix[sigmoid]' (s(|W x|^2) W x, s = sigmoid), group 'rotation' "
                           "(compact, 16 Haar points), dim E^G = 2, dim Z = 4)")


def test_to_xarray_without_a_run_has_the_file_layout():
    """Names, dims, dtypes and attributes of the three conversions on objects built in memory."""
    history = _large_history().to_xarray()
    assert dict(history.sizes) == {"time": 50, "u0": 256, "u1": 256, "parameter": 4, "axis": 2}
    assert history["density"].dims == ("time", "u0", "u1") and history["basis"].dims == ("parameter", "axis")
    assert history["axis"].dtype == np.int64 and history["u1"].attrs == {
        "long_name": "cell centre, coordinate 1 in the grid basis", "units": "1"}
    assert history["free_energy"].attrs == TRACKER_ATTRS["free_energy"]
    assert history.attrs == {"cell_volume": (4 / 256) ** 2, "steps": 1234}
    times = np.linspace(0.0, 20.0, 50)
    last = Trajectory(times, np.ones((1, 7, 4)), 7, 3, 0.5).to_xarray()  # store=False: the last snapshot
    assert last["positions"].dims == ("seed", "time", "particle", "coordinate") and last["positions"].shape == (1, 1, 7, 4)
    assert last["seed"].values.tolist() == [3] and last["time"].values.tolist() == [20.0] and last.attrs == {"eps": 0.5}
    compared = _comparison(["mmd"]).to_xarray()
    assert compared["mmd"].dims == ("N", "seed", "time") and compared["seed"].values.tolist() == [0, 1, 2]
    assert compared["mmd"].attrs["n_points"] == 27 and compared["mmd"].attrs["time"] == 20.0
    assert compared["mmd"].attrs["slope"] == pytest.approx(-0.5, abs=1e-12)


# ------------------------------------------------------------------ to_xarray against the results file
RUN = swap_config(n=(8, 16, 32), seeds=2, training='init = "si"\nnoise = "projected"\n').replace(
    'init = "wi"\n', "") + """
[pde]
space = "fixed"
cells = 8
half_width = 1.5
[compare]
metrics = ["mmd", "moments"]
bandwidth = 0.3
"""
# what the runner adds to a group beside the objects' own structure: its bookkeeping and settings
BOOKKEEPING = {"metadata_checksum", "done", "space", "batch"}


def _as_read(ds):
    """``ds`` loaded, without the file's bookkeeping attributes (checksums, done marks, run settings)."""
    ds = ds.load()
    ds.attrs = {k: v for k, v in ds.attrs.items() if k not in BOOKKEEPING and not k.startswith("done_")}
    for v in ds.variables.values():
        v.attrs.pop("metadata_checksum", None)
    return ds


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The run of RUN written by ``wgf run`` and the same objects computed in Python."""
    from wgf.cli import main
    from wgf.grids import solve
    from wgf.particles import simulate
    from wgf.validation import coarse_measures, compare

    folder = tmp_path_factory.mktemp("to_xarray")
    (folder / "c.toml").write_text(RUN)
    assert main(["run", str(folder / "c.toml"), "-o", str(folder / "r.h5"), "--quiet"]) == 0
    exp = parse_config(RUN)
    problem, pde, settings = exp.problem, exp.pde, exp.particles
    history = solve(problem, pde.make_grid(problem), problem.times, method=pde.method, tol=pde.tolerance)
    runs = [simulate(problem, n, s, alpha=settings.alpha, step=settings.step, batch=settings.batch)
            for n in settings.n for s in range(settings.seeds)]
    comparison = compare(problem, history, runs, metrics=exp.compare.metrics,
                         bandwidth=exp.compare.resolved(problem)["bandwidth"],
                         coarse=coarse_measures(problem, history, method=pde.method, tol=pde.tolerance))
    tree = open_results(folder / "r.h5")
    yield tree, history, runs, comparison
    tree.close()


@pytest.mark.slow  # a whole wgf run with [pde] and [compare] (2-4 s)
def test_history_to_xarray_is_the_pde_group(run):
    tree, history, _, _ = run
    ds = history.to_xarray()
    xr.testing.assert_identical(ds, _as_read(tree["pde"].to_dataset()))
    assert ds["density"].dims == ("time", "u0", "u1") and ds.attrs == {"cell_volume": 0.140625, "steps": 3}
    assert len(repr(history)) < LIMIT


@pytest.mark.slow  # a whole wgf run with [pde] and [compare] (2-4 s)
def test_trajectory_to_xarray_is_its_seed_of_the_particles_group(run):
    tree, _, runs, _ = run
    for traj in runs:
        ds = traj.to_xarray()
        group = _as_read(tree[f"particles/N{traj.n}"].to_dataset()[["positions"]]).sel(seed=[traj.seed])
        xr.testing.assert_identical(ds, group)
        assert ds["positions"].shape == (1, 3, traj.n, 4) and ds.attrs == {"eps": 4.0 / traj.n}
    assert len(repr(runs[-1])) < LIMIT


@pytest.mark.slow  # a whole wgf run with [pde] and [compare] (2-4 s)
def test_comparison_to_xarray_is_the_compare_group(run):
    tree, _, _, comparison = run
    ds = comparison.to_xarray()
    xr.testing.assert_identical(ds, _as_read(tree["compare"].to_dataset()))
    assert sorted(ds.data_vars) == ["mmd", "mmd_sup", "moments_cov_error", "moments_cov_error_sup",
                                    "moments_mean_error", "moments_mean_error_sup"]
    assert "slope_skipped" in ds["mmd"].attrs or "slope" in ds["mmd"].attrs
    assert len(repr(comparison)) < LIMIT
