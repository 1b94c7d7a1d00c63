r"""Convex losses :math:`\ell(\hat y, y)`, summed over the output components, with their gradients in
:math:`\hat y`.

Each loss is a pair of compiled scalar functions of one output component and a
parameter p, shared by the particle engine, the PDE potential and the
functionals:

- ``value(yhat, y, p)``: :math:`\ell_a`; the loss is :math:`\ell(\hat y, y) = \sum_a \ell_a(\hat y_a, y_a)`
- ``grad(yhat, y, p)``: :math:`\partial \ell_a / \partial \hat y_a`

============  =============================================================================  ========
name          :math:`\ell_a(\hat y, y)`                                                      :math:`\partial \ell_a / \partial \hat y`
============  =============================================================================  ========
``squared``   :math:`(\hat y - y)^2`                                                         :math:`2 (\hat y - y)`
``logistic``  :math:`\log(1 + e^{-y \hat y})`, labels :math:`y = \pm 1`                      :math:`-y\, \mathrm{sigmoid}(-y \hat y)`
``huber``     :math:`r^2/2` if :math:`|r| \le \delta`, else :math:`\delta (|r| - \delta/2)`  :math:`\mathrm{clip}(r, -\delta, \delta)`
============  =============================================================================  ========

with :math:`r = \hat y - y` for huber.

With the logistic loss the labels are the signs of the teacher's output (+1
where it is 0). The first variation of the risk uses ``grad``:
:math:`\frac{\delta R}{\delta \mu}(\mu, z) = \mathbb E_\pi \langle \nabla \ell(\Phi_\mu(X), Y), \sigma(X, z) \rangle`.

Invariance under the label action (docs/groups.md): :math:`\ell(Q \hat y, Q y) = \ell(\hat y, y)` for
every orthogonal :math:`Q` for the squared loss (:math:`|Q r|^2 = |r|^2`); a componentwise loss with one
:math:`\ell_a` for every component is invariant under permutations of the components, and under
sign flips too when :math:`\ell_a(-\hat y, -y) = \ell_a(\hat y, y)` (huber: a function of
:math:`|\hat y - y|`; logistic: of :math:`y \hat y`), so under signed permutations, and under no other
orthogonal :math:`Q` (huber's :math:`|r| \to \infty` limit is :math:`\delta \|r\|_1`, whose isometries are
the signed permutations). Labels :math:`\pm 1` stay :math:`\pm 1` under :math:`Q` exactly for the signed
permutations. Each loss's entry names that class (``label_invariance``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from math import exp, log1p
from typing import TYPE_CHECKING

import numpy as np

from wgf.groups import ACTION_CLASSES
from wgf.jit import KERNEL_OPTIONS, jit
from wgf.registry import Registry

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["Loss", "LOSSES", "LABELS", "make_loss"]


@jit(**KERNEL_OPTIONS)
def _squared(yhat, y, p):
    r = yhat - y
    return r * r


@jit(**KERNEL_OPTIONS)
def _squared_grad(yhat, y, p):
    return 2.0 * (yhat - y)


@jit(**KERNEL_OPTIONS)
def _logistic(yhat, y, p):
    m = -y * yhat
    return max(m, 0.0) + log1p(exp(-abs(m)))


@jit(**KERNEL_OPTIONS)
def _logistic_grad(yhat, y, p):
    m = -y * yhat
    if m >= 0.0:
        s = 1.0 / (1.0 + exp(-m))
    else:
        e = exp(m)
        s = e / (1.0 + e)
    return -y * s


@jit(**KERNEL_OPTIONS)
def _huber(yhat, y, p):
    r = abs(yhat - y)
    return 0.5 * r * r if r <= p else p * (r - 0.5 * p)


@jit(**KERNEL_OPTIONS)
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


LABELS = ("real", "sign")
# the label actions that keep each convention's label set: any orthogonal Q keeps R^dy, only the signed
# permutations map {-1, 1}^dy into itself (Q e_j = (Q s - Q s') / 2 for signs s, s' differing at j)
LABEL_SETS_KEPT_BY = {"real": "orthogonal", "sign": "signed_permutation"}


@dataclass(frozen=True, eq=False)
class Loss:
    r"""A convex loss (module docstring); ``param`` is its parameter (huber's delta; unused otherwise).

    ``convention``: the labels it trains on, "real" (the teacher's output) or "sign" (its signs, +-1); ``param_name``:
    the config key of ``param`` or None; ``additive_noise``: label noise enters the risk as the constant
    :math:`\mathbb E|\eta|^2` (the squared loss); ``label_invariance``: the largest class of label actions
    :math:`Q` (``ACTION_CLASSES``) with :math:`\ell(Q \hat y, Q y) = \ell(\hat y, y)` (module docstring).
    ``make_loss`` sets these from the loss's entry in ``LOSSES``.
    """

    name: str
    value_kernel: object
    grad_kernel: object
    param: float = 0.0
    convention: str = "real"
    param_name: str | None = None
    additive_noise: bool = False
    label_invariance: str = "permutation"

    @property
    def sign_labels(self) -> bool:
        """Labels are the signs of the teacher's output (``convention == "sign"``, the logistic loss)."""
        return self.convention == "sign"

    def invariant_under(self, action: str) -> bool:
        """l(Q yhat, Q y) = l(yhat, y) for every Q of a label action of class ``action`` (``ACTION_CLASSES``)."""
        return ACTION_CLASSES.index(action) <= ACTION_CLASSES.index(self.label_invariance)

    def labels_kept_by(self, action: str) -> bool:
        """A label action of class ``action`` maps the labels the loss trains on to such labels (+-1 to +-1)."""
        return ACTION_CLASSES.index(action) <= ACTION_CLASSES.index(LABEL_SETS_KEPT_BY[self.convention])

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
        """The labels the loss trains on, from the teacher's output f (..., dy): sign(f) (+1 at 0) for sign
        labels, f itself for real labels."""
        f = np.asarray(f, dtype=float)
        return np.where(f >= 0.0, 1.0, -1.0) if self.sign_labels else f

    def __repr__(self):
        return f"Loss({self.name!r}" + (f", {self.param_name}={self.param:g})" if self.param_name else ")")


LOSSES = Registry("loss", "convex losses l(yhat, y) = sum_a l_a(yhat_a, y_a); factory (**param) -> Loss")


@LOSSES.register("squared", doc="(yhat - y)^2", labels="real", componentwise=True, param=None, additive_noise=True,
                 label_invariance="orthogonal")
def _make_squared():
    return Loss("squared", _squared, _squared_grad)


@LOSSES.register("logistic", doc="log(1 + exp(-y yhat)), labels y = +-1 (signs of the teacher)", labels="sign",
                 componentwise=True, param=None, additive_noise=False, label_invariance="signed_permutation")
def _make_logistic():
    return Loss("logistic", _logistic, _logistic_grad)


@LOSSES.register("huber", doc="r^2 / 2 if |r| <= delta else delta (|r| - delta / 2), r = yhat - y",
                 labels="real", componentwise=True, param="huber_delta", additive_noise=False,
                 label_invariance="signed_permutation")
def _make_huber(huber_delta=1.0):
    if not (np.isfinite(huber_delta) and huber_delta > 0):
        raise ValueError(f"huber_delta must be finite and > 0, got {huber_delta!r}")
    return Loss("huber", _huber, _huber_grad, float(huber_delta))


def make_loss(name: str = "squared", huber_delta: float = 1.0, **params: float) -> Loss:
    """The loss ``name`` (one of ``LOSSES``), built by its entry's factory with the parameter it names
    (``huber_delta`` > 0 for huber) and stamped with the entry's label convention."""
    entry = LOSSES[name]
    if not entry.meta.get("componentwise", True):
        raise ValueError(f"loss {name!r}: the engines need a componentwise loss, l = sum_a l_a(yhat_a, y_a)")
    params = {"huber_delta": huber_delta, **params}
    key = entry.meta.get("param")
    loss = entry(**({key: params[key]} if key in params else {}))
    return replace(loss, name=name, convention=entry.meta.get("labels", "real"), param_name=key,
                   additive_noise=bool(entry.meta.get("additive_noise", False)),
                   label_invariance=entry.meta.get("label_invariance", "permutation"))
