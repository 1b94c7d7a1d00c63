"""The linear Fokker-Planck solver and the history of a grid solution.

``solve_fokker_planck(grid, potential, beta, initial, times)`` integrates

    d_t rho = div(rho grad V) + beta Lap rho      on the grid, no-flux boundary,

for a fixed potential V, with the same operator and time stepping as the
mean-field solver (``wgf.grids.solve``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import numpy as np

from wgf.grids.grid import Grid
from wgf.grids.stepper import DEFAULT_TOLERANCE, StepStats, integrate
from wgf.layout import PDE_COORDINATES, PDE_FIELDS, Variable, xarray_dataset

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import xarray as xr
    from numpy.typing import ArrayLike

    from wgf._typing import PathLike

__all__ = ["History", "solve_fokker_planck", "initial_density", "potential_on_cells", "tracker_variable"]


# long_name and units of the trackers of ``wgf.grids.solve`` in a saved History (others: their name, units 1)
TRACKER_ATTRS = {
    "mass": {"long_name": "total mass", "units": "1"},
    "risk": {"long_name": "risk R(mu)", "units": "1"},
    "free_energy": {"long_name": "free energy R + tau m2 + beta int mu log mu", "units": "1"},
    "wi_defect": {"long_name": "max_g ||rho o M_g - rho||_1 / ||rho||_1 (0 = weakly invariant)", "units": "1"},
    "si_defect": {"long_name": "int |z - P_E z|^2 dmu (0 = on E^G)", "units": "1"},
    "boundary_mass": {"long_name": "mass in the outermost cell layer", "units": "1"},
}


def tracker_variable(name: str) -> Variable:
    """The array /pde/<name> of a tracker on the time axis, with its ``TRACKER_ATTRS`` (others: long_name its name,
    units 1)."""
    return Variable(name, ("time",), **TRACKER_ATTRS.get(name, {"long_name": name, "units": "1"}))


# names a saved History uses for itself (and u0, u1, ...): not tracker names
_RESERVED = {"time", "density", "basis", "lower", "upper", "cells", "axis", "parameter"}


@dataclass
class History:
    """Densities at snapshot times: times (T,), density (T, *grid.shape) with sum * cell_volume = 1.

    ``save(path)`` writes it to a small HDF5 file that xarray opens (coordinates time, u0.., axis,
    parameter) and ``History.load(path)`` reads it back, grid included (docs/outputs.md,
    "Saved objects").
    """

    grid: Grid
    times: np.ndarray
    density: np.ndarray
    trackers: dict = field(default_factory=dict)
    stats: StepStats | None = None

    KIND = "History"

    def __repr__(self) -> str:
        """One line: snapshots and times, the grid (cells, box, basis), the trackers and the integrator's work."""
        grid, times = self.grid, np.asarray(self.times, dtype=float).ravel()
        when = f"t = {times[0]:.4g} .. {times[-1]:.4g}" if times.size else "no times"
        cells = " x ".join(str(int(c)) for c in grid.cells)
        lo, hi = grid.bounds[:, 0], grid.bounds[:, 1]
        box = (f"[{lo[0]:.4g}, {hi[0]:.4g}]^{grid.ndim}" if np.all(lo == lo[0]) and np.all(hi == hi[0]) else
               " x ".join(f"[{a:.4g}, {b:.4g}]" for a, b in zip(lo, hi)))
        text = (f"History({times.size} snapshots {when}, density {tuple(np.shape(self.density))} on {cells} cells "
                f"of {box} in u, z = B u in R^{grid.basis.shape[0]}")
        if self.trackers:
            text += ", trackers " + ", ".join(self.trackers)
        if self.stats is not None:
            text += f", {self.stats.steps} steps" + (f" ({self.stats.method})" if self.stats.method else "")
        return text + ")"

    def to_xarray(self) -> xr.Dataset:
        """This history as the ``xarray.Dataset`` of the /pde group of a results file (``wgf.open_results``, then
        ``tree["pde"].to_dataset()``): density (time, u0, .., u{m-1}), basis (parameter, axis) and each tracker
        (time,) with the coordinates time, u0.., parameter, axis and their long_name and units
        (``wgf.layout``); the attributes cell_volume and, with stats, steps. The group attributes a run adds
        (space, done, metadata_checksum) are the file's, not the History's."""
        grid = self.grid
        dims = ("time",) + tuple(f"u{k}" for k in range(grid.ndim))
        arrays = [(PDE_COORDINATES["time"], self.times),
                  *((PDE_COORDINATES["u{k}"].format(k=k), centres) for k, centres in enumerate(grid.axes)),
                  (PDE_COORDINATES["parameter"], np.arange(grid.basis.shape[0])),
                  (PDE_COORDINATES["axis"], np.arange(grid.ndim)),
                  (PDE_FIELDS["basis"], grid.basis),
                  (Variable("density", dims, PDE_FIELDS["density"].long_name, PDE_FIELDS["density"].units),
                   self.density),
                  *((tracker_variable(name), values) for name, values in self.trackers.items())]
        attrs = {"cell_volume": grid.cell_volume}
        if self.stats is not None:
            attrs["steps"] = self.stats.steps
        return xarray_dataset(arrays, attrs)

    def save(self, path: PathLike) -> Path:
        """Write this history to ``path`` (HDF5, netCDF conventions), atomically: a temporary file in the same
        folder renamed to ``path``. Stored: time (T,), the cell centres u0.. (n_k,), density (time, u0, ..),
        the grid's basis (parameter, axis), lower and upper box edges and cells (axis,), each tracker
        (time,), the stats as root attributes ``stats_<field>``. Returns the path."""
        from wgf.io import coordinate, save_object, variable

        grid = self.grid
        times = np.asarray(self.times, dtype=float)
        density = np.asarray(self.density, dtype=float)
        if times.ndim != 1 or density.shape != (times.size,) + grid.shape:
            raise ValueError(f"density has shape {density.shape}: expected (T, *grid.shape) = "
                             f"{(times.size,) + grid.shape} for {times.size} times")
        trackers = {}
        for name, values in self.trackers.items():
            values = np.asarray(values, dtype=float)
            if not name.isidentifier() or name in _RESERVED or (name[:1] == "u" and name[1:].isdigit()):
                raise ValueError(f"tracker name {name!r} cannot be saved (not an identifier, or a name of the layout)")
            if values.shape != times.shape:
                raise ValueError(f"tracker {name!r} has shape {values.shape}: expected ({times.size},)")
            trackers[name] = values

        def fill(f):
            time = coordinate(f, "time", times, long_name="mean-field time")
            axes = [coordinate(f, f"u{k}", centres, long_name=f"cell centre, coordinate {k} in the grid basis")
                    for k, centres in enumerate(grid.axes)]
            axis = coordinate(f, "axis", np.arange(grid.ndim), long_name="grid axis", dtype="i8")
            parameter = coordinate(f, "parameter", np.arange(grid.basis.shape[0]),
                                   long_name="coordinate of z in Z = R^D", dtype="i8")
            variable(f, "density", density, time, *axes,
                     long_name="density of the mean-field law on the grid (cell averages)",
                     units="1 / cell volume in u")
            variable(f, "basis", grid.basis, parameter, axis, long_name="grid basis B: z = B u")
            variable(f, "lower", grid.bounds[:, 0], axis, long_name="lower edge of the grid box")
            variable(f, "upper", grid.bounds[:, 1], axis, long_name="upper edge of the grid box")
            variable(f, "cells", grid.cells, axis, long_name="cells per axis", dtype="i8")
            for name, values in trackers.items():
                attrs = TRACKER_ATTRS.get(name, {"long_name": name, "units": "1"})
                variable(f, name, values, time, **attrs)
            f.attrs["trackers"] = " ".join(trackers)
            if self.stats is not None:
                for item in fields(StepStats):
                    f.attrs[f"stats_{item.name}"] = getattr(self.stats, item.name)

        return save_object(path, self.KIND, fill)

    @classmethod
    def load(cls, path: PathLike) -> "History":
        """The History saved at ``path`` by ``save``: arrays bit for bit, the same Grid (bounds, cells, basis),
        trackers and stats. FileNotFoundError/IsADirectoryError, or ``wgf.io.SavedFileError`` (a ValueError),
        in one line naming the file for anything else."""
        from wgf.io import read_object

        with read_object(path, cls.KIND) as f:
            bounds = np.stack([f["lower"][()], f["upper"][()]], axis=1)
            grid = Grid(bounds, f["cells"][()], f["basis"][()])
            times, density = f["time"][()], f["density"][()]
            if density.shape != (times.size,) + grid.shape:
                raise ValueError(f"density has shape {density.shape}, the grid {grid.shape}")
            trackers = {name: f[name][()] for name in str(f.attrs.get("trackers", "")).split()}
            stats = None
            if "stats_steps" in f.attrs:
                stats = StepStats(**{item.name: type(item.default)(f.attrs[f"stats_{item.name}"])
                                     for item in fields(StepStats)})
        return cls(grid, times, density, trackers, stats)

    def evaluate(self, t_index: int, points: ArrayLike) -> np.ndarray:
        """Density at snapshot t_index at grid-coordinate points u (P, m), multilinear (basix P1)."""
        return self.grid.interpolate(self.density[t_index], points)

    def mass(self) -> np.ndarray:
        """Total mass per snapshot, (T,)."""
        return self.density.reshape(len(self.times), -1).sum(axis=1) * self.grid.cell_volume


def potential_on_cells(grid: Grid, potential: Callable[[np.ndarray], ArrayLike] | ArrayLike) -> np.ndarray:
    """A potential given as an array on the cells, or as a callable of points u (..., m), at the cell centers."""
    if callable(potential):
        v = np.asarray(potential(grid.centers), dtype=float)
    else:
        v = np.asarray(potential, dtype=float)
    if v.shape != grid.shape:
        raise ValueError(f"potential must have the grid's shape {grid.shape}, got {v.shape}")
    return v


def initial_density(grid: Grid, initial: Callable[[np.ndarray], ArrayLike] | ArrayLike,
                    degree: int = 3) -> np.ndarray:
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


def solve_fokker_planck(grid: Grid, potential: Callable[[np.ndarray], ArrayLike] | ArrayLike, beta: float,
                        initial: Callable[[np.ndarray], ArrayLike] | ArrayLike, times: ArrayLike, *,
                        method: str = "auto", tol: float = DEFAULT_TOLERANCE,
                        dt_max: float | None = None, flux: str = "sg") -> History:
    """Solve d_t rho = div(rho grad V) + beta Lap rho from ``initial`` through ``times``.

    Parameters
    ----------
    grid : the grid (its cells and basis)
    potential : callable V(u) of points (..., m) or array on the cells
    beta : the diffusion coefficient (>= 0)
    initial : callable density of u (cell-averaged with a basix Gauss rule) or array of cell averages
    times : snapshot times (T,)
    method : "auto", "implicit", "split" or "explicit"
        "auto" (default) takes the cheapest at this accuracy (``wgf.grids.cost``; the choice
        and its reason are in ``History.stats``), "implicit" M-matrix solves (SuperLU) with dt from ``tol``,
        "split" the same steps with dimensionally split tridiagonal solves (``wgf.grids.splitting``),
        "explicit" SSP-RK3 under the CFL bound.
    tol : local error per implicit step
    dt_max : the largest step (default: the span of the times)
    flux : "sg" (Scharfetter-Gummel, default) or "cch" (Carrillo-Chertock-Huang, second order at high cell
        Peclet numbers, explicit only; docs/pde.md)

    Returns
    -------
    History
    """
    if not (np.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta must be finite and >= 0, got {beta!r}")
    v = potential_on_cells(grid, potential)
    rho0 = initial_density(grid, initial)
    stats = StepStats()
    dens = integrate(rho0, times, lambda rho: v, grid.spacing, beta, method=method, tol=tol, dt_max=dt_max,
                     fixed_potential=True, stats=stats, flux=flux)
    return History(grid, np.asarray(times, dtype=float), np.stack(dens), stats=stats)
