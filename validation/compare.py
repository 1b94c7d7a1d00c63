"""Particles against the PDE density: problem-aware metrics and the convergence-rate fit (docs/theory.md §6).

The grid density at a snapshot enters as a weighted cloud: the cell centers
embedded in Z by the grid basis, with weights rho_c |cell| (``as_measure``).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["as_measure", "output_l2", "risk_gap", "fit_rate", "RateFit"]


def as_measure(history, t_index: int):
    """The density of ``history`` at snapshot ``t_index`` as (points z (C', D), weights (C',)).

    Cells of zero mass are dropped; weights sum to 1.
    """
    grid = history.grid
    w = history.density[t_index].ravel() * grid.cell_volume
    keep = w > 0
    z = grid.embed(grid.points[keep])
    return z, w[keep] / w[keep].sum()


def output_l2(problem, x, y, *, x_weights=None, y_weights=None) -> float:
    """|| Phi_mu - Phi_nu ||_{L2(pi_X)} = sqrt(sum_q w_q |Phi_mu(x_q) - Phi_nu(x_q)|^2) with the scheme's unit
    and the problem's quadrature of X."""
    from wgf.functionals import model

    q = problem.quadrature
    diff = model(problem, x, q.x, x_weights) - model(problem, y, q.x, y_weights)
    return float(np.sqrt(np.dot(q.weights, np.einsum("qa,qa->q", diff, diff))))


def risk_gap(problem, x, y, *, x_weights=None, y_weights=None) -> float:
    """|R(mu) - R(nu)| with the scheme's risk."""
    from wgf.functionals import risk

    return abs(risk(problem, x, x_weights) - risk(problem, y, y_weights))


class RateFit(tuple):
    """(slope, low, high, n_points) of a log-log least-squares fit with a 95% interval."""

    __slots__ = ()

    def __new__(cls, slope, low, high, n_points):
        return super().__new__(cls, (float(slope), float(low), float(high), int(n_points)))

    slope = property(lambda self: self[0])
    low = property(lambda self: self[1])
    high = property(lambda self: self[2])
    n_points = property(lambda self: self[3])


def fit_rate(n, values, *, floor: float = 0.0, level: float = 0.95) -> RateFit:
    """Least-squares slope of log(value) on log(N) with its ``level`` confidence interval.

    n : (K,) particle counts; values : (K, S) metric per N and seed. Points with
    value <= floor (the PDE's own error) or not finite are left out; the interval is
    slope +- t_{(1+level)/2, P-2} * stderr over the P points kept. NaNs when fewer
    than 3 points (or fewer than 2 distinct N) remain.
    """
    n = np.asarray(n, dtype=float)
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    xs = np.repeat(np.log(n), values.shape[1])
    ys = values.ravel()
    keep = np.isfinite(ys) & (ys > floor) & (ys > 0)
    xs, ys = xs[keep], np.log(ys[keep])
    if xs.size < 3 or np.unique(xs).size < 2:
        return RateFit(np.nan, np.nan, np.nan, xs.size)
    fit = stats.linregress(xs, ys)
    half = stats.t.ppf(0.5 + level / 2, xs.size - 2) * fit.stderr
    return RateFit(fit.slope, fit.slope - half, fit.slope + half, xs.size)
