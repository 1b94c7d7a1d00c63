"""Numba kernels of the units and of their scheme transforms (one sample, one particle).

Everything here is a small pure ``@njit(cache=True)`` function on 1D arrays:

- ``unit_value(kind, x, z, out)``: out = sigma_*(x, z), x (dx,), z (D,), out (dy,)
- ``unit_vjp_add(kind, x, z, c, g)``: g += J_z sigma_*(x, z)^T c, c (dy,), g (D,)

``kind`` is one of the integer codes below. Parameter layouts (row-major):

- matrix units (linear, sigmoid_matrix, tanh_matrix): z[i*dx + j] = W[i, j], W (dy, dx)
- two_layer: z = (W (dy, h), A (dx, h), b (h,)) concatenated, each row-major.

A *scheme unit* (SPEC section 3) is a base unit seen through feature/label maps
and a parameter projector (``variant`` says which of the two it has):

    sigma(x, z) = (1/K) sum_k Rout_k sigma_*(Rin_k x, P z)

with Rin (K, dx, dx), Rout (K, dy, dy), P (D, D). K = 0 means "no maps"
(Rin = Rout = I, K = 1) and P of shape (0, 0) means "no projector" (P = I).
``scheme_value`` evaluates it with caller-provided work buffers (the grid
solver's potential; the particle engine applies the maps and P at the level of
its batch instead, see ``wgf.particles.kernels``).

For the matrix units the particle engine also works on a chunk of particles at
once, their parameters as the columns of zT (D, M) ("lanes"):

- ``lanes_value_sum(kind, zT, m, x, out, work)``: out = sum_{i<m} sigma_*(x, z_i)
- ``lanes_vjp_add(kind, zT, m, x, c, gT, work)``: gT[:, i] += J_z sigma_*(x, z_i)^T c

The loops run over the particles innermost, with the vectorisable exp of
``wgf.vector_math``, so they compile to SIMD code.
"""

from math import exp, tanh

import numpy as np
from numba import njit

from .vector_math import fast_exp

LINEAR = 0
SIGMOID_MATRIX = 1
TANH_MATRIX = 2
TWO_LAYER = 3

# code paths of a scheme unit
PLAIN = 0  # no maps, no projector: sigma_* itself
MAPS = 1  # feature/label maps, no projector
PROJECTED = 2  # a parameter projector (maps optional)


def variant_of(rin, proj) -> int:
    """The code path for maps ``rin`` (K, dx, dx) and projector ``proj`` ((D, D) or (0, 0))."""
    if proj.shape[0] > 0:
        return PROJECTED
    return MAPS if rin.shape[0] > 0 else PLAIN


@njit(cache=True, inline="always")
def sigmoid(u):
    """Logistic sigmoid 1 / (1 + exp(-u)); exp overflows to inf for u < -709, giving exactly 0."""
    return 1.0 / (1.0 + exp(-u))


@njit(cache=True, inline="always")
def _activation(kind, u):
    if kind == SIGMOID_MATRIX:
        return sigmoid(u)
    if kind == TANH_MATRIX:
        return tanh(u)
    return u


@njit(cache=True, inline="always")
def _activation_slope(kind, a):
    """Derivative of the activation written with its value a."""
    if kind == SIGMOID_MATRIX:
        return a * (1.0 - a)
    if kind == TANH_MATRIX:
        return 1.0 - a * a
    return 1.0


@njit(cache=True, inline="always")
def _matrix_value(kind, x, z, out):
    dx = x.shape[0]
    for i in range(out.shape[0]):
        u = 0.0
        for j in range(dx):
            u += z[i * dx + j] * x[j]
        out[i] = _activation(kind, u)


@njit(cache=True, inline="always")
def _matrix_vjp_add(kind, x, z, c, g):
    dx = x.shape[0]
    for i in range(c.shape[0]):
        u = 0.0
        for j in range(dx):
            u += z[i * dx + j] * x[j]
        d = _activation_slope(kind, _activation(kind, u)) * c[i]
        for j in range(dx):
            g[i * dx + j] += d * x[j]


@njit(cache=True, inline="always")
def _two_layer_value(x, z, out):
    dx, dy = x.shape[0], out.shape[0]
    h = z.shape[0] // (dx + dy + 1)
    oa, ob = dy * h, dy * h + dx * h
    for i in range(dy):
        out[i] = 0.0
    for k in range(h):
        u = z[ob + k]
        for j in range(dx):
            u += z[oa + j * h + k] * x[j]
        a = sigmoid(u)
        for i in range(dy):
            out[i] += z[i * h + k] * a


@njit(cache=True, inline="always")
def _two_layer_vjp_add(x, z, c, g):
    dx, dy = x.shape[0], c.shape[0]
    h = z.shape[0] // (dx + dy + 1)
    oa, ob = dy * h, dy * h + dx * h
    for k in range(h):
        u = z[ob + k]
        for j in range(dx):
            u += z[oa + j * h + k] * x[j]
        a = sigmoid(u)
        back = 0.0
        for i in range(dy):
            g[i * h + k] += c[i] * a
            back += z[i * h + k] * c[i]
        d = back * a * (1.0 - a)
        for j in range(dx):
            g[oa + j * h + k] += d * x[j]
        g[ob + k] += d


@njit(cache=True, inline="always")
def unit_value(kind, x, z, out):
    """out[:] = sigma_*(x, z) for the base unit ``kind``."""
    if kind == TWO_LAYER:
        _two_layer_value(x, z, out)
    else:
        _matrix_value(kind, x, z, out)


@njit(cache=True, inline="always")
def unit_vjp_add(kind, x, z, c, g):
    """g[:] += J_z sigma_*(x, z)^T c for the base unit ``kind``."""
    if kind == TWO_LAYER:
        _two_layer_vjp_add(x, z, c, g)
    else:
        _matrix_vjp_add(kind, x, z, c, g)


@njit(cache=True, inline="always")
def _matvec(a, v, out):
    for i in range(a.shape[0]):
        s = 0.0
        for j in range(a.shape[1]):
            s += a[i, j] * v[j]
        out[i] = s


@njit(cache=True, inline="always")
def _maps_value(kind, rin, rout, x, z, out, xbuf, ybuf):
    n_maps = rin.shape[0]
    if n_maps == 0:
        unit_value(kind, x, z, out)
        return
    for i in range(out.shape[0]):
        out[i] = 0.0
    for k in range(n_maps):
        _matvec(rin[k], x, xbuf)
        unit_value(kind, xbuf, z, ybuf)
        for i in range(out.shape[0]):
            s = 0.0
            for j in range(ybuf.shape[0]):
                s += rout[k, i, j] * ybuf[j]
            out[i] += s / n_maps


@njit(cache=True, inline="always")
def scheme_value(variant, kind, rin, rout, proj, x, z, out, xbuf, zbuf, ybuf):
    """out[:] = (1/K) sum_k Rout_k sigma_*(Rin_k x, P z).

    ``variant`` (PLAIN, MAPS or PROJECTED, see ``variant_of``) selects the code
    path; callers that know it at compile time get only that path.
    Work buffers: xbuf (dx,), zbuf (D,), ybuf (dy,).
    """
    if variant == PROJECTED:
        _matvec(proj, z, zbuf)
        _maps_value(kind, rin, rout, x, zbuf, out, xbuf, ybuf)
    elif variant == MAPS:
        _maps_value(kind, rin, rout, x, z, out, xbuf, ybuf)
    else:
        unit_value(kind, x, z, out)


@njit(cache=True)
def model_output(variant, kind, rin, rout, proj, x, z, weights, out):
    """Phi(x_b) = sum_i w_i sigma(x_b, z_i) for all b.

    x (B, dx), z (N, D), weights (N,), out (B, dy). Serial, summed in particle order.
    """
    dx, dy, dim = x.shape[1], out.shape[1], z.shape[1]
    xbuf, zbuf, ybuf, val = np.empty(dx), np.empty(dim), np.empty(dy), np.empty(dy)
    out[:] = 0.0
    for b in range(x.shape[0]):
        for i in range(z.shape[0]):
            scheme_value(variant, kind, rin, rout, proj, x[b], z[i], val, xbuf, zbuf, ybuf)
            for a in range(dy):
                out[b, a] += weights[i] * val[a]


# ----------------------------------------------------------------------------- a chunk of particles, one row


@njit(cache=True)
def lanes_work(m):
    """Work buffer of ``lanes_value_sum`` / ``lanes_vjp_add`` for up to m particles."""
    return np.empty(m)


@njit(cache=True, inline="always")
def _lanes_preactivation(zT, m, a, x, u):
    """u[i] = sum_j W_i[a, j] x[j] for particles i < m, zT (D, M) their parameters as columns."""
    dx = x.shape[0]
    for i in range(m):
        u[i] = 0.0
    for j in range(dx):
        xj = x[j]
        row = zT[a * dx + j]
        for i in range(m):
            u[i] += row[i] * xj


@njit(cache=True, inline="always")
def _lanes_activate(kind, u, m):
    """u <- act(u): sigmoid = 1 / (1 + e^-u), tanh = 1 - 2 / (1 + e^2u), linear = u."""
    if kind == SIGMOID_MATRIX:
        for i in range(m):
            u[i] = 1.0 / (1.0 + fast_exp(-u[i]))
    elif kind == TANH_MATRIX:
        for i in range(m):
            u[i] = 1.0 - 2.0 / (1.0 + fast_exp(2.0 * u[i]))


@njit(cache=True, inline="always")
def lanes_value_sum(kind, zT, m, x, out, work):
    """out[a] = sum_{i < m} sigma_*(x, z_i)_a for a matrix unit; zT (D, M) holds z_i as columns, x (dx,)."""
    u = work
    for a in range(out.shape[0]):
        _lanes_preactivation(zT, m, a, x, u)
        _lanes_activate(kind, u, m)
        s = 0.0
        for i in range(m):
            s += u[i]
        out[a] = s


@njit(cache=True, inline="always")
def lanes_vjp_add(kind, zT, m, x, c, gT, work):
    """gT[:, i] += J_z sigma_*(x, z_i)^T c for particles i < m of a matrix unit; zT, gT (D, M), c (dy,)."""
    u = work
    dx = x.shape[0]
    for a in range(c.shape[0]):
        ca = c[a]
        if kind == LINEAR:
            for i in range(m):
                u[i] = ca
        else:
            _lanes_preactivation(zT, m, a, x, u)
            _lanes_activate(kind, u, m)
            if kind == SIGMOID_MATRIX:
                for i in range(m):
                    u[i] = u[i] * (1.0 - u[i]) * ca
            else:
                for i in range(m):
                    u[i] = (1.0 - u[i] * u[i]) * ca
        for j in range(dx):
            xj = x[j]
            row = gT[a * dx + j]
            for i in range(m):
                row[i] += u[i] * xj
