"""The general fluctuation prediction against particles on the demo's problem. A measured study, not a test:

    python benchmarks/fluctuations_demo.py                         # about 10 minutes of particles, 64^2 and 128^2
    python benchmarks/fluctuations_demo.py --budget 120 --cells 64 # a quick look

The demo's problem (wgf.demo.DEMO_CONFIG: swap-symmetric 2x2 sigmoid units, WI teacher, SI start, projected noise,
vanilla, tau = 1e-4, beta = 1e-3, alpha = 50, B = 20, t_end = 10) at N = 1e3 and 1e4. Under vanilla one sample's
drift leaves E^G, so the grid prediction (``wgf.grids.fluctuation_variance`` on E^G) holds for functions of P_E z
only (docs/theory.md §11, "Scope"): the test functions are the E^G coordinates u = B^T z of the particles' mean,
<u_k, nu^N>, and their second moments <u_k^2, nu^N> (B the grid's basis, D x 2).

Particles: ``wgf.validation.seed_values`` (numba on one thread, no diagnostics), seeds 0, 1, ... in chunks until
the time budget of each N is spent (a fifth of ``--budget`` for N = 1e3, the rest for 1e4). Prediction: on E^G
grids of ``--cells`` cells per axis (the demo's 256^2 by default is not among them: its backward solve keeps one
sparse LU per step), 200 implicit Euler steps, with the step error (``estimate_error``: the value on every other
step minus the value) and Richardson in the step; the difference between the two finest grids is the stated grid
error. Printed: per N, test function and snapshot, the measured N Var with its 95% chi-square interval, the
prediction per grid (extrapolated in the step), the interval score of the finest (``interval_score``: <= 1 inside
the interval) and the prediction without its mini-batch term (a control).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _problem(cells: int = 256):
    from wgf.config import parse_config
    from wgf.demo import DEMO_CONFIG

    exp = parse_config(DEMO_CONFIG.replace("cells = 256", f"cells = {cells}"))
    return exp, exp.pde.make_grid(exp.problem)


def _test_function(basis):
    """f(theta (N, D)) -> (4,): <u_0>, <u_1>, <u_0^2>, <u_1^2> with u = B^T z; and the same on the cells z (C, D)."""
    def particles(theta):
        u = theta @ basis
        return np.concatenate([u.mean(axis=0), (u * u).mean(axis=0)])

    def cells(z):
        u = z @ basis
        return np.column_stack([u, u * u])

    return particles, cells


NAMES = ["<u0>", "<u1>", "<u0^2>", "<u1^2>"]


def measure(problem, basis, n, budget, alpha, batch, chunk):
    """(values (S, T, 4), seconds) over seeds 0, 1, ... in chunks of ``chunk`` until ``budget`` seconds are spent."""
    from wgf.validation import seed_values

    f, _ = _test_function(basis)
    start, rows, seed = time.perf_counter(), [], 0
    while time.perf_counter() - start < budget:
        rows.append(seed_values(problem, n, range(seed, seed + chunk), f, alpha=alpha, batch=batch))
        seed += chunk
    return np.concatenate(rows), time.perf_counter() - start


def predict(exp, cells, alpha, batch, basis):
    """fluctuation_variance of the cell test function on the E^G grid of ``cells`` cells per axis: (prediction,
    seconds)."""
    from wgf.grids import fluctuation_variance

    exp_c, grid = _problem(cells)
    if not np.allclose(grid.basis, basis):
        raise RuntimeError("the grids' bases differ")
    _, f = _test_function(basis)
    start = time.perf_counter()
    pred = fluctuation_variance(exp_c.problem, grid, f, exp_c.problem.times[1:], alpha=alpha, batch=batch,
                                estimate_error=True)
    return pred, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=600.0, help="seconds of particle runs in all (default 600)")
    parser.add_argument("--cells", type=int, nargs="+", default=[64, 128], help="cells per axis of the E^G grids")
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 10000], help="particle counts")
    parser.add_argument("--chunk", type=int, default=10, help="seeds per chunk")
    parser.add_argument("--save", default=None, help="an .npz file for the measured values and predictions")
    args = parser.parse_args(argv)
    from wgf.validation.fluctuations import fluctuation_statistics, interval_score

    exp, grid = _problem()
    problem, basis = exp.problem, grid.basis
    alpha, batch = exp.particles.alpha, exp.particles.batch
    times = problem.times
    print(f"demo problem: D = {problem.dim}, E^G of dimension {basis.shape[1]}, alpha = {alpha:g}, B = {batch}, "
          f"beta = {problem.beta:g}, t = {', '.join(f'{t:g}' for t in times)}")
    preds = {}
    for cells in args.cells:
        preds[cells], seconds = predict(exp, cells, alpha, batch, basis)
        print(f"prediction on {cells}^2 cells of E^G: {seconds:.1f} s")
    shares = {n: (0.2 if k == 0 and len(args.n) > 1 else 0.8 / max(1, len(args.n) - 1)) for k, n in
              enumerate(args.n)}
    measured = {}
    for n in args.n:
        values, seconds = measure(problem, basis, n, args.budget * shares[n], alpha, batch, args.chunk)
        measured[n] = values
        print(f"N = {n}: {values.shape[0]} seeds in {seconds:.0f} s")
    fine = preds[max(args.cells)]
    coarse = preds[min(args.cells)] if len(args.cells) > 1 else None
    print("\nN Var_seeds <f, nu^N_t> [95% chi-square] against the predicted limit (t > 0; extrapolated in the step)")
    head = "%7s %7s %5s %24s" % ("N", "f", "t", "measured [95%]")
    head += "".join("%10s" % f"{c}^2" for c in args.cells) + "%9s %10s" % ("score", "no batch")
    print(head)
    for n, values in measured.items():
        st = fluctuation_statistics(values[:, 1:], n)
        score = interval_score(st, fine.extrapolated)
        for k, name in enumerate(NAMES):
            for j, t in enumerate(times[1:]):
                row = "%7d %7s %5g %9.4g [%6.4g, %6.4g]" % (n, name, t, st.n_var[j, k], st.n_var_low[j, k],
                                                          st.n_var_high[j, k])
                row += "".join("%10.4g" % preds[c].extrapolated[j, k] for c in args.cells)
                row += "%9.2f %10.4g" % (score[j, k], (fine.initial + fine.brownian)[j, k])
                print(row)
    print("\nthe prediction at t_end on the finest grid: initial %s, Brownian %s, mini-batch %s; step error %s" % tuple(
        ", ".join("%.3g" % v for v in a[-1]) for a in (fine.initial, fine.brownian, fine.minibatch, fine.time_error)))
    if coarse is not None:
        gap = np.abs(coarse.extrapolated - fine.extrapolated) / np.abs(fine.extrapolated)
        print(f"grid error ({min(args.cells)}^2 against {max(args.cells)}^2, relative, max over t and f): "
              f"{gap.max():.3g}")
    inside = {n: float(np.mean(interval_score(fluctuation_statistics(v[:, 1:], n), fine.extrapolated) <= 1))
              for n, v in measured.items()}
    print("fraction of (t, f) inside the 95% interval: " + ", ".join(f"N = {n}: {v:.2f}" for n, v in inside.items()))
    if args.save:
        np.savez(args.save, times=times, **{f"values_{n}": v for n, v in measured.items()},
                 **{f"prediction_{c}": p.extrapolated for c, p in preds.items()},
                 **{f"total_{c}": p.total for c, p in preds.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
