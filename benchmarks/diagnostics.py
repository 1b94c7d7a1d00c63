"""Wall time of a fluctuation-sized study with the default diagnostics, against its SGD alone.

The linear problem of docs/theory.md §11 with the trivial group (D = 2, alpha = 5, batch 10, t_end = 1: 20 SGD steps
at N = 100, 200 at N = 1000), ``--seeds`` seeds (default 300) at N = 100 and 1000, default [particles] settings
otherwise (the diagnostics trace within its budget, docs/outputs.md "The diagnostics budget"). Timed:

- the whole ``wgf run`` of it in a fresh process (start-up, kernels from numba's cache, the results file with its
  checksums and syncs);
- in this process, the SGD alone of every run (``wgf.particles.simulate`` without diagnostics), and the same runs
  with their diagnostics (``wgf.runner.particle_job``): the diagnostics' share of the SGD time per N, split into the
  trace's and the snapshots' (a run whose trace is its first and last records, shared with the snapshots), each
  beside the cost model's estimate (``wgf.diagnostics.trace_share``).

The bar: the whole run in <= 60 s on 2 cores. The kernels are compiled (or loaded) before timing.

    python benchmarks/diagnostics.py [--seeds 300] [--share-seeds 50]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

CONFIG = """title = "linear unit, trivial group: fluctuation-sized study"
[model]
unit = "linear"
dim_x = 2
dim_y = 1
[group]
name = "trivial"
[data]
x_std = 1.0
teacher = "arbitrary"
teacher_particles = [[0.8, -0.3]]
label_noise = 0.3
quadrature_points = 4
[training]
tau = 0.1
beta = 0.25
init = "wi"
init_std = 1.0
t_end = 1.0
snapshots = 3
[particles]
n = [100, 1000]
seeds = {seeds}
alpha = 5.0
batch = 10
"""


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=300)
    parser.add_argument("--share-seeds", type=int, default=50, help="seeds per N timed for the diagnostics' share")
    args = parser.parse_args(argv)

    import wgf
    from wgf.diagnostics import trace_share
    from wgf.particles import simulate
    from wgf.runner import particle_job

    print(f"load average {os.getloadavg()[0]:.2f}")
    text = CONFIG.format(seeds=args.seeds)
    exp = wgf.parse_config(text)
    problem, settings = exp.problem, exp.particles
    for n in settings.n:  # kernels compiled or loaded before timing
        particle_job(problem, settings, n, 0)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "study.toml"
        cfg.write_text(text)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "wgf", "run", str(cfg), "-o", str(Path(tmp) / "study.h5"), "--quiet"],
                       check=True, stdout=subprocess.DEVNULL)
        whole = time.perf_counter() - t0
    sgd = {}
    for n in settings.n:
        t0 = time.perf_counter()
        for seed in range(args.seeds):
            simulate(problem, n, seed, problem.times, alpha=settings.alpha, batch=settings.batch, store=False)
        sgd[n] = time.perf_counter() - t0
    total_sgd = sum(sgd.values())
    print(f"wgf run, {args.seeds} seeds x N = {list(settings.n)}: {whole:.1f} s whole (bar: <= 60 s); SGD alone "
          f"{total_sgd:.2f} s; ratio whole / SGD {whole / total_sgd:.1f}")
    # the snapshots alone: a trace of its first and last records only, which the snapshots at t = 0 and t_end share
    snapshots_only = replace(settings, record_every=10 ** 9)
    for n in settings.n:
        k = min(args.share_seeds, args.seeds)
        best = {"sgd": float("inf"), "job": float("inf"), "snapshots": float("inf")}
        runs = {"sgd": lambda seed: simulate(problem, n, seed, problem.times, alpha=settings.alpha,
                                             batch=settings.batch, store=False),
                "job": lambda seed: particle_job(problem, settings, n, seed),
                "snapshots": lambda seed: particle_job(problem, snapshots_only, n, seed)}
        for _ in range(3):
            for key, run in runs.items():
                t0 = time.perf_counter()
                for seed in range(k):
                    run(seed)
                best[key] = min(best[key], time.perf_counter() - t0)
        sgd, job, snap = best["sgd"], best["job"], best["snapshots"]
        print(f"  N = {n}: SGD {1e3 * sgd / k:.2f} ms per run, with the diagnostics {1e3 * job / k:.2f} ms: "
              f"diagnostics share {(job - sgd) / sgd:.0%} of the SGD time (the trace {(job - snap) / sgd:.0%}, "
              f"the snapshots' exact diagnostics {(snap - sgd) / sgd:.0%}; estimated "
              f"{trace_share(problem, settings, n, snapshots=False):.0%} and "
              f"{trace_share(problem, settings, n) - trace_share(problem, settings, n, snapshots=False):.0%})")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
