"""The lane kernels of units: sigma_*(x, z) and its VJP on a chunk of particles at once.

Every unit, built-in or user-defined, is given to the engines as two compiled
functions with one protocol (docs/kernels.md). The parameters of M particles
are the columns of Z (D, M) ("lanes"); only the first m columns are used:

- ``value(x, Z, m, out, work)``: out[:, i] = sigma_*(x, Z[:, i]),            x (dx,), out (dy, M)
- ``vjp(x, Z, m, c, G, work)``:   G[:, i] += J_z sigma_*(x, Z[:, i])^T c,     c (dy,), G (D, M)

Optionally a unit also has a *keeping pair* that shares one pass between the two (the particle
engine calls it; docs/kernels.md, "Keeping the forward pass"):

- ``value_keep(x, Z, m, out, keep, work)``: out as ``value``, and keep (K, M) what the VJP needs
- ``vjp_kept(x, Z, m, c, G, keep, work)``:   G as ``vjp``, from keep (filled at the same x and Z)

with K = ``keep_rows(dx, dy, D)`` rows; each returns bitwise what ``value`` and ``vjp`` return.

``work`` (WORK_ROWS, M) is scratch space owned by the caller. The loops run over
the particles innermost so that they compile to SIMD code. The factories below
write these functions once per family, specialized to an activation:

- ``matrix_lanes(act)``:    sigma_*(x, W) = s(W x),       z = vec(W), W (dy, dx) row-major
- ``two_layer_lanes(act)``: sigma_*(x, z) = W s(A^T x + b), z = (vec W (dy, h), vec A (dx, h), b (h,))
- ``gated_lanes(act)``:     sigma_*(x, W) = s(|W x|^2) W x, W (d, d) row-major (equivariant under O(d))
- ``pointwise_lanes(value, vjp)``: lanes from per-particle functions value(x, z, out) and
  vjp(x, z, c, g) (g += J^T c), for units written one particle at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from wgf.jit import FASTMATH, jit

if TYPE_CHECKING:
    from numba.core.dispatcher import Dispatcher

    from wgf.activations import Activation

__all__ = ["WORK_ROWS", "matrix_lanes", "two_layer_lanes", "gated_lanes", "pointwise_lanes", "lane_sum",
           "KeepKernels", "matrix_keep", "two_layer_keep", "plain_keep"]

# rows of scratch space every lane kernel may use
WORK_ROWS = 3

_KERNEL = dict(inline="always", error_model="numpy", fastmath=FASTMATH)


@jit(error_model="numpy", fastmath={"reassoc": True, "contract": True, "nsz": True, "arcp": True})
def lane_sum(u, m):
    """sum_{i < m} u[i], vectorised (a separately compiled function: its fixed summation order is the same
    on every call and for any number of threads)."""
    s = 0.0
    for i in range(m):
        s += u[i]
    return s


@jit(**_KERNEL)
def matrix_preactivation(x, Z, m, a, u):
    """u[i] = (W_i x)_a = sum_j Z[a dx + j, i] x[j] for the lanes i < m of a matrix unit."""
    dx = x.shape[0]
    for i in range(m):
        u[i] = 0.0
    for j in range(dx):
        xj = x[j]
        zr = Z[a * dx + j]
        for i in range(m):
            u[i] += zr[i] * xj


@jit(**_KERNEL)
def hidden_preactivation(x, Z, m, k, h, u):
    """u[i] = (A_i^T x + b_i)_k for the lanes i < m of a two_layer unit with h hidden units."""
    dx = x.shape[0]
    oa = Z.shape[0] - (dx + 1) * h
    ob = oa + dx * h
    bk = Z[ob + k]
    for i in range(m):
        u[i] = bk[i]
    for j in range(dx):
        xj = x[j]
        ar = Z[oa + j * h + k]
        for i in range(m):
            u[i] += ar[i] * xj


@jit(**_KERNEL)
def add_outer_row(x, u, m, a, G):
    """G[a dx + j, i] += u[i] x[j] for the lanes i < m: row a of W gets u x^T (a matrix unit's VJP)."""
    dx = x.shape[0]
    for j in range(dx):
        xj = x[j]
        gr = G[a * dx + j]
        for i in range(m):
            gr[i] += u[i] * xj


@jit(**_KERNEL)
def add_hidden_output(Z, m, k, h, u, out):
    """out[a, i] += W_i[a, k] u[i] for the lanes i < m of a two_layer unit: hidden unit k's output."""
    for a in range(out.shape[0]):
        wr = Z[a * h + k]
        orow = out[a]
        for i in range(m):
            orow[i] += wr[i] * u[i]


@jit(**_KERNEL)
def hidden_cotangent(Z, c, m, k, h, d):
    """d[i] = sum_a W_i[a, k] c[a] for the lanes i < m of a two_layer unit (W (dy, h) first in z)."""
    for i in range(m):
        d[i] = 0.0
    for a in range(c.shape[0]):
        ca = c[a]
        wr = Z[a * h + k]
        for i in range(m):
            d[i] += wr[i] * ca


@jit(**_KERNEL)
def add_hidden_grad(x, c, m, k, h, u, d, G):
    """G += the gradient through hidden unit k of a two_layer unit: W[:, k] += c u, A[:, k] += x d, b[k] += d
    for the lanes i < m (u = s(A^T x + b)_k, d = s'(A^T x + b)_k (W^T c)_k)."""
    dx, dy = x.shape[0], c.shape[0]
    oa, ob = dy * h, dy * h + dx * h
    for a in range(dy):
        ca = c[a]
        gr = G[a * h + k]
        for i in range(m):
            gr[i] += ca * u[i]
    for j in range(dx):
        xj = x[j]
        gr = G[oa + j * h + k]
        for i in range(m):
            gr[i] += d[i] * xj
    gb = G[ob + k]
    for i in range(m):
        gb[i] += d[i]


def _compiled(value, vjp, family: str, act, names=("value", "vjp")):
    """The lane kernels, named after their family and activation, compiled inline."""
    value.__qualname__ = value.__name__ = f"{family}_{act.name}_{names[0]}"
    vjp.__qualname__ = vjp.__name__ = f"{family}_{act.name}_{names[1]}"
    return jit(value, **_KERNEL), jit(vjp, **_KERNEL)


class KeepKernels(NamedTuple):
    """A unit's keeping pair (module docstring): ``rows(dx, dy, D)`` rows of keep per lane."""

    rows: object
    value_keep: object
    vjp_kept: object


def _matrix_keep_rows(dx, dy, dim):
    return dy


def _two_layer_keep_rows(dx, dy, dim):
    return 2 * (dim // (dx + dy + 1))


def matrix_lanes(act: Activation) -> tuple[Dispatcher, Dispatcher]:
    """(value, vjp) lane kernels of sigma_*(x, W) = s(W x) for the activation ``act``."""
    s, ds = act.value, act.slope

    def value(x, Z, m, out, work):
        for a in range(out.shape[0]):
            row = out[a]
            matrix_preactivation(x, Z, m, a, row)
            for i in range(m):
                row[i] = s(row[i])

    def vjp(x, Z, m, c, G, work):
        u = work[0]
        for a in range(c.shape[0]):
            ca = c[a]
            matrix_preactivation(x, Z, m, a, u)
            for i in range(m):
                u[i] = ds(u[i]) * ca
            add_outer_row(x, u, m, a, G)

    return _compiled(value, vjp, "matrix", act)


def two_layer_lanes(act: Activation) -> tuple[Dispatcher, Dispatcher]:
    """(value, vjp) lane kernels of sigma_*(x, z) = W s(A^T x + b) for the activation ``act``."""
    s, ds = act.value, act.slope

    def value(x, Z, m, out, work):
        dx, dy = x.shape[0], out.shape[0]
        h = Z.shape[0] // (dx + dy + 1)
        u = work[0]
        for a in range(dy):
            for i in range(m):
                out[a, i] = 0.0
        for k in range(h):
            hidden_preactivation(x, Z, m, k, h, u)
            for i in range(m):
                u[i] = s(u[i])
            add_hidden_output(Z, m, k, h, u, out)

    def vjp(x, Z, m, c, G, work):
        dx, dy = x.shape[0], c.shape[0]
        h = Z.shape[0] // (dx + dy + 1)
        u, d = work[0], work[1]
        for k in range(h):
            hidden_preactivation(x, Z, m, k, h, u)
            hidden_cotangent(Z, c, m, k, h, d)
            for i in range(m):
                d[i] *= ds(u[i])
                u[i] = s(u[i])
            add_hidden_grad(x, c, m, k, h, u, d, G)

    return _compiled(value, vjp, "two_layer", act)


def gated_lanes(act: Activation) -> tuple[Dispatcher, Dispatcher]:
    """(value, vjp) lane kernels of sigma_*(x, W) = s(q) v with v = W x, q = |v|^2, for the activation ``act``.

    J_W^T c = [s(q) c + 2 s'(q) (c . v) v] x^T.
    """
    s, ds = act.value, act.slope

    def value(x, Z, m, out, work):
        q = work[0]
        for i in range(m):
            q[i] = 0.0
        for a in range(out.shape[0]):
            row = out[a]
            matrix_preactivation(x, Z, m, a, row)
            for i in range(m):
                q[i] += row[i] * row[i]
        for i in range(m):
            q[i] = s(q[i])
        for a in range(out.shape[0]):
            row = out[a]
            for i in range(m):
                row[i] *= q[i]

    def vjp(x, Z, m, c, G, work):
        q, cv, u = work[0], work[1], work[2]
        for i in range(m):
            q[i] = 0.0
            cv[i] = 0.0
        for a in range(c.shape[0]):
            ca = c[a]
            matrix_preactivation(x, Z, m, a, u)
            for i in range(m):
                q[i] += u[i] * u[i]
                cv[i] += ca * u[i]
        for i in range(m):  # q <- s(q), cv <- 2 s'(q) (c . v)
            sq = s(q[i])
            cv[i] = 2.0 * ds(q[i]) * cv[i]
            q[i] = sq
        for a in range(c.shape[0]):
            ca = c[a]
            matrix_preactivation(x, Z, m, a, u)
            for i in range(m):
                u[i] = q[i] * ca + cv[i] * u[i]
            add_outer_row(x, u, m, a, G)

    return _compiled(value, vjp, "gated", act)


def matrix_keep(act: Activation) -> KeepKernels:
    """Keeping pair of sigma_*(x, W) = s(W x): keep[a] = s'((W x)_a), so the VJP computes neither the
    pre-activation nor s' again (for sigmoid and tanh: no exponential, no division)."""
    s, ds = act.value, act.slope

    def value_keep(x, Z, m, out, keep, work):
        for a in range(out.shape[0]):
            row, kr = out[a], keep[a]
            matrix_preactivation(x, Z, m, a, row)
            for i in range(m):
                u = row[i]
                row[i] = s(u)
                kr[i] = ds(u)

    def vjp_kept(x, Z, m, c, G, keep, work):
        u = work[0]
        for a in range(c.shape[0]):
            ca, kr = c[a], keep[a]
            for i in range(m):
                u[i] = kr[i] * ca
            add_outer_row(x, u, m, a, G)

    return KeepKernels(_matrix_keep_rows, *_compiled(value_keep, vjp_kept, "matrix", act, ("value_keep", "vjp_kept")))


def two_layer_keep(act: Activation) -> KeepKernels:
    """Keeping pair of sigma_*(x, z) = W s(A^T x + b): keep[k] = s(u_k), keep[h + k] = s'(u_k), u = A^T x + b."""
    s, ds = act.value, act.slope

    def value_keep(x, Z, m, out, keep, work):
        dx, dy = x.shape[0], out.shape[0]
        h = Z.shape[0] // (dx + dy + 1)
        for a in range(dy):
            for i in range(m):
                out[a, i] = 0.0
        for k in range(h):
            u, d = keep[k], keep[h + k]
            hidden_preactivation(x, Z, m, k, h, u)
            for i in range(m):
                d[i] = ds(u[i])
                u[i] = s(u[i])
            add_hidden_output(Z, m, k, h, u, out)

    def vjp_kept(x, Z, m, c, G, keep, work):
        dx, dy = x.shape[0], c.shape[0]
        h = Z.shape[0] // (dx + dy + 1)
        d = work[1]
        for k in range(h):
            u, dk = keep[k], keep[h + k]
            hidden_cotangent(Z, c, m, k, h, d)
            for i in range(m):
                d[i] *= dk[i]
            add_hidden_grad(x, c, m, k, h, u, d, G)

    return KeepKernels(_two_layer_keep_rows,
                       *_compiled(value_keep, vjp_kept, "two_layer", act, ("value_keep", "vjp_kept")))


def _no_keep_rows(dx, dy, dim):
    return 0


_PLAIN: dict = {}


def plain_keep(value: Dispatcher, vjp: Dispatcher) -> KeepKernels:
    """The keeping pair of a unit without one: ``value`` and ``vjp`` themselves, keeping nothing (K = 0)."""
    key = (value._uuid, vjp._uuid)
    if key not in _PLAIN:
        _PLAIN[key] = _plain_keep(value, vjp)
    return _PLAIN[key]


def _plain_keep(value, vjp):

    def value_keep(x, Z, m, out, keep, work):
        value(x, Z, m, out, work)

    def vjp_kept(x, Z, m, c, G, keep, work):
        vjp(x, Z, m, c, G, work)

    value_keep.__qualname__ = value_keep.__name__ = f"{value.py_func.__name__}_keep"
    vjp_kept.__qualname__ = vjp_kept.__name__ = f"{vjp.py_func.__name__}_kept"
    return KeepKernels(_no_keep_rows, jit(value_keep, **_KERNEL), jit(vjp_kept, **_KERNEL))


def pointwise_lanes(value1: Dispatcher, vjp1: Dispatcher, name: str) -> tuple[Dispatcher, Dispatcher]:
    """(value, vjp) lane kernels that call per-particle functions on each column.

    ``value1(x, z, out)`` writes sigma_*(x, z) into out (dy,); ``vjp1(x, z, c, g)``
    adds J_z sigma_*(x, z)^T c into g (D,). z, out and g are column views of the lanes.
    """

    def value(x, Z, m, out, work):
        for i in range(m):
            value1(x, Z[:, i], out[:, i])

    def vjp(x, Z, m, c, G, work):
        for i in range(m):
            vjp1(x, Z[:, i], c, G[:, i])

    value.__qualname__ = value.__name__ = f"{name}_value_lanes"
    vjp.__qualname__ = vjp.__name__ = f"{name}_vjp_lanes"
    return jit(value, **_KERNEL), jit(vjp, **_KERNEL)


def as_columns(z) -> np.ndarray:
    """z (N, D) -> Z (D, N) C-contiguous: the lane layout."""
    return np.ascontiguousarray(np.asarray(z, dtype=float).T)
