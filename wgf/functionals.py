r"""Risk, first variation, potential and free energy of weighted point clouds.

A measure is given as a weighted cloud :math:`\mu = \sum_i w_i \delta_{z_i}`, z (N, D), w (N,)
(uniform weights :math:`1/N` when omitted): particles, or the cell quadrature points of
a grid density. With the problem's scheme unit :math:`\sigma` and quadrature :math:`(x_q, y_q, w_q)`:

.. math::

    \Phi_\mu(x) &= \sum_i w_i\, \sigma(x, z_i), \\
    R(\mu) &= \sum_q w_q\, \ell(\Phi_\mu(x_q), y_q)
        \quad (+\, \mathbb E|\eta|^2 \text{ for the squared loss with label noise}), \\
    \frac{\delta R}{\delta \mu}(z) &= \sum_q w_q \big\langle \nabla_1 \ell(\Phi_\mu(x_q), y_q),\, \sigma(x_q, z) \big\rangle, \\
    U(\mu, z) &= \frac{\delta R}{\delta \mu}(\mu, z) + \tau |z|^2, \\
    F(\mu) &= R(\mu) + \tau \sum_i w_i |z_i|^2 + \beta \cdot (\text{negative entropy, given}).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from wgf.problem import Problem

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["model", "risk", "first_variation", "potential", "free_energy", "residual", "quadrature_risk"]


def _weights(z, weights):
    z = np.atleast_2d(np.asarray(z, dtype=float))
    if weights is None:
        return z, np.full(z.shape[0], 1.0 / z.shape[0])
    w = np.asarray(weights, dtype=float)
    if w.shape != (z.shape[0],):
        raise ValueError(f"weights must have shape ({z.shape[0]},), got {w.shape}")
    return z, w


def model(problem: Problem, z: ArrayLike, x: ArrayLike, weights: ArrayLike | None = None) -> np.ndarray:
    r""":math:`\Phi_\mu(x)` for x (B, dx) -> (B, dy), with the scheme's unit."""
    z, w = _weights(z, weights)
    return problem.unit.output(x, z, w)


def residual(problem: Problem, z: ArrayLike, weights: ArrayLike | None = None) -> np.ndarray:
    r""":math:`\nabla_1 \ell(\Phi_\mu(x_q), y_q)` at the quadrature nodes, (Q, dy)
    (:math:`2 (\Phi - y)` for the squared loss)."""
    q = problem.quadrature
    return problem.loss.grad(model(problem, z, q.x, weights), q.y)


def quadrature_risk(problem: Problem, phi: np.ndarray) -> float:
    r""":math:`\sum_q w_q\, \ell(\phi_q, y_q)` (:math:`+\, \mathbb E|\eta|^2`) for model outputs phi (Q, dy)
    at the quadrature nodes."""
    q = problem.quadrature
    return float(np.dot(q.weights, problem.loss(phi, q.y)) + q.noise_variance)


def risk(problem: Problem, z: ArrayLike, weights: ArrayLike | None = None) -> float:
    r""":math:`R(\mu) = \mathbb E_\pi\, \ell(\Phi_\mu(X), Y)` (the scheme's risk, with the problem's loss)."""
    return quadrature_risk(problem, model(problem, z, problem.quadrature.x, weights))


def first_variation(problem: Problem, z: ArrayLike, at: ArrayLike, weights: ArrayLike | None = None) -> np.ndarray:
    r""":math:`\frac{\delta R}{\delta \mu}(\mu, a) = \mathbb E_\pi \langle \nabla_1 \ell(\Phi_\mu(X), Y),
    \sigma(X, a) \rangle` for the points a = ``at`` (M, D) -> (M,); :math:`\nabla_1 \ell = 2 (\Phi_\mu(X) - Y)`
    for the squared loss."""
    q = problem.quadrature
    c = residual(problem, z, weights) * q.weights[:, None]  # (Q, dy)
    at = np.atleast_2d(np.asarray(at, dtype=float))
    # sum_q <c_q, sigma(x_q, at_m)> = Phi of the "dual" measure: evaluate per node
    vals = problem.unit.value(q.x, at)  # (Q, M, dy)
    return np.einsum("qa,qma->m", c, vals)


def potential(problem: Problem, z: ArrayLike, at: ArrayLike, weights: ArrayLike | None = None) -> np.ndarray:
    r""":math:`U(\mu, a) = \frac{\delta R}{\delta \mu}(\mu, a) + \tau |a|^2` at the points a = ``at``, (M,)."""
    at = np.atleast_2d(np.asarray(at, dtype=float))
    return first_variation(problem, z, at, weights) + problem.tau * np.einsum("ma,ma->m", at, at)


def free_energy(problem: Problem, z: ArrayLike, weights: ArrayLike | None = None, neg_entropy: float = 0.0) -> float:
    r""":math:`F(\mu) = R(\mu) + \tau \int |z|^2\, d\mu + \beta \int \mu \log \mu` (the last integral passed
    in as ``neg_entropy``)."""
    z, w = _weights(z, weights)
    return risk(problem, z, w) + problem.tau * float(np.dot(w, np.einsum("na,na->n", z, z))) + problem.beta * neg_entropy
