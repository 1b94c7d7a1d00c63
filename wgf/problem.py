"""The learning problem: unit, group, data, scheme and training constants.

A ``Problem`` is everything the four problem sections of a config describe
([model] [group] [data] [training]); the PDE solver and the particle engine both
take one. It derives (once) the scheme's unit and data (``wgf.schemes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from wgf.data import EmpiricalData, GaussianTeacherData, Quadrature
from wgf.groups import FiniteGroup
from wgf.losses import Loss, make_loss
from wgf.schedules import Schedule, make_schedule
from wgf.schemes import DA_MODES, SCHEMES, SchemeUnit, scheme_quadrature, scheme_unit
from wgf.registry import Registry
from wgf.symmetry import Symmetry
from wgf.units import Unit

__all__ = ["Problem", "INITS", "NOISES"]

INITS = Registry("start", "initial laws mu_0 of the particles; factory (symmetry, z (n, D)) -> (n, D), z ~ N(0, s^2 I)")
INITS.add("wi", lambda symmetry, z: z, doc="without invariance: z ~ N(0, init_std^2 I_D)", projected=False)
INITS.add("si", lambda symmetry, z: symmetry.project(z), doc="strongly invariant: P_E z, z ~ N(0, init_std^2 I_D)",
          projected=True)

NOISES = Registry("noise", "the Brownian noise of the flow; factory (symmetry) -> its projector (D, D) or None")
NOISES.add("full", lambda symmetry: None, doc="isotropic noise sqrt(2 beta) dB on all of Z", projected=False)
NOISES.add("projected", lambda symmetry: symmetry.projector, doc="noise projected onto E^G: sqrt(2 beta) P_E dB",
           projected=True)


@dataclass(frozen=True, eq=False)
class Problem:
    """Noisy mean-field training of a shallow model under a symmetry-leveraging scheme.

    Parameters mirror the config (docs/theory.md §10): ``symmetry`` carries the base unit
    sigma_* and the group; ``data`` is pi; ``scheme`` in vanilla | da | fa | ea;
    ``tau`` penalty weight (r(z) = |z|^2), ``beta`` temperature; ``init`` wi
    (z ~ N(0, init_std^2 I_D)) or si (P_E of that); ``noise`` full or projected
    (P_E xi); MF time horizon ``t_end`` with ``snapshots`` equally spaced times;
    ``loss`` (``wgf.losses``, default squared) and step-size ``schedule`` varsigma(t)
    (``wgf.schedules``, default constant).
    """

    symmetry: Symmetry
    data: GaussianTeacherData | EmpiricalData
    scheme: str = "vanilla"
    da_mode: str = "orbit"
    tau: float = 1e-4
    beta: float = 1e-3
    init: str = "wi"
    init_std: float = 0.25
    noise: str = "full"
    t_end: float = 20.0
    snapshots: int = 11
    quadrature_points: int = 16
    loss: Loss = field(default_factory=make_loss)
    schedule: Schedule = field(default_factory=make_schedule)

    def __post_init__(self):
        for registry, value in ((SCHEMES, self.scheme), (DA_MODES, self.da_mode), (INITS, self.init),
                                (NOISES, self.noise)):
            registry[value]  # an unknown name is refused with the registry's message
        for key in ("tau", "beta", "init_std"):
            v = getattr(self, key)
            if not (np.isfinite(v) and v >= 0):
                raise ValueError(f"{key} must be finite and >= 0, got {v!r}")
        if not (np.isfinite(self.t_end) and self.t_end > 0):
            raise ValueError(f"t_end must be finite and > 0, got {self.t_end!r}")
        if self.snapshots < 2:
            raise ValueError(f"snapshots must be >= 2, got {self.snapshots!r}")
        if (self.data.dim_x, self.data.dim_y) != (self.base_unit.dim_x, self.base_unit.dim_y):
            raise ValueError("data dimensions do not match the unit")
        if not isinstance(self.loss, Loss):
            object.__setattr__(self, "loss", make_loss(self.loss))
        if not isinstance(self.schedule, Schedule):
            object.__setattr__(self, "schedule", make_schedule(self.schedule))
        if not self.loss.additive_noise and getattr(self.data, "label_noise", 0.0) > 0:
            raise ValueError(f"label_noise > 0 is only supported with the squared loss, not {self.loss.name!r}")
        if self.loss.sign_labels and isinstance(self.data, EmpiricalData) and not np.all(np.abs(self.data.y) == 1):
            raise ValueError("the logistic loss needs labels +-1 in the data set")

    # ------------------------------------------------------------ structure
    @property
    def base_unit(self) -> Unit:
        """sigma_*, the unit before the scheme's transform."""
        return self.symmetry.unit

    @property
    def group(self) -> FiniteGroup:
        return self.symmetry.group

    @property
    def dim(self) -> int:
        """D = dim Z."""
        return self.base_unit.dim

    @cached_property
    def unit(self) -> SchemeUnit:
        """The scheme's unit (sigma_*, sigma^FA or sigma^EA)."""
        return scheme_unit(self.scheme, self.symmetry)

    @cached_property
    def quadrature(self) -> Quadrature:
        """The scheme's data as a quadrature (orbit-augmented for da)."""
        q = self.data.quadrature(self.quadrature_points)
        if self.loss.sign_labels:
            q = Quadrature(q.x, self.loss.labels(q.y), q.weights, 0.0)
        return scheme_quadrature(self.scheme, q, self.group)

    @property
    def times(self) -> np.ndarray:
        """Snapshot MF times, (snapshots,)."""
        return np.linspace(0.0, self.t_end, self.snapshots)

    @property
    def noise_projector(self) -> np.ndarray | None:
        """P_E for projected noise, None for full noise."""
        return NOISES[self.noise](self.symmetry)

    @property
    def risk_is_invariant(self) -> bool:
        """R^scheme is G-invariant: da, fa, ea always; vanilla when pi is equivariant."""
        return SCHEMES[self.scheme].invariant_risk or bool(self.data.is_equivariant)

    @property
    def stays_in_fixed_subspace(self) -> bool:
        """From an SI start the flow stays in E^G (Thm 5): projected noise and an invariant risk."""
        return NOISES[self.noise].projected and self.risk_is_invariant

    def initial_particles(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n iid draws of the initial law: N(0, init_std^2 I_D) (wi) or its P_E image (si), (n, D)."""
        z = rng.normal(scale=self.init_std, size=(n, self.dim))
        return INITS[self.init](self.symmetry, z)

    def replace(self, **changes) -> "Problem":
        """A copy with some fields changed."""
        from dataclasses import replace

        return replace(self, **changes)
