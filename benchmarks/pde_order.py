"""Convergence order in the cell width of the grid PDE at high cell Peclet numbers: the Scharfetter-Gummel
flux (``flux = "sg"``) against the Carrillo-Chertock-Huang flux (``flux = "cch"``), docs/pde.md "Space".

Problems (``--problem``):

- ``softplus``: a softplus matrix unit with dim_x = 2, dim_y = 1 (D = 2, trivial group), two teacher
  particles, beta = 5e-3, WI start N(0, 0.25^2 I), full noise, the full space [-2, 2]^2, to t = 2.
- ``demo``: the demo's flow (``wgf.demo``: swap group, 2x2 sigmoid units, SI start, projected noise,
  beta = 1e-3, the E^G grid [-2, 2]^2), to t = 10 (``--t-end`` shortens it).

Both fluxes are integrated by SSP-RK3 at their CFL steps (the time error is far below the space error), so the
orders are those of the space discretization. For each flux and cells n in ``--cells``: the L1 distance between
the final densities on n and 2n cells per axis (the finer one summed onto the coarser cells),
d_n = ||rho_n - P rho_2n||_1, and the Richardson order log2(d_n / d_2n) of docs/pde.md "The floor"; each run's
wall time (compilation warmed up on the smallest grid first).

With ``--demo-cost``: the wall time of the demo's PDE work with each flux on the grid that meets its floor
(docs/pde.md, "The floor"): the solve on n^2 cells with the solver's defaults and the floor's two coarse grids
(n / 2, n / 4), for sg on 256^2 cells (the demo's grid) and cch on 96^2.

Measured (docs/pde.md "Space"): softplus orders sg 0.91, 1.19 and cch 2.26, 2.10 (64 -> 128 -> 256); demo sg
1.32 (64 -> 128), cch 2.17, 2.01; demo PDE and floor 30 s (sg, 256^2) against 1.5 s (cch, 96^2).

    python benchmarks/pde_order.py --problem softplus --cells 64 128 256 512
    python benchmarks/pde_order.py --problem demo --cells 64 128 256 512
    python benchmarks/pde_order.py --demo-cost
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from wgf.config import parse_config

SOFTPLUS = """
[model]
unit = "matrix"
activation = "softplus"
dim_x = 2
dim_y = 1
[data]
x_std = 2.0
teacher_particles = [[1.0, -0.5]]
quadrature_points = 8
[training]
tau = 1e-4
beta = 5e-3
init = "wi"
init_std = 0.25
noise = "full"
t_end = 1.0
snapshots = 2
"""


def problem_and_grid(name: str, cells: int, t_end: float | None):
    from wgf.demo import DEMO_CONFIG
    from wgf.grids import make_grid

    if name == "softplus":
        problem = parse_config(SOFTPLUS).problem
        space = "full"
    else:
        problem = parse_config(DEMO_CONFIG).problem
        space = "fixed"
    if t_end is not None:
        problem = problem.replace(t_end=t_end, snapshots=2)
    return problem, make_grid(problem, space, cells, 2.0)


def restrict(rho: np.ndarray, factor: int) -> np.ndarray:
    """Cell averages of a density on cells ``factor`` times coarser per axis."""
    shape = []
    for n in rho.shape:
        shape += [n // factor, factor]
    return rho.reshape(shape).mean(axis=tuple(range(1, 2 * rho.ndim, 2)))


def run(name: str, flux: str, cells: int, t_end: float | None):
    from wgf.grids import solve

    problem, grid = problem_and_grid(name, cells, t_end)
    t0 = time.perf_counter()
    # the table path on every grid (1 GB for the demo on 512^2 cells): the cost of a step is then the same kind
    h = solve(problem, grid, [0.0, problem.t_end], method="explicit", flux=flux, potential_path="table")
    seconds = time.perf_counter() - t0
    mass = h.trackers["mass"]
    return h.density[-1], seconds, h.stats.steps, float(h.density.min()), float(abs(mass[-1] - mass[0])), \
        bool(np.all(np.diff(h.trackers["free_energy"]) <= 0.0))


def demo_cost():
    """Seconds of the demo's solve and its floor's two coarse solves, sg on 256^2 and cch on 96^2 cells."""
    from wgf.grids import solve

    for flux, cells in (("sg", 256), ("cch", 96)):
        total, parts = 0.0, []
        for n in (cells, cells // 2, cells // 4):
            problem, grid = problem_and_grid("demo", n, None)
            t0 = time.perf_counter()
            h = solve(problem, grid, [0.0, problem.t_end], flux=flux)
            seconds = time.perf_counter() - t0
            total += seconds
            parts.append(f"{n}^2 {seconds:.2f} s ({h.stats.method}, {h.stats.steps} steps)")
        print(f"{flux:4} demo PDE and floor: {total:7.2f} s = " + " + ".join(parts), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", choices=("softplus", "demo"), default="softplus")
    parser.add_argument("--cells", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--fluxes", nargs="+", default=["sg", "cch"])
    parser.add_argument("--t-end", type=float, default=None)
    parser.add_argument("--demo-cost", action="store_true", help="time the demo's PDE and floor per flux")
    args = parser.parse_args(argv)
    if args.demo_cost:
        print(f"load average {os.getloadavg()[0]:.2f}", flush=True)
        run("demo", "sg", 24, 0.01), run("demo", "cch", 24, 0.01)  # compile
        demo_cost()
        return
    cells = sorted(args.cells)
    print(f"{args.problem}: load average {os.getloadavg()[0]:.2f}; explicit SSP-RK3; "
          f"d_n = ||rho_n - P rho_2n||_1, order log2(d_n / d_2n)", flush=True)
    for flux in args.fluxes:
        run(args.problem, flux, cells[0], 0.01 if args.t_end is None else min(args.t_end, 0.01))  # compile
    for flux in args.fluxes:
        dens = {}
        for n in cells:
            rho, seconds, steps, low, drift, decays = run(args.problem, flux, n, args.t_end)
            dens[n] = rho
            print(f"{flux:4} {n:5} cells: {seconds:8.2f} s, {steps:6d} steps, min rho {low:.2e}, "
                  f"mass drift {drift:.1e}, free energy decreasing {decays}", flush=True)
        vol = (4.0 / np.asarray(cells)) ** dens[cells[0]].ndim
        dist = {n: float(np.abs(dens[n] - restrict(dens[2 * n], 2)).sum() * v)
                for n, v in zip(cells, vol) if 2 * n in dens}
        line = ", ".join(f"d_{n} = {d:.3e}" for n, d in dist.items())
        orders = ", ".join(f"{n} -> {2 * n}: {np.log2(dist[n] / dist[2 * n]):.2f}" for n in dist if 2 * n in dist)
        print(f"{flux:4} {line}; orders {orders}", flush=True)


if __name__ == "__main__":
    main()
