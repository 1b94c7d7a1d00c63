"""Compact groups: Haar sampling, the Haar quadrature, E^G from the infinitesimal action, the gated unit,
joint-equivariance refusals and the invariance the schemes keep under SO(2)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from _common import GATED

from wgf.config import ConfigError, parse_config
from wgf.groups import group_from_name, haar_elements, orthogonal_group, rotation3_group, rotation_group
from wgf.symmetry import InexactQuadratureError, NotEquivariantError, Symmetry
from wgf.units import make_unit

N_SAMPLES = 40_000
SIGMA = 5.0 / np.sqrt(N_SAMPLES)  # five standard errors of a mean of bounded variables


# ------------------------------------------------------------------ Haar sampling
def test_so2_angles_are_uniform():
    rx, ry = rotation_group(2, 1).sample(np.random.default_rng(0), N_SAMPLES)
    theta = np.arctan2(rx[:, 1, 0], rx[:, 0, 0])
    for k in (1, 2, 3):  # the Fourier moments of the uniform law vanish
        assert abs(np.cos(k * theta).mean()) < SIGMA and abs(np.sin(k * theta).mean()) < SIGMA
    assert np.allclose(np.linalg.det(rx), 1.0) and np.array_equal(ry, np.ones((N_SAMPLES, 1, 1)))


def test_o2_has_both_components_with_equal_mass():
    rx, _ = orthogonal_group(2, 2).sample(np.random.default_rng(1), N_SAMPLES)
    det = np.linalg.det(rx)
    assert np.allclose(np.abs(det), 1.0)
    assert abs((det > 0).mean() - 0.5) < SIGMA
    assert np.abs(rx.mean(axis=0)).max() < 2 * SIGMA


def test_so3_is_haar_distributed():
    rx, _ = rotation3_group(3, 3).sample(np.random.default_rng(2), N_SAMPLES)
    assert np.abs(np.einsum("nji,njk->nik", rx, rx) - np.eye(3)).max() < 1e-13
    assert np.allclose(np.linalg.det(rx), 1.0)
    assert np.abs(rx.mean(axis=0)).max() < 2 * SIGMA  # E[R] = 0
    assert np.abs((rx**2).mean(axis=0) - 1 / 3).max() < 2 * SIGMA  # E[R_ij^2] = 1/3
    trace = np.trace(rx, axis1=1, axis2=2)  # the rotation angle has density (1 - cos a) / pi: E[tr R] = 0,
    assert abs(trace.mean()) < 3 * SIGMA and abs((trace**2).mean() - 1.0) < 6 * SIGMA  # E[tr^2] = 1


@pytest.mark.parametrize("group", [rotation_group(2, 2, 16), orthogonal_group(2, 2, 16), rotation3_group(3, 3, 60),
                                   rotation3_group(3, 3, 24), rotation3_group(3, 3, 12)])
def test_haar_quadratures_are_subgroups(group):
    assert group.continuous
    assert np.all(np.sort(group.table, axis=1) == np.arange(group.order))  # a Latin square: closed, invertible


def test_so3_quadratures_integrate_low_degrees_exactly():
    """The icosahedral rotations integrate the degree-2 moments of Haar exactly: E[R_ij R_kl] = delta delta / 3."""
    for points in (12, 24, 60):
        rx = rotation3_group(3, 3, points).rho_x
        second = np.einsum("gij,gkl->ijkl", rx, rx) / points
        eye = np.eye(3)
        assert np.abs(second - np.einsum("ik,jl->ijkl", eye, eye) / 3).max() < 1e-14
        assert np.abs(rx.mean(axis=0)).max() < 1e-14


# ------------------------------------------------------------------ E^G and P_E
def _conjugation(group_name, d, points=None):
    return Symmetry(make_unit("matrix", d, d, None, "identity"), group_from_name(group_name, d, d, points))


def test_fixed_subspace_of_so2_is_a_I_plus_b_J():
    sym = _conjugation("rotation", 2)
    assert sym.dim_fixed == 2
    eye, j = np.eye(2).ravel(), np.array([[0.0, -1.0], [1.0, 0.0]]).ravel()
    assert np.allclose(sym.projector @ eye, eye, atol=1e-13) and np.allclose(sym.projector @ j, j, atol=1e-13)
    assert np.allclose(sym.projector @ sym.projector, sym.projector, atol=1e-13)


def test_fixed_subspace_of_o2_and_so3_is_a_I():
    for name, d in (("orthogonal", 2), ("rotation3", 3)):
        sym = _conjugation(name, d)
        assert sym.dim_fixed == 1
        assert np.allclose(sym.basis[:, 0] ** 2, np.eye(d).ravel() / d, atol=1e-13)


def test_fixed_subspace_comes_from_the_generators_not_the_quadrature():
    """Two rotations {I, -I} fix every matrix under conjugation; SO(2) fixes only a I + b J, so a quadrature of
    1 or 2 rotations (or the dihedral groups of 2 and 4 elements) would average over a smaller group: refused,
    naming the smallest rule that fixes E^G. From three equispaced rotations on, the quadrature's average equals
    the exact projector."""
    for name, m, smallest in (("rotation", 1, 3), ("rotation", 2, 3), ("orthogonal", 2, 6), ("orthogonal", 4, 6)):
        with pytest.raises(InexactQuadratureError, match=rf"the {m}-point Haar quadrature of '{name}' does not fix "
                                                         rf"E\^G .* = 0\.5\).*use haar_points >= {smallest}$"):
            _conjugation(name, 2, m)
    for name, m in (("rotation", 3), ("rotation", 4), ("rotation", 7), ("rotation", 16), ("orthogonal", 6),
                    ("rotation3", 12), ("rotation3", 24), ("rotation3", 60)):
        sym = _conjugation(name, 3 if name == "rotation3" else 2, m)
        assert sym.quadrature_defect() < 1e-14
        assert sym.dim_fixed == {"rotation": 2, "orthogonal": 1, "rotation3": 1}[name]


def test_config_refuses_a_quadrature_that_does_not_fix_the_fixed_subspace():
    with pytest.raises(ConfigError, match=r"^\[group\] haar_points: the 2-point Haar quadrature of 'rotation' does "
                                          r"not fix E\^G of unit 'gated_matrix\[sigmoid\]' exactly .*>= 3$"):
        parse_config(GATED.replace("haar_points = 16", "haar_points = 2"))


@settings(max_examples=25, deadline=None)
@given(st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_projector_commutes_with_every_haar_element(u, v):
    sym = _conjugation("orthogonal", 2)
    rx, ry = haar_elements("o2", np.array([[u, v, 0.0, 0.0]]), 2, 2)
    m = sym.unit.action(rx[0], ry[0])
    assert np.allclose(m @ sym.projector, sym.projector, atol=1e-13)  # M_g P_E = P_E: E^G is fixed


# ------------------------------------------------------------------ the gated unit and equivariance
@pytest.mark.slow
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "softplus", "identity"])
def test_gated_unit_vjp_matches_finite_differences(act):
    unit = make_unit("gated_matrix", 3, 3, None, act)
    rng = np.random.default_rng(3)
    x, z, c = rng.normal(size=(4, 3)), rng.normal(scale=0.5, size=(2, 9)), rng.normal(size=(4, 3))
    g = unit.vjp(x, z, c)
    h = 1e-6
    fd = np.zeros_like(z)
    for a in range(9):
        e = np.zeros(9)
        e[a] = h
        fd[:, a] = np.einsum("bna,ba->n", unit.value(x, z + e) - unit.value(x, z - e), c) / (2 * h)
    assert np.abs(g - fd).max() < 1e-7 * max(1.0, np.abs(fd).max())


@pytest.mark.parametrize("name, d", [("rotation", 2), ("orthogonal", 2), ("rotation3", 3)])
def test_gated_unit_is_jointly_equivariant(name, d):
    sym = Symmetry(make_unit("gated_matrix", d, d), group_from_name(name, d, d))
    assert sym.equivariance_defect() < 1e-12


def test_a_unit_that_is_not_equivariant_is_refused():
    with pytest.raises(NotEquivariantError, match="not equivariant under group 'rotation'"):
        Symmetry(make_unit("sigmoid_matrix", 2, 2), rotation_group(2, 2))
    text = GATED.replace('unit = "gated_matrix"', 'unit = "sigmoid_matrix"')
    with pytest.raises(ConfigError, match=r"\[group\] name: unit 'sigmoid_matrix' is not equivariant"):
        parse_config(text)


@pytest.mark.parametrize("change, expected", [
    ('haar_points = 16', 'haar_points = 0'),
    ('name = "rotation"', 'name = "rotation3"'),
    ('name = "rotation"\nhaar_points = 16', 'name = "swap"\nhaar_points = 16'),
    ('name = "rotation"\nhaar_points = 16', 'name = "orthogonal"\nhaar_points = 15'),
])
def test_group_config_errors(change, expected):
    with pytest.raises(ConfigError, match=r"\[group\]"):
        parse_config(GATED.replace(change, expected))


# ------------------------------------------------------------------ the schemes under SO(2)
@pytest.mark.slow
@pytest.mark.parametrize("scheme", ["da-orbit", "fa", "ea"])
def test_si_start_stays_in_the_fixed_subspace(scheme):
    """From an SI start with projected noise, DA (orbit), FA and EA keep the particles on E^G to round-off.
    (DA with one sampled rotation per sample is invariant only in expectation: each step leaves E^G.)"""
    from wgf.particles import simulate

    mode = ""
    if scheme.startswith("da"):
        scheme, mode = "da", f'da_mode = "{scheme[3:]}"\n'
    problem = parse_config(GATED.replace("[training]\n", f'[training]\nscheme = "{scheme}"\n{mode}')).problem
    traj = simulate(problem, 64, 0, alpha=4.0, batch=8)
    sym = problem.symmetry
    assert max(sym.si_defect(p) for p in traj.positions) < 1e-24


def test_vanilla_with_an_arbitrary_teacher_leaves_the_fixed_subspace():
    from wgf.particles import simulate

    problem = parse_config(GATED).problem
    traj = simulate(problem, 64, 0, alpha=4.0, batch=8)
    assert problem.symmetry.si_defect(traj.positions[-1]) > 1e-6


@pytest.mark.slow
def test_da_sample_rotates_inputs_and_labels_together():
    """With an equivariant teacher, every (x_b, y_b) the engine draws in DA sample mode satisfies
    y_b = f_*(x_b): x and y were turned by the same Haar element."""
    from wgf.particles.kernels import engine_batch

    problem = parse_config(GATED.replace('teacher = "arbitrary"', 'teacher = "si"').replace(
        "[training]\n", '[training]\nscheme = "da"\nda_mode = "sample"\n')).problem
    teacher = problem.data
    for k in range(5):
        x, y, _ = engine_batch(problem, 16, k, seed=3)
        assert np.abs(y - teacher.labels(x)).max() < 1e-12


def test_fa_quadrature_is_exact_on_the_fixed_subspace_and_converges_off_it():
    from wgf.schemes import scheme_unit

    unit = make_unit("gated_matrix", 2, 2)
    rng = np.random.default_rng(4)
    x, z = rng.normal(scale=1.5, size=(50, 2)), rng.normal(scale=0.6, size=(20, 4))
    ref = scheme_unit("fa", Symmetry(unit, rotation_group(2, 2, 256), check=False)).value(x, z)
    errors = {}
    for m in (3, 16, 48):
        sym = Symmetry(unit, rotation_group(2, 2, m), check=False)
        fa = scheme_unit("fa", sym)
        on = sym.project(z)
        assert np.abs(fa.value(x, on) - unit.value(x, on)).max() < 1e-13  # exact on E^G for every M
        errors[m] = np.abs(fa.value(x, z) - ref).max()
    assert errors[48] < 0.1 * errors[16] < 0.1 * errors[3]


@pytest.mark.slow
def test_rotation_study_runs_and_its_statements_hold(tmp_path):
    from wgf.study import StudyPlan, run_paper_study, verdicts

    plan = StudyPlan.rotation(n=(20, 80), seeds=2, t_end=2.0, teachers=("arbitrary", "si"), starts=("si",))
    out = run_paper_study(plan, tmp_path / "s.h5", progress=False)
    rows = verdicts(out)
    assert rows and all(holds for _, _, holds in rows), rows
