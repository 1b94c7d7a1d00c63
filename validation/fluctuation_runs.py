r"""The fluctuations of stored particle runs against their predicted limit, as the /fluctuations group of a results file
(docs/theory.md §11, docs/outputs.md).

For each test function f of ``wgf.validation.fluctuations.FLUCTUATIONS`` and each particle count N, the values
:math:`\langle f, \nu^N_t \rangle` of S seeds at every snapshot give :math:`N\, \mathrm{Var}_{\mathrm{seeds}}` with
its chi-square interval and the seed mean (``fluctuation_statistics``); the predicted limit
:math:`\lim_N N \mathrm{Var} \langle f, \nu^N_t \rangle` (:math:`\varepsilon = \alpha / N`) comes from
``fluctuation_limit``: the linear unit's exact ODE (``linear_mean_limit``) for the mean where it applies, else the
grid flow's adjoint tangent (``wgf.grids.fluctuation_variance``) on a grid of 1 or 2 axes where it applies, else
none, with the reason.

``fluctuation_dataset(problem, positions, names, alpha=, batch=, grid=)`` is the group in memory, an
``xarray.Dataset`` identical to what ``wgf run`` writes with ``[compare] fluctuations`` (and ``wgf.open_results``
reads): both are built by ``fluctuation_arrays`` on the variables of ``wgf.layout``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from wgf.layout import FLUCTUATION_COORDINATES, FLUCTUATION_VARIABLES, xarray_dataset

if TYPE_CHECKING:
    import xarray as xr
    from numpy.typing import ArrayLike

    from wgf.grids import Grid
    from wgf.particles import Trajectory
    from wgf.problem import Problem

__all__ = ["FluctuationLimit", "fluctuation_limit", "measured_values", "fluctuation_arrays", "fluctuation_dataset",
           "PREDICTIONS", "INTERVAL"]

# where the predicted limit may come from: "auto" the linear ODE where it applies, else the grid
PREDICTIONS = ("auto", "linear", "grid", "none")
# the interval of N Var_seeds (fluctuation_statistics), as the group's attribute states it
INTERVAL = "chi-square with S - 1 degrees of freedom (Gaussian values)"


@dataclass(frozen=True)
class FluctuationLimit:
    r"""The predicted :math:`\lim_N N \mathrm{Var} \langle f, \nu^N_t \rangle` of one test function:
    values (T, K) or None, attrs (source "linear_ode" or "grid", and the grid's cells, space and backward_steps), and
    skipped: why there is none (None when there is)."""

    values: np.ndarray | None
    attrs: dict = field(default_factory=dict)
    skipped: str | None = None


def _leaves_grid(problem: Problem, grid: Grid) -> str | None:
    """Why the particles' own test functions are not functions of the grid's coordinates on E^G (None: they are, or
    the grid is the full space): the particles must start on E^G, keep it in the mean field (projected noise, an
    invariant risk) and at every step (not vanilla, not DA in sample mode: one sample's drift leaves E^G)."""
    from wgf.problem import INITS
    from wgf.schemes import DA_MODES, SCHEMES

    if grid.ndim >= problem.dim:
        return None
    if not INITS[problem.init].projected:
        return "the grid is on E^G and the particles start off it (a WI start)"
    if not problem.stays_in_fixed_subspace:
        return f"the grid is on E^G and the flow leaves it ({problem.fixed_subspace.reason})"
    scheme = SCHEMES[problem.scheme]
    if problem.scheme == "vanilla" or (scheme.augments and not DA_MODES[problem.da_mode].quadrature):
        return (f"the grid is on E^G and under {problem.scheme}{' in sample mode' if scheme.augments else ''} one "
                "sample's drift leaves E^G: the prediction holds for functions of P_E z only, not for the particles' "
                "own test functions")
    return None


def _linear_limit(problem, name, times, alpha, batch):
    from wgf.validation.fluctuations import _linear_setup, linear_mean_limit

    if name != "mean":
        return FluctuationLimit(None, skipped=f"the linear unit's exact limit is derived for the mean, not {name}")
    try:
        _linear_setup(problem)
    except ValueError as e:
        return FluctuationLimit(None, skipped=str(e))
    values = linear_mean_limit(problem, times, alpha=alpha, batch=batch).n_var
    return FluctuationLimit(values, {"source": "linear_ode"})


def _grid_limit(problem, name, times, alpha, batch, grid, steps, components):
    from wgf.grids import fluctuation_variance

    if grid is None:
        return FluctuationLimit(None, skipped="no grid (a [pde] section)")
    if grid.ndim > 2:
        return FluctuationLimit(None, skipped=f"the grid has {grid.ndim} axes; the prediction is for 1 or 2")
    why = _leaves_grid(problem, grid)
    if why:
        return FluctuationLimit(None, skipped=why)
    try:
        pred = fluctuation_variance(problem, grid, name, times, alpha=alpha, batch=batch, steps=steps)
    except (ValueError, NotImplementedError, KeyError) as e:  # what the prediction does not cover, and why
        return FluctuationLimit(None, skipped=str(e).splitlines()[0] if str(e) else type(e).__name__)
    if list(pred.names) != list(components):
        return FluctuationLimit(None, skipped=f"the grid's components {list(pred.names)} are not the particles' "
                                              f"{list(components)}")
    return FluctuationLimit(pred.total, {"source": "grid", "space": "full" if grid.ndim >= problem.dim else "fixed",
                                         "cells": np.asarray(grid.cells, dtype=np.int64),
                                         "backward_steps": int(steps)})


def fluctuation_limit(problem: Problem, name: str, times: ArrayLike | None = None, *, alpha: float | None,
                      batch: int, grid: Grid | None = None, prediction: str = "auto",
                      backward_steps: int | None = None) -> FluctuationLimit:
    r"""The predicted :math:`\lim_N N \mathrm{Var} \langle f, \nu^N_t \rangle` of the test function ``name`` at
    ``times`` (default the problem's), with :math:`\varepsilon = \alpha / N` and batch B.

    ``prediction``: "linear" the linear unit's exact ODE (``linear_mean_limit``: the mean, linear unit, squared loss,
    Gaussian teacher data, vanilla); "grid" ``wgf.grids.fluctuation_variance`` on ``grid`` with ``backward_steps``
    implicit Euler steps (default its own): 1 or 2 axes, a constant schedule, noise acting as the identity on the
    grid, and on E^G particles that stay there at every step; "auto" the first of the two that applies; "none" no
    prediction. A fixed step (``alpha`` None) has no limit at :math:`\varepsilon = \alpha / N`. Returns a
    ``FluctuationLimit`` whose ``skipped`` says why where there is none."""
    from wgf.grids.fluctuations import DEFAULT_BACKWARD_STEPS
    from wgf.validation.fluctuations import FLUCTUATIONS

    if prediction not in PREDICTIONS:
        raise ValueError(f"prediction must be one of {', '.join(PREDICTIONS)}, got {prediction!r}")
    components = FLUCTUATIONS[name].components(problem)
    times = problem.times if times is None else np.asarray(times, dtype=float)
    if prediction == "none":
        return FluctuationLimit(None, skipped="no prediction asked for")
    if alpha is None:
        return FluctuationLimit(None, skipped="a fixed step eps: eps N grows with N, there is no limit at eps = "
                                              "alpha / N")
    steps = DEFAULT_BACKWARD_STEPS if backward_steps is None else int(backward_steps)
    reasons = []
    if prediction in ("auto", "linear"):
        limit = _linear_limit(problem, name, times, alpha, batch)
        if limit.values is not None or prediction == "linear":
            return limit
        reasons.append(f"linear ODE: {limit.skipped}")
    limit = _grid_limit(problem, name, times, alpha, batch, grid, steps, components)
    if limit.values is not None or prediction == "grid":
        return limit
    return FluctuationLimit(None, skipped="; ".join([*reasons, f"grid: {limit.skipped}"]))


def _runs(positions) -> tuple[int, Any]:
    """(S, a function s -> the run's positions (T, N, D) per snapshot index) of the positions of one N: an array
    (S, T, N, D) (numpy, h5py or xarray; read one snapshot at a time) or a sequence of ``Trajectory``."""
    if isinstance(positions, Sequence) and positions and hasattr(positions[0], "positions"):
        return len(positions), lambda s, j: np.asarray(positions[s].positions[j], dtype=float)
    if getattr(positions, "ndim", None) != 4:
        raise ValueError(f"positions must be (S, T, N, D) or a list of Trajectory, got {type(positions).__name__} "
                         f"of shape {getattr(positions, 'shape', None)}")
    return positions.shape[0], lambda s, j: np.asarray(positions[s, j], dtype=float)


def measured_values(problem: Problem, positions: ArrayLike | Sequence[Trajectory], names: Sequence[str],
                    times: int) -> dict[str, np.ndarray]:
    r""":math:`\langle f, \nu^N_t \rangle` for each test function of ``names`` over the runs of one N: {name:
    (S, T, K)}. positions (S, T, N, D) (numpy, h5py or xarray, read one snapshot at a time) or a list of S
    ``Trajectory`` holding every snapshot; ``times`` the number T of snapshots."""
    from wgf.validation.fluctuations import FLUCTUATIONS

    seeds, snapshot = _runs(positions)
    functions = {name: FLUCTUATIONS[name](problem) for name in names}
    out = {name: np.empty((seeds, times, len(FLUCTUATIONS[name].components(problem)))) for name in names}
    for s in range(seeds):
        for j in range(times):
            theta = snapshot(s, j)
            if theta.ndim != 2 or theta.shape[1] != problem.dim:
                raise ValueError(f"run {s}, snapshot {j}: positions of shape {theta.shape}, expected (N, "
                                 f"{problem.dim})")
            for name, f in functions.items():
                out[name][s, j] = np.atleast_1d(np.asarray(f(theta), dtype=float)).ravel()
    return out


def fluctuation_arrays(problem: Problem, positions: Mapping[int, Any], names: Sequence[str], *,
                       alpha: float | None, batch: int, grid: Grid | None = None, times: ArrayLike | None = None,
                       level: float = 0.95, prediction: str = "auto",
                       backward_steps: int | None = None) -> tuple[list, dict]:
    r"""The arrays of the /fluctuations group as (Variable, values, attrs) triples of ``wgf.layout`` and the group's
    attributes: what ``fluctuation_dataset`` returns and ``wgf.runner.run_fluctuations`` writes.

    positions {N: (S, T, N, D) or a list of S ``Trajectory``} the runs of each N (S >= 2 each; every snapshot of
    ``times``, default the problem's); per test function f of ``names``: f (N, time, f_component) N Var_seeds,
    f_low and f_high its ``level`` interval, f_mean and f_mean_se the seed mean and its standard error
    (``fluctuation_statistics``); f_limit (time, f_component) from ``fluctuation_limit`` (``alpha``, ``batch``,
    ``grid``, ``prediction``, ``backward_steps``), or the group attribute f_limit_skipped."""
    from wgf.validation.fluctuations import FLUCTUATIONS, fluctuation_statistics

    names = list(names)
    if not names:
        raise ValueError("names: no test function")
    for name in names:
        FLUCTUATIONS[name]  # an unknown name: one line listing the known ones
    if len(set(names)) != len(names):
        raise ValueError(f"names: a test function is given twice in {names}")
    times = problem.times if times is None else np.asarray(times, dtype=float)
    ns = sorted(int(n) for n in positions)
    stats = {name: [] for name in names}
    seeds = set()
    for n in ns:
        values = measured_values(problem, positions[n], names, len(times))
        for name in names:
            stats[name].append(fluctuation_statistics(values[name], n, level))
            seeds.add(stats[name][-1].seeds)
    c, v = FLUCTUATION_COORDINATES, FLUCTUATION_VARIABLES
    arrays = [(c["N"], np.asarray(ns, dtype=np.int64)), (c["time"], times)]
    attrs = {"test_functions": ", ".join(names), "seeds": int(min(seeds)) if len(seeds) == 1 else
             np.asarray([s.seeds for s in stats[names[0]]], dtype=np.int64), "level": float(level),
             "interval": INTERVAL, "batch": int(batch)}
    if alpha is not None:
        attrs["alpha"] = float(alpha)
    for name in names:
        components = FLUCTUATIONS[name].components(problem)
        arrays.append((c["{f}_component"].format(f=name), np.asarray(components, dtype=object)))
        s = stats[name]
        for key, field_ in (("{f}", "n_var"), ("{f}_low", "n_var_low"), ("{f}_high", "n_var_high"),
                            ("{f}_mean", "mean"), ("{f}_mean_se", "mean_se")):
            arrays.append((v[key].format(f=name), np.stack([getattr(st, field_) for st in s])))
        limit = fluctuation_limit(problem, name, times, alpha=alpha, batch=batch, grid=grid, prediction=prediction,
                                  backward_steps=backward_steps)
        if limit.values is None:
            attrs[f"{name}_limit_skipped"] = limit.skipped
        else:
            arrays.append((v["{f}_limit"].format(f=name), limit.values, limit.attrs))
    return arrays, attrs


def fluctuation_dataset(problem: Problem, positions: Mapping[int, Any], names: Sequence[str], *,
                        alpha: float | None, batch: int, grid: Grid | None = None, times: ArrayLike | None = None,
                        level: float = 0.95, prediction: str = "auto",
                        backward_steps: int | None = None) -> xr.Dataset:
    r"""The /fluctuations group of a results file in memory (``fluctuation_arrays``): an ``xarray.Dataset`` with the
    coordinates N, time and f_component, per test function f the variables f, f_low, f_high (N Var_seeds and its
    interval), f_mean, f_mean_se and, where a prediction applies, f_limit; identical to
    ``wgf.open_results(path)["fluctuations"]`` of ``wgf run`` with ``[compare] fluctuations = names`` on the same
    runs (without the file's bookkeeping attributes).

    Examples
    --------
    >>> from wgf.particles import simulate
    >>> runs = {n: [simulate(problem, n, s, alpha=5.0, batch=10) for s in range(100)] for n in (100, 1000)}
    >>> ds = fluctuation_dataset(problem, runs, ["mean"], alpha=5.0, batch=10)
    >>> ds["mean"].sel(N=1000).isel(time=-1), ds["mean_limit"].isel(time=-1)
    """
    return xarray_dataset(*fluctuation_arrays(problem, positions, names, alpha=alpha, batch=batch, grid=grid,
                                              times=times, level=level, prediction=prediction,
                                              backward_steps=backward_steps))
