"""Symmetry-leveraging schemes as transforms of (unit, data) (SPEC section 3).

Every scheme is vanilla training of a transformed problem:

=========  ==========================================================  ===================
scheme     unit                                                        data
=========  ==========================================================  ===================
vanilla    sigma_*                                                     pi
da         sigma_*                                                     pi^G (orbit of pi)
fa         sigma^FA(x, z) = (1/|G|) sum_g rhohat_g^T sigma_*(rho_g x, z)  pi
ea         sigma^EA(x, z) = sigma_*(x, P_E z)                          pi
=========  ==========================================================  ===================

``scheme_unit`` and ``scheme_quadrature`` are the only places where a scheme is
turned into mathematics; the PDE solver and the particle engine both consume
their output.
"""

from __future__ import annotations

import numpy as np

from . import unit_kernels as uk
from .data import Quadrature
from .groups import FiniteGroup
from .symmetry import Symmetry
from .units import Unit

__all__ = ["SCHEMES", "DA_MODES", "SchemeUnit", "scheme_unit", "scheme_quadrature"]

SCHEMES = ("vanilla", "da", "fa", "ea")
DA_MODES = ("orbit", "sample")


class SchemeUnit(Unit):
    """sigma(x, z) = (1/K) sum_k Rout_k sigma_*(Rin_k x, P z).

    maps_in (K, dx, dx), maps_out (K, dy, dy); ``projector`` (D, D) symmetric or None.
    """

    def __init__(self, base: Unit, name: str, maps_in=None, maps_out=None, projector=None):
        self.base = base
        self.name = f"{base.name}[{name}]"
        self.kind, self.dim_x, self.dim_y, self.dim = base.kind, base.dim_x, base.dim_y, base.dim
        self.maps_in = np.zeros((0, self.dim_x, self.dim_x)) if maps_in is None else np.ascontiguousarray(maps_in)
        self.maps_out = np.zeros((0, self.dim_y, self.dim_y)) if maps_out is None else np.ascontiguousarray(maps_out)
        self.projector = None if projector is None else np.ascontiguousarray(projector)

    def kernel_args(self):
        proj = np.zeros((0, 0)) if self.projector is None else self.projector
        return (uk.variant_of(self.maps_in, proj), self.kind, self.maps_in, self.maps_out, proj)

    @property
    def blocks(self):
        """Feature maps keep the base unit's additive blocks; a projector mixes them (None)."""
        return None if self.projector is not None else getattr(self.base, "blocks", None)

    def _params(self, z):
        return z if self.projector is None else z @ self.projector.T

    def value(self, x, z):
        x, z = self._check(x, z)
        zz = self._params(z)
        if self.maps_in.shape[0] == 0:
            return self.base.value(x, zz)
        return np.mean(
            [self.base.value(x @ a.T, zz) @ b.T for a, b in zip(self.maps_in, self.maps_out)], axis=0
        )

    def vjp(self, x, z, c):
        x, z = self._check(x, z)
        zz = self._params(z)
        if self.maps_in.shape[0] == 0:
            g = self.base.vjp(x, zz, c)
        else:
            k = self.maps_in.shape[0]
            g = sum(self.base.vjp(x @ a.T, zz, np.asarray(c) @ b / k) for a, b in zip(self.maps_in, self.maps_out))
        return g if self.projector is None else g @ self.projector


def scheme_unit(scheme: str, symmetry: Symmetry) -> Unit:
    """The unit trained by ``scheme`` (SPEC 3): sigma_* for vanilla and da, sigma^FA, sigma^EA."""
    base, group = symmetry.unit, symmetry.group
    if scheme in ("vanilla", "da"):
        return base
    if scheme == "fa":
        # rhohat_g^T sigma_*(rho_g x, z): Rin = rho_g, Rout = rhohat_g^T
        return SchemeUnit(base, "fa", group.rho_x, np.transpose(group.rho_y, (0, 2, 1)))
    if scheme == "ea":
        return SchemeUnit(base, "ea", projector=symmetry.projector)
    raise ValueError(f"unknown scheme '{scheme}' (choose from {', '.join(SCHEMES)})")


def scheme_quadrature(scheme: str, quadrature: Quadrature, group: FiniteGroup) -> Quadrature:
    """The quadrature of the data used by ``scheme``: orbit-augmented for da, unchanged otherwise."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown scheme '{scheme}' (choose from {', '.join(SCHEMES)})")
    return quadrature.augment(group) if scheme == "da" else quadrature
