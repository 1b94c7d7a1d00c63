"""Time of ``wi_rmd2`` = RMD^2(nu, nu^G) by the certified sparse exact solver against dense ``ot.emd2``.

Problems (Z = R^4): the demo's swap group on 2x2 sigmoid matrix units (|G| = 2) and SO(2) on 2x2 gated
units with its 16-point Haar quadrature (|G| = 16). Clouds of N particles, z ~ N(0, 0.25^2 I) (the
demo's init_std):

- ``si``: the demo's initial particles P_E z (on E^G: nu^G = nu up to round-off);
- ``near``: P_E z + 0.01 w, w ~ N(0, I) (nearly invariant, a trained-looking cloud);
- ``wi``: z itself (the start without invariance: nu and M_g#nu independent-looking samples, the hardest).

For each (group, cloud, N) it prints the sparse solver's time, rounds, candidate pairs and certified gap
(cost - dual lower bound), the time ``wi_rmd2_cost`` predicts, and, where the N x |G| N cost matrix fits
``--dense-max`` pairs, dense ``ot.emd2`` (what ``wi_rmd2`` did before) timed in the same run with the
ratio of the times and the relative difference of the values (on E^G, where both are ~0, the difference
over m2(nu) + m2(nu^G), marked s). Peak memory of the process at the end.

    python benchmarks/wi_rmd2.py [--sizes 1000 10000 100000] [--groups swap rotation] [--clouds si near wi]
                                 [--dense-max 25000000]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

import wgf
from wgf.groups import rotation_group, swap_group
from wgf.validation import w2, wi_rmd2_cost, wi_transport

INIT_STD = 0.25
NEAR = 0.01


def symmetry(name):
    if name == "swap":
        return wgf.Symmetry(wgf.make_unit("sigmoid_matrix", 2, 2), swap_group(2, 2))
    return wgf.Symmetry(wgf.make_unit("gated_matrix", 2, 2), rotation_group(2, 2, 16))


def cloud(sym, kind, n, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=INIT_STD, size=(n, sym.unit.dim))
    if kind == "wi":
        return z
    z = sym.project(z)
    return z + NEAR * rng.normal(size=z.shape) if kind == "near" else z


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--groups", nargs="+", default=["swap", "rotation"], choices=["swap", "rotation"])
    parser.add_argument("--clouds", nargs="+", default=["si", "near", "wi"], choices=["si", "near", "wi"])
    parser.add_argument("--dense-max", type=int, default=25_000_000)
    args = parser.parse_args(argv)
    print(f"{'group':>8} {'|G|':>3} {'cloud':>5} {'N':>7} {'sparse s':>9} {'predicted':>9} {'rounds':>6} "
          f"{'pairs':>9} {'W2^2':>11} {'gap':>9} {'dense s':>8} {'ratio':>7} {'rel diff':>9}")
    for name in args.groups:
        sym = symmetry(name)
        order = sym.group.order
        wi_transport(sym, cloud(sym, "wi", 200))  # imports and first calls outside the timings
        for kind in args.clouds:
            for n in args.sizes:
                z = cloud(sym, kind, n)
                t0 = time.perf_counter()
                result = wi_transport(sym, z)
                sparse = time.perf_counter() - t0
                row = (f"{name:>8} {order:>3} {kind:>5} {n:>7} {sparse:>9.3f} {wi_rmd2_cost(n, order).seconds:>9.2f} "
                       f"{result.rounds:>6} {result.pairs:>9} {result.cost:>11.4e} {result.cost - result.lower:>9.1e}")
                if n * n * order <= args.dense_max:
                    t0 = time.perf_counter()
                    dense = w2(z, sym.symmetrize(z), max_pairs=args.dense_max) ** 2
                    elapsed = time.perf_counter() - t0
                    scale = 2.0 * np.mean(np.sum(z * z, axis=1))  # m2(nu) + m2(nu^G)
                    # relative difference; on E^G (dense of round-off, sparse 0) the difference / scale
                    rel = (f"{abs(result.cost - dense) / dense:>9.1e}" if dense > 1e-14 * scale else
                           f"{abs(result.cost - dense) / scale:>8.0e}s")
                    row += f" {elapsed:>8.3f} {elapsed / sparse:>7.1f} {rel}"
                else:
                    row += f" {'-':>8} {'-':>7} {'-':>9}"
                print(row, flush=True)
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
