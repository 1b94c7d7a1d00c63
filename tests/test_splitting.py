"""The dimensionally split implicit solve (wgf.grids.splitting) and the ``split`` integrator."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

from wgf.grids import Grid, StepStats, integrate, solve_fokker_planck
from wgf.grids.flux import apply_operator, fokker_planck_operator
from wgf.grids.splitting import SplitFactors, split_error_operator, split_solve

SHAPES = [(9,), (7, 5), (4, 5, 6), (3, 4, 5, 3)]


def _case(shape, seed=0, beta=0.3):
    rng = np.random.default_rng(seed)
    u = 2.0 * rng.normal(size=shape)
    rho = rng.uniform(size=shape) * (rng.uniform(size=shape) > 0.3)  # zeros too
    spacing = np.linspace(0.2, 0.5, len(shape))
    return u, rho, spacing, beta


def _unsplit(rhs, u, spacing, beta, dt):
    a = fokker_planck_operator(u, spacing, beta)
    return spsolve((sp.identity(a.shape[0]) - dt * a).tocsc(), rhs.ravel()).reshape(rhs.shape)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("beta", [0.3, 0.0])
def test_split_solve_keeps_mass_and_positivity_at_any_step(shape, beta):
    u, rho, spacing, _ = _case(shape)
    for dt in (1e-3, 1.0, 1e8):
        new = split_solve(rho, u, spacing, beta, dt)
        assert new.shape == shape
        assert abs(new.sum() - rho.sum()) <= 1e-15 * rho.size * rho.sum()
        assert new.min() >= 0.0


@pytest.mark.parametrize("shape", SHAPES)
def test_the_gibbs_density_is_a_fixed_point_of_every_split_solve(shape):
    u, _, spacing, beta = _case(shape)
    gibbs = np.exp(-(u - u.min()) / beta)
    for dt in (1e-2, 1e3):
        assert np.abs(split_solve(gibbs, u, spacing, beta, dt) - gibbs).max() <= 1e-13 * gibbs.max()


def test_one_axis_is_the_exact_tridiagonal_solve():
    u, rho, spacing, beta = _case((40,))
    for dt in (1e-2, 10.0):
        ref = _unsplit(rho, u, spacing, beta, dt)
        assert np.abs(split_solve(rho, u, spacing, beta, dt) - ref).max() <= 1e-13 * ref.max()


@pytest.mark.parametrize("shape", SHAPES[1:])
def test_the_splitting_error_is_the_commutator_term(shape):
    """S_dt - (I - dt A)^-1 = dt^2 (C_S - A^2 / 2) + O(dt^3), C_S from split_error_operator."""
    u, rho, spacing, beta = _case(shape)
    term = 0.5 * split_error_operator(rho, u, spacing, beta) - 0.5 * apply_operator(
        apply_operator(rho, u, spacing, beta), u, spacing, beta)
    rest = []
    for dt in (1e-5, 1e-6):
        gap = split_solve(rho, u, spacing, beta, dt) - _unsplit(rho, u, spacing, beta, dt)
        rest.append(np.abs(gap - dt**2 * term).sum() / np.abs(dt**2 * term).sum())
    assert rest[0] < 0.05 and rest[1] < 0.2 * rest[0]  # the remainder is O(dt^3)


def test_factors_are_reused_for_many_right_hand_sides():
    u, rho, spacing, beta = _case((6, 7))
    factors = SplitFactors(u, spacing, beta, 0.5)
    np.testing.assert_array_equal(factors.solve(rho), split_solve(rho, u, spacing, beta, 0.5))
    np.testing.assert_array_equal(factors.solve(2 * rho), 2 * factors.solve(rho))


def _transient(cells, ndim, method, tol=1e-3, t_end=0.5):
    grid = Grid([(-2.0, 2.0)] * ndim, cells)
    x = grid.centers
    v = 0.5 * np.sum(x * x, axis=-1) + 0.3 * x[..., 0] * x[..., -1] + 0.2 * np.sin(2 * x[..., 0])
    start = lambda u: np.exp(-0.5 * np.sum((u - 0.6) ** 2, axis=-1) / 0.1)  # noqa: E731
    return grid, solve_fokker_planck(grid, v, 0.2, start, [0.0, t_end], method=method, tol=tol)


def test_split_agrees_with_the_superlu_path_within_the_tolerance_in_2d():
    grid, lu = _transient(32, 2, "implicit")
    _, split = _transient(32, 2, "split")
    _, ref = _transient(32, 2, "implicit", tol=1e-6)
    err_lu = np.abs(lu.density[-1] - ref.density[-1]).sum() * grid.cell_volume
    err_split = np.abs(split.density[-1] - ref.density[-1]).sum() * grid.cell_volume
    assert split.stats.method == "split" and lu.stats.method == "implicit"
    assert err_split < 1e-3 and err_lu < 1e-3  # the tolerance bounds the local error of each step
    assert abs(split.mass()[-1] - split.mass()[0]) < 1e-13
    assert split.stats.steps <= 2 * lu.stats.steps


@pytest.mark.parametrize("ndim, cells", [(3, 10), (4, 6)])
def test_split_agrees_with_the_superlu_path_in_3d_and_4d(ndim, cells):
    grid, lu = _transient(cells, ndim, "implicit")
    _, split = _transient(cells, ndim, "split")
    assert np.abs(split.density[-1] - lu.density[-1]).sum() * grid.cell_volume < 1e-3
    assert split.density.min() >= 0.0
    assert abs(split.mass()[-1] - split.mass()[0]) < 1e-13


def test_the_mean_field_split_step_keeps_mass_and_the_potential_refreshes():
    grid = Grid([(-2.0, 2.0)] * 2, 16)
    x = grid.centers
    rho0 = np.exp(-np.sum((x - 0.5) ** 2, axis=-1) / 0.2)

    def potential_of(rho):  # an interaction with the mean: U = |x - m(rho)|^2 / 2
        m = np.tensordot(rho, x, axes=([0, 1], [0, 1])) / rho.sum()
        return 0.5 * np.sum((x - m) ** 2, axis=-1) + 0.5 * np.sum(x * x, axis=-1)

    stats = StepStats()
    out = integrate(rho0, [0.0, 1.0], potential_of, grid.spacing, 0.1, method="split", stats=stats)
    ref = integrate(rho0, [0.0, 1.0], potential_of, grid.spacing, 0.1, method="split", tol=1e-6)
    assert stats.potentials == 2 * (stats.steps + stats.rejected) + 1 - stats.rejected
    assert abs(out[-1].sum() - rho0.sum()) <= 1e-13 * rho0.sum()
    assert np.abs(out[-1] - ref[-1]).sum() / rho0.sum() < 1e-3
