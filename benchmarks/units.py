"""Particle SGD throughput for every (unit, scheme), against the NumPy reference step in the same run.

Units: the matrix unit with each activation (identity = linear, sigmoid, tanh, relu,
softplus) and two_layer (h = 3, sigmoid and relu), 2x2 under the swap group with
an arbitrary teacher, WI start, full noise, beta = 1e-4, alpha = 50, B = 20.
Schemes: vanilla, da (orbit and sample), fa, ea. For each N the numba rate is the
best of 3 timings of ``simulate`` (compilation warmed up); the NumPy rate is
``reference_run`` for the same problem at N = 1000 (its cost per particle-step
does not fall with N). Rates are particle-steps per second.

    python benchmarks/units.py [--n 1000 100000] [--units matrix:sigmoid two_layer:relu ...]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from wgf.config import parse_config
from wgf.particles import reference_run, simulate

UNITS = ["matrix:identity", "matrix:sigmoid", "matrix:tanh", "matrix:relu", "matrix:softplus",
         "two_layer:sigmoid", "two_layer:relu"]
SCHEMES = [("vanilla", None), ("da", "orbit"), ("da", "sample"), ("fa", None), ("ea", None)]


def problem(unit: str, scheme: str, mode):
    family, act = unit.split(":")
    if family == "two_layer":
        dim = 3 * (2 + 2 + 1)
        tp = [[float(v) for v in np.round(np.random.default_rng(0).normal(size=dim) * 0.5, 3)]]
        model = f'unit = "two_layer"\nhidden = 3\nactivation = "{act}"'
    else:
        tp = [[-0.5, 0.0, 0.0, 0.25], [0.25, 0.5, 0.0, 0.5]]
        model = f'unit = "matrix"\nactivation = "{act}"'
    da = f'da_mode = "{mode}"' if mode else ""
    return parse_config(f"""
[model]
{model}
dim_x = 2
dim_y = 2
[group]
name = "swap"
[data]
x_std = 4.0
teacher = "arbitrary"
teacher_particles = {tp}
[training]
scheme = "{scheme}"
{da}
beta = 1e-4
init = "wi"
noise = "full"
t_end = 10.0
""").problem


def rate_numba(p, n, steps):
    eps = 50.0 / n
    simulate(p, n, 0, times=[0.0, 2 * eps], alpha=50.0, batch=20, store=False)
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        simulate(p, n, 0, times=[0.0, steps * eps], alpha=50.0, batch=20, store=False)
        best = min(best, time.perf_counter() - t0)
    return n * steps / best


def rate_numpy(p, n=1000, steps=20):
    theta = p.initial_particles(n, np.random.default_rng(0))
    reference_run(p, theta, 1, 50.0 / n, 20)  # warm up the compiled unit sums it uses
    t0 = time.perf_counter()
    reference_run(p, theta, steps, 50.0 / n, 20)
    return n * steps / (time.perf_counter() - t0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 100000])
    parser.add_argument("--units", nargs="+", default=UNITS)
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.2f}; particle-steps per second; ratio = numba / NumPy reference")
    head = f"{'unit':18} {'scheme':11}" + "".join(f" {'N=' + str(n):>11} {'ratio':>7}" for n in args.n)
    print(head)
    print("-" * len(head))
    for unit in args.units:
        for scheme, mode in SCHEMES:
            p = problem(unit, scheme, mode)
            base = rate_numpy(p)
            cells = []
            for n in args.n:
                work = 3e6 if unit.startswith("matrix") else 1e6
                r = rate_numba(p, n, max(2, int(work / n)))
                cells.append(f" {r:>11.3e} {r / base:>7.1f}")
            label = scheme + (f"-{mode}" if mode else "")
            print(f"{unit:18} {label:11}" + "".join(cells), flush=True)


if __name__ == "__main__":
    main()
