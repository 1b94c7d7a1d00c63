"""Benchmarks of the grid PDE solver (wgf.grids). A script, not a test:

    python benchmarks/pde.py            # all three parts, prints tables
    python benchmarks/pde.py --part a   # one part (a, b or c)

(a) 2D Ornstein-Uhlenbeck d_t rho = div(rho u) + beta Lap rho (k = 1, beta = 0.1) on
    [-4, 4]^2 with 128^2 cells to t = 1 from N((1, -0.5), 0.05 I): wall time of a fresh
    process (interpreter start and imports included) and L1 error against the exact
    Gaussian (cell averages), for the linearly implicit solver at several tolerances,
    the SSP-RK3 solver, and a plain NumPy forward-Euler finite-difference baseline
    (central conservative fluxes, dt = 0.2 h^2 / beta) run the same way.
(b) Mean-field potential U(rho) on the 2D E^G grid of the paper problem (128^2 cells,
    256 Gauss-Hermite nodes): cells x nodes pairs per second of one evaluation (Phi at
    the nodes, then U at the cells) for the table and direct paths, and a NumPy
    baseline (scipy.special.expit of the same sums, recomputed per evaluation, and
    with a stored expit table), all in one process; the results are cross-checked.
(c) The 4D full-space paper problem (WI start, full noise) on 32^4 cells: one SSP-RK3
    step with the separable potential, one potential evaluation with the separable and
    with the direct path (1M cells x 256 nodes), each in a fresh process with its peak
    resident memory (resource.getrusage).

(d) Targets of the solver with default arguments (``method="auto"``, each in a fresh process):
    the OU problem of (a) through ``solve_fokker_planck`` defaults (and py-pde's explicit solver
    on the same problem when py-pde is importable); the paper's 2D E^G problem (WI teacher, SI
    start, projected noise) on 256^2 cells to t = 50; the C3 circulant 3D E^G problem (3x3
    sigmoid units, WI teacher, 8^3 quadrature nodes) on 64^3 cells to t = 10; the 4D full-space
    swap problem (data augmentation, WI start, full noise, beta = 1e-2) on 32^4 cells to t = 10.

Each case runs in its own subprocess (``--case NAME``), which prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "examples" / "paper_c2.toml"

OU = dict(n=128, k=1.0, beta=0.1, half_width=4.0, t_end=1.0, m0=(1.0, -0.5), s0=0.05)


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ---------------------------------------------------------------- part (a)
def _ou_exact(grid, np, points=False):
    k, beta, s0, t = OU["k"], OU["beta"], OU["s0"], OU["t_end"]
    mean = np.asarray(OU["m0"]) * np.exp(-k * t)
    var = s0 * np.exp(-2 * k * t) + beta / k * (1 - np.exp(-2 * k * t))

    def density(u):
        d = u - mean
        return np.exp(-0.5 * np.sum(d * d, axis=-1) / var) / (2 * np.pi * var)

    return density(grid.centers) if points else grid.cell_average(density)


def case_ou_wgf(method, tol):
    import numpy as np

    from wgf.grids import Grid, solve_fokker_planck

    t0 = time.perf_counter()
    w = OU["half_width"]
    grid = Grid([(-w, w)] * 2, OU["n"])
    m0, s0, k = np.asarray(OU["m0"]), OU["s0"], OU["k"]

    def start(u):
        d = u - m0
        return np.exp(-0.5 * np.sum(d * d, axis=-1) / s0)

    h = solve_fokker_planck(grid, lambda u: 0.5 * k * np.sum(u * u, axis=-1), OU["beta"], start,
                            [0.0, OU["t_end"]], method=method, tol=tol)
    solve_s = time.perf_counter() - t0
    rho = h.density[-1]
    err = float(np.abs(rho - _ou_exact(grid, np)).sum() * grid.cell_volume)
    return dict(solve_s=solve_s, l1=err, steps=h.stats.steps + h.stats.rejected, min=float(rho.min()),
                mass_drift=float(abs(h.mass()[-1] - h.mass()[0])), peak_mb=_peak_mb())


def case_ou_numpy():
    """Plain NumPy: point values at cell centers, central conservative fluxes, forward Euler."""
    import numpy as np

    t0 = time.perf_counter()
    n, k, beta, w, t_end = OU["n"], OU["k"], OU["beta"], OU["half_width"], OU["t_end"]
    h = 2 * w / n
    x = -w + (np.arange(n) + 0.5) * h
    xx, yy = np.meshgrid(x, x, indexing="ij")
    m0, s0 = OU["m0"], OU["s0"]
    rho = np.exp(-0.5 * ((xx - m0[0]) ** 2 + (yy - m0[1]) ** 2) / s0)
    rho /= rho.sum() * h * h
    xf = (x[:-1] + 0.5 * h)[:, None]  # face coordinates (interior faces only: no flux at the walls)
    yf = (x[:-1] + 0.5 * h)[None, :]
    steps = int(np.ceil(t_end / (0.2 * h * h / beta)))
    dt = t_end / steps
    c = dt / h
    for _ in range(steps):
        # F = -(beta grad rho + rho grad V), V = k |u|^2 / 2, on the faces
        fx = -(beta * (rho[1:, :] - rho[:-1, :]) / h + k * xf * 0.5 * (rho[1:, :] + rho[:-1, :]))
        fy = -(beta * (rho[:, 1:] - rho[:, :-1]) / h + k * yf * 0.5 * (rho[:, 1:] + rho[:, :-1]))
        new = rho.copy()
        new[:-1, :] -= c * fx
        new[1:, :] += c * fx
        new[:, :-1] -= c * fy
        new[:, 1:] += c * fy
        rho = new
    solve_s = time.perf_counter() - t0
    from wgf.grids import Grid  # only to build the exact cell averages the same way

    grid = Grid([(-w, w)] * 2, n)
    err = float(np.abs(rho - _ou_exact(grid, np)).sum() * grid.cell_volume)
    exact_points = _ou_exact(grid, np, points=True)
    err_points = float(np.abs(rho - exact_points).sum() * grid.cell_volume)
    return dict(solve_s=solve_s, l1=err, l1_points=err_points, steps=steps, min=float(rho.min()),
                mass_drift=float(abs(rho.sum() * h * h - 1.0)), peak_mb=_peak_mb())


# ---------------------------------------------------------------- part (b)
def _paper():
    from wgf.config import load_config

    return load_config(PAPER).problem


def _wi_teacher(problem):
    from wgf import GaussianTeacherData, make_teacher

    teacher = make_teacher("wi", problem.data.teacher, problem.symmetry)
    data = GaussianTeacherData(problem.symmetry.unit, teacher, problem.data.x_std, problem.data.label_noise, "wi")
    return problem.replace(data=data)


def _best(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def case_potential_2d(scheme, cells=128, repeat=10):
    import numpy as np
    from scipy.special import expit

    from wgf.grids import MeanFieldPotential, make_grid

    base = _paper()
    problem = _wi_teacher(base) if scheme == "vanilla" else base.replace(scheme=scheme)
    problem = problem.replace(init="si", noise="projected")
    grid = make_grid(problem, "fixed", cells=cells)
    rng = np.random.default_rng(0)
    rho = rng.uniform(0.1, 1.0, size=grid.shape)
    rho /= rho.sum() * grid.cell_volume
    q = problem.quadrature
    pairs = grid.size * len(q.weights)
    out = dict(scheme=scheme, cells=grid.size, nodes=len(q.weights))

    # wgf paths; the first call includes numba compilation or cache loading
    res = {}
    for path in ("table", "direct"):
        t0 = time.perf_counter()
        pot = MeanFieldPotential(problem, grid, path=path)
        setup = time.perf_counter() - t0
        t0 = time.perf_counter()
        res[path] = pot(rho)
        first = time.perf_counter() - t0
        ev = _best(lambda: pot(rho), repeat)
        out[path] = dict(setup_s=setup, first_s=first, eval_s=ev, pairs_per_s=pairs / ev)

    # NumPy baseline: the paper unit is s(W x) with W = the 2x2 matrix of z = B u (E^G: P_E z = z,
    # and the FA average equals s(W x) there), so U_c = sum_q w_q <2 (Phi_q - y_q), s(W_c x_q)> + tau |z_c|^2
    z = grid.embed(grid.points)
    wmat = z.reshape(-1, 2, 2)
    x, y, wq = q.x, q.y, q.weights
    vol, tau = grid.cell_volume, problem.tau
    mass = rho.ravel() * vol

    def numpy_expit():
        s = expit(np.einsum("cij,qj->cqi", wmat, x))  # (C, Q, 2)
        phi = np.einsum("c,cqi->qi", mass, s)
        r = 2.0 * (phi - y) * wq[:, None]
        return np.einsum("cqi,qi->c", s, r) + tau * np.einsum("cd,cd->c", z, z)

    t0 = time.perf_counter()
    table = expit(np.einsum("cij,qj->cqi", wmat, x))
    table_setup = time.perf_counter() - t0

    def numpy_table():
        phi = np.einsum("c,cqi->qi", mass, table)
        r = 2.0 * (phi - y) * wq[:, None]
        return np.einsum("cqi,qi->c", table, r) + tau * np.einsum("cd,cd->c", z, z)

    for name, fn, setup in (("numpy_expit", numpy_expit, 0.0), ("numpy_table", numpy_table, table_setup)):
        u = fn().reshape(grid.shape)
        gap = float(np.abs(u - res["table"]).max() / np.abs(res["table"]).max())
        ev = _best(fn, repeat)
        out[name] = dict(setup_s=setup, first_s=float("nan"), eval_s=ev, pairs_per_s=pairs / ev, gap=gap)
    out["direct_vs_table_gap"] = float(np.abs(res["direct"] - res["table"]).max() / np.abs(res["table"]).max())
    out["peak_mb"] = _peak_mb()
    return out


# ---------------------------------------------------------------- part (c)
def _product_start(problem, grid):
    """Cell averages of N(0, s0^2 I_4) as the product of exact 1D cell averages (no 4D quadrature arrays)."""
    import numpy as np
    from scipy.special import ndtr

    s0 = problem.init_std
    rho = np.ones(())
    for k in range(grid.ndim):
        edges = grid.bounds[k, 0] + np.arange(grid.cells[k] + 1) * grid.spacing[k]
        avg = np.diff(ndtr(edges / s0)) / grid.spacing[k]
        rho = np.multiply.outer(rho, avg)
    return rho / (rho.sum() * grid.cell_volume)


def case_full_4d(path, cells=32):
    import numpy as np

    from wgf.grids import MeanFieldPotential, StepStats, fokker_planck_operator, integrate, make_grid

    problem = _paper().replace(init="wi", noise="full")
    grid = make_grid(problem, "full", cells=cells)
    rho0 = _product_start(problem, grid)
    t0 = time.perf_counter()
    pot = MeanFieldPotential(problem, grid, path=path)
    setup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    u0 = pot(rho0)
    first_s = time.perf_counter() - t0
    out = dict(path=path, cells=grid.size, nodes=len(problem.quadrature.weights), setup_s=setup_s,
               first_eval_s=first_s)
    if path == "direct":
        out["eval_s"] = first_s  # one evaluation only (1M cells x 256 nodes, twice)
    else:
        out["eval_s"] = _best(lambda: pot(rho0), 5)
        # one SSP-RK3 step: a horizon below the CFL step, so the stepper takes exactly one step
        diag = np.abs(fokker_planck_operator(u0, grid.spacing, problem.beta).diagonal()).max()
        horizon = 0.5 * 0.9 / diag
        stats = StepStats()
        t0 = time.perf_counter()
        dens = integrate(rho0, [0.0, horizon], pot, grid.spacing, problem.beta, method="explicit", stats=stats)
        out["step_s"] = time.perf_counter() - t0
        out["steps"] = stats.steps
        out["potentials_per_step"] = stats.potentials - 1
        out["mass_drift"] = float(abs(dens[-1].sum() - dens[0].sum()) / dens[0].sum())
    out["pairs_per_s"] = grid.size * out["nodes"] / out["eval_s"]
    out["peak_mb"] = _peak_mb()
    return out


def case_full_4d_init(cells=32):
    """The solver's own initial projection (basix Gauss rule per cell, degree 5) on 32^4 cells."""
    import numpy as np

    from wgf.grids import make_grid
    from wgf.grids.mean_field import initial_law
    from wgf.grids.solver import initial_density

    problem = _paper().replace(init="wi", noise="full")
    grid = make_grid(problem, "full", cells=cells)
    t0 = time.perf_counter()
    rho = initial_density(grid, initial_law(problem, grid))
    init_s = time.perf_counter() - t0
    gap = float(np.abs(rho - _product_start(problem, grid)).sum() * grid.cell_volume)
    return dict(init_s=init_s, l1_vs_exact=gap, peak_mb=_peak_mb())


# ---------------------------------------------------------------- part (d)
def case_ou_default():
    """solve_fokker_planck with its default arguments on the OU problem of (a)."""
    import numpy as np

    from wgf.grids import Grid, solve_fokker_planck

    t0 = time.perf_counter()
    w, m0, s0, k = OU["half_width"], np.asarray(OU["m0"]), OU["s0"], OU["k"]
    grid = Grid([(-w, w)] * 2, OU["n"])
    h = solve_fokker_planck(grid, lambda u: 0.5 * k * np.sum(u * u, axis=-1), OU["beta"],
                            lambda u: np.exp(-0.5 * np.sum((u - m0) ** 2, axis=-1) / s0), [0.0, OU["t_end"]])
    solve_s = time.perf_counter() - t0
    err = float(np.abs(h.density[-1] - _ou_exact(grid, np)).sum() * grid.cell_volume)
    return dict(solve_s=solve_s, l1=err, steps=h.stats.steps, method=h.stats.method, reason=h.stats.reason)


def case_ou_pypde():
    """py-pde's explicit solver on the same OU problem (cell-centred grid, no-flux walls)."""
    import numpy as np

    from wgf.grids import Grid

    here = str(Path(__file__).resolve().parent)  # this script is pde.py too: import py-pde, not itself
    sys.path[:] = [p for p in sys.path if p not in ("", here)]
    sys.modules.pop("pde", None)
    import pde

    t0 = time.perf_counter()
    w, m0, s0, k, beta = OU["half_width"], np.asarray(OU["m0"]), OU["s0"], OU["k"], OU["beta"]
    grid = pde.CartesianGrid([(-w, w)] * 2, OU["n"])
    field = pde.ScalarField.from_expression(grid, f"exp(-((x - {m0[0]})**2 + (y - ({m0[1]}))**2) / (2 * {s0}))")
    field /= field.integral
    eq = pde.PDE({"rho": f"{beta} * laplace(rho) + {k} * (2 * rho + x * d_dx(rho) + y * d_dy(rho))"},
                 bc={"derivative": 0})
    out = eq.solve(field, t_range=OU["t_end"], solver="explicit", tracker=None)
    first_s = time.perf_counter() - t0  # py-pde compiles its operators with numba on the first solve
    t0 = time.perf_counter()
    out = eq.solve(field, t_range=OU["t_end"], solver="explicit", tracker=None)
    solve_s = time.perf_counter() - t0
    ours = Grid([(-w, w)] * 2, OU["n"])
    rho = out.data / (out.data.sum() * ours.cell_volume)
    err = float(np.abs(rho - _ou_exact(ours, np)).sum() * ours.cell_volume)
    return dict(solve_s=solve_s, first_s=first_s, l1=err)


def _solve_default(problem, space, cells, t_end, half_width=2.0):
    from wgf.grids import make_grid, solve

    grid = make_grid(problem, space, cells=cells, half_width=half_width)
    t0 = time.perf_counter()
    h = solve(problem, grid, [0.0, t_end])
    solve_s = time.perf_counter() - t0
    return dict(cells=grid.size, solve_s=solve_s, steps=h.stats.steps, potentials=h.stats.potentials,
                method=h.stats.method, reason=h.stats.reason, mass_drift=float(abs(h.mass()[-1] - 1.0)),
                wi_defect=float(h.trackers["wi_defect"][-1]) if "wi_defect" in h.trackers else float("nan"),
                peak_mb=_peak_mb())


def case_paper_2d():
    problem = _wi_teacher(_paper()).replace(init="si", noise="projected")
    return _solve_default(problem, "fixed", 256, 50.0)


def case_c3_3d():
    from wgf.config import load_config

    problem = load_config(ROOT / "examples" / "discover_c3.toml").problem
    problem = problem.replace(init="si", noise="projected", beta=1e-3)
    return _solve_default(problem, "fixed", 64, 10.0)


def case_full_4d_solve():
    from wgf.config import load_config

    problem = load_config(ROOT / "examples" / "wi_full_space_4d.toml").problem
    return _solve_default(problem, "full", 32, 10.0, half_width=1.5)


# ---------------------------------------------------------------- driver
CASES = {
    "ou-implicit-1e-3": lambda: case_ou_wgf("implicit", 1e-3),
    "ou-implicit-1e-4": lambda: case_ou_wgf("implicit", 1e-4),
    "ou-implicit-1e-5": lambda: case_ou_wgf("implicit", 1e-5),
    "ou-explicit": lambda: case_ou_wgf("explicit", 0.0),
    "ou-numpy-fe": case_ou_numpy,
    "pot2d-vanilla": lambda: case_potential_2d("vanilla"),
    "pot2d-ea": lambda: case_potential_2d("ea"),
    "full4d-separable": lambda: case_full_4d("separable"),
    "full4d-direct": lambda: case_full_4d("direct"),
    "full4d-init": case_full_4d_init,
    "ou-default": case_ou_default,
    "ou-pypde": case_ou_pypde,
    "paper2d-256": case_paper_2d,
    "c3-3d-64": case_c3_3d,
    "full4d-32-solve": case_full_4d_solve,
}
PARTS = {
    "a": ["ou-implicit-1e-3", "ou-implicit-1e-4", "ou-implicit-1e-5", "ou-explicit", "ou-numpy-fe"],
    "b": ["pot2d-vanilla", "pot2d-ea"],
    "c": ["full4d-separable", "full4d-direct", "full4d-init"],
    "d": ["ou-default", "ou-pypde", "paper2d-256", "c3-3d-64", "full4d-32-solve"],
}


def run_case(name):
    """Run one case in a fresh interpreter; returns its JSON result and the process wall time."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--case", name], capture_output=True, text=True,
                          cwd=ROOT, env=dict(os.environ))
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"case {name} failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = wall
    return result


def report_a(results):
    print("(a) 2D Ornstein-Uhlenbeck, 128^2 cells, t = 1, k = 1, beta = 0.1, box [-4, 4]^2, start N((1, -0.5), 0.05 I)")
    print(f"{'method':<22}{'process wall s':>15}{'solve s':>10}{'L1 error':>11}{'steps':>7}{'min rho':>11}{'mass drift':>12}")
    for name in PARTS["a"]:
        r = results[name]
        print(f"{name:<22}{r['process_wall_s']:>15.2f}{r['solve_s']:>10.2f}{r['l1']:>11.3e}{r['steps']:>7d}"
              f"{r['min']:>11.1e}{r['mass_drift']:>12.1e}")
    print("  (steps: accepted + rejected; an implicit step is 3 sparse LU solves; numpy-fe min < 0 = lost positivity)")
    r = results["ou-numpy-fe"]
    print(f"  numpy-fe holds point values: its L1 error against the exact point values is {r['l1_points']:.3e}")


def report_b(results):
    print("\n(b) mean-field potential on the 2D E^G paper grid (one evaluation = Phi at the nodes + U at the cells)")
    print(f"{'scheme':<9}{'path':<13}{'setup s':>9}{'1st call s':>11}{'eval ms':>9}{'pairs/s':>11}{'max rel gap':>13}")
    for name in PARTS["b"]:
        r = results[name]
        for path in ("table", "direct", "numpy_table", "numpy_expit"):
            p = r[path]
            gap = p.get("gap", r["direct_vs_table_gap"] if path == "direct" else 0.0)
            print(f"{r['scheme']:<9}{path:<13}{p['setup_s']:>9.3f}{p['first_s']:>11.3f}{1e3 * p['eval_s']:>9.2f}"
                  f"{p['pairs_per_s']:>11.2e}{gap:>13.1e}")
        print(f"  {r['cells']} cells x {r['nodes']} nodes; peak RSS {r['peak_mb']:.0f} MB")


def report_c(results):
    print("\n(c) 4D full-space paper problem (WI start, full noise), 32^4 cells x 256 nodes")
    print(f"{'path':<11}{'setup s':>9}{'1st eval s':>11}{'eval s':>9}{'pairs/s':>11}{'1 step s':>10}{'peak MB':>9}"
          f"{'process wall s':>15}")
    for name in PARTS["c"][:2]:
        r = results[name]
        step = f"{r['step_s']:>10.3f}" if "step_s" in r else f"{'-':>10}"
        print(f"{r['path']:<11}{r['setup_s']:>9.3f}{r['first_eval_s']:>11.3f}{r['eval_s']:>9.3f}{r['pairs_per_s']:>11.2e}"
              f"{step}{r['peak_mb']:>9.0f}{r['process_wall_s']:>15.2f}")
    sep = results["full4d-separable"]
    print(f"  separable step: {sep['steps']} SSP-RK3 step, {sep['potentials_per_step']} potential evaluations, "
          f"mass drift {sep['mass_drift']:.1e} (start: exact product of 1D cell averages)")
    ini = results["full4d-init"]
    print(f"  the solver's initial projection (initial_density: basix degree-5 rule, 3^4 points per cell): "
          f"{ini['init_s']:.1f} s, peak {ini['peak_mb']:.0f} MB, L1 gap to the exact cell averages {ini['l1_vs_exact']:.1e}")


def report_d(results):
    print("\n(d) default arguments (method='auto'), targets")
    ou = results["ou-default"]
    print(f"  OU 128^2 to t = 1: {ou['solve_s']:.3f} s, L1 {ou['l1']:.2e}, {ou['method']} ({ou['steps']} steps)")
    py = results.get("ou-pypde")
    if py is not None and "solve_s" in py:
        print(f"  py-pde explicit:   {py['solve_s']:.3f} s (second solve; the first, compiling: {py['first_s']:.1f} s), "
              f"L1 {py['l1']:.2e}  ->  wgf is {py['solve_s'] / ou['solve_s']:.0f}x faster (target 50x) at "
              f"{py['l1'] / ou['l1']:.1f}x lower L1 error")
    else:
        print("  py-pde: not importable here")
    for name, target in (("paper2d-256", 60), ("c3-3d-64", 300), ("full4d-32-solve", 300)):
        r = results[name]
        print(f"  {name:<16} {r['cells']:>8} cells  {r['solve_s']:8.1f} s (target {target} s)  {r['method']}, "
              f"{r['steps']} steps, {r['potentials']} potentials, mass drift {r['mass_drift']:.1e}, "
              f"WI defect {r['wi_defect']:.1e}, peak {r['peak_mb']:.0f} MB")
        print(f"      {r['reason']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES))
    parser.add_argument("--part", choices=sorted(PARTS), action="append")
    args = parser.parse_args()
    if args.case:
        print(json.dumps(CASES[args.case]()))
        return
    parts = args.part or sorted(PARTS)
    results = {}
    for part in parts:
        for name in PARTS[part]:
            try:
                results[name] = run_case(name)
            except RuntimeError as e:  # py-pde is optional
                if name != "ou-pypde":
                    raise
                results[name] = {"error": str(e).splitlines()[-1]}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, NUMBA_NUM_THREADS="
          f"{os.environ.get('NUMBA_NUM_THREADS', 'default')}\n")
    for part in parts:
        {"a": report_a, "b": report_b, "c": report_c, "d": report_d}[part](results)


if __name__ == "__main__":
    main()
