"""Shared test set-up: the ``slow`` tier and one kernel warm-up per test process.

``pytest -m "not slow"`` runs the fast tier (under two minutes on 2 cores with a warm numba cache);
CI runs everything. A test is marked slow when it trains or solves at a realistic size, spawns
processes or a cluster, or compiles kernels of its own.
"""

import pytest


@pytest.fixture(scope="session", autouse=True)
def warm_kernels():
    """Compile, or load from the numba cache, the kernels most tests share (the particle step of the
    swap problem's sigmoid units, its risk and invariance diagnostics, a small PDE solve) once per test
    process, before the first test: a test's time is then its own work."""
    from _common import swap_config

    from wgf import parse_config, risk
    from wgf.grids import make_grid, solve
    from wgf.particles import simulate
    from wgf.validation import si_rmd2, wi_rmd2

    problem = parse_config(swap_config(n=(8,), seeds=1)).problem
    theta = simulate(problem, 8, 0, alpha=4.0, batch=5).final
    risk(problem, theta), si_rmd2(problem.symmetry, theta), wi_rmd2(problem.symmetry, theta)
    fixed = problem.replace(init="si", noise="projected", t_end=0.1, snapshots=2)
    solve(fixed, make_grid(fixed, "fixed", cells=8, half_width=1.0))
