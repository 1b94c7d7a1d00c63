"""Convergence rates and the PDE's own error (docs/theory.md §6, docs/pde.md "The floor").

- ``fit_rate``: least-squares slope of log(distance) on log(N) with its t-interval (``RateFit``);
- ``richardson_floor``: the error of the finest of three grids from the distances between them;
- ``mean_interval``: the t-interval of a mean over seeds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["RateFit", "fit_rate", "richardson_floor", "mean_interval"]


class RateFit(tuple):
    """(slope, low, high, n_points) of a log-log least-squares fit with a 95% interval."""

    __slots__ = ()

    def __new__(cls, slope: float, low: float, high: float, n_points: int) -> RateFit:
        return super().__new__(cls, (float(slope), float(low), float(high), int(n_points)))

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
        return RateFit(np.nan, np.nan, np.nan, xs.size)
    fit = stats.linregress(xs, ys)
    half = stats.t.ppf(0.5 + level / 2, xs.size - 2) * fit.stderr
    return RateFit(fit.slope, fit.slope - half, fit.slope + half, xs.size)


def richardson_floor(d_fine: float, d_coarse: float) -> tuple:
    """(floor, order): an estimate of d(mu_h, mu) for the solution mu_h on the finest of three grids.

    d_fine = d(mu_h, mu_2h) and d_coarse = d(mu_2h, mu_4h) for cell widths h, 2h, 4h. If the error
    behaves as C h^p along one direction, d_fine = C h^p (2^p - 1) and d_coarse / d_fine = 2^p, so

        p = log2(d_coarse / d_fine)  (clamped to [1, 2], the orders the finite volumes have between
        the upwind and the diffusive limits),    floor = d_fine / (2^p - 1).

    A clamped order errs on the side of a larger floor when the grids are not yet asymptotic.
    """
    d_fine, d_coarse = float(d_fine), float(d_coarse)
    if not (np.isfinite(d_fine) and np.isfinite(d_coarse)) or d_fine < 0 or d_coarse < 0:
        raise ValueError(f"distances must be finite and >= 0, got {d_fine}, {d_coarse}")
    if d_fine == 0.0:
        return 0.0, 2.0
    order = float(np.clip(np.log2(d_coarse / d_fine), 1.0, 2.0)) if d_coarse > 0 else 1.0
    return d_fine / (2.0**order - 1.0), order


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
