"""The keeping pair of a unit (docs/kernels.md, "Keeping the forward pass") returns bitwise what value and vjp return."""

import numpy as np
import pytest

from wgf import make_unit
from wgf.jit import jit
from wgf.unit_kernels import WORK_ROWS


def _pairs(unit):
    value, vjp, value_keep, vjp_kept = unit.value_kernel, unit.vjp_kernel, unit.keep.value_keep, unit.keep.vjp_kept

    def run(x, Z, m, c, out, G, out_k, G_k, kept, work):
        value(x, Z, m, out, work)
        vjp(x, Z, m, c, G, work)
        value_keep(x, Z, m, out_k, kept, work)
        vjp_kept(x, Z, m, c, G_k, kept, work)

    return jit(run)


@pytest.mark.parametrize("name,hidden,act,rows", [("matrix", None, "sigmoid", 3), ("two_layer", 4, "softplus", 8)])
def test_keeping_pair_equals_value_and_vjp_bitwise(name, hidden, act, rows):
    dx = dy = 3
    unit = make_unit(name, dx, dy, hidden=hidden, activation=act)
    assert unit.keep_rows == rows  # s' per output; s and s' per hidden unit
    rng = np.random.default_rng(1)
    lanes, m = 16, 13
    x, c = rng.normal(size=dx), rng.normal(size=dy)
    Z = np.ascontiguousarray(rng.normal(size=(unit.dim, lanes)))
    out, out_k = np.full((dy, lanes), np.nan), np.full((dy, lanes), np.nan)
    G0 = rng.normal(size=(unit.dim, lanes))
    G, G_k = G0.copy(), G0.copy()
    _pairs(unit)(x, Z, m, c, out, G, out_k, G_k, np.empty((max(rows, 1), lanes)), np.empty((WORK_ROWS, lanes)))
    np.testing.assert_array_equal(out_k[:, :m], out[:, :m])
    np.testing.assert_array_equal(G_k, G)
    assert np.abs(G - G0).max() > 1e-3 and np.isfinite(out[:, :m]).all()


def test_units_without_a_keeping_pair_run_value_and_vjp():
    unit = make_unit("gated_matrix", 2, 2)
    assert unit.keep_rows == 0
    assert unit.keep.value_keep.py_func.__code__.co_freevars == ("value",)
    assert unit.keep.vjp_kept.py_func.__code__.co_freevars == ("vjp",)
