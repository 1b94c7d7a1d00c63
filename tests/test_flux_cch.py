"""The Carrillo-Chertock-Huang flux (``wgf.grids.cch_flux``, ``flux = "cch"``, docs/pde.md "Space").

What makes the scheme trustworthy, checked as for the Scharfetter-Gummel flux in tests/test_pde.py: mass to
round-off, positivity under its CFL step (also with vacuum and steep potentials), the semi-discrete free-energy
dissipation sum_c xi_c d_t rho_c <= 0 and a decreasing F along flows, the exact discrete Gibbs state
e^{-U/beta} (the same as the SG flux's) and the minimizer rho* of F_h as its steady state; and second order in
the cell width on the Ornstein-Uhlenbeck flow at cell Peclet numbers up to 6 (exact Gaussian), where the SG
flux is near first order.
"""

import numpy as np
import pytest
from scipy.special import erf

from wgf.config import ConfigError, parse_config
from wgf.grids import Grid, MeanFieldPotential, integrate, make_grid, minimize_free_energy, solve, solve_fokker_planck
from wgf.grids.cch_flux import CCH_DENSITY_FLOOR, cch_apply, cch_rate, cch_velocity_cap

MASS_RTOL = 1e-13
SHAPES = [(17,), (9, 7), (5, 4, 6), (4, 3, 5, 3)]


def _random_state(seed, shape, amplitude, vacuum):
    """A density with a fraction ``vacuum`` of empty cells (and some at 1e-200), a rough potential, spacings."""
    rng = np.random.default_rng(seed)
    spacing = rng.uniform(0.05, 0.3, size=len(shape))
    rho = rng.uniform(0.0, 1.0, size=shape) ** 3
    rho[rng.uniform(size=shape) < vacuum] = 0.0
    rho[rng.uniform(size=shape) < vacuum / 2] = 1e-200
    u = amplitude * rng.uniform(-1.0, 1.0, size=shape)
    return rho, u, spacing


def _xi(rho, u, beta):
    return u + beta * np.log(np.maximum(rho, CCH_DENSITY_FLOOR))


@pytest.mark.parametrize("shape", SHAPES, ids=["1d", "2d", "3d", "4d"])
@pytest.mark.parametrize("beta", [1.0, 1e-2, 1e-4, 0.0])
def test_conserves_mass_keeps_positivity_and_dissipates(shape, beta):
    for seed in range(5):
        rho, u, spacing = _random_state(seed, shape, 1.0 + 10.0 * seed, 0.1 * seed)
        cap = cch_velocity_cap(u, spacing, beta)
        rate = cch_apply(rho, u, spacing, beta, cap)
        flow = np.abs(rate).sum()
        assert flow > 0
        assert abs(rate.sum()) <= 1e-14 * flow  # mass
        # free energy: sum_c xi_c d_t rho_c = -sum_faces F u <= 0 (up to round-off of the sum)
        assert np.sum(_xi(rho, u, beta) * rate) <= 1e-13 * np.sum(np.abs(_xi(rho, u, beta) * rate))
        # positivity: a forward Euler step of the solver's CFL step 0.9 / cch_rate keeps every cell >= 0, also
        # the empty ones (at exactly 1 / cch_rate a drained cell is 0 up to round-off)
        step = rho + 0.9 / cch_rate(cap, spacing) * rate
        assert step.min() >= 0.0
        assert np.all(step[rho == 0.0] >= 0.0)


def test_a_step_longer_than_the_cfl_bound_can_go_negative():
    """The positivity bound is not vacuous: one cell emptied by its full-speed outflow at 1.5 times the step."""
    spacing = np.array([0.1])
    u = np.array([0.0, 0.0, 1.0, 0.0, 0.0])  # the middle cell drains to both sides at the capped speed
    rho = np.array([1.0, 1.0, 1.0, 1.0, 1.0])
    cap = cch_velocity_cap(u, spacing, 0.0)
    rate = cch_apply(rho, u, spacing, 0.0, cap)
    assert (rho + 0.9 / cch_rate(cap, spacing) * rate).min() >= 0.0
    assert (rho + 1.5 / cch_rate(cap, spacing) * rate).min() < 0.0


@pytest.mark.parametrize("beta", [0.3, 1e-2, 1e-3])
def test_the_discrete_gibbs_density_is_exactly_steady(beta):
    """The same discrete Gibbs state as the SG flux (tests/test_pde.py), to round-off, under the explicit flow."""
    grid = Grid([(-2.5, 2.5), (-2.0, 2.0)], (24, 20))
    x, y = grid.centers[..., 0], grid.centers[..., 1]
    v = (x * x - 1) ** 2 + 0.5 * y * y + 0.3 * x * y
    gibbs = np.exp(-(v - v.min()) / beta)
    gibbs /= gibbs.sum() * grid.cell_volume
    h = solve_fokker_planck(grid, v, beta, gibbs, [0.0, 0.5, 1.0], flux="cch")
    assert h.stats.method == "explicit" and "cch" in h.stats.reason
    assert np.abs(h.density - gibbs).max() <= 1e-13 * gibbs.max()
    # and the check can fail: the uniform density moves
    assert np.abs(cch_apply(np.ones(grid.shape), v, grid.spacing, beta)).max() > 0.1


def test_flows_keep_mass_and_positivity_and_dissipate_free_energy():
    """beta = 0 (pure advection) and beta = 0.3 (to the Gibbs density) on 2D grids: mass to 1e-13, rho >= 0,
    F = int V rho + beta int rho log rho strictly decreasing, as for the SG flux in tests/test_pde.py."""
    grid = Grid([(-3.0, 3.0), (-3.0, 3.0)], 40)
    x, y = grid.centers[..., 0], grid.centers[..., 1]
    for beta, v, times in ((0.0, np.sin(2 * x) + 0.5 * y * y + np.cos(3 * x * y), np.linspace(0.0, 2.0, 5)),
                           (0.3, 0.5 * (x * x + 2 * y * y) + 0.3 * x * y + 0.1 * x**4, np.linspace(0.0, 3.0, 4))):
        start = np.exp(-0.5 * ((x - 0.5) ** 2 + (y - 1.0) ** 2) / 0.15)
        h = solve_fokker_planck(grid, v, beta, start, times, flux="cch")
        mass = h.mass()
        assert np.abs(mass - mass[0]).max() <= MASS_RTOL * mass[0]
        assert h.density.min() >= 0.0
        assert np.abs(h.density[-1] - h.density[0]).sum() * grid.cell_volume > 0.5  # mass really moved
        rho = h.density.reshape(len(times), -1)
        ent = np.where(rho > 0, rho * np.log(np.where(rho > 0, rho, 1.0)), 0.0).sum(axis=1)
        f = (rho @ v.ravel() + beta * ent) * grid.cell_volume
        assert np.all(np.diff(f) < 0.0), f
    gibbs = np.exp(-(v - v.min()) / beta)
    gibbs /= gibbs.sum() * grid.cell_volume
    distance = np.abs(h.density - gibbs).sum(axis=(1, 2)) * grid.cell_volume
    assert np.all(np.diff(distance) < 0.0) and distance[-1] < 2e-2 * distance[0], distance


def _linear_problem(teacher, **training):
    """tests/test_minimizer.py's linear unit: sigma(x, w) = <w, x>, one teacher particle, X ~ N(0, I)."""
    from wgf.data import GaussianTeacherData
    from wgf.groups import trivial_group
    from wgf.problem import Problem
    from wgf.symmetry import Symmetry
    from wgf.units import make_unit

    teacher = np.atleast_2d(np.asarray(teacher, dtype=float))
    unit = make_unit("linear", teacher.shape[1], 1)
    sym = Symmetry(unit, trivial_group(teacher.shape[1], 1))
    data = GaussianTeacherData(unit, teacher, 1.0, 0.0, "arbitrary")
    settings = dict(tau=0.5, beta=0.05, init_std=0.25, t_end=1.0, snapshots=2, quadrature_points=4)
    settings.update(training)
    return Problem(sym, data, **settings)


def test_the_minimizer_is_the_steady_state_and_the_limit_of_the_mean_field_flow():
    """rho* of F_h (wgf.grids.minimize_free_energy) is annihilated by the CCH divergence of U[rho*] to round-off,
    and the explicit CCH flow of the same grid converges to it, its F_h never below F_h(rho*)."""
    p = _linear_problem([0.6, -0.4], beta=0.02)
    grid = make_grid(p, "full", 48, 2.0)
    best = minimize_free_energy(p, grid, 1e-12)
    u = MeanFieldPotential(p, grid)(best.density)
    cap = cch_velocity_cap(u, grid.spacing, p.beta)
    rate = cch_apply(best.density, u, grid.spacing, p.beta, cap)
    assert np.abs(rate).max() <= 1e-9 * cch_rate(cap, grid.spacing) * best.density.max()

    p1 = _linear_problem([0.8], t_end=12.0, snapshots=7)
    grid1 = make_grid(p1, "full", 48, 2.0)
    best1 = minimize_free_energy(p1, grid1, 1e-12)
    h = solve(p1, grid1, flux="cch")
    assert h.stats.method == "explicit"
    scale = max(1.0, abs(best1.free_energy))
    assert np.all(h.trackers["free_energy"] - best1.free_energy >= -1e-13 * scale)
    assert np.all(np.diff(h.trackers["free_energy"]) < 1e-14 * scale)  # decreasing until round-off
    assert best1.distance(h.density)[-1] <= 1e-10


def _ou_errors(flux, cells, k=1.0, beta=1e-3, m0=0.4, s0=0.15, t=1.0, half_width=1.5):
    """L1 errors of d_t rho = d_x(rho k x) + beta rho'' on [-w, w] from N(m0, s0^2) at time t against the exact
    Gaussian cell averages (the box holds the flow: its walls are 7 standard deviations away)."""
    mean, var = m0 * np.exp(-k * t), s0**2 * np.exp(-2 * k * t) + beta / k * (1 - np.exp(-2 * k * t))
    out = []
    for n in cells:
        grid = Grid([(-half_width, half_width)], n)
        h = solve_fokker_planck(grid, lambda u: 0.5 * k * u[..., 0] ** 2, beta,
                                lambda u: np.exp(-0.5 * (u[..., 0] - m0) ** 2 / s0**2), [0.0, t], method="explicit",
                                flux=flux)
        edges = np.linspace(-half_width, half_width, n + 1)
        exact = np.diff(0.5 * (1 + erf((edges - mean) / np.sqrt(2 * var)))) / grid.spacing[0]
        out.append(np.abs(h.density[-1] - exact).sum() * grid.cell_volume)
    return np.array(out)


def test_second_order_at_high_cell_peclet_numbers():
    """OU with k = 1, beta = 1e-3: cell Peclet numbers |k x| h / beta up to 6 at 128 cells. Measured L1 errors
    6.7e-2, 1.7e-2, 4.2e-3 (orders 2.02, 1.98) against SG's 2.7e-1, 1.4e-1, 5.5e-2 (0.96, 1.34)."""
    cells = [64, 128, 256]
    cch = _ou_errors("cch", cells)
    sg = _ou_errors("sg", cells)
    orders, sg_orders = np.log2(cch[:-1] / cch[1:]), np.log2(sg[:-1] / sg[1:])
    assert np.all((orders >= 1.8) & (orders <= 2.2)), orders
    assert sg_orders[0] < 1.2, sg_orders  # the problem is in the regime where SG is first order
    assert cch[-1] < sg[-1] / 10


def test_bad_flux_and_implicit_cch_are_refused():
    grid = Grid([(-1.0, 1.0)], 8)
    rho, u = np.ones(8), np.zeros(8)
    with pytest.raises(ValueError, match="flux must be one of sg, cch, got 'upwind'"):
        integrate(rho, [0.0, 1.0], lambda r: u, grid.spacing, 0.1, flux="upwind")
    with pytest.raises(ValueError, match="flux 'cch' is integrated explicitly only"):
        integrate(rho, [0.0, 1.0], lambda r: u, grid.spacing, 0.1, method="implicit", flux="cch")
    base = ("[model]\nunit = \"linear\"\ndim_x = 1\ndim_y = 1\n[data]\nteacher_particles = [[0.5]]\n"
            "[pde]\ncells = 16\n")
    assert parse_config(base).pde.flux == "sg"
    assert parse_config(base + "flux = \"cch\"\n").pde.flux == "cch"
    with pytest.raises(ConfigError, match=r"^\[pde\] flux: expected one of sg, cch, got 'muscl'$"):
        parse_config(base + "flux = \"muscl\"\n")
    with pytest.raises(ConfigError, match=r"^\[pde\] method: flux = \"cch\" is integrated explicitly only"):
        parse_config(base + "flux = \"cch\"\nmethod = \"implicit\"\n")


def test_the_demo_flow_keeps_mass_positivity_free_energy_decay_and_invariance():
    """The demo's mean-field flow on E^G (swap group, beta = 1e-3) with the cch flux on 32^2 cells to t = 2: mass
    to 1e-13, rho >= 0, F_h decreasing at every snapshot, weakly invariant to round-off, as with the SG flux."""
    from wgf.demo import DEMO_CONFIG

    problem = parse_config(DEMO_CONFIG).problem.replace(t_end=2.0, snapshots=5)
    h = solve(problem, make_grid(problem, "fixed", 32, 2.0), flux="cch")
    assert h.stats.method == "explicit"
    mass = h.trackers["mass"]
    assert np.abs(mass - 1.0).max() <= MASS_RTOL
    assert h.density.min() >= 0.0
    assert np.all(np.diff(h.trackers["free_energy"]) < 0.0), h.trackers["free_energy"]
    assert h.trackers["wi_defect"].max() <= 1e-13
    assert np.abs(h.density[-1] - h.density[0]).sum() * h.grid.cell_volume > 0.1  # the flow moved
