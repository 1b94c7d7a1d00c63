"""Invariance diagnostics of particle clouds (docs/theory.md §6).

For particles nu = (1/N) sum_i delta_{z_i} and a group acting on Z by M_g:

- WI defect  RMD^2(nu, nu^G),  nu^G = (1/|G|) sum_g M_g#nu   (0 iff nu is weakly invariant)
- SI defect  RMD^2(nu, P_E#nu)                              (0 iff nu lives on E^G)

For the SI defect no transport problem is solved: writing z = (u, v) with
u = P_E z and v in the orthogonal complement, any coupling of nu with P_E#nu
costs E|u - u'|^2 + E|v|^2 >= E|v|^2, and z -> P_E z attains it, so

    W2^2(nu, P_E#nu) = int |z - P_E z|^2 dnu.

For the WI defect nu^G has |G| N atoms M_g z_i of mass a_i / |G| (a compact group: its Haar quadrature's
|G| elements). Up to WI_DENSE_MAX_PAIRS pairs W2 is POT's dense network simplex (``w2``); beyond, the same
optimum on sparse candidate pairs certified on all |G| N^2 of them (``wgf.validation.transport``), seeded
with the feasible plan z_i -> M_g z_i (mass a_i / |G| each; g = identity costs 0), so no dense matrix is
ever formed: memory and time grow like N |G| (``wi_rmd2_cost``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from wgf.validation.distances import rmd2, second_moment
from wgf.validation.transport import SPARSE_OT_MAX_PAIRS, SPARSE_OT_PAIR_BYTES, SparseTransport, sparse_w2_squared

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from wgf.symmetry import Symmetry

__all__ = ["wi_rmd2", "si_rmd2", "wi_transport", "wi_rmd2_cost", "WICost", "WI_DENSE_MAX_PAIRS",
           "WI_SECONDS_PER_PAIR"]

# up to this many pairs N x |G| N, wi_rmd2 takes the dense network simplex (fast there, no KD-trees)
WI_DENSE_MAX_PAIRS = 250_000
# the sparse solver's expected time, seconds = WI_SECONDS_PER_PAIR p (p / 2.5e5)^0.8 (1 + |G| / 4) for p initial
# candidate pairs: an upper fit of benchmarks/wi_rmd2.py on 2 cores (swap, D = 4: 0.2 s to 2.6 s at N = 1e4,
# 3.6 s to 180 s at N = 1e5; SO(2) with 16 Haar points: 0.9 s to 54 s at N = 1e4), the network simplex's
# time growing like p^1.8 and its rounds with |G|. Clouds on E^G take the least, clouds without invariance the most.
WI_SECONDS_PER_PAIR = 1.2e-5


@dataclass(frozen=True)
class WICost:
    """What ``wi_rmd2`` costs for N particles under a group of order |G| (``wi_rmd2_cost``).

    method : "dense" (N |G| N pairs, one float64 each) or "sparse" (the initial candidate pairs)
    pairs : pairs held
    bytes : memory they take (the dense cost matrix; the sparse edge lists and solver arrays)
    seconds : the expected time, an upper fit of benchmarks/wi_rmd2.py (``WI_SECONDS_PER_PAIR``)
    """

    method: str
    pairs: int
    bytes: int
    seconds: float


def _neighbours(order: int) -> int:
    """k nearest points of nu^G per particle in the first candidate set: 2 |G| + 20."""
    return 2 * order + 20


def wi_rmd2_cost(n: int, order: int) -> WICost:
    """The method, pairs, memory and expected time of ``wi_rmd2`` for ``n`` particles under a group of ``order``
    elements (a compact group: its Haar points), without building anything. The sparse solver starts from
    N (2 |G| + 20) + |G| N candidate pairs and grows them by the violated ones (a few percent on the clouds of
    benchmarks/wi_rmd2.py); ``wi_rmd2`` refuses past ``SPARSE_OT_MAX_PAIRS``."""
    n, order = int(n), int(order)
    if n < 1 or order < 1:
        raise ValueError(f"wi_rmd2_cost needs n >= 1 and order >= 1, got n = {n}, order = {order}")
    dense = n * n * order
    if dense <= WI_DENSE_MAX_PAIRS:
        return WICost("dense", dense, 8 * dense, 1e-7 * dense)
    pairs = n * min(order * n, _neighbours(order)) + order * n
    seconds = WI_SECONDS_PER_PAIR * pairs * (pairs / 2.5e5) ** 0.8 * (1 + order / 4)
    return WICost("sparse", pairs, SPARSE_OT_PAIR_BYTES * pairs, seconds)


def _weighted(z, weights):
    z = np.atleast_2d(np.asarray(z, dtype=float))
    if weights is None:
        return z, np.full(len(z), 1.0 / len(z))
    w = np.asarray(weights, dtype=float)
    if w.shape != (len(z),) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"weights must be {len(z)} nonnegative finite numbers with a positive sum")
    return z, w / w.sum()


def wi_transport(symmetry: Symmetry, z: ArrayLike, weights: ArrayLike | None = None, *,
                 max_pairs: int = SPARSE_OT_MAX_PAIRS, **kwargs) -> SparseTransport:
    r""":math:`W_2^2(\nu, \nu^G)` by the sparse exact solver, with its certificate (``SparseTransport``), for
    particles z (N, D) with weights (uniform when omitted); kwargs go to ``sparse_w2_squared``."""
    z, w = _weighted(z, weights)
    n, order = len(z), symmetry.group.order
    kwargs.setdefault("neighbours", _neighbours(order))
    seeds = (np.tile(np.arange(n), order), np.arange(order * n))  # z_i -> M_g z_i, symmetrize's g-major order
    return sparse_w2_squared(z, symmetry.symmetrize(z), w, np.tile(w, order) / order, seeds=seeds,
                             max_pairs=max_pairs, **kwargs)


def wi_rmd2(symmetry: Symmetry, z: ArrayLike, weights: ArrayLike | None = None, *, method: str = "auto",
            max_pairs: int | None = None) -> float:
    r"""RMD^2(nu, nu^G) for particles z (N, D) with weights (uniform when omitted): exact OT between N and |G| N
    points (module docstring).

    method : "dense" (POT's network simplex on the N x |G| N cost matrix, refused beyond ``max_pairs``,
        default ``EXACT_OT_MAX_PAIRS``), "sparse" (certified on sparse candidates, refused beyond
        ``max_pairs`` candidates, default ``SPARSE_OT_MAX_PAIRS``) or "auto" (dense up to
        ``WI_DENSE_MAX_PAIRS`` pairs, sparse beyond)."""
    z, w = _weighted(z, weights)
    order = symmetry.group.order
    if method not in ("auto", "dense", "sparse"):
        raise ValueError(f"method must be 'auto', 'dense' or 'sparse', got {method!r}")
    if method == "auto":
        method = wi_rmd2_cost(len(z), order).method
    y, b = symmetry.symmetrize(z), np.tile(w, order) / order
    if method == "dense":
        extra = {} if max_pairs is None else {"max_pairs": max_pairs}
        return rmd2(z, y, x_weights=w, y_weights=b, **extra)
    denom = 2.0 * (second_moment(z, w) + second_moment(y, b))
    if denom == 0.0:
        return 0.0
    cost = wi_transport(symmetry, z, w, max_pairs=SPARSE_OT_MAX_PAIRS if max_pairs is None else max_pairs).cost
    return float(min(max(cost, 0.0) / denom, 1.0))


def si_rmd2(symmetry: Symmetry, z: ArrayLike, weights: ArrayLike | None = None) -> float:
    """RMD^2(nu, P_E#nu) = int |z - P_E z|^2 dnu / (2 (m2(nu) + m2(P_E#nu))) for particles z (N, D)."""
    z = np.atleast_2d(np.asarray(z, dtype=float))
    pz = symmetry.project(z)
    denom = 2.0 * (second_moment(z, weights) + second_moment(pz, weights))
    if denom == 0.0:
        return 0.0
    return float(symmetry.si_defect(z, weights) / denom)
