"""Compiled sums of a unit over particles (or grid cells), built from its lane kernels.

``make_unit_sums(unit)`` returns four functions specialized to the unit, shared
by the NumPy-level API, the functionals and the PDE potential. With x (B, dx),
particles as the columns of Z (D, N), weights w (N,):

- ``values(x, Z, out)``:          out[b, :, i] = sigma_*(x_b, z_i)                 out (B, dy, N)
- ``weighted_output(x, Z, w, out)``: out[b] = sum_i w_i sigma_*(x_b, z_i)          out (B, dy)
- ``dual(x, r, Z, out)``:         out[i] = sum_b < r_b, sigma_*(x_b, z_i) >        r (B, dy), out (N,)
- ``vjp_sum(x, Z, c, out)``:      out[:, i] = sum_b J_z sigma_*(x_b, z_i)^T c_b    c (B, dy), out (D, N)

The particles are processed in chunks of ``CHUNK`` lanes; sums over particles
are taken per chunk and then over chunks in a fixed order, so the results do
not depend on the number of threads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numba import prange

from wgf.jit import FASTMATH, call_on, compile_for, jit, threads_for
from wgf.unit_kernels import WORK_ROWS, lane_sum

if TYPE_CHECKING:
    from numba.core.dispatcher import Dispatcher

__all__ = ["UnitSums", "make_unit_sums", "CHUNK"]

CHUNK = 128


class UnitSums(NamedTuple):
    values: object
    weighted_output: object
    dual: object
    vjp_sum: object


@jit(inline="always", error_model="numpy")
def load_lanes(Z, i0, m, zc):
    """zc[:, i] = Z[:, i0 + i] for i < m: a chunk of particles as contiguous lanes."""
    for a in range(Z.shape[0]):
        for i in range(m):
            zc[a, i] = Z[a, i0 + i]


def make_unit_sums(value: Dispatcher, vjp: Dispatcher) -> UnitSums:
    """The four compiled sums (module docstring) for the lane kernels ``value`` and ``vjp``."""

    def values(x, Z, out):
        dim, n = Z.shape
        dy = out.shape[1]
        zc = np.empty((dim, CHUNK))
        oc = np.empty((dy, CHUNK))
        work = np.empty((WORK_ROWS, CHUNK))
        for i0 in range(0, n, CHUNK):
            m = min(n, i0 + CHUNK) - i0
            load_lanes(Z, i0, m, zc)
            for b in range(x.shape[0]):
                value(x[b], zc, m, oc, work)
                for a in range(dy):
                    for i in range(m):
                        out[b, a, i0 + i] = oc[a, i]

    def weighted_output(x, Z, w, out):
        dim, n = Z.shape
        n_batch, dy = out.shape
        n_chunks = (n + CHUNK - 1) // CHUNK
        partial = np.zeros((n_chunks, n_batch, dy))
        for c in prange(n_chunks):
            i0 = c * CHUNK
            m = min(n, i0 + CHUNK) - i0
            zc = np.empty((dim, CHUNK))
            oc = np.empty((dy, CHUNK))
            work = np.empty((WORK_ROWS, CHUNK))
            load_lanes(Z, i0, m, zc)
            for b in range(n_batch):
                value(x[b], zc, m, oc, work)
                for a in range(dy):
                    for i in range(m):
                        oc[a, i] *= w[i0 + i]
                    partial[c, b, a] = lane_sum(oc[a], m)
        for b in range(n_batch):
            for a in range(dy):
                s = 0.0
                for c in range(n_chunks):
                    s += partial[c, b, a]
                out[b, a] = s

    def dual(x, r, Z, out):
        dim, n = Z.shape
        dy = r.shape[1]
        n_chunks = (n + CHUNK - 1) // CHUNK
        for c in prange(n_chunks):
            i0 = c * CHUNK
            m = min(n, i0 + CHUNK) - i0
            zc = np.empty((dim, CHUNK))
            oc = np.empty((dy, CHUNK))
            acc = np.zeros(CHUNK)
            work = np.empty((WORK_ROWS, CHUNK))
            load_lanes(Z, i0, m, zc)
            for b in range(x.shape[0]):
                value(x[b], zc, m, oc, work)
                for a in range(dy):
                    rba = r[b, a]
                    for i in range(m):
                        acc[i] += rba * oc[a, i]
            for i in range(m):
                out[i0 + i] = acc[i]

    def vjp_sum(x, Z, c, out):
        dim, n = Z.shape
        zc = np.empty((dim, CHUNK))
        gc = np.empty((dim, CHUNK))
        work = np.empty((WORK_ROWS, CHUNK))
        for i0 in range(0, n, CHUNK):
            m = min(n, i0 + CHUNK) - i0
            load_lanes(Z, i0, m, zc)
            for a in range(dim):
                for i in range(m):
                    gc[a, i] = 0.0
            for b in range(x.shape[0]):
                vjp(x[b], zc, m, c[b], gc, work)
            for a in range(dim):
                for i in range(m):
                    out[a, i0 + i] = gc[a, i]

    return UnitSums(
        _locked(jit(values, cache=True, error_model="numpy", fastmath=FASTMATH)),
        _locked(jit(weighted_output, cache=True, parallel=True, error_model="numpy", fastmath=FASTMATH), _output_work),
        _locked(jit(dual, cache=True, parallel=True, error_model="numpy", fastmath=FASTMATH), _dual_work),
        _locked(jit(vjp_sum, cache=True, error_model="numpy", fastmath=FASTMATH)),
    )


def _output_work(x, Z, w, out):
    """The work of weighted_output(x, Z, w, out): rows x particles x D."""
    return x.shape[0] * Z.size


def _dual_work(x, r, Z, out):
    """The work of dual(x, r, Z, out): rows x particles x D."""
    return x.shape[0] * Z.size


def _locked(kernel, work=None):
    """``kernel`` compiled (or loaded from the cache) under ``wgf.jit.compile_lock`` at its first call per types;
    a parallel kernel (``work`` given) runs on one thread below ``wgf.jit.PARALLEL_WORK``."""

    def call(*args):
        compile_for(kernel, *args)
        if work is None:
            return kernel(*args)
        return call_on(threads_for(work(*args)), kernel, *args)

    call.kernel = kernel
    call.__doc__ = kernel.py_func.__doc__
    return call
