"""Group actions on unit parameters: joint equivariance, E^G, P_E, symmetrization, Prop 1."""

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

import wgf
from wgf import NotEquivariantError, Symmetry, group_from_name, make_unit

DIMS = [(2, 2), (3, 3), (3, 1)]


def _unit(name, dx, dy):
    return make_unit(name, dx, dy, hidden=3 if name == "two_layer" else None)


def _pairs():
    cases = []
    for dims in DIMS:
        for name in ("linear", "sigmoid_matrix", "tanh_matrix"):
            for group in ("trivial", "swap", "cyclic", "permutation"):
                cases.append((name, group, dims))
        for name in ("linear", "tanh_matrix"):
            cases.append((name, "sign", dims))
        for group in ("permutation", "swap", "cyclic"):
            cases.append(("two_layer", group, dims))
    return cases


PAIRS = _pairs()
PAIR_IDS = [f"{n}-{g}-{d[0]}x{d[1]}" for n, g, d in PAIRS]


def _symmetry(name, group, dims):
    return Symmetry(_unit(name, *dims), group_from_name(group, *dims))


@pytest.mark.parametrize("name,group,dims", PAIRS, ids=PAIR_IDS)
def test_joint_equivariance(name, group, dims):
    sym = _symmetry(name, group, dims)
    assert sym.equivariance_defect() < 1e-12
    # an independent check on other random points: sigma(rho_g x, M_g z) = rhohat_g sigma(x, z)
    rng = np.random.default_rng(11)
    x = rng.normal(scale=3.0, size=(20, dims[0]))
    z = rng.normal(size=(15, sym.unit.dim))
    base = sym.unit.value(x, z)
    for m, rx, ry in zip(sym.matrices, sym.group.rho_x, sym.group.rho_y):
        moved = sym.unit.value(x @ rx.T, z @ m.T)
        np.testing.assert_allclose(moved, base @ ry.T, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name,group,dims", PAIRS, ids=PAIR_IDS)
def test_action_is_an_orthogonal_representation_and_projector(name, group, dims):
    sym = _symmetry(name, group, dims)
    M, P, B = sym.matrices, sym.projector, sym.basis
    t = sym.group.table
    D = sym.unit.dim
    assert M.shape == (sym.group.order, D, D)
    # homomorphism and orthogonality of g -> M_g
    np.testing.assert_allclose(M[t], np.einsum("aij,bjk->abik", M, M), rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.einsum("gji,gjk->gik", M, M), np.broadcast_to(np.eye(D), M.shape), atol=1e-12)
    # P_E: idempotent, symmetric, = B B^T, absorbs every M_g on both sides
    np.testing.assert_allclose(P @ P, P, rtol=0, atol=1e-12)
    np.testing.assert_allclose(P, P.T, rtol=0, atol=1e-12)
    np.testing.assert_allclose(B @ B.T, P, rtol=0, atol=1e-12)
    np.testing.assert_allclose(B.T @ B, np.eye(B.shape[1]), rtol=0, atol=1e-12)
    for m in M:
        np.testing.assert_allclose(m @ P, P, rtol=0, atol=1e-12)
        np.testing.assert_allclose(P @ m, P, rtol=0, atol=1e-12)
        np.testing.assert_allclose(m @ B, B, rtol=0, atol=1e-12)
    # dim E^G = trace P_E = mean character
    assert sym.dim_fixed == round(np.trace(P))
    assert abs(np.trace(P) - np.mean(np.trace(M, axis1=1, axis2=2))) < 1e-12
    # project / to_fixed / from_fixed are consistent
    z = np.random.default_rng(3).normal(size=(6, D))
    np.testing.assert_allclose(sym.from_fixed(sym.to_fixed(z)), sym.project(z), rtol=0, atol=1e-12)
    assert sym.si_defect(sym.project(z)) < 1e-24
    assert sym.si_defect(z) == pytest.approx(np.mean(np.sum((z - z @ P) ** 2, axis=1)), rel=1e-12)


@pytest.mark.parametrize(
    "name,group,dims,expected",
    [
        ("sigmoid_matrix", "swap", (2, 2), 2),
        ("sigmoid_matrix", "trivial", (2, 2), 4),
        ("sigmoid_matrix", "permutation", (3, 3), 2),  # a I + b (J - I)
        ("sigmoid_matrix", "cyclic", (3, 3), 3),  # circulant matrices
        ("sigmoid_matrix", "permutation", (3, 1), 1),  # constant row
        ("sigmoid_matrix", "swap", (3, 1), 2),  # (a, a, c)
        ("linear", "sign", (3, 3), 9),  # M_g = (-I) kron (-I) = I
        ("tanh_matrix", "swap", (3, 3), 5),
        ("two_layer", "swap", (2, 2), 9),  # equal rows of W, equal rows of A, free b: 3 h
        ("two_layer", "permutation", (3, 1), 9),  # W free (dy = 1), equal rows of A, b free: 3 h
    ],
)
def test_fixed_space_dimensions(name, group, dims, expected):
    assert _symmetry(name, group, dims).dim_fixed == expected


def test_fixed_space_of_the_paper_is_symmetric_toeplitz():
    sym = _symmetry("sigmoid_matrix", "swap", (2, 2))
    assert sym.dim_fixed == 2
    for col in sym.basis.T:
        w = col.reshape(2, 2)
        assert w[0, 0] == pytest.approx(w[1, 1], abs=1e-14)
        assert w[0, 1] == pytest.approx(w[1, 0], abs=1e-14)
    # E^G = {[[a, b], [b, a]]}: P_E is the orthogonal projector onto span{I, J - I}
    e1 = np.array([1.0, 0.0, 0.0, 1.0]) / np.sqrt(2)
    e2 = np.array([0.0, 1.0, 1.0, 0.0]) / np.sqrt(2)
    np.testing.assert_allclose(sym.projector, np.outer(e1, e1) + np.outer(e2, e2), rtol=0, atol=1e-15)
    # M_g for the swap: [[a, b], [c, d]] -> [[d, c], [b, a]]
    z = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(sym.matrices[1] @ z, [4.0, 3.0, 2.0, 1.0])
    np.testing.assert_allclose(sym.project(z[None])[0], [2.5, 2.5, 2.5, 2.5], atol=1e-15)


@pytest.mark.parametrize("dims", [(2, 2), (3, 3), (3, 1), (1, 1)])
def test_sigmoid_with_sign_is_not_equivariant(dims):
    # s(-u) = 1 - s(u) != -s(u)
    with pytest.raises(NotEquivariantError, match="not equivariant"):
        Symmetry(make_unit("sigmoid_matrix", *dims), group_from_name("sign", *dims))
    # NotEquivariantError is a ValueError (config errors rely on it)
    assert issubclass(NotEquivariantError, ValueError)


def test_two_layer_with_sign_is_equivariant():
    # M_g (W, A, b) = (-W, -A, b): -W s((-A)^T (-x) + b) = -sigma(x, z), whatever the activation
    sym = Symmetry(make_unit("two_layer", 2, 2, hidden=3), group_from_name("sign", 2, 2))
    assert sym.equivariance_defect(seed=3) < 1e-12
    assert sym.dim_fixed == 3  # only b is fixed


def test_unchecked_construction_reports_the_defect():
    sym = Symmetry(make_unit("sigmoid_matrix", 2, 2), group_from_name("sign", 2, 2), check=False)
    assert sym.equivariance_defect() > 1e-2


def test_dimension_mismatch_raises():
    with pytest.raises(ValueError):
        Symmetry(make_unit("linear", 2, 2), group_from_name("swap", 3, 3))


def _match_as_sets(a, b):
    """Max distance of the best one-to-one matching of the rows of a and b."""
    cost = np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)
    r, c = linear_sum_assignment(cost)
    return float(cost[r, c].max())


SYM_CASES = [
    ("sigmoid_matrix", "swap", (2, 2)),
    ("sigmoid_matrix", "permutation", (3, 3)),
    ("tanh_matrix", "cyclic", (3, 3)),
    ("linear", "sign", (3, 1)),
    ("tanh_matrix", "sign", (2, 2)),
    ("two_layer", "permutation", (3, 1)),
    ("two_layer", "swap", (2, 2)),
]
SYM_IDS = [f"{n}-{g}-{d[0]}x{d[1]}" for n, g, d in SYM_CASES]


@pytest.mark.parametrize("name,group,dims", SYM_CASES, ids=SYM_IDS)
def test_symmetrized_cloud_is_invariant(name, group, dims):
    sym = _symmetry(name, group, dims)
    z = np.random.default_rng(5).normal(size=(7, sym.unit.dim))
    zg = sym.symmetrize(z)
    assert zg.shape == (sym.group.order * 7, sym.unit.dim)
    for m in sym.matrices:
        assert _match_as_sets(zg @ m.T, zg) < 1e-12
    # the raw cloud is not invariant (otherwise the test above proves nothing)
    if sym.dim_fixed < sym.unit.dim:
        assert max(_match_as_sets(z @ m.T, z) for m in sym.matrices) > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("name,group,dims", SYM_CASES, ids=SYM_IDS)
def test_prop1_symmetrized_model(name, group, dims):
    """Prop 1: Q_G Phi_mu = Phi_{mu^G} for random weighted clouds."""
    sym = _symmetry(name, group, dims)
    unit, order = sym.unit, sym.group.order
    rng = np.random.default_rng(7)
    x = rng.normal(scale=2.0, size=(25, dims[0]))
    for n in (1, 6):
        z = rng.normal(size=(n, unit.dim))
        w = rng.uniform(0.2, 1.0, size=n)
        w /= w.sum()
        q_phi = sym.symmetrize_function(lambda xx: unit.output(xx, z, w))(x)
        phi_g = unit.output(x, sym.symmetrize(z), np.tile(w / order, order))
        np.testing.assert_allclose(q_phi, phi_g, rtol=0, atol=1e-12)
        # and Q_G is a projection onto equivariant functions: Q_G Phi_{mu^G} = Phi_{mu^G}
        zg, wg = sym.symmetrize(z), np.tile(w / order, order)
        np.testing.assert_allclose(sym.symmetrize_function(lambda xx: unit.output(xx, zg, wg))(x), phi_g, atol=1e-12)
        # the statement is not vacuous: Phi_mu itself differs from Phi_{mu^G} unless G acts trivially
        if sym.dim_fixed < unit.dim:
            assert np.abs(unit.output(x, z, w) - phi_g).max() > 1e-4


def test_symmetrize_function_definition():
    """(Q_G f)(x) = (1/|G|) sum_g rhohat_g^T f(rho_g x) on a non-equivariant linear map."""
    g = group_from_name("cyclic", 3, 3)
    sym = Symmetry(make_unit("linear", 3, 3), g)
    A = np.arange(9.0).reshape(3, 3)
    x = np.array([[1.0, -2.0, 0.5]])
    qf = sym.symmetrize_function(lambda xx: xx @ A.T)
    expected = np.mean([ry.T @ A @ rx @ x[0] for rx, ry in zip(g.rho_x, g.rho_y)], axis=0)
    np.testing.assert_allclose(qf(x)[0], expected, rtol=0, atol=1e-13)
    # Q_G f is linear with matrix (1/|G|) sum rhohat^T A rho = the projection of A onto commuting matrices:
    # for C_3 acting by shifts, that is a circulant matrix (constant along cyclic diagonals)
    Ag = np.mean([ry.T @ A @ rx for rx, ry in zip(g.rho_x, g.rho_y)], axis=0)
    for k in range(3):
        diag = [Ag[i, (i + k) % 3] for i in range(3)]
        assert np.ptp(diag) < 1e-13
    assert wgf.Symmetry is Symmetry
