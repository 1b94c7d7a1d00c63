"""Throughput of ``mmd``, ``energy`` and ``sliced_w2`` (numba) vs direct NumPy computations.

Setup: N particles in R^2 (default 1e5, iid N((0.3, 0), I)) against a 128^2 weighted grid
cloud on [-4, 4]^2 (16384 points, weights prop. to exp(-|z|^2 / 2)), the comparison of
docs/theory.md §6 (particles vs the PDE density).

- mmd / energy: the fast paths (``method="binned"`` / ``"sliced"``, what ``"auto"`` uses at this
  size) against the exact numba double sums, (N^2 + M^2 + N M) pair evaluations, and a NumPy
  version of the exact sums.  The NumPy baseline
  evaluates the same sums in row blocks (block x M <= 1e7 entries: broadcast squared
  distances, np.exp / np.sqrt, weighted sums).  If the baseline would take more than
  ``--numpy-budget`` seconds (default 20) it is timed on the first rows of each term and
  extrapolated linearly in the row count (said in the table); the numba and NumPy sums over
  those rows are compared.
- sliced_w2: L = 256 directions, exact 1D quantile merge.  The NumPy baseline projects,
  argsorts, and merges the cumulative weights with union1d + searchsorted per direction.

Compilation is warmed up on small inputs before timing.

    python benchmarks/distances.py [--n 100000] [--grid 128] [--directions 256] [--numpy-budget 20] [--threads T]
"""

from __future__ import annotations

import argparse
import os
import time

import numba
import numpy as np

from wgf.validation import energy, mmd, sliced_directions, sliced_w2
from wgf.validation.metrics import _double_sum

BLOCK_ENTRIES = 10_000_000
BANDWIDTH = 1.0


def clouds(n, cells, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)) + np.array([0.3, 0.0])
    g = np.linspace(-4.0, 4.0, cells)
    y = np.stack(np.meshgrid(g, g, indexing="ij"), -1).reshape(-1, 2)
    b = np.exp(-0.5 * np.sum(y**2, 1))
    return x, np.full(n, 1.0 / n), y, b / b.sum()


def numpy_double_sum(x, a, y, b, kind, scale=0.0):
    """sum_ij a_i b_j k(x_i, y_j) in row blocks of at most BLOCK_ENTRIES pairs."""
    rows = max(1, BLOCK_ENTRIES // y.shape[0])
    total = 0.0
    for i0 in range(0, x.shape[0], rows):
        xb = x[i0 : i0 + rows]
        d2 = np.zeros((xb.shape[0], y.shape[0]))
        for d in range(x.shape[1]):
            d2 += (xb[:, d, None] - y[None, :, d]) ** 2
        k = np.exp(-scale * d2) if kind == 0 else np.sqrt(d2)
        total += a[i0 : i0 + rows] @ (k @ b)
    return total


def numpy_term(x, a, y, b, kind, scale, budget):
    """(value or None, seconds, extrapolated?, check) for one double sum; check = relative difference
    numba vs NumPy on the rows actually computed."""
    rows = max(1, BLOCK_ENTRIES // y.shape[0])
    probe = min(x.shape[0], rows)
    t0 = time.perf_counter()
    numpy_double_sum(x[:probe], a[:probe], y, b, kind, scale)
    t_probe = time.perf_counter() - t0
    estimate = t_probe * x.shape[0] / probe
    if estimate <= budget:
        t0 = time.perf_counter()
        value = numpy_double_sum(x, a, y, b, kind, scale)
        seconds = time.perf_counter() - t0
        ref = _double_sum(x, a, y, b, kind, scale)
        return value, seconds, False, abs(ref - value) / abs(value)
    # time enough rows for ~budget / 10 seconds, extrapolate linearly in rows
    sub = min(x.shape[0], max(probe, int(probe * (budget / 10) / max(t_probe, 1e-9))))
    t0 = time.perf_counter()
    value = numpy_double_sum(x[:sub], a[:sub], y, b, kind, scale)
    seconds = (time.perf_counter() - t0) * x.shape[0] / sub
    ref = _double_sum(x[:sub], a[:sub], y, b, kind, scale)
    return None, seconds, True, abs(ref - value) / abs(value)


def numpy_distance(x, a, y, b, kind, budget):
    scale = 1.0 / (2 * BANDWIDTH**2)
    parts = [numpy_term(x, a, x, a, kind, scale, budget), numpy_term(y, b, y, b, kind, scale, budget),
             numpy_term(x, a, y, b, kind, scale, budget)]
    seconds = sum(p[1] for p in parts)
    extrapolated = any(p[2] for p in parts)
    check = max(p[3] for p in parts)
    if extrapolated:
        return None, seconds, True, check
    xx, yy, xy = (p[0] for p in parts)
    sq = xx + yy - 2 * xy if kind == 0 else 2 * xy - xx - yy
    return float(np.sqrt(max(sq, 0.0))), seconds, False, check


def numpy_sliced_w2(x, a, y, b, n_directions, seed=0):
    theta = sliced_directions(n_directions, x.shape[1], seed)
    total = 0.0
    for t in theta:
        p, q = x @ t, y @ t
        ip, iq = np.argsort(p, kind="stable"), np.argsort(q, kind="stable")
        p, wa, q, wb = p[ip], a[ip], q[iq], b[iq]
        ca, cb = np.cumsum(wa), np.cumsum(wb)
        ca[-1] = cb[-1] = 1.0
        tt = np.union1d(ca, cb)
        dt = np.diff(np.concatenate([[0.0], tt]))
        mid = tt - dt / 2
        fp = p[np.minimum(np.searchsorted(ca, mid), len(p) - 1)]
        fq = q[np.minimum(np.searchsorted(cb, mid), len(q) - 1)]
        total += np.sum(dt * (fp - fq) ** 2)
    return float(np.sqrt(total / n_directions))


def timed(f, *args, **kwargs):
    t0 = time.perf_counter()
    value = f(*args, **kwargs)
    return value, time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--grid", type=int, default=128)
    parser.add_argument("--directions", type=int, default=256)
    parser.add_argument("--numpy-budget", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        numba.set_num_threads(args.threads)

    x, a, y, b = clouds(args.n, args.grid)
    n, m = x.shape[0], y.shape[0]
    print(f"N = {n} particles vs M = {m} grid points in R^2; numba threads {numba.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    # warm up compilation
    mmd(x[:10], y[:10], bandwidth=BANDWIDTH, y_weights=b[:10])
    energy(x[:10], y[:10])
    mmd(x[:10], y[:10], bandwidth=BANDWIDTH, method="binned")
    energy(x[:10], y[:10], method="sliced")
    sliced_w2(x[:10], y[:10], n_directions=4)

    rows = []
    for name, fast, exact, kind in (
        ("mmd (h=1)", dict(method="binned"), dict(method="exact"), 0),
        ("energy", dict(method="sliced"), dict(method="exact"), 1),
    ):
        f = mmd if kind == 0 else energy
        extra_args = dict(bandwidth=BANDWIDTH) if kind == 0 else {}
        d_fast, t_fast = timed(f, x, y, y_weights=b, **extra_args, **fast)
        d_exact, t_exact = timed(f, x, y, y_weights=b, **extra_args, **exact)
        ref, tn, extra, check = numpy_distance(x, a, y, b, kind, args.numpy_budget)
        rows.append((name, d_fast, t_fast, d_exact, t_exact, tn, extra))
    d, t = timed(sliced_w2, x, y, n_directions=args.directions, y_weights=b)
    ref, tn = timed(numpy_sliced_w2, x, a, y, b, args.directions)
    rows.append((f"sliced_w2 (L={args.directions})", d, t, ref, None, tn, False))

    print(f"{'metric':<20} {'fast path':>10} {'s':>7} {'exact numba s':>14} {'numpy s':>9} "
          f"{'fast/numpy':>11} {'fast/exact':>11} {'|fast-exact|/exact':>19}")
    for name, d, t, ref, t_exact, tn, extra in rows:
        tn_s = f"{tn:8.1f}{'*' if extra else ' '}"
        te = f"{t_exact:14.2f}" if t_exact is not None else f"{'(numpy below)':>14}"
        ratio_exact = f"{t_exact / t:10.1f}x" if t_exact is not None else f"{'-':>11}"
        print(f"{name:<20} {d:10.6g} {t:7.2f} {te} {tn_s} {tn / t:10.1f}x {ratio_exact} {abs(d - ref) / ref:19.1e}")
    if any(r[6] for r in rows):
        print("* NumPy time extrapolated linearly from a timed subsample of rows of each double sum "
              f"(full run estimated > {args.numpy_budget:g} s).")
    print("fast paths: mmd binned on a lattice of h/16 with separable convolution; energy sliced over 128 "
          "directions; sliced_w2 is compared with its NumPy version (same definition).")


if __name__ == "__main__":
    main()
