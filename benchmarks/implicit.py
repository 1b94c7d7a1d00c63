"""Benchmark of the implicit integrators on the mean-field flows (docs/pde.md, "Time: the integrators and `auto`").
A script, not a test:

    python benchmarks/implicit.py                 # every case below, prints a table
    python benchmarks/implicit.py --case demo2d   # one case (prints its JSON line)
    python benchmarks/implicit.py --lu            # also the SuperLU integrator on the 2D case (slow)

- ``demo2d``: the demo's flow (docs/guide.md; ``wgf.demo.DEMO_CONFIG``: swap-symmetric sigmoid units, WI
  teacher, SI start, projected noise, beta = 1e-3) on 256^2 cells of E^G (the sg flux) to t = 50: ``solve`` with default
  arguments (``method="auto"``), then ``method="explicit"`` in the same process, their ratio and the L1
  distance between the final densities; with ``--lu`` also ``method="implicit"`` (SuperLU).
- ``c3-3d``: the C3 circulant 3D E^G problem of benchmarks/pde.py (d) on 32^3 and 64^3 cells to t = 50, defaults.
- ``full-4d``: the 4D full-space swap problem of benchmarks/pde.py (d) on 16^4 and 32^4 cells to t = 50,
  defaults.

``--steps N``: on the finer 3D and 4D grids only the first N steps, their time per step extrapolated with the
step count of the coarser grid's full run.

Each case runs in its own process after a small warm-up solve (numba kernels compiled or loaded from the
cache before the clock starts); ``solve_s`` is the wall time of ``solve``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
T_END = 50.0


def _warm(problem, space, half_width):
    from wgf.grids import make_grid, solve

    small = problem.replace(t_end=0.05, snapshots=2)
    solve(small, make_grid(small, space, cells=8, half_width=half_width))


def _timed(problem, grid, method):
    from wgf.grids import solve

    t0 = time.perf_counter()
    h = solve(problem, grid, [0.0, T_END], method=method)
    s = h.stats
    return h.density[-1], dict(solve_s=time.perf_counter() - t0, method=s.method, steps=s.steps, rejected=s.rejected,
                               potentials=s.potentials, factorizations=s.factorizations, reason=s.reason,
                               mass_drift=float(abs(h.mass()[-1] - h.mass()[0])), min=float(h.density[-1].min()))


def case_demo2d(lu=False):
    import numpy as np

    from wgf.config import parse_config
    from wgf.demo import DEMO_CONFIG

    from wgf.grids import make_grid

    exp = parse_config(DEMO_CONFIG)
    # the grid: 256^2 cells of E^G with the sg flux (the demo itself runs 96^2 with cch, explicit)
    problem, grid = exp.problem, make_grid(exp.problem, "fixed", cells=256, half_width=exp.pde.half_width)
    _warm(problem, "fixed", 2.0)
    out = dict(cells=grid.size)
    finals = {}
    for name, method in (("defaults", "auto"), ("explicit", "explicit")) + ((("superlu", "implicit"),) if lu else ()):
        finals[name], out[name] = _timed(problem, grid, method)
    for name in finals:
        if name != "explicit":
            out[name]["l1_to_explicit"] = float(np.abs(finals[name] - finals["explicit"]).sum() * grid.cell_volume)
    return out


def _problem(config):
    from wgf.config import load_config

    return load_config(ROOT / "examples" / config).problem


def _first_steps(problem, grid, steps):
    """Wall time of ``solve``'s set-up and of its first ``steps`` implicit steps with default arguments."""
    import wgf.grids.stepper as stepper

    real, clock = stepper._implicit_step, []

    class Enough(Exception):
        pass

    def counted(*args):
        clock.append(time.perf_counter())
        if len(clock) > steps:
            raise Enough
        return real(*args)

    stepper._implicit_step = counted
    t0 = time.perf_counter()
    try:
        _timed(problem, grid, "auto")
    except Enough:
        pass
    finally:
        stepper._implicit_step = real
    return dict(cells=grid.size, measured_steps=steps, setup_s=clock[0] - t0, per_step_s=(clock[-1] - clock[0]) / steps)


def _run(problem, space, cells, steps):
    from wgf.grids import make_grid

    half_width = 1.5 if space == "full" else 2.0
    _warm(problem, space, half_width)
    grid = make_grid(problem, space, cells=cells, half_width=half_width)
    if steps is None:
        return dict(cells=grid.size, defaults=_timed(problem, grid, "auto")[1])
    return _first_steps(problem, grid, steps)


def case_c3_3d(cells=64, steps=None):
    return _run(_problem("discover_c3.toml").replace(init="si", noise="projected", beta=1e-3), "fixed", cells, steps)


def case_full_4d(cells=32, steps=None):
    return _run(_problem("wi_full_space_4d.toml"), "full", cells, steps)


CASES = {"demo2d": case_demo2d, "c3-3d": case_c3_3d, "full-4d": case_full_4d}


def run_case(name, *extra):
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--case", name, *extra], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ))
    if proc.returncode != 0:
        raise RuntimeError(f"case {name} failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = time.perf_counter() - t0
    return result


def _line(name, r):
    return (f"  {name:<9} {r['method']:<9} {r['solve_s']:8.1f} s  {r['steps']:5d} steps ({r['rejected']} rejected), "
            f"{r['potentials']} potentials, {r['factorizations']} factorizations, mass drift {r['mass_drift']:.1e}, "
            f"min {r['min']:.1e}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES))
    parser.add_argument("--lu", action="store_true", help="also the SuperLU integrator on the 2D case")
    parser.add_argument("--steps", type=int, help="3D, 4D: measure this many implicit steps and extrapolate")
    parser.add_argument("--cells", type=int, help="3D, 4D: cells per axis (default 64, 32)")
    args = parser.parse_args()
    if args.case:
        kwargs = dict(lu=args.lu) if args.case == "demo2d" else dict(steps=args.steps)
        if args.cells and args.case != "demo2d":
            kwargs["cells"] = args.cells
        print(json.dumps(CASES[args.case](**kwargs)))
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f}")
    r = run_case("demo2d", *(["--lu"] if args.lu else []))
    d, e = r["defaults"], r["explicit"]
    print(f"demo flow on E^G, {r['cells']} cells, t = 0 to {T_END:g}")
    for name in ("defaults", "explicit", "superlu"):
        if name in r:
            print(_line(name, r[name]) + (f", L1 to explicit {r[name]['l1_to_explicit']:.2e}"
                                          if "l1_to_explicit" in r[name] else ""))
    print(f"  defaults {e['solve_s'] / d['solve_s']:.1f}x faster than explicit (target >= 4x, <= 30 s), final "
          f"densities {d['l1_to_explicit']:.1e} apart in L1 (target <= 2e-3)")
    print(f"  auto: {d['reason']}")
    for name, label, coarse_cells in (("c3-3d", "C3 3D E^G", 32), ("full-4d", "4D full space", 16)):
        r = run_case(name, "--cells", str(coarse_cells))
        print(f"{label}, {r['cells']} cells, t = 0 to {T_END:g}")
        print(_line("defaults", r["defaults"]))
        coarse = r["defaults"]
        r = run_case(name, *(["--steps", str(args.steps)] if args.steps else []))
        print(f"{label}, {r['cells']} cells, t = 0 to {T_END:g} (target 300 s)")
        if "defaults" in r:
            print(_line("defaults", r["defaults"]))
            print(f"  auto: {r['defaults']['reason']}")
        else:
            total = coarse["steps"] + coarse["rejected"]
            print(f"  {r['measured_steps']} steps measured: {r['per_step_s']:.2f} s per step after {r['setup_s']:.1f} s "
                  f"of set-up; with the {total} steps (rejected included) of the coarser grid: about "
                  f"{r['setup_s'] + total * r['per_step_s']:.0f} s (extrapolated)")


if __name__ == "__main__":
    main()
