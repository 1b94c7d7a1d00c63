"""The PDE floor never understates the PDE's own error, and says where its warnings come from."""

import logging

import numpy as np
import pytest

from wgf.validation import richardson_floor
from wgf.validation.comparison import floor_grids, floor_note


def _distances(error, h=0.01):
    """(d_fine, d_coarse, true error of the finest grid) for grid solutions mu_h = mu + error(h) on one axis."""
    e = [error(h), error(2 * h), error(4 * h)]
    return abs(e[0] - e[1]), abs(e[1] - e[2]), abs(e[0])


@pytest.mark.parametrize("p", [0.5, 0.72, 0.96])
@pytest.mark.parametrize("d", [0.0, 0.5, -0.5, 2.0])
def test_floor_is_at_least_the_error_below_first_order(p, d):
    """Errors of order p < 1 (high Peclet), pure or with a higher-order term: the floor covers the error.
    An order clamped to [1, 2] gave 0.38 to 0.97 of it on these sequences."""
    d_fine, d_coarse, true = _distances(lambda h: h**p + d * h ** (p + 0.5))
    floor, order = richardson_floor(d_fine, d_coarse)
    assert floor >= 1.05 * true
    assert 0.4 < order < 1.2
    if d == 0.0:  # a pure power: the measured order and 1.25 times the error
        assert order == pytest.approx(p, rel=1e-9) and floor == pytest.approx(1.25 * true, rel=1e-9)
    clamped = min(max(np.log2(d_coarse / d_fine), 1.0), 2.0)
    if np.log2(d_coarse / d_fine) < 0.99:
        assert d_fine / (2**clamped - 1) < 0.99 * true  # what the lower clamp did


def test_grids_that_do_not_converge_give_no_floor():
    assert richardson_floor(1.0, 1.0) == (np.inf, 0.0)
    assert richardson_floor(2.0, 1.0) == (np.inf, -1.0)
    assert richardson_floor(1.0, 0.0) == (np.inf, -np.inf)
    floor, order = richardson_floor(1.0, 1.2)  # barely converging: a large floor, never the clamp's d_fine
    assert order == pytest.approx(np.log2(1.2), rel=1e-12) and floor == pytest.approx(1.25 / 0.2, rel=1e-12)


def test_floor_notes_name_the_coarse_grids():
    assert floor_grids([24, 24]) == "12 x 12 and 6 x 6 cells (the PDE's 24 x 24 // 2 and // 4)"
    note = floor_note("mmd", 3.1e-3, 0.72, [24, 24])
    assert note == ("mmd: the floor's grids 12 x 12 and 6 x 6 cells (the PDE's 24 x 24 // 2 and // 4) converge at "
                    "order 0.72 < 1 (not yet asymptotic, e.g. drift-dominated cells): floor 0.0031 from that order; "
                    "refine [pde] cells for a lower one")
    assert floor_note("energy", np.inf, -0.25, [5]).startswith(
        "energy: the floor's grids 2 and 2 cells (the PDE's 5 // 2 and // 4) do not converge (order -0.25 <= 0)")
    assert floor_note("energy", 1e-3, 1.4, [24, 24]) is None


def test_coarse_grid_warnings_say_they_are_the_floors(caplog):
    """A coarse grid too coarse for the density warns with its own cells, as the floor's grid."""
    from wgf.grids import Grid, History
    from wgf.validation import coarse_measures
    from wgf import parse_config

    from _common import swap_config

    problem = parse_config(swap_config(training='noise = "projected"\n').replace('init = "wi"', 'init = "si"')
                           ).problem.replace(init_std=0.25)
    fine = Grid([(-2.0, 2.0)] * 2, 12, problem.symmetry.basis)
    history = History(fine, np.array([0.0, 0.1]), np.zeros((2, 12, 12)), {})
    with caplog.at_level(logging.WARNING, logger="wgf"):
        coarse_measures(problem, history)
    lines = [r.getMessage() for r in caplog.records]
    # one line per coarse grid (not one per snapshot), naming the user's grid and the floor's
    assert len(lines) == 3
    assert lines[0].startswith("the grid of 12 cells is under-resolved for this flow: on the floor estimate's "
                               "6-cell grid (12 // 2), t = 0: density std 0.341 < 1.5 cells of 0.667 on axis 0; "
                               "use >= 40 cells")
    assert lines[1] == ("the grid of 12 cells is under-resolved for this flow: on the floor estimate's 3-cell grid "
                        "(12 // 4), t = 0: density std 0.0659 < 1.5 cells of 1.33 on axis 0; use >= 40 cells")
    assert lines[2].startswith("the box [-2, 2] x [-2, 2] is too small for this flow: on the floor estimate's "
                               "3-cell grid (12 // 4), t = 0.1: mass ")
    assert lines[2].endswith("enlarge it or refine the grid (its outer layer is 4 of your cells wide)")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="wgf"):
        coarse_measures(problem, history, factors=(4,), setting="[pde]")
    cells, box = [r.getMessage() for r in caplog.records]
    assert cells.startswith("[pde] cells = 12 is under-resolved for this flow: on the floor estimate's 3-cell grid "
                            "(12 // 4), t = 0: density std ")
    assert box.startswith("the [pde] box [-2, 2] x [-2, 2] is too small for this flow: on the floor estimate's ")
    assert box.endswith("enlarge [pde] half_width (or bounds) or refine [pde] cells (its outer layer is 4 of your "
                        "cells wide)")
