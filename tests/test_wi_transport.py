"""The certified sparse exact W2 (wgf.validation.transport) and WI RMD^2 through it equal dense POT's network
simplex to round-off (docs/theory.md §6)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import wgf
from wgf.groups import cyclic_group, rotation_group, swap_group
from wgf.validation import (SPARSE_OT_MAX_PAIRS, WI_DENSE_MAX_PAIRS, TooLargeForExactOT, rmd2, sparse_w2_squared,
                            w2, wi_rmd2, wi_rmd2_cost, wi_transport)

SYMMETRIES = {
    "swap": lambda: wgf.Symmetry(wgf.make_unit("sigmoid_matrix", 2, 2), swap_group(2, 2)),
    "cyclic": lambda: wgf.Symmetry(wgf.make_unit("sigmoid_matrix", 3, 3), cyclic_group(3, 3)),
    "rotation": lambda: wgf.Symmetry(wgf.make_unit("gated_matrix", 2, 2), rotation_group(2, 2, 5)),
}
_BUILT = {}


def symmetry(name):
    if name not in _BUILT:
        _BUILT[name] = SYMMETRIES[name]()
    return _BUILT[name]


def same(value, reference, scale):
    """Equal to 1e-12 relative, or to 1e-14 of the costs' scale where the value is round-off (a cloud on E^G)."""
    return abs(value - reference) <= max(1e-12 * abs(reference), 1e-14 * scale)


@settings(max_examples=30, deadline=None)
@given(name=st.sampled_from(sorted(SYMMETRIES)), n=st.integers(1, 40), seed=st.integers(0, 2**31),
       kind=st.sampled_from(["wi", "near", "si"]), weighted=st.booleans())
def test_wi_transport_equals_dense_network_simplex(name, n, seed, kind, weighted):
    sym = symmetry(name)
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=0.5, size=(n, sym.unit.dim))
    if kind != "wi":
        z = sym.project(z) + (0.01 * rng.normal(size=z.shape) if kind == "near" else 0.0)
    w = rng.uniform(0.05, 1.0, size=n) if weighted else None
    result = wi_transport(sym, z, w, neighbours=2)  # few neighbours: the certificate has work to do
    wn = np.full(n, 1.0 / n) if w is None else w / w.sum()
    dense = w2(z, sym.symmetrize(z), x_weights=wn, y_weights=np.tile(wn, sym.group.order) / sym.group.order) ** 2
    scale = 2 * float(wn @ np.sum(z * z, axis=1))
    assert same(result.cost, dense, scale)
    assert result.lower <= result.cost and result.cost - result.lower <= 10 * result.tol + 1e-15 * scale
    assert wi_rmd2(sym, z, w, method="sparse") == pytest.approx(wi_rmd2(sym, z, w, method="dense"), rel=1e-12,
                                                                 abs=1e-14)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 30), m=st.integers(1, 30), dim=st.integers(1, 4), seed=st.integers(0, 2**31),
       neighbours=st.integers(1, 3))
def test_sparse_w2_between_unrelated_clouds_equals_dense(n, m, dim, seed, neighbours):
    """Without seeds the north-west corner pairs make the first sparse problem feasible."""
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, dim)), rng.normal(loc=1.0, scale=2.0, size=(m, dim))
    a, b = rng.uniform(0.1, 1.0, size=n), rng.uniform(0.1, 1.0, size=m)
    result = sparse_w2_squared(x, y, a, b, neighbours=neighbours)
    assert result.cost == pytest.approx(w2(x, y, x_weights=a / a.sum(), y_weights=b / b.sum()) ** 2, rel=1e-12)


def test_certificate_grows_the_candidates_and_ignores_massless_atoms():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(200, 3)), rng.normal(size=(300, 3)) @ np.diag([2.0, 1.0, 0.5])
    result = sparse_w2_squared(x, y, neighbours=1)
    assert result.rounds > 1 and result.pairs > 200 + 300  # the violated pairs joined
    assert result.cost == pytest.approx(w2(x, y) ** 2, rel=1e-12)
    a = np.ones(200)
    a[::2] = 0.0  # half of the atoms carry no mass: the same as leaving them out
    assert sparse_w2_squared(x, y, a).cost == pytest.approx(w2(x[1::2], y) ** 2, rel=1e-12)


def test_auto_takes_the_sparse_solver_beyond_the_dense_limit():
    sym = symmetry("swap")
    n = 400  # 400 x 800 = 3.2e5 pairs > WI_DENSE_MAX_PAIRS
    assert n * 2 * n > WI_DENSE_MAX_PAIRS and wi_rmd2_cost(n, 2).method == "sparse"
    z = np.random.default_rng(4).normal(scale=0.25, size=(n, 4))
    dense = rmd2(z, sym.symmetrize(z))
    assert wi_rmd2(sym, z) == pytest.approx(dense, rel=1e-12) and wi_rmd2(sym, z, method="dense") == dense
    # the sparse solver's own size guard, checked before any KD-tree or edge list
    with pytest.raises(TooLargeForExactOT, match=r"between 400 and 800 points needs 10400 candidate pairs "
                                                 r"\(limit 1000\)"):
        wi_rmd2(sym, z, method="sparse", max_pairs=1000)
    with pytest.raises(ValueError, match="method must be 'auto', 'dense' or 'sparse', got 'fast'"):
        wi_rmd2(sym, z, method="fast")


def test_cost_estimate():
    small = wi_rmd2_cost(100, 2)
    assert (small.method, small.pairs, small.bytes) == ("dense", 20_000, 160_000)
    big = wi_rmd2_cost(100_000, 2)
    assert big.method == "sparse" and big.pairs == 100_000 * (2 * 2 + 20) + 2 * 100_000
    assert big.pairs < SPARSE_OT_MAX_PAIRS and big.bytes < 1e9
    # the network simplex's time grows faster than its pairs, and the rounds with |G|
    small = wi_rmd2_cost(10_000, 2)
    assert big.seconds / small.seconds > 5 * big.pairs / small.pairs
    assert wi_rmd2_cost(10_000, 16).seconds > wi_rmd2_cost(10_000, 2).seconds
    assert wi_rmd2_cost(10_000, 16).pairs == 10_000 * 52 + 160_000
    with pytest.raises(ValueError, match="n >= 1 and order >= 1, got n = 0"):
        wi_rmd2_cost(0, 2)
