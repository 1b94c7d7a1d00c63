"""Time integration of d_t rho = A(U(rho)) rho on a grid, A the Scharfetter-Gummel operator.

Three methods, all mass-conserving to round-off, and ``auto`` (the default), which picks the one
with the lowest estimated cost at the requested tolerance (``wgf.grids.cost``):

- ``implicit``: linearly implicit Euler with U frozen over a step,
  (I - dt A(U_n)) rho_{n+1} = rho_n, an M-matrix solve (rho >= 0 for any dt).
  Each step is also taken as two half steps (U refreshed at the midpoint); their
  difference estimates the local error, which controls dt (dt = dt_max 2^-j, so
  the sparse LU factors of a fixed potential are reused), and the Richardson
  combination 2 fine - coarse makes the step second order (negatives at
  round-off level are clipped, mass kept; the fine solution is used if a real
  negative value appears).
- ``split``: the same steps with (I - dt A)^-1 replaced by the dimensionally split product
  prod_d (I - dt A_d)^-1 (``wgf.grids.splitting``): one batch of tridiagonal solves per axis,
  O(cells) time and memory on any number of axes, mass, positivity and the discrete Gibbs
  state kept exactly; the splitting error, O(dt^2) per step like the frozen potential's,
  enters the same error estimate.
- ``explicit``: SSP Runge-Kutta 3 (Shu-Osher) with dt from the CFL bound of the
  SG operator, dt <= cfl / max_c |A_cc|, which keeps every stage nonnegative.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from wgf.grids.cch_flux import cch_apply, cch_rate, cch_velocity_cap
from wgf.grids.cost import choose_method
from wgf.grids.flux import apply_operator, fokker_planck_operator, max_exit_rate
from wgf.grids.splitting import SplitFactors

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from numpy.typing import ArrayLike

__all__ = ["integrate", "StepStats", "GridBlowUpError", "DEFAULT_TOLERANCE", "METHODS", "FLUXES"]

log = logging.getLogger("wgf")

DEFAULT_TOLERANCE = 1e-3  # bound on the local error estimate of an implicit step (relative L1)
METHODS = ("auto", "explicit", "implicit", "split")
# the face fluxes (docs/pde.md, "Space"): Scharfetter-Gummel (wgf.grids.flux), Carrillo-Chertock-Huang
# (wgf.grids.cch_flux, explicit SSP-RK3 only)
FLUXES = ("sg", "cch")


class GridBlowUpError(FloatingPointError):
    """The density or the potential became non-finite."""


@dataclass
class StepStats:
    """Work done (accepted and rejected steps, potential evaluations, factorizations), the method
    used and, when it was chosen by ``method="auto"``, why."""

    steps: int = 0
    rejected: int = 0
    potentials: int = 0
    factorizations: int = 0
    method: str = ""
    reason: str = ""


class _Factors:
    """Factors of I - dt A(U) for at most two step sizes (the step and its half step; the ladder
    dt_max 2^-j moves one rung at a time), reused while the potential is fixed: SuperLU for
    ``implicit``, the split Thomas factors of ``wgf.grids.splitting`` for ``split``
    (``wgf.resources.solver_bytes`` counts two sets)."""

    def __init__(self, spacing, beta, split=False):
        self.spacing, self.beta, self.split = spacing, beta, split
        self.key = None
        self.cache = {}

    def solve(self, potential, dt, rhs, stats, fixed: bool):
        if not fixed or self.key is not potential:
            self.cache.clear()
            self.key = potential
        factors = self.cache.get(dt)
        if factors is None:
            if len(self.cache) >= 2:
                del self.cache[next(iter(self.cache))]  # the oldest step size
            factors = self.cache[dt] = self._factorize(potential, dt)
            stats.factorizations += 1
        if self.split:
            return factors.solve(rhs)
        return factors.solve(rhs.ravel()).reshape(rhs.shape)

    def _factorize(self, potential, dt):
        if self.split:
            return SplitFactors(potential, self.spacing, self.beta, dt)
        a = fokker_planck_operator(potential, self.spacing, self.beta)
        # I - dt A is structurally symmetric: minimum degree on A^T + A orders it with less fill
        # than COLAMD (about half the factorization time and a third of the solve on 2D grids);
        # an M-matrix with dominant diagonal columns needs no pivoting
        return splu((sp.identity(a.shape[0], format="csc") - dt * a).tocsc(), permc_spec="MMD_AT_PLUS_A",
                    diag_pivot_thresh=0.0, relax=3, panel_size=10, options={"SymmetricMode": True})


def _check(rho, potential, t):
    if not np.all(np.isfinite(potential)):
        raise GridBlowUpError(f"the potential became non-finite at t = {t:.6g}")
    if not np.all(np.isfinite(rho)):
        raise GridBlowUpError(f"the density became non-finite at t = {t:.6g}")


def integrate(rho0: ArrayLike, times: ArrayLike, potential_of: Callable[[np.ndarray], np.ndarray],
              spacing: Sequence[float] | np.ndarray, beta: float, *, method: str = "auto",
              tol: float = DEFAULT_TOLERANCE, dt_max: float | None = None, cfl: float = 0.9,
              fixed_potential: bool = False, on_snapshot: Callable[[int, float, np.ndarray], object] | None = None,
              stats: StepStats | None = None, flux: str = "sg") -> list[np.ndarray]:
    """Integrate from rho0 (grid shape) through ``times`` (times[0] is the start).

    potential_of(rho) -> U on the cells (grid shape); its attribute ``seconds`` (if any) is the
    nominal cost of one call, used by ``method="auto"``. ``tol`` bounds the local
    error estimate sum |fine - coarse| / sum rho of an implicit step.
    ``fixed_potential`` says potential_of ignores rho (a linear equation).
    on_snapshot(j, t, rho) is called at every requested time, including times[0].
    ``flux`` is "sg" (Scharfetter-Gummel, both methods) or "cch" (Carrillo-Chertock-Huang, second order at
    high cell Peclet numbers, docs/pde.md): "cch" is integrated by SSP-RK3 only, so "auto" takes "explicit" and
    "implicit" is refused.
    Returns the list of densities at ``times``.
    """
    times = np.asarray(times, dtype=float)
    if np.any(np.diff(times) < 0):
        raise ValueError("times must be nondecreasing")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if flux not in FLUXES:
        raise ValueError(f"flux must be one of {', '.join(FLUXES)}, got {flux!r}")
    if flux == "cch" and method in ("implicit", "split"):
        raise ValueError("flux 'cch' is integrated explicitly only: use method 'explicit' or 'auto' (docs/pde.md)")
    if method != "explicit" and not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be finite and > 0, got {tol!r}")
    stats = stats if stats is not None else StepStats()
    rho = np.array(rho0, dtype=float)
    span = float(times[-1] - times[0])
    dt_max = dt_max if dt_max is not None else (span / 8 if span > 0 else 1.0)
    out = []
    t = float(times[0])
    level = 0  # dt = dt_max / 2**level
    u = potential_of(rho)
    stats.potentials += 1
    _check(rho, u, t)
    if method == "auto" and flux == "cch":
        method = "explicit"
        stats.reason = "explicit: the cch flux is integrated by SSP-RK3 only (docs/pde.md)"
    if method == "auto":
        choice = choose_method(rho, u, spacing, beta, float(times[-1] - times[0]), tol=tol, cfl=cfl,
                               potential_seconds=0.0 if fixed_potential else getattr(potential_of, "seconds", 0.0),
                               fixed_potential=fixed_potential)
        method = choice.method
        stats.reason = choice.reason
        log.debug("time integrator %s", choice.reason)  # wgf run --verbose shows it
    stats.method = method
    factors = _Factors(spacing, beta, split=method == "split")
    if flux == "cch":
        explicit = _CCHOperator(spacing, beta)
    else:
        explicit = _FixedOperator(u, spacing, beta) if fixed_potential else _Operator(spacing, beta)
    for j, target in enumerate(times):
        while t < target - 1e-12 * max(1.0, abs(target)):
            if method != "explicit":
                rho, t, level, u = _implicit_step(rho, u, t, target, level, dt_max, potential_of, factors,
                                                  tol, fixed_potential, stats)
            else:
                rho, t, u = _ssp_rk3_step(rho, u, t, target, potential_of, explicit, cfl, stats)
            _check(rho, u, t)
        out.append(rho.copy())
        if on_snapshot is not None:
            on_snapshot(j, float(target), rho)
    return out


def _implicit_step(rho, u, t, target, level, dt_max, potential_of, factors, tol, fixed, stats):
    mass = rho.sum()
    while True:
        dt = dt_max / 2**level
        if t + dt > target:
            dt = target - t  # last partial step: not cached under the 2^-j ladder unless it matches
        coarse = factors.solve(u, dt, rho, stats, fixed)
        half = factors.solve(u, 0.5 * dt, rho, stats, fixed)
        if fixed:
            u_half = u
        else:
            u_half = potential_of(half)
            stats.potentials += 1
            _check(half, u_half, t + 0.5 * dt)  # before factorizing: a NaN potential must not reach splu
        fine = factors.solve(u_half, 0.5 * dt, half, stats, fixed)
        err = np.abs(fine - coarse).sum() / mass
        if err > tol and level < 60:
            level += 1
            stats.rejected += 1
            continue
        new = _richardson(fine, coarse)
        stats.steps += 1
        if err < tol / 8 and level > 0 and dt == dt_max / 2**level:
            level -= 1
        t_new = t + dt
        if fixed:
            u_new = u
        else:
            u_new = potential_of(new)
            stats.potentials += 1
        return new, t_new, level, u_new


def _richardson(fine, coarse):
    """2 fine - coarse (second order), with round-off negatives (above -1e-12 max rho) set to 0 and
    the mass restored; the first-order fine solution when a real negative value appears."""
    new = 2.0 * fine - coarse
    low = new.min()
    if low >= 0.0:
        return new
    if low < -1e-12 * fine.max():
        return fine
    clipped = np.maximum(new, 0.0)
    return clipped * (new.sum() / clipped.sum())


class _Operator:
    """rho -> A(U) rho and the CFL rate of A(U), for a potential that changes every stage."""

    def __init__(self, spacing, beta):
        self.spacing, self.beta = spacing, beta

    def rate(self, u):
        return max_exit_rate(u, self.spacing, self.beta)

    def apply(self, rho, u):
        return apply_operator(rho, u, self.spacing, self.beta)


class _FixedOperator(_Operator):
    """The same for a fixed potential: A assembled once, each stage a sparse product."""

    def __init__(self, u, spacing, beta):
        super().__init__(spacing, beta)
        self.matrix = fokker_planck_operator(u, spacing, beta)
        self.max_rate = float(np.abs(self.matrix.diagonal()).max())

    def rate(self, u):
        return self.max_rate

    def apply(self, rho, u):
        return (self.matrix @ rho.ravel()).reshape(rho.shape)


class _CCHOperator(_Operator):
    """rho -> the Carrillo-Chertock-Huang divergence (wgf.grids.cch_flux). ``rate(u)`` fixes the velocity caps
    of the step's three stages from the potential at its start, so the step's dt keeps every stage >= 0."""

    def __init__(self, spacing, beta):
        super().__init__(spacing, beta)
        self.cap = None

    def rate(self, u):
        self.cap = cch_velocity_cap(u, self.spacing, self.beta)
        return cch_rate(self.cap, self.spacing)

    def apply(self, rho, u):
        return cch_apply(rho, u, self.spacing, self.beta, self.cap)


def _ssp_rk3_step(rho, u, t, target, potential_of, operator, cfl, stats):
    dt = min(cfl / max(operator.rate(u), 1e-300), target - t)
    r1 = rho + dt * operator.apply(rho, u)
    u1 = potential_of(r1)
    r2 = 0.75 * rho + 0.25 * (r1 + dt * operator.apply(r1, u1))
    u2 = potential_of(r2)
    new = rho / 3.0 + 2.0 / 3.0 * (r2 + dt * operator.apply(r2, u2))
    u_new = potential_of(new)
    stats.potentials += 3
    stats.steps += 1
    return new, t + dt, u_new
