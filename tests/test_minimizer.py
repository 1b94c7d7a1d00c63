"""The minimizer of the free energy on a grid (``wgf.grids.minimize_free_energy``, docs/pde.md "The minimizer").

Exact references: the linear unit with the squared loss and Gaussian data has a Gaussian Gibbs state in closed
form (mean s^2 a / (s^2 + tau), covariance beta / (2 tau) I); the minimizer is the exact stationary state of the
PDE's own scheme (its Scharfetter-Gummel operator annihilates it, the explicit flow converges to it to round-off)
and the minimum of the discrete free energy (no flow and no perturbation falls below it).
"""

import numpy as np
import pytest
from scipy.stats import norm

from wgf.config import ConfigError, parse_config
from wgf.data import GaussianTeacherData
from wgf.grids import (Grid, MeanFieldPotential, MinimizerError, gibbs_density, make_grid, minimize_free_energy,
                       solve)
from wgf.grids.flux import fokker_planck_operator
from wgf.groups import trivial_group
from wgf.problem import Problem
from wgf.symmetry import Symmetry
from wgf.units import make_unit


def linear_problem(teacher, x_std=1.0, **training):
    """sigma(x, w) = <w, x> (dim_y 1), one teacher particle a: f_*(x) = <a, x>, X ~ N(0, x_std^2 I)."""
    teacher = np.atleast_2d(np.asarray(teacher, dtype=float))
    unit = make_unit("linear", teacher.shape[1], 1)
    sym = Symmetry(unit, trivial_group(teacher.shape[1], 1))
    data = GaussianTeacherData(unit, teacher, x_std, 0.0, "arbitrary")
    settings = dict(tau=0.5, beta=0.05, init_std=0.25, t_end=1.0, snapshots=2, quadrature_points=4)
    settings.update(training)
    return Problem(sym, data, **settings)


def gibbs_cell_averages(grid, mean, std):
    """Cell averages of the product Gaussian N(mean, std^2 I) on the tensor grid."""
    out = np.ones(())
    for k in range(grid.ndim):
        lo, hi = grid.bounds[k]
        edges = np.linspace(lo, hi, grid.cells[k] + 1)
        out = np.multiply.outer(out, np.diff(norm.cdf(edges, mean[k], std)) / (hi - lo) * grid.cells[k])
    return out


@pytest.mark.parametrize("teacher, cells, bound", [([0.8], 128, 3e-3), ([0.6, -0.4], 128, 3e-3)])
def test_linear_minimizer_is_the_closed_form_gibbs_state(teacher, cells, bound):
    p = linear_problem(teacher)
    s2, a = 1.0, np.asarray(teacher)
    mean, std = s2 * a / (s2 + p.tau), np.sqrt(p.beta / (2 * p.tau))
    grid = make_grid(p, "full", cells, 2.0)
    best = minimize_free_energy(p, grid, 1e-11)
    assert best.residual <= 1e-11
    assert abs(best.density.sum() * grid.cell_volume - 1) < 1e-13
    error = best.distance(gibbs_cell_averages(grid, mean, std))
    assert error <= bound, error
    if grid.ndim == 1:  # second order: the error falls about 4x when h is halved (measured 7.9e-4 -> 2.0e-4)
        finer = make_grid(p, "full", 2 * cells, 2.0)
        fine_error = minimize_free_energy(p, finer, 1e-11).distance(gibbs_cell_averages(finer, mean, std))
        assert np.log2(error / fine_error) >= 1.8


def test_minimizer_is_the_exact_stationary_state_of_the_scheme():
    """A(U[rho*]) rho* = 0 to round-off, cell by cell, and rho* = G(rho*) to the stated residual."""
    p = linear_problem([0.6, -0.4], beta=0.02)
    grid = make_grid(p, "full", 48, 2.0)
    best = minimize_free_energy(p, grid, 1e-12)
    pot = MeanFieldPotential(p, grid)
    u = pot(best.density)
    a = fokker_planck_operator(u, grid.spacing, p.beta)
    flux = np.abs(a @ best.density.ravel())
    assert flux.max() <= 1e-9 * (np.abs(a) @ best.density.ravel()).max()
    assert np.abs(gibbs_density(u, p.beta, grid.cell_volume) - best.density).sum() * grid.cell_volume <= 1e-12
    # a density that is not the fixed point is not stationary: the check can fail
    assert np.abs(a @ gibbs_density(u, 2 * p.beta, grid.cell_volume).ravel()).max() > 1e-3


def test_flows_converge_to_the_minimizer_and_never_fall_below_its_free_energy():
    """The explicit flow of the same grid reaches rho* to round-off at the OU rate 4 tau of the variance; the
    implicit flow's free energy stays above F* too."""
    from wgf.validation import fit_decay

    p = linear_problem([0.8], t_end=12.0, snapshots=25)
    grid = make_grid(p, "full", 96, 2.0)
    best = minimize_free_energy(p, grid, 1e-12)
    scale = max(1.0, abs(best.free_energy))
    for method in ("explicit", "implicit"):
        h = solve(p, grid, method=method)
        assert np.all(h.trackers["free_energy"] - best.free_energy >= -1e-13 * scale), method
    explicit = solve(p, grid, method="explicit")
    distance = best.distance(explicit.density)
    assert distance[-1] <= 1e-10
    # slowest mode of the linear OU flow: the variance, rate 4 tau (the mean relaxes at 2 (s^2 + tau))
    times = explicit.times
    fit = fit_decay(times[(times >= 2) & (times <= 6)], distance[(times >= 2) & (times <= 6)])
    assert fit.low <= -4 * p.tau <= fit.high or abs(fit.slope + 4 * p.tau) <= 0.05 * 4 * p.tau, fit


def test_free_energy_is_minimal_at_the_minimizer():
    """F_h(rho* + s d) > F_h(rho*) for random mass-free directions d that keep rho >= 0 (strict convexity)."""
    p = linear_problem([0.6, -0.4], beta=0.05)
    grid = make_grid(p, "full", 24, 2.0)
    best = minimize_free_energy(p, grid, 1e-12)
    pot = MeanFieldPotential(p, grid)
    f0, r0 = pot.free_energy(best.density)
    assert f0 == pytest.approx(best.free_energy, rel=0, abs=1e-14) and r0 == pytest.approx(best.risk, abs=1e-14)
    rng = np.random.default_rng(0)
    for _ in range(20):
        other = rng.random(grid.shape) * best.density
        other /= other.sum() * grid.cell_volume
        for s in (1e-1, 1e-3):
            rho = (1 - s) * best.density + s * other
            assert pot.free_energy(rho)[0] > best.free_energy


@pytest.mark.parametrize("ndim, cells", [(3, 10), (4, 6)])
def test_minimizer_in_three_and_four_dimensions(ndim, cells):
    """3 and 4 axes (the unit's separable path on a full-space grid): the fixed point to the tolerance, the
    Gaussian's mean within a cell width."""
    a = np.linspace(0.5, -0.5, ndim)
    p = linear_problem(a, tau=1.0, beta=0.1, quadrature_points=3)
    grid = make_grid(p, "full", cells, 1.5)
    best = minimize_free_energy(p, grid, 1e-10)
    assert best.residual <= 1e-10 and best.density.shape == (cells,) * ndim
    mass = best.density * grid.cell_volume
    for k in range(ndim):
        marginal = mass.sum(axis=tuple(j for j in range(ndim) if j != k))
        assert abs(np.dot(marginal, grid.axes[k]) - a[k] / (1 + p.tau)) <= grid.spacing[k]


def test_minimizer_paths_agree():
    """table, direct (and separable where the unit allows) give the same minimizer to round-off."""
    p = linear_problem([0.6, -0.4], beta=0.05)
    grid = make_grid(p, "full", 20, 2.0)
    table = minimize_free_energy(p, grid, 1e-12, potential_path="table")
    direct = minimize_free_energy(p, grid, 1e-12, potential_path="direct")
    assert table.distance(direct.density) <= 1e-10


def test_minimizer_refuses_what_has_no_unique_minimizer_and_says_where_it_stopped():
    p = linear_problem([0.8])
    grid = make_grid(p, "full", 32, 2.0)
    with pytest.raises(ValueError, match="beta > 0"):
        minimize_free_energy(p.replace(beta=0.0), grid)
    with pytest.raises(ValueError, match="tol"):
        minimize_free_energy(p, grid, -1.0)
    with pytest.raises(MinimizerError, match="within 1 Newton iterations: residual .* at beta"):
        minimize_free_energy(p.replace(beta=1e-3), grid, 1e-12, max_iterations=1)


def test_minimizer_repr_is_short_and_states_the_solve():
    p = linear_problem([0.8])
    best = minimize_free_energy(p, make_grid(p, "full", 32, 2.0))
    text = repr(best)
    assert len(text) < 300 and "residual" in text and "32 cells" in text and "[" not in text


LINEAR = """
[model]
unit = "linear"
dim_x = 1
dim_y = 1
[data]
x_std = 1.0
teacher_particles = [[0.8]]
quadrature_points = 4
[training]
tau = 0.5
beta = 0.05
t_end = 2.0
snapshots = 5
"""


def test_minimizer_section_is_checked_before_any_work():
    with pytest.raises(ConfigError, match=r"^\[minimizer\] needs a \[pde\] section"):
        parse_config(LINEAR + "[minimizer]\n")
    with pytest.raises(ConfigError, match=r"^\[training\] beta: the minimizer needs beta > 0"):
        parse_config(LINEAR.replace("beta = 0.05", "beta = 0.0") + "[pde]\ncells = 32\n[minimizer]\n")
    with pytest.raises(ConfigError, match=r"^\[minimizer\] tolerance: must be > 0"):
        parse_config(LINEAR + "[pde]\ncells = 32\n[minimizer]\ntolerance = 0\n")
    with pytest.raises(ConfigError, match=r"^\[minimizer\] unknown key 'tol'"):
        parse_config(LINEAR + "[pde]\ncells = 32\n[minimizer]\ntol = 1e-3\n")


def test_results_file_minimizer_equals_the_object_and_the_pde_converges_to_it(tmp_path):
    import xarray as xr

    import wgf
    from wgf.runner import run_experiment

    exp = parse_config(LINEAR + "[pde]\ncells = 64\n[minimizer]\ntolerance = 1e-12\n")
    path = run_experiment(exp, tmp_path / "r.h5", quiet=True)
    grid = exp.pde.make_grid(exp.problem)
    best = minimize_free_energy(exp.problem, grid, 1e-12)
    tree = wgf.open_results(path)
    stored = tree["minimizer"].to_dataset()
    mine = best.to_xarray()
    for name in ("density", "free_energy", "risk"):
        xr.testing.assert_allclose(stored[name].drop_attrs(), mine[name].drop_attrs(), rtol=0, atol=1e-13)
        assert stored[name].attrs["long_name"] == mine[name].attrs["long_name"]
    assert list(stored["density"].dims) == ["u0"] and np.array_equal(stored["u0"], tree["pde"]["u0"])
    gap = stored["pde_free_energy_gap"].values
    distance = stored["pde_distance"].values
    assert gap.shape == distance.shape == (5,) and np.all(gap >= -1e-13) and np.all(np.diff(distance) < 0)
    assert stored["pde_distance"].attrs["decay_rate"] < 0
    # the same solve again, resumed: the finished /minimizer is kept as written
    assert float(stored["residual"]) <= 1e-12


def test_wgf_run_reports_a_minimizer_that_does_not_converge_in_one_line(tmp_path, capsys):
    """Too few Newton iterations: exit 1, one line naming [minimizer], no traceback; the solved PDE is kept."""
    import h5py

    from wgf.cli import main

    config = tmp_path / "c.toml"
    config.write_text(LINEAR.replace("beta = 0.05", "beta = 1e-3") + "[pde]\ncells = 64\n[minimizer]\n"
                      "max_iterations = 1\ntolerance = 1e-12\n")
    out = tmp_path / "r.h5"
    assert main(["run", str(config), "-o", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].count("[minimizer] no fixed point") == 1 and "max_iterations" in err[0]
    assert "Traceback" not in "\n".join(err) and not out.exists()
    partial = [p for p in tmp_path.iterdir() if p.name.startswith("r.h5")]
    assert partial, "the solved PDE is kept in the partial file"
    with h5py.File(partial[0], "r") as f:
        assert f["pde"].attrs.get("done") and "minimizer" not in f
