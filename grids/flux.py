r"""Scharfetter-Gummel finite-volume operator of
:math:`\partial_t \rho = \nabla \cdot (\rho \nabla U) + \beta \Delta \rho`.

On a tensor grid with spacing :math:`h_k`, the flux through the face between cell :math:`c` and
its right neighbour :math:`c^+` along axis :math:`k` (:math:`\delta U = U_{c^+} - U_c`) is

.. math::

    J = \frac{1}{h_k} \Big[ \beta B\Big(\frac{\delta U}{\beta}\Big) \rho_c
        - \beta B\Big(-\frac{\delta U}{\beta}\Big) \rho_{c^+} \Big],
    \qquad B(x) = \frac{x}{e^x - 1} \quad \text{(Bernoulli function, } B(0) = 1\text{)},

which is zero exactly when :math:`\rho_{c^+} / \rho_c = e^{-\delta U / \beta}`: the discrete Gibbs
density :math:`e^{-U / \beta}` is a steady state. As :math:`\beta \to 0` it tends to the upwind
flux :math:`\frac{1}{h_k} [\max(-\delta U, 0)\, \rho_c - \max(\delta U, 0)\, \rho_{c^+}]`. Faces on the
boundary carry no flux. The resulting linear operator :math:`A` (:math:`\partial_t \rho = A \rho`) has
nonnegative off-diagonal entries and zero column sums: it conserves mass, and
:math:`I - \Delta t\, A` is an M-matrix for every :math:`\Delta t > 0` (implicit steps keep
:math:`\rho \ge 0`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import ArrayLike

__all__ = ["bernoulli_flux_weights", "fokker_planck_operator", "apply_operator", "max_exit_rate"]


def bernoulli_flux_weights(du: ArrayLike, beta: float) -> tuple[np.ndarray, np.ndarray]:
    r""":math:`(\beta B(\delta u / \beta),\ \beta B(-\delta u / \beta))` elementwise; the upwind limit
    :math:`(\max(-\delta u, 0), \max(\delta u, 0))` when ``beta == 0``."""
    du = np.asarray(du, dtype=float)
    if beta == 0.0:
        return np.maximum(-du, 0.0), np.maximum(du, 0.0)
    x = du / beta
    small = np.abs(x) < 1e-8
    xs = np.where(small, 1.0, x)
    with np.errstate(over="ignore"):
        fwd = np.where(small, 1.0 - 0.5 * x, xs / np.expm1(xs))
        bwd = np.where(small, 1.0 + 0.5 * x, -xs / np.expm1(-xs))
    return beta * fwd, beta * bwd


def _face_coefficients(potential, spacing, beta):
    """Per axis: (left-to-right rate a, right-to-left rate b), each of shape potential.shape with the last layer 0."""
    out = []
    for k, h in enumerate(spacing):
        du = np.diff(potential, axis=k)
        a, b = bernoulli_flux_weights(du, beta)
        pad = [(0, 0)] * potential.ndim
        pad[k] = (0, 1)
        out.append((np.pad(a, pad) / h**2, np.pad(b, pad) / h**2))
    return out


def fokker_planck_operator(potential: ArrayLike, spacing: Sequence[float] | np.ndarray,
                           beta: float) -> sp.csr_matrix:
    r"""Sparse matrix :math:`A` with :math:`\partial_t \rho = A \rho` (rho flattened C-order) for the
    potential on the cells.

    potential : array of the grid's shape; spacing : (m,) cell widths.
    """
    potential = np.asarray(potential, dtype=float)
    shape = potential.shape
    n = potential.size
    strides = np.cumprod((1,) + shape[::-1][:-1])[::-1]
    diag = np.zeros(n)
    offsets, diagonals = [0], []
    for (a, b), s in zip(_face_coefficients(potential, spacing, beta), strides):
        a, b = a.ravel(), b.ravel()
        # rho[c] loses a rho[c] to c + s and gains b rho[c+s]; rho[c+s] gains a rho[c], loses b rho[c+s]
        diag -= a
        diag[s:] -= b[:-s]
        diagonals += [b[: n - s], a[: n - s]]
        offsets += [int(s), -int(s)]
    return sp.diags([diag] + diagonals, offsets, shape=(n, n), format="csr")


def apply_operator(rho: ArrayLike, potential: np.ndarray, spacing: Sequence[float] | np.ndarray,
                   beta: float) -> np.ndarray:
    r""":math:`A \rho` without assembling :math:`A` (the explicit path): minus the divergence of the SG
    fluxes, same shape as rho."""
    rho = np.asarray(rho, dtype=float)
    out = np.zeros_like(rho)
    for k, (a, b) in enumerate(_face_coefficients(potential, spacing, beta)):
        sl = [slice(None)] * rho.ndim
        lo = sl.copy()
        hi = sl.copy()
        lo[k] = slice(0, -1)
        hi[k] = slice(1, None)
        flux = a[tuple(lo)] * rho[tuple(lo)] - b[tuple(lo)] * rho[tuple(hi)]  # rate through each face
        out[tuple(lo)] -= flux
        out[tuple(hi)] += flux
    return out


def max_exit_rate(potential: ArrayLike, spacing: Sequence[float] | np.ndarray, beta: float) -> float:
    r""":math:`\max_c |A_{cc}|`: the largest total rate at which mass leaves a cell (the explicit CFL
    bound is one over it)."""
    potential = np.asarray(potential, dtype=float)
    out = np.zeros(potential.shape)
    for k, (a, b) in enumerate(_face_coefficients(potential, spacing, beta)):
        out += a  # to the right neighbour
        lo = [slice(None)] * potential.ndim
        hi = [slice(None)] * potential.ndim
        lo[k], hi[k] = slice(0, -1), slice(1, None)
        out[tuple(hi)] += b[tuple(lo)]  # to the left neighbour
    return float(out.max())
