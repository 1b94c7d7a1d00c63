"""Plain NumPy implementation of the particle SGD step, the baseline of tests and benchmarks.

It is written from docs/theory.md §5 with the vectorized NumPy methods of the units
(``Unit.value``, ``Unit.vjp``), independently of the numba kernels.
"""

from __future__ import annotations

from math import sqrt
from typing import TYPE_CHECKING

import numpy as np

from wgf.data import EmpiricalData
from wgf.schemes import SCHEMES

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from wgf.problem import Problem

__all__ = ["reference_step", "reference_batch", "reference_run"]


def reference_step(problem: Problem, theta: np.ndarray, xb: np.ndarray, yb: np.ndarray, wb: np.ndarray,
                   xi: np.ndarray, eps: float) -> np.ndarray:
    """One update of all particles, theta (N, D), for the minibatch (xb, yb, wb) and noise xi (N, D).

    theta - eps [ sum_b w_b J sigma(x_b, theta_i)^T grad_1 l(Phi(x_b), y_b) + 2 tau theta_i ] + sqrt(2 beta eps) (P) xi
    """
    unit = problem.unit
    phi = unit.value(xb, theta).mean(axis=1)  # (B, dy)
    c = wb[:, None] * problem.loss.grad(phi, yb)
    grad = unit.vjp(xb, theta, c) + 2.0 * problem.tau * theta
    new = theta - eps * grad
    if problem.beta > 0:
        p = problem.noise_projector
        new = new + sqrt(2.0 * problem.beta * eps) * (xi if p is None else xi @ p.T)
    return new


def reference_batch(problem: Problem, batch: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A minibatch of the scheme's data drawn with NumPy: (x (Bt, dx), y (Bt, dy), w (Bt,))."""
    x, y = problem.data.sample(batch, rng)
    if problem.loss.sign_labels and not isinstance(problem.data, EmpiricalData):
        y = problem.loss.labels(y)
    group = problem.group
    augments = SCHEMES[problem.scheme].augments
    if augments and problem.da_mode == "orbit":
        x = np.einsum("gab,nb->gna", group.rho_x, x).reshape(-1, x.shape[1])
        y = np.einsum("gab,nb->gna", group.rho_y, y).reshape(-1, y.shape[1])
    elif augments:
        if group.continuous:  # g ~ Haar
            gx, gy = group.sample(rng, batch)
        else:
            g = rng.integers(0, group.order, size=batch)
            gx, gy = group.rho_x[g], group.rho_y[g]
        x = np.einsum("nab,nb->na", gx, x)
        y = np.einsum("nab,nb->na", gy, y)
    return x, y, np.full(x.shape[0], 1.0 / x.shape[0])


def reference_run(problem: Problem, theta: ArrayLike, n_steps: int, eps: float, batch: int,
                  seed: int = 0) -> np.ndarray:
    """n_steps NumPy steps from theta (N, D) with NumPy random numbers; returns the final particles.

    Step k has size eps varsigma(k eps) (the problem's schedule).
    """
    rng = np.random.default_rng(seed)
    theta = np.array(theta, dtype=float)
    steps = problem.schedule.step_sizes(eps, 0, n_steps)
    for k in range(n_steps):
        xb, yb, wb = reference_batch(problem, batch, rng)
        xi = rng.standard_normal(theta.shape)
        theta = reference_step(problem, theta, xb, yb, wb, xi, steps[k])
    return theta
