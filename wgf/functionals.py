"""Risk, first variation, potential and free energy of weighted point clouds.

A measure is given as a weighted cloud mu = sum_i w_i delta_{z_i}, z (N, D), w (N,)
(uniform weights 1/N when omitted): particles, or the cell quadrature points of
a grid density. With the problem's scheme unit sigma and quadrature (x_q, y_q, w_q):

    Phi_mu(x)    = sum_i w_i sigma(x, z_i)
    R(mu)        = sum_q w_q l(Phi_mu(x_q), y_q)  (+ E|eta|^2 for the squared loss with label noise)
    dR/dmu(z)    = sum_q w_q < grad_1 l(Phi_mu(x_q), y_q), sigma(x_q, z) >
    U(mu, z)     = dR/dmu(mu, z) + tau |z|^2
    F(mu)        = R(mu) + tau sum_i w_i |z_i|^2 + beta * (negative entropy, given)
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
    """Phi_mu(x) for x (B, dx) -> (B, dy), with the scheme's unit."""
    z, w = _weights(z, weights)
    return problem.unit.output(x, z, w)


def residual(problem: Problem, z: ArrayLike, weights: ArrayLike | None = None) -> np.ndarray:
    """grad_1 l(Phi_mu(x_q), y_q) at the quadrature nodes, (Q, dy) (2 (Phi - y) for the squared loss)."""
    q = problem.quadrature
    return problem.loss.grad(model(problem, z, q.x, weights), q.y)


def quadrature_risk(problem: Problem, phi: np.ndarray) -> float:
    """sum_q w_q l(phi_q, y_q) (+ E|eta|^2) for model outputs phi (Q, dy) at the quadrature nodes."""
    q = problem.quadrature
    return float(np.dot(q.weights, problem.loss(phi, q.y)) + q.noise_variance)


def risk(problem: Problem, z: ArrayLike, weights: ArrayLike | None = None) -> float:
    """R(mu) = E_pi l(Phi_mu(X), Y) (the scheme's risk, with the problem's loss)."""
    return quadrature_risk(problem, model(problem, z, problem.quadrature.x, weights))


def first_variation(problem: Problem, z: ArrayLike, at: ArrayLike, weights: ArrayLike | None = None) -> np.ndarray:
    """dR/dmu(mu, at) = E_pi < 2 (Phi_mu(X) - Y), sigma(X, at) > for at (M, D) -> (M,)."""
    q = problem.quadrature
    c = residual(problem, z, weights) * q.weights[:, None]  # (Q, dy)
    at = np.atleast_2d(np.asarray(at, dtype=float))
    # sum_q <c_q, sigma(x_q, at_m)> = Phi of the "dual" measure: evaluate per node
    vals = problem.unit.value(q.x, at)  # (Q, M, dy)
    return np.einsum("qa,qma->m", c, vals)


def potential(problem: Problem, z: ArrayLike, at: ArrayLike, weights: ArrayLike | None = None) -> np.ndarray:
    """U(mu, at) = dR/dmu(mu, at) + tau |at|^2, (M,)."""
    at = np.atleast_2d(np.asarray(at, dtype=float))
    return first_variation(problem, z, at, weights) + problem.tau * np.einsum("ma,ma->m", at, at)


def free_energy(problem: Problem, z: ArrayLike, weights: ArrayLike | None = None, neg_entropy: float = 0.0) -> float:
    """F(mu) = R(mu) + tau int |z|^2 dmu + beta int mu log mu (the last term passed in)."""
    z, w = _weights(z, weights)
    return risk(problem, z, w) + problem.tau * float(np.dot(w, np.einsum("na,na->n", z, z))) + problem.beta * neg_entropy
