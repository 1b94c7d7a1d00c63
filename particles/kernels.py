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

The scheme's maps are applied at the level of the batch (``step_on_batch``), so
the per-particle work is always the base unit, plus the projector P for EA. A
chunk of particles is held as the columns of a (D, CHUNK) array, so that the
matrix units run SIMD loops over the particles (``wgf.unit_kernels.lanes_*``).
Everything is cached on disk.
"""

from __future__ import annotations

from math import sqrt

import numpy as np
from numba import njit, prange

from wgf.unit_kernels import TWO_LAYER, lanes_value_sum, lanes_vjp_add, lanes_work, unit_value, unit_vjp_add

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
    """Integer settings of ``advance``: (kind, batch, da, data_kind)."""
    from wgf.data import EmpiricalData

    if problem.scheme == "da":
        da = DA_ORBIT if problem.da_mode == "orbit" else DA_SAMPLE
    else:
        da = DA_NONE
    data_kind = DATA_EMPIRICAL if isinstance(problem.data, EmpiricalData) else DATA_GAUSSIAN
    kind = problem.unit.kernel_args()[1]
    return (kind, int(batch), da, data_kind)


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


# reassociation lets LLVM vectorise the sums over rows; the compiled order is fixed,
# hence the same for any number of threads
_FASTMATH = {"nsz", "contract", "arcp", "reassoc"}


@njit(cache=True, inline="always")
def _chunk_columns(theta, i0, m, proj, zT):
    """zT[:, i] = P theta_{i0 + i} (theta_{i0 + i} without a projector), i < m."""
    dim = theta.shape[1]
    if proj.shape[0] == 0:
        for a in range(dim):
            for i in range(m):
                zT[a, i] = theta[i0 + i, a]
        return
    for a in range(dim):
        for i in range(m):
            zT[a, i] = 0.0
        for e in range(dim):
            pae = proj[a, e]
            for i in range(m):
                zT[a, i] += pae * theta[i0 + i, e]


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def forward_chunk(kind, c, theta, xe, proj, partial):
    """partial[c, a, r] = sum over the particles i of chunk c of sigma_*(xe_r, P theta_i)_a."""
    n, dim = theta.shape
    i0 = c * CHUNK
    m = min(n, i0 + CHUNK) - i0
    acc = partial[c]
    zT = np.empty((dim, CHUNK))
    _chunk_columns(theta, i0, m, proj, zT)
    dy = acc.shape[0]
    out = np.empty(dy)
    if kind == TWO_LAYER:
        z = np.empty(dim)
        acc[:] = 0.0
        for i in range(m):
            for a in range(dim):
                z[a] = zT[a, i]
            for r in range(xe.shape[0]):
                unit_value(kind, xe[r], z, out)
                for a in range(dy):
                    acc[a, r] += out[a]
        return
    work = lanes_work(CHUNK)
    for r in range(xe.shape[0]):
        lanes_value_sum(kind, zT, m, xe[r], out, work)
        for a in range(dy):
            acc[a, r] = out[a]


@njit(cache=True, fastmath=_FASTMATH, error_model="numpy")
def update_chunk(kind, c, theta, k, eps, seed, xe, ce, proj, noise_proj, tau, beta):
    """Gradient + Langevin update, in place, of the particles of chunk c at step k:
    theta_i -= eps (P sum_r J sigma_*(xe_r, P theta_i)^T ce[:, r] + 2 tau theta_i) + sqrt(2 beta eps) P_noise xi_i."""
    n, dim = theta.shape
    i0 = c * CHUNK
    m = min(n, i0 + CHUNK) - i0
    zT = np.empty((dim, CHUNK))
    gT = np.zeros((dim, CHUNK))
    _chunk_columns(theta, i0, m, proj, zT)
    dy = ce.shape[0]
    cr = np.empty(dy)
    if kind == TWO_LAYER:
        z, g = np.empty(dim), np.empty(dim)
        for i in range(m):
            for a in range(dim):
                z[a] = zT[a, i]
                g[a] = 0.0
            for r in range(xe.shape[0]):
                for a in range(dy):
                    cr[a] = ce[a, r]
                unit_vjp_add(kind, xe[r], z, cr, g)
            for a in range(dim):
                gT[a, i] = g[a]
    else:
        work = lanes_work(CHUNK)
        for r in range(xe.shape[0]):
            for a in range(dy):
                cr[a] = ce[a, r]
            lanes_vjp_add(kind, zT, m, xe[r], cr, gT, work)
    if proj.shape[0] > 0:  # J(Pz)^T = P J^T (P symmetric)
        for a in range(dim):
            for i in range(m):
                zT[a, i] = gT[a, i]
        for a in range(dim):
            for i in range(m):
                s = 0.0
                for e in range(dim):
                    s += proj[a, e] * zT[e, i]
                gT[a, i] = s
    noise_scale = sqrt(2.0 * beta * eps)
    pairs = (dim + 1) // 2
    xi, xp = np.empty(dim), np.empty(dim)
    for i in range(m):
        for a in range(dim):
            theta[i0 + i, a] -= eps * (gT[a, i] + 2.0 * tau * theta[i0 + i, a])
        if noise_scale > 0.0:
            fill_normal_at(seed, STREAM_NOISE, k, (i0 + i) * pairs, xi)
            if noise_proj.shape[0] > 0:
                _project(noise_proj, xi, xp)
                xi[:] = xp
            for a in range(dim):
                theta[i0 + i, a] += noise_scale * xi[a]


@njit(cache=True, inline="always")
def _project(p, v, out):
    """out = P v, or a copy of v when P has shape (0, 0) (no projector)."""
    if p.shape[0] == 0:
        for a in range(v.shape[0]):
            out[a] = v[a]
        return
    for a in range(v.shape[0]):
        s = 0.0
        for e in range(v.shape[0]):
            s += p[a, e] * v[e]
        out[a] = s


@njit(cache=True, parallel=True)
def forward_all(kind, n_chunks, theta, xe, proj, partial):
    """forward_chunk for every chunk, chunks in parallel."""
    for c in prange(n_chunks):
        forward_chunk(kind, c, theta, xe, proj, partial)


@njit(cache=True, parallel=True)
def update_all(kind, n_chunks, theta, k, eps, seed, xe, ce, proj, noise_proj, tau, beta):
    """update_chunk for every chunk, chunks in parallel."""
    for c in prange(n_chunks):
        update_chunk(kind, c, theta, k, eps, seed, xe, ce, proj, noise_proj, tau, beta)


@njit(cache=True)
def step_workspace(n, n_batch, dx, dy, n_maps):
    """Work arrays of ``step_on_batch`` for N particles and a batch of n_batch rows:
    expanded rows xe (R, dx), R = max(K, 1) n_batch; per-chunk sums (chunks, dy, R);
    the residual coefficients cb (n_batch, dy) and their expansion ce (dy, R)."""
    n_rows = max(n_maps, 1) * n_batch
    n_chunks = (n + CHUNK - 1) // CHUNK
    return (np.empty((n_rows, dx)), np.empty((n_chunks, dy, n_rows)), np.empty((n_batch, dy)),
            np.empty((dy, n_rows)))


@njit(cache=True)
def step_on_batch(theta, k, eps, seed, kind, xb, yb, wb, rin, rout, proj, noise_proj, tau, beta, work):
    """Step k in place on theta (N, D) with the batch xb (B, dx), yb (B, dy), weights wb (B,).

    The scheme unit sigma(x, z) = (1/K) sum_k Rout_k sigma_*(Rin_k x, P z) becomes batch-level
    transforms around the base unit: rows xe_{kB+b} = Rin_k x_b; Phi(x_b) = (1/K) sum_k Rout_k
    S_{kB+b} with S_r = (1/N) sum_i sigma_*(xe_r, P theta_i); residual coefficients
    cb_b = 2 w_b (Phi(x_b) - y_b) pulled back to ce_{kB+b} = Rout_k^T cb_b / K.  ``work`` is
    ``step_workspace(N, B, dx, dy, K)``.
    """
    xe, partial, cb, ce = work
    n = theta.shape[0]
    n_batch, dx = xb.shape
    dy = yb.shape[1]
    n_maps = rin.shape[0]
    n_rows = xe.shape[0]
    n_chunks = partial.shape[0]
    for r in range(n_rows):
        g, b = r // n_batch, r % n_batch
        for a in range(dx):
            if n_maps == 0:
                xe[r, a] = xb[b, a]
            else:
                s = 0.0
                for j in range(dx):
                    s += rin[g, a, j] * xb[b, j]
                xe[r, a] = s
    if n >= PARALLEL_MIN:
        forward_all(kind, n_chunks, theta, xe, proj, partial)
    else:
        for c in range(n_chunks):
            forward_chunk(kind, c, theta, xe, proj, partial)
    for r in range(n_rows):  # partial[0] <- S = (1/N) sum over chunks, in chunk order
        for a in range(dy):
            s = 0.0
            for c in range(n_chunks):
                s += partial[c, a, r]
            partial[0, a, r] = s / n
    for b in range(n_batch):
        for a in range(dy):
            if n_maps == 0:
                phi = partial[0, a, b]
            else:
                phi = 0.0
                for g in range(n_maps):
                    for j in range(dy):
                        phi += rout[g, a, j] * partial[0, j, g * n_batch + b]
                phi /= n_maps
            cb[b, a] = 2.0 * wb[b] * (phi - yb[b, a])
    for r in range(n_rows):
        g, b = r // n_batch, r % n_batch
        for a in range(dy):
            if n_maps == 0:
                ce[a, r] = cb[b, a]
            else:
                s = 0.0
                for i in range(dy):
                    s += rout[g, i, a] * cb[b, i]
                ce[a, r] = s / n_maps
    if n >= PARALLEL_MIN:
        update_all(kind, n_chunks, theta, k, eps, seed, xe, ce, proj, noise_proj, tau, beta)
    else:
        for c in range(n_chunks):
            update_chunk(kind, c, theta, k, eps, seed, xe, ce, proj, noise_proj, tau, beta)


@njit(cache=True)
def advance_kernel(theta, k0, k1, eps, seed, kind, batch, da, data_kind, rin, rout, proj, g_x, g_y,
                   teacher, xs, ys, noise_proj, x_std, label_noise, tau, beta):
    """Steps k0 .. k1 - 1 in place on theta (see module docstring)."""
    n, dx = theta.shape[0], g_x.shape[1]
    dy = g_y.shape[1]
    n_batch = batch * g_x.shape[0] if da == DA_ORBIT else batch
    xb, yb, wb = np.empty((n_batch, dx)), np.empty((n_batch, dy)), np.empty(n_batch)
    work = step_workspace(n, n_batch, dx, dy, rin.shape[0])
    for k in range(k0, k1):
        draw_batch(kind, batch, da, data_kind, k, seed, g_x, g_y, teacher, xs, ys, x_std, label_noise, xb, yb, wb)
        step_on_batch(theta, k, eps, seed, kind, xb, yb, wb, rin, rout, proj, noise_proj, tau, beta, work)
