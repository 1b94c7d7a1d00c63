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

from wgf.registry import Registry

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import ArrayLike

__all__ = ["Schedule", "SCHEDULES", "make_schedule"]

SCHEDULES = Registry("schedule", "step-size schedules varsigma(t); factory (**param) -> Schedule")


@dataclass(frozen=True, eq=False)
class Schedule:
    """varsigma(t) (``rate``) and S(t) = int_0^t varsigma (``elapsed``), both vectorized over t.

    A registered schedule carries its two functions ``rate_of(t, t0)`` and ``elapsed_of(t, t0)`` (t0 its
    parameter, ``param_name`` its config key); one from a callable (``function``) integrates it by quadrature.
    """

    name: str
    t0: float = 0.0
    function: object = None
    rate_of: object = None
    elapsed_of: object = None
    param_name: str | None = None

    @classmethod
    def from_callable(cls, f: Callable[[float], float], name: str = "callable") -> "Schedule":
        """A schedule from any callable t -> varsigma(t) (positive, finite)."""
        if not callable(f):
            raise TypeError("a schedule must be callable: t -> varsigma(t)")
        return cls(name, function=f)

    @property
    def is_constant(self) -> bool:
        return self.rate_of is _constant_rate

    def rate(self, t: ArrayLike) -> np.ndarray:
        """varsigma(t) for t (...,) -> (...,)."""
        t = np.asarray(t, dtype=float)
        if self.rate_of is not None:
            return self.rate_of(t, self.t0)
        v = np.array([float(self.function(s)) for s in t.ravel()]).reshape(t.shape)
        if not (np.isfinite(v).all() and (v > 0).all()):
            raise ValueError(f"schedule '{self.name}' must be finite and > 0, got {v[~(np.isfinite(v) & (v > 0))][0]!r}")
        return v

    def elapsed(self, t: ArrayLike) -> np.ndarray:
        """S(t) = int_0^t varsigma(s) ds for t (...,) >= 0."""
        t = np.asarray(t, dtype=float)
        if self.elapsed_of is not None:
            return self.elapsed_of(t, self.t0)
        from scipy.integrate import quad

        flat = [quad(lambda s: float(self.rate(s)), 0.0, float(u), limit=200)[0] for u in t.ravel()]
        return np.array(flat).reshape(t.shape)

    def step_sizes(self, eps: float, k0: int, k1: int) -> np.ndarray:
        """s_k = eps varsigma(k eps) for k = k0 .. k1 - 1."""
        return eps * self.rate(np.arange(k0, k1, dtype=float) * eps)

    def __repr__(self):
        return f"Schedule({self.name!r}" + (f", t0={self.t0:g})" if self.param_name else ")")


def _constant_rate(t, t0):
    return np.ones_like(t)


def _constant_elapsed(t, t0):
    return t.copy()


@SCHEDULES.register("constant", doc="varsigma(t) = 1, S(t) = t", param=None)
def _constant():
    return Schedule("constant", rate_of=_constant_rate, elapsed_of=_constant_elapsed)


def _inverse_time_rate(t, t0):
    return 1.0 / (1.0 + t / t0)


def _inverse_time_elapsed(t, t0):
    return t0 * np.log1p(t / t0)


@SCHEDULES.register("inverse_time", doc="varsigma(t) = 1 / (1 + t / t0), S(t) = t0 log(1 + t / t0), t0 > 0",
                    param="schedule_t0")
def _inverse_time(schedule_t0=None):
    t0 = schedule_t0
    if t0 is None or not (np.isfinite(t0) and t0 > 0):
        raise ValueError(f"schedule_t0 must be finite and > 0 for inverse_time, got {t0!r}")
    return Schedule("inverse_time", float(t0), rate_of=_inverse_time_rate, elapsed_of=_inverse_time_elapsed,
                    param_name="schedule_t0")


def make_schedule(name: str | Callable[[float], float] = "constant", t0: float | None = None) -> Schedule:
    """A registered schedule by name (``constant``, ``inverse_time`` with t0 > 0, see ``SCHEDULES``), or a
    callable t -> varsigma(t)."""
    if callable(name):
        return Schedule.from_callable(name)
    entry = SCHEDULES[name]
    return entry(**({entry.param: t0} if entry.param else {}))
