"""Convex losses l(yhat, y), summed over the output components, with their gradients in yhat.

Each loss is a pair of compiled scalar functions of one output component and a
parameter p, shared by the particle engine, the PDE potential and the
functionals:

- ``value(yhat, y, p)``: l_a,        the loss is l(yhat, y) = sum_a l_a(yhat_a, y_a)
- ``grad(yhat, y, p)``:  d l_a / d yhat_a

==============  ===================================================================  ======================
name            l_a(yhat, y)                                                         d/dyhat
==============  ===================================================================  ======================
``squared``     (yhat - y)^2                                                         2 (yhat - y)
``logistic``    log(1 + exp(-y yhat)),  labels y = +-1                               -y sigmoid(-y yhat)
``huber``       r^2 / 2 if |r| <= delta, else delta (|r| - delta/2),  r = yhat - y   clip(r, -delta, delta)
==============  ===================================================================  ======================

With the logistic loss the labels are the signs of the teacher's output (+1
where it is 0). The first variation of the risk uses ``grad``:
dR/dmu(mu, z) = E_pi < grad l(Phi_mu(X), Y), sigma(X, z) >.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import exp, log1p
from typing import TYPE_CHECKING

import numpy as np

from wgf.jit import jit

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["Loss", "LOSSES", "make_loss"]

LOSSES = ("squared", "logistic", "huber")


@jit(inline="always")
def _squared(yhat, y, p):
    r = yhat - y
    return r * r


@jit(inline="always")
def _squared_grad(yhat, y, p):
    return 2.0 * (yhat - y)


@jit(inline="always")
def _logistic(yhat, y, p):
    m = -y * yhat
    return max(m, 0.0) + log1p(exp(-abs(m)))


@jit(inline="always")
def _logistic_grad(yhat, y, p):
    m = -y * yhat
    if m >= 0.0:
        s = 1.0 / (1.0 + exp(-m))
    else:
        e = exp(m)
        s = e / (1.0 + e)
    return -y * s


@jit(inline="always")
def _huber(yhat, y, p):
    r = abs(yhat - y)
    return 0.5 * r * r if r <= p else p * (r - 0.5 * p)


@jit(inline="always")
def _huber_grad(yhat, y, p):
    return min(max(yhat - y, -p), p)


def _make_elementwise(f):
    def apply(yhat, y, p, out):
        for i in range(out.shape[0]):
            out[i] = f(yhat[i], y[i], p)

    apply.__qualname__ = apply.__name__ = f"elementwise_{f.py_func.__name__.strip('_')}"
    return jit(apply, cache=True)


_ELEMENTWISE: dict = {}


def _elementwise(f):
    """out[i] = f(yhat[i], y[i], p) over flat arrays, compiled once per scalar function f."""
    if f not in _ELEMENTWISE:
        _ELEMENTWISE[f] = _make_elementwise(f)
    return _ELEMENTWISE[f]


_FUNCTIONS = {"squared": (_squared, _squared_grad), "logistic": (_logistic, _logistic_grad),
              "huber": (_huber, _huber_grad)}


@dataclass(frozen=True, eq=False)
class Loss:
    """A convex loss (module docstring); ``param`` is huber's delta (unused otherwise)."""

    name: str
    value_kernel: object
    grad_kernel: object
    param: float = 0.0

    @property
    def sign_labels(self) -> bool:
        """Labels are the signs of the teacher's output (logistic loss)."""
        return self.name == "logistic"

    def _apply(self, kernel, yhat, y):
        yhat, y = np.broadcast_arrays(np.asarray(yhat, dtype=float), np.asarray(y, dtype=float))
        out = np.empty(yhat.shape)
        _elementwise(kernel)(np.ascontiguousarray(yhat).ravel(), np.ascontiguousarray(y).ravel(), self.param,
                             out.reshape(-1))
        return out

    def __call__(self, yhat: ArrayLike, y: ArrayLike) -> np.ndarray:
        """l(yhat, y) summed over the last axis: yhat, y (..., dy) -> (...)."""
        return self._apply(self.value_kernel, yhat, y).sum(axis=-1)

    def grad(self, yhat: ArrayLike, y: ArrayLike) -> np.ndarray:
        """d l / d yhat, same shape as yhat."""
        return self._apply(self.grad_kernel, yhat, y)

    def labels(self, f: ArrayLike) -> np.ndarray:
        """The labels the loss trains on, from the teacher's output f (..., dy): sign(f) for logistic."""
        f = np.asarray(f, dtype=float)
        return np.where(f >= 0.0, 1.0, -1.0) if self.sign_labels else f

    def __repr__(self):
        return f"Loss({self.name!r}" + (f", delta={self.param:g})" if self.name == "huber" else ")")


def make_loss(name: str = "squared", huber_delta: float = 1.0) -> Loss:
    """The loss ``name`` (one of ``LOSSES``); ``huber_delta`` > 0 is huber's threshold."""
    if name not in _FUNCTIONS:
        raise ValueError(f"unknown loss {name!r} (choose from {', '.join(LOSSES)})")
    if name == "huber" and not (np.isfinite(huber_delta) and huber_delta > 0):
        raise ValueError(f"huber_delta must be finite and > 0, got {huber_delta!r}")
    value, grad = _FUNCTIONS[name]
    return Loss(name, value, grad, float(huber_delta) if name == "huber" else 0.0)
