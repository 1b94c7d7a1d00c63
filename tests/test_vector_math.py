"""The vectorisable exp and the SIMD lane kernels of the matrix units."""

import numpy as np
import pytest
from numba import njit

from wgf.activations import ACTIVATIONS
from wgf.unit_kernels import WORK_ROWS, lane_sum, matrix_lanes
from wgf.vector_math import EXP_MAX, EXP_MIN, cos_sin_turn, fast_exp, fast_log, fast_log1p


@njit(cache=True)
def _exp_all(u):
    out = np.empty_like(u)
    for i in range(u.shape[0]):
        out[i] = fast_exp(u[i])
    return out


def test_fast_exp_is_accurate_to_a_few_ulp_over_the_range():
    u = np.concatenate([np.linspace(EXP_MIN, EXP_MAX, 200_001), np.random.default_rng(0).normal(size=10_000),
                        [0.0, -0.0, 1e-300, -1e-300, 0.5 * np.log(2), -0.5 * np.log(2)]])
    rel = np.abs(_exp_all(u) / np.exp(u) - 1.0)
    assert rel.max() < 2e-15
    assert _exp_all(np.array([0.0]))[0] == 1.0


def test_fast_exp_is_exact_under_reassociation():
    """The rounding k = round(u / ln 2) survives fast-math reassociation (used by the metric kernels).

    Reassociation may merge the two parts of ln 2 in the reduction r = u - k ln 2, which costs
    up to |k| ulp(ln 2) ~ 1e3 * 1.1e-16 of relative accuracy at |u| = 700 (not more)."""
    from wgf.jit import jit

    f = jit(lambda u: fast_exp(u), fastmath={"reassoc", "contract", "nsz", "arcp"})
    u = np.linspace(-700.0, 700.0, 2001)
    got = np.array([f(v) for v in u])
    assert np.max(np.abs(got / np.exp(u) - 1.0)) < 1e-13
    small = np.abs(u) < 20
    assert np.max(np.abs(got[small] / np.exp(u[small]) - 1.0)) < 2e-15


def test_fast_exp_clamps_outside_the_range():
    out = _exp_all(np.array([-1e4, -800.0, 800.0, 1e4]))
    np.testing.assert_allclose(out, np.exp([EXP_MIN, EXP_MIN, EXP_MAX, EXP_MAX]), rtol=2e-15)
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize("name,act,slope", [
    ("sigmoid", lambda u: 1 / (1 + np.exp(-u)), lambda a: a * (1 - a)),
    ("tanh", np.tanh, lambda a: 1 - a * a),
    ("identity", lambda u: u, lambda a: np.ones_like(a)),
])
def test_lane_kernels_match_numpy(name, act, slope):
    # 2x3 matrix units W (dy = 2, dx = 3) for m = 37 particles as columns of zT (6, 64)
    value, vjp = matrix_lanes(ACTIVATIONS[name])
    rng = np.random.default_rng(3)
    m, dy, dx = 37, 2, 3
    w = rng.normal(size=(m, dy, dx))
    zT = np.zeros((dy * dx, 64))
    zT[:, :m] = w.reshape(m, -1).T
    x, c = rng.normal(size=dx), rng.normal(size=dy)
    out = np.zeros((dy, 64))
    work = np.empty((WORK_ROWS, 64))
    value(x, zT, m, out, work)
    a = act(w @ x)  # (m, dy)
    np.testing.assert_allclose(out[:, :m].T, a, rtol=1e-13, atol=1e-13)
    assert np.all(out[:, m:] == 0.0)
    gT = np.zeros_like(zT)
    vjp(x, zT, m, c, gT, work)
    expected = (slope(a) * c)[:, :, None] * x[None, None, :]  # d/dW_ij = act'(u_i) c_i x_j
    np.testing.assert_allclose(gT[:, :m].T, expected.reshape(m, -1), rtol=1e-12, atol=1e-13)
    assert np.all(gT[:, m:] == 0.0)


@njit
def _lane_sum(u, m):
    return lane_sum(u, m)


def test_lane_sum_is_the_sum():
    u = np.random.default_rng(0).normal(size=203)
    for m in (0, 1, 7, 8, 9, 203):
        assert abs(_lane_sum(u, m) - u[:m].sum()) <= 1e-13


def _elementwise(f):
    """A compiled loop applying the scalar function f to every entry."""

    @njit
    def apply(x):
        out = np.empty_like(x)
        for i in range(x.shape[0]):
            out[i] = f(x[i])
        return out

    return apply


_log_all = _elementwise(fast_log)
_log1p_all = _elementwise(fast_log1p)


@njit
def _turn_all(u):
    c, s = np.empty_like(u), np.empty_like(u)
    for i in range(u.shape[0]):
        c[i], s[i] = cos_sin_turn(u[i])
    return c, s


def test_fast_log_is_accurate_to_a_few_ulp():
    x = np.concatenate([np.geomspace(2.0**-54, 1.0, 100_001), np.geomspace(1.0, 1e300, 10_001),
                        np.random.default_rng(0).uniform(size=10_000), [np.sqrt(2.0), np.nextafter(np.sqrt(2.0), 3)]])
    ref = np.log(x)
    got = _log_all(x)
    assert _log_all(np.array([1.0]))[0] == 0.0
    nz = ref != 0
    assert np.max(np.abs(got[nz] / ref[nz] - 1.0)) < 1e-15
    assert np.max(np.abs(got - ref)) < 1e-15 * np.abs(ref).max()


def test_cos_sin_turn_is_accurate_over_the_turn():
    u = np.concatenate([np.linspace(0.0, 1.0, 400_001), np.random.default_rng(1).uniform(size=10_000)])
    c, s = _turn_all(u)
    assert np.max(np.abs(c - np.cos(2 * np.pi * u))) < 1e-15
    assert np.max(np.abs(s - np.sin(2 * np.pi * u))) < 1e-15
    assert np.max(np.abs(c * c + s * s - 1.0)) < 4e-16


def test_fast_log1p_keeps_its_relative_accuracy_for_tiny_arguments():
    x = np.concatenate([np.geomspace(1e-300, 1.0, 100_001), np.random.default_rng(2).uniform(size=10_000),
                        [2.0**-53, 2.0**-52, 1e-17, 1.0, 1e300]])
    ref = np.log1p(x)
    got = _log1p_all(x)
    assert _log1p_all(np.array([0.0]))[0] == 0.0
    assert np.max(np.abs(got / ref - 1.0)) < 1e-15


def test_normal_loops_and_exp_loops_compile_to_simd_code():
    """The loops the engine runs over particles vectorise (AVX/SSE packed arithmetic in the machine code): the
    noise's normal_lanes (compiled once and called) and a loop of fast_exp (inlined)."""
    import re

    from wgf.jit import KERNEL_OPTIONS, jit
    from wgf.particles.rng import normal_lanes

    def exps(u, out):
        for i in range(u.shape[0]):
            out[i] = fast_exp(u[i])

    def normals(seed, k, z1, z2):  # an uncached copy: machine code cannot be inspected once loaded from the cache
        normal_lanes_copy(seed, 5, k, 0, 1, z1.shape[0], z1, z2)

    normal_lanes_copy = njit(**KERNEL_OPTIONS)(normal_lanes.py_func)
    exps, normals = jit(exps, **KERNEL_OPTIONS), jit(normals, **KERNEL_OPTIONS)
    z1, z2 = np.empty(64), np.empty(64)
    normals(1, 2, z1, z2)
    exps(z1, z2)
    for fn in (normal_lanes_copy, exps):
        asm = next(iter(fn.inspect_asm().values()))
        assert re.search(r"\b(vmulpd|vfmadd\w*pd|mulpd)\b", asm), fn


@pytest.mark.parametrize("act", ["identity", "sigmoid", "tanh", "relu", "softplus"])
def test_every_activation_is_inlined_into_a_vectorised_lane_loop(act):
    """A unit's lane kernel called from an engine function compiles to one function with packed double
    arithmetic and no call left to the activation (an activation LLVM did not inline would stop the loop from
    vectorising)."""
    import re

    import wgf
    from wgf.jit import KERNEL_OPTIONS, jit

    kernel = wgf.matrix_unit(2, 2, act).value_kernel

    def forward(x, z, m, out, work):
        kernel(x, z, m, out, work)

    forward = jit(forward, **KERNEL_OPTIONS)
    out = np.empty((2, 128))
    forward(np.ones(2), np.ones((4, 128)), 128, out, np.empty((3, 128)))
    llvm = next(iter(forward.inspect_llvm().values()))
    assert "<4 x double>" in llvm or "<2 x double>" in llvm
    assert not re.search(r"call \S+ (\([^)]*\) )?@_ZN3wgf11activations", llvm)
