"""Numba kernels of the mean-field potential on grid cells (cells x quadrature nodes).

With cells z_c (C, D) carrying weights w_c = rho_c |cell| and quadrature nodes x_q:

- ``output_table``:  S[c, q] = sigma(x_q, z_c)                          (C, Q, dy)
- ``cells_output``:  Phi(x_q) = sum_c w_c sigma(x_q, z_c)                (Q, dy)
- ``cells_dual``:    V_c = sum_q < r_q, sigma(x_q, z_c) >                (C,)

The sum over cells in ``cells_output`` runs over fixed chunks in a fixed order,
so results do not depend on the number of threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from wgf.unit_kernels import scheme_value

CHUNK = 256


@njit(cache=True, parallel=True)
def output_table(variant, kind, rin, rout, proj, x, z, out):
    """out[c, q] = sigma(x_q, z_c); x (Q, dx), z (C, D), out (C, Q, dy)."""
    dx, dim, dy = x.shape[1], z.shape[1], out.shape[2]
    for c in prange(z.shape[0]):
        xbuf, zbuf, ybuf = np.empty(dx), np.empty(dim), np.empty(dy)
        for q in range(x.shape[0]):
            scheme_value(variant, kind, rin, rout, proj, x[q], z[c], out[c, q], xbuf, zbuf, ybuf)


@njit(cache=True, parallel=True)
def cells_output(variant, kind, rin, rout, proj, x, z, w, out):
    """out[q] = sum_c w_c sigma(x_q, z_c); chunked deterministic reduction."""
    dx, dim, dy = x.shape[1], z.shape[1], out.shape[1]
    n = z.shape[0]
    n_chunks = (n + CHUNK - 1) // CHUNK
    partial = np.zeros((n_chunks, x.shape[0], dy))
    for ch in prange(n_chunks):
        xbuf, zbuf, ybuf, val = np.empty(dx), np.empty(dim), np.empty(dy), np.empty(dy)
        for c in range(ch * CHUNK, min(n, (ch + 1) * CHUNK)):
            if w[c] == 0.0:
                continue
            for q in range(x.shape[0]):
                scheme_value(variant, kind, rin, rout, proj, x[q], z[c], val, xbuf, zbuf, ybuf)
                for a in range(dy):
                    partial[ch, q, a] += w[c] * val[a]
    out[:] = 0.0
    for ch in range(n_chunks):
        out += partial[ch]


@njit(cache=True, parallel=True)
def cells_dual(variant, kind, rin, rout, proj, x, r, z, out):
    """out[c] = sum_q < r_q, sigma(x_q, z_c) >; r (Q, dy) already carries the quadrature weights."""
    dx, dim, dy = x.shape[1], z.shape[1], r.shape[1]
    for c in prange(z.shape[0]):
        xbuf, zbuf, ybuf, val = np.empty(dx), np.empty(dim), np.empty(dy), np.empty(dy)
        s = 0.0
        for q in range(x.shape[0]):
            scheme_value(variant, kind, rin, rout, proj, x[q], z[c], val, xbuf, zbuf, ybuf)
            for a in range(dy):
                s += r[q, a] * val[a]
        out[c] = s
