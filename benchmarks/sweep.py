"""Wall time of a particle sweep: 1 local worker, K local worker processes, K dask workers.

The sweep is examples/paper_c2.toml (sigmoid_matrix 2x2, swap group, arbitrary
teacher, t_end = 1000, alpha = 50: 20 N steps per run, exact-OT RMD^2 at 11
snapshots) restricted to ``--n`` and ``--seeds``. It runs through
``run_experiment`` three times, into three files that must be identical bit for
bit: in this process (the baseline), with ``workers=K`` (local processes) and on a
``distributed.LocalCluster`` of K single-threaded worker processes on loopback
(``dask=`` its scheduler address; the cluster is started once, its start-up is
timed separately and not counted). The three are run in turn ``--repeats`` times
and each keeps its best wall time; speed-ups are against the 1-worker run measured
in the same call. Every local worker process, and every dask worker on its first
job, loads the cached numba kernels: that start-up is part of the K-worker times.
The kernels are compiled (or loaded) before timing.

    python benchmarks/sweep.py [--n 100 300] [--seeds 4] [--workers 2] [--repeats 3]
    python benchmarks/sweep.py --study quick [--workers 2] [--repeats 1]

``--study quick`` times ``wgf paper-study --quick`` instead (216 runs: 24 schemes x
teachers x starts, N in {10, 100, 1000}, 3 seeds), the same three ways.

The machine's load average is printed: on a shared machine K workers get fewer
than K free cores and the speed-up drops accordingly.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from wgf.config import parse_config
from wgf.runner import particle_job, run_experiment

ROOT = Path(__file__).resolve().parents[1]


def sweep_config(ns, seeds) -> str:
    """The text of examples/paper_c2.toml with [particles] n and seeds replaced."""
    text = (ROOT / "examples" / "paper_c2.toml").read_text()
    text = re.sub(r"(?m)^n = \[.*\]$", f"n = {list(ns)}", text)
    return re.sub(r"(?m)^seeds = \d+$", f"seeds = {seeds}", text)


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def same_file(a, b) -> bool:
    da, db = datasets(a), datasets(b)
    return sorted(da) == sorted(db) and all(np.array_equal(da[k], db[k]) for k in da)


def timed(work, path, **kwargs) -> float:
    t0 = time.perf_counter()
    work(path, **kwargs)
    return time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, nargs="+", default=[100, 300], help="particle counts N")
    p.add_argument("--seeds", type=int, default=4, help="seeds per N")
    p.add_argument("--workers", type=int, default=2, help="K: local processes and dask workers")
    p.add_argument("--repeats", type=int, default=None, help="rounds of the three timings; the best is kept "
                   "(default 3, 1 with --study)")
    p.add_argument("--study", choices=["quick"], help="time the quick paper study instead of the sweep")
    args = p.parse_args()
    k = args.workers
    text = sweep_config(args.n, args.seeds)
    exp = parse_config(text)
    particle_job(exp.problem, exp.particles, min(args.n), 0)  # compile or load the kernels
    if args.study:
        from wgf.study import StudyPlan, run_paper_study

        plan = StudyPlan.quick()
        repeats = args.repeats or 1

        def work(path, **kwargs):
            run_paper_study(plan, path, progress=False, **kwargs)

        print(f"the quick paper study ({len(plan.combinations()) * len(plan.n) * plan.seeds} runs); "
              f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    else:
        repeats = args.repeats or 3

        def work(path, **kwargs):
            run_experiment(exp, path, quiet=True, **kwargs)

        print(f"sweep: examples/paper_c2.toml with N = {args.n}, {args.seeds} seeds "
              f"({len(args.n) * args.seeds} runs); load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")

    from distributed import LocalCluster

    names = ["1 worker (this process)", f"{k} local processes (--workers {k})",
             f"{k} dask workers (--dask, LocalCluster)"]
    walls = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        with LocalCluster(n_workers=k, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None) as cluster:
            start = time.perf_counter() - t0
            for r in range(repeats):
                walls[names[0]].append(timed(work, tmp / f"serial{r}.h5"))
                walls[names[1]].append(timed(work, tmp / f"local{r}.h5", workers=k))
                walls[names[2]].append(timed(work, tmp / f"dask{r}.h5", dask=cluster.scheduler_address))
        files = sorted(tmp.glob("*.h5"))
        identical = all(same_file(files[0], f) for f in files[1:])

    base = min(walls[names[0]])
    print(f"\n{'executor':<40} {'best [s]':>9} {'speed-up':>9}   all [s]")
    for name in names:
        best = min(walls[name])
        print(f"{name:<40} {best:9.2f} {base / best:8.2f}x   " + " ".join(f"{w:.2f}" for w in walls[name]))
    print(f"\ndask cluster start-up (not counted): {start:.2f} s; "
          f"load average after: {os.getloadavg()[0]:.2f}")
    print(f"the {len(files)} files are {'identical' if identical else 'DIFFERENT'} bit for bit")


if __name__ == "__main__":
    main()
