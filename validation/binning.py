"""Gaussian-kernel MMD of large clouds by linear binning and separable convolution.

For weighted clouds mu = sum_i a_i delta_{x_i} and nu = sum_j b_j delta_{y_j} in R^D,

    MMD^2(mu, nu) = <delta, K delta>,  delta = mu - nu,  K(p, q) = exp(-|p - q|^2 / (2 h^2)).

The fast path replaces delta by its linear binning B delta on a regular lattice of spacing
dx = h / bins_per_bandwidth: each atom is split over the 2^D corners of its lattice cell with
the multilinear (cloud-in-cell) weights, which keeps its mass and its mean.  Then

    MMD_B^2 = sum_{c, c'} (B delta)_c (B delta)_c' K(c, c'),

and K(c, c') = prod_d g(c_d - c'_d) is separable, so K (B delta) is D one-dimensional
convolutions with the sampled Gaussian g (truncated at 8.6 h, where g < 1e-16): cost
O(n + m) for the binning and O(L_1 ... L_D * sum_d w_d) for the convolution, independent of
the number of pairs.  The Gaussian kernel is rotation invariant, so the lattice is aligned
with the principal axes of mu + nu: a cloud concentrated near a subspace (a grid density on
E^G, particles started there) gets only 2 lattice nodes along the directions it does not use.

Approximation error.  MMD_B is exactly the MMD for the kernel
K_B(p, q) = (I_p I_q K)(p, q), I the multilinear interpolation on the lattice; K_B is
positive semi-definite, so MMD_B is a (pseudo)metric, and

    |K_B - K| <= (D / 4) (dx / h)^2            (sup norm; |d^2 g / ds^2| <= 1 / h^2),

so |MMD_B^2 - MMD^2| <= (D / 4) (dx / h)^2 ||delta||_TV^2.  That bound is loose: the leading
error is the smoothing of each atom by the binning (variance t (1 - t) dx^2 per axis, t its
position in the cell), a relative error of about D (dx / h)^2 / 6 on the self terms.  With
the default 16 bins per bandwidth that is 0.07 % per axis on MMD^2; the tests check the
relative error on MMD against the exact double sum (below 0.5 % in 1, 2 and 4 dimensions,
including 4D clouds concentrated near a plane, where MMD itself is small).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.ndimage import convolve1d

from wgf.jit import jit as njit

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["lattice_for", "linear_binning", "binned_mmd2", "MAX_LATTICE_NODES"]

MAX_LATTICE_NODES = 1 << 24  # 16.8M nodes: 134 MB per float64 lattice
_TRUNCATE = 8.6  # exp(-8.6^2 / 2) = 9e-17


def lattice_for(points: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray]:
    """(origin (D,), shape (D,)) of the smallest lattice of the given spacing covering ``points`` (n, D),
    with at least 2 nodes per axis (every point lies in a cell, never on the last node's far side)."""
    lo = points.min(axis=0)
    hi = points.max(axis=0)
    shape = np.floor((hi - lo) / spacing).astype(np.int64) + 2
    return lo, shape


@njit(cache=True)
def _bin_into(lattice, points, weights, origin, spacing, shape):  # pragma: no cover - compiled
    """lattice (prod(shape),) += multilinear binning of sum_i w_i delta_{p_i}; serial, fixed order."""
    n, dim = points.shape
    strides = np.empty(dim, np.int64)
    s = 1
    for d in range(dim - 1, -1, -1):
        strides[d] = s
        s *= shape[d]
    base = np.empty(dim, np.int64)
    frac = np.empty(dim)
    for i in range(n):
        for d in range(dim):
            u = (points[i, d] - origin[d]) / spacing
            k = int(np.floor(u))
            if k < 0:
                k = 0
            if k > shape[d] - 2:
                k = shape[d] - 2
            base[d] = k
            frac[d] = min(max(u - k, 0.0), 1.0)
        for corner in range(1 << dim):
            w = weights[i]
            idx = 0
            for d in range(dim):
                if (corner >> d) & 1:
                    w *= frac[d]
                    idx += (base[d] + 1) * strides[d]
                else:
                    w *= 1.0 - frac[d]
                    idx += base[d] * strides[d]
            lattice[idx] += w


def linear_binning(points: ArrayLike, weights: ArrayLike, origin: ArrayLike, spacing: float, shape: ArrayLike,
                   out: np.ndarray | None = None, *, max_nodes: int = MAX_LATTICE_NODES) -> np.ndarray:
    """Multilinear (cloud-in-cell) binning of sum_i w_i delta_{p_i}, points (n, D), onto the lattice
    origin + spacing * k, 0 <= k < shape; returns (or adds into ``out``) an array of ``shape``.
    Mass and mean of each atom are kept exactly (up to round-off). A new lattice of more than
    ``max_nodes`` nodes is refused (ValueError naming its size) before anything is allocated."""
    shape = np.asarray(shape, dtype=np.int64)
    nodes = float(np.prod(shape.astype(float)))
    if out is None and nodes > max_nodes:
        raise ValueError(f"a lattice of {' x '.join(str(int(k)) for k in shape)} = {nodes:.3g} nodes exceeds the "
                         f"limit of {max_nodes} (coarser spacing, or fewer bins per bandwidth)")
    lattice = np.zeros(int(np.prod(shape))) if out is None else out.reshape(-1)
    _bin_into(lattice, np.ascontiguousarray(points, dtype=float), np.ascontiguousarray(weights, dtype=float),
              np.asarray(origin, dtype=float), float(spacing), shape)
    return lattice.reshape(tuple(shape))


def _principal_frame(x, a, y, b) -> np.ndarray:
    """Orthogonal Q (D, D): eigenvectors of the covariance of (mu + nu) / 2, largest variance first."""
    z = np.concatenate([x, y])
    w = np.concatenate([0.5 * a, 0.5 * b])
    c = z - w @ z
    _, vectors = np.linalg.eigh((c * w[:, None]).T @ c)
    return vectors[:, ::-1]


def binned_mmd2(x: np.ndarray, a: np.ndarray, y: np.ndarray, b: np.ndarray, bandwidth: float,
                bins_per_bandwidth: float = 16.0,
                max_nodes: int = MAX_LATTICE_NODES) -> float:
    """MMD_B^2(mu, nu) of the module docstring for x (n, D), weights a (n,), y (m, D), b (m,).

    Raises ValueError (naming the lattice size) when the lattice would exceed ``max_nodes``.
    """
    h = float(bandwidth)
    dx = h / float(bins_per_bandwidth)
    q = _principal_frame(x, a, y, b)
    xr = x @ q
    yr = y @ q
    origin, shape = lattice_for(np.concatenate([xr, yr]), dx)
    nodes = float(np.prod(shape.astype(float)))
    if nodes > max_nodes:
        raise ValueError(
            f"binned MMD needs a lattice of {' x '.join(map(str, shape))} = {nodes:.3g} nodes "
            f"(limit {max_nodes}); use fewer bins per bandwidth or the exact method"
        )
    delta = linear_binning(xr, a, origin, dx, shape)
    linear_binning(yr, -b, origin, dx, shape, out=delta)
    smoothed = delta
    for axis, size in enumerate(shape):
        half = int(min(np.ceil(_TRUNCATE * h / dx), size - 1))
        taps = np.exp(-0.5 * (np.arange(-half, half + 1) * dx / h) ** 2)
        smoothed = convolve1d(smoothed, taps, axis=axis, mode="constant", cval=0.0)
    return float(np.dot(delta.ravel(), smoothed.ravel()))
