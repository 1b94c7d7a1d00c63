"""Schemes as transforms of the problem: Prop 2 of the paper, first variation, quadrature."""

from pathlib import Path

import numpy as np
import pytest

import wgf
from wgf import GaussianTeacherData, Problem, Symmetry, first_variation, gauss_hermite, group_from_name, make_teacher, make_unit, risk
from wgf.config import load_config
from wgf.schemes import scheme_quadrature

PAPER = Path(__file__).resolve().parents[1] / "examples" / "paper_c2.toml"
REL = 1e-12


def _close(a, b, rel=REL):
    assert abs(a - b) <= rel * max(abs(a), abs(b)), f"{a!r} vs {b!r}: relative gap {abs(a - b) / max(abs(a), abs(b)):.3e}"


@pytest.fixture(scope="module")
def paper():
    problem = load_config(PAPER).problem
    assert problem.scheme == "vanilla" and problem.data.teacher_kind == "arbitrary"
    assert problem.base_unit.name == "sigmoid_matrix" and problem.group.name == "swap"
    return problem


def _wi_teacher(problem):
    """The same problem with the WI teacher (teacher particles plus their G-images)."""
    sym = problem.symmetry
    assert problem.data.teacher_kind == "arbitrary"
    teacher = make_teacher("wi", problem.data.teacher, sym)
    assert teacher.shape[0] == sym.group.order * problem.data.teacher.shape[0]
    data = GaussianTeacherData(sym.unit, teacher, problem.data.x_std, problem.data.label_noise, "wi")
    return problem.replace(data=data)


def _other_problems():
    """Two more setups, so that Prop 2 is not only checked where dim_x = 2 and G = C2."""
    out = []
    for name, group, dims, hidden, points in (
        ("tanh_matrix", "cyclic", (3, 3), None, 6),
        ("two_layer", "permutation", (3, 1), 2, 5),
    ):
        unit = make_unit(name, *dims, hidden=hidden)
        sym = Symmetry(unit, group_from_name(group, *dims))
        teacher = np.random.default_rng(17).normal(scale=0.7, size=(3, unit.dim))
        data = GaussianTeacherData(unit, teacher, 1.5, 0.1, "arbitrary")
        out.append(Problem(sym, data, quadrature_points=points))
    return out


def _clouds(problem, seed):
    rng = np.random.default_rng(seed)
    for n in (1, 7):
        z = rng.normal(scale=0.8, size=(n, problem.dim))
        w = rng.uniform(0.2, 1.0, size=n)
        yield z, w / w.sum()


def _check_prop2(vanilla, seed):
    sym = vanilla.symmetry
    order = sym.group.order
    da, fa, ea = (vanilla.replace(scheme=s) for s in ("da", "fa", "ea"))
    for z, w in _clouds(vanilla, seed):
        # R^DA(mu) = (1/|G|) sum_g R(M_g # mu)
        r_da = risk(da, z, w)
        _close(r_da, np.mean([risk(vanilla, zg, w) for zg in sym.orbit(z)]))
        # R^FA(mu) = R(mu^G)
        zg, wg = sym.symmetrize(z), np.tile(w / order, order)
        r_fa = risk(fa, z, w)
        _close(r_fa, risk(vanilla, zg, wg))
        # R^EA(mu) = R(mu^E)
        r_ea = risk(ea, z, w)
        _close(r_ea, risk(vanilla, sym.project(z), w))
        r = risk(vanilla, z, w)
        if vanilla.data.is_equivariant:
            # pi equivariant: R is G-invariant, so averaging it over the orbit changes nothing
            _close(r_da, r)
            assert min(abs(r - r_fa), abs(r - r_ea), abs(r_fa - r_ea)) > 1e-6 * r
        else:
            # the schemes are genuinely different risks on a generic mu (the checks are not vacuous)
            assert min(abs(r - r_da), abs(r - r_fa), abs(r - r_ea), abs(r_da - r_fa), abs(r_fa - r_ea)) > 1e-6 * r


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prop2_paper_setup(paper, seed):
    _check_prop2(paper, seed)


def test_prop2_paper_setup_wi_teacher(paper):
    _check_prop2(_wi_teacher(paper), 3)


@pytest.mark.parametrize("k", [0, 1], ids=["tanh-cyclic-3x3", "two_layer-perm-3x1"])
def test_prop2_other_setups(k):
    _check_prop2(_other_problems()[k], 4)


@pytest.mark.parametrize("teacher", ["wi", "arbitrary"])
def test_da_equals_fa_on_wi_measures(paper, teacher):
    """mu WI: R^DA(mu) = R^FA(mu) (= R(mu)); with an equivariant pi also dR^DA/dmu = dR^FA/dmu = dR/dmu."""
    vanilla = _wi_teacher(paper) if teacher == "wi" else paper
    sym = vanilla.symmetry
    order = sym.group.order
    da, fa = vanilla.replace(scheme="da"), vanilla.replace(scheme="fa")
    rng = np.random.default_rng(9)
    z = rng.normal(scale=0.8, size=(6, vanilla.dim))
    w = rng.uniform(0.2, 1.0, size=6)
    zg, wg = sym.symmetrize(z), np.tile(w / w.sum() / order, order)  # a WI measure
    r_da, r_fa, r = risk(da, zg, wg), risk(fa, zg, wg), risk(vanilla, zg, wg)
    _close(r_da, r_fa)
    _close(r_da, r)
    at = rng.normal(size=(5, vanilla.dim))
    fv_da, fv_fa, fv = (first_variation(p, zg, at, wg) for p in (da, fa, vanilla))
    scale = np.abs(fv).max()
    if teacher == "wi":
        np.testing.assert_allclose(fv_da, fv_fa, rtol=0, atol=REL * scale)
        np.testing.assert_allclose(fv_da, fv, rtol=0, atol=REL * scale)
    else:
        # pi not equivariant: the potentials differ, although the risks at mu agree
        assert np.abs(fv - fv_fa).max() > 1e-6 * scale


@pytest.mark.parametrize("scheme", ["vanilla", "da", "fa", "ea"])
@pytest.mark.parametrize("which", ["paper", "tanh-cyclic"])
def test_first_variation_is_the_directional_derivative(paper, scheme, which):
    """R((1 - s) mu + s delta_a) = R(mu) + s (dR/dmu(a) - int dR/dmu dmu) + s^2 E|sigma(X, a) - Phi_mu(X)|^2.

    R is quadratic in mu, so the expansion is exact and its central difference at s = 0 has no
    truncation error: both are checked to round-off.
    """
    problem = (paper if which == "paper" else _other_problems()[0]).replace(scheme=scheme)
    q = problem.quadrature
    rng = np.random.default_rng(21)
    z = rng.normal(scale=0.8, size=(6, problem.dim))
    w = rng.uniform(0.2, 1.0, size=6)
    w /= w.sum()
    at = rng.normal(size=(4, problem.dim))
    dR_at = first_variation(problem, z, at, w)
    mean_dR = float(np.dot(w, first_variation(problem, z, z, w)))
    r0 = risk(problem, z, w)
    phi = problem.unit.output(q.x, z, w)

    def r_mix(a, s):
        return risk(problem, np.vstack([z, a]), np.concatenate([(1 - s) * w, [s]]))

    for a, d in zip(at, dR_at):
        slope = d - mean_dR
        s = 1e-4
        central = (r_mix(a, s) - r_mix(a, -s)) / (2 * s)
        # rounding only: ~ eps |R| / s ~ 1e-12 |R|
        assert abs(central - slope) <= 1e-8 * max(abs(r0), abs(slope))
        curv = float(np.dot(q.weights, np.sum((problem.unit.output(q.x, a[None]) - phi) ** 2, axis=1)))
        for s in (0.05, 0.5, 1.0):
            _close(r_mix(a, s), r0 + s * slope + s * s * curv, rel=1e-11)


def test_potential_and_free_energy(paper):
    rng = np.random.default_rng(2)
    z = rng.normal(size=(5, paper.dim))
    at = rng.normal(size=(3, paper.dim))
    np.testing.assert_allclose(
        wgf.potential(paper, z, at), first_variation(paper, z, at) + paper.tau * np.sum(at**2, axis=1), rtol=1e-14
    )
    f = wgf.free_energy(paper, z, neg_entropy=2.5)
    _close(f, risk(paper, z) + paper.tau * np.mean(np.sum(z**2, axis=1)) + paper.beta * 2.5, rel=1e-14)


def test_risk_of_the_teacher_is_the_noise(paper):
    """R(teacher) = 0 without label noise; = dy s_eta^2 with it."""
    teacher = paper.data.teacher
    assert risk(paper, teacher) < 1e-28
    other = _other_problems()[0]  # dy = 3, label_noise = 0.1
    _close(risk(other, other.data.teacher), 3 * 0.1**2)


def test_scheme_quadrature(paper):
    q = paper.data.quadrature(paper.quadrature_points)
    qa = scheme_quadrature("da", q, paper.group)
    assert len(qa) == paper.group.order * len(q)
    assert qa.weights.sum() == pytest.approx(1.0, abs=1e-14)
    # node g * Q + q is (rho_g x_q, rhohat_g y_q)
    for g in range(paper.group.order):
        sl = slice(g * len(q), (g + 1) * len(q))
        np.testing.assert_array_equal(qa.x[sl], q.x @ paper.group.rho_x[g].T)
        np.testing.assert_array_equal(qa.y[sl], q.y @ paper.group.rho_y[g].T)
    for s in ("vanilla", "fa", "ea"):
        assert scheme_quadrature(s, q, paper.group) is q
    with pytest.raises(ValueError):
        scheme_quadrature("xx", q, paper.group)
    with pytest.raises(ValueError):
        paper.replace(scheme="xx")


# ---------------------------------------------------------------- quadrature
@pytest.mark.parametrize("dim,points,std", [(1, 4, 1.0), (2, 4, 4.0), (3, 5, 0.7), (2, 16, 4.0)])
def test_gauss_hermite_moments(dim, points, std):
    x, w = gauss_hermite(dim, points, std)
    assert x.shape == (points**dim, dim) and w.shape == (points**dim,)
    assert np.all(w > 0)
    assert w.sum() == pytest.approx(1.0, abs=1e-14)
    s2, s4, s6 = std**2, std**4, std**6

    def E(f):
        return float(np.dot(w, f))

    for i in range(dim):
        xi = x[:, i]
        assert E(xi) == pytest.approx(0.0, abs=1e-13 * std)
        assert E(xi**3) == pytest.approx(0.0, abs=1e-13 * std**3)
        assert E(xi**2) == pytest.approx(s2, rel=1e-13)
        assert E(xi**4) == pytest.approx(3 * s4, rel=1e-13)
        assert E(xi**6) == pytest.approx(15 * s6, rel=1e-12)  # degree 6 <= 2 points - 1
        for j in range(i + 1, dim):
            xj = x[:, j]
            assert E(xi * xj) == pytest.approx(0.0, abs=1e-13 * s2)
            assert E(xi**2 * xj**2) == pytest.approx(s4, rel=1e-13)
            assert E(xi**2 * xj**4) == pytest.approx(3 * s6, rel=1e-12)
            assert E(xi**3 * xj) == pytest.approx(0.0, abs=1e-12 * s4)


@pytest.mark.parametrize("points", [1, 2, 3, 5])
def test_gauss_hermite_degree_is_sharp(points):
    """Exact up to degree 2 p - 1, not at degree 2 p: E[X^(2p)] = (2p - 1)!! s^(2p) fails."""
    std = 1.3
    x, w = gauss_hermite(1, points, std)
    k = 2 * points
    double_fact = np.prod(np.arange(k - 1, 0, -2, dtype=float))
    exact_below = np.prod(np.arange(k - 3, 0, -2, dtype=float)) * std ** (k - 2)
    assert float(np.dot(w, x[:, 0] ** (k - 2))) == pytest.approx(exact_below, rel=1e-12)
    assert abs(float(np.dot(w, x[:, 0] ** k)) - double_fact * std**k) > 1e-3 * double_fact * std**k
