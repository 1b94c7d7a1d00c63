"""Quadrature error of feature averaging over SO(2) against a fine reference.

sigma^FA(x, z) = (1/M) sum_k R_k^T sigma_*(R_k x, z) with the M equispaced rotations R_k, for the
2x2 gated unit s(|W x|^2) W x (sigmoid), compared with M = 256 on 200 inputs x ~ N(0, 1.5^2 I) and
100 parameters z ~ N(0, scale^2 I) (off E^G). On E^G the summand does not depend on k and every M is
exact; off E^G the error falls exponentially once M exceeds the angular bandwidth of
theta -> R_theta^T sigma_*(R_theta x, z), which grows with |W x|.

    python benchmarks/haar_quadrature.py [--scale 0.6]
"""

from __future__ import annotations

import argparse

import numpy as np

from wgf.groups import rotation_group
from wgf.schemes import scheme_unit
from wgf.symmetry import Symmetry
from wgf.units import make_unit


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.6, help="std of the parameters z")
    args = parser.parse_args(argv)
    unit = make_unit("gated_matrix", 2, 2, None, "sigmoid")
    rng = np.random.default_rng(0)
    x = rng.normal(scale=1.5, size=(200, 2))
    z = rng.normal(scale=args.scale, size=(100, 4))
    ref = scheme_unit("fa", Symmetry(unit, rotation_group(2, 2, 256), check=False)).value(x, z)
    sym16 = Symmetry(unit, rotation_group(2, 2, 16))
    on = sym16.project(z)
    base_on = unit.value(x, on)
    print(f"FA over SO(2), gated 2x2 sigmoid units, |z| scale {args.scale}; reference M = 256, "
          f"max |sigma^FA| = {np.abs(ref).max():.3g}")
    print(f"{'M':>5} {'max error off E^G':>18} {'relative':>10} {'max error on E^G':>17}")
    for m in (3, 4, 8, 16, 32, 48, 64, 96):
        sym = Symmetry(unit, rotation_group(2, 2, m), check=False)
        fa = scheme_unit("fa", sym)
        err = np.abs(fa.value(x, z) - ref).max()
        err_on = np.abs(fa.value(x, on) - base_on).max()
        print(f"{m:>5} {err:>18.2e} {err / np.abs(ref).max():>10.1e} {err_on:>17.1e}")


if __name__ == "__main__":
    main()
