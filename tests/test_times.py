"""Snapshot times: particles are taken at the PDE's times, also when eps does not divide the spacing."""

import h5py
import numpy as np
import pytest

from _common import swap_config
from wgf import parse_config
from wgf.particles import (engine_spec, make_advance, record_times, simulate, snapshot_steps, snapshot_times)
from wgf.runner import run_experiment


@pytest.fixture(scope="module")
def problem():
    return parse_config(swap_config(training='schedule = "inverse_time"\nschedule_t0 = 0.7\n')).problem


def test_snapshot_times_on_and_between_the_steps():
    # 0.3 / 0.1 = 2.9999999999999996: on the grid (round-off); 0.35 is inside step 3, [0.3, 0.4]
    times = [0.0, 0.3, 0.35, 0.35, 1.0]
    np.testing.assert_array_equal(snapshot_steps(times, 0.1), [0, 3, 3, 3, 10])
    np.testing.assert_array_equal(snapshot_times(times, 0.1), [0.0, 3 * 0.1, 0.35, 0.35, 10 * 0.1])
    np.testing.assert_array_equal(record_times([0.0, 0.5, 1.1], 0.4, 1), [0.0, 0.4, 0.8, 1.1])  # ends at t_end
    np.testing.assert_array_equal(record_times([0.0, 1.2], 0.4, 2), [0.0, 0.8, 3 * 0.4])


def test_a_snapshot_between_two_steps_splits_that_step(problem):
    """eps = 0.4, snapshots at 0.5 and 1.1: step 1 is split at 0.5 into [0.4, 0.5] (drawn as step 1) and
    [0.5, 0.8] (counter -1 - j, j = 1), each of size (t1 - t0) varsigma(t0); the snapshot is taken at 0.5."""
    n, seed, eps, batch = 10, 3, 0.4, 5
    seen = []
    tr = simulate(problem, n, seed, times=[0.0, 0.5, 1.1], step=eps, batch=batch, record_every=1,
                  on_record=lambda r, t, th: seen.append((r, t, th.copy())))
    np.testing.assert_array_equal(tr.times, [0.0, 0.5, 1.1])
    advance, spec = make_advance(problem.base_unit, problem.loss), engine_spec(problem, batch)
    rate = problem.schedule.rate

    def piece(theta, counter, t0, t1):
        advance(theta, counter, np.array([(t1 - t0) * rate(np.array([t0]))[0]]), seed, spec)

    theta = simulate(problem, n, seed, times=[0.0, eps], step=eps, batch=batch).final.copy()
    piece(theta, 1, eps, 0.5)
    np.testing.assert_array_equal(theta, tr.positions[1])
    piece(theta, -2, 0.5, 2 * eps)
    np.testing.assert_array_equal(theta, seen[2][2])  # the trace's record at 0.8 = 2 eps
    piece(theta, 2, 2 * eps, 1.1)
    np.testing.assert_array_equal(theta, tr.positions[2])
    # the trace: every step time up to the last snapshot's step, then the last snapshot itself
    assert [r for r, _, _ in seen] == [0, 1, 2, 3]
    np.testing.assert_array_equal([t for _, t, _ in seen], record_times([0.0, 0.5, 1.1], eps, 1))
    np.testing.assert_array_equal(seen[-1][2], tr.final)


def test_results_file_particle_and_pde_times_agree(tmp_path):
    """eps = 4 / 10 = 0.4 divides neither 1.1 nor 2.2: /particles/N10/time is /pde/time, and the trace
    ends at t_end with the final snapshot's numbers."""
    text = (swap_config(n=(10,), seeds=1).replace('init = "wi"', 'init = "si"\nnoise = "projected"')
            .replace("t_end = 2.0", "t_end = 2.2").replace("batch = 5", "batch = 5\nrecord_every = 1")
            + '[pde]\nspace = "fixed"\ncells = 16\nhalf_width = 2.0\n')
    out = run_experiment(parse_config(text), tmp_path / "r.h5", quiet=True)
    with h5py.File(out) as f:
        g = f["particles/N10"]
        np.testing.assert_allclose(g["time"][()], f["pde/time"][()], rtol=0, atol=1e-12)
        np.testing.assert_array_equal(g["time"][()], [0.0, 1.1, 2.2])
        trace = g["trace"]
        np.testing.assert_array_equal(trace["trace_time"][()], np.append(np.arange(6) * 0.4, 2.2))
        assert trace["risk"][0, -1] == g["risk"][0, -1]
        exp = parse_config(text)
        tr = simulate(exp.problem, 10, 0, alpha=4.0, batch=5)
        np.testing.assert_array_equal(tr.times, g["time"][()])
        np.testing.assert_array_equal(g["positions"][0], tr.positions)
