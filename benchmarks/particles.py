"""Throughput of the particle SGD: numba ``simulate`` vs the NumPy ``reference_run`` (and PyTorch).

Paper setup (examples/paper_c2.toml: sigmoid_matrix 2x2, swap group, arbitrary
teacher), vanilla scheme, SI start, projected noise, alpha = 50 (eps = 50 / N),
B = 20. For each N the number of steps is calibrated so that one numba timing
takes about ``--seconds`` (default 1.5 s); NumPy runs the same number of steps
unless that would take more than ~2 ``--seconds``, in which case it runs fewer (both
counts are printed; the rates are per particle-step, so they compare directly).
Compilation is warmed up before timing; each timing is the best of ``--repeats``.

    python benchmarks/particles.py [--n 10 1000 100000] [--seconds 1.5] [--repeats 3] [--threads T]

When torch is importable, a PyTorch CPU implementation of the same loop (the same
minibatch law, unit, loss and Langevin update, vectorized over particles and batch,
gradients by hand as a PyTorch user would write them with no autograd overhead) is
timed too, with torch's default threads.

The machine's load average is printed: timings on a loaded machine are meaningless.
1 against 2 threads, quiet and under a competing process: benchmarks/threads.py.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numba
import numpy as np

from wgf.config import load_config
from wgf.particles import reference_run, simulate

ROOT = Path(__file__).resolve().parents[1]
ALPHA, BATCH, SEED = 50.0, 20, 0


def paper_problem():
    problem = load_config(ROOT / "examples" / "paper_c2.toml").problem
    return problem.replace(scheme="vanilla", init="si", noise="projected")


def time_numba(problem, n, steps):
    eps = ALPHA / n
    t0 = time.perf_counter()
    simulate(problem, n, SEED, times=[0.0, steps * eps], alpha=ALPHA, batch=BATCH, store=False)
    return time.perf_counter() - t0


def time_numpy(problem, theta, steps):
    eps = ALPHA / theta.shape[0]
    t0 = time.perf_counter()
    reference_run(problem, theta, steps, eps, BATCH, seed=SEED)
    return time.perf_counter() - t0


def torch_loop(problem, n, steps):
    """The vanilla paper-setup loop in PyTorch (CPU): steps of noisy SGD on N sigmoid matrix units."""
    import torch

    torch.manual_seed(SEED)
    dy, dx = problem.base_unit.dim_y, problem.base_unit.dim_x
    teacher = torch.tensor(problem.data.teacher.reshape(-1, dy, dx))
    proj = problem.noise_projector
    proj = None if proj is None else torch.tensor(proj)
    theta = torch.tensor(problem.initial_particles(n, np.random.default_rng(SEED))).reshape(n, dy, dx)
    eps, tau, beta = ALPHA / n, problem.tau, problem.beta
    scale = (2 * beta * eps) ** 0.5
    x_std = problem.data.x_std
    for _ in range(steps):
        x = torch.randn(BATCH, dx, dtype=torch.float64) * x_std
        y = torch.sigmoid(torch.einsum("mij,bj->bmi", teacher, x)).mean(1)
        a = torch.sigmoid(torch.einsum("nij,bj->bni", theta, x))  # (B, N, dy)
        c = 2.0 * (a.mean(1) - y) / BATCH  # (B, dy)
        d = a * (1 - a) * c[:, None, :]
        grad = torch.einsum("bni,bj->nij", d, x) + 2 * tau * theta
        xi = torch.randn(n, dy * dx, dtype=torch.float64)
        if proj is not None:
            xi = xi @ proj.T
        theta = theta - eps * grad + scale * xi.reshape(n, dy, dx)
    return theta


def time_torch(problem, n, steps):
    t0 = time.perf_counter()
    torch_loop(problem, n, steps)
    return time.perf_counter() - t0


def calibrate(run, target, start=1):
    """Smallest power-of-two-ish step count whose run takes >= target / 8, scaled up to ~target seconds."""
    steps = start
    while True:
        dt = run(steps)
        if dt >= target / 8 or steps >= 1 << 30:
            return max(1, int(round(steps * target / max(dt, 1e-9))))
        steps *= 4 if dt < target / 64 else 2


def best(run, steps, repeats):
    return min(run(steps) for _ in range(repeats))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10, 1000, 100000])
    parser.add_argument("--seconds", type=float, default=1.5, help="target duration of one timing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="numba threads (default: numba's default)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        numba.set_num_threads(args.threads)

    problem = paper_problem()
    # warm up: compile (or load from the disk cache) the serial and the parallel specializations
    simulate(problem, 10, SEED, times=[0.0, 10 * ALPHA / 10], alpha=ALPHA, batch=BATCH, store=False)
    reference_run(problem, problem.initial_particles(10, np.random.default_rng(SEED)), 2, ALPHA / 10, BATCH)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"particle SGD throughput, paper setup (vanilla, SI start, projected noise, alpha={ALPHA:g}, B={BATCH})")
    print(f"numba {numba.__version__}, threads = {numba.get_num_threads()} (NUMBA_NUM_THREADS = "
          f"{numba.config.NUMBA_NUM_THREADS}), cpus = {os.cpu_count()}, load average = {load:.2f}")
    print(f"best of {args.repeats}; rates in particle-steps per second")
    try:
        import torch

        torch_loop(problem, 10, 2)
    except ImportError:
        torch = None
    header = f"{'N':>8} {'steps numba':>12} {'numba [/s]':>12} {'steps numpy':>12} {'numpy [/s]':>12} {'numba/numpy':>12}"
    if torch is not None:
        header += f" {'torch [/s]':>12} {'numba/torch':>12}"
    print(header)
    print("-" * len(header))
    for n in args.n:
        theta = problem.initial_particles(n, np.random.default_rng(SEED))
        run_nb = lambda s: time_numba(problem, n, s)  # noqa: E731
        run_np = lambda s: time_numpy(problem, theta, s)  # noqa: E731
        run_nb(2)  # first call at this N (parallel path for large N)
        steps_nb = calibrate(run_nb, args.seconds)
        t_nb = best(run_nb, steps_nb, args.repeats)
        steps_np = min(steps_nb, calibrate(run_np, 2 * args.seconds))
        t_np = best(run_np, steps_np, args.repeats)
        rate_nb, rate_np = n * steps_nb / t_nb, n * steps_np / t_np
        line = f"{n:>8} {steps_nb:>12} {rate_nb:>12.3e} {steps_np:>12} {rate_np:>12.3e} {rate_nb / rate_np:>12.1f}"
        if torch is not None:
            run_t = lambda s: time_torch(problem, n, s)  # noqa: E731
            steps_t = min(steps_nb, calibrate(run_t, 2 * args.seconds))
            rate_t = n * steps_t / best(run_t, steps_t, args.repeats)
            line += f" {rate_t:>12.3e} {rate_nb / rate_t:>12.1f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
