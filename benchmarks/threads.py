"""Threads of the particle SGD: 1 against 2 numba threads, on a quiet machine and under a competing load.

Prints, in one run (docs/kernels.md, "Threads" and "Roofline"):

1. the break-even of the second thread: particle-steps/s of the paper setup with 1 thread and with 2
   threads forced on (``PARALLEL_WORK = 0``, ``LOAD_AWARE = False``) for a range of N, quiet and with a competing CPU-bound
   process that this script starts itself (``while True: pass`` in another Python), and the work per
   step N x rows x D where 2 threads start to pay in both cases;
2. the linear problem (examples/linear_gaussian.toml) at N = 1000, 200 steps, and the paper setup at
   N = 1e3 and 1e5 with the engine's own choice (``PARALLEL_WORK``, ``busy_cpus``): time with 1 and 2 threads, quiet
   and loaded, and the ratio t(2) / t(1) (the bar: <= 1 everywhere);
3. the paper setup against PyTorch (the loop of benchmarks/particles.py, torch's default threads) at
   N = 1e3 and 1e5, in the same run, the two timed alternately (when torch is importable).

    python benchmarks/threads.py [--seconds 0.4] [--repeats 3] [--skip-sweep]

Each timing is the best of ``--repeats`` runs of a step count calibrated to about ``--seconds``.
Run it alone on the machine (timings on a shared machine are meaningless); the load average is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np

from wgf.config import load_config
from wgf.particles import kernels, simulate

ROOT = Path(__file__).resolve().parents[1]
ALPHA, BATCH, SEED = 50.0, 20, 0


def _benchmark_particles():
    spec = importlib.util.spec_from_file_location("benchmark_particles", ROOT / "benchmarks" / "particles.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def competing_load(on: bool):
    """A CPU-bound process on the machine while the block runs (nothing when ``on`` is false)."""
    if not on:
        yield
        return
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.3)
    try:
        yield
    finally:
        hog.kill()
        hog.wait()


@contextlib.contextmanager
def threads(n: int, min_work: int | None = None):
    """numba threads = n (and PARALLEL_WORK = min_work when given) inside the block."""
    saved = numba.get_num_threads(), kernels.PARALLEL_WORK, kernels.LOAD_AWARE
    numba.set_num_threads(n)
    if min_work is not None:  # forced: the second thread at any work and load
        kernels.PARALLEL_WORK, kernels.LOAD_AWARE = min_work, False
    try:
        yield
    finally:
        numba.set_num_threads(saved[0])
        kernels.PARALLEL_WORK, kernels.LOAD_AWARE = saved[1:]


def run_time(problem, n, steps, *, step=None):
    """Seconds of ``steps`` SGD steps of ``problem`` on n particles (eps = ALPHA / n unless ``step``)."""
    eps = ALPHA / n if step is None else step
    t0 = time.perf_counter()
    simulate(problem, n, SEED, times=[0.0, steps * eps], step=step, alpha=None if step else ALPHA, batch=BATCH,
             store=False)
    return time.perf_counter() - t0


def calibrated_steps(problem, n, seconds):
    steps = 4
    while True:
        dt = run_time(problem, n, steps)
        if dt >= seconds / 4:
            return max(1, int(steps * seconds / dt))
        steps *= 4


def best(fn, repeats):
    return min(fn() for _ in range(repeats))


def sweep(problem, seconds, repeats):
    """Rates with 1 thread and with 2 threads forced on, quiet and loaded, over N."""
    rows, dim = BATCH, problem.dim
    print("\n1. the second thread forced on (PARALLEL_WORK = 0): paper setup, particle-steps/s")
    print(f"{'N':>7} {'work/step':>10} {'quiet 1':>10} {'quiet 2':>10} {'2/1':>5} {'loaded 1':>10} {'loaded 2':>10} "
          f"{'2/1':>5}")
    for n in (512, 2048, 8192, 32768, 131072):
        steps = calibrated_steps(problem, n, seconds)
        line = f"{n:>7} {n * rows * dim:>10.2e}"
        for load in (False, True):
            with competing_load(load):
                rates = []
                for t in (1, 2):
                    with threads(t, 0):
                        rates.append(n * steps / best(lambda: run_time(problem, n, steps), repeats))
            line += f" {rates[0]:>10.3e} {rates[1]:>10.3e} {rates[1] / rates[0]:>5.2f}"
        print(line, flush=True)


def one_against_two(label, run, repeats):
    """t(1 thread), t(2 threads) quiet and loaded with the engine's own choice of threads."""
    out = []
    for load in (False, True):
        with competing_load(load):
            times = [np.inf, np.inf]
            for _ in range(repeats):  # interleaved, so that a drift of the machine's speed favours neither
                for i, t in enumerate((1, 2)):
                    with threads(t):
                        times[i] = min(times[i], run())
            out.append(times)
    (q1, q2), (l1, l2) = out
    print(f"{label:<34} {q1 * 1e3:>9.2f} {q2 * 1e3:>9.2f} {q2 / q1:>5.2f} {l1 * 1e3:>9.2f} {l2 * 1e3:>9.2f} "
          f"{l2 / l1:>5.2f}", flush=True)
    return q1, q2


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.4, help="target duration of one timing")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-sweep", action="store_true", help="skip part 1")
    args = parser.parse_args(argv)

    bp = _benchmark_particles()
    paper = bp.paper_problem()
    linear = load_config(ROOT / "examples" / "linear_gaussian.toml").problem
    # warm up: compile (or load from the disk cache) both problems' step loops
    run_time(paper, 10, 2)
    run_time(linear, 10, 2, step=1e-3)
    load = os.getloadavg()[0]
    print(f"numba {numba.__version__}, threading layer {numba.threading_layer()}, NUMBA_NUM_THREADS = "
          f"{numba.config.NUMBA_NUM_THREADS}, cpus = {os.cpu_count()}, load average = {load:.2f}, "
          f"PARALLEL_WORK = {kernels.PARALLEL_WORK}, busy cpus now = {kernels.busy_cpus()}")
    if not args.skip_sweep:
        sweep(paper, args.seconds, args.repeats)

    print("\n2. the engine's choice of threads: time [ms], 1 and 2 threads, quiet and with a competing process")
    print(f"{'run':<34} {'quiet 1':>9} {'quiet 2':>9} {'2/1':>5} {'loaded 1':>9} {'loaded 2':>9} {'2/1':>5}")
    one_against_two("linear N = 1000, 200 steps", lambda: run_time(linear, 1000, 200, step=1e-3), args.repeats)
    rates = {}
    for n in (1000, 100000):
        steps = calibrated_steps(paper, n, args.seconds)
        q1, q2 = one_against_two(f"paper N = {n:g}, {steps} steps", lambda: run_time(paper, n, steps), args.repeats)
        rates[n] = (steps, n * steps / min(q1, q2))

    try:
        import torch
    except ImportError:
        print("\n3. torch is not importable: no comparison")
        return
    print(f"\n3. paper setup against PyTorch {torch.__version__} ({torch.get_num_threads()} threads), particle-steps/s, "
          "same steps, quiet")
    print(f"{'N':>7} {'steps':>7} {'wgf':>10} {'torch':>10} {'wgf/torch':>10}")
    bp.torch_loop(paper, 10, 2)
    for n, (steps, _) in rates.items():
        t_steps = max(1, steps // 4)  # torch is several times slower: a quarter of the steps
        ours = theirs = np.inf
        for _ in range(args.repeats):  # interleaved, so that a drift of the machine's speed favours neither
            ours = min(ours, run_time(paper, n, steps))
            theirs = min(theirs, bp.time_torch(paper, n, t_steps))
        rate = n * steps / ours
        print(f"{n:>7} {steps:>7} {rate:>10.3e} {n * t_steps / theirs:>10.3e} {rate * theirs / (n * t_steps):>10.2f}",
              flush=True)


if __name__ == "__main__":
    main()
