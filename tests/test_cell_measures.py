"""Grid densities as the measures they are: cell projections, moments of cell averages, Richardson floors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wgf.grids import Grid
from wgf.validation import as_cloud, cell_measure, energy, moments, richardson_floor, sliced_w2
from wgf.validation.metrics import _piecewise_linear_l2


def _gaussian_cells(grid, mean, std):
    def density(u):
        d = (u - mean) / std
        return np.exp(-0.5 * np.sum(d * d, axis=-1))

    rho = grid.cell_average(density, degree=9)
    return rho / (rho.sum() * grid.cell_volume)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-3, 3), min_size=2, max_size=6), st.lists(st.floats(-3, 3), min_size=2, max_size=6),
       st.integers(0, 10_000))
def test_piecewise_linear_l2_is_the_integral_of_the_squared_difference(a, b, seed):
    rng = np.random.default_rng(seed)
    a, b = np.sort(a), np.sort(b)
    if a[-1] - a[0] < 1e-3 or b[-1] - b[0] < 1e-3 or np.min(np.diff(a)) < 1e-3 or np.min(np.diff(b)) < 1e-3:
        return  # jumps are tested below; np.interp needs distinct abscissas
    u, v = rng.normal(size=a.size), rng.normal(size=b.size)
    # between consecutive knots of either function the difference is linear, its square quadratic:
    # Simpson's rule on each piece is exact
    t = np.unique(np.concatenate([a, b]))
    left, right = t[:-1], t[1:]

    def diff2(x):
        return (np.interp(x, a, u) - np.interp(x, b, v)) ** 2

    ref = np.sum((right - left) / 6 * (diff2(left) + 4 * diff2((left + right) / 2) + diff2(right)))
    assert _piecewise_linear_l2(a, u, b, v) == pytest.approx(ref, rel=1e-12, abs=1e-14)


def test_piecewise_linear_l2_with_jumps_is_exact():
    # f jumps from 0 to 1 at 0 (a CDF of delta_0); g rises linearly from 0 at -1 to 1 at 1 (Unif(-1, 1))
    f = (np.array([0.0, 0.0]), np.array([0.0, 1.0]))
    g = (np.array([-1.0, 1.0]), np.array([0.0, 1.0]))
    # int_{-1}^0 ((t+1)/2)^2 + int_0^1 (1 - (t+1)/2)^2 = 1/12 + 1/12
    assert _piecewise_linear_l2(*f, *g) == pytest.approx(1 / 6, rel=1e-15)
    assert _piecewise_linear_l2(*f, *f) == 0.0


def test_one_cell_is_the_uniform_law():
    # a 1-axis grid whose mass sits in the cell [0, 1]: W2^2 to delta_{1/2} = Var = 1/12 and
    # E^2(Unif, delta_{1/2}) = 2 E|U - 1/2| - E|U - U'| = 1/2 - 1/3 = 1/6
    grid = Grid([(0.0, 2.0)], 2)
    mu = cell_measure(grid, np.array([1.0, 0.0]))
    assert mu.points.shape == (1, 1) and mu.cell.tolist() == [[1.0]]
    point = np.array([[0.5]])
    assert sliced_w2(mu, point, n_directions=1) == pytest.approx(np.sqrt(1 / 12), rel=1e-14)
    assert energy(mu, point) == pytest.approx(np.sqrt(1 / 6), rel=1e-14)
    assert sliced_w2(mu, mu) == 0.0 and energy(mu, mu) == 0.0
    with pytest.raises(ValueError, match="needs point clouds"):
        energy(mu, point, method="exact")


def test_cell_projections_remove_the_lattice_from_sliced_distances():
    # the same piecewise-constant density as a CellMeasure, as its cell centres, and as the midpoints
    # of 24 x 24 sub-cells per cell (the reference); sliced W2 and energy to the reference
    grid = Grid([(-2.0, 2.0)] * 2, 12)
    rho = _gaussian_cells(grid, np.array([0.2, -0.1]), 0.6)
    mu = cell_measure(grid, rho)
    s = 24
    sub = (np.arange(s) + 0.5) / s - 0.5
    offsets = np.stack(np.meshgrid(sub, sub, indexing="ij"), -1).reshape(-1, 2) * grid.spacing
    fine = (mu.points[:, None, :] + offsets[None]).reshape(-1, 2)
    fine_w = np.repeat(mu.weights / s**2, s**2)
    centres = as_cloud(mu.points, mu.weights)
    for dist in (lambda x: sliced_w2(x, fine, y_weights=fine_w, n_directions=64),
                 lambda x: energy(x, fine, y_weights=fine_w, method="sliced", n_directions=64)):
        with_cells, with_centres = dist(mu), dist(centres)
        assert with_cells < with_centres / 10, (with_cells, with_centres)


def test_moments_of_cell_averages_are_those_of_the_density_to_fourth_order():
    mean, std = np.array([0.3, -0.2]), np.array([0.5, 0.4])
    exact_cov = np.diag(std**2)
    errors, centre_bias = [], []
    for cells in (20, 40):
        grid = Grid([(-4.0, 4.0)] * 2, cells)
        mu = cell_measure(grid, _gaussian_cells(grid, mean, std))
        errors.append(np.abs(mu.covariance() - exact_cov).max())
        np.testing.assert_allclose(mu.mean(), mean, atol=1e-12)
        centres = as_cloud(mu.points, mu.weights)
        centre_bias.append(moments(centres, np.zeros((1, 2)))["cov_error"])
        # the cell centres alone are biased high by h^2 / 12 per axis
        np.testing.assert_allclose(centres.covariance() - exact_cov, np.diag(grid.spacing**2 / 12), atol=1e-6)
    assert errors[0] < 1e-5 and errors[1] < errors[0] / 12  # O(h^4), no h^2 / 12 term
    assert moments(mu, as_cloud(np.array([mean]))).get("mean_error") == pytest.approx(0.0, abs=1e-12)


def test_richardson_floor_recovers_a_power_law_error():
    for p in (1.0, 1.5, 2.0):
        c, h = 0.7, 0.01
        d_fine, d_coarse = c * h**p * (2**p - 1), c * (2 * h) ** p * (2**p - 1)
        floor, order = richardson_floor(d_fine, d_coarse)
        # the extrapolated error with the safety factor 1.25 of the grid convergence index
        assert order == pytest.approx(p, abs=1e-12) and floor == pytest.approx(1.25 * c * h**p, rel=1e-12)
    assert richardson_floor(1.0, 10.0) == (1.25 / 3.0, 2.0)  # a measured order above 2 is capped (larger floor)
    assert richardson_floor(0.0, 1.0) == (0.0, 2.0)
    with pytest.raises(ValueError, match="finite"):
        richardson_floor(np.nan, 1.0)


def test_a_list_of_clouds_gives_what_single_calls_give():
    grid = Grid([(-2.0, 2.0)] * 2, 10)
    mu = cell_measure(grid, _gaussian_cells(grid, np.zeros(2), 0.5))
    rng = np.random.default_rng(3)
    clouds = [rng.normal(scale=0.5, size=(n, 2)) for n in (5, 40, 300)]
    weights = [None, rng.uniform(size=40), None]
    for dist in (sliced_w2, energy):
        batch = dist(clouds, mu, x_weights=weights)
        single = [dist(c, mu, x_weights=w) for c, w in zip(clouds, weights)]
        assert isinstance(batch, np.ndarray) and batch.tolist() == single
    # point clouds against point clouds keep the exact double sum per pair
    assert energy(clouds[:2], clouds[2]).tolist() == [energy(c, clouds[2]) for c in clouds[:2]]
    with pytest.raises(ValueError, match="as many weights"):
        energy(clouds, mu, x_weights=[None])
