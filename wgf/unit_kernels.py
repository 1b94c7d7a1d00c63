"""The lane kernels of units: sigma_*(x, z) and its VJP on a chunk of particles at once.

Every unit, built-in or user-defined, is given to the engines as two compiled
functions with one protocol (docs/kernels.md). The parameters of M particles
are the columns of Z (D, M) ("lanes"); only the first m columns are used:

- ``value(x, Z, m, out, work)``: out[:, i] = sigma_*(x, Z[:, i]),            x (dx,), out (dy, M)
- ``vjp(x, Z, m, c, G, work)``:   G[:, i] += J_z sigma_*(x, Z[:, i])^T c,     c (dy,), G (D, M)

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

from typing import TYPE_CHECKING

import numpy as np

from wgf.jit import FASTMATH, jit

if TYPE_CHECKING:
    from numba.core.dispatcher import Dispatcher

    from wgf.activations import Activation

__all__ = ["WORK_ROWS", "matrix_lanes", "two_layer_lanes", "gated_lanes", "pointwise_lanes", "lane_sum"]

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


def _compiled(value, vjp, family: str, act):
    """The lane kernels, named after their family and activation, compiled inline."""
    value.__qualname__ = value.__name__ = f"{family}_{act.name}_value"
    vjp.__qualname__ = vjp.__name__ = f"{family}_{act.name}_vjp"
    return jit(value, **_KERNEL), jit(vjp, **_KERNEL)


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
            for a in range(dy):
                wr = Z[a * h + k]
                orow = out[a]
                for i in range(m):
                    orow[i] += wr[i] * u[i]

    def vjp(x, Z, m, c, G, work):
        dx, dy = x.shape[0], c.shape[0]
        h = Z.shape[0] // (dx + dy + 1)
        oa, ob = dy * h, dy * h + dx * h
        u, d = work[0], work[1]
        for k in range(h):
            hidden_preactivation(x, Z, m, k, h, u)
            for i in range(m):
                d[i] = 0.0
            for a in range(dy):
                ca = c[a]
                wr = Z[a * h + k]
                for i in range(m):
                    d[i] += wr[i] * ca
            for i in range(m):
                d[i] *= ds(u[i])
                u[i] = s(u[i])
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
