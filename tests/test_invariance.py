"""Invariance diagnostics vanish on invariant inputs and are positive on perturbed ones (docs/theory.md §6)."""

import numpy as np
import pytest

import wgf
from wgf.groups import swap_group
from wgf.validation import rmd2, si_rmd2, wi_rmd2


@pytest.fixture(scope="module")
def sym():
    return wgf.Symmetry(wgf.make_unit("sigmoid_matrix", 2, 2), swap_group(2, 2))


def test_particle_defects_zero_on_invariant_clouds_positive_off(sym):
    rng = np.random.default_rng(0)
    z = rng.normal(scale=0.5, size=(60, 4))
    wi_cloud = sym.symmetrize(z)  # exactly weakly invariant
    si_cloud = sym.project(z)  # exactly on E^G
    assert wi_rmd2(sym, wi_cloud) < 1e-14
    assert si_rmd2(sym, si_cloud) == 0.0 and wi_rmd2(sym, si_cloud) < 1e-14
    assert si_rmd2(sym, wi_cloud) > 0.05  # WI is not SI
    perturbed = wi_cloud + 0.05 * rng.normal(size=wi_cloud.shape)
    assert wi_rmd2(sym, perturbed) > 1e-4 and si_rmd2(sym, si_cloud + 0.05 * rng.normal(size=si_cloud.shape)) > 1e-4


def test_si_closed_form_equals_exact_transport(sym):
    rng = np.random.default_rng(1)
    z = rng.normal(scale=0.5, size=(80, 4))
    assert si_rmd2(sym, z) == pytest.approx(rmd2(z, sym.project(z)), rel=1e-9)


def test_grid_wi_defect_zero_on_symmetric_density_positive_off(sym):
    from wgf.grids import Grid, wi_defect

    grid = Grid([(-1.5, 1.5)] * 4, 6)
    maps = [grid.index_map(m) for m in sym.matrices[1:]]
    rho = np.random.default_rng(2).random(grid.shape)
    symmetric = 0.5 * (rho.ravel() + rho.ravel()[maps[0]])
    assert wi_defect(symmetric.reshape(grid.shape), maps) < 1e-15
    assert wi_defect(rho, maps) > 0.1
