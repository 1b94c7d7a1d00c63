r"""Dimensionally split implicit solves of :math:`(I - \Delta t A(U)) \rho' = \rho`.

The Scharfetter-Gummel operator is a sum over the axes, :math:`A = \sum_d A_d`, :math:`A_d` the 1D
operator along axis :math:`d` (``wgf.grids.flux``: the fluxes through the faces normal to
:math:`e_d`). The split solve replaces :math:`(I - \Delta t A)^{-1}` by

.. math::

    S_{\Delta t} = (I - \Delta t A_{m-1})^{-1} \cdots (I - \Delta t A_1)^{-1} (I - \Delta t A_0)^{-1},

each factor a batch of independent tridiagonal systems, one per grid line along axis :math:`d`,
solved by the Thomas algorithm in :math:`O(C)` for :math:`C` cells and held in :math:`3 C` floats per
axis (no fill-in, whatever the number of axes). Every factor keeps what the unsplit solve keeps:

- **mass**: the columns of :math:`I - \Delta t A_d` sum to 1, so :math:`\sum \rho' = \sum \rho`;
- **positivity**: :math:`I - \Delta t A_d` is an M-matrix with a column-dominant diagonal; the
  Thomas recursion needs no pivoting and, written as below, only adds nonnegative terms
  (:math:`\rho \ge 0 \Rightarrow \rho' \ge 0` exactly in floating point, for any :math:`\Delta t`);
- **the Gibbs state**: :math:`A_d e^{-U/\beta} = 0` for every :math:`d` (each 1D flux vanishes on
  it), so :math:`e^{-U/\beta}` is a fixed point of every factor and of :math:`S_{\Delta t}`.

Its local error against :math:`e^{\Delta t A}` is :math:`\Delta t^2 C_S \rho + O(\Delta t^3)` with
:math:`C_S = \tfrac12 \sum_d A_d^2 + \tfrac12 \sum_{i > j} [A_i, A_j]` (against
:math:`\tfrac12 A^2` unsplit), first order like the frozen potential, so the half-step error
estimate and the Richardson combination of ``wgf.grids.stepper`` apply unchanged.

The Thomas recursion on one line (diagonal :math:`d_i`, sub-diagonal :math:`l_i \le 0`,
super-diagonal :math:`u_i \le 0`) keeps :math:`l_i`, :math:`c_i = u_i / q_i \le 0` and
:math:`1 / q_i`, the pivot :math:`q_i = d_i - l_i c_{i-1} = s_i - l_{i+1}` computed from the column
sum :math:`s_i \ge 1` of the Schur complement (``_thomas_factor``) without cancellation:

.. math::

    y_i = (r_i - l_i y_{i-1}) / q_i, \qquad x_i = y_i - c_i x_{i+1}.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from wgf.grids.flux import _face_coefficients
from wgf.jit import jit

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike

__all__ = ["SplitFactors", "split_solve", "split_error_operator"]


@jit(inline="always")
def _bernoulli(x):
    """B(x) = x / (e^x - 1), B(0) = 1 (``wgf.grids.flux.bernoulli_flux_weights`` divided by beta)."""
    if abs(x) < 1e-8:
        return 1.0 - 0.5 * x
    return x / math.expm1(x)


@jit(cache=True)
def _thomas_factor(potential, scale, beta, dt, lower, upper_ratio, inv_pivot, carry):
    """Factor I - dt A_d on every line; arrays (outer, n, inner), the line along the middle axis.

    The face between cells i and i + 1 carries the SG rates f_i = scale beta B(du / beta) (from i to
    i + 1) and b_i = scale beta B(-du / beta) (back), du = U_{i+1} - U_i, scale = 1 / h_d^2 (the upwind
    limit when beta = 0). Row i: diagonal 1 + dt (f_i + b_{i-1}), l_i = -dt f_{i-1}, u_i = -dt b_i.
    The pivots come from the column sums of the Schur complements (as Grassmann-Taksar-Heyman):
    s_0 = 1, s_i = 1 + dt b_{i-1} s_{i-1} / q_{i-1}, q_i = s_i + dt f_i, sums of positive terms, so
    no cancellation at any dt. Writes lower = l_i, upper_ratio = c_i = u_i / q_i and
    inv_pivot = 1 / q_i; carry (inner,) is work space."""
    outer, n, inner = potential.shape
    for o in range(outer):
        for k in range(inner):
            carry[k] = 0.0  # s_i - 1
            lower[o, 0, k] = 0.0
        for i in range(n):
            for k in range(inner):
                if i + 1 < n:
                    du = potential[o, i + 1, k] - potential[o, i, k]
                    if beta == 0.0:
                        f, b = scale * max(-du, 0.0), scale * max(du, 0.0)
                    else:
                        f = scale * beta * _bernoulli(du / beta)
                        b = scale * beta * _bernoulli(-du / beta)
                    lower[o, i + 1, k] = -dt * f
                else:
                    f, b = 0.0, 0.0
                s = 1.0 + carry[k]
                q = s + dt * f
                inv_pivot[o, i, k] = 1.0 / q
                upper_ratio[o, i, k] = -dt * b / q
                carry[k] = dt * b * s / q


@jit(cache=True)
def _thomas_solve(lower, upper_ratio, inv_pivot, rhs, out):
    """Solve the factored systems for rhs (outer, n, inner) into out (may be rhs); only nonnegative terms
    are added when rhs >= 0."""
    outer, n, inner = rhs.shape
    for o in range(outer):
        for k in range(inner):
            out[o, 0, k] = rhs[o, 0, k] * inv_pivot[o, 0, k]
        for i in range(1, n):
            for k in range(inner):
                out[o, i, k] = (rhs[o, i, k] - lower[o, i, k] * out[o, i - 1, k]) * inv_pivot[o, i, k]
        for i in range(n - 2, -1, -1):
            for k in range(inner):
                out[o, i, k] = out[o, i, k] - upper_ratio[o, i, k] * out[o, i + 1, k]


def _lines(shape, axis):
    """(outer, n, inner): a C-order array of ``shape`` seen as lines along ``axis``."""
    return int(np.prod(shape[:axis], dtype=np.int64)), int(shape[axis]), int(np.prod(shape[axis + 1:], dtype=np.int64))


class SplitFactors:
    """The Thomas factors of I - dt A_d(U), every axis d, for the potential ``potential``; ``solve``
    applies S_dt (module docstring).

    potential : (n_0, ..., n_{m-1}) array; spacing : (m,); beta >= 0.
    """

    def __init__(self, potential: ArrayLike, spacing: Sequence[float] | np.ndarray, beta: float, dt: float) -> None:
        potential = np.ascontiguousarray(potential, dtype=float)
        self.shape = potential.shape
        self.factors = []
        for axis, h in enumerate(spacing):
            lines = _lines(self.shape, axis)
            lower, upper_ratio, inv_pivot = np.empty(lines), np.empty(lines), np.empty(lines)
            _thomas_factor(potential.reshape(lines), 1.0 / float(h) ** 2, float(beta), float(dt), lower, upper_ratio,
                           inv_pivot, np.empty(lines[2]))
            self.factors.append((lines, lower, upper_ratio, inv_pivot))

    def solve(self, rhs: ArrayLike) -> np.ndarray:
        """S_dt rhs, same shape as rhs (a new array)."""
        out = np.array(rhs, dtype=float, order="C").reshape(self.shape)
        for lines, lower, upper_ratio, inv_pivot in self.factors:
            view = out.reshape(lines)
            _thomas_solve(lower, upper_ratio, inv_pivot, view, view)
        return out


def split_solve(rhs: ArrayLike, potential: ArrayLike, spacing: Sequence[float] | np.ndarray, beta: float,
                dt: float) -> np.ndarray:
    r""":math:`S_{\Delta t}\, \mathrm{rhs}`, the split approximation of :math:`(I - \Delta t A(U))^{-1} \mathrm{rhs}`
    (grid shape in, grid shape out)."""
    return SplitFactors(potential, spacing, beta, dt).solve(rhs)


def _apply_axis(rho, fwd, bwd, axis):
    """A_d rho: minus the divergence of the fluxes through the faces normal to ``axis``."""
    lo = [slice(None)] * rho.ndim
    hi = [slice(None)] * rho.ndim
    lo[axis], hi[axis] = slice(0, -1), slice(1, None)
    lo, hi = tuple(lo), tuple(hi)
    flux = fwd[lo] * rho[lo] - bwd[lo] * rho[hi]
    out = np.zeros_like(rho)
    out[lo] -= flux
    out[hi] += flux
    return out


def split_error_operator(rho: ArrayLike, potential: ArrayLike, spacing: Sequence[float] | np.ndarray,
                         beta: float) -> np.ndarray:
    r""":math:`2 C_S \rho = \sum_d A_d^2 \rho + \sum_{i > j} (A_i A_j - A_j A_i) \rho`: the split step's
    :math:`\Delta t^2` error term, doubled to compare with the unsplit :math:`A^2 \rho`
    (``wgf.grids.cost``)."""
    rho = np.asarray(rho, dtype=float)
    coef = _face_coefficients(np.asarray(potential, dtype=float), spacing, beta)
    once = [_apply_axis(rho, f, b, d) for d, (f, b) in enumerate(coef)]
    out = np.zeros_like(rho)
    for i, (f, b) in enumerate(coef):
        out += _apply_axis(once[i], f, b, i)
        for j in range(i):
            out += _apply_axis(once[j], f, b, i) - _apply_axis(once[i], *coef[j], j)
    return out
