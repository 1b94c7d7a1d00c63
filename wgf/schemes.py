r"""Symmetry-leveraging schemes as transforms of (unit, data) (docs/theory.md §3).

Every scheme is vanilla training of a transformed problem:

=======  ======================================================================================  ====================================
scheme   unit                                                                                    data
=======  ======================================================================================  ====================================
vanilla  :math:`\sigma_*`                                                                        :math:`\pi`
da       :math:`\sigma_*`                                                                        :math:`\pi^G` (orbit of :math:`\pi`)
fa       :math:`\sigma^{FA}(x, z) = \frac{1}{|G|} \sum_g \hat\rho_g^\top \sigma_*(\rho_g x, z)`  :math:`\pi`
ea       :math:`\sigma^{EA}(x, z) = \sigma_*(x, P_E z)`                                          :math:`\pi`
=======  ======================================================================================  ====================================

``scheme_unit`` and ``scheme_quadrature`` are the only places where a scheme is
turned into mathematics; the PDE solver and the particle engine both consume
their output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from wgf.data import Quadrature
from wgf.groups import FiniteGroup
from wgf.jit import KERNEL_OPTIONS, jit
from wgf.registry import Registry
from wgf.symmetry import Symmetry
from wgf.units import Unit

if TYPE_CHECKING:
    from numpy.typing import ArrayLike
    from wgf.losses import Loss

__all__ = ["SCHEMES", "DA_MODES", "SchemeUnit", "scheme_unit", "scheme_quadrature", "fa_quadrature_error",
           "da_quadrature_error",
           "expand_rows", "combine_rows", "pullback_rows"]

SCHEMES = Registry("scheme", "symmetry-leveraging schemes; factory (symmetry) -> the SchemeUnit it trains")
DA_MODES = Registry("DA mode", "how data augmentation averages over G")
# quadrature: the mode averages over the group's Haar quadrature (an approximation of a compact group off E^G)
DA_MODES.add("orbit", doc="every SGD sample is replaced by its whole orbit (rho_g x, rhohat_g y), g in G", code=1,
             quadrature=True)
DA_MODES.add("sample", doc="every SGD sample is moved by one g drawn from the Haar measure of G", code=2,
             quadrature=False)


# ------------------------------------------------------------------ the transform, written once
# A scheme unit sigma(x, z) = (1/K) sum_k Rout_k sigma_*(Rin_k x, P z) acts on a batch of B inputs
# through R = max(K, 1) B "rows" r = k B + b. K = 0 means no maps (Rin = Rout = I, R = B).


@jit(**KERNEL_OPTIONS)
def expand_rows(rin, x, xe):
    """xe[k B + b] = Rin_k x_b: x (B, dx), rin (K, dx, dx), xe (R, dx)."""
    n_batch, dx = x.shape
    for r in range(xe.shape[0]):
        k, b = r // n_batch, r % n_batch
        for a in range(dx):
            if rin.shape[0] == 0:
                xe[r, a] = x[b, a]
            else:
                s = 0.0
                for j in range(dx):
                    s += rin[k, a, j] * x[b, j]
                xe[r, a] = s


@jit(**KERNEL_OPTIONS)
def combine_rows(rout, s, out):
    """out[b, a, e] = (1/K) sum_k sum_j Rout_k[a, j] s[k B + b, j, e]: s (R, dy, E), out (B, dy, E)."""
    n_batch, dy, n_e = out.shape
    n_maps = rout.shape[0]
    for b in range(n_batch):
        for a in range(dy):
            for e in range(n_e):
                if n_maps == 0:
                    out[b, a, e] = s[b, a, e]
                else:
                    v = 0.0
                    for k in range(n_maps):
                        for j in range(dy):
                            v += rout[k, a, j] * s[k * n_batch + b, j, e]
                    out[b, a, e] = v / n_maps


@jit(**KERNEL_OPTIONS)
def pullback_rows(rout, c, ce):
    """ce[k B + b, a] = (1/K) sum_i Rout_k[i, a] c[b, i]: the adjoint of ``combine_rows``; c (B, dy), ce (R, dy)."""
    n_batch, dy = c.shape
    n_maps = rout.shape[0]
    for r in range(ce.shape[0]):
        k, b = r // n_batch, r % n_batch
        for a in range(dy):
            if n_maps == 0:
                ce[r, a] = c[b, a]
            else:
                v = 0.0
                for i in range(dy):
                    v += rout[k, i, a] * c[b, i]
                ce[r, a] = v / n_maps


@jit(cache=True)
def _expand(rin, x, xe):
    expand_rows(rin, x, xe)


@jit(cache=True)
def _combine(rout, s, out):
    combine_rows(rout, s, out)


@jit(cache=True)
def _pullback(rout, c, ce):
    pullback_rows(rout, c, ce)


class SchemeUnit:
    r"""The unit a scheme trains, :math:`\sigma(x, z) = \frac1K \sum_k R^{\mathrm{out}}_k
    \sigma_*(R^{\mathrm{in}}_k x, P z)`, at NumPy level.

    ``base`` is :math:`\sigma_*`; maps_in (K, dx, dx), maps_out (K, dy, dy) (K = 0: none);
    ``projector`` (D, D) symmetric or None. The batch transforms ``expand_rows``,
    ``combine_rows`` and ``pullback_rows`` are the compiled functions the particle
    engine runs too.
    """

    def __init__(self, base: Unit, name: str = "", maps_in: ArrayLike | None = None, maps_out: ArrayLike | None = None,
                 projector: ArrayLike | None = None) -> None:
        self.base = base
        self.name = f"{base.name}[{name}]" if name else base.name
        self.dim_x, self.dim_y, self.dim = base.dim_x, base.dim_y, base.dim
        self.maps_in = np.zeros((0, self.dim_x, self.dim_x)) if maps_in is None else np.ascontiguousarray(maps_in,
                                                                                                          dtype=float)
        self.maps_out = np.zeros((0, self.dim_y, self.dim_y)) if maps_out is None else np.ascontiguousarray(
            maps_out, dtype=float)
        self.projector = None if projector is None else np.ascontiguousarray(projector, dtype=float)

    @property
    def n_maps(self) -> int:
        return self.maps_in.shape[0]

    @property
    def blocks(self) -> list[np.ndarray] | None:
        """Feature maps keep the base unit's additive blocks; a projector mixes them (None)."""
        return None if self.projector is not None else self.base.blocks

    def params(self, z: ArrayLike) -> np.ndarray:
        """P z (z itself without a projector), (N, D)."""
        z = np.atleast_2d(np.asarray(z, dtype=float))
        if z.ndim != 2 or z.shape[1] != self.dim:
            raise ValueError(f"{self.name}: z must have shape (N, {self.dim}), got {z.shape}")
        return z if self.projector is None else z @ self.projector.T

    def rows(self, x: ArrayLike) -> np.ndarray:
        """The expanded inputs Rin_k x_b, (R, dx)."""
        x = np.ascontiguousarray(np.atleast_2d(np.asarray(x, dtype=float)))
        if x.ndim != 2 or x.shape[1] != self.dim_x:
            raise ValueError(f"{self.name}: x must have shape (B, {self.dim_x}), got {x.shape}")
        xe = np.empty((max(self.n_maps, 1) * x.shape[0], self.dim_x))
        _expand(self.maps_in, x, xe)
        return xe

    def combine(self, s: np.ndarray, n_batch: int) -> np.ndarray:
        """(R, dy, E) row values -> (B, dy, E) values of the scheme unit."""
        out = np.empty((n_batch, self.dim_y, s.shape[2]))
        _combine(self.maps_out, np.ascontiguousarray(s), out)
        return out

    def pullback(self, c: ArrayLike) -> np.ndarray:
        """Cotangents c (B, dy) of the outputs -> cotangents (R, dy) of the rows."""
        c = np.ascontiguousarray(np.atleast_2d(np.asarray(c, dtype=float)))
        ce = np.empty((max(self.n_maps, 1) * c.shape[0], self.dim_y))
        _pullback(self.maps_out, c, ce)
        return ce

    def value(self, x: ArrayLike, z: ArrayLike) -> np.ndarray:
        r""":math:`\sigma(x_b, z_i)`: x (B, dx), z (N, D) -> (B, N, dy)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        vals = self.base.value(self.rows(x), self.params(z))  # (R, N, dy)
        return self.combine(vals.transpose(0, 2, 1), x.shape[0]).transpose(0, 2, 1)

    def vjp(self, x: ArrayLike, z: ArrayLike, c: ArrayLike) -> np.ndarray:
        r""":math:`\sum_b J_z \sigma(x_b, z_i)^\top c_b`: c (B, dy) or (B, N, dy) -> (N, D)."""
        c = np.asarray(c, dtype=float)
        if c.ndim == 3:  # one cotangent per (sample, particle)
            z = np.atleast_2d(np.asarray(z, dtype=float))
            return np.concatenate([self.vjp(x, z[i : i + 1], c[:, i]) for i in range(z.shape[0])])
        g = self.base.vjp(self.rows(x), self.params(z), self.pullback(c))
        return g if self.projector is None else g @ self.projector

    def output(self, x: ArrayLike, z: ArrayLike, weights: ArrayLike | None = None) -> np.ndarray:
        r""":math:`\Phi(x_b) = \sum_i w_i\, \sigma(x_b, z_i)` (:math:`w = 1/N` by default), (B, dy)."""
        x = np.atleast_2d(np.asarray(x, dtype=float))
        s = self.base.output(self.rows(x), self.params(z), weights)
        return self.combine(s[:, :, None], x.shape[0])[:, :, 0]

    def dual(self, x: ArrayLike, r: ArrayLike, z: ArrayLike) -> np.ndarray:
        r""":math:`\sum_b \langle r_b, \sigma(x_b, z_i) \rangle` for r (B, dy): (N,)."""
        zz = np.ascontiguousarray(self.params(z).T)
        out = np.empty(zz.shape[1])
        self.base.sums.dual(self.rows(x), self.pullback(r), zz, out)
        return out

    def __repr__(self):
        return f"SchemeUnit({self.name!r}, K={self.n_maps}, projector={self.projector is not None})"


# invariant_risk: when R^scheme is G-invariant (docs/theory.md §3): "always" (the unit trained is G-invariant in z:
# sigma^FA(x, M_g z) = sigma^FA(x, z), sigma^EA(x, M_g z) = sigma^EA(x, z), for any loss and data), "loss" (the
# data pi^G is equivariant: invariant iff the loss is invariant under the label action), "data" (invariant when
# pi is equivariant and the loss is invariant under the label action). Read by ``wgf.problem.risk_invariance``.
@SCHEMES.register("vanilla", doc="sigma_* trained on pi", augments=False, feature_maps=False, invariant_risk="data")
def _vanilla(symmetry: Symmetry) -> SchemeUnit:
    return SchemeUnit(symmetry.unit)


@SCHEMES.register("da", doc="data augmentation: sigma_* trained on the orbit pi^G of pi", augments=True,
                  feature_maps=False, invariant_risk="loss")
def _da(symmetry: Symmetry) -> SchemeUnit:
    return SchemeUnit(symmetry.unit)


@SCHEMES.register("fa", doc="feature averaging: (1/|G|) sum_g rhohat_g^T sigma_*(rho_g x, z) on pi", augments=False,
                  feature_maps=True, invariant_risk="always")
def _fa(symmetry: Symmetry) -> SchemeUnit:
    # rhohat_g^T sigma_*(rho_g x, z): Rin = rho_g, Rout = rhohat_g^T
    group = symmetry.group
    return SchemeUnit(symmetry.unit, "fa", group.rho_x, np.transpose(group.rho_y, (0, 2, 1)))


@SCHEMES.register("ea", doc="equivariant architecture: sigma_*(x, P_E z) on pi", augments=False, feature_maps=False,
                  invariant_risk="always")
def _ea(symmetry: Symmetry) -> SchemeUnit:
    return SchemeUnit(symmetry.unit, "ea", projector=symmetry.projector)


def scheme_unit(scheme: str, symmetry: Symmetry) -> SchemeUnit:
    r"""The unit trained by ``scheme`` (docs/theory.md §3): :math:`\sigma_*` for vanilla and da,
    :math:`\sigma^{FA}`, :math:`\sigma^{EA}`."""
    return SCHEMES[scheme](symmetry)


def scheme_quadrature(scheme: str, quadrature: Quadrature, group: FiniteGroup) -> Quadrature:
    """The quadrature of the data used by ``scheme``: orbit-augmented for da (``augments``), unchanged otherwise."""
    return quadrature.augment(group) if SCHEMES[scheme].augments else quadrature


def _relative_error(approx: np.ndarray, ref: np.ndarray) -> float:
    scale = float(np.abs(ref).max())
    err = float(np.abs(approx - ref).max())
    return err / scale if scale > 0 else err


def _reference(symmetry: Symmetry):
    from wgf.groups import reference_rule

    group = symmetry.group
    return reference_rule(group.kind, group.order, group.dim_x, group.dim_y)


def _moved(mats: np.ndarray, v: np.ndarray) -> np.ndarray:
    """mats_k v_b for all k, b: mats (K, d, d), v (B, d) -> (K B, d), row k B + b."""
    return np.einsum("kij,bj->kbi", mats, v).reshape(-1, v.shape[1])


def fa_quadrature_error(symmetry: Symmetry, x: ArrayLike, z: ArrayLike) -> float:
    r"""The relative error of FA's Haar quadrature of a compact group, measured against a finer rule
    (``wgf.groups.reference_rule``, weights :math:`w_k`):

    .. math::

        \frac{\max_{b,i} \big|\sigma^{FA}_M(x_b, z_i) - \sum_k w_k \hat\rho_k^\top \sigma_*(\rho_k x_b, z_i)\big|}
             {\max_{b,i} \big|\sum_k w_k \hat\rho_k^\top \sigma_*(\rho_k x_b, z_i)\big|},

    x (B, dx), z (N, D). Zero on :math:`E^G` for a quadrature that fixes :math:`E^G`; off :math:`E^G`, the
    error of the M-point rule (the finer one's is far smaller where the error falls exponentially in M).
    0 for a finite group (exact)."""
    if not symmetry.group.continuous:
        return 0.0
    x, z = np.atleast_2d(np.asarray(x, dtype=float)), np.atleast_2d(np.asarray(z, dtype=float))
    weights, rx, ry = _reference(symmetry)
    vals = symmetry.unit.value(_moved(rx, x), z)  # (K B, N, dy)
    ref = np.einsum("k,kac,kbna->bnc", weights, ry, vals.reshape(len(weights), x.shape[0], z.shape[0], -1))
    return _relative_error(scheme_unit("fa", symmetry).value(x, z), ref)


def _da_first_variation(symmetry: Symmetry, loss, x, y, z, weights, rx, ry) -> np.ndarray:
    r""":math:`V(z_j) = \sum_k w_k \operatorname{mean}_b \langle \nabla \ell(\Phi(\rho_k x_b), \hat\rho_k y_b),
    \sigma_*(\rho_k x_b, z_j) \rangle`, with :math:`\Phi = \operatorname{mean}_i \sigma_*(\cdot, z_i)`: the loss
    term of DA's first variation at :math:`\mu` = the cloud z, (N,)."""
    vals = symmetry.unit.value(_moved(rx, x), z)  # (K B, N, dy)
    grad = loss.grad(vals.mean(axis=1), _moved(ry, y))  # (K B, dy)
    per = np.einsum("rna,ra->rn", vals, grad).reshape(len(weights), x.shape[0], z.shape[0]).mean(axis=1)
    return weights @ per


def da_quadrature_error(symmetry: Symmetry, loss: Loss, x: ArrayLike, y: ArrayLike, z: ArrayLike) -> float:
    r"""The relative error of DA orbit's Haar quadrature of a compact group against a finer rule, on the loss
    term of the first variation at :math:`\mu = \frac1N \sum_i \delta_{z_i}` (``_da_first_variation``), over
    the cloud: :math:`\max_j |V_M(z_j) - V_{\mathrm{ref}}(z_j)| / \max_j |V_{\mathrm{ref}}(z_j)|`;
    x (B, dx), y (B, dy) samples of :math:`\pi`, z (N, D). 0 for a finite group (the orbit is exact)."""
    if not symmetry.group.continuous:
        return 0.0
    x, y, z = (np.atleast_2d(np.asarray(a, dtype=float)) for a in (x, y, z))
    group = symmetry.group
    approx = _da_first_variation(symmetry, loss, x, y, z, np.full(group.order, 1.0 / group.order), group.rho_x,
                                 group.rho_y)
    return _relative_error(approx, _da_first_variation(symmetry, loss, x, y, z, *_reference(symmetry)))
