r"""Distances between weighted point clouds in :math:`\mathcal Z`.

A cloud is x (n, D) with weights a (n,) summing to 1 (uniform when omitted).

- ``w2``: exact 2-Wasserstein distance by optimal transport (POT's network simplex),
  :math:`W_2(\mu, \nu)^2 = \min_{P \in \Pi(a, b)} \sum_{i,j} P_{ij} |x_i - y_j|^2`;
- ``rmd2``: relative measure distance of the paper,
  :math:`\mathrm{RMD}^2(\mu, \nu) = W_2^2(\mu, \nu) / \big(2 (m_2(\mu) + m_2(\nu))\big)`,
  :math:`m_2 = \mathbb E|z|^2`, in :math:`[0, 1]`;
- ``output_l2``, ``risk_gap``: distances seen through the network,
  :math:`\|\Phi_\mu - \Phi_\nu\|_{L^2(\pi_X)}` and :math:`|R(\mu) - R(\nu)|` (these need the problem; they
  accept grid densities as ``CellMeasure``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from wgf.validation.measures import as_cloud

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from wgf.problem import Problem

    from wgf.validation.measures import CellMeasure

__all__ = ["w2", "rmd2", "second_moment", "output_l2", "risk_gap", "TooLargeForExactOT", "EXACT_OT_MAX_PAIRS"]

# the exact OT cost matrix is n x m float64: 2.5e7 pairs = 200 MB
EXACT_OT_MAX_PAIRS = 25_000_000


# POT imports every array backend it finds (torch, jax, tensorflow, cupy: 10-20 s when installed); wgf hands it
# NumPy arrays only, so those backends are switched off (unless the environment already says otherwise)
POT_BACKENDS_OFF = ("POT_BACKEND_DISABLE_PYTORCH", "POT_BACKEND_DISABLE_JAX", "POT_BACKEND_DISABLE_TENSORFLOW",
                    "POT_BACKEND_DISABLE_CUPY")


def _pot():
    """The ``ot`` module (POT), imported at first use with only its NumPy backend."""
    for key in POT_BACKENDS_OFF:
        os.environ.setdefault(key, "1")
    import ot

    return ot


class TooLargeForExactOT(ValueError):
    """The exact OT problem exceeds the size guard."""


def _cloud(x, weights):
    """(points, weights) of a weighted cloud or of a CellMeasure (its cell centres)."""
    mu = as_cloud(x, weights)
    return mu.points, mu.weights


def second_moment(x: ArrayLike | CellMeasure, weights: ArrayLike | None = None) -> float:
    r""":math:`m_2 = \sum_i a_i |x_i|^2`."""
    x, w = _cloud(x, weights)
    return float(np.dot(w, np.einsum("na,na->n", x, x)))


def w2(x: ArrayLike | CellMeasure, y: ArrayLike | CellMeasure, *, x_weights: ArrayLike | None = None,
       y_weights: ArrayLike | None = None, max_pairs: int = EXACT_OT_MAX_PAIRS) -> float:
    """Exact W2 between two weighted clouds x (n, D), y (m, D).

    Refuses (``TooLargeForExactOT``) when n m > max_pairs, saying the sizes.
    """
    x, a = _cloud(x, x_weights)
    y, b = _cloud(y, y_weights)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"clouds live in different dimensions: {x.shape[1]} and {y.shape[1]}")
    if x.shape[0] * y.shape[0] > max_pairs:
        raise TooLargeForExactOT(
            f"exact W2 between {x.shape[0]} and {y.shape[0]} points needs a "
            f"{x.shape[0]} x {y.shape[0]} cost matrix (limit {max_pairs} entries)"
        )
    ot = _pot()
    cost = ot.dist(x, y, metric="sqeuclidean")
    value = ot.emd2(a, b, cost, numItermax=10_000_000)
    return float(np.sqrt(max(value, 0.0)))


def rmd2(x: ArrayLike | CellMeasure, y: ArrayLike | CellMeasure, *, x_weights: ArrayLike | None = None,
         y_weights: ArrayLike | None = None, max_pairs: int = EXACT_OT_MAX_PAIRS) -> float:
    r""":math:`\mathrm{RMD}^2(\mu, \nu) = W_2^2 / \big(2 (m_2(\mu) + m_2(\nu))\big)` in :math:`[0, 1]`; 0 when
    both are :math:`\delta_0`."""
    denom = 2.0 * (second_moment(x, x_weights) + second_moment(y, y_weights))
    if denom == 0.0:
        return 0.0
    d = w2(x, y, x_weights=x_weights, y_weights=y_weights, max_pairs=max_pairs)
    return float(min(d * d / denom, 1.0))


def output_l2(problem: Problem, x: ArrayLike | CellMeasure, y: ArrayLike | CellMeasure, *,
              x_weights: ArrayLike | None = None, y_weights: ArrayLike | None = None) -> float:
    r""":math:`\|\Phi_\mu - \Phi_\nu\|_{L^2(\pi_X)} = \big(\sum_q w_q |\Phi_\mu(x_q) - \Phi_\nu(x_q)|^2\big)^{1/2}`
    with the scheme's unit
    and the problem's quadrature of X; clouds or CellMeasures (through their cell centres)."""
    from wgf.functionals import model


    x, y = as_cloud(x, x_weights), as_cloud(y, y_weights)
    x, x_weights, y, y_weights = x.points, x.weights, y.points, y.weights
    q = problem.quadrature
    diff = model(problem, x, q.x, x_weights) - model(problem, y, q.x, y_weights)
    return float(np.sqrt(np.dot(q.weights, np.einsum("qa,qa->q", diff, diff))))


def risk_gap(problem: Problem, x: ArrayLike | CellMeasure, y: ArrayLike | CellMeasure, *,
             x_weights: ArrayLike | None = None, y_weights: ArrayLike | None = None) -> float:
    r""":math:`|R(\mu) - R(\nu)|` with the scheme's risk."""
    from wgf.functionals import risk


    x, y = as_cloud(x, x_weights), as_cloud(y, y_weights)
    x, x_weights, y, y_weights = x.points, x.weights, y.points, y.weights
    return abs(risk(problem, x, x_weights) - risk(problem, y, y_weights))
