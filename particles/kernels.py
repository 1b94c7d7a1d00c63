"""Numba kernels of the particle SGD (SPEC section 5).

``make_advance(problem, batch)`` returns a compiled function

    advance(theta, k0, k1, eps, seed, arrays) -> None

that performs steps k = k0, ..., k1 - 1 of

    theta_i <- theta_i - eps [ sum_b w_b J_z sigma(x_b, theta_i)^T 2 (Phi(x_b) - y_b) + 2 tau theta_i ]
               + sqrt(2 beta eps) (P) xi_i

in place on theta (N, D), where sigma is the scheme's unit, (x_b, y_b, w_b) the
minibatch of the scheme's data (B samples with weight 1/B; with DA in orbit mode
B |G| samples of weight 1/(B |G|)) and Phi(x_b) = (1/N) sum_i sigma(x_b, theta_i).

Every random number is a pure function of (seed, stream, step, index) through
the counter-based generator of ``wgf.particles.rng``, and the sum over particles
in Phi is taken over fixed chunks of particles in a fixed order, so the result
is bitwise the same for any number of numba threads.

The per-chunk kernels are compiled once per code path of the scheme unit
(plain, feature maps, projector: a closure constant, so each holds only its own
path, with the per-sample unit kernels inlined); the step loop dispatches to
them once per chunk. Everything is cached on disk.
"""

from __future__ import annotations

from math import sqrt

import numpy as np
from numba import njit, prange

from wgf.unit_kernels import MAPS, PLAIN, PROJECTED, scheme_value, scheme_vjp_add, unit_value

from .rng import fill_normal, fill_normal_at, random_index

# random streams
STREAM_X = 1
STREAM_LABEL_NOISE = 2
STREAM_INDEX = 3
STREAM_GROUP = 4
STREAM_NOISE = 5

# particles per chunk of the forward reduction and of the update
CHUNK = 128
# below this many particles the loops run serially (same arithmetic, no thread start-up)
PARALLEL_MIN = 2048

DATA_GAUSSIAN = 0
DATA_EMPIRICAL = 1
DA_NONE = 0
DA_ORBIT = 1
DA_SAMPLE = 2


def kernel_arrays(problem, noise_projector=None):
    """The arrays ``advance`` needs, as a tuple in its argument order.

    ``noise_projector`` (D, D) replaces the problem's (P_E for projected noise, none for full noise).
    """
    from wgf.data import EmpiricalData

    _, _, rin, rout, proj = problem.unit.kernel_args()
    data = problem.data
    if isinstance(data, EmpiricalData):
        teacher = np.zeros((0, problem.dim))
        xs, ys = data.x, data.y
        x_std, label_noise = 0.0, 0.0
    else:
        teacher = data.teacher
        xs, ys = np.zeros((0, data.dim_x)), np.zeros((0, data.dim_y))
        x_std, label_noise = data.x_std, data.label_noise
    noise_proj = problem.noise_projector if noise_projector is None else noise_projector
    arrays = (rin, rout, proj, problem.group.rho_x, problem.group.rho_y, teacher, xs, ys,
              np.zeros((0, 0)) if noise_proj is None else noise_proj)
    # writable C-contiguous float64 copies: one numba type for every problem
    arrays = tuple(np.require(a, dtype=np.float64, requirements=["C", "W"]) for a in arrays)
    return arrays + (float(x_std), float(label_noise), float(problem.tau), float(problem.beta))


def kernel_constants(problem, batch: int):
    """Integer settings of ``advance``: (variant, kind) are compile-time constants, the rest arguments."""
    from wgf.data import EmpiricalData

    if problem.scheme == "da":
        da = DA_ORBIT if problem.da_mode == "orbit" else DA_SAMPLE
    else:
        da = DA_NONE
    data_kind = DATA_EMPIRICAL if isinstance(problem.data, EmpiricalData) else DATA_GAUSSIAN
    variant, kind = problem.unit.kernel_args()[:2]
    return (variant, kind, int(batch), da, data_kind)


def make_advance(problem, batch: int):
    """Compiled step loop for ``problem`` and minibatch size ``batch`` (see module docstring).

    Returns advance(theta, k0, k1, eps, seed, *kernel_arrays(problem)).
    """
    settings = kernel_constants(problem, batch)

    def advance(theta, k0, k1, eps, seed, *arrays):
        advance_kernel(theta, k0, k1, eps, seed, *settings, *arrays)

    return advance


@njit(cache=True)
def draw_batch(kind, batch, da, data_kind, k, seed, g_x, g_y, teacher, xs, ys, x_std, label_noise, xb, yb, wb):
    """Minibatch of step k of the scheme's data into xb (Bt, dx), yb (Bt, dy), wb (Bt,).

    Gaussian data: x = x_std * N(0, I), y = f_*(x) (+ label noise); empirical data:
    uniform draws with replacement. DA orbit: every sample with its whole orbit,
    weight 1/(B |G|); DA sample: one uniform g per sample, weight 1/B.
    """
    dx, dy = xb.shape[1], yb.shape[1]
    n_group = g_x.shape[0]
    yv = np.empty(dy)
    x0 = np.empty((batch, dx))
    y0 = np.zeros((batch, dy))
    if data_kind == DATA_GAUSSIAN:
        xr = np.empty(batch * dx)
        fill_normal(seed, STREAM_X, k, xr)
        for b in range(batch):
            for j in range(dx):
                x0[b, j] = x_std * xr[b * dx + j]
        m = teacher.shape[0]
        for b in range(batch):
            for t in range(m):
                unit_value(kind, x0[b], teacher[t], yv)
                for a in range(dy):
                    y0[b, a] += yv[a] / m
        if label_noise > 0.0:
            yr = np.empty(batch * dy)
            fill_normal(seed, STREAM_LABEL_NOISE, k, yr)
            for b in range(batch):
                for a in range(dy):
                    y0[b, a] += label_noise * yr[b * dy + a]
    else:
        for b in range(batch):
            idx = random_index(seed, STREAM_INDEX, k, b, xs.shape[0])
            x0[b] = xs[idx]
            y0[b] = ys[idx]
    for b in range(xb.shape[0]):
        if da == DA_ORBIT:
            g, src = b // batch, b % batch
        elif da == DA_SAMPLE:
            g, src = random_index(seed, STREAM_GROUP, k, b, n_group), b
        else:
            g, src = 0, b
        for a in range(dx):
            s = 0.0
            for j in range(dx):
                s += g_x[g, a, j] * x0[src, j]
            xb[b, a] = s
        for a in range(dy):
            s = 0.0
            for j in range(dy):
                s += g_y[g, a, j] * y0[src, j]
            yb[b, a] = s
        wb[b] = 1.0 / xb.shape[0]


def _chunk_kernels(variant):
    """The per-chunk kernels for one code path of the scheme unit (a compile-time constant)."""

    @njit(cache=True)
    def forward_chunk(kind, c, theta, xb, rin, rout, proj, partial):
        """partial[c, b] = sum over the particles i of chunk c of sigma(x_b, theta_i)."""
        n, dim = theta.shape
        dx, dy = xb.shape[1], partial.shape[2]
        xbuf, zbuf, ybuf, val = np.empty(dx), np.empty(dim), np.empty(dy), np.empty(dy)
        for b in range(xb.shape[0]):
            for a in range(dy):
                partial[c, b, a] = 0.0
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            for b in range(xb.shape[0]):
                scheme_value(variant, kind, rin, rout, proj, xb[b], theta[i], val, xbuf, zbuf, ybuf)
                for a in range(dy):
                    partial[c, b, a] += val[a]

    @njit(cache=True)
    def update_chunk(kind, c, theta, k, eps, seed, xb, cb, rin, rout, proj, noise_proj, tau, beta):
        """Gradient + Langevin update, in place, of the particles of chunk c at step k."""
        n, dim = theta.shape
        dx, dy = xb.shape[1], cb.shape[1]
        xbuf, zbuf, cbuf, gbuf = np.empty(dx), np.empty(dim), np.empty(dy), np.empty(dim)
        grad, xi = np.empty(dim), np.empty(dim)
        noise_scale = sqrt(2.0 * beta * eps)
        pairs = (dim + 1) // 2
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            for a in range(dim):
                grad[a] = 2.0 * tau * theta[i, a]
            for b in range(xb.shape[0]):
                scheme_vjp_add(variant, kind, rin, rout, proj, xb[b], theta[i], cb[b], grad, xbuf, zbuf, cbuf, gbuf)
            for a in range(dim):
                theta[i, a] -= eps * grad[a]
            if noise_scale > 0.0:
                fill_normal_at(seed, STREAM_NOISE, k, i * pairs, xi)
                if noise_proj.shape[0] > 0:
                    for a in range(dim):
                        s = 0.0
                        for e in range(dim):
                            s += noise_proj[a, e] * xi[e]
                        gbuf[a] = s
                    for a in range(dim):
                        xi[a] = gbuf[a]
                for a in range(dim):
                    theta[i, a] += noise_scale * xi[a]

    return forward_chunk, update_chunk


_forward_plain, _update_plain = _chunk_kernels(PLAIN)
_forward_maps, _update_maps = _chunk_kernels(MAPS)
_forward_projected, _update_projected = _chunk_kernels(PROJECTED)


@njit(cache=True)
def forward_chunk(variant, kind, c, theta, xb, rin, rout, proj, partial):
    """partial[c, b] = sum over the particles i of chunk c of sigma(x_b, theta_i) (dispatch on variant)."""
    if variant == PLAIN:
        _forward_plain(kind, c, theta, xb, rin, rout, proj, partial)
    elif variant == MAPS:
        _forward_maps(kind, c, theta, xb, rin, rout, proj, partial)
    else:
        _forward_projected(kind, c, theta, xb, rin, rout, proj, partial)


@njit(cache=True)
def update_chunk(variant, kind, c, theta, k, eps, seed, xb, cb, rin, rout, proj, noise_proj, tau, beta):
    """Update of the particles of chunk c at step k (dispatch on variant)."""
    if variant == PLAIN:
        _update_plain(kind, c, theta, k, eps, seed, xb, cb, rin, rout, proj, noise_proj, tau, beta)
    elif variant == MAPS:
        _update_maps(kind, c, theta, k, eps, seed, xb, cb, rin, rout, proj, noise_proj, tau, beta)
    else:
        _update_projected(kind, c, theta, k, eps, seed, xb, cb, rin, rout, proj, noise_proj, tau, beta)


@njit(cache=True, parallel=True)
def forward_all(variant, kind, n_chunks, theta, xb, rin, rout, proj, partial):
    """forward_chunk for every chunk, chunks in parallel."""
    for c in prange(n_chunks):
        forward_chunk(variant, kind, c, theta, xb, rin, rout, proj, partial)


@njit(cache=True, parallel=True)
def update_all(variant, kind, n_chunks, theta, k, eps, seed, xb, cb, rin, rout, proj, noise_proj, tau, beta):
    """update_chunk for every chunk, chunks in parallel."""
    for c in prange(n_chunks):
        update_chunk(variant, kind, c, theta, k, eps, seed, xb, cb, rin, rout, proj, noise_proj, tau, beta)


@njit(cache=True)
def advance_kernel(theta, k0, k1, eps, seed, variant, kind, batch, da, data_kind, rin, rout, proj, g_x, g_y,
                   teacher, xs, ys, noise_proj, x_std, label_noise, tau, beta):
    """Steps k0 .. k1 - 1 in place on theta (see module docstring)."""
    n, dx = theta.shape[0], g_x.shape[1]
    dy = g_y.shape[1]
    n_rows = batch * g_x.shape[0] if da == DA_ORBIT else batch
    xb, yb, wb = np.empty((n_rows, dx)), np.empty((n_rows, dy)), np.empty(n_rows)
    cb = np.empty((n_rows, dy))
    n_chunks = (n + CHUNK - 1) // CHUNK
    partial = np.empty((n_chunks, n_rows, dy))
    for k in range(k0, k1):
        draw_batch(kind, batch, da, data_kind, k, seed, g_x, g_y, teacher, xs, ys, x_std, label_noise, xb, yb, wb)
        if n >= PARALLEL_MIN:
            forward_all(variant, kind, n_chunks, theta, xb, rin, rout, proj, partial)
        else:
            for c in range(n_chunks):
                forward_chunk(variant, kind, c, theta, xb, rin, rout, proj, partial)
        for b in range(n_rows):
            for a in range(dy):
                s = 0.0
                for c in range(n_chunks):
                    s += partial[c, b, a]
                cb[b, a] = 2.0 * wb[b] * (s / n - yb[b, a])
        if n >= PARALLEL_MIN:
            update_all(variant, kind, n_chunks, theta, k, eps, seed, xb, cb, rin, rout, proj, noise_proj, tau, beta)
        else:
            for c in range(n_chunks):
                update_chunk(variant, kind, c, theta, k, eps, seed, xb, cb, rin, rout, proj, noise_proj, tau, beta)
