"""Units sigma_*(x, z) and their scheme transforms: values, VJPs, numba kernels, layouts.

Finite-difference tolerance (used throughout): central differences with step
h = 1e-6 on f(z) = sum_b <c_b, sigma(x_b, z)> have truncation error
h^2 |f'''| / 6 ~ 1e-12 |f'''| and rounding error ~ eps |f| / h ~ 2.2e-16 * |f| / 1e-6
~ 2e-10 |f|.  With |f| = O(10) and |f'''| = O(100) on the inputs drawn below,
the total error is <~ 1e-8 absolute (observed: <= 1e-9 relative), so
``FD_RTOL = 1e-7`` relative to max(1, max |gradient|) leaves an order of
magnitude of margin against noise while any
analytic mistake (a missing factor, a transposed layout, a wrong slope) gives an
O(1) relative error and fails.
"""

import numpy as np
import pytest
from scipy.special import expit

import wgf
from wgf.activations import ACTIVATIONS
from wgf.schemes import SchemeUnit, scheme_unit

H = 1e-6
FD_RTOL = 1e-7
KERNEL_TOL = 1e-12

MATRIX_UNITS = [
    (name, dims) for name in ("linear", "sigmoid_matrix", "tanh_matrix") for dims in ((2, 2), (3, 1), (1, 3))
]
ALL_UNITS = MATRIX_UNITS + [("two_layer", dims) for dims in ((2, 2), (3, 1), (1, 3))]


def _unit(name, dims):
    return wgf.make_unit(name, *dims, hidden=3 if name == "two_layer" else None)


def _ids(cases):
    return [f"{n}-{d[0]}x{d[1]}" for n, d in cases]


def _sample(unit, rng, b=7, n=5):
    x = rng.normal(scale=1.5, size=(b, unit.dim_x))
    z = rng.normal(size=(n, unit.dim))
    c = rng.normal(size=(b, unit.dim_y))
    return x, z, c


def _fd_vjp(unit, x, z, c):
    """Central differences of f_n(z_n) = sum_b <c_b, sigma(x_b, z_n)> for all particles at once.

    c is (B, dy) or (B, N, dy).
    """
    cc = c[:, None, :] if c.ndim == 2 else c
    g = np.empty_like(z)
    for a in range(unit.dim):
        e = np.zeros(unit.dim)
        e[a] = H
        fp = np.einsum("bni,bni->n", unit.value(x, z + e), cc)
        fm = np.einsum("bni,bni->n", unit.value(x, z - e), cc)
        g[:, a] = (fp - fm) / (2 * H)
    return g


def _assert_fd(analytic, fd):
    scale = max(1.0, float(np.abs(analytic).max()))
    err = float(np.abs(analytic - fd).max())
    assert err <= FD_RTOL * scale, f"vjp vs finite differences: max error {err:.3e} (scale {scale:.3e})"


# ----------------------------------------------------------------- base units
@pytest.mark.parametrize("name,dims", ALL_UNITS, ids=_ids(ALL_UNITS))
def test_value_shape_and_vjp_matches_finite_differences(name, dims):
    unit = _unit(name, dims)
    rng = np.random.default_rng(1)
    x, z, c = _sample(unit, rng)
    assert unit.value(x, z).shape == (x.shape[0], z.shape[0], unit.dim_y)
    g = unit.vjp(x, z, c)
    assert g.shape == z.shape
    _assert_fd(g, _fd_vjp(unit, x, z, c))
    # per-particle cotangents c (B, N, dy)
    c3 = rng.normal(size=(x.shape[0], z.shape[0], unit.dim_y))
    _assert_fd(unit.vjp(x, z, c3), _fd_vjp(unit, x, z, c3))


# independent NumPy formulas of the activations (the oracle of the compiled ones)
NUMPY_ACTIVATIONS = {
    "identity": lambda u: u,
    "sigmoid": expit,
    "tanh": np.tanh,
    "relu": lambda u: np.maximum(u, 0.0),
    "softplus": lambda u: np.logaddexp(0.0, u),
}


@pytest.mark.slow
@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("family", ["matrix", "two_layer"])
def test_every_activation_matches_numpy_and_finite_differences(family, act):
    """value against an independent NumPy formula (1e-14), VJP against finite differences."""
    rng = np.random.default_rng(2)
    if family == "matrix":
        unit = wgf.matrix_unit(3, 2, act)
    else:
        unit = wgf.two_layer_unit(3, 2, 4, act)
    x, z, c = _sample(unit, rng)
    s = NUMPY_ACTIVATIONS[act]
    if family == "matrix":
        ref = s(np.einsum("bj,nij->bni", x, z.reshape(-1, 2, 3)))
    else:
        h = 4
        w, a, b = z[:, : 2 * h].reshape(-1, 2, h), z[:, 2 * h : 5 * h].reshape(-1, 3, h), z[:, 5 * h :]
        ref = np.einsum("nik,bnk->bni", w, s(np.einsum("bj,njk->bnk", x, a) + b[None]))
    np.testing.assert_allclose(unit.value(x, z), ref, rtol=1e-14, atol=1e-14)
    _assert_fd(unit.vjp(x, z, c), _fd_vjp(unit, x, z, c))
    # the activation's own derivative against finite differences, away from relu's kink
    u = np.linspace(-30.0, 30.0, 601) + 0.0123
    fd = (ACTIVATIONS[act](u + 1e-6) - ACTIVATIONS[act](u - 1e-6)) / 2e-6
    np.testing.assert_allclose(ACTIVATIONS[act].derivative(u), fd, rtol=1e-6, atol=1e-8)


def test_aliases_are_matrix_units_with_their_activation():
    rng = np.random.default_rng(4)
    for alias, act in (("linear", "identity"), ("sigmoid_matrix", "sigmoid"), ("tanh_matrix", "tanh")):
        a, m = wgf.make_unit(alias, 2, 3), wgf.make_unit("matrix", 2, 3, activation=act)
        x, z, _ = _sample(a, rng)
        assert np.array_equal(a.value(x, z), m.value(x, z))
    with pytest.raises(ValueError, match="use unit = 'matrix'"):
        wgf.make_unit("sigmoid_matrix", 2, 2, activation="relu")


@pytest.mark.parametrize("name,dims", ALL_UNITS, ids=_ids(ALL_UNITS))
def test_output_is_weighted_sum(name, dims):
    unit = _unit(name, dims)
    rng = np.random.default_rng(3)
    x, z, _ = _sample(unit, rng, b=6, n=9)
    val = unit.value(x, z)
    w = rng.uniform(0.1, 1.0, size=z.shape[0])
    np.testing.assert_allclose(unit.output(x, z, w), np.einsum("n,bni->bi", w, val), rtol=0, atol=KERNEL_TOL)
    # default weights 1/N
    np.testing.assert_allclose(unit.output(x, z), val.mean(axis=1), rtol=0, atol=KERNEL_TOL)


# ------------------------------------------------------------ parameter layout
def test_sigmoid_matrix_layout_is_row_major():
    unit = wgf.make_unit("sigmoid_matrix", 3, 2)
    W = np.array([[0.3, -1.2, 0.7], [2.0, 0.1, -0.4]])
    x = np.array([[1.0, 2.0, -1.5], [-0.5, 0.25, 3.0]])
    z = W.ravel()[None]  # row-major vec(W)
    expected = expit(x @ W.T)  # sigmoid(W x_b) for each b
    np.testing.assert_allclose(unit.value(x, z)[:, 0, :], expected, rtol=0, atol=1e-15)
    # and an explicit entry: out_0 = s(W[0] . x) with W[0] = z[0:3]
    assert unit.value(x[:1], z)[0, 0, 1] == pytest.approx(expit(2.0 * 1.0 + 0.1 * 2.0 - 0.4 * -1.5), abs=1e-15)
    # the column-major flattening is a different parameter vector and gives other values
    assert np.abs(unit.value(x, W.T.ravel()[None])[:, 0, :] - expected).max() > 1e-2


def test_linear_and_tanh_layouts():
    W = np.array([[0.5, -1.0], [1.5, 0.2], [-0.3, 0.9]])  # dy = 3, dx = 2
    x = np.array([[1.0, -2.0], [0.3, 0.7]])
    z = W.ravel()[None]
    np.testing.assert_allclose(wgf.make_unit("linear", 2, 3).value(x, z)[:, 0], x @ W.T, rtol=0, atol=1e-15)
    np.testing.assert_allclose(wgf.make_unit("tanh_matrix", 2, 3).value(x, z)[:, 0], np.tanh(x @ W.T), rtol=0, atol=1e-15)


def test_two_layer_layout():
    dx, dy, h = 2, 3, 4
    unit = wgf.make_unit("two_layer", dx, dy, hidden=h)
    rng = np.random.default_rng(4)
    W, A, b = rng.normal(size=(dy, h)), rng.normal(size=(dx, h)), rng.normal(size=h)
    z = np.concatenate([W.ravel(), A.ravel(), b])[None]
    assert unit.dim == z.shape[1] == h * (dx + dy + 1)
    x = rng.normal(size=(5, dx))
    expected = expit(x @ A + b) @ W.T  # W s(A^T x + b)
    np.testing.assert_allclose(unit.value(x, z)[:, 0], expected, rtol=0, atol=1e-14)


def test_make_unit_rejects_bad_input():
    with pytest.raises(ValueError):
        wgf.make_unit("relu", 2, 2)
    with pytest.raises(ValueError, match="unknown activation"):
        wgf.make_unit("matrix", 2, 2, activation="gelu")
    with pytest.raises(ValueError):
        wgf.make_unit("two_layer", 2, 2)
    with pytest.raises(ValueError):
        wgf.make_unit("linear", 0, 2)


# ------------------------------------------------------------------ scheme units
SCHEME_CASES = [
    ("sigmoid_matrix", (2, 2)),
    ("tanh_matrix", (3, 3)),
    ("linear", (3, 1)),
    ("two_layer", (2, 2)),
]


def _scheme_units():
    out = []
    for name, dims in SCHEME_CASES:
        unit = _unit(name, dims)
        sym = wgf.Symmetry(unit, wgf.group_from_name("swap", *dims))
        for scheme in ("vanilla", "fa", "ea"):
            out.append(pytest.param(sym, scheme, id=f"{name}-{dims[0]}x{dims[1]}-{scheme}"))
    return out


@pytest.mark.parametrize("sym,scheme", _scheme_units())
def test_scheme_unit_matches_definition_fd_and_kernels(sym, scheme):
    su = scheme_unit(scheme, sym)
    base, group = sym.unit, sym.group
    rng = np.random.default_rng(5)
    x, z, c = _sample(su, rng)

    # value against the definition of docs/theory.md §3
    if scheme == "vanilla":
        assert su.base is base and su.n_maps == 0 and su.projector is None
        ref = base.value(x, z)
    elif scheme == "fa":
        assert isinstance(su, SchemeUnit)
        ref = np.mean([base.value(x @ rx.T, z) @ ry for rx, ry in zip(group.rho_x, group.rho_y)], axis=0)
    else:
        assert isinstance(su, SchemeUnit)
        ref = base.value(x, z @ sym.projector.T)
    np.testing.assert_allclose(su.value(x, z), ref, rtol=0, atol=KERNEL_TOL)

    # NumPy vjp vs finite differences of the NumPy value
    g_np = su.vjp(x, z, c)
    _assert_fd(g_np, _fd_vjp(su, x, z, c))
    c3 = rng.normal(size=(x.shape[0], z.shape[0], su.dim_y))  # per-particle cotangents
    _assert_fd(su.vjp(x, z, c3), _fd_vjp(su, x, z, c3))

    # the dual sum (the grid solver's potential) is the contraction of the values
    val = su.value(x, z)
    np.testing.assert_allclose(su.dual(x, c, z), np.einsum("bni,bi->n", val, c), rtol=0, atol=KERNEL_TOL)

    # Unit.output (numba model_output) is the weighted NumPy sum
    w = rng.uniform(0.1, 1.0, size=z.shape[0])
    np.testing.assert_allclose(su.output(x, z, w), np.einsum("n,bni->bi", w, val), rtol=0, atol=KERNEL_TOL)


def test_fa_and_ea_differ_from_base_off_the_fixed_space():
    """The transforms are not silently the identity: off E^G and for non-equivariant z they change values."""
    unit = _unit("sigmoid_matrix", (2, 2))
    sym = wgf.Symmetry(unit, wgf.group_from_name("swap", 2, 2))
    rng = np.random.default_rng(6)
    x, z, _ = _sample(unit, rng)
    base = unit.value(x, z)
    assert np.abs(scheme_unit("fa", sym).value(x, z) - base).max() > 1e-2
    assert np.abs(scheme_unit("ea", sym).value(x, z) - base).max() > 1e-2
    # on E^G, EA is the base unit exactly and FA too (sigma(., z) is then equivariant)
    ze = sym.project(z)
    np.testing.assert_allclose(scheme_unit("ea", sym).value(x, ze), unit.value(x, ze), rtol=0, atol=1e-15)
    np.testing.assert_allclose(scheme_unit("fa", sym).value(x, ze), unit.value(x, ze), rtol=0, atol=1e-14)


def test_output_rejects_mismatched_shapes():
    """The numba kernel does not bounds-check; Unit.output must refuse shapes that would read out of bounds."""
    unit = wgf.make_unit("sigmoid_matrix", 2, 2)
    sym = wgf.Symmetry(unit, wgf.group_from_name("swap", 2, 2))
    for u in (unit, scheme_unit("fa", sym), scheme_unit("ea", sym)):
        with pytest.raises(ValueError):
            u.output(np.ones((2, 3)), np.ones((1, 4)))  # dx = 3 for a dx = 2 unit
        with pytest.raises(ValueError):
            u.output(np.ones((2, 2)), np.ones((1, 3)))  # D = 3 for a D = 4 unit
        with pytest.raises(ValueError):
            u.output(np.ones((2, 2)), np.ones((3, 4)), np.ones(1))  # 1 weight for 3 particles
