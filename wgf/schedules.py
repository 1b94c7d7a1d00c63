"""Step-size schedules varsigma(t) of the training dynamics.

The particles take steps s_k = eps varsigma(k eps); the mean-field PDE is

    d_t mu = varsigma(t) [ div(mu grad U(mu, .)) + beta Lap mu ].

A time change solves it exactly: with S(t) = int_0^t varsigma, mu(t) = nu(S(t))
where nu solves the same PDE with varsigma = 1. ``Schedule.elapsed`` is S.

- ``constant``: varsigma = 1, S(t) = t.
- ``inverse_time`` (t0 > 0): varsigma(t) = 1 / (1 + t / t0), S(t) = t0 log(1 + t / t0).
- any Python callable t -> varsigma(t) > 0 (``Schedule.from_callable``); S by adaptive quadrature.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import ArrayLike

__all__ = ["Schedule", "SCHEDULES", "make_schedule"]

SCHEDULES = ("constant", "inverse_time")


@dataclass(frozen=True, eq=False)
class Schedule:
    """varsigma(t) (``rate``) and S(t) = int_0^t varsigma (``elapsed``), both vectorized over t."""

    name: str
    t0: float = 0.0
    function: object = None

    @classmethod
    def from_callable(cls, f: Callable[[float], float], name: str = "callable") -> "Schedule":
        """A schedule from any callable t -> varsigma(t) (positive, finite)."""
        if not callable(f):
            raise TypeError("a schedule must be callable: t -> varsigma(t)")
        return cls(name, function=f)

    @property
    def is_constant(self) -> bool:
        return self.name == "constant"

    def rate(self, t: ArrayLike) -> np.ndarray:
        """varsigma(t) for t (...,) -> (...,)."""
        t = np.asarray(t, dtype=float)
        if self.name == "constant":
            return np.ones_like(t)
        if self.name == "inverse_time":
            return 1.0 / (1.0 + t / self.t0)
        v = np.array([float(self.function(s)) for s in t.ravel()]).reshape(t.shape)
        if not (np.isfinite(v).all() and (v > 0).all()):
            raise ValueError(f"schedule '{self.name}' must be finite and > 0, got {v[~(np.isfinite(v) & (v > 0))][0]!r}")
        return v

    def elapsed(self, t: ArrayLike) -> np.ndarray:
        """S(t) = int_0^t varsigma(s) ds for t (...,) >= 0."""
        t = np.asarray(t, dtype=float)
        if self.name == "constant":
            return t.copy()
        if self.name == "inverse_time":
            return self.t0 * np.log1p(t / self.t0)
        from scipy.integrate import quad

        flat = [quad(lambda s: float(self.rate(s)), 0.0, float(u), limit=200)[0] for u in t.ravel()]
        return np.array(flat).reshape(t.shape)

    def step_sizes(self, eps: float, k0: int, k1: int) -> np.ndarray:
        """s_k = eps varsigma(k eps) for k = k0 .. k1 - 1."""
        return eps * self.rate(np.arange(k0, k1, dtype=float) * eps)

    def __repr__(self):
        return f"Schedule({self.name!r}" + (f", t0={self.t0:g})" if self.name == "inverse_time" else ")")


def make_schedule(name: str | Callable[[float], float] = "constant", t0: float | None = None) -> Schedule:
    """``constant``, ``inverse_time`` (with t0 > 0), or a callable t -> varsigma(t)."""
    if callable(name):
        return Schedule.from_callable(name)
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r} (choose from {', '.join(SCHEDULES)})")
    if name == "inverse_time":
        if t0 is None or not (np.isfinite(t0) and t0 > 0):
            raise ValueError(f"schedule_t0 must be finite and > 0 for inverse_time, got {t0!r}")
        return Schedule(name, float(t0))
    return Schedule("constant")
