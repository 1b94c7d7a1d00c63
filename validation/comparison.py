"""Particles against a PDE solution, in memory: every metric per (N, seed, snapshot), the PDE's own error
(the floor) and the fitted rates (docs/theory.md §6, docs/pde.md). ``wgf run`` writes what ``compare``
returns; the same call works on a History and Trajectories built in Python.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from wgf.layout import COMPARE_COORDINATES, COMPARE_VARIABLES, xarray_dataset
from wgf.validation.measures import as_measure
from wgf.validation.rates import fit_rate, richardson_floor
from wgf.validation.distances import TooLargeForExactOT

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    import h5py
    import xarray as xr
    from numpy.typing import ArrayLike

    from wgf.grids import History
    from wgf.particles import Trajectory
    from wgf.problem import Problem

    from wgf.validation.rates import RateFit
    from wgf.validation.measures import CellMeasure

__all__ = ["Comparison", "compare", "distances_to", "sup_over_time", "metric_functions", "coarse_measures", "coarse_cells", "floor_grids", "floor_note",
           "DEFAULT_METRICS", "BATCH_POINTS", "FLOOR_FACTORS"]

log = logging.getLogger("wgf")

DEFAULT_METRICS = ("mmd", "energy", "sliced_w2", "output_l2", "moments")

# particles compared in one call (clouds of one snapshot, batched over N and seeds)
BATCH_POINTS = 1 << 22


def metric_functions(problem: Problem, names: Iterable[str] = DEFAULT_METRICS, bandwidth: float | None = None) -> dict:
    """name -> f(clouds, nu) -> (K,): the metric between each cloud of the list and nu (clouds or
    CellMeasures), for names of ``wgf.validation.metrics.METRICS`` (a metric gives the entries it ``writes``:
    ``moments`` gives moments_mean_error and moments_cov_error). The sliced metrics share nu's projections
    over the list. ``bandwidth`` (MMD) defaults to problem.init_std."""
    from wgf.validation.metrics import METRICS

    bandwidth = problem.init_std if bandwidth is None else bandwidth
    written = {key: name for name, entry in METRICS.items() for key in entry.writes}
    out = {}
    for name in names:
        if name not in METRICS and name in written:  # one entry of a metric that writes several
            out[name] = METRICS[written[name]](problem, bandwidth)[name]
        else:
            out.update(METRICS[name](problem, bandwidth))
    return out


FLOOR_FACTORS = (2, 4)


def coarse_cells(cells: ArrayLike, factor: int) -> np.ndarray:
    """Cells per axis of the floor's coarse grid: max(2, cells // factor)."""
    return np.maximum(2, np.asarray(cells) // factor)


def _cells_text(cells) -> str:
    return " x ".join(str(int(c)) for c in np.atleast_1d(cells))


def floor_grids(cells: ArrayLike, factors: Iterable[int] = FLOOR_FACTORS) -> str:
    """The coarse grids of the floor, in words: "12 x 12 and 6 x 6 cells (the PDE's 24 x 24 // 2 and // 4)"."""
    factors = tuple(factors)
    grids = " and ".join(_cells_text(coarse_cells(cells, f)) for f in factors)
    return f"{grids} cells (the PDE's {_cells_text(cells)} // {' and // '.join(map(str, factors))})"


def coarse_measures(problem: Problem, history: History, factors: Iterable[int] = FLOOR_FACTORS, *,
                    method: str = "auto", tol: float | None = None, setting: str | None = None,
                    flux: str = "sg") -> list:
    """The final density of the same flow on ``history.grid`` with cells // factor per axis, as CellMeasures.
    The solver's warnings (under-resolution, mass in the outer layer) name the user's grid (by its config
    ``setting``, e.g. "[pde]", when given), say they come from the floor estimate's coarse grid and what to
    set instead (``wgf.grids.mean_field.GridRole``). ``flux`` is the [pde] face flux (docs/pde.md): the floor
    is the error of the scheme the PDE ran."""
    from wgf.grids import DEFAULT_TOLERANCE, Grid, solve
    from wgf.grids.mean_field import GridRole

    grid = history.grid
    out = []
    for factor in factors:
        coarse = Grid(grid.bounds, coarse_cells(grid.cells, factor), grid.basis)
        role = GridRole(tuple(int(c) for c in grid.cells), setting, factor, "the floor estimate's")
        h = solve(problem, coarse, [0.0, history.times[-1]], method=method,
                  tol=DEFAULT_TOLERANCE if tol is None else tol, role=role, flux=flux)
        out.append(as_measure(h, 1))
    return out


@dataclass
class Comparison:
    """Metrics between particles and a PDE solution.

    n (K,) particle counts, times (T,), values {metric: (K, S, T)}, and per metric: floor (the PDE's
    own error at the final time), floor_order, rate (RateFit at the final time, points above the
    floor only); skipped {metric: why} for metrics that could not be computed. ``sup_rate`` gives the rate of
    the largest value over the snapshots of each run (``sup_over_time``) above the same floor.
    """

    n: np.ndarray
    times: np.ndarray
    values: dict = field(default_factory=dict)
    floor: dict = field(default_factory=dict)
    floor_order: dict = field(default_factory=dict)
    rate: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)

    @property
    def sup_rate(self) -> dict:
        """{metric: RateFit} of the largest value over the snapshots of each run against N, above the metric's
        floor (``sup_over_time``): the mean-field rate uniform in time."""
        return {name: sup_over_time(self.n, values, self.floor[name])[1] for name, values in self.values.items()}

    @staticmethod
    def metric_attrs(floor: float, order: float, rate: RateFit, time: float | None) -> dict:
        """The attributes of a metric's array in /compare: n_points, floor, floor_order, time (the final time, where
        the rate is fitted; left out when None, for the sup over the snapshots) and slope, slope_low, slope_high,
        or, when no rate was fitted, slope_skipped: why (the floor's grids do not converge, or too few values above
        the floor). Nothing non-finite but the floor."""
        attrs = {"n_points": int(rate.n_points), "floor": float(floor), "floor_order": float(order)}
        if time is not None:
            attrs["time"] = float(time)
        if np.isfinite(rate.slope):
            attrs.update(slope=rate.slope, slope_low=rate.low, slope_high=rate.high)
        elif not np.isfinite(floor):
            attrs["slope_skipped"] = ("the PDE's own error is unknown: its grids of 1/2 and 1/4 the cells do not "
                                      f"converge (order {order:.3g}), so no particle error lies above the floor")
        else:
            attrs["slope_skipped"] = (f"{rate.n_points} positive values above the floor at distinct N: a rate needs "
                                      "at least 3 over 2 values of N")
        return attrs

    def to_xarray(self) -> xr.Dataset:
        """The ``xarray.Dataset`` of the /compare group of a results file (``wgf.open_results``): each metric
        (N, seed, time) with its long_name, units and ``metric_attrs``, and its largest value over the snapshots
        ``<metric>_sup`` (N, seed) with the attributes of its rate (``sup_over_time``), on the coordinates N, seed
        (0 .. S-1), time (``wgf.layout``). Skipped metrics are left out, as ``wgf run`` leaves them out of the
        file."""
        seeds = next((v.shape[1] for v in self.values.values()), 0)
        arrays = [(COMPARE_COORDINATES["N"], self.n), (COMPARE_COORDINATES["seed"], np.arange(seeds)),
                  (COMPARE_COORDINATES["time"], self.times)]
        time = float(np.asarray(self.times, dtype=float)[-1]) if len(self.times) else np.nan
        for name, values in self.values.items():
            attrs = self.metric_attrs(self.floor[name], self.floor_order[name], self.rate[name], time)
            arrays.append((COMPARE_VARIABLES["{metric}"].format(metric=name), values, attrs))
        sup_rate = self.sup_rate
        for name, values in self.values.items():
            attrs = self.metric_attrs(self.floor[name], self.floor_order[name], sup_rate[name], None)
            arrays.append((COMPARE_VARIABLES["{metric}_sup"].format(metric=name), np.max(values, axis=2), attrs))
        return xarray_dataset(arrays)

    def __repr__(self) -> str:
        """A few lines: the N, seeds and times compared, then per metric its rate at the final time (or why there
        is none) and its floor; the metrics skipped by name."""
        ns = [int(n) for n in np.ravel(self.n)]
        n_text = ", ".join(map(str, ns)) if len(ns) <= 6 else f"{ns[0]} .. {ns[-1]} ({len(ns)} values)"
        times = np.asarray(self.times, dtype=float).ravel()
        seeds = next((v.shape[1] for v in self.values.values()), 0)
        head = (f"Comparison(N = {n_text}; {seeds} seeds; {times.size} times"
                + (f" t = {times[0]:.4g} .. {times[-1]:.4g}" if times.size else ""))
        rows = []
        for name in self.values:
            fit, floor = self.rate.get(name), self.floor.get(name, np.nan)
            slope = (f"slope {fit.slope:+.2f} [{fit.low:+.2f}, {fit.high:+.2f}] ({fit.n_points} points)"
                     if fit is not None and np.isfinite(fit.slope) else
                     f"no slope ({fit.n_points if fit is not None else 0} points above the floor)")
            rows.append(f"{name}: {slope}, floor {floor:.2g}")
        if self.skipped:
            rows.append("skipped: " + ", ".join(self.skipped))
        text = head + "".join(f"\n  {row}" for row in rows) + ")"
        if len(text) > 560:  # many metrics: their names only
            text = head + f"\n  metrics: {', '.join(self.values)}" + (f"; skipped: {', '.join(self.skipped)}"
                                                                       if self.skipped else "") + ")"
        return text if len(text) <= 560 else text[:540] + " ...)"


def _batches(ns, seeds, points=BATCH_POINTS):
    """(N index, seed) pairs in consecutive groups of at most ``points`` particles (at least one pair)."""
    out, current, size = [], [], 0
    for a, n in enumerate(ns):
        for s in range(seeds):
            if current and size + n > points:
                out.append(current)
                current, size = [], 0
            current.append((a, s))
            size += n
    return out + [current]


def compare(problem: Problem, history: History, positions: dict[int, np.ndarray | h5py.Dataset] | Iterable[Trajectory],
            *, metrics: Iterable[str] = DEFAULT_METRICS, bandwidth: float | None = None,
            coarse: Sequence[CellMeasure] | None = None, times: dict[int, ArrayLike] | None = None,
            on_metric: Callable[[str, np.ndarray, float, float, RateFit], object] | None = None) -> Comparison:
    """Every metric between the particles and ``history`` at each of its snapshots.

    Parameters
    ----------
    problem : the problem both were computed for
    history : the PDE solution
    positions : dict or list of Trajectory
        {N: array-like (S, T, N, D)}, particle positions per seed and snapshot at history.times (an
        h5py dataset is read one cloud at a time), or a list of Trajectory (grouped by N, seeds in list
        order)
    metrics : names of ``metric_functions``
    bandwidth : the Gaussian kernel's width for mmd (default: the problem's init_std)
    coarse : (mu_2h, mu_4h) or None
        the final density on grids of 1/2 and 1/4 the cells (``coarse_measures``, computed when None),
        for the Richardson floor
    times : {N: (T,)} or None
        the MF times the particles of each N were taken at (/particles/N<N>/time; a Trajectory's own
        times when Trajectories are given)
    on_metric : called with (name, values, floor, floor_order, rate) as each metric completes

    The PDE density enters as the measure of its cell averages (``as_measure``). Particles and density are
    only compared at the same times: ValueError, naming N and both times, when a snapshot of the particles was
    taken at another time than the density's (more than ``ON_GRID_RTOL`` max(1, t) apart).
    """
    positions, taken = _as_positions(positions)
    taken.update(times or {})
    ns = sorted(positions)
    seeds = min(p.shape[0] for p in positions.values())
    times = np.asarray(history.times, dtype=float)
    for n, t in sorted(taken.items()):
        _same_times(n, t, times)
    for n in ns:
        if positions[n].shape[1] != len(times) or positions[n].shape[2] != n:
            raise ValueError(f"positions of N = {n} have shape {positions[n].shape}: expected (S, {len(times)}, {n}, D)")
    functions = metric_functions(problem, metrics, bandwidth)
    if coarse is None:  # the coarse grids take the fine grid's integrator when it is known
        used = history.stats.method if history.stats is not None and history.stats.method else "auto"
        coarse = coarse_measures(problem, history, method=used)
    half, quarter = coarse
    measures = [as_measure(history, j) for j in range(len(times))]
    result = Comparison(np.asarray(ns), times)
    for name, f in functions.items():
        try:
            floor, order = richardson_floor(f([measures[-1]], half)[0], f([half], quarter)[0])
            values = np.stack([_against(f, positions, ns, seeds, j, mu) for j, mu in enumerate(measures)], axis=-1)
        except TooLargeForExactOT as e:
            result.skipped[name] = str(e)
            continue
        note = floor_note(name, floor, order, history.grid.cells)
        if note:
            log.warning("%s", note)
        rate = fit_rate(ns, values[:, :, -1], floor=floor)
        result.values[name], result.floor[name], result.floor_order[name], result.rate[name] = values, floor, order, rate
        if on_metric is not None:
            on_metric(name, values, floor, order, rate)
    return result


def _against(f, positions, ns, seeds, j, mu) -> np.ndarray:
    """f(cloud, mu) for the cloud of every (N, seed) at snapshot j, (K, S): the clouds of one call share mu's
    projections (``_batches``)."""
    values = np.zeros((len(ns), seeds))
    for batch in _batches(ns, seeds):
        values[tuple(np.transpose(batch))] = f([positions[ns[a]][s, j] for a, s in batch], mu)
    return values


def sup_over_time(n: ArrayLike, values: ArrayLike, floor: float) -> tuple:
    r"""The largest distance over the snapshots of each run and its rate in N: (sup (K, S), RateFit).

    values (K, S, T) a metric per (N, seed, snapshot) (``Comparison.values``); sup[k, s] =
    :math:`\max_j d(\nu^{N_k, s}_{t_j}, \mu_{t_j})`, fitted on log N by ``fit_rate`` above ``floor`` (the PDE's
    error at the final time, as the final-time fit). The mean-field limit uniform in time predicts the slope -1/2
    for the supremum as for each time."""
    sup = np.max(np.asarray(values, dtype=float), axis=2)
    return sup, fit_rate(n, sup, floor=floor)


def distances_to(problem: Problem, target: CellMeasure, positions: dict[int, np.ndarray | h5py.Dataset], *,
                 metrics: Iterable[str] = DEFAULT_METRICS, bandwidth: float | None = None,
                 snapshot: int = -1) -> dict:
    r"""Every metric between the particles at one snapshot and one measure ``target`` (a grid density's
    ``CellMeasure``, e.g. the minimizer :math:`\rho^*` through ``cell_measure(grid, density)``), with the metric
    functions of ``compare`` (``metric_functions``): {name: (K, S)}, K the N of ``positions`` ascending.

    positions {N: (S, T, N, D)} (an h5py dataset is read one cloud at a time); the clouds at ``snapshot``.
    TooLargeForExactOT for w2 beyond its size limit."""
    ns = sorted(positions)
    seeds = min(p.shape[0] for p in positions.values())
    return {name: _against(f, positions, ns, seeds, snapshot, target)
            for name, f in metric_functions(problem, metrics, bandwidth).items()}


def floor_note(name: str, floor: float, order: float, cells: ArrayLike) -> str | None:
    """What a user must know about the floor of metric ``name`` (from ``richardson_floor``) on a PDE grid of
    ``cells``: that its coarse grids do not converge (no floor, no rate), or converge below first order (not
    yet asymptotic: the floor is larger than first order would make it); None otherwise."""
    grids = floor_grids(cells)
    if not np.isfinite(floor):
        return (f"{name}: the floor's grids {grids} do not converge (order {order:.3g} <= 0): the PDE's own "
                "error is unknown and no rate is fitted; refine [pde] cells")
    if order < 1.0:
        return (f"{name}: the floor's grids {grids} converge at order {order:.2f} < 1 (not yet asymptotic, e.g. "
                f"drift-dominated cells): floor {floor:.3g} from that order; refine [pde] cells for a lower one")
    return None


def _as_positions(positions) -> tuple[dict, dict]:
    """({N: (S, T, N, D)}, {N: [(T,) times of each Trajectory]}) of a dict of positions or a list of Trajectory."""
    if isinstance(positions, dict):
        return positions, {}
    grouped, times = {}, {}
    for traj in positions:
        grouped.setdefault(int(traj.n), []).append(np.asarray(traj.positions))
        times.setdefault(int(traj.n), []).append(np.asarray(traj.times, dtype=float))
    return {n: np.stack(v) for n, v in grouped.items()}, times


def _same_times(n: int, particle_times, pde_times: np.ndarray) -> None:
    """ValueError unless every (T,) array of ``particle_times`` (one array, or a list of them) is ``pde_times``
    to ON_GRID_RTOL max(1, t)."""
    from wgf.particles.engine import ON_GRID_RTOL

    arrays = particle_times if isinstance(particle_times, list) else [particle_times]
    for t in arrays:
        t = np.asarray(t, dtype=float)
        if t.shape != pde_times.shape:
            continue  # the shapes of the positions are checked (and named) below
        off = np.flatnonzero(~(np.abs(t - pde_times) <= ON_GRID_RTOL * np.maximum(1.0, np.abs(pde_times))))
        if off.size:
            j = off[0]
            raise ValueError(f"particles of N = {n} were taken at t = {t[j]:.12g}, the PDE density at t = "
                             f"{pde_times[j]:.12g} (snapshot {j}): snapshots at different times are not compared")


