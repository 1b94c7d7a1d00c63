"""A group acting on a unit's parameters: M_g, E^G, P_E and symmetrization.

For a unit sigma_* and a finite group G acting on X and Y, the intertwining
action M_g on Z must satisfy joint equivariance

    sigma_*(rho_g x, M_g z) = rhohat_g sigma_*(x, z)    for all g, x, z.

E^G = {z : M_g z = z for all g} is the fixed subspace and
P_E = (1/|G|) sum_g M_g the orthogonal projector onto it (M_g orthogonal).
For a measure mu: mu^G = (1/|G|) sum_g M_g#mu, mu^E = P_E#mu.

For a compact group E^G is computed from the infinitesimal action, not from
sampled elements: with dM(A) = d/dt M_{exp(tA)} at t = 0 for each Lie algebra
generator A, and one element c per connected component,

    E^G = ker dM(A_1) n ... n ker dM(A_L) n ker(M_c - I) ...

dM(A) = log(M_{exp(tA)}) / t exactly, for t small enough that t times the
largest weight of the action stays below pi (t = 0.05 here). The orbit and
mu^G use the group's Haar quadrature (docs/groups.md), which must fix E^G
exactly: (1/M) sum_k M_{g_k} = P_E, else the schemes would average over a
smaller group than G (``InexactQuadratureError``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from wgf.groups import FiniteGroup
from wgf.units import Unit

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import ArrayLike

__all__ = ["Symmetry", "NotEquivariantError", "InexactQuadratureError"]


class NotEquivariantError(ValueError):
    """The unit is not jointly equivariant under the group."""


class InexactQuadratureError(ValueError):
    """A compact group's Haar quadrature does not average what the schemes need exactly enough (its
    ``haar_points``): it does not fix E^G, or its error off E^G is too large (``wgf.problem``)."""


class Symmetry:
    """The action of ``group`` on the parameters of ``unit``.

    Construction verifies joint equivariance numerically on random (x, z)
    (a fixed seed, so the verdict is reproducible) and raises
    ``NotEquivariantError`` otherwise.

    Attributes
    ----------
    matrices : (|G|, D, D)  M_g
    projector : (D, D)      P_E
    basis : (D, m)          orthonormal basis of E^G (m = dim E^G)
    """

    def __init__(self, unit: Unit, group: FiniteGroup, *, check: bool = True) -> None:
        if (group.dim_x, group.dim_y) != (unit.dim_x, unit.dim_y):
            raise ValueError(
                f"group '{group.name}' acts on R^{group.dim_x} x R^{group.dim_y} but unit "
                f"'{unit.name}' maps R^{unit.dim_x} to R^{unit.dim_y}"
            )
        self.unit, self.group = unit, group
        self.matrices = np.empty((group.order, unit.dim, unit.dim))  # filled in place: no list of |G| copies
        for g, (rx, ry) in enumerate(zip(group.rho_x, group.rho_y)):
            self.matrices[g] = unit.action(rx, ry)
        if group.continuous:
            self.projector = self._infinitesimal_projector()
            self._check_quadrature()
        else:
            self.projector = self.matrices.mean(axis=0)
        evals, evecs = np.linalg.eigh(0.5 * (self.projector + self.projector.T))
        self.basis = np.ascontiguousarray(evecs[:, evals > 0.5])
        # make the basis deterministic: sign so that the largest entry of each column is positive
        signs = np.sign(self.basis[np.abs(self.basis).argmax(axis=0), np.arange(self.basis.shape[1])])
        self.basis *= np.where(signs == 0, 1.0, signs)
        if check:
            self.check_equivariance()

    def __repr__(self) -> str:
        """One line: the unit (its name and description), the group (name, order or Haar points) and dim E^G of
        dim Z."""
        unit, group = self.unit, self.group
        description = str(getattr(unit, "description", "") or "")
        what = f" ({description if len(description) <= 80 else description[:77] + '...'})" if description else ""
        order = f"compact, {group.order} Haar points" if group.continuous else f"|G| = {group.order}"
        return (f"Symmetry(unit {unit.name!r}{what}, group {group.name!r} ({order}), dim E^G = {self.dim_fixed}, "
                f"dim Z = {unit.dim})")

    def generator_actions(self, t: float = 0.05) -> np.ndarray:
        """dM(A_l) (L, D, D): the Lie algebra generators of a compact group acting on Z (module docstring)."""
        from scipy.linalg import expm, logm

        out = []
        for ax, ay in zip(self.group.lie_x, self.group.lie_y):
            m = self.unit.action(expm(t * ax), expm(t * ay))
            out.append(np.real(logm(m)) / t)
        return np.stack(out)

    def _infinitesimal_projector(self) -> np.ndarray:
        """P_E onto the common kernel of the generator actions and of M_c - I for the components."""
        dim = self.unit.dim
        rows = list(self.generator_actions())
        rows += [self.unit.action(cx, cy) - np.eye(dim)
                 for cx, cy in zip(self.group.components_x[1:], self.group.components_y[1:])]
        stacked = np.concatenate(rows) if rows else np.zeros((1, dim))
        _, sv, vt = np.linalg.svd(stacked)
        sv = np.concatenate([sv, np.zeros(dim - sv.size)])
        null = vt[sv <= 1e-8 * max(1.0, sv.max(initial=0.0))]
        return null.T @ null

    def quadrature_defect(self) -> float:
        """max |(1/M) sum_k M_{g_k} - P_E| over the Haar quadrature g_1..g_M: 0 iff the quadrature fixes
        exactly E^G (then DA orbit and FA keep E^G, and FA is exact on it)."""
        return float(np.abs(self.matrices.mean(axis=0) - self.projector).max())

    def _check_quadrature(self, tol: float = 1e-10) -> None:
        """Refuse a Haar quadrature that does not fix E^G exactly, naming the smallest one that does."""
        from wgf.groups import GROUPS, MAX_HAAR_POINTS, SO3_RULES

        defect = self.quadrature_defect()
        if defect <= tol:
            return
        group, hint = self.group, ""
        if group.name in GROUPS and GROUPS[group.name].compact:
            rules = SO3_RULES if GROUPS[group.name].haar_kind == "so3" else range(1, MAX_HAAR_POINTS + 1)
            for m in (m for m in rules if m > group.order):
                try:
                    other = GROUPS[group.name](group.dim_x, group.dim_y, m)
                except ValueError:
                    continue
                mats = np.stack([self.unit.action(a, b) for a, b in zip(other.rho_x, other.rho_y)])
                if np.abs(mats.mean(axis=0) - self.projector).max() <= tol:
                    hint = f"; use haar_points >= {m}"
                    break
        raise InexactQuadratureError(
            f"the {group.order}-point Haar quadrature of '{group.name}' does not fix E^G of unit '{self.unit.name}' "
            f"exactly (max |mean_k M_k - P_E| = {defect:.2g}): the schemes would average over a smaller group{hint}")

    @property
    def dim_fixed(self) -> int:
        """m = dim E^G."""
        return self.basis.shape[1]

    def equivariance_defect(self, n_samples: int = 64, seed: int = 0) -> float:
        """max_g,x,z |sigma_*(rho_g x, M_g z) - rhohat_g sigma_*(x, z)| on random samples."""
        rng = np.random.default_rng(seed)
        x = rng.normal(scale=2.0, size=(n_samples, self.unit.dim_x))
        z = rng.normal(size=(n_samples, self.unit.dim))
        base = self.unit.value(x, z)  # (B, N, dy)
        worst = 0.0
        elements = list(zip(self.matrices, self.group.rho_x, self.group.rho_y))
        if self.group.continuous:  # also random Haar elements, off the quadrature
            hx, hy = self.group.sample(rng, 8)
            elements += [(self.unit.action(a, b), a, b) for a, b in zip(hx, hy)]
        for m, rx, ry in elements:
            moved = self.unit.value(x @ rx.T, z @ m.T)
            worst = max(worst, float(np.abs(moved - base @ ry.T).max()))
        return worst

    def check_equivariance(self, tol: float = 1e-10) -> None:
        defect = self.equivariance_defect()
        if not defect <= tol:
            raise NotEquivariantError(
                f"unit '{self.unit.name}' is not equivariant under group '{self.group.name}': "
                f"max |sigma(rho_g x, M_g z) - rhohat_g sigma(x, z)| = {defect:.3g}"
            )

    # ------------------------------------------------------------ measures
    def project(self, z: ArrayLike) -> np.ndarray:
        """P_E z for particles z (N, D): the support of mu^E."""
        return np.asarray(z) @ self.projector.T

    def orbit(self, z: ArrayLike) -> np.ndarray:
        """M_g z for all g: (|G|, N, D)."""
        return np.einsum("gab,nb->gna", self.matrices, np.asarray(z, dtype=float))

    def symmetrize(self, z: ArrayLike) -> np.ndarray:
        """Support of mu^G: all images M_g z_i, (|G| N, D), each with weight 1/(|G| N)."""
        return self.orbit(z).reshape(-1, self.unit.dim)

    def to_fixed(self, z: ArrayLike) -> np.ndarray:
        """Coordinates u = B^T z in E^G, (N, m)."""
        return np.asarray(z) @ self.basis

    def from_fixed(self, u: ArrayLike) -> np.ndarray:
        """Points z = B u of E^G, (N, D)."""
        return np.asarray(u) @ self.basis.T

    def symmetrize_function(self, f: Callable[[np.ndarray], np.ndarray]) -> Callable[[ArrayLike], np.ndarray]:
        """Q_G f: x -> (1/|G|) sum_g rhohat_g^T f(rho_g x), for f mapping (B, dx) -> (B, dy)."""
        rx, ry = self.group.rho_x, self.group.rho_y

        def qf(x):
            x = np.atleast_2d(np.asarray(x, dtype=float))
            return np.mean([f(x @ a.T) @ b for a, b in zip(rx, ry)], axis=0)

        return qf

    def si_defect(self, z: ArrayLike, weights: ArrayLike | None = None) -> float:
        """int |z - P_E z|^2 dnu for a weighted cloud."""
        z = np.asarray(z, dtype=float)
        r = z - self.project(z)
        sq = np.einsum("na,na->n", r, r)
        return float(sq.mean() if weights is None else np.dot(weights, sq))
