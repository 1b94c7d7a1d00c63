r"""Scalar activations :math:`s(u)` with their derivatives :math:`s'(u)`, compiled once and shared by every engine.

An ``Activation`` is a pair of numba scalar functions ``value(u) -> s(u)`` and
``slope(u) -> s'(u)``. They are inlined into the unit kernels, whose loops over
particles they must not stop from vectorising: no calls into libm where a
vectorisable form exists (the exponential is ``wgf.vector_math.fast_exp``).

============  ===================================================  =========================================
name          :math:`s(u)`                                         :math:`s'(u)`
============  ===================================================  =========================================
``identity``  :math:`u`                                            :math:`1`
``sigmoid``   :math:`1 / (1 + e^{-u})`                             :math:`s (1 - s)`
``tanh``      :math:`1 - 2 / (1 + e^{2u})`                         :math:`1 - s^2`
``relu``      :math:`\max(u, 0)`                                   :math:`1` if :math:`u > 0` else :math:`0`
``softplus``  :math:`\max(u, 0) + \operatorname{log1p}(e^{-|u|})`  :math:`\mathrm{sigmoid}(u)`
============  ===================================================  =========================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from wgf.jit import jit
from wgf.registry import Registry
from wgf.vector_math import fast_exp, fast_log1p

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import ArrayLike

__all__ = ["Activation", "ACTIVATIONS", "get_activation", "activation", "register_activation"]


@dataclass(frozen=True, eq=False)
class Activation:
    """s(u) and s'(u) as compiled scalar functions (see the module docstring)."""

    name: str
    value: object
    slope: object

    def __call__(self, u: ArrayLike) -> np.ndarray:
        """s(u) elementwise on an array (NumPy-level convenience)."""
        u = np.asarray(u, dtype=float)
        return np.vectorize(self.value, otypes=[float])(u)

    def derivative(self, u: ArrayLike) -> np.ndarray:
        """s'(u) elementwise on an array."""
        u = np.asarray(u, dtype=float)
        return np.vectorize(self.slope, otypes=[float])(u)

    def __repr__(self):
        return f"Activation({self.name!r})"


def activation(name: str, value: Callable[[float], float], slope: Callable[[float], float]) -> Activation:
    """An ``Activation`` from two Python (or numba) scalar functions u -> float.

    They are compiled with numba here (inlined where they are used); a function
    numba cannot compile is refused with ``wgf.jit.KernelCompileError``.
    """
    from numba import float64

    from wgf.jit import check_compiles

    v = jit(getattr(value, "py_func", value), inline="always")
    s = jit(getattr(slope, "py_func", slope), inline="always")
    check_compiles(v, (float64,), f"activation '{name}': value")
    check_compiles(s, (float64,), f"activation '{name}': slope")
    return Activation(name, v, s)


@jit(inline="always")
def _identity(u):
    return u


@jit(inline="always")
def _one(u):
    return 1.0


@jit(inline="always")
def _sigmoid(u):
    return 1.0 / (1.0 + fast_exp(-u))


@jit(inline="always")
def _sigmoid_slope(u):
    s = 1.0 / (1.0 + fast_exp(-u))
    return s * (1.0 - s)


@jit(inline="always")
def _tanh(u):
    return 1.0 - 2.0 / (1.0 + fast_exp(2.0 * u))


@jit(inline="always")
def _tanh_slope(u):
    t = 1.0 - 2.0 / (1.0 + fast_exp(2.0 * u))
    return 1.0 - t * t


@jit(inline="always")
def _relu(u):
    return max(u, 0.0)


@jit(inline="always")
def _relu_slope(u):
    return 1.0 if u > 0.0 else 0.0


@jit(inline="always")
def _softplus(u):
    return max(u, 0.0) + fast_log1p(fast_exp(-abs(u)))


ACTIVATIONS = Registry("activation", "scalar activations s(u) with their slopes s'(u)")


def register_activation(act: Activation, doc: str, *, replace: bool = False) -> Activation:
    """Register ``act`` under its name: ``ACTIVATIONS[name]`` is an entry whose factory is ``act`` (so calling
    the entry gives s(u) on arrays) and whose metadata are the compiled ``value`` and ``slope`` and the
    NumPy-level ``derivative``; ``doc`` is the one-line formula."""
    ACTIVATIONS.add(act.name, act, doc=doc, replace=replace, value=act.value, slope=act.slope,
                    derivative=act.derivative)
    return act


register_activation(Activation("identity", _identity, _one), "s(u) = u")
register_activation(Activation("sigmoid", _sigmoid, _sigmoid_slope), "s(u) = 1 / (1 + e^-u)")
register_activation(Activation("tanh", _tanh, _tanh_slope), "s(u) = tanh(u) = 1 - 2 / (1 + e^2u)")
register_activation(Activation("relu", _relu, _relu_slope), "s(u) = max(u, 0)")
register_activation(Activation("softplus", _softplus, _sigmoid), "s(u) = log(1 + e^u)")


def get_activation(act: str | Activation) -> Activation:
    """An ``Activation`` by name (see ``ACTIVATIONS``), or the one given."""
    if isinstance(act, Activation):
        return act
    return ACTIVATIONS[act].factory
