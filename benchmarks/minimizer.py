"""Benchmark of the minimizer of the free energy on a grid (wgf.grids.minimize_free_energy). A script, not a test:

    python benchmarks/minimizer.py                 # the demo's problem on 64^2, 128^2 and 256^2 cells of E^G
    python benchmarks/minimizer.py --cells 128     # one grid

The demo's problem (swap-symmetric 2x2 sigmoid units, WI teacher, SI start, projected noise, tau = 1e-4,
beta = 1e-3, the PDE on E^G) on the [-2, 2]^2 box. For each grid, in one process:

- wgf: Newton-Krylov on the model's outputs Phi with the continuation in beta (the default);
- scipy.optimize.newton_krylov on the same residual Phi - T(Phi), no continuation;
- scipy.optimize.anderson on the same residual, no continuation;
- damped Picard iteration rho <- (1 - theta) rho + theta G(rho) on the densities (theta = 0.5 and 0.05);
- the baseline: the flow of the same grid to t = 50 with ``wgf.grids.solve`` defaults (``method="auto"``),
  and its L1 distance and free-energy gap to the minimizer (the flow's own convergence).

Each method gets a budget of potential evaluations (400; Picard 3000) and reports wall time, evaluations
and the stated residual ||G(rho) - rho||_1 (or that it did not converge). Ratios are against the flow's time
measured in the same run.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def _problem(cells):
    from wgf.config import parse_config
    from wgf.demo import DEMO_CONFIG

    exp = parse_config(DEMO_CONFIG.replace("cells = 256", f"cells = {cells}"))
    return exp.problem, exp.pde.make_grid(exp.problem)


def _residual(pot, rho, beta):
    from wgf.grids import gibbs_density

    return float(np.abs(gibbs_density(pot(rho), beta, pot.grid.cell_volume) - rho).sum() * pot.grid.cell_volume)


def _scipy(method, pot, beta, budget):
    """scipy's solver on Phi - T(Phi) from the output of the uniform density: (seconds, evaluations, residual)."""
    from scipy import optimize

    from wgf.grids import gibbs_density

    vol = pot.grid.cell_volume
    count = [0]

    def residual(phi):
        count[0] += 1
        if count[0] > budget:
            raise StopIteration
        return phi - pot.output(gibbs_density(pot.of_output(phi), beta, vol))

    phi0 = pot.output(np.full(pot.grid.shape, 1.0 / (pot.grid.size * vol)))
    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            phi = getattr(optimize, method)(residual, phi0, f_tol=1e-10, maxiter=budget)
        rho = gibbs_density(pot.of_output(phi), beta, vol)
        res = _residual(pot, rho, beta)
    except (StopIteration, optimize.NoConvergence, ValueError, FloatingPointError):
        res = np.nan
    return time.perf_counter() - start, count[0], res


def _picard(pot, beta, theta, budget):
    from wgf.grids import gibbs_density

    vol = pot.grid.cell_volume
    rho = np.full(pot.grid.shape, 1.0 / (pot.grid.size * vol))
    start = time.perf_counter()
    res = np.inf
    for k in range(budget):
        g = gibbs_density(pot(rho), beta, vol)
        res = float(np.abs(g - rho).sum() * vol)
        if res <= 1e-9 or not np.isfinite(res):
            break
        rho = (1 - theta) * rho + theta * g
    return time.perf_counter() - start, k + 1, res


def run(cells):
    from wgf.grids import MeanFieldPotential, minimize_free_energy, solve

    problem, grid = _problem(cells)
    pot = MeanFieldPotential(problem, grid)
    beta = problem.beta
    best = minimize_free_energy(problem, grid, potential=pot)  # compiles what it needs; timed again below
    start = time.perf_counter()
    best = minimize_free_energy(problem, grid, potential=pot)
    ours = time.perf_counter() - start
    flow_problem = problem.replace(t_end=50.0, snapshots=6)
    start = time.perf_counter()
    history = solve(flow_problem, grid)
    flow = time.perf_counter() - start
    rows = [("wgf Newton-Krylov + continuation", ours, best.evaluations, best.residual)]
    for name in ("newton_krylov", "anderson"):
        rows.append((f"scipy.optimize.{name}", *_scipy(name, pot, beta, 400)))
    for theta in (0.5, 0.05):
        rows.append((f"damped Picard, theta {theta}", *_picard(pot, beta, theta, 3000)))
    print(f"\n{cells}^2 cells of E^G, {pot.x.shape[0]} quadrature nodes x dim_y {pot.y.shape[1]}; "
          f"F* = {best.free_energy:.8g}, {best.iterations} Newton iterations")
    print(f"  {'method':<36} {'seconds':>8} {'evals':>6} {'residual':>10} {'time / flow':>12}")
    for name, seconds, evals, res in rows:
        shown = f"{res:10.2e}" if np.isfinite(res) and res <= 1e-6 else "   no conv"
        print(f"  {name:<36} {seconds:8.2f} {evals:6d} {shown} {seconds / flow:12.3f}")
    gap = history.trackers["free_energy"][-1] - best.free_energy
    print(f"  {'flow to t = 50 (solve defaults, ' + history.stats.method + ')':<36} {flow:8.2f} "
          f"{history.stats.potentials:6d} {'':>10} {1.0:12.3f}")
    print(f"  the flow at t = 50: L1 distance to the minimizer {best.distance(history.density[-1]):.3g}, "
          f"F - F* = {gap:.3g}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="*", default=[64, 128, 256])
    for cells in parser.parse_args().cells:
        run(cells)


if __name__ == "__main__":
    main()
