"""Particles-vs-PDE pieces: the density as a measure, output and risk gaps, the rate fit."""

from pathlib import Path

import numpy as np
import pytest

import wgf
from wgf.grids import make_grid, solve
from wgf.validation import as_measure, fit_rate, output_l2, risk_gap

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def problem():
    p = wgf.load_config(ROOT / "examples" / "fixed_subspace_pde.toml").problem
    return p.replace(t_end=1.0, snapshots=2)


def test_as_measure_is_the_density_embedded_in_z(problem):
    grid = make_grid(problem, "fixed", cells=16, half_width=2.0)
    history = solve(problem, grid)
    mu = as_measure(history, 1)
    z, w = mu.points, mu.weights
    np.testing.assert_allclose(mu.cell, grid.basis * grid.spacing, atol=0)  # the cell's edges in Z
    assert w.sum() == pytest.approx(1.0, abs=1e-14) and np.all(w > 0)
    np.testing.assert_allclose(z, problem.symmetry.project(z), atol=1e-14)  # on E^G
    # the first moment of the measure is the density's own
    rho = history.density[1]
    mean_u = np.array([np.sum(rho * grid.centers[..., k]) * grid.cell_volume for k in range(grid.ndim)])
    np.testing.assert_allclose(w @ z, grid.embed(mean_u), atol=1e-13)
    # the risk of the measure is the solver's risk tracker
    assert wgf.risk(problem, z, w) == pytest.approx(history.trackers["risk"][1], rel=1e-12)


def test_output_l2_and_risk_gap(problem):
    rng = np.random.default_rng(0)
    x = rng.normal(scale=0.3, size=(40, problem.dim))
    assert output_l2(problem, x, x) == 0.0 and risk_gap(problem, x, x) == 0.0
    # a cloud and its duplicate-with-weights are the same measure
    w = np.full(80, 1 / 80)
    assert output_l2(problem, x, np.vstack([x, x]), y_weights=w) < 1e-15
    y = rng.normal(scale=0.3, size=(40, problem.dim))
    q = problem.quadrature
    d = problem.unit.output(q.x, x) - problem.unit.output(q.x, y)
    assert output_l2(problem, x, y) == pytest.approx(np.sqrt(q.weights @ (d * d).sum(1)), rel=1e-12)
    assert risk_gap(problem, x, y) == pytest.approx(abs(wgf.risk(problem, x) - wgf.risk(problem, y)), rel=1e-12)


def test_fit_rate_recovers_a_known_slope():
    rng = np.random.default_rng(1)
    n = np.array([100, 300, 1000, 3000, 10000])
    values = 2.0 * n[:, None] ** -0.5 * np.exp(rng.normal(scale=0.1, size=(5, 8)))
    fit = fit_rate(n, values)
    assert fit.low < -0.5 < fit.high and fit.high - fit.low < 0.1 and fit.n_points == 40
    exact = fit_rate(n, 3.0 * n[:, None] ** -0.7 * np.ones((5, 2)))
    assert exact.slope == pytest.approx(-0.7, abs=1e-12)
    # points at or below the floor are left out; too few points give NaN
    floored = fit_rate(n, values, floor=2.0 * 1000**-0.5 * 1.5)
    assert floored.n_points < 40
    assert np.isnan(fit_rate(n[:1], values[:1]).slope)


@pytest.mark.parametrize("metric", ["mmd", "mmd_binned", "energy"])
def test_iid_samples_against_their_gridded_density_give_a_rate_interval_containing_minus_half(metric):
    # N(0, I_2) as a weighted grid on [-6, 6]^2; iid samples at N = 100 .. 25600, 6 seeds each.  The
    # energy distance would see cell centres at first order in their spacing: it gets the grid as the
    # measure of its cell averages (cells projected to uniform laws)
    from wgf.grids import Grid
    from wgf.validation import cell_measure, energy, mmd

    g = np.linspace(-6, 6, 49)
    grid = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    wg = np.exp(-0.5 * np.sum(grid**2, 1))
    wg /= wg.sum()
    cells = Grid([(-6.0, 6.0)] * 2, 48)
    rho = cells.cell_average(lambda u: np.exp(-0.5 * np.sum(u * u, axis=-1)))
    measure = cell_measure(cells, rho / (rho.sum() * cells.cell_volume))
    sizes = np.array([100, 400, 1600, 6400, 25600])
    f = {"mmd": lambda x: mmd(x, grid, bandwidth=1.0, y_weights=wg),
         "mmd_binned": lambda x: mmd(x, grid, bandwidth=1.0, y_weights=wg, method="binned"),
         "energy": lambda x: energy(x, measure)}[metric]
    values = np.array([[f(np.random.default_rng(100 * s + k).normal(size=(n, 2))) for s in range(6)]
                       for k, n in enumerate(sizes)])
    fit = fit_rate(sizes, values)
    assert fit.n_points == 30
    assert fit.low < -0.5 < fit.high
    assert fit.high - fit.low < 0.15


def test_mean_interval_uses_the_t_quantile():
    from scipy import stats

    from wgf.validation import mean_interval

    values = np.array([[1.0, 2.0, 4.0], [3.0, 3.0, 3.0]])
    mean, half = mean_interval(values)
    np.testing.assert_allclose(mean, [7 / 3, 3.0], rtol=1e-15)
    # t_{0.975, 2} = 4.3027, 2.2x the normal 1.96 the interval would have with 3 seeds
    assert stats.t.ppf(0.975, 2) == pytest.approx(4.302653, rel=1e-6)
    np.testing.assert_allclose(half, [4.302653 * np.std([1, 2, 4], ddof=1) / np.sqrt(3), 0.0], rtol=1e-6)
    assert mean_interval(np.ones((2, 1)))[1].tolist() == [0.0, 0.0]


def test_compare_takes_trajectories_and_checks_their_shape(problem):
    from wgf.particles import simulate
    from wgf.validation import compare

    grid = make_grid(problem, "fixed", cells=16, half_width=2.0)
    history = solve(problem, grid)
    trajectories = [simulate(problem, n, seed, alpha=5.0) for n in (20, 40, 80) for seed in (0, 1)]
    result = compare(problem, history, trajectories, metrics=["energy", "moments"])
    assert result.n.tolist() == [20, 40, 80] and result.values["energy"].shape == (3, 2, 2)
    by_n = {n: np.stack([t.positions for t in trajectories if t.n == n]) for n in (20, 40, 80)}
    again = compare(problem, history, by_n, metrics=["energy"], coarse=None)
    np.testing.assert_array_equal(again.values["energy"], result.values["energy"])
    assert result.floor["energy"] > 0 and 1.0 <= result.floor_order["energy"] <= 2.0
    with pytest.raises(ValueError, match="expected"):
        compare(problem, history, {20: by_n[20][:, :1]})
    with pytest.raises(ValueError, match="unknown metric"):
        compare(problem, history, by_n, metrics=["wasserstein"])
    # particles taken at other times than the density are not compared, as Trajectories or with their times
    late = simulate(problem, 20, 0, times=[0.0, 0.9], alpha=5.0)
    at = r"particles of N = 20 were taken at t = 0.9, the PDE density at t = 1 \(snapshot 1\)"
    with pytest.raises(ValueError, match=at):
        compare(problem, history, [late], metrics=["energy"])
    with pytest.raises(ValueError, match=at):
        compare(problem, history, {20: late.positions[None]}, metrics=["energy"], times={20: late.times})


def test_distance_vs_n_draws_on_the_given_axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from wgf.plot import distance_vs_n

    n = np.array([100, 1000, 10000])
    values = np.array([[0.1, 0.12, 0.09], [0.03, 0.035, 0.028], [0.004, 0.006, 0.005]])
    fig, ax = plt.subplots()
    fit = fit_rate(n, values, floor=0.005)
    assert distance_vs_n(n, values, floor=0.005, rate=fit, ax=ax, ylabel="energy") is ax
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log" and ax.get_ylabel() == "energy distance"
    labels = ax.get_legend_handles_labels()[1]
    assert "at or below the floor (not fitted)" in labels  # the N = 1e4 mean (0.005) is at the floor
    assert ax.get_title().startswith(f"slope ${fit.slope:+.2f}$") and "$N^{-1/2}$" in labels
    plt.close(fig)
