"""Tensor grids (wgf.grids.Grid): basix cell quadrature, P1 interpolation, symmetry index maps."""

from pathlib import Path

import basix
import numpy as np
import pytest

from wgf.config import load_config
from wgf.grids import Grid, NotSymmetricError, make_grid

PAPER = Path(__file__).resolve().parents[1] / "examples" / "paper_c2.toml"


def _basix_points(degree):
    """Number of Gauss points per axis basix uses for ``degree`` (exact up to 2 n - 1)."""
    _, w = basix.make_quadrature(basix.CellType.interval, degree, rule=basix.QuadratureType.gauss_jacobi)
    return len(np.ravel(w))


def _monomial_average(grid, powers):
    """Exact cell averages of prod_k u_k^p_k (antiderivatives per axis), shape grid.shape."""
    out = np.ones(grid.shape)
    for k, p in enumerate(powers):
        edges = grid.bounds[k, 0] + np.arange(grid.cells[k] + 1) * grid.spacing[k]
        anti = edges ** (p + 1) / (p + 1)
        avg = np.diff(anti) / grid.spacing[k]
        shape = [1] * grid.ndim
        shape[k] = -1
        out = out * avg.reshape(shape)
    return out


# ---------------------------------------------------------------- quadrature
@pytest.mark.parametrize("degree", range(8))
@pytest.mark.parametrize("dim", [1, 2, 3])
def test_cell_average_exact_for_polynomials_of_the_basix_degree(degree, dim):
    bounds = [(-1.3, 0.7), (0.2, 2.9), (-3.0, -0.5)][:dim]
    grid = Grid(bounds, [5, 4, 3][:dim])
    pts, wts = grid.cell_quadrature(degree)
    n = _basix_points(degree)
    assert pts.shape == (grid.size, n**dim, dim)
    np.testing.assert_allclose(wts.sum(), grid.cell_volume, rtol=1e-14)
    # every quadrature point lies in its own cell
    lower = grid.points - 0.5 * grid.spacing
    assert np.all(pts > lower[:, None, :]) and np.all(pts < (lower + grid.spacing)[:, None, :])
    rng = np.random.default_rng(degree + 10 * dim)
    # a random tensor polynomial with every per-axis power <= degree: exact to round-off
    powers = np.array(np.meshgrid(*([np.arange(degree + 1)] * dim), indexing="ij")).reshape(dim, -1).T
    if len(powers) > 40:  # keep the top monomial (degree in every axis) and a random subset of the others
        powers = np.concatenate([powers[-1:], rng.permutation(powers[:-1])[:39]])
    coef = rng.normal(size=len(powers))

    def poly(u):
        return sum(c * np.prod(u ** p, axis=-1) for c, p in zip(coef, powers))

    exact = sum(c * _monomial_average(grid, p) for c, p in zip(coef, powers))
    got = grid.cell_average(poly, degree)
    assert got.shape == grid.shape
    scale = sum(abs(c) * np.abs(_monomial_average(grid, 2 * (p // 2))).max() for c, p in zip(coef, powers))
    assert np.abs(got - exact).max() <= 1e-13 * scale
    # the first power the rule misses (2 n, per axis) is really missed: the test can fail
    miss = np.zeros(dim, dtype=int)
    miss[0] = 2 * n
    bad = grid.cell_average(lambda u: u[..., 0] ** miss[0], degree)
    assert np.abs(bad - _monomial_average(grid, miss)).max() > 1e-9 * np.abs(_monomial_average(grid, miss)).max()


# ------------------------------------------------------------- interpolation
@pytest.mark.parametrize("dim", [1, 2, 3, 4])
def test_interpolate_reproduces_linear_functions_inside_the_box(dim):
    rng = np.random.default_rng(dim)
    bounds = [(-1.0, 2.0), (-0.5, 0.5), (0.0, 3.0), (-2.0, -1.0)][:dim]
    grid = Grid(bounds, [7, 5, 4, 3][:dim])
    a, b = rng.normal(), rng.normal(size=dim)

    def lin(u):
        return a + u @ b

    field = grid.cell_average(lin, 1)  # = lin(centers) for a linear function
    np.testing.assert_allclose(field, lin(grid.centers), rtol=0, atol=1e-13)
    lo = np.array([ax[0] for ax in grid.axes])
    hi = np.array([ax[-1] for ax in grid.axes])
    u = lo + rng.uniform(size=(500, dim)) * (hi - lo)  # inside the box of cell centers
    u[:dim] = lo + np.eye(dim) * (hi - lo)  # corners of that box too
    got = grid.interpolate(field, u)
    assert np.abs(got - lin(u)).max() <= 1e-13 * (abs(a) + np.abs(b).sum() * 3)
    # at the centers it returns the field itself
    np.testing.assert_allclose(grid.interpolate(field, grid.points), field.ravel(), rtol=1e-14, atol=1e-14)
    # weights are a partition of unity on the 2^m neighbours
    index, weights = grid.interpolation_weights(u)
    assert index.shape == weights.shape == (len(u), 2**dim)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-14)
    assert weights.min() >= -1e-15  # nonnegative up to the round-off of 1 - t at a cell center
    # outside the box of centers the value is clamped (no extrapolation of the linear function)
    out = hi + 0.3 * grid.spacing
    np.testing.assert_allclose(grid.interpolate(field, out[None]), lin(hi[None]), rtol=1e-13)


# ------------------------------------------------------------------ symmetry
def _check_involution(grid, matrix):
    perm = grid.index_map(matrix)
    n = grid.size
    assert perm.shape == (n,) and perm.dtype.kind == "i"
    assert np.array_equal(np.sort(perm), np.arange(n)), "not a permutation"
    assert np.array_equal(perm[perm], np.arange(n)), "not an involution"
    # perm[c] is the cell containing M applied to the center of cell c
    r = grid.basis.T @ np.asarray(matrix, dtype=float) @ grid.basis
    np.testing.assert_allclose(grid.points[perm], grid.points @ r.T, atol=1e-12)
    return perm


@pytest.mark.parametrize("cells", [8, 7])
def test_index_map_of_swap_and_sign_maps_is_a_permutation_and_an_involution(cells):
    grid = Grid([(-1.5, 1.5), (-1.5, 1.5)], cells)
    swap = np.array([[0.0, 1.0], [1.0, 0.0]])
    for matrix in (swap, -np.eye(2), np.diag([-1.0, 1.0]), -swap):
        perm = _check_involution(grid, matrix)
        assert not np.array_equal(perm, np.arange(grid.size))  # the map really moves cells
    assert np.array_equal(grid.index_map(np.eye(2)), np.arange(grid.size))
    # rho o M: a density that is a function of u0 - u1 is swap-invariant, one of u0 is not
    d = grid.centers[..., 0] - grid.centers[..., 1]
    rho = np.exp(-d**2)
    assert np.array_equal(rho.ravel()[grid.index_map(swap)], rho.ravel())
    rho = np.exp(-(grid.centers[..., 0] - 0.3) ** 2)
    assert not np.allclose(rho.ravel()[grid.index_map(swap)], rho.ravel())


def test_index_map_of_the_paper_group_on_full_and_fixed_grids():
    problem = load_config(PAPER).problem
    mats = problem.symmetry.matrices
    assert len(mats) == 2
    full = make_grid(problem.replace(init="wi", noise="full"), "full", cells=5, half_width=1.5)
    perm = _check_involution(full, mats[1])
    assert not np.array_equal(perm, np.arange(full.size))
    # on E^G the group acts trivially
    fixed = make_grid(problem.replace(scheme="fa", noise="projected"), "fixed", cells=6)
    assert np.array_equal(_check_involution(fixed, mats[1]), np.arange(fixed.size))


def test_index_map_refuses_maps_that_do_not_keep_the_grid():
    swap = np.array([[0.0, 1.0], [1.0, 0.0]])
    with pytest.raises(NotSymmetricError):  # asymmetric bounds
        Grid([(-1.0, 2.0), (-1.0, 2.0)], 6).index_map(-np.eye(2))
    with pytest.raises(NotSymmetricError):  # different bounds per axis
        Grid([(-1.0, 1.0), (-2.0, 2.0)], 6).index_map(swap)
    with pytest.raises(NotSymmetricError):  # different cells per axis
        Grid([(-1.0, 1.0), (-1.0, 1.0)], (6, 8)).index_map(swap)
    with pytest.raises(NotSymmetricError):  # not a signed permutation of the axes
        c = np.sqrt(0.5)
        Grid([(-1.0, 1.0), (-1.0, 1.0)], 6).index_map(np.array([[c, -c], [c, c]]))
    with pytest.raises(NotSymmetricError):  # does not keep span(e0, e1) in R^3
        Grid([(-1.0, 1.0), (-1.0, 1.0)], 6, basis=np.eye(3)[:, :2]).index_map(np.eye(3)[[0, 2, 1]])
    # the same maps on symmetric grids are accepted
    Grid([(-2.0, 2.0), (-2.0, 2.0)], 6).index_map(-np.eye(2))
    Grid([(-1.0, 1.0), (-1.0, 1.0)], 6, basis=np.eye(3)[:, :2]).index_map(np.eye(3)[[1, 0, 2]])


def test_grid_geometry_and_validation():
    grid = Grid([(-1.0, 3.0), (0.0, 1.0)], (4, 5))
    np.testing.assert_allclose(grid.axes[0], [-0.5, 0.5, 1.5, 2.5])
    np.testing.assert_allclose(grid.axes[1], [0.1, 0.3, 0.5, 0.7, 0.9])
    assert grid.shape == (4, 5) and grid.size == 20 and grid.centers.shape == (4, 5, 2)
    assert grid.cell_volume == pytest.approx(0.2, rel=1e-15)
    basis = np.array([[1.0, 0.0], [0.0, np.sqrt(0.5)], [0.0, np.sqrt(0.5)]])
    sub = Grid([(-1.0, 1.0)] * 2, 4, basis)
    np.testing.assert_allclose(sub.embed(sub.points) @ basis, sub.points, atol=1e-15)
    for bad in (
        lambda: Grid([(1.0, -1.0)], 4),
        lambda: Grid([(-1.0, 1.0)] * 5, 4),
        lambda: Grid([(-1.0, 1.0)], 1),
        lambda: Grid([(-1.0, 1.0)] * 2, 4, np.ones((3, 2))),
    ):
        with pytest.raises(ValueError):
            bad()
