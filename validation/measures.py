r"""Probability measures on :math:`\mathcal Z` that the distances accept: weighted point clouds and grid
densities.

A grid density is piecewise constant: on the cell with centre :math:`u_c` (grid coordinates) and
widths :math:`h_k` it is uniform, so in :math:`\mathcal Z` it is

.. math::

    \mu = \sum_c w_c\, \mathrm{Unif}\big(z_c + S [-\tfrac12, \tfrac12]^m\big), \qquad z_c = B u_c, \qquad
    S = B \operatorname{diag}(h) \quad (D \times m),

with :math:`w_c = \rho_c |\mathrm{cell}|`.  ``CellMeasure`` keeps :math:`(z_c, w_c, S)`; a point cloud is
the same object with :math:`m = 0` (S of shape (D, 0)).  The finite volumes carry cell averages
:math:`w_c = \int_{\mathrm{cell}} \rho` of a smooth density :math:`\rho`.  Point masses at the centres make
the sliced distances and the energy distance see the lattice at first order in :math:`h`; here:

- ``mean`` and ``covariance`` are those of :math:`\rho` to :math:`O(h^4)`: a cell average is :math:`\rho`
  convolved with the cell's uniform law, which keeps the mean and adds :math:`S S^\top / 12` to the
  covariance, and the centre sums are the midpoint rule of the convolved density (spectrally
  accurate where it is smooth and negligible at the box's walls), so

  .. math::

      m = \sum_c w_c z_c, \qquad \mathrm{Cov} = \sum_c w_c (z_c - m)(z_c - m)^\top - S S^\top / 12.

  (The centres alone are biased high by :math:`S S^\top / 12`, the piecewise-constant density by
  :math:`S S^\top / 6`.)
- one-dimensional projections :math:`\langle \theta, z \rangle` (sliced W2, sliced energy) replace each
  cell's projection, the law of :math:`\langle \theta, z_c \rangle + \sum_k (S^\top \theta)_k V_k` with
  :math:`V_k \sim \mathrm{Unif}(-\tfrac12, \tfrac12)` independent, by the uniform law of the same mean and
  variance, width :math:`W(\theta) = |S^\top \theta|`.  That is exact when :math:`S^\top \theta` has at most
  one nonzero entry (a direction along a grid axis, or a 1-axis grid); otherwise the two laws share
  their moments up to order 3, and the projected CDF errs by :math:`O(h^4)` where the density is
  smooth.  The projected CDF is then piecewise linear and every 1D quantity is computed exactly
  from it (``wgf.validation.metrics``).
- kernels (MMD, the network output) see the cells through their centres: the midpoint rule,
  whose relative error is about :math:`\sum_k h_k^2 / (24\, \mathrm{bandwidth}^2)` for the Gaussian
  kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from wgf.grids import Grid, History

__all__ = ["CellMeasure", "cell_measure", "as_cloud", "as_measure"]


@dataclass(frozen=True)
class CellMeasure:
    r""":math:`\sum_c w_c\, \mathrm{Unif}(z_c + S [-\tfrac12, \tfrac12]^m)` on :math:`\mathcal Z`, with
    :math:`w` = ``weights``, :math:`z` = ``points`` and :math:`S` = ``cell``.

    points : (C, D) cell centres in Z;  weights : (C,) nonnegative, summing to 1;
    cell : (D, m) edge vectors of a cell in Z (m = 0 for point masses).
    """

    points: np.ndarray
    weights: np.ndarray
    cell: np.ndarray

    @property
    def dim(self) -> int:
        """D, the dimension of Z."""
        return self.points.shape[1]

    def mean(self) -> np.ndarray:
        r""":math:`m = \sum_c w_c z_c`, (D,)."""
        return self.weights @ self.points

    def covariance(self) -> np.ndarray:
        r""":math:`\sum_c w_c (z_c - m)(z_c - m)^\top - S S^\top / 12`, (D, D): the covariance of the smooth
        density whose cell averages the weights are, to :math:`O(h^4)` (module docstring); the plain
        covariance for a cloud."""
        c = self.points - self.mean()
        return (c * self.weights[:, None]).T @ c - self.cell @ self.cell.T / 12.0

    def widths(self, theta: np.ndarray) -> np.ndarray:
        r""":math:`W_l = |S^\top \theta_l|` for directions theta (L, D): the width of the uniform law that
        stands for a cell's projection on :math:`\theta_l` (zeros for point masses), (L,)."""
        return np.sqrt(np.einsum("lk,lk->l", theta @ self.cell, theta @ self.cell))


def cell_measure(grid: Grid, density: ArrayLike) -> CellMeasure:
    """The piecewise-constant density (grid shape, sum * cell_volume = 1) of ``grid`` as a CellMeasure.

    Cells of zero mass are dropped; weights are renormalised to sum to 1.
    """
    w = np.asarray(density, dtype=float).ravel() * grid.cell_volume
    keep = w > 0
    cell = grid.basis * grid.spacing[None, :]
    return CellMeasure(grid.embed(grid.points[keep]), w[keep] / w[keep].sum(), cell)


def as_cloud(x: ArrayLike | CellMeasure, weights: ArrayLike | None = None) -> CellMeasure:
    """A weighted point cloud x (n, D), weights (n,) (uniform when None), or a CellMeasure (returned as is)."""
    if isinstance(x, CellMeasure):
        if weights is not None:
            raise ValueError("a CellMeasure carries its own weights: pass weights only with point arrays")
        return x
    x = np.atleast_2d(np.asarray(x, dtype=float))
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"a point cloud has shape (n, D) with n >= 1, got {x.shape}")
    if weights is None:
        w = np.full(x.shape[0], 1.0 / x.shape[0])
    else:
        w = np.asarray(weights, dtype=float)
        if w.shape != (x.shape[0],) or np.any(w < 0) or not np.all(np.isfinite(w)) or w.sum() <= 0:
            raise ValueError(f"weights must be finite and nonnegative with shape ({x.shape[0]},) and a positive sum")
        w = w / w.sum()
    return CellMeasure(x, w, np.zeros((x.shape[1], 0)))


def as_measure(history: History, t_index: int) -> CellMeasure:
    """The density of ``history`` at snapshot ``t_index`` as a ``CellMeasure`` on Z (cells of zero mass
    dropped, weights summing to 1), which every metric accepts in place of a cloud."""
    return cell_measure(history.grid, history.density[t_index])
