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

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from wgf.problem import Problem
from wgf.registry import Registry

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["model", "risk", "first_variation", "potential", "free_energy", "residual", "quadrature_risk", "Observable",
           "OBSERVABLES", "OUTPUT_POINTS"]


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


# ------------------------------------------------------------------ observables: functions F(mu) of the law
# the "output" observable: Phi at the data quadrature's first OUTPUT_POINTS nodes
OUTPUT_POINTS = 4


@dataclass(frozen=True)
class Observable:
    r"""A function :math:`F(\mu) \in \mathbb R^K` of the law, bound to a problem: ``value(z, weights)`` on a weighted
    cloud (z (M, D), weights (M,) or None for 1/M) -> (K,); ``first_variation(z, weights, at)`` =
    :math:`\frac{\delta F}{\delta \mu}(\mu, a)` at the points ``at`` (P, D) -> (P, K) (for a linear F,
    :math:`F(\mu) = \int f\, d\mu`, it is f itself); ``components``: the K names. Calling it on particles
    theta (N, D) gives ``value(theta, None)`` = :math:`F(\nu^N)`.

    The particles' fluctuations are measured with ``value`` (``wgf.validation.fluctuations``) and predicted on a
    grid with ``first_variation`` (``wgf.grids.fluctuations``, the linearization of F at the flow's law): one
    definition for both."""

    name: str
    value: Callable
    first_variation: Callable
    components: tuple

    def __call__(self, theta: ArrayLike) -> np.ndarray:
        return self.value(theta, None)


OBSERVABLES = Registry("observable", "functions F(mu) of the law (K values); factory (problem) -> Observable "
                                     "with value on a weighted cloud and first variation dF/dmu at points")


def _linear(name, f, components):
    """The Observable of the linear F(mu) = int f dmu, f(z (M, D)) -> (M, K)."""
    def value(z, weights=None):
        z, w = _weights(z, weights)
        return w @ f(z)

    def first(z, weights, at):
        return f(np.atleast_2d(np.asarray(at, dtype=float)))

    return Observable(name, value, first, tuple(components))


@OBSERVABLES.register("mean", doc="the mean of each coordinate of z, int z_a dmu (K = D)",
                      components=lambda problem: [f"z{a}" for a in range(problem.dim)])
def _mean_observable(problem: Problem) -> Observable:
    return _linear("mean", lambda z: z, OBSERVABLES["mean"].components(problem))


@OBSERVABLES.register("second_moment", doc="the second moment of each coordinate of z, int z_a^2 dmu (K = D)",
                      components=lambda problem: [f"z{a}^2" for a in range(problem.dim)])
def _second_moment_observable(problem: Problem) -> Observable:
    return _linear("second_moment", lambda z: z * z, OBSERVABLES["second_moment"].components(problem))


@OBSERVABLES.register("covariance", doc="the covariance int (z - m)(z - m)^T dmu, m = int z dmu (K = D^2, row-major); "
                                        "first variation (a - m)(a - m)^T - C",
                      components=lambda problem: [f"C{a}{b}" for a in range(problem.dim) for b in range(problem.dim)])
def _covariance_observable(problem: Problem) -> Observable:
    def moments(z, weights):
        z, w = _weights(z, weights)
        m = w @ z
        d = z - m
        return m, np.einsum("n,na,nb->ab", w, d, d)

    def value(z, weights=None):
        return moments(z, weights)[1].ravel()

    def first(z, weights, at):
        m, c = moments(z, weights)
        d = np.atleast_2d(np.asarray(at, dtype=float)) - m
        return (np.einsum("pa,pb->pab", d, d) - c).reshape(d.shape[0], -1)

    return Observable("covariance", value, first, tuple(OBSERVABLES["covariance"].components(problem)))


def _output_nodes(problem: Problem) -> np.ndarray:
    return problem.quadrature.x[:OUTPUT_POINTS]


@OBSERVABLES.register("output", doc=f"the network output Phi(x_q) at the data's first {OUTPUT_POINTS} quadrature nodes "
                                    f"(K = {OUTPUT_POINTS} dy, node-major)",
                      components=lambda problem: [f"Phi(x{q})_{a}" for q in range(len(_output_nodes(problem)))
                                                  for a in range(problem.base_unit.dim_y)])
def _output_observable(problem: Problem) -> Observable:
    x = _output_nodes(problem)
    # sigma(x_q, z)_a for the nodes q and outputs a, (M, K): node-major as the components
    return _linear("output", lambda z: problem.unit.value(x, z).transpose(1, 0, 2).reshape(z.shape[0], -1),
                   OBSERVABLES["output"].components(problem))


@OBSERVABLES.register("risk", doc="the risk R(mu) (K = 1); first variation dR/dmu (without the penalty)",
                      components=lambda problem: ["R"])
def _risk_observable(problem: Problem) -> Observable:
    def value(z, weights=None):
        return np.array([risk(problem, z, weights)])

    def first(z, weights, at):
        return first_variation(problem, z, at, weights)[:, None]

    return Observable("risk", value, first, ("R",))
