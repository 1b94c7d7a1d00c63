"""Units sigma_*(x, z): the building block of a shallow model, each defined once.

A shallow model of a measure mu on Z = R^D is Phi_mu(x) = int sigma_*(x, z) dmu(z).
A ``Unit`` is one definition: its parameter layout (dim_x, dim_y, D), its lane
kernels (value and vector-Jacobian product, ``wgf.unit_kernels``), and its group
action M_g (``action(rho_x, rho_y) -> (D, D)``). The particle engine, the PDE
potential, the functionals and the NumPy-level methods below all run those same
kernels; nothing dispatches on the unit's name.

Built-in units (``make_unit``):

- ``matrix`` with an activation s: sigma_*(x, W) = s(W x), z = vec(W), W (dy, dx) row-major;
  M_g z = vec(rhohat_g W rho_g^T) = (rhohat_g kron rho_g) z.
  The names ``linear``, ``sigmoid_matrix``, ``tanh_matrix`` are matrix units with
  the identity, sigmoid and tanh activations.
- ``two_layer`` (hidden width h) with an activation s: sigma_*(x, z) = W s(A^T x + b),
  z = (vec W, vec A, b), W (dy, h), A (dx, h), b (h,); M_g (W, A, b) = (rhohat_g W, rho_g A, b).

User-defined units: ``custom_unit`` (docs/kernels.md). ``Unit`` cannot be
subclassed: a unit is its kernels, so a subclass overriding ``value`` in Python
would not change what the engines run.
"""

from __future__ import annotations

from functools import cached_property, partial
from typing import TYPE_CHECKING

import numpy as np

from wgf.activations import ACTIVATIONS, Activation, get_activation
from wgf.jit import FASTMATH, check_compiles, jit
from wgf.registry import Registry
from wgf.unit_kernels import (WORK_ROWS, KeepKernels, as_columns, gated_lanes, matrix_keep, matrix_lanes,
                              plain_keep, pointwise_lanes, two_layer_keep, two_layer_lanes)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from numba.core.dispatcher import Dispatcher
    from numpy.typing import ArrayLike

    from wgf.unit_sums import UnitSums

__all__ = ["Unit", "make_unit", "custom_unit", "matrix_unit", "two_layer_unit", "gated_matrix_unit", "UNITS", "KernelProbeError",
           "UNIT_NAMES", "UNIT_ALIASES"]


class Unit:
    """One unit sigma_*: R^dx x R^D -> R^dy, its lane kernels and its group action.

    Parameters
    ----------
    name : label used in messages and results
    dim_x, dim_y, dim : dx, dy and D
    value, vjp : lane kernels (``wgf.unit_kernels`` protocol), compiled by ``wgf.jit.jit``
    action : callable (rho_x (dx, dx), rho_y (dy, dy)) -> M_g (D, D)
    blocks : optional index arrays of parameter blocks the unit is additively separable over
        (sigma_*(x, z) = sum_k f_k(x, z_k)); the PDE uses them on full-space grids.
    keep : optional ``wgf.unit_kernels.KeepKernels``: a value pass that keeps what the VJP needs (the
        particle engine's step then computes each pre-activation and activation once); without it the
        engine runs ``value`` and ``vjp`` (docs/kernels.md, "Keeping the forward pass").
    """

    def __init_subclass__(cls, **kwargs):
        raise TypeError("wgf.Unit cannot be subclassed: build a unit with wgf.custom_unit(...) "
                        "(its value and VJP are what the engines run)")

    def __init__(self, name: str, dim_x: int, dim_y: int, dim: int, value: Dispatcher, vjp: Dispatcher,
                 action: Callable[[np.ndarray, np.ndarray], ArrayLike], *, blocks: Sequence[ArrayLike] | None = None,
                 description: str = "", keep: KeepKernels | None = None) -> None:
        self.name = str(name)
        self.dim_x, self.dim_y, self.dim = int(dim_x), int(dim_y), int(dim)
        if min(self.dim_x, self.dim_y, self.dim) < 1:
            raise ValueError(f"unit '{name}': dim_x, dim_y and D must be >= 1")
        self.value_kernel, self.vjp_kernel = value, vjp
        self.keep = plain_keep(value, vjp) if keep is None else keep
        self.keep_rows = int(self.keep.rows(self.dim_x, self.dim_y, self.dim))
        self._action = action
        self.blocks = None if blocks is None else [np.asarray(b, dtype=np.int64) for b in blocks]
        self.description = description
        self.recipe = None  # (factory, args, kwargs) that builds this unit again; set by the factories

    def __reduce__(self):
        """Pickled as the call that built it (``recipe``: a factory of this module and its arguments), so that a
        worker process rebuilds the unit with its own kernels (from the compile cache); a unit built from
        ``Unit(...)`` directly is pickled as its fields, without its compiled sums."""
        if self.recipe is not None:
            factory, args, kwargs = self.recipe
            return partial(factory, **kwargs), tuple(args)
        state = dict(self.__dict__)
        state.pop("sums", None)
        return _new_unit, (), state

    # ------------------------------------------------------------ compiled sums
    @cached_property
    def sums(self) -> UnitSums:
        """The compiled sums over particles of ``wgf.unit_sums`` for this unit."""
        from wgf.unit_sums import make_unit_sums

        return _sums_for(self.value_kernel, self.vjp_kernel, make_unit_sums)

    # ------------------------------------------------------------ NumPy-level
    def value(self, x: ArrayLike, z: ArrayLike) -> np.ndarray:
        """sigma_*(x_b, z_i): x (B, dx), z (N, D) -> (B, N, dy)."""
        x, z = self._check(x, z)
        out = np.empty((x.shape[0], self.dim_y, z.shape[0]))
        self.sums.values(x, as_columns(z), out)
        return np.ascontiguousarray(out.transpose(0, 2, 1))

    def vjp(self, x: ArrayLike, z: ArrayLike, c: ArrayLike) -> np.ndarray:
        """sum_b J_z sigma_*(x_b, z_i)^T c_b: x (B, dx), z (N, D), c (B, dy) or (B, N, dy) -> (N, D)."""
        x, z = self._check(x, z)
        c = np.ascontiguousarray(np.asarray(c, dtype=float))
        if c.shape == (x.shape[0], z.shape[0], self.dim_y):  # one cotangent per (sample, particle)
            return np.concatenate([self.vjp(x, z[i : i + 1], c[:, i]) for i in range(z.shape[0])])
        if c.shape != (x.shape[0], self.dim_y):
            raise ValueError(f"{self.name}: c must have shape ({x.shape[0]}, {self.dim_y}), got {c.shape}")
        out = np.empty((self.dim, z.shape[0]))
        self.sums.vjp_sum(x, as_columns(z), c, out)
        return np.ascontiguousarray(out.T)

    def output(self, x: ArrayLike, z: ArrayLike, weights: ArrayLike | None = None) -> np.ndarray:
        """Phi(x_b) = sum_i w_i sigma_*(x_b, z_i) (w_i = 1/N by default): x (B, dx), z (N, D) -> (B, dy)."""
        x, z = self._check(x, z)
        if weights is None:
            weights = np.full(z.shape[0], 1.0 / z.shape[0])
        weights = np.ascontiguousarray(weights, dtype=float)
        if weights.shape != (z.shape[0],):
            raise ValueError(f"{self.name}: weights must have shape ({z.shape[0]},), got {weights.shape}")
        out = np.empty((x.shape[0], self.dim_y))
        self.sums.weighted_output(x, as_columns(z), weights, out)
        return out

    def action(self, rho_x: ArrayLike, rho_y: ArrayLike) -> np.ndarray:
        """M_g (D, D) for the group element acting by rho_x on X and rho_y on Y."""
        m = np.asarray(self._action(np.asarray(rho_x, dtype=float), np.asarray(rho_y, dtype=float)), dtype=float)
        if m.shape != (self.dim, self.dim):
            raise ValueError(f"unit '{self.name}': action must return a ({self.dim}, {self.dim}) matrix, got {m.shape}")
        return m

    def vjp_error(self, n_samples: int = 8, seed: int = 0, h: float = 1e-6) -> float:
        """Largest relative error of the VJP against central finite differences of the value, on random (x, z, c)."""
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(n_samples, self.dim_x))
        z = rng.normal(scale=0.7, size=(n_samples, self.dim))
        c = rng.normal(size=(n_samples, self.dim_y))
        g = np.stack([self.vjp(x[k : k + 1], z[k : k + 1], c[k : k + 1])[0] for k in range(n_samples)])
        fd = np.empty_like(g)
        for a in range(self.dim):
            e = np.zeros(self.dim)
            e[a] = h
            plus = self.value(x, z + e)[np.arange(n_samples), np.arange(n_samples)]
            minus = self.value(x, z - e)[np.arange(n_samples), np.arange(n_samples)]
            fd[:, a] = np.einsum("ka,ka->k", (plus - minus) / (2 * h), c)
        return float(np.abs(g - fd).max() / max(1.0, np.abs(fd).max()))

    def _check(self, x, z):
        x = np.ascontiguousarray(np.atleast_2d(np.asarray(x, dtype=float)))
        z = np.atleast_2d(np.asarray(z, dtype=float))
        if x.ndim != 2 or x.shape[-1] != self.dim_x:
            raise ValueError(f"{self.name}: x must have shape (B, {self.dim_x}), got {x.shape}")
        if z.ndim != 2 or z.shape[-1] != self.dim:
            raise ValueError(f"{self.name}: z must have shape (N, {self.dim}), got {z.shape}")
        return x, z

    def __repr__(self):
        return f"Unit({self.name!r}, dim_x={self.dim_x}, dim_y={self.dim_y}, D={self.dim})"


def _new_unit():
    return Unit.__new__(Unit)


def _with_recipe(unit: Unit, factory, *args, **kwargs) -> Unit:
    unit.recipe = (factory, args, kwargs)
    return unit


# one set of compiled sums per pair of lane kernels (process-wide; they are pure functions)
_SUMS: dict = {}


def _sums_for(value, vjp, factory):
    key = (value._uuid, vjp._uuid)
    if key not in _SUMS:
        _SUMS[key] = factory(value, vjp)
    return _SUMS[key]


# lane kernels of the built-in families, one pair per activation (and their keeping pairs)
_LANES: dict = {}
_FAMILIES = {"matrix": matrix_lanes, "two_layer": two_layer_lanes, "gated": gated_lanes,
             "matrix_keep": matrix_keep, "two_layer_keep": two_layer_keep}


def _lanes(family: str, act: Activation):
    key = (family, act.value._uuid, act.slope._uuid)
    if key not in _LANES:
        _LANES[key] = _FAMILIES[family](act)
    return _LANES[key]


def _matrix_action(rho_x, rho_y):
    return np.kron(rho_y, rho_x)


def matrix_unit(dim_x: int, dim_y: int, activation: str | Activation = "sigmoid", name: str | None = None) -> Unit:
    """sigma_*(x, W) = s(W x) elementwise, W (dy, dx), z = vec(W) row-major.

    Additively separable over the rows of W: sigma_*(x, z)_i depends on row i only.
    """
    act = get_activation(activation)
    value, vjp = _lanes("matrix", act)
    dim_x, dim_y = int(dim_x), int(dim_y)
    blocks = [np.arange(i * dim_x, (i + 1) * dim_x) for i in range(dim_y)]
    unit = Unit(name or f"matrix[{act.name}]", dim_x, dim_y, dim_x * dim_y, value, vjp, _matrix_action,
                blocks=blocks, description=f"s(W x), s = {act.name}", keep=_lanes("matrix_keep", act))
    return _with_recipe(unit, matrix_unit, dim_x, dim_y, activation, name=name)


def gated_matrix_unit(dim: int, activation: str | Activation = "sigmoid", name: str | None = None) -> Unit:
    """sigma_*(x, W) = s(|W x|^2) W x, W (d, d), z = vec(W) row-major; M_g W = R W R^T.

    Jointly equivariant under O(d) acting on x and y by the same matrices R:
    sigma_*(R x, R W R^T) = s(|R W x|^2) R W x = R sigma_*(x, W).
    """
    act = get_activation(activation)
    value, vjp = _lanes("gated", act)
    d = int(dim)
    unit = Unit(name or f"gated_matrix[{act.name}]", d, d, d * d, value, vjp, _matrix_action,
                description=f"s(|W x|^2) W x, s = {act.name}")
    return _with_recipe(unit, gated_matrix_unit, d, activation, name=name)


def two_layer_unit(dim_x: int, dim_y: int, hidden: int, activation: str | Activation = "sigmoid",
                   name: str | None = None) -> Unit:
    """sigma_*(x, (W, A, b)) = W s(A^T x + b), W (dy, h), A (dx, h), b (h,); z = (vec W, vec A, b)."""
    act = get_activation(activation)
    value, vjp = _lanes("two_layer", act)
    dx, dy, h = int(dim_x), int(dim_y), int(hidden)
    if h < 1:
        raise ValueError("two_layer needs hidden >= 1")

    def action(rho_x, rho_y):
        m = np.zeros((h * (dx + dy + 1),) * 2)
        m[: dy * h, : dy * h] = np.kron(rho_y, np.eye(h))
        m[dy * h : (dy + dx) * h, dy * h : (dy + dx) * h] = np.kron(rho_x, np.eye(h))
        m[(dy + dx) * h :, (dy + dx) * h :] = np.eye(h)
        return m

    # hidden neuron k owns (W[:, k], A[:, k], b[k]): the unit is a sum over these blocks
    blocks = [np.concatenate([np.arange(dy) * h + k, dy * h + np.arange(dx) * h + k, [(dy + dx) * h + k]])
              for k in range(h)]
    unit = Unit(name or f"two_layer[{act.name}]", dx, dy, h * (dx + dy + 1), value, vjp, action, blocks=blocks,
                description=f"W s(A^T x + b), s = {act.name}, h = {h}", keep=_lanes("two_layer_keep", act))
    unit.hidden = h
    return _with_recipe(unit, two_layer_unit, dx, dy, h, activation, name=name)


def custom_unit(name: str, dim_x: int, dim_y: int, dim: int, value: Callable[..., None], vjp: Callable[..., None],
                action: Callable[[np.ndarray, np.ndarray], np.ndarray], *, lanes: bool = False,
                blocks: Sequence[ArrayLike] | None = None, check_vjp: bool = True) -> Unit:
    """A user-defined unit from numba-compilable functions (docs/kernels.md).

    Parameters
    ----------
    name : label of the unit
    dim_x, dim_y, dim : dx, dy and D (the length of z)
    value : ``value(x, z, out)`` writes sigma_*(x, z) into out; x (dx,), z (D,), out (dy,)
    vjp : ``vjp(x, z, c, g)`` adds J_z sigma_*(x, z)^T c into g; c (dy,), g (D,)
    action : ``action(rho_x, rho_y) -> M_g (D, D)`` (NumPy), the intertwining action on Z
    lanes : the functions already have the lane signatures value(x, Z, m, out, work) and
        vjp(x, Z, m, c, G, work) of ``wgf.unit_kernels`` (fastest; how the built-ins are written)
    blocks : optional additive-separability blocks (see ``Unit``)
    check_vjp : refuse a VJP that disagrees with finite differences of the value (rel. error > 1e-5)

    Plain Python functions and numba dispatchers are both accepted; they are
    compiled here, and one that numba cannot compile is refused with a one-line
    ``wgf.jit.KernelCompileError`` naming it.
    """
    from numba import float64, int64, types

    probe_kernels(name, dim_x, dim_y, dim, getattr(value, "py_func", value), getattr(vjp, "py_func", vjp),
                  lanes=lanes)
    opts = dict(inline="always", error_model="numpy", fastmath=FASTMATH)
    v = jit(getattr(value, "py_func", value), **opts)
    g = jit(getattr(vjp, "py_func", vjp), **opts)
    vec, mat = types.float64[:], types.float64[:, :]
    if lanes:
        check_compiles(v, (float64[::1], mat, int64, mat, mat), f"unit '{name}': value")
        check_compiles(g, (float64[::1], mat, int64, float64[::1], mat, mat), f"unit '{name}': vjp")
    else:
        check_compiles(v, (float64[::1], vec, vec), f"unit '{name}': value")
        check_compiles(g, (float64[::1], vec, float64[::1], vec), f"unit '{name}': vjp")
        v, g = pointwise_lanes(v, g, name)
    unit = Unit(name, dim_x, dim_y, dim, v, g, action, blocks=blocks, description="custom")
    if check_vjp:
        err = unit.vjp_error()
        if not err <= 1e-5:
            raise ValueError(f"unit '{name}': the VJP disagrees with finite differences of the value "
                             f"(relative error {err:.2g})")
    # rebuilt from the user's functions where it is unpickled (they pickle by reference: define them in a module)
    return _with_recipe(unit, custom_unit, name, dim_x, dim_y, dim, value, vjp, action, lanes=lanes, blocks=blocks,
                        check_vjp=False)


class KernelProbeError(ValueError):
    """A user kernel that indexes outside its arrays, leaves an output unwritten or writes a non-finite value."""


def probe_kernels(name: str, dim_x: int, dim_y: int, dim: int, value: Callable[..., None],
                  vjp: Callable[..., None], *, lanes: bool = False, probes: int = 2, seed: int = 0) -> None:
    """Run a custom unit's Python functions on random (x, z, c) before they are compiled.

    Compiled code does not check bounds and reads whatever memory an output held before: a kernel
    that indexes outside x (dx,), z (D,), out (dy,), c (dy,), g (D,) (or the lane arrays Z (D, M),
    out (dy, M), G (D, M), work (WORK_ROWS, M)) would corrupt memory or crash, and one that leaves
    an entry of ``out`` unwritten would return garbage. In Python both fail here, before any work:
    every entry of out[:, :m] must be written (checked with two different fill values) and finite,
    and the VJP's g must stay finite. Raises KernelProbeError naming the unit and the entry; a
    function that only numba can run (a TypeError in Python) is left to the compile check.
    """
    rng = np.random.default_rng(seed)
    width, m = 4, 3  # lanes: the kernel must use only the first m of M columns
    for _ in range(probes):
        x, z, c = rng.normal(size=dim_x), rng.normal(scale=0.7, size=dim), rng.normal(size=dim_y)
        outs = []
        for fill in (np.inf, -np.inf):
            if lanes:
                out, work = np.full((dim_y, width), fill), np.full((WORK_ROWS, width), np.nan)
                Z = np.repeat(z[:, None], width, axis=1)
                args = (x, Z, m, out, work)
            else:
                out = np.full(dim_y, fill)
                args = (x, z, out)
            if not _probe_call(name, "value", value, args):
                return
            outs.append(out[:, :m] if lanes else out)
        unwritten = np.flatnonzero(np.isinf(outs[0]) & (outs[0] != outs[1]))
        if unwritten.size:
            where = "out[" + ", ".join(str(int(i)) for i in np.unravel_index(unwritten[0], outs[0].shape)) + "]"
            raise KernelProbeError(f"unit '{name}': value leaves {where} unwritten (every entry of out must be "
                                   "written)")
        if not np.isfinite(outs[0]).all():
            raise KernelProbeError(f"unit '{name}': value writes a non-finite entry at finite x, z (or reads "
                                   "work before writing it)")
        if lanes:
            G, work = np.zeros((dim, width)), np.full((WORK_ROWS, width), np.nan)
            args = (x, np.repeat(z[:, None], width, axis=1), m, c, G, work)
        else:
            G = np.zeros(dim)
            args = (x, z, c, G)
        if not _probe_call(name, "vjp", vjp, args):
            return
        if not np.isfinite(G).all():
            raise KernelProbeError(f"unit '{name}': vjp adds a non-finite entry to g at finite x, z, c (or reads "
                                   "work before writing it)")


def _probe_call(name, which, fn, args) -> bool:
    """fn(*args) in Python: True if it ran, False if only numba can run it; KernelProbeError for an index
    outside its arrays."""
    try:
        with np.errstate(all="ignore"):
            fn(*args)
    except IndexError as e:
        shapes = ", ".join(str(np.shape(a)) for a in args)
        raise KernelProbeError(f"unit '{name}': {which} indexes outside its arrays (shapes {shapes}): {e}") from None
    except Exception:  # numba-only code: the compile check judges it
        return False
    return True


# the activation of matrix, two_layer and gated_matrix units when none is given
DEFAULT_ACTIVATION = "sigmoid"

UNITS = Registry("unit", "built-in units sigma_*(x, z); factory (dim_x, dim_y, hidden, activation) -> Unit")


def _matrix_dim(dim_x, dim_y, hidden=None):
    return dim_x * dim_y


def _check_hidden(name, hidden):
    if hidden is not None:
        raise ValueError(f"unit '{name}': hidden is only used by two_layer")


@UNITS.register("matrix", doc="s(W x), W (dy, dx), z = vec(W); D = dx dy", dim=_matrix_dim, activation=None,
                hidden=False)
def _make_matrix(dim_x, dim_y, hidden=None, activation=None):
    _check_hidden("matrix", hidden)
    return matrix_unit(dim_x, dim_y, activation or DEFAULT_ACTIVATION)


@UNITS.register("two_layer", doc="W s(A^T x + b), W (dy, h), A (dx, h), b (h,); D = h (dx + dy + 1)",
                dim=lambda dim_x, dim_y, hidden=None: (hidden or 1) * (dim_x + dim_y + 1), activation=None,
                hidden=True)
def _make_two_layer(dim_x, dim_y, hidden=None, activation=None):
    if hidden is None or hidden < 1:
        raise ValueError("two_layer needs hidden >= 1")
    return two_layer_unit(dim_x, dim_y, hidden, activation or DEFAULT_ACTIVATION)


@UNITS.register("gated_matrix", doc="s(|W x|^2) W x, W (d, d), O(d)-equivariant; D = d^2",
                dim=lambda dim_x, dim_y, hidden=None: dim_x * dim_x, activation=None, hidden=False)
def _make_gated_matrix(dim_x, dim_y, hidden=None, activation=None):
    _check_hidden("gated_matrix", hidden)
    if dim_x != dim_y:
        raise ValueError(f"gated_matrix maps R^d to R^d: dim_x and dim_y must be equal, got {dim_x} and {dim_y}")
    return gated_matrix_unit(dim_x, activation or DEFAULT_ACTIVATION)


def _alias(name, act, doc):
    """A matrix unit with the fixed activation ``act`` (the historical names)."""

    def make(dim_x, dim_y, hidden=None, activation=None):
        _check_hidden(name, hidden)
        if activation is not None and activation != act:
            raise ValueError(f"unit '{name}' has the {act} activation; "
                             f"use unit = 'matrix' with activation = '{activation}'")
        return matrix_unit(dim_x, dim_y, act, name=name)

    make.__qualname__ = make.__name__ = f"make_{name}"
    UNITS.add(name, make, doc=doc, dim=_matrix_dim, activation=act, hidden=False)


_alias("linear", "identity", "W x (a matrix unit with the identity activation); D = dx dy")
_alias("sigmoid_matrix", "sigmoid", "sigmoid(W x) (a matrix unit with the sigmoid activation); D = dx dy")
_alias("tanh_matrix", "tanh", "tanh(W x) (a matrix unit with the tanh activation); D = dx dy")

# views of UNITS: every name, and the names with a fixed activation
UNIT_NAMES = UNITS
UNIT_ALIASES = {name: e.activation for name, e in UNITS.items() if e.activation is not None}


def make_unit(name: str, dim_x: int, dim_y: int, hidden: int | None = None, activation: str | None = None) -> Unit:
    """Built-in unit by name (see ``UNITS``); ``hidden`` for two_layer only; ``activation`` for
    matrix, two_layer and gated_matrix (default sigmoid; the aliases fix it)."""
    entry = UNITS[name]
    if dim_x < 1 or dim_y < 1:
        raise ValueError("dim_x and dim_y must be >= 1")
    if activation is not None:
        ACTIVATIONS[activation]  # an unknown name is refused with the registry's message
    if hidden is not None and not entry.hidden:
        hidden = None  # historical: hidden is ignored by the units without a hidden layer
    return entry(dim_x, dim_y, hidden, activation)
