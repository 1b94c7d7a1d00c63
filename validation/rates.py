"""Convergence rates and the PDE's own error (docs/theory.md §6, docs/pde.md "The floor").

- ``fit_rate``: least-squares slope of log(distance) on log(N) with its t-interval (``RateFit``);
- ``fit_decay``: least-squares slope of log(value) on t over a tail of times (an exponential rate);
- ``richardson_floor``: the error of the finest of three grids from the distances between them;
- ``mean_interval``: the t-interval of a mean over seeds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["RateFit", "fit_rate", "fit_decay", "richardson_floor", "mean_interval", "MAX_FLOOR_ORDER",
           "FLOOR_SAFETY"]


class RateFit(tuple):
    """(slope, low, high, n_points) of a log-log least-squares fit with its ``level`` interval [low, high] (the
    tuple holds the four numbers; ``level``, default 0.95, is an attribute)."""

    def __new__(cls, slope: float, low: float, high: float, n_points: int, *, level: float = 0.95) -> RateFit:
        fit = super().__new__(cls, (float(slope), float(low), float(high), int(n_points)))
        fit.level = float(level)
        return fit

    def __getnewargs_ex__(self) -> tuple:
        return tuple(self), {"level": self.level}

    def __repr__(self) -> str:
        """``RateFit(slope=-0.47, 95% [-0.52, -0.43], n_points=9)``; without a slope, why (too few points)."""
        if not np.isfinite(self.slope):
            return f"RateFit(no slope: {self.n_points} points, a rate needs at least 3 over 2 values of N)"
        return (f"RateFit(slope={self.slope:.3g}, {100 * self.level:.4g}% [{self.low:.3g}, {self.high:.3g}], "
                f"n_points={self.n_points})")

    slope = property(lambda self: self[0])
    low = property(lambda self: self[1])
    high = property(lambda self: self[2])
    n_points = property(lambda self: self[3])


def fit_rate(n: ArrayLike, values: ArrayLike, *, floor: float = 0.0, level: float = 0.95) -> RateFit:
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
        return RateFit(np.nan, np.nan, np.nan, xs.size, level=level)
    fit = stats.linregress(xs, ys)
    half = stats.t.ppf(0.5 + level / 2, xs.size - 2) * fit.stderr
    return RateFit(fit.slope, fit.slope - half, fit.slope + half, xs.size, level=level)


def fit_decay(times: ArrayLike, values: ArrayLike, *, tail: float = 0.5, floor: float = 0.0,
              level: float = 0.95) -> RateFit:
    r"""The exponential rate of ``values`` over the last ``tail`` of ``times``: the least-squares slope
    :math:`-\lambda` of :math:`\log v(t)` on t with its ``level`` t-interval (``RateFit``: slope, low, high,
    points; :math:`v \approx C e^{-\lambda t}` gives slope :math:`-\lambda`, per unit of time).

    times : (T,); values : (T,) or (T, S) (one column per seed). Points at t < t_0 + (1 - tail) (t_end - t_0),
    with value <= ``floor`` (e.g. the solver's residual) or not finite are left out; NaNs when fewer than 3
    points at 2 distinct times remain."""
    times = np.asarray(times, dtype=float)
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    if values.shape[0] != times.size:
        raise ValueError(f"values have {values.shape[0]} rows for {times.size} times")
    if not 0 < tail <= 1:
        raise ValueError(f"tail must be in (0, 1], got {tail!r}")
    start = times[0] + (1.0 - tail) * (times[-1] - times[0]) if times.size else 0.0
    xs = np.repeat(times, values.shape[1])
    ys = values.ravel()
    keep = np.isfinite(ys) & (ys > floor) & (ys > 0) & (xs >= start - 1e-12 * max(1.0, abs(start)))
    xs, ys = xs[keep], np.log(ys[keep])
    if xs.size < 3 or np.unique(xs).size < 2:
        return RateFit(np.nan, np.nan, np.nan, xs.size, level=level)
    fit = stats.linregress(xs, ys)
    half = stats.t.ppf(0.5 + level / 2, xs.size - 2) * fit.stderr
    return RateFit(fit.slope, fit.slope - half, fit.slope + half, xs.size, level=level)


# the largest order the floor uses: the finite volumes' order in the diffusive limit (docs/theory.md §4)
MAX_FLOOR_ORDER = 2.0
# the floor's safety factor: Roache's grid convergence index for three grids and an observed order
# (P. J. Roache, J. Fluids Eng. 116 (1994) 405-413), a margin for grids not quite asymptotic
FLOOR_SAFETY = 1.25


def richardson_floor(d_fine: float, d_coarse: float) -> tuple:
    """(floor, order): an estimate of d(mu_h, mu) for the solution mu_h on the finest of three grids.

    d_fine = d(mu_h, mu_2h) and d_coarse = d(mu_2h, mu_4h) for cell widths h, 2h, 4h. If the error
    behaves as C h^p along one direction, d_fine = C h^p (2^p - 1) and d_coarse / d_fine = 2^p, so

        p = log2(d_coarse / d_fine),    floor = 1.25 d_fine / (2^min(p, 2) - 1),

    the extrapolated error C h^p times the safety factor 1.25 of Roache's grid convergence index for three
    grids (an error not yet a pure power of h, e.g. C h^p + D h^q, is then still covered).

    The floor decreases with the order, so only an order above the measured one could understate the
    error: p is capped at 2 (the diffusive limit; a larger measured p comes from grids not yet asymptotic and
    would lower the floor) and never raised. A scheme running below first order (measured 0.72-0.96 at high
    Peclet) gets the floor of its measured order: at p = 0.72 the error is 1.55 d_fine, where an order
    clamped to 1 gave d_fine, 0.65 of it. Grids that do not converge (d_coarse <= d_fine, p <= 0) bound nothing:
    floor = inf (no particle error lies above it, no rate is fitted). The order returned is the one the floor
    uses, min(p, 2) (p itself when p <= 0, -inf when d_coarse = 0 < d_fine); (0.0, 2.0) when d_fine = 0.
    """
    d_fine, d_coarse = float(d_fine), float(d_coarse)
    if not (np.isfinite(d_fine) and np.isfinite(d_coarse)) or d_fine < 0 or d_coarse < 0:
        raise ValueError(f"distances must be finite and >= 0, got {d_fine}, {d_coarse}")
    if d_fine == 0.0:
        return 0.0, MAX_FLOOR_ORDER
    order = float(np.log2(d_coarse / d_fine)) if d_coarse > 0 else -np.inf
    if order <= 0.0:
        return np.inf, order
    order = min(order, MAX_FLOOR_ORDER)
    return FLOOR_SAFETY * d_fine / (2.0**order - 1.0), order


def mean_interval(values: ArrayLike, level: float = 0.95) -> tuple:
    """(mean, half width) over the last axis of ``values`` (..., S): the ``level`` t-interval of the mean,
    half = t_{(1+level)/2, S-1} * std(ddof=1) / sqrt(S) (4.30 std / sqrt(3) at S = 3, level 0.95); half = 0
    when S = 1."""
    values = np.asarray(values, dtype=float)
    s = values.shape[-1]
    mean = values.mean(axis=-1)
    if s < 2:
        return mean, np.zeros_like(mean)
    return mean, stats.t.ppf(0.5 + level / 2, s - 1) * values.std(axis=-1, ddof=1) / np.sqrt(s)
