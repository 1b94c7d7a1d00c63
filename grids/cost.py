"""``method="auto"``: the time integrator with the lowest estimated cost at the requested accuracy.

The integrators of ``wgf.grids.stepper`` reach the accuracy the solvers promise; they differ in
how many steps they need and what a step costs (docs/pde.md, "Time: the integrators and `auto`"):

- explicit SSP-RK3: n_e = span r / cfl steps, r = max_c |A_cc| the exit rate of the initial
  potential (the CFL bound), each 3 operator applications and, for the mean-field flow,
  3 potential evaluations;
- linearly implicit Euler with Richardson extrapolation: the step the tolerance allows at the
  start, dt_0 = 2 sqrt(tol / ||A^2 rho_0||_1) (the half-step error estimate of a step is about
  dt^2 ||rho''||_1 / 4), grows as the transient decays at the rate lam = ||A^2 rho_0|| / ||A rho_0||,
  dt(t) = min(dt_0 e^(lam t / 2), span / 8), so n_i = IMPLICIT_STEP_FACTOR int_0^span dt / dt(t)
  (the factor, 3, is what the benchmarks measure: rejected steps and a slower decay); each step costs 3
  sparse solves and, for the mean-field flow, 3 factorizations and 2 potential evaluations (a fixed
  potential reuses its factors);
- the same steps with the dimensionally split solve (``wgf.grids.splitting``): the tolerance's first
  step from the split error term, dt_0 = 2 sqrt(tol / ||2 C_S rho_0||_1), 2 C_S rho the
  ``split_error_operator``, and each factorization or solve O(cells x axes), without fill-in.
  SuperLU is a candidate only when its factors fit SUPERLU_MAX_NONZEROS and AUTO_LU_MAX_BYTES.

Costs are nominal seconds per operation (numpy, scipy and SuperLU on a 2-core x86-64 machine); only
their ratios matter, and being constants they keep the choice, hence the result, independent of
the machine and its load.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from wgf.grids.flux import apply_operator, max_exit_rate
from wgf.grids.splitting import split_error_operator
from wgf.resources import AUTO_LU_MAX_BYTES, SUPERLU_MAX_NONZEROS, lu_bytes, lu_nonzeros

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike

__all__ = ["MethodChoice", "choose_method", "factorization_seconds", "solve_seconds", "split_factorization_seconds",
           "split_solve_seconds"]

APPLY_SECONDS_PER_CELL = 180e-9  # A(U) rho from the potential (face coefficients included)
MATVEC_SECONDS_PER_CELL = 6e-9  # A rho with A assembled (a fixed potential)
SPLIT_FACTOR_SECONDS_PER_CELL_AXIS = 40e-9  # the Thomas factors of I - dt A_d, face rates included
SPLIT_SOLVE_SECONDS_PER_CELL_AXIS = 6e-9  # one sweep pair with them
IMPLICIT_STEP_FACTOR = 3.0  # measured steps / int dt / dt(t) (benchmarks/pde.py, OU and mean-field cases)


def factorization_seconds(cells: int, ndim: int) -> float:
    """Nominal time of one sparse LU of I - dt A on a grid of ``cells`` cells and ``ndim`` axes
    (C^1.5 in 2D, C^2 in 3 and 4D; measured with SuperLU, minimum degree on A^T + A)."""
    c = float(cells)
    return {1: 1e-7 * c, 2: 1.2e-8 * c**1.5, 3: 1e-8 * c**2}.get(ndim, 7e-8 * c**2)


def solve_seconds(cells: int, ndim: int) -> float:
    """Nominal time of one solve with those factors (their fill: C, C log C, C^4/3, C^1.5)."""
    c = float(cells)
    return {1: 5e-8 * c, 2: 8e-8 * c, 3: 3e-8 * c ** (4 / 3)}.get(ndim, 1.5e-8 * c**1.5)


def split_factorization_seconds(cells: int, ndim: int) -> float:
    """Nominal time of the split factors of I - dt A (one tridiagonal factorization per axis)."""
    return SPLIT_FACTOR_SECONDS_PER_CELL_AXIS * float(cells) * ndim


def split_solve_seconds(cells: int, ndim: int) -> float:
    """Nominal time of one split solve with those factors."""
    return SPLIT_SOLVE_SECONDS_PER_CELL_AXIS * float(cells) * ndim


@dataclass(frozen=True)
class MethodChoice:
    """The chosen method, why, and the estimates behind it (steps and nominal seconds of each;
    inf for a method that cannot run on the grid)."""

    method: str
    reason: str
    explicit_steps: float
    implicit_steps: float
    explicit_seconds: float
    implicit_seconds: float
    split_steps: float = 0.0
    split_seconds: float = 0.0


def _implicit_steps(dt0: float, lam: float, dt_max: float, span: float) -> float:
    """int_0^span dt / min(dt0 e^(lam t / 2), dt_max)."""
    if dt0 >= dt_max:
        return span / dt_max
    if lam <= 0:
        return span / dt0
    t_cap = 2.0 / lam * np.log(dt_max / dt0)  # when dt reaches dt_max
    if t_cap >= span:
        return 2.0 / (lam * dt0) * (1.0 - np.exp(-0.5 * lam * span))
    return 2.0 / (lam * dt0) * (1.0 - dt0 / dt_max) + (span - t_cap) / dt_max


def choose_method(rho0: ArrayLike, u0: np.ndarray, spacing: Sequence[float] | np.ndarray, beta: float, span: float,
                  *, tol: float, potential_seconds: float = 0.0, fixed_potential: bool = False,
                  cfl: float = 0.9) -> MethodChoice:
    """The integrator with the lowest estimated cost for d_t rho = A(U) rho from rho0 over ``span``.

    rho0, u0 : the initial density and potential (grid shape); potential_seconds : the nominal cost
    of one potential evaluation (0 for a fixed potential, which is also flagged by ``fixed_potential``).
    """
    rho0 = np.asarray(rho0, dtype=float)
    cells, ndim = rho0.size, rho0.ndim
    span = float(span)
    if span <= 0:
        return MethodChoice("explicit", "nothing to integrate (span 0)", 0.0, 0.0, 0.0, 0.0)
    rate = max_exit_rate(u0, spacing, beta)
    n_e = max(1.0, np.ceil(span * rate / cfl))
    if fixed_potential:
        per_e = 3 * MATVEC_SECONDS_PER_CELL * cells
    else:
        per_e = 3 * (potential_seconds + APPLY_SECONDS_PER_CELL * cells)
    cost_e = n_e * per_e

    mass = rho0.sum()
    a1 = apply_operator(rho0, u0, spacing, beta)
    speed = np.abs(a1).sum() / mass  # ||rho'||_1 per unit mass
    dt_max = span / 8

    def implicit_cost(curvature, lu, solve):
        """(steps, nominal seconds) of the linearly implicit stepper whose step error is
        dt^2 curvature / 4 per unit mass (curvature = ||A^2 rho_0||_1 / mass unsplit)."""
        dt0 = dt_max if curvature == 0 else min(dt_max, 2.0 * np.sqrt(tol / curvature))
        lam = curvature / speed if speed > 0 else 0.0
        n = max(1.0, np.ceil(IMPLICIT_STEP_FACTOR * _implicit_steps(dt0, lam, dt_max, span)))
        if fixed_potential:  # factors reused along the ladder dt_max 2^-j
            return n, n * 3 * solve + (np.log2(dt_max / dt0) + 2) * lu, dt0
        return n, n * (3 * lu + 3 * solve + 2 * potential_seconds), dt0

    curvature = np.abs(apply_operator(a1, u0, spacing, beta)).sum() / mass  # ||rho''||_1 per unit mass
    n_i, cost_i, dt0 = implicit_cost(curvature, factorization_seconds(cells, ndim), solve_seconds(cells, ndim))
    split_curvature = np.abs(split_error_operator(rho0, u0, spacing, beta)).sum() / mass
    n_s, cost_s, dt0_s = implicit_cost(split_curvature, split_factorization_seconds(cells, ndim),
                                       split_solve_seconds(cells, ndim))
    fill = lu_nonzeros(cells, ndim)
    costs = {"explicit": cost_e, "split": cost_s, "implicit": cost_i}
    lu_note = ""
    if fill > SUPERLU_MAX_NONZEROS:  # SuperLU could not factorize I - dt A
        del costs["implicit"]
        lu_note = f"; no SuperLU: its factors would hold about {fill:.2g} nonzeros, more than it indexes (2^31 - 1)"
    elif lu_bytes(cells, ndim) > AUTO_LU_MAX_BYTES:
        del costs["implicit"]
        lu_note = (f"; no SuperLU: its factors would take about {lu_bytes(cells, ndim):.2g} bytes, more than "
                   f"{AUTO_LU_MAX_BYTES:.2g}")
    method = min(costs, key=costs.get)
    reason = (f"{method}: about {n_e:.3g} SSP-RK3 steps (CFL dt {span / n_e:.3g}), nominal {cost_e:.3g} s, "
              f"against about {n_s:.3g} split implicit steps (dt {dt0_s:.3g} at the start for tol {tol:g}), "
              f"nominal {cost_s:.3g} s, and about {n_i:.3g} SuperLU implicit steps (dt {dt0:.3g}), "
              f"nominal {cost_i:.3g} s{lu_note}")
    return MethodChoice(method, reason, float(n_e), float(n_i), float(cost_e), float(cost_i), float(n_s), float(cost_s))
