"""The grid PDE solver (wgf.grids, docs/theory.md §4).

Scharfetter-Gummel operator (mass, M-matrix signs, exact discrete Gibbs state,
upwind limit), second-order convergence to exact heat and Ornstein-Uhlenbeck
solutions, the Gibbs steady state, mass / positivity / free-energy dissipation,
and the mean-field flow: invariance (Thm 3), DA = FA from a WI start (Thm 4),
DA = FA = EA from an SI start on E^G (Thm 6), agreement of the potential paths,
refused grids and blow-up reporting.
"""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wgf import GaussianTeacherData, make_teacher
from wgf.config import load_config, parse_config
from wgf.grids import (
    Grid,
    GridBlowUpError,
    History,
    MeanFieldPotential,
    RefusedGrid,
    apply_operator,
    bernoulli_flux_weights,
    fokker_planck_operator,
    integrate,
    make_grid,
    solve,
    solve_fokker_planck,
)

PAPER = Path(__file__).resolve().parents[1] / "examples" / "paper_c2.toml"
MASS_RTOL = 1e-13


@pytest.fixture(scope="module")
def paper():
    return load_config(PAPER).problem


def _assert_mass(history):
    """Mass conserved to 1e-13 relative over the whole solve."""
    mass = history.mass()
    assert np.abs(mass - mass[0]).max() <= MASS_RTOL * mass[0], f"mass drift {np.abs(mass - mass[0]).max():.2e}"


def _gaussian(mean, var):
    mean = np.asarray(mean, dtype=float)

    def density(u):
        d = u - mean
        return np.exp(-0.5 * np.sum(d * d, axis=-1) / var) / (2 * np.pi * var) ** (len(mean) / 2)

    return density


def _l1(grid, a, b):
    return float(np.abs(a - b).sum() * grid.cell_volume)


def _order(cells, errors):
    """Least-squares slope of log(error) against log(h) ~ -log(cells)."""
    return float(-np.polyfit(np.log(cells), np.log(errors), 1)[0])


def _free_energy(grid, v, beta, rho):
    """F = int V rho + beta int rho log rho (discrete), for each density in rho (T, ...)."""
    rho = rho.reshape(len(rho), -1)
    ent = np.where(rho > 0, rho * np.log(np.where(rho > 0, rho, 1.0)), 0.0)
    return (rho @ v.ravel() + beta * ent.sum(axis=1)) * grid.cell_volume


def _random_setup(seed, shape, amplitude):
    rng = np.random.default_rng(seed)
    spacing = rng.uniform(0.05, 0.3, size=len(shape))
    u = amplitude * rng.uniform(-1.0, 1.0, size=shape)
    return rng, spacing, u


# ------------------------------------------------------------------ operator
SHAPES = [(17,), (9, 7), (5, 4, 6)]
BETAS = [1.0, 1e-2, 1e-4, 0.0]


@given(du=st.floats(-1e6, 1e6), beta=st.sampled_from([1.0, 1e-2, 1e-4, 1e-8, 0.0]))
@settings(max_examples=200, deadline=None)
def test_bernoulli_weights_are_nonnegative_and_differ_by_the_potential_jump(du, beta):
    fwd, bwd = bernoulli_flux_weights(np.array([du]), beta)
    assert fwd[0] >= 0.0 and bwd[0] >= 0.0
    # beta B(x) - beta B(-x) = -beta x = -du: the drift part of the flux is exact
    assert abs((fwd[0] - bwd[0]) + du) <= 1e-12 * max(abs(du), beta)
    # within beta of the upwind weights (the beta = 0 limit)
    assert -1e-12 * max(abs(du), 1.0) <= fwd[0] - max(-du, 0.0) <= beta * (1 + 1e-12) + 1e-12 * abs(du)


@pytest.mark.parametrize("shape", SHAPES, ids=["1d", "2d", "3d"])
@pytest.mark.parametrize("beta", BETAS)
def test_operator_conserves_mass_and_is_a_rate_matrix(shape, beta):
    _, spacing, u = _random_setup(len(shape), shape, 1.0)
    a = fokker_planck_operator(u, spacing, beta)
    n = u.size
    assert a.shape == (n, n)
    dense = a.toarray()
    off = dense - np.diag(np.diag(dense))
    assert off.min() >= 0.0  # nonnegative off-diagonals
    assert np.all(np.diag(dense) <= 0.0)
    colsum = dense.sum(axis=0)
    assert np.abs(colsum).max() <= 1e-14 * np.abs(dense).sum(axis=0).max()  # mass
    # only nearest neighbours along the axes are coupled: 2 m bands
    assert np.count_nonzero(off) <= 2 * sum(n - n // k for k in shape)


@pytest.mark.parametrize("shape", SHAPES, ids=["1d", "2d", "3d"])
@pytest.mark.parametrize("beta", [1.0, 1e-2, 1e-4])
def test_discrete_gibbs_density_is_an_exact_steady_state(shape, beta):
    # potential jumps up to 0.05 so that exp(-U / beta) stays a normal float even for beta = 1e-4
    _, spacing, u = _random_setup(10 + len(shape), shape, 0.025)
    a = fokker_planck_operator(u, spacing, beta)
    gibbs = np.exp(-(u - u.min()) / beta).ravel()
    assert gibbs.min() > 1e-300
    residual = np.abs(a @ gibbs)
    scale = np.abs(a) @ gibbs  # what round-off is measured against, cell by cell
    assert np.max(residual / scale) <= 1e-13
    # a non-Gibbs density is not steady: the check can fail
    assert np.max(np.abs(a @ np.exp(-(u - u.min()) / (2 * beta)).ravel()) / scale) > 1e-3


@pytest.mark.parametrize("shape", SHAPES, ids=["1d", "2d", "3d"])
def test_upwind_limit_beta_zero(shape):
    _, spacing, u = _random_setup(20 + len(shape), shape, 1.0)
    a0 = fokker_planck_operator(u, spacing, 0.0).toarray()
    # beta = 0: a point mass at a strict local minimum of U does not move; elsewhere it does
    flat = u.ravel()
    n = flat.size
    neighbours = np.abs(a0).T + np.abs(fokker_planck_operator(np.zeros(shape), spacing, 1.0).toarray())
    is_min = np.array([all(flat[j] > flat[c] for j in np.nonzero(neighbours[c])[0] if j != c) for c in range(n)])
    assert is_min.any() and not is_min.all()
    col = np.abs(a0).sum(axis=0)
    assert np.all(col[is_min] == 0.0) and np.all(col[~is_min] > 0.0)
    # A(beta) -> A(0): every off-diagonal rate exceeds its upwind value by at most beta / h_k^2
    beta = 1e-6
    ab = fokker_planck_operator(u, spacing, beta).toarray()
    diff = (ab - a0) - np.diag(np.diag(ab - a0))
    assert diff.min() >= -1e-12 * np.abs(a0).max()
    assert diff.max() <= beta / np.min(spacing) ** 2 * (1 + 1e-9)


@pytest.mark.parametrize("shape", SHAPES, ids=["1d", "2d", "3d"])
@pytest.mark.parametrize("beta", BETAS)
def test_apply_operator_is_the_matrix_product(shape, beta):
    rng, spacing, u = _random_setup(30 + len(shape), shape, 1.0)
    rho = rng.uniform(0.0, 2.0, size=shape)
    a = fokker_planck_operator(u, spacing, beta)
    got = apply_operator(rho, u, spacing, beta)
    assert got.shape == shape
    want = (a @ rho.ravel()).reshape(shape)
    assert np.abs(got - want).max() <= 1e-13 * (np.abs(a) @ rho.ravel()).max()
    assert abs(got.sum()) <= 1e-13 * np.abs(got).sum()


# ---------------------------------------------------------- exact solutions
def test_heat_equation_converges_at_second_order():
    """V = 0 on [-4, 4]^2: rho(t) = N(m, (s0 + 2 beta t) I); the Gaussian stays far from the no-flux walls.

    Explicit SSP-RK3 (third order in time, dt ~ h^2) so the time error is negligible.
    """
    beta, t_end, s0, mean = 0.1, 0.5, 0.1, (0.3, -0.2)
    cells = [32, 64, 128]
    errors = []
    for n in cells:
        grid = Grid([(-4.0, 4.0)] * 2, n)
        h = solve_fokker_planck(grid, np.zeros(grid.shape), beta, _gaussian(mean, s0), [0.0, t_end], method="explicit")
        _assert_mass(h)
        assert h.density.min() >= 0.0
        exact = grid.cell_average(_gaussian(mean, s0 + 2 * beta * t_end))
        errors.append(_l1(grid, h.density[-1], exact))
    order = _order(cells, errors)
    assert 1.8 <= order <= 2.3, (errors, order)
    assert errors[-1] < 3e-3


def _ou(n, m, tol, *, method="implicit", snapshots=2):
    """d_t rho = div(rho k u) + beta Lap rho from N(m0, s0 I): mean m0 e^{-kt}, variance s0 e^{-2kt} + beta/k (1 - e^{-2kt})."""
    k, beta, s0, t_end = 1.0, 0.1, 0.05, 1.0
    m0 = np.array([1.0, -0.5])[:m]
    grid = Grid([(-4.0, 4.0)] * m, n)

    def potential(u):
        return 0.5 * k * np.sum(u * u, axis=-1)

    times = np.linspace(0.0, t_end, snapshots)
    h = solve_fokker_planck(grid, potential, beta, _gaussian(m0, s0), times, method=method, tol=tol)
    exact = [
        grid.cell_average(_gaussian(m0 * np.exp(-k * t), s0 * np.exp(-2 * k * t) + beta / k * (1 - np.exp(-2 * k * t))))
        for t in times
    ]
    errors = [_l1(grid, r, e) for r, e in zip(h.density, exact)]
    return h, errors, potential(grid.centers), beta


def test_ornstein_uhlenbeck_2d_implicit_converges_at_second_order():
    tol = 1e-4
    cells = [32, 64, 128]
    errors = []
    for n in cells:
        h, err, v, beta = _ou(n, 2, tol, snapshots=5 if n == 128 else 2)
        _assert_mass(h)
        assert h.density.min() >= 0.0
        errors.append(err[-1])
        if n == 128:
            f = _free_energy(h.grid, v, beta, h.density)
            assert np.all(np.diff(f) < 0.0), f
            assert max(err) < 1e-2
    order = _order(cells, errors)
    assert 1.8 <= order <= 2.3, (errors, order)
    # the time error (tol vs tol / 10, measured at 64 cells: it barely depends on h) is
    # below a tenth of the space error on the finest grid, so it does not pollute the order
    h_tol = _ou(64, 2, tol)[0]
    h_ref = _ou(64, 2, tol / 10)[0]
    time_error = _l1(h_tol.grid, h_tol.density[-1], h_ref.density[-1])
    assert time_error < 0.1 * errors[-1], (time_error, errors[-1])


def test_ornstein_uhlenbeck_1d_explicit_converges_at_second_order():
    cells = [32, 64, 128, 256]
    errors = []
    for n in cells:
        h, err, _, _ = _ou(n, 1, 0.0, method="explicit")
        _assert_mass(h)
        errors.append(err[-1])
    order = _order(cells, errors)
    assert 1.8 <= order <= 2.3, (errors, order)


def test_ornstein_uhlenbeck_moments_of_the_cell_measure_converge_at_second_order():
    # the covariance of the grid measure (cell averages: centres minus the in-cell h^2 / 12) against
    # the exact OU covariance; its error falls by 4 per halving of h
    from wgf.validation import cell_measure

    k, beta, s0, t = 1.0, 0.1, 0.05, 1.0
    var = s0 * np.exp(-2 * k * t) + beta / k * (1 - np.exp(-2 * k * t))
    mean = np.array([1.0, -0.5]) * np.exp(-k * t)
    cov_errors, mean_errors = [], []
    for n in (32, 64, 128):
        h = _ou(n, 2, 0.0, method="explicit")[0]
        mu = cell_measure(h.grid, h.density[-1])
        cov_errors.append(np.abs(mu.covariance() - var * np.eye(2)).max())
        mean_errors.append(np.abs(mu.mean() - mean).max())
    for errors in (cov_errors, mean_errors):
        ratios = np.array(errors[:-1]) / np.array(errors[1:])
        assert np.all((3.5 < ratios) & (ratios < 4.6)), (errors, ratios)


# ------------------------------------------------------------ method = "auto"
def test_auto_takes_the_explicit_method_where_it_is_cheaper():
    h_auto, err_auto, _, _ = _ou(64, 2, 1e-3, method="auto")
    h_exp = _ou(64, 2, 1e-3, method="explicit")[0]
    assert h_auto.stats.method == "explicit" and h_auto.stats.reason.startswith("explicit: about")
    np.testing.assert_array_equal(h_auto.density, h_exp.density)
    # as accurate in time as the implicit method at a hundredth of the tolerance
    h_imp = _ou(64, 2, 1e-5, method="implicit")[0]
    assert _l1(h_auto.grid, h_auto.density[-1], h_imp.density[-1]) < 0.02 * err_auto[-1]


def test_auto_takes_the_split_implicit_method_on_a_stiff_long_run():
    # OU to t = 100 on 96^2 cells: the CFL step is about 1 / 60, while the implicit step grows to
    # t / 8 once the transient has decayed; all reach the stationary Gaussian, the split steps at the
    # lowest cost (tridiagonal solves, no fill-in)
    grid = Grid([(-4.0, 4.0)] * 2, 96)
    args = (grid, lambda u: 0.5 * np.sum(u * u, axis=-1), 0.1, _gaussian((1.0, -0.5), 0.05), [0.0, 100.0])
    h = solve_fokker_planck(*args)
    assert h.stats.method == "split" and h.stats.reason.startswith("split: about")
    np.testing.assert_array_equal(h.density, solve_fokker_planck(*args, method="split").density)
    exact = grid.cell_average(_gaussian((0.0, 0.0), 0.1))
    assert _l1(grid, h.density[-1], exact) < 5e-3
    lu = solve_fokker_planck(*args, method="implicit")
    assert _l1(grid, h.density[-1], lu.density[-1]) < 1e-10  # the same discrete equilibrium
    from wgf.grids import choose_method

    u = 0.5 * np.sum(grid.centers**2, axis=-1)
    choice = choose_method(h.density[0], u, grid.spacing, 0.1, 100.0, tol=1e-3, fixed_potential=True)
    assert choice.explicit_steps > 50 * choice.split_steps and h.stats.steps < choice.explicit_steps / 20
    assert choice.split_seconds < choice.implicit_seconds / 3


def test_auto_on_the_mean_field_flow_weighs_the_potential():
    # the same grid and span: a costlier potential tips the choice toward fewer evaluations
    from wgf.grids import choose_method

    grid = Grid([(-2.0, 2.0)] * 2, 96)
    rho = np.exp(-0.5 * np.sum(grid.centers**2, axis=-1) / 0.0625)
    rho /= rho.sum() * grid.cell_volume
    u = 0.3 * np.sum(grid.centers**2, axis=-1)
    cheap = choose_method(rho, u, grid.spacing, 1e-3, 0.2, tol=1e-3, potential_seconds=1e-6)
    dear = choose_method(rho, u, grid.spacing, 1e-3, 0.2, tol=1e-3, potential_seconds=10.0)
    # 13 RK3 steps of 3 evaluations against 24 split steps of 2: the split step's tridiagonal solves cost
    # less than 3 operator applications, but 39 evaluations are fewer than 48
    assert cheap.method == "split" and dear.method == "explicit"
    assert dear.explicit_steps == cheap.explicit_steps == 13 and dear.split_steps == cheap.split_steps == 24
    with pytest.raises(ValueError, match="method must be one of auto, explicit, implicit, split"):
        solve_fokker_planck(grid, u, 1e-3, rho, [0.0, 1.0], method="rk4")


# ------------------------------------------------------------ Gibbs, energy
def _tilted_well(u):
    x, y = u[..., 0], u[..., 1]
    return 0.5 * (x * x + 2 * y * y) + 0.3 * x * y + 0.1 * x**4


def _double_well(u):
    x, y = u[..., 0], u[..., 1]
    return (x * x - 1) ** 2 + 0.5 * y * y + 0.3 * x * y


@pytest.mark.parametrize("method", ["implicit", "split", "explicit"])
@pytest.mark.parametrize("beta", [0.3, 1e-2, 1e-3])
def test_discrete_gibbs_density_stays_put(method, beta):
    grid = Grid([(-2.5, 2.5), (-2.0, 2.0)], (24, 20))
    v = _double_well(grid.centers)
    gibbs = np.exp(-(v - v.min()) / beta)
    gibbs /= gibbs.sum() * grid.cell_volume
    h = solve_fokker_planck(grid, _double_well, beta, gibbs, [0.0, 0.5, 1.0], method=method)
    _assert_mass(h)
    assert np.abs(h.density - gibbs).max() <= 1e-13 * gibbs.max()


def test_converges_to_the_gibbs_density_and_dissipates_free_energy():
    beta = 0.3
    grid = Grid([(-3.0, 3.0), (-3.0, 3.0)], 32)
    v = _tilted_well(grid.centers)
    gibbs = np.exp(-(v - v.min()) / beta)
    gibbs /= gibbs.sum() * grid.cell_volume
    times = np.linspace(0.0, 12.0, 7)
    h = solve_fokker_planck(grid, _tilted_well, beta, _gaussian((-1.5, 1.0), 0.05), times, tol=1e-4)
    _assert_mass(h)
    dist = [_l1(grid, r, gibbs) for r in h.density]
    assert dist[0] > 1.5
    assert np.all(np.diff(dist) < 0.0)
    assert dist[-1] < 1e-5
    f = _free_energy(grid, v, beta, h.density)
    assert np.all(np.diff(f) < 0.0)
    # the minimum of F is attained at the Gibbs density
    assert f[-1] - _free_energy(grid, v, beta, gibbs[None])[0] < 1e-8


@pytest.mark.parametrize("method", ["implicit", "split", "explicit"])
def test_pure_advection_keeps_the_density_nonnegative(method):
    """beta = 0: upwind fluxes; the implicit M-matrix solve and the CFL-limited SSP-RK3 keep rho >= 0."""

    def v(u):
        x, y = u[..., 0], u[..., 1]
        return np.sin(2 * x) + 0.5 * y * y + np.cos(3 * x * y)

    grid = Grid([(-3.0, 3.0), (-3.0, 3.0)], 40)
    h = solve_fokker_planck(grid, v, 0.0, _gaussian((0.5, 1.0), 0.15), np.linspace(0.0, 2.0, 5), method=method, tol=1e-4)
    _assert_mass(h)
    assert h.density.min() >= 0.0
    # mass really moved (towards the minima of V), so positivity was at stake
    assert _l1(grid, h.density[-1], h.density[0]) > 0.5
    f = _free_energy(grid, v(grid.centers), 0.0, h.density)
    assert np.all(np.diff(f) < 0.0)


# ---------------------------------------------------------------- blow-up
@pytest.mark.parametrize("method", ["implicit", "split", "explicit"])
def test_blow_up_is_reported_not_returned(method):
    grid = Grid([(-2.0, 2.0), (-2.0, 2.0)], 12)

    def nan_potential(u):
        return np.where(np.abs(u[..., 0]) < 0.3, np.nan, 0.5 * np.sum(u * u, axis=-1))

    with pytest.raises(GridBlowUpError):
        solve_fokker_planck(grid, nan_potential, 0.1, _gaussian((0.0, 0.0), 0.2), [0.0, 1.0], method=method)
    # a potential that turns non-finite during the run (as a mean-field potential of a blown-up density would)
    v = 0.5 * np.sum(grid.centers**2, axis=-1)
    rho0 = grid.cell_average(_gaussian((0.5, 0.0), 0.2))
    calls = []

    def potential_of(rho):
        calls.append(1)
        return v if len(calls) < 4 else np.where(rho > rho.max() / 2, np.inf, v)

    with pytest.raises(GridBlowUpError):
        integrate(rho0, [0.0, 1.0], potential_of, grid.spacing, 0.1, method=method)
    assert len(calls) >= 4


def test_history_evaluate_interpolates_the_density():
    grid = Grid([(-1.0, 1.0), (0.0, 2.0)], (6, 5))
    c = grid.centers
    dens = np.stack([1.0 + 0.2 * c[..., 0] - 0.1 * c[..., 1], 2.0 + 0.0 * c[..., 0]])
    hist = History(grid, np.array([0.0, 1.0]), dens)
    rng = np.random.default_rng(3)
    lo = np.array([grid.axes[0][0], grid.axes[1][0]])
    hi = np.array([grid.axes[0][-1], grid.axes[1][-1]])
    u = lo + rng.uniform(size=(50, 2)) * (hi - lo)
    np.testing.assert_allclose(hist.evaluate(0, u), 1.0 + 0.2 * u[:, 0] - 0.1 * u[:, 1], rtol=1e-13)
    np.testing.assert_allclose(hist.evaluate(1, u), 2.0, rtol=1e-14)
    np.testing.assert_allclose(hist.evaluate(0, grid.points), dens[0].ravel(), rtol=1e-14)
    # on a solved history: same as the grid's interpolation of that snapshot
    h = solve_fokker_planck(grid, lambda u: u[..., 0] ** 2, 0.5, _gaussian((0.0, 1.0), 0.3), [0.0, 0.5])
    _assert_mass(h)
    np.testing.assert_allclose(h.evaluate(1, u), grid.interpolate(h.density[1], u), rtol=1e-14)
    np.testing.assert_allclose(h.evaluate(1, grid.points), h.density[1].ravel(), rtol=1e-14)
    assert not np.allclose(h.evaluate(1, u), h.evaluate(0, u))


# ------------------------------------------------------------ mean field
def _wi_teacher(problem):
    teacher = make_teacher("wi", problem.data.teacher, problem.symmetry)
    data = GaussianTeacherData(problem.symmetry.unit, teacher, problem.data.x_std, problem.data.label_noise, "wi")
    return problem.replace(data=data)


def _wi_problem(paper, scheme, **kw):
    return paper.replace(scheme=scheme, init="wi", noise="full", beta=1e-2, t_end=2.0, snapshots=3, **kw)


def _check_mean_field(h):
    _assert_mass(h)
    assert h.density.min() >= 0.0
    f = h.trackers["free_energy"]
    assert np.all(np.diff(f) < 0.0), f
    np.testing.assert_allclose(h.trackers["mass"], 1.0, rtol=MASS_RTOL)
    vol = h.grid.cell_volume
    interior = tuple(slice(1, -1) for _ in range(h.grid.ndim))
    boundary = h.density.reshape(len(h.times), -1).sum(axis=1) * vol - np.array(
        [r[interior].sum() * vol for r in h.density]
    )
    np.testing.assert_allclose(h.trackers["boundary_mass"], boundary, rtol=1e-12, atol=1e-15)


@pytest.mark.slow
@pytest.mark.parametrize("cells", [6, 7])
def test_wi_start_stays_wi_and_da_equals_fa_on_the_full_space(paper, cells):
    """Thm 3 and Thm 4 on a swap-symmetric 4D grid (explicit SSP-RK3)."""
    out = {}
    for scheme in ("da", "fa", "vanilla"):
        problem = _wi_problem(paper, scheme)
        grid = make_grid(problem, "full", cells=cells, half_width=1.5)
        assert grid.ndim == 4
        h = solve(problem, grid)
        _check_mean_field(h)
        out[scheme] = h
    for scheme in ("da", "fa"):
        h = out[scheme]
        assert np.all(h.trackers["wi_defect"] < 1e-12), h.trackers["wi_defect"]
        assert _l1(h.grid, h.density[-1], h.density[0]) > 0.3  # the density really moved
    da, fa = out["da"], out["fa"]
    assert np.abs(da.density - fa.density).max() <= 1e-12 * da.density.max()
    np.testing.assert_allclose(da.trackers["risk"], fa.trackers["risk"], rtol=1e-12)
    # vanilla with the arbitrary teacher (pi not equivariant) leaves the WI densities: the check can fail
    assert out["vanilla"].trackers["wi_defect"][-1] > 0.1
    # with the WI teacher (pi equivariant) vanilla stays WI and follows the same flow (Thm 4)
    problem = _wi_problem(_wi_teacher(paper), "vanilla")
    h = solve(problem, make_grid(problem, "full", cells=cells, half_width=1.5))
    _check_mean_field(h)
    assert np.all(h.trackers["wi_defect"] < 1e-12)
    assert np.abs(h.density - da.density).max() <= 1e-12 * da.density.max()


def test_si_start_da_fa_ea_give_the_same_flow_on_the_fixed_subspace(paper):
    """Thm 6 (docs/theory.md §7.6) on the E^G grid (2D, linearly implicit)."""
    out = {}
    for name, problem in (
        ("da", paper.replace(scheme="da")),
        ("fa", paper.replace(scheme="fa")),
        ("ea", paper.replace(scheme="ea")),
        ("vanilla-wi-teacher", _wi_teacher(paper)),
    ):
        problem = problem.replace(init="si", noise="projected", beta=1e-3, t_end=2.0, snapshots=3)
        grid = make_grid(problem, "fixed", cells=32)
        assert grid.ndim == 2 and grid.basis.shape == (4, 2)
        h = solve(problem, grid)
        _check_mean_field(h)
        np.testing.assert_allclose(h.trackers["si_defect"], 0.0, atol=1e-28)
        out[name] = h
    ref = out["da"]
    assert _l1(ref.grid, ref.density[-1], ref.density[0]) > 0.3
    for name in ("fa", "ea", "vanilla-wi-teacher"):
        assert np.abs(out[name].density - ref.density).max() <= 1e-12 * ref.density.max(), name
    for name in ("fa", "ea"):  # R^DA = R^FA = R^EA = R on SI densities (Prop 2)
        np.testing.assert_allclose(out[name].trackers["risk"], ref.trackers["risk"], rtol=1e-12)
    # the symmetrized (WI) teacher changes the risk by a constant only: the same gradient flow
    gap = out["vanilla-wi-teacher"].trackers["risk"] - ref.trackers["risk"]
    assert abs(gap[0]) > 1e-3 and np.ptp(gap) <= 1e-12 * ref.trackers["risk"].max()


@pytest.mark.parametrize("scheme", ["vanilla", "da", "fa"])
def test_separable_table_and_direct_potentials_agree(paper, scheme):
    problem = paper.replace(scheme=scheme, init="wi", noise="full")
    grid = make_grid(problem, "full", cells=(5, 6, 7, 4), half_width=1.5)
    rng = np.random.default_rng(7)
    rho = rng.uniform(0.1, 1.0, size=grid.shape)  # not WI: the paths must agree on any density
    rho /= rho.sum() * grid.cell_volume
    assert MeanFieldPotential(problem, grid).path == "separable"
    res = {}
    for path in ("separable", "table", "direct"):
        pot = MeanFieldPotential(problem, grid, path=path)
        u = pot(rho)
        res[path] = (u - u.flat[0], pot.last_output, pot.risk())  # U up to a constant (the flux never sees it)
    ref = res["table"]
    assert np.ptp(ref[0]) > 0.1
    for path in ("separable", "direct"):
        u, phi, r = res[path]
        assert np.abs(u - ref[0]).max() <= 1e-12 * np.abs(ref[0]).max(), path
        assert np.abs(phi - ref[1]).max() <= 1e-12 * np.abs(ref[1]).max(), path
        assert abs(r - ref[2]) <= 1e-12 * ref[2], path


@pytest.mark.parametrize("scheme", ["ea", "fa", "vanilla"])
def test_table_and_direct_potentials_agree_on_the_fixed_subspace(paper, scheme):
    """The table (sigma_* itself for vanilla, the scheme unit in blocks of cells for ea and fa) against the
    recomputed unit, and the table's budget: a quarter of the available memory, at least 512 MB."""
    from wgf.grids.potential import (DEFAULT_MEMORY_BUDGET, TABLE_BLOCK, auto_path, potential_bytes, table_budget,
                                     table_bytes)

    from wgf.demo import DEMO_CONFIG

    # vanilla keeps E^G with the demo's WI teacher; ea and fa with any teacher
    problem = parse_config(DEMO_CONFIG).problem if scheme == "vanilla" else paper.replace(scheme=scheme,
                                                                                          noise="projected")
    grid = make_grid(problem, "fixed", cells=72)
    assert grid.size > TABLE_BLOCK  # more than one block
    assert MeanFieldPotential(problem, grid).path == "table"
    need = table_bytes(grid.size, len(problem.quadrature.weights), 2)
    assert MeanFieldPotential(problem, grid, memory_budget=need - 1).path == "direct"
    # the size check counts what the potential stores: one decision (auto_path) for both
    assert potential_bytes(problem, grid.size, "fixed") == need
    assert auto_path(False, need, need - 1) == "direct" and auto_path(True, need, 0.0) == "separable"
    assert table_budget(free_memory=8e9) == 2e9 and table_budget(free_memory=1e9) == DEFAULT_MEMORY_BUDGET
    with pytest.raises(ValueError):
        MeanFieldPotential(problem, grid, path="separable")
    rho = np.random.default_rng(8).uniform(0.1, 1.0, size=grid.shape)
    rho /= rho.sum() * grid.cell_volume
    table, direct = (MeanFieldPotential(problem, grid, path=p) for p in ("table", "direct"))
    ut, ud = table(rho), direct(rho)
    assert np.abs(ut - ud).max() <= 1e-12 * np.abs(ut).max()
    assert np.abs(table.last_output - direct.last_output).max() <= 1e-12 * np.abs(table.last_output).max()


def test_make_grid_refuses_what_spec_4_refuses(paper):
    assert paper.scheme == "vanilla" and paper.data.teacher_kind == "arbitrary"
    with pytest.raises(RefusedGrid):  # vanilla with the arbitrary teacher may leave E^G
        make_grid(paper.replace(init="si", noise="projected"), "fixed", cells=8)
    with pytest.raises(RefusedGrid):  # full noise leaves E^G
        make_grid(paper.replace(scheme="fa", init="si", noise="full"), "fixed", cells=8)
    with pytest.raises(RefusedGrid):  # an SI start is singular on the full space
        make_grid(paper.replace(scheme="fa", init="si", noise="projected"), "full", cells=4)
    with pytest.raises(RefusedGrid):  # a grid on E^G needs an SI start
        make_grid(paper.replace(scheme="fa", init="wi", noise="projected"), "fixed", cells=8)
    # the allowed neighbours of those
    assert make_grid(_wi_teacher(paper).replace(init="si", noise="projected"), "fixed", cells=8).ndim == 2
    assert make_grid(paper.replace(scheme="ea", init="si", noise="projected"), "fixed", cells=8).ndim == 2
    assert make_grid(paper.replace(init="wi", noise="full"), "full", cells=4).ndim == 4


def test_mean_field_blow_up_is_reported(paper, monkeypatch):
    problem = paper.replace(scheme="ea", init="si", noise="projected", beta=1e-3, t_end=1.0, snapshots=2)
    grid = make_grid(problem, "fixed", cells=8)
    real = MeanFieldPotential.__call__
    calls = []

    def poisoned(self, rho):
        calls.append(1)
        u = real(self, rho)
        return u if len(calls) < 3 else u * np.nan

    monkeypatch.setattr(MeanFieldPotential, "__call__", poisoned)
    for method in ("implicit", "split", "explicit"):
        calls.clear()
        with pytest.raises(GridBlowUpError):
            solve(problem, grid, method=method)
