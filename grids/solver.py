"""The linear Fokker-Planck solver and the history of a grid solution.

``solve_fokker_planck(grid, potential, beta, initial, times)`` integrates

    d_t rho = div(rho grad V) + beta Lap rho      on the grid, no-flux boundary,

for a fixed potential V, with the same operator and time stepping as the
mean-field solver (``wgf.grids.solve``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .grid import Grid
from .stepper import DEFAULT_TOLERANCE, StepStats, integrate

__all__ = ["History", "solve_fokker_planck", "initial_density", "potential_on_cells"]


@dataclass
class History:
    """Densities at snapshot times: times (T,), density (T, *grid.shape) with sum * cell_volume = 1."""

    grid: Grid
    times: np.ndarray
    density: np.ndarray
    trackers: dict = field(default_factory=dict)
    stats: StepStats | None = None

    def evaluate(self, t_index: int, points) -> np.ndarray:
        """Density at snapshot t_index at grid-coordinate points u (P, m), multilinear (basix P1)."""
        return self.grid.interpolate(self.density[t_index], points)

    def mass(self) -> np.ndarray:
        """Total mass per snapshot, (T,)."""
        return self.density.reshape(len(self.times), -1).sum(axis=1) * self.grid.cell_volume


def potential_on_cells(grid: Grid, potential) -> np.ndarray:
    """A potential given as an array on the cells, or as a callable of points u (..., m), at the cell centers."""
    if callable(potential):
        v = np.asarray(potential(grid.centers), dtype=float)
    else:
        v = np.asarray(potential, dtype=float)
    if v.shape != grid.shape:
        raise ValueError(f"potential must have the grid's shape {grid.shape}, got {v.shape}")
    return v


def initial_density(grid: Grid, initial, degree: int = 3) -> np.ndarray:
    """Cell averages of a callable density (basix Gauss rule per cell), or an array; normalized to mass 1."""
    if callable(initial):
        rho = grid.cell_average(initial, degree)
    else:
        rho = np.array(initial, dtype=float)
        if rho.shape != grid.shape:
            raise ValueError(f"initial density must have the grid's shape {grid.shape}, got {rho.shape}")
    if np.any(rho < 0) or not np.all(np.isfinite(rho)):
        raise ValueError("initial density must be finite and nonnegative")
    mass = rho.sum() * grid.cell_volume
    if mass <= 0:
        raise ValueError("initial density has no mass on the grid")
    return rho / mass


def solve_fokker_planck(grid: Grid, potential, beta: float, initial, times, *, method: str = "auto",
                        tol: float = DEFAULT_TOLERANCE, dt_max: float | None = None) -> History:
    """Solve d_t rho = div(rho grad V) + beta Lap rho from ``initial`` through ``times``.

    potential : callable V(u) of points (..., m) or array on the cells
    initial : callable density of u (cell-averaged with a basix Gauss rule) or array of cell averages
    method : "auto" (default: the cheaper of the two at this accuracy, ``wgf.grids.cost``; the choice
             and its reason are in ``History.stats``), "implicit" (M-matrix solves, dt from ``tol``)
             or "explicit" (SSP-RK3, CFL)
    """
    if not (np.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta must be finite and >= 0, got {beta!r}")
    v = potential_on_cells(grid, potential)
    rho0 = initial_density(grid, initial)
    stats = StepStats()
    dens = integrate(rho0, times, lambda rho: v, grid.spacing, beta, method=method, tol=tol, dt_max=dt_max,
                     fixed_potential=True, stats=stats)
    return History(grid, np.asarray(times, dtype=float), np.stack(dens), stats=stats)
