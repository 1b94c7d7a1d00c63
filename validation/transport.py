r"""Exact W2 between point clouds of few dimensions without the dense cost matrix (docs/theory.md §6).

For clouds :math:`\mu = \sum_i a_i \delta_{x_i}` (n atoms) and :math:`\nu = \sum_t b_t \delta_{y_t}` (m atoms)
in :math:`\mathbb R^D`, :math:`W_2^2(\mu, \nu) = \min_{P \in \Pi(a, b)} \sum_{i,t} P_{it} c_{it}`,
:math:`c_{it} = |x_i - y_t|^2`, is the optimum of a linear program with n m variables. Only pairs of nearby
points carry mass in the optimum, so it is solved on a sparse set of candidate pairs and certified on all:

1. candidates: each :math:`x_i` with its k nearest :math:`y_t`, each :math:`y_t` with its nearest
   :math:`x_i` (KD-trees), and ``seeds`` (pairs that hold a feasible plan, e.g. :math:`x_i \to M_g x_i`
   for the symmetrization); without seeds, the north-west corner plan of both clouds sorted along their
   first principal direction (its pairs whose mass intervals touch, a connected graph);
2. the transport problem on the candidates is solved exactly (POT's network simplex on a sparse graph),
   giving the plan's cost and dual potentials u (n), v (m) with :math:`c_{it} - u_i - v_t \ge 0` on the
   candidates and :math:`= 0` where mass moves;
3. certificate on all n m pairs, without forming them: the c-transform
   :math:`u^c_i = \min_t (c_{it} - v_t)` is a nearest-neighbour query in :math:`\mathbb R^{D+1}`,

   .. math::

       c_{it} - v_t = |(x_i, 0) - (y_t, \sqrt{V - v_t})|^2 - V, \qquad V = \max_t v_t,

   so :math:`(u^c, v)` is dual feasible for the full problem and
   :math:`L = \sum_i a_i u^c_i + \sum_t b_t v_t \le W_2^2 \le` the plan's cost (weak duality). The pairs
   found with :math:`c_{it} - u_i - v_t < -\mathrm{tol}` join the candidates and 2.-3. repeat until there
   are none: then every pair has reduced cost at least -tol and the plan's cost is within tol (times the
   total mass 1) of the optimum, :math:`W_2^2 - L` is that gap as measured.

``tol`` is relative to :math:`m_2(\mu) + m_2(\nu)` (the scale of the costs and the RMD^2 denominator / 2):
the network simplex's potentials carry round-off of about :math:`10^{-12}` of the costs' scale
(accumulated along its spanning tree), so a reduced cost above :math:`-10^{-11}` times the scale is no
evidence of a better plan. The plan's cost itself is a sum of nonnegative terms, exact to round-off, and
equals the dense ``ot.emd2`` to :math:`10^{-13}` relative in the tests (tests/test_wi_transport.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from wgf.validation.distances import TooLargeForExactOT, _pot

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

__all__ = ["SparseTransport", "sparse_w2_squared", "SPARSE_OT_MAX_PAIRS", "SPARSE_OT_PAIR_BYTES", "SPARSE_OT_TOL"]

# the candidate pairs a sparse problem may hold: at SPARSE_OT_PAIR_BYTES each (the edge list, its costs and the
# network simplex's arc arrays) 5e7 pairs take about 4 GB
SPARSE_OT_MAX_PAIRS = 50_000_000
SPARSE_OT_PAIR_BYTES = 80
# reduced costs below -SPARSE_OT_TOL (m2(mu) + m2(nu)) are violations (module docstring)
SPARSE_OT_TOL = 1e-11
# the network simplex's status codes (ot.lp.emd_wrap.check_result)
_OPTIMAL = 1


@dataclass(frozen=True)
class SparseTransport:
    r"""The result of ``sparse_w2_squared``.

    cost : :math:`\sum P_{it} c_{it}` of the optimal plan on the candidates, :math:`W_2^2` (certified)
    lower : the dual bound :math:`L \le W_2^2` valid for all pairs (``cost - lower``: the measured gap)
    pairs : the candidate pairs of the last sparse problem
    rounds : sparse problems solved (1 when the first candidates already held an optimal plan)
    tol : the absolute tolerance on reduced costs that certified it
    """

    cost: float
    lower: float
    pairs: int
    rounds: int
    tol: float


def _weights(w, n: int) -> np.ndarray:
    if w is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(w, dtype=float)
    if w.shape != (n,) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {n} nonnegative finite numbers with a positive sum")
    return w / w.sum()


def _corner_pairs(x: np.ndarray, a: np.ndarray, y: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pairs of the north-west corner plan of both clouds sorted along their first principal direction:
    (i, t) whose mass intervals [A_{i-1}, A_i], [B_{t-1}, B_t] touch (closed, so the graph is connected)."""
    both = np.concatenate([x, y])
    centred = both - both.mean(axis=0)
    direction = np.linalg.svd(centred[:: max(1, len(both) // 4096)], full_matrices=False)[2][0]
    ox, oy = np.argsort(x @ direction, kind="stable"), np.argsort(y @ direction, kind="stable")
    ca, cb = np.cumsum(a[ox]), np.cumsum(b[oy])
    ca[-1] = cb[-1] = 1.0
    lo_a, lo_b = np.concatenate([[0.0], ca[:-1]]), np.concatenate([[0.0], cb[:-1]])
    # source k (in sorted order) meets the targets whose [lo_b, cb] intersects [lo_a[k], ca[k]]
    first = np.searchsorted(cb, lo_a, side="left")
    last = np.searchsorted(lo_b, ca, side="right") - 1
    count = last - first + 1
    src = np.repeat(np.arange(len(x)), count)
    tgt = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count) + np.repeat(first, count)
    return ox[src], oy[tgt]


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """The distinct int64 keys, sorted (a sort and a comparison: np.unique hashes, 10x slower on 1e6 keys)."""
    keys = np.sort(keys)
    return keys[np.concatenate([[True], keys[1:] != keys[:-1]])] if keys.size else keys


def _certify(x: np.ndarray, y: np.ndarray, u: np.ndarray, v: np.ndarray, k: int, tol: float,
             chunk: int = 16384) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""The c-transform :math:`u^c_i = \min_t (c_{it} - v_t)` over all m targets (n,) and the violated pairs
    :math:`c_{it} - u_i - v_t < -\mathrm{tol}` among the k smallest :math:`c_{it} - v_t` of each x_i (rows,
    cols): nearest neighbours of :math:`(x_i, 0)` among :math:`(y_t, \sqrt{V - v_t})` (module docstring).

    One KD-tree per band of v: the targets below the 0.9 quantile of v, then the next 0.9 of the rest, ...
    (at most 64 in the last), each with its own V, so that a few targets of large v (a potential's outliers)
    do not set V for all (a large V makes every ball of radius^2 u_i + V hold most of the cloud)."""
    from scipy.spatial import cKDTree

    n, m = len(x), len(y)
    order = np.argsort(v, kind="stable")
    edges = [0]
    while m - edges[-1] > 64:
        edges.append(edges[-1] + int(0.9 * (m - edges[-1])))
    edges.append(m)
    bands = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        band = order[lo:hi]
        lifted = np.concatenate([y[band], np.sqrt(v[band[-1]] - v[band])[:, None]], axis=1)
        bands.append((band, cKDTree(lifted), min(k, len(band))))
    uc = np.empty(n)
    rows, cols = [], []
    for start in range(0, n, chunk):
        xs = x[start:start + chunk]
        origin = np.concatenate([xs, np.zeros((len(xs), 1))], axis=1)
        near = np.concatenate([band[tree.query(origin, k=kb)[1].reshape(len(xs), kb)] for band, tree, kb in bands],
                              axis=1)
        d = xs[:, None, :] - y[near]
        values = np.einsum("nkd,nkd->nk", d, d) - v[near]  # from the points: the lift loses digits to V
        uc[start:start + chunk] = values.min(axis=1)
        bad = values - u[start:start + chunk, None] < -tol
        rows.append(np.nonzero(bad)[0] + start)
        cols.append(near[bad])
    return uc, np.concatenate(rows), np.concatenate(cols)


def sparse_w2_squared(x: ArrayLike, y: ArrayLike, a: ArrayLike | None = None, b: ArrayLike | None = None, *,
                      seeds: tuple[ArrayLike, ArrayLike] | None = None, neighbours: int | None = None,
                      tol: float = SPARSE_OT_TOL, max_pairs: int = SPARSE_OT_MAX_PAIRS,
                      max_rounds: int = 200) -> SparseTransport:
    r""":math:`W_2^2` between the clouds x (n, D) with weights a and y (m, D) with weights b (uniform when
    omitted), exact, on sparse candidate pairs certified on all n m pairs (module docstring).

    seeds : (i, t) index arrays of pairs that hold a feasible plan (else the north-west corner pairs)
    neighbours : k nearest y_t per x_i (default 2 ceil(m / n) + 20)
    tol : reduced costs below -tol (m2(mu) + m2(nu)) are violations
    max_pairs : refuse (``TooLargeForExactOT``) when the candidates would exceed it
    """
    from scipy.spatial import cKDTree

    x = np.ascontiguousarray(np.atleast_2d(np.asarray(x, dtype=float)))
    y = np.ascontiguousarray(np.atleast_2d(np.asarray(y, dtype=float)))
    n, m = len(x), len(y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"clouds live in different dimensions: {x.shape[1]} and {y.shape[1]}")
    a, b = _weights(a, n), _weights(b, m)
    k = min(m, 2 * -(-m // n) + 20 if neighbours is None else int(neighbours))
    if n * k + m > max_pairs:
        raise TooLargeForExactOT(f"sparse exact W2 between {n} and {m} points needs {n * k + m} candidate pairs "
                                 f"(limit {max_pairs})")
    scale = float(np.dot(a, np.einsum("nd,nd->n", x, x)) + np.dot(b, np.einsum("nd,nd->n", y, y)))
    abs_tol = tol * scale
    # atoms without mass take no part (their potentials would be free)
    keep_x, keep_y = np.flatnonzero(a > 0), np.flatnonzero(b > 0)
    if seeds is not None:
        si, st = (np.asarray(s, dtype=np.int64) for s in seeds)
    if len(keep_x) < n or len(keep_y) < m:
        if seeds is not None:
            ok = (a[si] > 0) & (b[st] > 0)
            rx, ry = np.full(n, -1), np.full(m, -1)
            rx[keep_x], ry[keep_y] = np.arange(len(keep_x)), np.arange(len(keep_y))
            si, st = rx[si[ok]], ry[st[ok]]
        x, y, a, b = x[keep_x], y[keep_y], a[keep_x], b[keep_y]
        n, m = len(x), len(y)
        k = min(k, m)
    if seeds is None:
        si, st = _corner_pairs(x, a, y, b)
    _, near_t = cKDTree(y).query(x, k=k)
    _, near_i = cKDTree(x).query(y, k=1)
    keys = _sorted_unique(np.concatenate([np.repeat(np.arange(n, dtype=np.int64), k) * m + near_t.reshape(-1),
                                          np.arange(m, dtype=np.int64) + near_i.reshape(-1).astype(np.int64) * m,
                                          si * m + st]))
    ot = _pot()
    try:  # the sparse network simplex with warm potentials (POT 0.9.7; older POT has none)
        from ot.lp.emd_wrap import check_result, emd_c_sparse
    except ImportError as e:
        raise ImportError(f"sparse exact OT needs POT >= 0.9.7 (installed {ot.__version__}): "
                          "pip install -U 'pot>=0.9.7'") from e

    u = v = None
    for rounds in range(1, max_rounds + 1):
        rows, cols = keys // m, keys % m
        d = x[rows] - y[cols]
        warm = () if u is None else (u, v)  # the last potentials guide the first pivots
        *_, cost, u, v, code = emd_c_sparse(a, b, rows.astype(np.uint64), cols.astype(np.uint64),
                                            np.einsum("ed,ed->e", d, d), 2**62, *warm)
        del d, rows, cols
        if code != _OPTIMAL:
            raise RuntimeError(f"sparse network simplex on {len(keys)} pairs: {check_result(code)}")
        uc, bad_i, bad_t = _certify(x, y, u, v, 2 * -(-m // n) + 2, abs_tol)
        result = SparseTransport(cost=float(cost), lower=min(float(np.dot(a, uc) + np.dot(b, v)), float(cost)),
                                 pairs=len(keys), rounds=rounds, tol=abs_tol)
        new = _sorted_unique(bad_i.astype(np.int64) * m + bad_t)
        # violations only on candidates are the network simplex's round-off, beyond tol
        at = np.minimum(np.searchsorted(keys, new), len(keys) - 1)
        new = new[keys[at] != new]
        if new.size == 0:
            return result
        if len(keys) + new.size > max_pairs:
            raise TooLargeForExactOT(f"sparse exact W2 between {n} and {m} points grew past {max_pairs} "
                                     "candidate pairs")
        keys = np.sort(np.concatenate([keys, new]))
    raise RuntimeError(f"sparse exact W2 between {n} and {m} points not certified after {max_rounds} rounds")
