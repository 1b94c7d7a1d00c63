"""Figures a paper can use, one panel per call: each function takes ``ax=`` (a new figure when None) and
returns the axes. The CLI's figures (``wgf report``, ``wgf demo``) are drawn with the same functions.
"""

from __future__ import annotations

import numpy as np

__all__ = ["distance_vs_n"]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(4.2, 3.5))
    return ax


def distance_vs_n(n, values, *, floor: float = 0.0, rate=None, ax=None, ylabel: str = "distance"):
    """One metric between particles and the PDE against N, on log-log axes.

    n (K,) particle counts; values (K, S) the metric per N and seed at one time; floor the PDE's own
    error (``wgf.validation.richardson_floor``); rate a RateFit (slope, low, high, n_points) or None.
    Draws the mean over seeds with its 95% t-interval (``mean_interval``), points at or below the floor
    as open markers (they are not fitted), the fitted rate with its interval as a band, the floor, and
    an N^(-1/2) guide through the largest N.
    """
    from wgf.validation import mean_interval

    ax = _axes(ax)
    n = np.asarray(n, dtype=float)
    values = np.asarray(values, dtype=float)
    mean, half = mean_interval(values)
    above = mean > floor
    ax.errorbar(n[above], mean[above], yerr=half[above], fmt="o", color="k", capsize=3,
                label=f"mean, 95% t-interval ({values.shape[1]} seeds)")
    if not above.all():
        ax.errorbar(n[~above], mean[~above], yerr=half[~above], fmt="o", mfc="none", color="k", capsize=3,
                    label="at or below the floor (not fitted)")
    pos = mean > 0
    nn = np.geomspace(n.min(), n.max(), 50)
    if pos.any():
        ref = np.flatnonzero(pos)[-1]
        ax.plot(nn, mean[ref] * (nn / n[ref]) ** -0.5, color="tab:gray", ls=":", label="N^(-1/2)")
    if rate is not None and np.isfinite(rate[0]) and pos.any():
        slope, low, high = rate[0], rate[1], rate[2]
        n_mid = np.exp(np.mean(np.log(n[pos])))
        y_mid = np.exp(np.mean(np.log(mean[pos])))
        ax.plot(nn, y_mid * (nn / n_mid) ** slope, color="tab:blue", label=f"slope {slope:+.2f} [{low:+.2f}, {high:+.2f}]")
        band = np.stack([y_mid * (nn / n_mid) ** low, y_mid * (nn / n_mid) ** high])
        ax.fill_between(nn, band.min(axis=0), band.max(axis=0), color="tab:blue", alpha=0.15)
    if floor > 0:
        ax.axhline(floor, color="tab:gray", ls="--", label="PDE floor (Richardson)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N (particles)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=7)
    return ax
