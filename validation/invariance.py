"""Invariance diagnostics of particle clouds (docs/theory.md §6).

For particles nu = (1/N) sum_i delta_{z_i} and a group acting on Z by M_g:

- WI defect  RMD^2(nu, nu^G),  nu^G = (1/|G|) sum_g M_g#nu   (0 iff nu is weakly invariant)
- SI defect  RMD^2(nu, P_E#nu)                              (0 iff nu lives on E^G)

For the SI defect no transport problem is solved: writing z = (u, v) with
u = P_E z and v in the orthogonal complement, any coupling of nu with P_E#nu
costs E|u - u'|^2 + E|v|^2 >= E|v|^2, and z -> P_E z attains it, so

    W2^2(nu, P_E#nu) = int |z - P_E z|^2 dnu.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from wgf.validation.distances import rmd2, second_moment

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from wgf.symmetry import Symmetry

__all__ = ["wi_rmd2", "si_rmd2"]


def wi_rmd2(symmetry: Symmetry, z: ArrayLike, **kwargs) -> float:
    """RMD^2(nu, nu^G) for particles z (N, D) (exact OT between N and |G| N points)."""
    z = np.atleast_2d(np.asarray(z, dtype=float))
    return rmd2(z, symmetry.symmetrize(z), **kwargs)


def si_rmd2(symmetry: Symmetry, z: ArrayLike, weights: ArrayLike | None = None) -> float:
    """RMD^2(nu, P_E#nu) = int |z - P_E z|^2 dnu / (2 (m2(nu) + m2(P_E#nu))) for particles z (N, D)."""
    z = np.atleast_2d(np.asarray(z, dtype=float))
    pz = symmetry.project(z)
    denom = 2.0 * (second_moment(z, weights) + second_moment(pz, weights))
    if denom == 0.0:
        return 0.0
    return float(symmetry.si_defect(z, weights) / denom)
