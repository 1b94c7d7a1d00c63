r"""Tensor grids of cells on a linear subspace of the parameter space :math:`\mathcal Z`.

A grid lives on the box :math:`\prod_k [\mathrm{lo}_k, \mathrm{hi}_k]` in coordinates
:math:`u \in \mathbb R^m` (:math:`m \le 4`) of the subspace spanned by the orthonormal columns of
``basis`` (D, m): the point :math:`u` is :math:`z = B u` in :math:`\mathcal Z` (``basis @ u``). Cells are
the tensor products of equal intervals; densities are cell averages, normalized so that
``sum(rho) * cell_volume = 1``.

fenics-basix supplies the per-cell Gauss rule (``cell_quadrature``) and the
Lagrange basis used to interpolate a cell-centered field at arbitrary points
(``interpolation_weights``).
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import basix
import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import ArrayLike

__all__ = ["Grid", "NotSymmetricError"]


class NotSymmetricError(ValueError):
    """The grid is not mapped onto itself by a linear map."""


class _CellPoints:
    """Quadrature points of all cells, (size, q, m), built on indexing (slices of cells)."""

    def __init__(self, lower, offsets):
        self.lower, self.offsets = lower, offsets
        self.shape = (lower.shape[0], offsets.shape[0], lower.shape[1])

    def __getitem__(self, index):
        return self.lower[index][:, None, :] + self.offsets[None, :, :]

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self[:], dtype=dtype)


class Grid:
    """A tensor grid of cells on span(basis).

    Parameters
    ----------
    bounds : sequence of (lo, hi), one per axis (m <= 4)
    cells : int or sequence of ints (cells per axis)
    basis : (D, m) with orthonormal columns, or None for Z = R^m itself (identity)
    """

    def __init__(self, bounds: ArrayLike, cells: ArrayLike, basis: ArrayLike | None = None) -> None:
        bounds = np.array(bounds, dtype=float).reshape(-1, 2)
        m = bounds.shape[0]
        if not 1 <= m <= 4:
            raise ValueError(f"a grid has 1 to 4 axes, got {m}")
        if not np.all(bounds[:, 0] < bounds[:, 1]):
            raise ValueError("grid bounds need lo < hi on every axis")
        cells = np.broadcast_to(np.asarray(cells, dtype=np.int64), (m,)).copy()
        if np.any(cells < 2):
            raise ValueError("a grid needs at least 2 cells per axis")
        basis = np.eye(m) if basis is None else np.array(basis, dtype=float)
        if basis.ndim != 2 or basis.shape[1] != m:
            raise ValueError(f"basis must have shape (D, {m}), got {basis.shape}")
        if not np.allclose(basis.T @ basis, np.eye(m), atol=1e-10):
            raise ValueError("basis columns must be orthonormal")
        self.bounds, self.cells, self.basis = bounds, cells, basis
        self.spacing = (bounds[:, 1] - bounds[:, 0]) / cells
        for a in (self.bounds, self.cells, self.basis, self.spacing):
            a.setflags(write=False)

    # ------------------------------------------------------------ geometry
    @property
    def ndim(self) -> int:
        """m, the number of axes."""
        return self.bounds.shape[0]

    @property
    def shape(self) -> tuple:
        return tuple(int(n) for n in self.cells)

    @property
    def size(self) -> int:
        return int(np.prod(self.cells))

    @property
    def cell_volume(self) -> float:
        return float(np.prod(self.spacing))

    @cached_property
    def axes(self) -> list:
        """Cell centers per axis, a list of m arrays (n_k,)."""
        return [lo + (np.arange(n) + 0.5) * h for (lo, _), n, h in zip(self.bounds, self.cells, self.spacing)]

    @cached_property
    def centers(self) -> np.ndarray:
        """Cell centers u, (n_0, ..., n_{m-1}, m)."""
        return np.stack(np.meshgrid(*self.axes, indexing="ij"), axis=-1)

    @property
    def points(self) -> np.ndarray:
        """Cell centers as a flat list, (size, m)."""
        return self.centers.reshape(-1, self.ndim)

    def embed(self, u: ArrayLike) -> np.ndarray:
        """z = basis @ u for points u (..., m) -> (..., D)."""
        return np.asarray(u) @ self.basis.T

    def __repr__(self):
        return f"Grid(bounds={self.bounds.tolist()}, cells={self.cells.tolist()}, D={self.basis.shape[0]})"

    # ---------------------------------------------------------- quadrature
    def cell_quadrature(self, degree: int = 3) -> tuple[_CellPoints, np.ndarray]:
        """Gauss rule on every cell: points (size, q, m) in u (array-like, built per slice of cells)
        and weights (q,) summing to cell_volume.

        The reference rule is basix's Gauss-Jacobi rule on [0, 1], tensorized over the m axes;
        it is exact for polynomials of degree <= ``degree`` in each coordinate.
        """
        p, w = basix.make_quadrature(basix.CellType.interval, degree, rule=basix.QuadratureType.gauss_jacobi)
        p = np.asarray(p).ravel()
        w = np.asarray(w).ravel()
        m = self.ndim
        ref = np.stack(np.meshgrid(*([p] * m), indexing="ij"), axis=-1).reshape(-1, m)  # in [0, 1]^m
        wts = np.ones(1)
        for _ in range(m):
            wts = np.outer(wts, w).ravel()
        return _CellPoints(self.points - 0.5 * self.spacing, ref * self.spacing), wts * self.cell_volume

    def cell_average(self, f: Callable[[np.ndarray], ArrayLike], degree: int = 5, chunk: int = 2**16) -> np.ndarray:
        r"""Cell averages :math:`\frac{1}{|C|} \int_C f(u)\, du` of a callable f: (..., m) -> (...),
        shape ``self.shape``.

        Evaluated ``chunk`` cells at a time (memory O(chunk q m), q points per cell).
        """
        pts, wts = self.cell_quadrature(degree)
        out = np.empty(self.size)
        for start in range(0, self.size, chunk):
            vals = np.asarray(f(pts[start : start + chunk]), dtype=float)
            out[start : start + chunk] = vals @ wts / self.cell_volume
        return out.reshape(self.shape)

    def interpolation_weights(self, u: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        r"""Multilinear (basix P1 Lagrange) interpolation of a cell-centered field at points u (P, m).

        Returns (index (P, 2^m) flat cell indices, weights (P, 2^m)); points outside the
        box of cell centers are clamped to it:
        ``value(u) = sum_j weights[:, j] * field.ravel()[index[:, j]]``.
        """
        u = np.atleast_2d(np.asarray(u, dtype=float))
        m = self.ndim
        element = basix.create_element(basix.ElementFamily.P, basix.CellType.interval, 1, basix.LagrangeVariant.equispaced)
        left, tabs = [], []
        for k in range(m):
            s = (u[:, k] - self.axes[k][0]) / self.spacing[k]
            i0 = np.clip(np.floor(s).astype(np.int64), 0, self.cells[k] - 2)
            t = np.clip(s - i0, 0.0, 1.0)
            tab = element.tabulate(0, t[:, None])[0, :, :, 0]  # (P, 2): basis at 0 and at 1
            left.append(i0)
            tabs.append(tab)
        corners = np.array(np.meshgrid(*([[0, 1]] * m), indexing="ij")).reshape(m, -1).T  # (2^m, m)
        index = np.zeros((u.shape[0], len(corners)), dtype=np.int64)
        weights = np.ones((u.shape[0], len(corners)))
        strides = np.cumprod([1] + list(self.cells[::-1][:-1]))[::-1]
        for j, corner in enumerate(corners):
            for k in range(m):
                index[:, j] += (left[k] + corner[k]) * strides[k]
                weights[:, j] *= tabs[k][:, corner[k]]
        return index, weights

    def interpolate(self, field: ArrayLike, u: ArrayLike) -> np.ndarray:
        """Values of a cell-centered field (shape ``self.shape``) at points u (P, m)."""
        index, weights = self.interpolation_weights(u)
        return np.einsum("pj,pj->p", weights, np.asarray(field).ravel()[index])

    # ------------------------------------------------------------ symmetry
    def index_map(self, matrix: ArrayLike) -> np.ndarray:
        r"""Flat cell permutation of a linear map M of Z that maps the grid onto itself.

        In grid coordinates :math:`M` acts as :math:`R = B^\top M B`; it must keep
        :math:`\operatorname{span}(B)` (:math:`M B = B R`), be a signed permutation of the axes, and map
        the cell centers onto cell centers. Returns ``perm`` with
        :math:`(\rho \circ M)_c = \rho_{\mathrm{perm}[c]}`, i.e. ``perm[c]`` is the cell containing
        :math:`M` applied to the center of cell :math:`c`.
        """
        matrix = np.asarray(matrix, dtype=float)
        r = self.basis.T @ matrix @ self.basis
        if not np.allclose(matrix @ self.basis, self.basis @ r, atol=1e-10):
            raise NotSymmetricError("the map does not keep the grid's subspace")
        if not (np.allclose(np.abs(r).sum(axis=0), 1) and np.allclose(np.abs(r).max(axis=0), 1)):
            raise NotSymmetricError("the map is not a signed permutation of the grid axes")
        moved = self.points @ r.T
        idx = np.zeros(self.size, dtype=np.int64)
        stride = 1
        for k in reversed(range(self.ndim)):
            s = (moved[:, k] - self.axes[k][0]) / self.spacing[k]
            i = np.rint(s).astype(np.int64)
            if np.any(np.abs(s - i) > 1e-8) or np.any(i < 0) or np.any(i >= self.cells[k]):
                raise NotSymmetricError("the map does not send cell centers to cell centers (asymmetric bounds or cells)")
            idx += i * stride
            stride *= self.cells[k]
        return idx
