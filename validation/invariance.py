"""Invariance diagnostics of particle clouds (SPEC section 6).

For particles nu = (1/N) sum_i delta_{z_i} and a group acting on Z by M_g:

- WI defect  RMD^2(nu, nu^G),  nu^G = (1/|G|) sum_g M_g#nu   (0 iff nu is weakly invariant)
- SI defect  RMD^2(nu, P_E#nu)                              (0 iff nu lives on E^G)
"""

from __future__ import annotations

import numpy as np

from .distances import rmd2

__all__ = ["wi_rmd2", "si_rmd2"]


def wi_rmd2(symmetry, z, **kwargs) -> float:
    """RMD^2(nu, nu^G) for particles z (N, D)."""
    z = np.atleast_2d(np.asarray(z, dtype=float))
    return rmd2(z, symmetry.symmetrize(z), **kwargs)


def si_rmd2(symmetry, z, **kwargs) -> float:
    """RMD^2(nu, P_E#nu) for particles z (N, D)."""
    z = np.atleast_2d(np.asarray(z, dtype=float))
    return rmd2(z, symmetry.project(z), **kwargs)
