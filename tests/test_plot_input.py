"""wgf.plot on hostile input: every public function refuses a bad argument in one line naming it (ValueError, or
TypeError for a wrong type) before it draws anything. No numba, no results files: arrays and Figure objects."""

import matplotlib
import numpy as np
import pytest
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from wgf import plot

matplotlib.use("Agg")

X = np.linspace(-1.0, 1.0, 4)  # 4 equally spaced cell centres
RHO = np.ones((4, 4))  # a 2D density
RHO1 = np.ones(4)  # a 1D density
PTS = np.zeros((5, 2))  # 5 particles in grid coordinates
NAN2 = np.array([[0.1, np.nan], [0.2, 0.3]])


def _axes(count):
    return list(Figure().subplots(1, count, squeeze=False)[0])


def _with(array, index, value):
    a = np.array(array, dtype=float)
    a[index] = value
    return a


def _sweep(data=None, dims=("N", "seed")):
    data = np.ones((2, 3)) if data is None else data
    return xr.DataArray(data, dims=dims, coords={dims[0]: np.arange(1, data.shape[0] + 1)})


RUN = {"time": [0.0, 1.0], "risk": [[0.2, 0.1]], "si_rmd2": [[0.0, 1e-3]], "wi_rmd2": None}
PDE = {"time": [0.0, 1.0], "risk": [0.2, 0.1], "free_energy": [0.3, 0.2]}

# (function, positional arguments, keyword arguments, exception, the message (a regex) naming what is wrong)
CASES = [
    # densities: rho and axes_u
    (plot.density, (RHO, [X]), {}, ValueError, r"rho has 2 grid axes \(4, 4\) but axes_u gives 1 arrays"),
    (plot.density, (np.zeros((0, 4)), [[], X]), {}, ValueError, r"rho is empty \(shape \(0, 4\)\)"),
    (plot.density, (np.float64(1.0), []), {}, ValueError, r"rho must be \(n_0, \.\.\., n_\{m-1\}\).*shape \(\)"),
    (plot.density, (_with(RHO, (1, 2), np.nan), [X, X]), {}, ValueError, r"rho has 1 non-finite entries .* of 16"),
    (plot.density, (_with(RHO, (0, 0), np.inf), [X, X]), {}, ValueError, r"rho has 1 non-finite entries"),
    (plot.density, (_with(_with(RHO, 0, -1e-3), 1, -2.0), [X, X]), {}, ValueError,
     r"rho has 8 negative cells of 16 \(min -2\): a density is nonnegative"),
    (plot.density, ("rho", [X]), {}, TypeError, r"rho must be an array .* got str"),
    (plot.density, ([[1.0, 2.0], [3.0]], [X, X]), {}, ValueError, r"rho must be a rectangular array"),
    (plot.density, (np.array(["a", "b"]), [X]), {}, TypeError, r"rho must be an array .*got dtype <U1"),
    (plot.density, (RHO, "xy"), {}, TypeError, r"axes_u must be a sequence of 2 arrays .* got str"),
    (plot.density, (RHO, [X, X[:3]]), {}, ValueError, r"axes_u\[1\] has 3 cell centres but rho has 4 cells on axis 1"),
    (plot.density, (np.ones((1, 4)), [[0.0], X]), {}, ValueError, r"axes_u\[0\] has 1 cell centre: .* at least 2"),
    (plot.density, (RHO, [X, X[::-1]]), {}, ValueError, r"axes_u\[1\] must be increasing, equally spaced"),
    (plot.density, (RHO, [X, [0.0, 1.0, 3.0, 4.0]]), {}, ValueError, r"axes_u\[1\] must be increasing, equally"),
    (plot.density, (RHO, [X, _with(X, 2, np.nan)]), {}, ValueError, r"axes_u\[1\] has 1 non-finite entries"),
    (plot.density, (RHO, [X, np.ones((2, 2))]), {}, ValueError, r"axes_u\[1\] must be \(n_k,\) .*shape \(2, 2\)"),
    # densities: particles, basis, dims, options, ax
    (plot.density, (RHO, [X, X]), {"particles": np.zeros((0, 2))}, ValueError, r"particles is empty"),
    (plot.density, (RHO, [X, X]), {"particles": np.zeros((5, 3))}, ValueError,
     r"particles must be \(N, 2\) grid coordinates or \(N, D\) with basis \(D, 2\), got shape \(5, 3\)"),
    (plot.density, (RHO, [X, X]), {"particles": np.zeros(5)}, ValueError, r"particles must be \(N, D\)"),
    (plot.density, (RHO, [X, X]), {"particles": _with(PTS, (2, 1), np.nan)}, ValueError,
     r"particles has 1 non-finite entries"),
    (plot.density, (RHO, [X, X]), {"particles": np.zeros((5, 4)), "basis": np.zeros((3, 2))}, ValueError,
     r"particles have D = 4 coordinates but basis has 3 rows"),
    (plot.density, (RHO, [X, X]), {"particles": np.zeros((5, 4)), "basis": np.zeros((4, 3))}, ValueError,
     r"basis must be \(D, 2\) for a density on 2 grid axes, got shape \(4, 3\)"),
    (plot.density, (RHO, [X, X]), {"dims": (0, 0)}, ValueError, r"dims must be two different grid axes in 0\.\.1"),
    (plot.density, (RHO, [X, X]), {"dims": (0, 2)}, ValueError, r"dims must be two different grid axes in 0\.\.1"),
    (plot.density, (RHO, [X, X]), {"dims": 1}, TypeError, r"dims must be two grid axes"),
    (plot.density, (RHO, [X, X]), {"levels": 0}, ValueError, r"levels must be an integer >= 1, got 0"),
    (plot.density, (RHO, [X, X]), {"max_points": 0}, ValueError, r"max_points must be an integer >= 1, got 0"),
    (plot.density, (RHO, [X, X]), {"max_points": 2.5}, ValueError, r"max_points must be an integer >= 1, got 2\.5"),
    (plot.density, (RHO, [X, X]), {"levels": [0.1, 0.1, 0.2]}, ValueError, r"levels must be increasing contour"),
    (plot.density, (RHO, [X, X]), {"cmap": "Bluez"}, ValueError, r"cmap must be a matplotlib colour map or its name"),
    (plot.density, (RHO, [X, X]), {"cmap": [1.0]}, TypeError, r"cmap must be a matplotlib colour map"),
    (plot.density, (RHO, [X, X]), {"norm": (0, 1)}, TypeError, r"norm must be a matplotlib\.colors\.Normalize"),
    (plot.density, (RHO, [X, X]), {"colorbar": "no"}, TypeError, r"colorbar must be True or False, got str 'no'"),
    (plot.density, (RHO, [X, X]), {"label": 3}, TypeError, r"label must be a string or None, got int 3"),
    (plot.density, (RHO, [X, X]), {"basis": np.eye(3)}, ValueError, r"basis must be \(D, 2\) .* got shape \(3, 3\)"),
    (plot.density, (RHO, [X, X]), {"dims": np.ones((3, 3))}, TypeError, r"dims must be two grid axes \(i, j\), "
                                                                       r"got array\(\[\[1\., 1\., 1\.\], \[1"),
    (plot.density, (RHO, [X, X]), {"ax": "ax"}, TypeError, r"ax must be a matplotlib Axes or None, got str"),
    (plot.density, (RHO, [X, X]), {"ax": _axes(2)}, TypeError, r"ax must be a matplotlib Axes or None, got list"),
    # snapshots
    (plot.density_snapshots, ([0.0, 1.0], np.ones((3, 4, 4)), [X, X]), {}, ValueError,
     r"rho has 3 entries along axis 0 \(shape \(3, 4, 4\)\) but times has 2"),
    (plot.density_snapshots, ([], np.ones((0, 4)), [X]), {}, ValueError, r"times is empty"),
    (plot.density_snapshots, ([0.0], RHO1, [X]), {}, ValueError, r"rho must be \(T, n_0, \.\.\., n_\{m-1\}\)"),
    (plot.density_snapshots, ([0.0, 1.0], np.stack([RHO, -RHO]), [X, X]), {}, ValueError,
     r"rho has 16 negative cells of 32"),
    (plot.density_snapshots, ([0.0, 1.0], np.stack([RHO, RHO]), [X, X]), {"particles": [PTS]}, ValueError,
     r"particles has 1 snapshots but times has 2"),
    (plot.density_snapshots, ([0.0, 1.0], np.stack([RHO, RHO]), [X, X]), {"particles": [PTS, PTS[:, :1]]},
     ValueError, r"particles\[1\] must be \(N, 2\) grid coordinates"),
    (plot.density_snapshots, ([0.0, 1.0], np.stack([RHO, RHO]), [X, X]), {"axes": _axes(3)}, ValueError,
     r"axes must be 2 matplotlib Axes \(one per panel\), got 3"),
    (plot.density_snapshots, ([0.0, np.nan], np.stack([RHO, RHO]), [X, X]), {}, ValueError,
     r"times has 1 non-finite entries"),
    # marginals
    (plot.marginals, (RHO, [X, X]), {"axes": _axes(1)}, ValueError, r"axes must be 2 matplotlib Axes"),
    (plot.marginals, (RHO, [X, X]), {"axes": [1, 2]}, TypeError, r"axes must be 2 matplotlib Axes, got int, int"),
    (plot.marginals, (_with(RHO, 0, np.nan), [X, X]), {}, ValueError, r"rho has 4 non-finite entries"),
    # off E^G
    (plot.off_subspace, ([0.0, 1.0], {}, np.eye(2)), {}, ValueError, r"positions_by_n is empty"),
    (plot.off_subspace, ([0.0, 1.0], [np.zeros((2, 5, 2))], np.eye(2)), {}, TypeError,
     r"positions_by_n must be a mapping \{N: positions"),
    (plot.off_subspace, ([0.0, 1.0], {0: np.zeros((2, 0, 2))}, np.eye(2)), {}, ValueError,
     r"a key N of positions_by_n must be an integer >= 1, got 0"),
    (plot.off_subspace, ([0.0, 1.0], {2.5: np.zeros((2, 2, 2))}, np.eye(2)), {}, ValueError,
     r"a key N of positions_by_n must be an integer >= 1, got 2\.5"),
    (plot.off_subspace, ([0.0, 1.0], {5: np.zeros((2, 4, 2))}, np.eye(2)), {}, ValueError,
     r"positions_by_n\[5\] holds 4 particles \(shape \(2, 4, 2\)\), not N = 5"),
    (plot.off_subspace, ([0.0, 1.0], {5: np.zeros((2, 5, 3))}, np.eye(2)), {}, ValueError,
     r"positions_by_n\[5\] has D = 3 coordinates but projector is \(2, 2\)"),
    (plot.off_subspace, ([0.0, 1.0], {5: np.zeros((3, 5, 2))}, np.eye(2)), {}, ValueError,
     r"times has 2 entries but positions_by_n\[5\] has 3 snapshots"),
    (plot.off_subspace, ([0.0, 1.0], {5: np.zeros((5, 2))}, np.eye(2)), {}, ValueError,
     r"positions_by_n\[5\] must be \(S, T, N, D\) or \(T, N, D\)"),
    (plot.off_subspace, ([0.0, 1.0], {5: np.zeros((2, 5, 2))}, np.eye(2)), {"index": 2}, ValueError,
     r"index = 2 is out of range for 2 snapshots"),
    (plot.off_subspace, ([0.0, 1.0], {5: np.zeros((2, 5, 2))}, np.ones((2, 3))), {}, ValueError,
     r"projector must be \(D, D\)"),
    (plot.off_subspace, ({4: [0.0, 1.0]}, {5: np.zeros((2, 5, 2))}, np.eye(2)), {}, ValueError,
     r"times has no entry for N = 5"),
    (plot.off_subspace, ([0.0, 1.0], {5: _with(np.zeros((2, 5, 2)), (1, 3, 0), np.inf)}, np.eye(2)), {},
     ValueError, r"positions_by_n\[5\] has non-finite positions at seed 0, snapshot 1"),
    # distances against N
    (plot.distance_vs_n, ([], np.zeros((0, 2))), {}, ValueError, r"n is empty"),
    (plot.distance_vs_n, ([10, 0], np.ones((2, 2))), {}, ValueError, r"n must be positive integer .* got 0"),
    (plot.distance_vs_n, ([10, 20.5], np.ones((2, 2))), {}, ValueError, r"n must be positive integer .* got 20\.5"),
    (plot.distance_vs_n, ([10, 20], np.ones((3, 2))), {}, ValueError, r"values has 3 entries along axis 0 .* n has 2"),
    (plot.distance_vs_n, ([10, 20], np.ones(2)), {}, ValueError, r"values must be \(K, S\)"),
    (plot.distance_vs_n, ([10, 20], NAN2), {}, ValueError, r"values has 1 non-finite entries"),
    (plot.distance_vs_n, ([10, 20], np.ones((2, 2))), {"floor": -1.0}, ValueError, r"floor must be a finite number"),
    (plot.distance_vs_n, ([10, 20], np.ones((2, 2))), {"floor": "0"}, TypeError, r"floor must be a number"),
    (plot.distance_vs_n, ([10, 20], np.ones((2, 2))), {"rate": (-0.5,)}, ValueError,
     r"rate must be \(slope, low, high, \.\.\.\) a RateFit, got 1 numbers"),
    (plot.distance_vs_n, ("10,20", np.ones((2, 2))), {}, TypeError, r"n must be an array"),
    # distances against time
    (plot.distance_vs_time, ([0.0, 1.0], {}), {}, ValueError, r"values_by_n is empty"),
    (plot.distance_vs_time, ([0.0, 1.0], {10: np.ones((2, 3))}), {}, ValueError,
     r"values_by_n\[10\] has 3 entries along axis 1 \(shape \(2, 3\)\) but times has 2"),
    (plot.distance_vs_time, ([0.0, 1.0], {10: NAN2}), {}, ValueError, r"values_by_n\[10\] has 1 non-finite"),
    (plot.distance_vs_time, ([0.0, 1.0], {-3: np.ones((2, 2))}), {}, ValueError, r"a key N of values_by_n"),
    # the flow to the minimizer: times, F - F*, ||rho_t - rho*||_1, rates
    (plot.minimizer_convergence, ([0.0, 1.0], [0.1, 0.01], [1.0]), {}, ValueError,
     r"distance has 1 entries along axis 0 \(shape \(1,\)\) but times has 2"),
    (plot.minimizer_convergence, ([0.0, 1.0], [0.1, np.nan], [1.0, 0.5]), {}, ValueError,
     r"free_energy_gap has 1 non-finite entries"),
    (plot.minimizer_convergence, ([0.0, 1.0], "gap", [1.0, 0.5]), {}, TypeError,
     r"free_energy_gap must be an array .* got str"),
    (plot.minimizer_convergence, ([0.0, 1.0], [0.1, 0.01], [1.0, 0.5]), {"gap_rate": (-1.0, -2.0)}, ValueError,
     r"gap_rate must be \(slope, low, high, \.\.\.\) a RateFit, got 2 numbers"),
    (plot.minimizer_convergence, ([0.0, 1.0], [0.1, 0.01], [1.0, 0.5]), {"free_energy": np.inf}, ValueError,
     r"\|free_energy\| must be a finite number"),
    (plot.minimizer_convergence, ([0.0, 1.0], [0.1, 0.01], [1.0, 0.5]), {"residual": -1.0}, ValueError,
     r"residual must be a finite number >= 0"),
    # fluctuations: times, N Var per N, intervals, the limit
    (plot.fluctuations, ([0.0, 1.0], {10: [0.5]}), {}, ValueError,
     r"n_var_by_n\[10\] has 1 entries along axis 0 \(shape \(1,\)\) but times has 2"),
    (plot.fluctuations, ([0.0, 1.0], [0.5, 0.4]), {}, TypeError, r"n_var_by_n must be a mapping \{N: \(T,\) N Var"),
    (plot.fluctuations, ([0.0, 1.0], {10: [0.5, 0.4]}), {"interval_by_n": {20: np.ones((2, 2))}}, ValueError,
     r"interval_by_n has the N \[20\] but n_var_by_n \[10\]"),
    (plot.fluctuations, ([0.0, 1.0], {10: [0.5, 0.4]}), {"interval_by_n": {10: np.ones((3, 2))}}, ValueError,
     r"interval_by_n\[10\] has 3 entries along axis 0 \(shape \(3, 2\)\) but \(low, high\) has 2"),
    (plot.fluctuations, ([0.0, 1.0], {10: [0.5, 0.4]}), {"limit": [0.3, np.inf]}, ValueError,
     r"limit has 1 non-finite entries"),
    (plot.fluctuations, ([0.0, 1.0], {10: [0.5, 0.4]}), {"title": 3}, TypeError, r"title must be a string or None"),
    (plot.distance_vs_time, ([0.0, 1.0], {10: np.ones((2, 2))}), {"floor": np.nan}, ValueError,
     r"floor must be a finite number >= 0, got nan"),
    (plot.distance_vs_time, ([0.0, 1.0], {10: np.ones((2, 2))}), {"ax": _axes(2)[0].figure}, TypeError,
     r"ax must be a matplotlib Axes or None, got Figure"),
    # training
    (plot.training, ({},), {}, ValueError, r"runs is empty"),
    (plot.training, ({5: {**RUN, "wi_rmd2": [[0.0]]}},), {}, ValueError, r"runs\[5\]\['wi_rmd2'\] has 1 entries"),
    (plot.training, ([RUN],), {}, TypeError, r"runs must be a mapping \{N: diagnostics\}, got list"),
    (plot.training, ({5: {"time": [0.0, 1.0], "risk": [[0.2, 0.1]]}},), {}, ValueError, r"runs\[5\] has no 'si_rmd2'"),
    (plot.training, ({5: {**RUN, "risk": [[0.2, 0.1, 0.0]]}},), {}, ValueError,
     r"runs\[5\]\['risk'\] has 3 entries along axis 1 .* but runs\[5\]\['time'\] has 2"),
    (plot.training, ({5: {**RUN, "risk": [0.2, 0.1]}},), {}, ValueError, r"runs\[5\]\['risk'\] must be \(S, R\)"),
    (plot.training, ({5: {**RUN, "si_rmd2": [[np.nan, 0.0]]}},), {}, ValueError, r"runs\[5\]\['si_rmd2'\] has 1 non"),
    (plot.training, ({5: RUN},), {"pde": {"time": [0.0, 1.0]}}, ValueError, r"pde has no 'risk'"),
    (plot.training, ({5: RUN},), {"pde": {**PDE, "free_energy": [0.3]}}, ValueError,
     r"pde\['free_energy'\] has 1 entries along axis 0 .* but pde\['time'\] has 2"),
    (plot.training, ({5: RUN},), {"pde": [0.0]}, TypeError, r"pde must be a mapping"),
    (plot.training, ({5: RUN},), {"axes": _axes(1)}, ValueError, r"axes must be 2 matplotlib Axes"),
    # discovery
    (plot.discovery_rounds, ([],), {}, ValueError, r"rmd2 is empty"),
    (plot.discovery_rounds, ([0.5, np.nan],), {}, ValueError, r"rmd2 has 1 non-finite entries"),
    (plot.discovery_rounds, ([0.5, 1e-3],), {"threshold": [1e-10, 1e-10, 1e-10]}, ValueError,
     r"threshold has 3 entries along axis 0 .* but rmd2 has 2"),
    (plot.discovery_rounds, ([0.5, 1e-3],), {"dims": [0]}, ValueError, r"dims has 1 entries along axis 0"),
    (plot.discovery_rounds, ([0.5, 1e-3],), {"directions": np.ones((3, 4))}, ValueError,
     r"directions has 3 entries along axis 0"),
    (plot.discovery_rounds, ([0.5, 1e-3],), {"directions": [[np.inf, 0.0], [0.0, 1.0]]}, ValueError,
     r"directions has 1 non-finite entries \(inf\)"),
    (plot.discovery_rounds, ("0.5",), {}, TypeError, r"rmd2 must be an array"),
    (plot.discovery_rounds, ([0.5, 1e-3],), {"threshold": -1e-10}, ValueError, r"threshold must be >= 0"),
    (plot.discovery_rounds, ([0.5, 1e-3],), {"principal_angles": [0.1, 2.0]}, ValueError,
     r"principal_angles must be in \[0, pi/2\], got \[0\.1, 2\.0\]"),
    (plot.discovery_rounds, ([0.5, 1e-3],), {"directions": [[1.0, 2.0], [3.0]]}, ValueError,
     r"directions must be a rectangular array"),
    # sweeps
    (plot.sweep_quantity, (np.ones((2, 3)), "N"), {}, TypeError, r"values must be an xarray\.DataArray"),
    (plot.sweep_quantity, (_sweep(), "beta"), {}, ValueError,
     r"x = 'beta' is not a varied key of values \(dims: N, seed\)"),
    (plot.sweep_quantity, (_sweep(), "seed"), {}, ValueError, r"x = 'seed' is not a varied key"),
    (plot.sweep_quantity, (_sweep(dims=("N", "run")), "N"), {}, ValueError, r"values has no seed dimension"),
    (plot.sweep_quantity, (_sweep(np.ones((0, 3))), "N"), {}, ValueError, r"values is empty along N"),
    (plot.sweep_quantity, (_sweep(_with(np.ones((2, 3)), (0, 1), np.inf)), "N"), {}, ValueError,
     r"values has 1 non-finite entries \(inf\)"),
    (plot.sweep_quantity, (_sweep(), "N"), {"max_legend": -1}, ValueError, r"max_legend must be an integer >= 0"),
    (plot.sweep_quantity, (_sweep(), ["N"]), {}, ValueError, r"x = \['N'\] is not a varied key"),
    (plot.sweep_quantity, (_sweep(), "N"), {"ylabel": 1.0}, TypeError, r"ylabel must be a string or None"),
    # save and animate
    (plot.save, ("figure", "x"), {}, TypeError, r"fig must be a matplotlib Figure, got str"),
    (plot.save, (Figure(), "x"), {"formats": ()}, ValueError, r"formats is empty"),
    (plot.save, (Figure(), "x"), {"formats": ("png", "docx")}, ValueError,
     r"formats: 'docx' is not a format matplotlib writes"),
    (plot.save, (Figure(), "x"), {"formats": 3}, TypeError, r"formats must be file suffixes"),
    (plot.save, (Figure(), "x"), {"dpi": 0}, ValueError, r"dpi must be a finite number >= 1"),
    (plot.save, (Figure(), 3), {}, TypeError, r"path must be a file path, got int"),
    (plot.round_off, ("1",), {}, TypeError, r"scale must be a number >= 0, got str '1'"),
    (plot.round_off, (-1.0,), {}, ValueError, r"scale must be a finite number >= 0, got -1.0"),
    (plot.round_off, (1.0,), {"dtype": int}, TypeError, r"dtype must be a floating-point dtype"),
    (plot.round_off, (1.0,), {"squared": "yes"}, TypeError, r"squared must be True or False, got str"),
    (plot.place_legends, ("figure",), {}, TypeError, r"fig must be a matplotlib Figure, got str"),
    (plot.legend_below, (Figure(), [3]), {}, TypeError, r"axes must be matplotlib Axes, got int"),
    (plot.legend_below, (None, []), {}, TypeError, r"fig must be a matplotlib Figure, got NoneType"),
    (plot.animate, (None, "a.gif"), {"fps": 0}, ValueError, r"fps must be a finite number"),
    (plot.animate, (None, "a.gif"), {"dpi": -1}, ValueError, r"dpi must be an integer >= 1"),
    (plot.animate, (3, "a.gif"), {}, TypeError, r"source must be a results file"),
    # reading
    (plot.read_training, (3,), {}, TypeError, r"source must be a results file: a path, the DataTree"),
    (plot.read_distances, ({"attrs": 1}, "mmd"), {}, TypeError, r"source must be a results file"),
]


@pytest.mark.parametrize(("function", "args", "kwargs", "error", "message"), CASES,
                         ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(CASES)])
def test_bad_argument_is_one_line_naming_it_before_drawing(function, args, kwargs, error, message, tmp_path,
                                                           monkeypatch):
    import sys

    monkeypatch.chdir(tmp_path)  # save / animate write nothing here
    given = [a for v in (kwargs.get("ax"), kwargs.get("axes")) for a in (v if isinstance(v, list) else [v])
             if isinstance(a, Axes)]
    before = len(sys.modules["matplotlib.pyplot"].get_fignums()) if "matplotlib.pyplot" in sys.modules else 0
    with pytest.raises(error, match=message) as caught:
        function(*args, **kwargs)
    assert "\n" not in str(caught.value) and type(caught.value) is error
    # nothing drawn: no new pyplot figure, the given axes empty, no file written
    if "matplotlib.pyplot" in sys.modules:
        assert len(sys.modules["matplotlib.pyplot"].get_fignums()) == before
    for ax in given:
        assert not (ax.lines or ax.collections or ax.patches or ax.images)
    assert list(tmp_path.iterdir()) == []


def test_every_public_drawing_function_is_in_the_table():
    drawing = {name for name in plot.__all__ if not name.startswith("read_")}
    assert drawing <= {c[0].__name__ for c in CASES}


def test_hostile_inputs_that_are_still_drawn():
    """What stays allowed: NaN (runs without values) in a sweep, NaN rows (no direction) in a discovery, a
    single string format, a one-seed series; an all-NaN sweep says so on its axes."""
    ax = Figure().add_subplot()
    plot.sweep_quantity(_sweep(np.full((2, 3), np.nan)), "N", ax=ax)
    assert [t.get_text() for t in ax.texts] == ["no run has a value"]
    ax = plot.sweep_quantity(_sweep(_with(np.ones((2, 3)), (0, 1), np.nan)), "N", ax=Figure().add_subplot())
    np.testing.assert_array_equal(ax.lines[0].get_ydata(), [1.0, 1.0])
    axes = _axes(2)
    plot.discovery_rounds([0.5, 1e-3], directions=[[1.0, 0.0], [np.nan, np.nan]], axes=axes)
    assert axes[1].images[0].get_array().mask[1].all()
    axes = _axes(2)
    plot.training({}, pde=PDE, axes=axes)  # a PDE without particles
    assert [t.get_text() for t in axes[0].texts] == ["no particle runs"] and len(axes[1].lines) == 2
    ax = plot.distance_vs_n([10, 20], [[0.2], [0.1]], ax=Figure().add_subplot())  # one seed: no interval
    np.testing.assert_array_equal(ax.containers[0].lines[0].get_ydata(), [0.2, 0.1])


def test_a_single_format_string_is_one_format(tmp_path):
    fig = Figure()
    fig.add_subplot().plot([0, 1])
    assert plot.save(fig, tmp_path / "f", formats="png") == [tmp_path / "f.png"]


@pytest.fixture
def small_file(tmp_path):
    """A hand-written results file: /pde on a 4 x 4 grid (3 snapshots), 5 particles of 2 seeds, one metric; the
    density of the last snapshot has a NaN and a negative cell."""
    import h5py

    path = tmp_path / "small.h5"
    with h5py.File(path, "w") as f:
        p = f.create_group("pde")
        p["basis"] = np.eye(2)
        p["u0"], p["u1"], p["time"] = X, X, [0.0, 0.5, 1.0]
        p["density"] = np.stack([RHO, RHO, _with(_with(RHO, (0, 0), np.nan), (1, 1), -0.5)])
        g = f.create_group("particles/N5")
        g["time"], g["positions"] = [0.0, 0.5, 1.0], np.zeros((2, 3, 5, 2))
        c = f.create_group("compare")
        c["N"], c["time"], c["mmd"] = [5], [0.0, 0.5, 1.0], np.ones((1, 2, 3))
    with h5py.File(path) as f:
        yield f


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda f: plot.read_snapshot(f, 3), ValueError, r"index = 3 is out of range for 3 snapshots \(-3 to 2\)"),
    (lambda f: plot.read_snapshot(f, 0.5), ValueError, r"index must be an integer >= -3, got 0\.5"),
    (lambda f: plot.read_snapshots(f, []), ValueError, r"indices is empty"),
    (lambda f: plot.read_snapshots(f, "01"), TypeError, r"indices must be a sequence of snapshot indices"),
    (lambda f: plot.read_snapshot(f, seed=2), ValueError, r"seed = 2 is out of range for 2 seeds"),
    (lambda f: plot.read_snapshot(f, n="5"), TypeError, r"n must be an integer >= 1, got str"),
    (lambda f: plot.read_snapshot(f, n=6), ValueError, r"no particles with N = 6 \(the file has N = 5\)"),
    (lambda f: plot.read_snapshot(f, max_points=0), ValueError, r"max_points must be an integer >= 1, got 0"),
    (lambda f: plot.read_distances(f, "energy"), ValueError, r"no metric 'energy' in /compare \(it has: mmd\)"),
    (lambda f: plot.read_distances(f, "N"), ValueError, r"no metric 'N' in /compare"),
    (lambda f: plot.read_discovery(f), ValueError, r"the results have no /discovery group"),
    (lambda f: plot.density(**plot.read_snapshot(f, -1)), ValueError, r"rho has 1 non-finite entries"),
    (lambda f: plot.density(**plot.read_snapshot(f, 1), ax=Figure().add_subplot()), None, None),
    (lambda f: plot.animate(f, "a.gif"), ValueError, r"rho has 1 non-finite entries \(NaN or inf\) of 48"),
])
def test_reading_refuses_what_the_file_does_not_hold(small_file, call, error, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if error is None:
        ax = call(small_file)  # a good snapshot of the same file draws
        assert len(ax.collections) >= 2
        return
    with pytest.raises(error, match=message):
        call(small_file)
    assert not (tmp_path / "a.gif").exists()  # the animation checks every frame before it writes


def test_a_floor_that_could_not_be_estimated_draws_no_line_and_says_why():
    """An infinite floor (the Richardson grids do not converge) is what the runner writes; the figures draw
    every value as not fitted, no floor line, and a title saying why there is no rate. NaN stays refused."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, values = np.array([100, 1000]), np.array([[0.2, 0.25], [0.07, 0.06]])
    ax = plot.distance_vs_n(n, values, floor=np.inf, rate=(np.nan, np.nan, np.nan, 0))
    assert ax.get_title() == "no rate: the PDE floor's grids do not converge"
    assert not [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert ax.get_ylim()[0] > 0 and ax.get_yscale() == "log"
    ax2 = plot.distance_vs_time(np.array([0.0, 1.0]), {100: np.array([[0.1, 0.2]])}, floor=np.inf)
    assert not [line for line in ax2.get_lines() if line.get_linestyle() == "--"]
    with pytest.raises(ValueError, match="floor must be a finite number >= 0, got nan"):
        plot.distance_vs_n(n, values, floor=float("nan"))
    plt.close("all")
