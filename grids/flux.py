"""Scharfetter-Gummel finite-volume operator of d_t rho = div(rho grad U) + beta Lap rho.

On a tensor grid with spacing h_k, the flux through the face between cell c and
its right neighbour c+ along axis k (dU = U[c+] - U[c]) is

    J = (1 / h_k) [ beta B(dU / beta) rho[c] - beta B(-dU / beta) rho[c+] ],
    B(x) = x / (exp(x) - 1)     (Bernoulli function, B(0) = 1),

which is zero exactly when rho[c+] / rho[c] = exp(-dU / beta): the discrete Gibbs
density exp(-U / beta) is a steady state. As beta -> 0 it tends to the upwind
flux (1 / h_k) [max(-dU, 0) rho[c] - max(dU, 0) rho[c+]]. Faces on the boundary
carry no flux. The resulting linear operator A (d_t rho = A rho) has
nonnegative off-diagonal entries and zero column sums: it conserves mass, and
I - dt A is an M-matrix for every dt > 0 (implicit steps keep rho >= 0).
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
    """(beta B(du / beta), beta B(-du / beta)) elementwise; the upwind limit when beta == 0."""
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
    """Sparse matrix A with d_t rho = A rho (rho flattened C-order) for the potential on the cells.

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
    """A rho without assembling A (the explicit path): -div of the SG fluxes, same shape as rho."""
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
    """max_c |A_cc|: the largest total rate at which mass leaves a cell (the explicit CFL bound is 1 / it)."""
    potential = np.asarray(potential, dtype=float)
    out = np.zeros(potential.shape)
    for k, (a, b) in enumerate(_face_coefficients(potential, spacing, beta)):
        out += a  # to the right neighbour
        lo = [slice(None)] * potential.ndim
        hi = [slice(None)] * potential.ndim
        lo[k], hi[k] = slice(0, -1), slice(1, None)
        out[tuple(hi)] += b[tuple(lo)]  # to the left neighbour
    return float(out.max())
