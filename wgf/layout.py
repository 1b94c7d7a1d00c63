"""The arrays of a results file that the engines also hold in memory: /pde, /particles/N<N> and /compare.

A ``Variable`` is one array of a results file: its name, the names of its dimensions, its ``long_name`` and
``units``. The tables below describe the sections a ``History`` (/pde), a ``Trajectory`` (/particles/N<N>)
and a ``Comparison`` (/compare) correspond to. They are defined here, below the engines, so that one
description serves both the writer of a results file (``wgf.runner``, through ``wgf.schema``, which
re-exports them with the rest of the layout) and the ``to_xarray`` of each in-memory object
(``xarray_dataset``): an object converted in memory and the same object written by ``wgf run`` and read with
``wgf.open_results`` have the same names, dimensions, coordinates and attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    import h5py
    import xarray as xr
    from numpy.typing import ArrayLike

    from wgf.io import ResultsFile

__all__ = ["Variable", "xarray_dataset", "PDE_COORDINATES", "PDE_FIELDS", "PARTICLE_COORDINATES",
           "PARTICLE_VARIABLES", "COMPARE_COORDINATES", "COMPARE_VARIABLES", "MINIMIZER_COORDINATES",
           "MINIMIZER_VARIABLES", "MINIMIZER_SCALARS", "FLUCTUATION_COORDINATES", "FLUCTUATION_VARIABLES"]


@dataclass(frozen=True)
class Variable:
    """One array of a results file: its name in its group, the names of its dimensions, its ``long_name``
    and ``units`` attributes (written with it), its dtype, and ``doc``: what docs/outputs.md says besides
    (not written)."""

    name: str
    dims: tuple
    long_name: str
    units: str = "1"
    dtype: str = "f8"
    doc: str = ""

    @property
    def attrs(self) -> dict:
        """The attributes written with the array: {"long_name": ..., "units": ...}."""
        return {"long_name": self.long_name, "units": self.units}

    def format(self, **fields: Any) -> "Variable":
        """The variable with the braces of its name, dims and long_name filled in (``u{k}`` with k=0 is u0)."""
        return replace(self, name=self.name.format(**fields), long_name=self.long_name.format(**fields),
                       dims=tuple(d.format(**fields) for d in self.dims))

    def coordinate(self, out: ResultsFile, group: str, values: ArrayLike, **fields: Any) -> h5py.Dataset:
        """Write it as a 1D coordinate (an HDF5 dimension scale) of ``group`` of the open ``wgf.io.ResultsFile``
        ``out``."""
        v = self.format(**fields) if fields else self
        return out.coordinate(f"{group}/{v.name}", values, long_name=v.long_name, units=v.units, dtype=v.dtype)

    def dataset(self, out: ResultsFile, group: str, shape: tuple[int, ...], *,
                chunks: tuple[int, ...] | None = None) -> h5py.Dataset:
        """A float64 dataset of ``shape`` in ``group`` of ``out``, filled as runs finish (``ResultsFile.dataset``)."""
        return out.dataset(f"{group}/{self.name}", shape, attrs=self.attrs, chunks=chunks)

    def write(self, out: ResultsFile, group: str, values: ArrayLike, *coordinates: h5py.Dataset,
              **attrs: Any) -> h5py.Dataset:
        """Write ``values`` as this variable of ``group`` of ``out`` with its attributes (and ``attrs``), each
        axis labelled with one of ``coordinates``."""
        ds = out.write(f"{group}/{self.name}", values, attrs={**self.attrs, **attrs}, dtype=self.dtype)
        return out.label(ds, *coordinates) if coordinates else ds

    def xarray(self, values: ArrayLike, **attrs: Any) -> xr.Variable:
        """``values`` as an ``xarray.Variable`` on this variable's dims, in its dtype (when it has one), with its
        attributes (and ``attrs``): what ``wgf.open_results`` reads back for the array ``write`` writes."""
        import xarray as xr

        values = np.asarray(values, dtype=self.dtype or None)
        if values.ndim != len(self.dims):
            raise ValueError(f"{self.name} has dims {self.dims}, got an array of shape {values.shape}")
        return xr.Variable(self.dims, values, attrs={**self.attrs, **attrs})


def xarray_dataset(arrays: Iterable[tuple], attrs: Mapping[str, Any] | None = None) -> xr.Dataset:
    """An ``xarray.Dataset`` of (Variable, values) or (Variable, values, attrs) triples and the group attributes
    ``attrs``: a 1D variable named after its dimension is a coordinate (as a netCDF reader takes an HDF5 dimension
    scale), the others are data variables."""
    import xarray as xr

    coords, data = {}, {}
    for var, values, *extra in arrays:
        target = coords if var.dims == (var.name,) else data
        target[var.name] = var.xarray(values, **(extra[0] if extra else {}))
    return xr.Dataset(data, coords=coords, attrs=dict(attrs or {}))


def _table(*variables: Variable) -> dict:
    return {v.name: v for v in variables}


# ------------------------------------------------------------------ /pde (a History)
PDE_COORDINATES = _table(
    Variable("time", ("time",), "mean-field time"),
    Variable("u{k}", ("u{k}",), "cell centre, coordinate {k} in the grid basis", doc="one per grid axis k = 0 .. m-1"),
    Variable("parameter", ("parameter",), "coordinate of z", dtype="i8"),
    Variable("axis", ("axis",), "grid axis", dtype="i8"),
)
PDE_FIELDS = _table(
    Variable("basis", ("parameter", "axis"), "grid basis B: z = B u"),
    Variable("density", ("time", "u0", "...", "u{m-1}"), "density of the mean-field law on the grid (cell averages)",
             "1 / cell volume in u", doc="sum(density) * cell_volume = 1"),
)

# ------------------------------------------------------------------ /particles/N<N> (Trajectories of one N)
PARTICLE_COORDINATES = _table(
    Variable("seed", ("seed",), "seed", dtype="i8"),
    Variable("time", ("time",), "mean-field time of the snapshot, the PDE's (t = k eps, or a split step)",
             doc="written when the first run ends; docs/kernels.md, \"Snapshot times\""),
    Variable("particle", ("particle",), "particle index", dtype="i8"),
    Variable("coordinate", ("coordinate",), "coordinate of z in Z = R^D", dtype="i8"),
)
PARTICLE_VARIABLES = _table(
    Variable("positions", ("seed", "time", "particle", "coordinate"), "particle positions z_i"),
    Variable("risk", ("seed", "time"), "risk R of the scheme at the particles' empirical measure"),
    Variable("si_rmd2", ("seed", "time"), "RMD^2 to the projection P_E # nu (0 = strongly invariant)",
             doc="0 exactly when E^G = Z (not computed)"),
    Variable("wi_rmd2", ("seed", "time"), "RMD^2 to the symmetrization nu^G (0 = weakly invariant)",
             doc="exact OT (dense or certified sparse); 0 exactly when E^G = Z"),
)

# ------------------------------------------------------------------ /compare (a Comparison)
COMPARE_COORDINATES = _table(
    Variable("N", ("N",), "number of particles", dtype="i8"),
    Variable("seed", ("seed",), "seed", dtype="i8"),
    Variable("time", ("time",), "mean-field time"),
)
COMPARE_VARIABLES = _table(
    Variable("{metric}", ("N", "seed", "time"), "{metric} between the particles and the PDE density",
             doc="one per metric; attributes slope, slope_low, slope_high (or slope_skipped), n_points, floor, "
                 "floor_order, time"),
    Variable("{metric}_sup", ("N", "seed"), "largest {metric} between the particles and the PDE density over the "
             "snapshots", doc="max over time of {metric}, per run; attributes as {metric} (slope fitted on log N "
             "above the final time's floor; no time)"),
)

# ------------------------------------------------------------------ /minimizer (a Minimizer)
MINIMIZER_COORDINATES = _table(
    Variable("time", ("time",), "mean-field time", doc="the PDE's snapshots"),
    Variable("u{k}", ("u{k}",), "cell centre, coordinate {k} in the grid basis",
             doc="those of /pde: the minimizer is on the [pde] grid"),
    Variable("N", ("N",), "number of particles", dtype="i8", doc="with [particles] and [compare]"),
    Variable("seed", ("seed",), "seed", dtype="i8", doc="with [particles] and [compare]"),
)
MINIMIZER_VARIABLES = _table(
    Variable("density", ("u0", "...", "u{m-1}"), "density of the minimizer of the discrete free energy F_h "
             "(cell averages)", "1 / cell volume in u", doc="sum(density) * cell_volume = 1"),
    Variable("free_energy", (), "F_h(rho*) = R + tau m2 + beta int rho log rho at the minimizer"),
    Variable("risk", (), "risk R(rho*) at the minimizer"),
    Variable("residual", (), "||G(rho*) - rho*||_1, G the Gibbs map of the potential (the solver's stated residual)"),
    Variable("iterations", (), "Newton iterations, all temperature stages", dtype="i8"),
    Variable("pde_free_energy_gap", ("time",), "F_h(rho_t) - F_h(rho*) of the PDE's density (>= 0)",
             doc="with [pde]; attributes decay_rate, decay_rate_low, decay_rate_high, decay_points: "
                 "the slope of its log over the last half of the times, 95% interval (`wgf.validation.fit_decay`)"),
    Variable("pde_distance", ("time",), "||rho_t - rho*||_1, the PDE's density to the minimizer",
             doc="attributes as pde_free_energy_gap"),
    Variable("particles_{metric}", ("N", "seed"), "{metric} between the particles at the final time and the "
             "minimizer", doc="with [particles] and [compare], one per /compare metric; attributes slope, slope_low, "
             "slope_high (or slope_skipped), n_points, time, pde_value ({metric} between the PDE's final density and "
             "rho*), pde_floor (/compare/{metric}'s floor), floor = 2 (pde_value + pde_floor), floor_order"),
)
# the scalars of a Minimizer that a results file stores
MINIMIZER_SCALARS = ("free_energy", "risk", "residual", "iterations")

# ------------------------------------------------------------------ /fluctuations (wgf.validation.fluctuation_dataset)
FLUCTUATION_COORDINATES = _table(
    Variable("N", ("N",), "number of particles", dtype="i8"),
    Variable("time", ("time",), "mean-field time", doc="the snapshots"),
    Variable("{f}_component", ("{f}_component",), "component of the test function {f}", dtype="",
             doc="one per test function f: the names of its K values (z0, z1, ... for mean; R for risk)"),
)
FLUCTUATION_VARIABLES = _table(
    Variable("{f}", ("N", "time", "{f}_component"), "N Var_seeds <{f}, nu^N_t>",
             doc="one per test function f of [compare] fluctuations: N s^2, s^2 the variance over the seeds "
                 "(ddof 1)"),
    Variable("{f}_low", ("N", "time", "{f}_component"),
             "lower end of the chi-square interval of N Var_seeds <{f}, nu^N_t>",
             doc="level: the group's attribute level (0.95)"),
    Variable("{f}_high", ("N", "time", "{f}_component"),
             "upper end of the chi-square interval of N Var_seeds <{f}, nu^N_t>"),
    Variable("{f}_mean", ("N", "time", "{f}_component"), "seed mean of <{f}, nu^N_t>"),
    Variable("{f}_mean_se", ("N", "time", "{f}_component"), "standard error of the seed mean of <{f}, nu^N_t>",
             doc="s / sqrt(S)"),
    Variable("{f}_limit", ("time", "{f}_component"), "predicted limit of N Var <{f}, nu^N_t> as N -> infinity "
             "(eps = alpha / N)",
             doc="attribute source: linear_ode (`linear_mean_limit`, the linear unit's mean) or grid "
                 "(`fluctuation_variance` on the [pde] grid; attributes space, cells, backward_steps); absent where "
                 "neither applies (the group's attribute {f}_limit_skipped says why)"),
)
