"""Numba kernels of the particle SGD (docs/kernels.md).

``make_advance(unit, loss)`` returns a compiled function, specialized to the
unit's lane kernels and the loss's gradient,

    advance(theta, k0, steps, seed, spec) -> None

that performs the steps k = k0, ..., k0 + len(steps) - 1 of

    theta_i <- theta_i - s_k [ sum_b w_b J_z sigma(x_b, theta_i)^T grad_1 l(Phi(x_b), y_b) + 2 tau theta_i ]
               + sqrt(2 beta s_k) (P) xi_i,            s_k = steps[k - k0]

in place on theta (N, D). The noise (P) xi_i, xi_i ~ N(0, I_D), is drawn as B eta_i with
eta_i ~ N(0, I_r) and B B^T = P P^T (``noise_factor``; for projected noise r = dim E^G normals
per particle instead of D, the same law). sigma is the scheme's unit
(1/K) sum_k Rout_k sigma_*(Rin_k x, P z), (x_b, y_b, w_b) the minibatch of
the scheme's data and Phi(x_b) = (1/N) sum_i sigma(x_b, theta_i). ``spec`` is
one ``EngineSpec`` (``engine_spec(problem, batch)``) holding every array and
constant of the problem.

Every random number is a pure function of (seed, stream, step, index) through
the counter-based generator of ``wgf.particles.rng``, and the sum over particles
in Phi is taken over fixed chunks of particles in a fixed order, so the result
is bitwise the same for any number of threads. The scheme's maps act on the
batch (``wgf.schemes.expand_rows`` and friends); each chunk of particles is held
as the columns of a (D, CHUNK) array for the unit's lane kernels. All work
arrays are allocated once per call, none inside the step loop.
"""

from __future__ import annotations

import contextlib
import os
from math import sqrt
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import numba
from numba import prange

from wgf import resources
from wgf.jit import FASTMATH, KERNEL_OPTIONS, PARALLEL_WORK, compile_for, jit, prange_only  # PARALLEL_WORK: the step's too
from wgf.groups import GROUPS
from wgf.schemes import DA_MODES, SCHEMES, combine_rows, expand_rows, pullback_rows
from wgf.unit_kernels import WORK_ROWS, lane_sum, plain_keep
from wgf.vector_math import cos_sin_turn

from wgf.particles.rng import fill_normal, fill_normal_at, normal_lanes, normal_pair, random_index, uniform_pair

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import ArrayLike

    from wgf.losses import Loss
    from wgf.problem import Problem
    from wgf.units import Unit

__all__ = ["EngineSpec", "engine_spec", "noise_factor", "engine_batch", "make_advance", "parallel_steps", "CHUNK", "PARALLEL_WORK"]

# random streams
STREAM_X = 1
STREAM_LABEL_NOISE = 2
STREAM_INDEX = 3
STREAM_GROUP = 4
STREAM_NOISE = 5

# particles per chunk of the forward reduction and of the update
CHUNK = 128

# run the chunks on one thread while another process is running on the machine (``busy_cpus``)
LOAD_AWARE = True


def busy_cpus() -> int:
    """Tasks of other processes running or runnable now (Linux /proc/loadavg minus this process's own running
    threads; 0 where /proc is not there). A step loop that starts while they keep the other cores busy runs
    on one thread: at every barrier its second thread would wait for a core (docs/kernels.md, "Threads")."""
    try:
        running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
        own = 0
        for task in Path("/proc/self/task").iterdir():
            with contextlib.suppress(OSError):
                own += (task / "stat").read_text().rsplit(")", 1)[1].split()[0] == "R"
    except (OSError, ValueError, IndexError):
        return 0
    return max(0, running - max(own, 1))


# where the minibatch comes from
DATA_GAUSSIAN = 0  # x = x_std N(0, I), y = teacher output (+ label noise)
DATA_EMPIRICAL = 1  # uniform draws from (xs, ys)
DATA_FIXED = 2  # the whole (xs, ys) with weights ws at every step
DA_NONE = 0
DA_ORBIT = DA_MODES["orbit"].code
DA_SAMPLE = DA_MODES["sample"].code
# how DA sample mode draws g: an element of the list g_x (finite groups), or from the Haar measure
HAAR_NONE = 0
HAAR_CODES = {GROUPS[name].haar_kind: GROUPS[name].haar_code for name in GROUPS.where(compact=True)}
HAAR_SO2 = HAAR_CODES["so2"]
HAAR_O2 = HAAR_CODES["o2"]
HAAR_SO3 = HAAR_CODES["so3"]


class EngineSpec(NamedTuple):
    """Everything ``advance`` needs besides the particles, as one typed object.

    rin (K, dx, dx), rout (K, dy, dy): the scheme's maps (K = 0: none); proj (D, D) or (0, 0): P of EA;
    g_x (G, dx, dx), g_y (G, dy, dy): the group; teacher (D, M): teacher particles as columns;
    xs (n, dx), ys (n, dy), ws (n,): a data set (empirical or fixed batch); noise_basis (D, r) or (0, 0): the
    noise is B eta, eta ~ N(0, I_r) (``noise_factor`` of the noise projector; none: xi ~ N(0, I_D));
    x_std, label_noise, tau, beta, loss_param: floats; batch, da, data_kind, sign_labels: ints;
    haar: how DA sample mode draws g (HAAR_NONE: from g_x; else the Haar measure of a compact group).
    """

    rin: np.ndarray
    rout: np.ndarray
    proj: np.ndarray
    g_x: np.ndarray
    g_y: np.ndarray
    teacher: np.ndarray
    xs: np.ndarray
    ys: np.ndarray
    ws: np.ndarray
    noise_basis: np.ndarray
    x_std: float
    label_noise: float
    tau: float
    beta: float
    loss_param: float
    batch: int
    da: int
    data_kind: int
    sign_labels: int
    haar: int


def _f64(a):
    return np.require(a, dtype=np.float64, requirements=["C", "W"])


def noise_factor(projector: ArrayLike) -> np.ndarray:
    """B (D, r) with B B^T = P P^T, r = rank P: the noise P xi, xi ~ N(0, I_D), has the law of B eta,
    eta ~ N(0, I_r), which needs r normals instead of D (for P = P_E, the orthogonal projector on E^G, B is an
    orthonormal basis of E^G and r = dim E^G). B = V sqrt(Lambda) from the eigenvalues of P P^T above 1e-12
    times the largest."""
    p = np.asarray(projector, dtype=float)
    cov = p @ p.T
    lam, vecs = np.linalg.eigh(0.5 * (cov + cov.T))
    keep = lam > 1e-12 * max(float(lam.max(initial=0.0)), 1.0)
    return np.ascontiguousarray(vecs[:, keep] * np.sqrt(lam[keep]))


def engine_spec(problem: Problem, batch: int, *, noise_projector: ArrayLike | None = None,
                fixed_batch: tuple[ArrayLike, ArrayLike, ArrayLike] | None = None,
                beta: float | None = None) -> EngineSpec:
    """The ``EngineSpec`` of ``problem`` with minibatch size ``batch``.

    ``noise_projector`` (D, D) replaces the problem's (P_E for projected noise, none for full noise);
    ``fixed_batch`` = (x, y, w) trains on that batch at every step instead of sampling; ``beta``
    overrides the temperature (0: no noise).
    """
    from wgf.data import EmpiricalData

    unit, data = problem.unit, problem.data
    dx, dy, dim = unit.dim_x, unit.dim_y, unit.dim
    proj = np.zeros((0, 0)) if unit.projector is None else unit.projector
    teacher = np.zeros((dim, 0))
    xs, ys, ws = np.zeros((0, dx)), np.zeros((0, dy)), np.zeros(0)
    x_std = label_noise = 0.0
    da = DA_NONE
    if fixed_batch is not None:
        xs, ys = (np.atleast_2d(np.asarray(a, dtype=float)) for a in fixed_batch[:2])
        ws = np.asarray(fixed_batch[2], dtype=float)
        data_kind, batch = DATA_FIXED, xs.shape[0]
    elif isinstance(data, EmpiricalData):
        data_kind = DATA_EMPIRICAL
        xs, ys = data.x, data.y
    else:
        data_kind = DATA_GAUSSIAN
        teacher = data.teacher.T
        x_std, label_noise = data.x_std, data.label_noise
    if fixed_batch is None and SCHEMES[problem.scheme].augments:
        da = DA_MODES[problem.da_mode].code
    noise_proj = problem.noise_projector if noise_projector is None else noise_projector
    noise_basis = np.zeros((0, 0)) if noise_proj is None else noise_factor(noise_proj)
    return EngineSpec(
        _f64(unit.maps_in), _f64(unit.maps_out), _f64(proj), _f64(problem.group.rho_x), _f64(problem.group.rho_y),
        _f64(teacher), _f64(xs), _f64(ys), _f64(ws), _f64(noise_basis),
        float(x_std), float(label_noise), float(problem.tau), float(problem.beta if beta is None else beta),
        float(problem.loss.param), int(batch), int(da), int(data_kind), int(problem.loss.sign_labels),
        int(HAAR_CODES[problem.group.kind] if da == DA_SAMPLE and problem.group.continuous else HAAR_NONE),
    )


# advance functions, one per (unit kernels, loss): a process-wide memo of pure compiled functions
_ADVANCE: dict = {}


def engine_rows(spec: EngineSpec) -> int:
    """The batch rows R of a step: r B' (B' = |G| B for da in orbit mode, r the scheme's feature maps)."""
    n_batch = spec.batch * spec.g_x.shape[0] if spec.da == DA_ORBIT else spec.batch
    return max(spec.rin.shape[0], 1) * n_batch


def make_advance(unit: Unit, loss: Loss) -> Callable[[np.ndarray, int, np.ndarray, int, EngineSpec], None]:
    """The compiled ``advance`` (module docstring) for the base unit ``unit`` and the loss ``loss``.

    The step runs the unit's keeping pair (``unit.keep``: the forward pass keeps what the VJP needs) with
    ``unit.keep_rows`` rows kept per batch row and particle. The returned callable compiles (or loads from
    the cache) under ``wgf.jit.compile_lock`` at its first call with new argument types.
    """
    keep = unit.keep
    # the key holds the compiled kernels only: one advance serves every unit built on them, whatever its
    # dimensions, so everything that depends on the dimensions (the kept rows) is read off each call's arrays
    key = (unit.value_kernel._uuid, unit.vjp_kernel._uuid, keep.value_keep._uuid, keep.vjp_kept._uuid,
           loss.grad_kernel._uuid)
    if key not in _ADVANCE:
        kernel, draw_batch = _build_advance(unit.value_kernel, keep.value_keep, keep.vjp_kept, loss.grad_kernel)
        plain = {}  # the loop without keeping, compiled when a run's kept array would pass wgf.resources.KEEP_MAX_BYTES
        unit_rows, value_kernel, vjp_kernel = keep.rows, unit.value_kernel, unit.vjp_kernel

        def advance(theta, k0, steps, seed, spec):
            threads = numba.get_num_threads()
            n, dim = theta.shape
            # the machine's load is read (/proc) only where the step would run on threads at all
            n_rows = engine_rows(spec)
            if LOAD_AWARE and parallel_steps(n, n_rows, dim, threads, PARALLEL_WORK):
                threads = min(threads, max(1, (os.cpu_count() or 1) - busy_cpus()))
            keep_rows = int(unit_rows(spec.g_x.shape[1], spec.g_y.shape[1], dim))
            rows = resources.kept_rows(n, n_rows, keep_rows)
            if rows == keep_rows:
                loop = kernel
            else:  # bitwise the same steps, recomputing what the VJP needs
                if not plain:
                    pair = plain_keep(value_kernel, vjp_kernel)
                    plain["loop"] = _build_advance(value_kernel, pair.value_keep, pair.vjp_kept, loss.grad_kernel)[0]
                loop = plain["loop"]
            args = (theta, k0, steps, seed, spec, rows, PARALLEL_WORK, threads)
            compile_for(loop, *args)
            loop(*args)

        advance.kernel = kernel
        advance.draw_batch = draw_batch
        _ADVANCE[key] = advance
    return _ADVANCE[key]


@jit
def parallel_steps(n: int, n_rows: int, dim: int, threads: int, min_work: int) -> bool:
    """Whether a step on ``n`` particles, ``n_rows`` rows of the scheme's batch and D = ``dim`` runs its chunks
    on ``threads`` threads: only with >= 2 threads, >= 2 chunks, and work per step n n_rows D >= ``min_work``
    (``PARALLEL_WORK``: below it the barrier of the step costs more than the second thread gains;
    docs/kernels.md, "Threads")."""
    return threads >= 2 and n > CHUNK and n * n_rows * dim >= min_work


def engine_batch(problem: Problem, batch: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The minibatch of step k exactly as ``advance`` draws it: (x (Bt, dx), y (Bt, dy), w (Bt,))."""
    spec = engine_spec(problem, batch)
    draw = make_advance(problem.base_unit, problem.loss).draw_batch
    dx, dy, dim = problem.base_unit.dim_x, problem.base_unit.dim_y, problem.dim
    n_rows = batch * spec.g_x.shape[0] if spec.da == DA_ORBIT else batch
    xb, yb, wb = np.empty((n_rows, dx)), np.empty((n_rows, dy)), np.empty(n_rows)
    draw(k, seed, spec, np.empty((batch, dx)), np.zeros((batch, dy)), np.empty(batch * dx), np.empty(batch * dy),
         np.empty((dim, CHUNK)), np.empty((dy, CHUNK)), np.empty((WORK_ROWS, CHUNK)), xb, yb, wb)
    return xb, yb, wb


@jit(cache=True, **KERNEL_OPTIONS)
def draw_inputs(k, seed, spec, x0, y0, xr, yr):
    """The inputs of step k's samples into x0 (B, dx): x_std N(0, I) (Gaussian data; y0 is left for the
    teacher's labels), or uniform draws of (x, y) from the data set into (x0, y0) (empirical data)."""
    batch, dx = x0.shape
    dy = y0.shape[1]
    if spec.data_kind == DATA_GAUSSIAN:
        fill_normal(seed, np.int64(STREAM_X), k, xr)
        for b in range(batch):
            for j in range(dx):
                x0[b, j] = spec.x_std * xr[b * dx + j]
        return
    for b in range(batch):
        idx = random_index(seed, STREAM_INDEX, k, b, spec.xs.shape[0])
        for j in range(dx):
            x0[b, j] = spec.xs[idx, j]
        for a in range(dy):
            y0[b, a] = spec.ys[idx, a]


@jit(cache=True, **KERNEL_OPTIONS)
def finish_labels(k, seed, spec, y0, yr):
    """The teacher's labels y0 (B, dy) of Gaussian data made noisy (+ label_noise N(0, I)) and signed if the
    loss takes signs."""
    batch, dy = y0.shape
    if spec.label_noise > 0.0:
        fill_normal(seed, np.int64(STREAM_LABEL_NOISE), k, yr)
        for b in range(batch):
            for a in range(dy):
                y0[b, a] += spec.label_noise * yr[b * dy + a]
    if spec.sign_labels:
        for b in range(batch):
            for a in range(dy):
                y0[b, a] = 1.0 if y0[b, a] >= 0.0 else -1.0


@jit(cache=True, **KERNEL_OPTIONS)
def haar_apply(kind, seed, k, b, v, out):
    """out = g v for the Haar element g of (seed, step k, sample b): SO(2) or O(2) from uniforms
    (theta = 2 pi u_1, a reflection diag(1, -1) first if u_2 < 1/2), SO(3) from the unit quaternion
    of four normals (wgf.groups.haar_elements draws the same laws with NumPy)."""
    if kind == HAAR_SO3:
        q0, q1 = normal_pair(seed, STREAM_GROUP, k, 2 * b)
        q2, q3 = normal_pair(seed, STREAM_GROUP, k, 2 * b + 1)
        r = sqrt(q0 * q0 + q1 * q1 + q2 * q2 + q3 * q3)
        w, x, y, z = q0 / r, q1 / r, q2 / r, q3 / r
        v0, v1, v2 = v[0], v[1], v[2]
        out[0] = (1 - 2 * (y * y + z * z)) * v0 + 2 * (x * y - z * w) * v1 + 2 * (x * z + y * w) * v2
        out[1] = 2 * (x * y + z * w) * v0 + (1 - 2 * (x * x + z * z)) * v1 + 2 * (y * z - x * w) * v2
        out[2] = 2 * (x * z - y * w) * v0 + 2 * (y * z + x * w) * v1 + (1 - 2 * (x * x + y * y)) * v2
        return
    u1, u2 = uniform_pair(seed, STREAM_GROUP, k, b)
    c, s = cos_sin_turn(u1)
    v0, v1 = v[0], v[1]
    if kind == HAAR_O2 and u2 < 0.5:
        v1 = -v1
    out[0] = c * v0 - s * v1
    out[1] = s * v0 + c * v1


@jit(cache=True, **KERNEL_OPTIONS)
def augment_batch(k, seed, spec, x0, y0, xb, yb, wb):
    """The samples (x0, y0) (B rows) as step k's batch (xb, yb, wb) (Bt rows): as they are, every g x (da in
    orbit mode: Bt = |G| B), or one g per sample (sample mode: from the group's list, or from the Haar measure
    of a compact group)."""
    batch = x0.shape[0]
    dx, dy = xb.shape[1], yb.shape[1]
    n_group = spec.g_x.shape[0]
    if spec.da == DA_SAMPLE and spec.haar != HAAR_NONE:  # a compact group: g ~ Haar per sample
        for b in range(xb.shape[0]):
            haar_apply(spec.haar, seed, k, b, x0[b], xb[b])
            if dy == dx:
                haar_apply(spec.haar, seed, k, b, y0[b], yb[b])
            else:
                for a in range(dy):
                    yb[b, a] = y0[b, a]
            wb[b] = 1.0 / xb.shape[0]
        return
    for b in range(xb.shape[0]):
        if spec.da == DA_ORBIT:
            g, src = b // batch, b % batch
        elif spec.da == DA_SAMPLE:
            g, src = random_index(seed, STREAM_GROUP, k, b, n_group), b
        else:
            g, src = 0, b
        for a in range(dx):
            s = 0.0
            for j in range(dx):
                s += spec.g_x[g, a, j] * x0[src, j]
            xb[b, a] = s
        for a in range(dy):
            s = 0.0
            for j in range(dy):
                s += spec.g_y[g, a, j] * y0[src, j]
            yb[b, a] = s
        wb[b] = 1.0 / xb.shape[0]


@jit(cache=True, **KERNEL_OPTIONS)
def copy_fixed_batch(spec, xb, yb, wb):
    """The fixed batch (xs, ys, ws) of the spec into (xb, yb, wb)."""
    for b in range(spec.batch):
        for j in range(xb.shape[1]):
            xb[b, j] = spec.xs[b, j]
        for a in range(yb.shape[1]):
            yb[b, a] = spec.ys[b, a]
        wb[b] = spec.ws[b]


@jit(cache=True, **KERNEL_OPTIONS)
def map_lanes(mat, src, m, out):
    """out[a, i] = sum_e mat[a, e] src[e, i] for the lanes i < m: mat (D, r), src (>= r, M), out (D, M)."""
    for a in range(mat.shape[0]):
        for i in range(m):
            out[a, i] = 0.0
        for e in range(mat.shape[1]):
            mae = mat[a, e]
            for i in range(m):
                out[a, i] += mae * src[e, i]


@jit(cache=True, **KERNEL_OPTIONS)
def load_chunk(theta, i0, m, proj, zc):
    """zc[:, i] = P theta_{i0 + i} (theta_{i0 + i} without a projector), i < m."""
    dim = theta.shape[1]
    if proj.shape[0] == 0:
        for a in range(dim):
            for i in range(m):
                zc[a, i] = theta[i0 + i, a]
        return
    for a in range(dim):
        for i in range(m):
            zc[a, i] = 0.0
        for e in range(dim):
            pae = proj[a, e]
            for i in range(m):
                zc[a, i] += pae * theta[i0 + i, e]


def _build_advance(value, value_keep, vjp_kept, loss_grad):
    """The step loop for the unit's ``value`` (the teacher), its keeping pair (value_keep, vjp_kept) and the
    loss gradient ``loss_grad``, and its minibatch draw: (advance, draw_batch), compiled at first call."""

    def teacher_output(teacher, x, y, tz, tout, work):
        """y = (1/M) sum_m sigma_*(x, t_m) over the teacher particles (columns of ``teacher``), in chunks."""
        dim, n_t = teacher.shape
        for a in range(y.shape[0]):
            y[a] = 0.0
        for i0 in range(0, n_t, CHUNK):
            m = min(n_t, i0 + CHUNK) - i0
            for a in range(dim):
                for i in range(m):
                    tz[a, i] = teacher[a, i0 + i]
            value(x, tz, m, tout, work)
            for a in range(y.shape[0]):
                y[a] += lane_sum(tout[a], m)
        for a in range(y.shape[0]):
            y[a] /= n_t

    def draw_batch(k, seed, spec, x0, y0, xr, yr, tz, tout, work, xb, yb, wb):
        """Minibatch of step k into xb (Bt, dx), yb (Bt, dy), wb (Bt,) (module docstring of wgf.particles)."""
        if spec.data_kind == DATA_FIXED:
            copy_fixed_batch(spec, xb, yb, wb)
            return
        draw_inputs(k, seed, spec, x0, y0, xr, yr)
        if spec.data_kind == DATA_GAUSSIAN:
            for b in range(x0.shape[0]):
                teacher_output_c(spec.teacher, x0[b], y0[b], tz, tout, work)
            finish_labels(k, seed, spec, y0, yr)
        augment_batch(k, seed, spec, x0, y0, xb, yb, wb)

    def forward_chunk(c, theta, xe, proj, zc, oc, keep, work, partial):
        """partial[c, r, a] = sum over the particles i of chunk c of sigma_*(xe_r, P theta_i)_a; keep[r] what the
        VJP at xe_r needs."""
        n = theta.shape[0]
        i0 = c * CHUNK
        m = min(n, i0 + CHUNK) - i0
        load_chunk(theta, i0, m, proj, zc)
        for r in range(xe.shape[0]):
            value_keep(xe[r], zc, m, oc, keep[min(r, keep.shape[0] - 1)], work)
            for a in range(oc.shape[0]):
                partial[c, r, a] = lane_sum(oc[a], m)

    def update_chunk(c, theta, k, eps, seed, xe, ce, proj, noise_basis, tau, beta, zc, gc, keep, work, nz):
        """theta_i -= eps (P sum_r J sigma_*(xe_r, P theta_i)^T ce_r + 2 tau theta_i) + sqrt(2 beta eps) B eta_i."""
        n, dim = theta.shape
        i0 = c * CHUNK
        m = min(n, i0 + CHUNK) - i0
        load_chunk(theta, i0, m, proj, zc)
        for a in range(dim):
            for i in range(m):
                gc[a, i] = 0.0
        for r in range(xe.shape[0]):
            vjp_kept(xe[r], zc, m, ce[r], gc, keep[min(r, keep.shape[0] - 1)], work)
        if proj.shape[0] > 0:  # J(Pz)^T = P J^T (P symmetric)
            for a in range(dim):
                for i in range(m):
                    zc[a, i] = gc[a, i]
            map_lanes(proj, zc, m, gc)
        for a in range(dim):
            for i in range(m):
                theta[i0 + i, a] -= eps * (gc[a, i] + 2.0 * tau * theta[i0 + i, a])
        noise_scale = sqrt(2.0 * beta * eps)
        if noise_scale == 0.0:
            return
        # eta_i (r normals per particle, from the pairs (i0 + i) * pairs + p), drawn for all lanes at once; the
        # noise is B eta_i (r = D and B = I for full noise)
        rank = noise_basis.shape[1] if noise_basis.shape[0] > 0 else dim
        pairs = (rank + 1) // 2
        for p in range(pairs):  # an odd r: the last pair's second member goes to a scratch row
            normal_lanes(seed, STREAM_NOISE, k, i0 * pairs + p, pairs, m, nz[2 * p],
                         nz[2 * p + 1] if 2 * p + 1 < rank else work[0])
        if noise_basis.shape[0] > 0:
            map_lanes(noise_basis, nz, m, zc)
            nz = zc
        for a in range(dim):
            for i in range(m):
                theta[i0 + i, a] += noise_scale * nz[a, i]

    opts = dict(cache=True, **KERNEL_OPTIONS)
    teacher_output_c = jit(teacher_output, **opts)
    draw_batch_c = jit(draw_batch, **opts)
    forward_c = jit(forward_chunk, **opts)
    update_c = jit(update_chunk, **opts)

    def step_chunk(c, update, forward, theta, k, eps, seed, xe, ce, xn, spec, zc, gc, oc, keep, work, nz, partial):
        """Chunk c's part of one step: if ``update``, the update of step k (rows xe, cotangents ce), then if
        ``forward`` the forward pass of the next step at rows xn."""
        if update:
            update_c(c, theta, k, eps, seed, xe, ce, spec.proj, spec.noise_basis, spec.tau, spec.beta, zc, gc, keep,
                     work, nz)
        if forward:
            forward_c(c, theta, xn, spec.proj, zc, oc, keep, work, partial)

    step_c = jit(step_chunk, **opts)

    def next_rows(k, seed, spec, x0, y0, xr, yr, tz, tout, twork, xb, yb, wb, xn):
        """The minibatch of step k into (xb, yb, wb) and its rows Rin_k x_b into xn."""
        draw_batch_c(k, seed, spec, x0, y0, xr, yr, tz, tout, twork, xb, yb, wb)
        expand_rows(spec.rin, xb, xn)

    next_rows_c = jit(next_rows, **opts)

    def cotangents(partial, n, spec, wb, yb, srows, phi, cb, ce):
        """From the chunks' partial sums: S_r = (1/N) sum_c partial[c, r] (in chunk order), Phi = the scheme's
        combination of the rows, c_b = w_b grad_1 l(Phi(x_b), y_b), and its pullback ce to the rows."""
        n_chunks, n_rows, dy = partial.shape
        for r in range(n_rows):
            for a in range(dy):
                s = 0.0
                for c in range(n_chunks):
                    s += partial[c, r, a]
                srows[r, a, 0] = s / n
        combine_rows(spec.rout, srows, phi)
        for b in range(wb.shape[0]):
            for a in range(dy):
                cb[b, a] = wb[b] * loss_grad(phi[b, a, 0], yb[b, a], spec.loss_param)
        pullback_rows(spec.rout, cb, ce)

    cotangents_c = jit(cotangents, **opts)

    def advance(theta, k0, steps, seed, spec, keep_rows, min_work, threads):
        n, dim = theta.shape
        dx, dy = spec.g_x.shape[1], spec.g_y.shape[1]
        batch = spec.batch
        n_batch = batch * spec.g_x.shape[0] if spec.da == DA_ORBIT else batch
        n_rows = max(spec.rin.shape[0], 1) * n_batch
        n_chunks = (n + CHUNK - 1) // CHUNK
        n_steps = steps.shape[0]
        if n_steps == 0:
            return
        # work arrays, allocated once: batch, rows (this step's and the next one's), per-chunk lanes
        xb, yb, wb = np.empty((n_batch, dx)), np.empty((n_batch, dy)), np.empty(n_batch)
        x0, y0 = np.empty((batch, dx)), np.zeros((batch, dy))
        xr, yr = np.empty(batch * dx), np.empty(batch * dy)
        tz, tout, twork = np.empty((dim, CHUNK)), np.empty((dy, CHUNK)), np.empty((WORK_ROWS, CHUNK))
        xe, xn = np.empty((n_rows, dx)), np.empty((n_rows, dx))
        ce, cb = np.empty((n_rows, dy)), np.empty((n_batch, dy))
        srows, phi = np.empty((n_rows, dy, 1)), np.empty((n_batch, dy, 1))
        partial = np.empty((n_chunks, n_rows, dy))
        zc, gc = np.empty((n_chunks, dim, CHUNK)), np.empty((n_chunks, dim, CHUNK))
        oc, work = np.empty((n_chunks, dy, CHUNK)), np.empty((n_chunks, WORK_ROWS, CHUNK))
        keep = np.empty((n_chunks, n_rows if keep_rows > 0 else 1, max(keep_rows, 1), CHUNK))  # K = 0: unused
        nz = np.empty((n_chunks, dim, CHUNK))
        parallel = parallel_steps(n, n_rows, dim, threads, min_work)
        # one pass over the chunks per step: the update of step k, then (chunk by chunk) the forward pass of
        # step k + 1 on the updated particles, so that a step has one barrier; the first pass only goes forward
        next_rows_c(k0, seed, spec, x0, y0, xr, yr, tz, tout, twork, xb, yb, wb, xn)
        for step in range(n_steps + 1):
            # this pass: the update of step k0 + step - 1 (none in the first), the forward pass of k0 + step
            update, forward = step > 0, step < n_steps
            k = k0 + step - 1
            eps = steps[step - 1] if update else 0.0
            if parallel:
                for c in prange(n_chunks):
                    step_c(np.int64(c), update, forward, theta, k, eps, seed, xe, ce, xn, spec, zc[c], gc[c], oc[c],
                           keep[c], work[c], nz[c], partial)
            else:
                for c in range(n_chunks):
                    step_c(np.int64(c), update, forward, theta, k, eps, seed, xe, ce, xn, spec, zc[c], gc[c], oc[c],
                           keep[c], work[c], nz[c], partial)
            if not forward:
                break
            for r in range(n_rows):  # this step's rows; the next step's are drawn below
                for j in range(dx):
                    xe[r, j] = xn[r, j]
            cotangents_c(partial, n, spec, wb, yb, srows, phi, cb, ce)
            if step + 1 < n_steps:
                next_rows_c(k0 + step + 1, seed, spec, x0, y0, xr, yr, tz, tout, twork, xb, yb, wb, xn)

    return jit(advance, cache=True, parallel=prange_only(), error_model="numpy", fastmath=FASTMATH), draw_batch_c
