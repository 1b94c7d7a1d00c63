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
from wgf.schemes import (DA_MODES, SCHEMES, SchemeUnit, da_quadrature_error, fa_quadrature_error, scheme_quadrature,
                         scheme_unit)
from wgf.registry import Registry
from wgf.symmetry import InexactQuadratureError, Symmetry
from wgf.units import Unit

__all__ = ["Problem", "Hypothesis", "INITS", "NOISES"]

INITS = Registry("start", "initial laws mu_0 of the particles; factory (symmetry, z (n, D)) -> (n, D), z ~ N(0, s^2 I)")
INITS.add("wi", lambda symmetry, z: z, doc="without invariance: z ~ N(0, init_std^2 I_D)", projected=False)
INITS.add("si", lambda symmetry, z: symmetry.project(z), doc="strongly invariant: P_E z, z ~ N(0, init_std^2 I_D)",
          projected=True)

NOISES = Registry("noise", "the Brownian noise of the flow; factory (symmetry) -> its projector (D, D) or None")
NOISES.add("full", lambda symmetry: None, doc="isotropic noise sqrt(2 beta) dB on all of Z", projected=False)
NOISES.add("projected", lambda symmetry: symmetry.projector, doc="noise projected onto E^G: sqrt(2 beta) P_E dB",
           projected=True)


# the Haar quadrature of FA and DA orbit off E^G (docs/groups.md): a relative error above QUADRATURE_ACCURATE is
# reported as approximate, one above QUADRATURE_REFUSED refused, for flows whose particles leave E^G
QUADRATURE_ACCURATE = 1e-2
QUADRATURE_REFUSED = 5e-2


@dataclass(frozen=True)
class Hypothesis:
    """A hypothesis of the paper's theorems for one problem: whether it holds and why (``Problem.hypotheses``)."""

    name: str
    holds: bool
    reason: str
    consequence: str = ""

    def __str__(self) -> str:
        """"risk invariant: yes, <reason> (<consequence>)" or "...: NO, ..."."""
        return f"{self.name}: {'yes' if self.holds else 'NO'}, {self.reason}" + \
            (f" ({self.consequence})" if self.consequence else "")


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
        action = self.group.label_action
        if SCHEMES[self.scheme].augments and not self.loss.labels_kept_by(action):
            raise ValueError(f"loss: '{self.loss.name}' trains on labels +-1, and scheme = '{self.scheme}' would move "
                             f"them off +-1 by the {action.replace('_', ' ')} label action of group "
                             f"'{self.group.name}'; use scheme fa or ea, or another loss")
        err = self.haar_quadrature_error
        if err is not None and err > QUADRATURE_REFUSED:
            raise InexactQuadratureError(
                f"the {self.group.order}-point Haar quadrature of '{self.group.name}' is off {self.scheme.upper()}'s "
                f"average over G by {err:.2g} (relative) where the particles leave E^G (init = '{self.init}', "
                f"noise = '{self.noise}'), above {QUADRATURE_REFUSED:g}: use more points, or init = \"si\" with "
                f"noise = \"projected\"")

    def __repr__(self) -> str:
        """A few lines, no arrays: the symmetry (unit, group, dim E^G), the data, loss and schedule, the scheme,
        the initial law and noise, the constants tau and beta and the time horizon."""
        data = self.data
        if isinstance(data, GaussianTeacherData):
            source = (f"teacher {data.teacher_kind!r} of {len(data.teacher)} particles, x ~ N(0, {data.x_std:g}^2 I), "
                      f"{self.quadrature_points} quadrature points per axis"
                      + (f", label noise {data.label_noise:g}" if data.label_noise else ""))
        else:
            source = f"{type(data).__name__} of {len(data.x)} samples"
        scheme = self.scheme + (f" ({self.da_mode} mode)" if SCHEMES[self.scheme].augments else "")
        return (f"Problem({self.symmetry!r},\n"
                f"  data: {source}; loss {self.loss!r}, schedule {self.schedule!r},\n"
                f"  scheme {scheme}, init {self.init} (std {self.init_std:g}), noise {self.noise}, "
                f"tau = {self.tau:g}, beta = {self.beta:g}, t_end = {self.t_end:g} ({self.snapshots} snapshots))")

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

    @cached_property
    def risk_invariance(self) -> Hypothesis:
        """Whether R^scheme(M_g#mu) = R^scheme(mu) for every g in G (the hypothesis of Thms 3-4), and why.

        FA and EA train a unit invariant in z: always. DA trains on pi^G, equivariant; vanilla on pi, when pi is
        equivariant. Then R(M_g#mu) = E l(rhohat_g Phi_mu(X), rhohat_g Y), the risk, for every mu iff
        l(Q yhat, Q y) = l(yhat, y) for every label action Q = rhohat_g: the loss's ``label_invariance`` must
        contain the group's ``label_action`` (wgf.losses, docs/groups.md)."""
        kind, loss, group = SCHEMES[self.scheme].invariant_risk, self.loss, self.group
        then = "Thms 3-4 apply"
        if kind == "always":
            return Hypothesis("risk invariant", True, f"the {self.scheme} unit is G-invariant in z, for any loss "
                                                      "and data", then)
        if kind == "data" and not self.data.is_equivariant:
            what = f"teacher '{self.data.teacher_kind}'" if hasattr(self.data, "teacher_kind") else "a data set"
            return Hypothesis("risk invariant", False, f"vanilla training on data not known to be G-equivariant "
                                                       f"({what})", "Thms 3-4 do not apply")
        action = group.label_action.replace("_", " ")
        data = "pi^G" if kind == "loss" else "pi"
        if not loss.invariant_under(group.label_action):
            limit = loss.label_invariance.replace("_", " ")
            return Hypothesis("risk invariant", False,
                              f"the {loss.name} loss is invariant only under {limit} label actions and "
                              f"'{group.name}' acts on the labels by {action} matrices", "Thms 3-4 do not apply")
        return Hypothesis("risk invariant", True, f"{data} is G-equivariant and the {loss.name} loss is "
                                                  f"invariant under the {action} label action of '{group.name}'",
                          then)

    @property
    def risk_is_invariant(self) -> bool:
        """R^scheme is G-invariant (``risk_invariance``)."""
        return self.risk_invariance.holds

    @cached_property
    def fixed_subspace(self) -> Hypothesis:
        """Whether the flow from an SI start stays in E^G (Thms 5-6): projected noise and an invariant risk."""
        name, then = "E^G kept from an SI start", "Thms 5-6 apply"
        if not NOISES[self.noise].projected:
            return Hypothesis(name, False, "the noise is full, not projected onto E^G", "Thms 5-6 do not apply")
        if not self.risk_is_invariant:
            return Hypothesis(name, False, f"the risk is not G-invariant: {self.risk_invariance.reason}",
                              "Thms 5-6 do not apply")
        return Hypothesis(name, True, "projected noise and a G-invariant risk", then)

    @property
    def stays_in_fixed_subspace(self) -> bool:
        """From an SI start the flow stays in E^G (Thm 5): projected noise and an invariant risk."""
        return self.fixed_subspace.holds

    @property
    def leaves_fixed_subspace(self) -> bool:
        """The particles may leave E^G: a WI start, or a flow not known to keep E^G."""
        return not (INITS[self.init].projected and self.stays_in_fixed_subspace)

    @property
    def uses_quadrature(self) -> bool:
        """The scheme averages over a compact group's Haar quadrature: FA, or DA in a mode that does (orbit)."""
        scheme = SCHEMES[self.scheme]
        averages = scheme.feature_maps or (scheme.augments and DA_MODES[self.da_mode].quadrature)
        return bool(averages and self.group.continuous)

    @cached_property
    def haar_quadrature_error(self) -> float | None:
        """The relative error of the scheme's Haar quadrature off E^G, against a finer rule: FA's unit
        (``wgf.schemes.fa_quadrature_error``) or DA orbit's first variation (``da_quadrature_error``), on 64 samples
        of pi and 32 parameters drawn from N(0, s^2 I), s = init_std for half and 2 init_std for the other half
        (seeded). None where it does not enter: no quadrature, or particles that stay in E^G (exact there)."""
        if not (self.uses_quadrature and self.leaves_fixed_subspace):
            return None
        rng = np.random.default_rng(0)
        x, y = self.data.sample(64, rng)
        z = np.repeat([1.0, 2.0], 16)[:, None] * (self.init_std if self.init_std > 0 else 1.0) * \
            rng.normal(size=(32, self.dim))
        if SCHEMES[self.scheme].feature_maps:
            return fa_quadrature_error(self.symmetry, x, z)
        return da_quadrature_error(self.symmetry, self.loss, x, self.loss.labels(y), z)

    @property
    def haar_quadrature(self) -> Hypothesis | None:
        """Whether the scheme's Haar quadrature is accurate where the particles go (None where exact or unused)."""
        err = self.haar_quadrature_error
        if err is None:
            return None
        holds, scheme = err <= QUADRATURE_ACCURATE, self.scheme.upper()
        return Hypothesis(f"{scheme} quadrature accurate off E^G", holds,
                          f"the {self.group.order}-point Haar rule of '{self.group.name}' is off the average over G "
                          f"by {err:.2g} (relative, against a finer rule; tolerance {QUADRATURE_ACCURATE:g})",
                          "" if holds else f"{scheme} averages over G only approximately off E^G")

    def hypotheses(self) -> tuple[str, ...]:
        """One line per hypothesis of the paper's theorems (and of the Haar quadrature of FA or DA orbit where the
        particles leave E^G): whether it holds for this problem and why."""
        rows = (self.risk_invariance, self.fixed_subspace, self.haar_quadrature)
        return tuple(str(h) for h in rows if h is not None)

    def initial_particles(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n iid draws of the initial law: N(0, init_std^2 I_D) (wi) or its P_E image (si), (n, D)."""
        z = rng.normal(scale=self.init_std, size=(n, self.dim))
        return INITS[self.init](self.symmetry, z)

    def replace(self, **changes) -> "Problem":
        """A copy with some fields changed."""
        from dataclasses import replace

        return replace(self, **changes)
