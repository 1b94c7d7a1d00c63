"""Typed settings: one frozen dataclass per config section (docs/config.md, docs/theory.md §10).

Every key of a config is a field of its section's class, declared once with ``setting(...)``: its
default (or "required"), its checker, the type and the allowed values shown to users, and a
one-line doc. Parsing, the one-line refusals, ``wgf config``, the resolved config a results file
records, the README's config block and docs/config.md are all read from these declarations
(in the spirit of py-pde's ``Parameter`` and xarray's options with their validators).

A section is built from its TOML table by ``Section.from_table`` (each key checked, then the
rules between keys of the section); rules that need the problem are the section's ``check``
method; ``resolved`` gives the value used for every key that applies. Allowed values of named
things (units, groups, losses, ...) are the live registries, so a registered name is accepted.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from wgf.activations import ACTIVATIONS
from wgf.data import TEACHERS
from wgf.discovery import GRADIENTS
from wgf.groups import GROUPS
from wgf.losses import LOSSES
from wgf.problem import INITS, NOISES, Problem
from wgf.registry import Registry, markdown_cell
from wgf.schedules import SCHEDULES
from wgf.schemes import DA_MODES, SCHEMES
from wgf.units import UNITS
from wgf.validation.metrics import METRICS

if TYPE_CHECKING:
    from wgf.grids import Grid

__all__ = [
    "ConfigError",
    "Key",
    "setting",
    "Section",
    "RootSettings",
    "ModelSettings",
    "GroupSettings",
    "DataSettings",
    "TrainingSettings",
    "PdeSettings",
    "MinimizerSettings",
    "ParticleSettings",
    "CompareSettings",
    "DiscoverSettings",
    "SECTIONS",
    "METRICS",
    "all_keys",
    "find_key",
]


class ConfigError(ValueError):
    """A config value is missing, unknown, of the wrong type or impossible. The message names the key."""


REQUIRED = object()  # the default of a key the config must give

# integers (counts, sizes, seeds) up to 2^53 (exact in float64, fit in int64); real numbers between
# 1e-100 and 1e100 in magnitude (or 0): beyond, every quantity of the model overflows or underflows
MAX_INTEGER = 2**53
MIN_MAGNITUDE, MAX_MAGNITUDE = 1e-100, 1e100
# Gauss-Hermite rules beyond this many nodes per axis lose their weights to overflow (NaN)
MAX_QUADRATURE_POINTS = 200


# ----------------------------------------------------------------- checkers: (section, key, value) -> value
def where(section: str, key: str) -> str:
    """How a key is named in messages: ``[pde] cells``, or ``title`` at the root."""
    return f"[{section}] {key}" if section else key


def _number(section, key, v, *, low=None, low_open=False, integer=False):
    at = where(section, key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"{at}: expected {'an integer' if integer else 'a number'}, got {v!r}")
    if integer and not isinstance(v, int):
        raise ConfigError(f"{at}: expected an integer, got {v!r}")
    if integer and abs(v) > MAX_INTEGER:
        raise ConfigError(f"{at}: {v} is out of range (at most {MAX_INTEGER})")
    if isinstance(v, int) and abs(v) > MAX_MAGNITUDE:  # also too large for a float
        raise ConfigError(f"{at}: an integer of {len(str(abs(v)))} digits is out of range "
                          f"(magnitudes up to {MAX_MAGNITUDE:g})")
    if not math.isfinite(v):
        raise ConfigError(f"{at}: must be finite, got {v!r}")
    if not integer and v != 0 and not (MIN_MAGNITUDE <= abs(v) <= MAX_MAGNITUDE):
        raise ConfigError(f"{at}: {v!r} is out of range (magnitudes from {MIN_MAGNITUDE:g} to {MAX_MAGNITUDE:g})")
    if low is not None and (v <= low if low_open else v < low):
        raise ConfigError(f"{at}: must be {'>' if low_open else '>='} {low}, got {v!r}")
    return v


def _pos_int(s, k, v):
    return _number(s, k, v, low=1, integer=True)


def _nonneg_int(s, k, v):
    return _number(s, k, v, low=0, integer=True)


def _at_least_two(s, k, v):
    return _number(s, k, v, low=2, integer=True)


def _bounded_int(high):
    def check(s, k, v):
        v = _pos_int(s, k, v)
        if v > high:
            raise ConfigError(f"{where(s, k)}: at most {high}, got {v}")
        return v

    return check


def _pos(s, k, v):
    return float(_number(s, k, v, low=0, low_open=True))


def _nonneg(s, k, v):
    return float(_number(s, k, v, low=0))


def _fraction(high, closed=False):
    """A number in [0, high) ([0, high] when closed)."""

    def check(s, k, v):
        v = float(_number(s, k, v, low=0))
        if v > high or (v == high and not closed):
            raise ConfigError(f"{where(s, k)}: must be {'<=' if closed else '<'} {high}, got {v!r}")
        return v

    return check


def _choice(options):
    """One of ``options``: a registry or a tuple, read when the value is checked (a name registered after
    import is accepted)."""

    def check(s, k, v):
        if not isinstance(v, str) or v not in options:
            raise ConfigError(f"{where(s, k)}: expected one of {', '.join(options)}, got {v!r}")
        return v

    return check


def _string(s, k, v):
    if not isinstance(v, str):
        raise ConfigError(f"{where(s, k)}: expected a string, got {v!r}")
    if any(ord(c) < 32 and c not in "\t" for c in v) or len(v) > 4096:
        raise ConfigError(f"{where(s, k)}: control characters (or more than 4096 characters) are not allowed")
    return v


def _entries(v):
    """The leaves of nested lists."""
    if isinstance(v, list):
        for x in v:
            yield from _entries(x)
    else:
        yield v


def _matrix_list(s, k, v):
    for x in _entries(v):
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise ConfigError(f"{where(s, k)}: expected a list of square matrices of numbers, got the entry {x!r}")
        if abs(x) > MAX_MAGNITUDE:
            raise ConfigError(f"{where(s, k)}: entries must be finite numbers, got {x!r}")
    try:
        arr = np.array(v, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{where(s, k)}: expected a list of square matrices") from None
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2] or arr.shape[0] == 0:
        raise ConfigError(f"{where(s, k)}: expected a list of square matrices, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ConfigError(f"{where(s, k)}: entries must be finite")
    return tuple(tuple(tuple(float(x) for x in row) for row in m) for m in arr)


def _particles_list(s, k, v):
    if not isinstance(v, list) or not v or not all(isinstance(r, list) for r in v):
        raise ConfigError(f"{where(s, k)}: expected a nonempty list of particles (lists of numbers)")
    for j, row in enumerate(v):
        for x in row:
            numeric = not isinstance(x, bool) and isinstance(x, (int, float))
            if not numeric or abs(x) > MAX_MAGNITUDE or not math.isfinite(x):
                raise ConfigError(f"{where(s, k)}: particle {j} has a non-finite or non-numeric entry {x!r}")
    return tuple(tuple(float(x) for x in row) for row in v)


def _int_or_list(s, k, v):
    vals = v if isinstance(v, list) else [v]
    if not vals:
        raise ConfigError(f"{where(s, k)}: expected a positive integer or a nonempty list of them")
    return tuple(_pos_int(s, k, x) for x in vals)


def _bounds(s, k, v):
    if not isinstance(v, list) or not v:
        raise ConfigError(f"{where(s, k)}: expected a list of [low, high] pairs")
    out = []
    for pair in v:
        if not isinstance(pair, list) or len(pair) != 2:
            raise ConfigError(f"{where(s, k)}: expected a list of [low, high] pairs, got {pair!r}")
        lo, hi = (float(_number(s, k, x)) for x in pair)
        if not lo < hi:
            raise ConfigError(f"{where(s, k)}: need low < high, got {pair!r}")
        out.append((lo, hi))
    return tuple(out)


def _names(options):
    def check(s, k, v):
        if not isinstance(v, list) or not v:
            raise ConfigError(f"{where(s, k)}: expected a nonempty list of metric names")
        for m in v:
            if m not in options:
                raise ConfigError(f"{where(s, k)}: unknown metric {m!r} (choose from {', '.join(options)})")
        return tuple(v)

    return check


# ----------------------------------------------------------------- declarations
@dataclass(frozen=True)
class Key:
    """What a config key is: its checker, the type and allowed values users read, and a one-line doc.

    ``choices`` is a registry or a tuple of names (or None); ``default_doc`` says how a default that
    depends on other keys is found (the field's default is then None)."""

    check: Callable[[str, str, Any], Any]
    type: str
    doc: str
    choices: Any = None
    default_doc: str = ""


def setting(default: Any = REQUIRED, *, check: Callable, type: str, doc: str, choices: Any = None,
            default_doc: str = "") -> Any:
    """A section field: ``default`` (``REQUIRED`` for a key the config must give; None for a key
    unset unless given or derived from others, explained by ``default_doc``) with its ``Key``."""
    meta = {"key": Key(check, type, doc, choices, default_doc)}
    if default is REQUIRED:
        return field(default=None, metadata={**meta, "required": True})
    return field(default=default, metadata=meta)


def _problem_default(name: str) -> Any:
    """The default of a ``Problem`` field: the engines' own default is the config's."""
    f = Problem.__dataclass_fields__[name]
    return f.default


def _signature_default(func: Callable, name: str) -> Any:
    """The default of keyword ``name`` of ``func``: the function's own default is the config's."""
    return inspect.signature(func).parameters[name].default


@dataclass(frozen=True)
class Section:
    """Base of the section classes: ``section`` is the TOML table ([section]; "" for the root keys)."""

    section: ClassVar[str] = ""
    doc: ClassVar[str] = ""

    @classmethod
    def keys(cls) -> dict[str, Key]:
        """key -> Key, in declaration order."""
        return {f.name: f.metadata["key"] for f in fields(cls) if "key" in f.metadata}

    @classmethod
    def required(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls) if f.metadata.get("required"))

    @classmethod
    def default(cls, key: str) -> Any:
        """The published default of ``key`` (None when required or unset)."""
        f = {f.name: f for f in fields(cls)}[key]
        return None if f.default is MISSING else f.default

    @classmethod
    def from_table(cls, table: Mapping[str, Any]) -> Section:
        """The section of a TOML table: every key known and checked (ConfigError naming it), required keys
        present, then the rules between the given keys (``_given_rules``)."""
        keys = cls.keys()
        checked = {}
        for key, value in table.items():
            if isinstance(value, dict):
                raise ConfigError(f"[{cls.section}] {key}: unexpected sub-table")
            if key not in keys:
                if not cls.section:
                    raise ConfigError(f"unknown top-level key '{key}' (known: {', '.join(keys)})")
                raise ConfigError(f"[{cls.section}] unknown key '{key}' (known: {', '.join(keys)})")
            checked[key] = keys[key].check(cls.section, key, value)
        return cls._build(checked)

    @classmethod
    def _build(cls, checked: dict) -> Section:
        for key in cls.required():
            if key not in checked:
                raise ConfigError(f"[{cls.section}] {key}: missing (required)")
        cls._given_rules(checked)
        return cls(**checked)

    @classmethod
    def _given_rules(cls, given: dict) -> None:
        """Rules between the keys a config gives (override): raise ConfigError naming the key."""

    def resolved(self, problem: Problem | None = None) -> dict[str, Any]:
        """key -> the value used, for every key that applies (defaults included; override to resolve
        defaults that depend on other keys or on the problem)."""
        return {k: getattr(self, k) for k in self.keys() if getattr(self, k) is not None}


def _either(section: str, given: dict, first: str, second: str, note: str = "") -> None:
    """Two keys that exclude each other: refuse both; with ``second`` given, ``first`` (which has a default)
    is unset."""
    if first in given and second in given:
        raise ConfigError(f"[{section}] {second}: give either {first}{note} or {second}, not both")
    if second in given:
        given[first] = None


def _section(name: str, doc: str):
    def decorate(cls):
        cls = dataclass(frozen=True)(cls)
        cls.section, cls.doc = name, doc
        return cls

    return decorate


@_section("", "root keys")
class RootSettings(Section):
    title: str = setting("", check=_string, type="string", doc="free text: the experiment's title in reports")


@_section("model", "the unit sigma_*(x, z) and its dimensions")
class ModelSettings(Section):
    unit: str = setting(check=_choice(UNITS), choices=UNITS, type="string",
                        doc="the unit; matrix and two_layer take an activation, the others have theirs")
    dim_x: int = setting(check=_pos_int, type="integer", doc="dimension of the features x")
    dim_y: int = setting(check=_pos_int, type="integer", doc="dimension of the labels y")
    hidden: int | None = setting(None, check=_pos_int, type="integer",
                                 doc="hidden width h of a two_layer unit (required by two_layer only)")
    activation: str | None = setting(None, check=_choice(ACTIVATIONS), choices=ACTIVATIONS, type="string",
                                     doc="activation of matrix and two_layer units",
                                     default_doc="sigmoid; sigmoid_matrix, tanh_matrix and linear fix theirs")

    @classmethod
    def _given_rules(cls, m):
        unit = UNITS[m["unit"]]
        if unit.hidden and "hidden" not in m:
            raise ConfigError(f"[model] hidden: missing (required for unit {m['unit']})")
        if not unit.hidden and "hidden" in m:
            raise ConfigError(f"[model] hidden: only used by two_layer, not by {m['unit']}")
        if unit.activation is not None and m.get("activation", unit.activation) != unit.activation:
            raise ConfigError(f"[model] activation: unit {m['unit']} has the {unit.activation} activation "
                              f"(use unit = \"matrix\" with activation = \"{m['activation']}\")")

    def resolved(self, problem: Problem | None = None) -> dict[str, Any]:
        from wgf.units import DEFAULT_ACTIVATION

        out = super().resolved()
        if UNITS[self.unit].activation is None:  # the units that take an activation
            out["activation"] = self.activation or DEFAULT_ACTIVATION
        return out


@_section("group", "the group G acting on features and labels (docs/groups.md)")
class GroupSettings(Section):
    name: str | None = setting(None, check=_choice(GROUPS), choices=GROUPS, type="string",
                               doc="a built-in group (or give generators_x and generators_y)",
                               default_doc="trivial, unless generators are given")
    generators_x: tuple | None = setting(None, check=_matrix_list, type="list of square matrices",
                                         doc="generators rho_g of a custom group on x (dim_x x dim_x)")
    generators_y: tuple | None = setting(None, check=_matrix_list, type="list of square matrices",
                                         doc="generators rhohat_g of a custom group on y (dim_y x dim_y)")
    haar_points: int | None = setting(None, check=_pos_int, type="integer",
                                      doc="compact groups: elements of the Haar quadrature",
                                      default_doc="per group (docs/groups.md)")

    @classmethod
    def _given_rules(cls, g):
        if "generators_x" in g or "generators_y" in g:
            if "name" in g:
                raise ConfigError("[group] name: give either a name or generators_x/generators_y, not both")
            if "generators_x" not in g or "generators_y" not in g:
                raise ConfigError("[group] generators_y: generators_x and generators_y must be given together")
            if "haar_points" in g:
                raise ConfigError("[group] haar_points: only used by the compact groups, not by generators")
        elif "haar_points" in g and not GROUPS[g.get("name", "trivial")].compact:
            compact = ", ".join(GROUPS.where(compact=True))
            raise ConfigError(f"[group] haar_points: only used by the compact groups ({compact})")

    @property
    def group_name(self) -> str:
        """The built-in group's name ("trivial" when none is given and no generators)."""
        return self.name or "trivial"

    def resolved(self, problem: Problem | None = None) -> dict[str, Any]:
        out = super().resolved()
        if self.generators_x is None:
            out["name"] = self.group_name
            if problem is not None and self.haar_points is None and GROUPS[self.group_name].compact:
                out["haar_points"] = int(problem.group.order)
        return out


@_section("data", "the data law pi: a Gaussian teacher or a finite data set")
class DataSettings(Section):
    x_std: float = setting(4.0, check=_pos, type="number", doc="X ~ N(0, x_std^2 I)")
    teacher: str = setting("arbitrary", check=_choice(TEACHERS), choices=TEACHERS, type="string",
                           doc="the teacher particles as given (arbitrary), with all their G-images (wi), or "
                               "projected on E^G (si)")
    teacher_particles: tuple | None = setting(None, check=_particles_list, type="list of particles",
                                              doc="the teacher's particles, each D numbers "
                                                  "(required unless a dataset is given)")
    label_noise: float = setting(0.0, check=_nonneg, type="number", doc="Y = f_*(X) + N(0, label_noise^2 I)")
    quadrature_points: int = setting(_problem_default("quadrature_points"),
                                     check=_bounded_int(MAX_QUADRATURE_POINTS), type="integer",
                                     doc="Gauss-Hermite nodes per feature axis")
    dataset: str | None = setting(None, check=_string, type="string",
                                  doc="a finite data set (.npz or .h5 with arrays x, y) instead of a teacher; "
                                      "relative to the config's folder")

    @classmethod
    def _given_rules(cls, d):
        if "dataset" in d:
            for key in ("teacher", "teacher_particles", "x_std", "label_noise"):
                if key in d:
                    raise ConfigError(f"[data] {key}: not used with a dataset (remove it or the dataset)")

    def resolved(self, problem: Problem | None = None) -> dict[str, Any]:
        out = super().resolved()
        if self.dataset is not None:  # the data set is its own quadrature
            for key in ("teacher", "teacher_particles", "x_std", "label_noise", "quadrature_points"):
                out.pop(key, None)
        return out


@_section("training", "the scheme, the free energy F = R + tau int |z|^2 + beta H and the time horizon")
class TrainingSettings(Section):
    scheme: str = setting(_problem_default("scheme"), check=_choice(SCHEMES), choices=SCHEMES, type="string",
                          doc="symmetry-leveraging scheme: vanilla, data augmentation, feature averaging, "
                              "equivariant architecture")
    da_mode: str = setting(_problem_default("da_mode"), check=_choice(DA_MODES), choices=DA_MODES, type="string",
                           doc="da only: the whole G-orbit per sample (orbit) or one g per sample (sample)")
    tau: float = setting(_problem_default("tau"), check=_nonneg, type="number", doc="penalty tau |z|^2")
    beta: float = setting(_problem_default("beta"), check=_nonneg, type="number",
                          doc="temperature: noise sqrt(2 beta eps) per step")
    init: str = setting(_problem_default("init"), check=_choice(INITS), choices=INITS, type="string",
                        doc="start: N(0, init_std^2 I) (wi) or its projection on E^G (si)")
    init_std: float = setting(_problem_default("init_std"), check=_nonneg, type="number",
                              doc="standard deviation of the initial law")
    noise: str = setting(_problem_default("noise"), check=_choice(NOISES), choices=NOISES, type="string",
                         doc="full noise xi or its projection P_E xi on E^G")
    t_end: float = setting(_problem_default("t_end"), check=_pos, type="number", doc="mean-field time horizon")
    snapshots: int = setting(_problem_default("snapshots"), check=_at_least_two, type="integer",
                             doc="equally spaced snapshot times in [0, t_end]")
    loss: str = setting("squared", check=_choice(LOSSES), choices=LOSSES, type="string",
                        doc="the loss l(y', y); logistic takes the sign of the teacher as labels")
    huber_delta: float | None = setting(None, check=_pos, type="number", doc="huber only: the threshold delta",
                                        default_doc="1.0 with loss = \"huber\"")
    schedule: str = setting("constant", check=_choice(SCHEDULES), choices=SCHEDULES, type="string",
                            doc="step-size schedule varsigma(t): constant or 1 / (1 + t / t0)")
    schedule_t0: float | None = setting(None, check=_pos, type="number",
                                        doc="inverse_time only (required there): the time scale t0")

    @classmethod
    def _given_rules(cls, t):
        if "da_mode" in t and not SCHEMES[t.get("scheme", cls.default("scheme"))].augments:
            raise ConfigError("[training] da_mode: only used with scheme = \"da\"")
        # a loss's or a schedule's parameter key is used by that loss or schedule only (its registry entry)
        for key, kind, registry in (("huber_delta", "loss", LOSSES), ("schedule_t0", "schedule", SCHEDULES)):
            owners = registry.where(param=key)
            name = t.get(kind, cls.default(kind))
            if key in t and registry[name].param != key:
                raise ConfigError(f"[training] {key}: only used with {kind} = " + " or ".join(f'"{o}"' for o in owners))
        schedule = t.get("schedule", cls.default("schedule"))
        param = SCHEDULES[schedule].param
        if param is not None and param not in t:
            raise ConfigError(f"[training] {param}: missing (required for schedule = \"{schedule}\")")

    def problem_arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``Problem`` this section gives (loss and schedule built)."""
        from wgf.losses import make_loss
        from wgf.schedules import make_schedule

        out = {k: getattr(self, k) for k in ("scheme", "da_mode", "tau", "beta", "init", "init_std", "noise",
                                              "t_end", "snapshots")}
        out["loss"] = make_loss(self.loss, 1.0 if self.huber_delta is None else self.huber_delta)
        out["schedule"] = make_schedule(self.schedule, self.schedule_t0)
        return out

    def resolved(self, problem: Problem | None = None) -> dict[str, Any]:
        out = super().resolved()
        if not SCHEMES[self.scheme].augments:
            out.pop("da_mode")
        if LOSSES[self.loss].param == "huber_delta":
            out["huber_delta"] = 1.0 if self.huber_delta is None else self.huber_delta
        return out


def _grid_default(name: str) -> Any:
    from wgf.grids import make_grid

    return _signature_default(make_grid, name)


def _solve_default(name: str) -> Any:
    from wgf.grids import solve

    return _signature_default(solve, name)


@_section("pde", "the mean-field PDE on a grid (docs/pde.md)")
class PdeSettings(Section):
    space: str = setting(_grid_default("space"), check=_choice(("full", "fixed")), choices=("full", "fixed"),
                         type="string", doc="the grid on Z (full, D <= 4) or on E^G (fixed: SI start, projected noise)")
    cells: tuple = setting((_grid_default("cells"),), check=_int_or_list, type="integer or list of integers",
                           doc="cells per axis (one value for every axis, or one per axis)")
    half_width: float | None = setting(_grid_default("half_width"), check=_pos, type="number",
                                       doc="the box [-w, w]^m (or give bounds)")
    bounds: tuple | None = setting(None, check=_bounds, type="list of [low, high] pairs",
                                   doc="the box per axis (one pair for every axis, or one per axis) instead of "
                                       "half_width")
    method: str = setting(_solve_default("method"), check=_choice(("auto", "implicit", "split", "explicit")),
                          choices=("auto", "implicit", "split", "explicit"), type="string",
                          doc="time integrator: auto takes the cheaper at this accuracy (docs/pde.md)")
    tolerance: float = setting(_solve_default("tol"), check=_pos, type="number", doc="local error per implicit step")
    flux: str = setting(_solve_default("flux"), check=_choice(("sg", "cch")), choices=("sg", "cch"), type="string",
                        doc="face flux: sg (Scharfetter-Gummel, first order at high cell Peclet numbers) or cch "
                            "(Carrillo-Chertock-Huang, second order there, SSP-RK3 only) (docs/pde.md, \"Space\")")

    @classmethod
    def _given_rules(cls, pde):
        _either(cls.section, pde, "half_width", "bounds")
        if pde.get("flux") == "cch" and pde.get("method") in ("implicit", "split"):
            raise ConfigError("[pde] method: flux = \"cch\" is integrated explicitly only; use method = \"explicit\" "
                              "or \"auto\" (docs/pde.md)")

    def axes(self, problem: Problem) -> int:
        """Number of grid axes m: D on the full space, dim E^G on the fixed subspace."""
        return problem.dim if self.space == "full" else problem.symmetry.dim_fixed

    def cells_per_axis(self, problem: Problem) -> tuple[int, ...]:
        m = self.axes(problem)
        return tuple(self.cells) * m if len(self.cells) == 1 else tuple(self.cells)

    def box(self, problem: Problem) -> tuple[tuple[float, float], ...]:
        m = self.axes(problem)
        if self.bounds is not None:
            return tuple(self.bounds) * (m if len(self.bounds) == 1 else 1)
        return ((-self.half_width, self.half_width),) * m

    def make_grid(self, problem: Problem) -> Grid:
        """The grid this section describes (``wgf.grids.make_grid``)."""
        from wgf.grids import make_grid

        half_width = _grid_default("half_width") if self.half_width is None else self.half_width
        return make_grid(problem, self.space, self.cells, half_width, self.bounds)

    def check(self, problem: Problem) -> None:
        """The grid is possible for ``problem`` and resolves and holds the initial density N(0, sigma^2):
        sigma > 0, a cell width h <= 2 sigma and at least sigma on each side of 0."""
        space, m = self.space, self.axes(problem)
        if m > 4:
            raise ConfigError(f"[pde] space: a '{space}' grid would have {m} axes; grids have at most 4")
        if space == "full" and problem.init == "si" and problem.symmetry.dim_fixed < problem.dim:
            raise ConfigError(
                "[pde] space: an SI start is singular on a full-space grid; use space = \"fixed\" or init = \"wi\""
            )
        if space == "fixed" and not problem.stays_in_fixed_subspace:
            raise ConfigError(
                f"[pde] space: the flow is not known to stay in E^G ({problem.fixed_subspace.reason}); "
                "use space = \"full\""
            )
        if space == "fixed" and problem.init != "si":
            raise ConfigError("[pde] space: a grid on E^G needs init = \"si\"")
        for key in ("cells", "bounds"):
            value = getattr(self, key)
            if value is not None and len(value) not in (1, m):
                raise ConfigError(f"[pde] {key}: give 1 or {m} values (one per grid axis), got {len(value)}")
        sigma = problem.init_std
        if not (sigma > 0 and math.isfinite(sigma)):
            raise ConfigError(f"[training] init_std: a grid needs an initial density of positive width, got {sigma!r}")
        key = "half_width" if self.bounds is None else "bounds"
        for (lo, hi), n in zip(self.box(problem), self.cells_per_axis(problem)):
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ConfigError(f"[pde] {key}: need finite lo < hi, got ({lo!r}, {hi!r})")
            if lo > -sigma or hi < sigma:
                raise ConfigError(f"[pde] {key}: the box ({lo:.3g}, {hi:.3g}) cuts the initial density "
                                  f"(init_std = {sigma:.3g}) short: it must reach at least -init_std and +init_std")
            h = (hi - lo) / n
            if h > 2 * sigma:
                raise ConfigError(f"[pde] {key}: cell width {h:.3g} cannot resolve the initial density "
                                  f"(init_std = {sigma:.3g}): use more cells or a smaller box (h <= 2 init_std)")


def _minimizer_default(name: str) -> Any:
    from wgf.grids import minimize_free_energy

    return _signature_default(minimize_free_energy, name)


@_section("minimizer", "the minimizer of the free energy F on the [pde] grid, the flow's limit (docs/pde.md, "
                       "\"The minimizer\"); needs [pde] and beta > 0")
class MinimizerSettings(Section):
    tolerance: float = setting(_minimizer_default("tol"), check=_pos, type="number",
                               doc="the residual ||G(rho) - rho||_1 at which the fixed point is returned")
    max_iterations: int = setting(_minimizer_default("max_iterations"), check=_pos_int, type="integer",
                                  doc="Newton iterations allowed over all temperature stages")

    def check(self, problem: Problem) -> None:
        """The free energy has a unique minimizer: beta > 0."""
        if not problem.beta > 0:
            raise ConfigError(f"[training] beta: the minimizer needs beta > 0 (F strictly convex), got {problem.beta!r}")


# the most SGD steps a run may take (about 3 h at 1e5 steps/s): beyond, t_end, N or alpha is a typo
MAX_STEPS = 1e9
# the most diagnostics records a run may take (each costs a risk evaluation over the data)
MAX_RECORDS = 100_000


def _simulate_default(name: str) -> Any:
    from wgf.particles import engine

    return engine.DEFAULT_ALPHA if name == "alpha" else _signature_default(engine.simulate, name)


@_section("particles", "the N-particle noisy SGD (docs/theory.md §5)")
class ParticleSettings(Section):
    """[particles]: particle counts, seeds 0..seeds-1, eps = alpha / N or step, minibatch size."""

    n: tuple = setting((100, 1000, 10000), check=_int_or_list, type="integer or list of integers",
                       doc="particle counts N")
    seeds: int = setting(4, check=_pos_int, type="integer", doc="runs per N, seeds 0 .. seeds - 1")
    alpha: float | None = setting(_simulate_default("alpha"), check=_pos, type="number",
                                  doc="step eps = alpha / N (or give step)")
    step: float | None = setting(None, check=_pos, type="number", doc="a fixed step eps instead of alpha / N")
    batch: int = setting(_simulate_default("batch"), check=_pos_int, type="integer", doc="minibatch size B")
    record_every: int | None = setting(None, check=_pos_int, type="integer",
                                       doc="SGD steps between diagnostics records",
                                       default_doc="per N, within the diagnostics budget (docs/outputs.md): at "
                                                   "least ceil(steps / 100), at most 101 records per run")

    @classmethod
    def _given_rules(cls, p):
        _either(cls.section, p, "alpha", "step", " (eps = alpha / N)")

    def eps(self, n: int) -> float:
        """The SGD step at N = n."""
        return self.step if self.alpha is None else self.alpha / n

    def check(self, problem: Problem) -> None:
        """Every snapshot interval holds at least one SGD step, eps <= t_end / (snapshots - 1); a run takes at
        most MAX_STEPS steps and MAX_RECORDS diagnostics records."""
        spacing = problem.t_end / (problem.snapshots - 1)
        key = "step" if self.alpha is None else "alpha"
        for n in self.n:
            eps = self.eps(n)
            if problem.t_end / eps > MAX_STEPS:
                raise ConfigError(f"[particles] {key}: t_end / eps = {problem.t_end / eps:.3g} SGD steps at N = {n}, "
                                  f"more than {MAX_STEPS:.0e}: raise alpha/step or lower t_end")
            if eps > spacing:
                raise ConfigError(f"[particles] {key}: the step eps = {eps:.3g} at N = {n} exceeds the snapshot "
                                  f"spacing t_end / (snapshots - 1) = {spacing:.3g}: no SGD step between snapshots "
                                  "(raise N or t_end, or lower alpha/step)")
            if self.record_every is not None and problem.t_end / eps / self.record_every > MAX_RECORDS:
                raise ConfigError(f"[particles] record_every: {self.record_every} gives "
                                  f"{problem.t_end / eps / self.record_every:.3g} records at N = {n}, more than "
                                  f"{MAX_RECORDS}: raise record_every")


def _metric_names():
    from wgf.validation.comparison import DEFAULT_METRICS

    return DEFAULT_METRICS


def _fluctuation_names(s, k, v):
    """A list of distinct names of ``wgf.validation.FLUCTUATIONS`` (an empty list: none)."""
    from wgf.validation.fluctuations import FLUCTUATIONS

    if not isinstance(v, list):
        raise ConfigError(f"{where(s, k)}: expected a list of test function names ({', '.join(FLUCTUATIONS)})")
    for name in v:
        if not isinstance(name, str) or name not in FLUCTUATIONS:
            raise ConfigError(f"{where(s, k)}: unknown test function {name!r} (choose from "
                              f"{', '.join(FLUCTUATIONS)})")
        if v.count(name) > 1:
            raise ConfigError(f"{where(s, k)}: {name!r} is given twice")
    return tuple(v)


def _fluctuation_choices():
    from wgf.validation.fluctuations import FLUCTUATIONS

    return FLUCTUATIONS


@_section("compare", "particles against the PDE density, rates and floors (docs/theory.md §6); needs [pde] "
                     "and [particles]")
class CompareSettings(Section):
    metrics: tuple = setting(_metric_names(), check=_names(METRICS), choices=METRICS, type="list of strings",
                             doc="the distances computed per (N, seed, snapshot)")
    bandwidth: float | None = setting(None, check=_pos, type="number", doc="the Gaussian kernel of mmd",
                                      default_doc="[training] init_std")
    fluctuations: tuple | None = setting(None, check=_fluctuation_names, choices=_fluctuation_choices(),
                                         type="list of strings",
                                         doc="test functions f whose N Var_seeds <f, nu^N_t> is written per N and "
                                             "snapshot with its 95% chi-square interval and predicted limit "
                                             "(/fluctuations, docs/theory.md §11); needs [particles] seeds >= 2",
                                         default_doc="none: no /fluctuations")

    def resolved(self, problem: Problem | None = None) -> dict[str, Any]:
        out = super().resolved()
        if problem is not None and self.bandwidth is None:
            out["bandwidth"] = float(problem.init_std)
        return out

    def check_particles(self, particles: ParticleSettings) -> None:
        """N Var over seeds needs at least 2 seeds per N."""
        if self.fluctuations and particles.seeds < 2:
            raise ConfigError(f"[compare] fluctuations: N Var over seeds needs [particles] seeds >= 2, got "
                              f"{particles.seeds}")


def _discover_default(name: str) -> Any:
    from wgf.discovery import discover

    return _signature_default(discover, name)


@_section("discover", "architecture discovery (wgf discover; docs/theory.md §8)")
class DiscoverSettings(Section):
    gradient: str = setting(_discover_default("gradient"), check=_choice(GRADIENTS), choices=GRADIENTS,
                            type="string",
                            doc="the expected gradient on the quadrature (exact) or noisy minibatch SGD")
    n: int = setting(_discover_default("n"), check=_pos_int, type="integer", doc="particles per replica")
    replicas: int | None = setting(None, check=_pos_int, type="integer",
                                   doc="independent runs pooled per round",
                                   default_doc="1 with the exact gradient, 4 with minibatches")
    round_time: float | None = setting(None, check=_pos, type="number", doc="mean-field time per round (or steps)",
                                       default_doc="10.0 unless steps is given")
    steps: int | None = setting(None, check=_pos_int, type="integer", doc="SGD steps per round instead of round_time")
    alpha: float | None = setting(None, check=_pos, type="number", doc="step eps = alpha / n (or give step)",
                                  default_doc="50.0 unless step is given")
    step: float | None = setting(None, check=_pos, type="number", doc="a fixed step eps instead of alpha / n")
    batch: int | None = setting(None, check=_pos_int, type="integer", doc="minibatch size (gradient = minibatch only)",
                                default_doc="20 with minibatches")
    delta: float | None = setting(None, check=_fraction(0.5), type="number", doc="stop threshold on RMD^2",
                                  default_doc="1e-10 exact, 0.1 eps / batch with minibatches")
    max_dim: int | None = setting(None, check=_pos_int, type="integer", doc="the largest subspace tried",
                                  default_doc="D")
    pca_ratio: float = setting(_discover_default("pca_ratio"), check=_fraction(1.0, closed=True), type="number",
                               doc="mean residual below this fraction of the rms: the top principal direction")
    seed: int = setting(_discover_default("seed"), check=_nonneg_int, type="integer", doc="seed of the first round")

    @classmethod
    def _given_rules(cls, d):
        for a, b in (("alpha", "step"), ("round_time", "steps")):
            _either(cls.section, d, a, b)
        if "batch" in d and not GRADIENTS[d.get("gradient", cls.default("gradient"))].batched:
            raise ConfigError("[discover] batch: only used with gradient = " +
                              " or ".join(f'"{g}"' for g in GRADIENTS.where(batched=True)))

    def arguments(self) -> dict[str, Any]:
        """The keyword arguments of ``wgf.discovery.discover`` this section gives (None: its default)."""
        out = {k: getattr(self, k) for k in self.keys()}
        if out["batch"] is None:
            out["batch"] = _discover_default("batch")
        return out

    def resolved(self, problem: Problem | None = None) -> dict[str, Any]:
        from wgf.discovery import DEFAULT_ALPHA as DEFAULT_DISCOVER_ALPHA
        from wgf.discovery import DEFAULT_ROUND_TIME, default_delta, default_replicas

        out = super().resolved()
        out["replicas"] = self.replicas or default_replicas(self.gradient)
        if self.step is None:
            out["alpha"] = DEFAULT_DISCOVER_ALPHA if self.alpha is None else self.alpha
        if self.steps is None:
            out["round_time"] = DEFAULT_ROUND_TIME if self.round_time is None else self.round_time
        batch = self.batch or _discover_default("batch")
        if GRADIENTS[self.gradient].batched:
            out["batch"] = batch
        if problem is not None:
            eps = self.step if self.step is not None else out["alpha"] / self.n
            out["delta"] = self.delta if self.delta is not None else default_delta(self.gradient, eps, batch)
            out["max_dim"] = self.max_dim or problem.dim
        return out

    def check(self, problem: Problem) -> None:
        """Memory for n particles x replicas (``wgf.plan.particle_run_bytes`` per replica; the exact gradient's
        batch is the quadrature), at most MAX_STEPS steps per round, max_dim <= D."""
        from wgf.plan import particle_run_bytes
        from wgf.resources import ResourceError, check_bytes

        r = self.resolved()
        n, replicas, batch = self.n, r["replicas"], self.batch or _discover_default("batch")
        exact = not GRADIENTS[self.gradient].batched
        samples = len(problem.quadrature.weights) if exact else batch
        try:
            check_bytes(f"[discover] n = {n} x replicas = {replicas} ({'quadrature of' if exact else 'batch'} "
                        f"{samples}, D = {problem.dim})",
                        replicas * particle_run_bytes(problem, n, samples, exact=exact))
        except ResourceError as e:
            raise ConfigError(str(e)) from None
        eps = self.step if self.step is not None else r["alpha"] / n
        steps = self.steps if self.steps is not None else r["round_time"] / eps
        if steps * replicas > MAX_STEPS:
            raise ConfigError(f"[discover] steps: {steps * replicas:.3g} SGD steps per round, more than "
                              f"{MAX_STEPS:.0e}: lower round_time/steps or raise alpha/step")
        if (self.max_dim or 0) > problem.dim:
            raise ConfigError(f"[discover] max_dim: must be <= D = {problem.dim}, got {self.max_dim}")


# section name -> class, in the order a config is written
SECTIONS: dict[str, type[Section]] = {cls.section: cls for cls in (
    RootSettings, ModelSettings, GroupSettings, DataSettings, TrainingSettings, PdeSettings, MinimizerSettings,
    ParticleSettings, CompareSettings, DiscoverSettings)}


def all_keys() -> list[tuple[type[Section], str, Key]]:
    """Every (section class, key, Key) of every section, in the order a config is written."""
    return [(cls, name, key) for cls in SECTIONS.values() for name, key in cls.keys().items()]


def find_key(dotted: str) -> tuple[type[Section], str, Key]:
    """The key ``section.key`` (or a root key such as ``title``); ConfigError naming what is known."""
    section, dot, key = dotted.rpartition(".")
    if not key or (dot and not section) or section.count("."):
        raise ConfigError(f"config key {dotted!r}: expected section.key (e.g. pde.cells) or a root key (title)")
    if not dot and key in SECTIONS and key not in RootSettings.keys():
        listed = ", ".join(f"{key}.{k}" for k in SECTIONS[key].keys())
        raise ConfigError(f"{dotted!r} is a section: its keys are {listed}")
    if section not in SECTIONS:
        raise ConfigError(f"unknown section '{section}' (known: {', '.join(s for s in SECTIONS if s)})")
    keys = SECTIONS[section].keys()
    if key not in keys:
        raise ConfigError(f"{where(section, key)}: unknown key (known: {', '.join(keys)})")
    return SECTIONS[section], key, keys[key]


def describe(cls: type[Section], name: str) -> dict[str, Any]:
    """One key as data: ``key`` (section.key), ``type``, ``default`` (None when required or unset; lists
    for tuples), ``choices`` (list or None), ``doc`` (with the rule of a default that depends on others)."""
    key = cls.keys()[name]
    default = cls.default(name)
    if isinstance(default, tuple):
        default = list(default)
    doc = key.doc + (f" (default: {key.default_doc})" if key.default_doc else "")
    return {"key": f"{cls.section}.{name}" if cls.section else name, "type": key.type, "default": default,
            "required": name in cls.required(), "choices": list(key.choices) if key.choices is not None else None,
            "doc": doc}


def _shown(value: Any) -> str:
    """A value as TOML shows it."""
    from wgf.config import _toml_value

    return _toml_value(value)


def key_line(item: dict[str, Any]) -> str:
    """``section.key  type  default  choices  doc`` on one line (``wgf config``)."""
    default = "required" if item["required"] else ("-" if item["default"] is None else _shown(item["default"]))
    choices = " | ".join(item["choices"]) if item["choices"] else ""
    return f"{item['key']:<27} {item['type']:<28} {default:<16} {choices + '  ' if choices else ''}{item['doc']}"


def markdown_table(section: type[Section]) -> str:
    """The keys of ``section`` as a Markdown table: key | type | default | allowed values | meaning."""
    rows = ["| key | type | default | allowed values | meaning |", "|---|---|---|---|---|"]
    for name in section.keys():
        item = describe(section, name)
        default = ("required" if item["required"]
                   else "—" if item["default"] is None else f"`{_shown(item['default'])}`")
        choices = ", ".join(f"`{c}`" for c in item["choices"]) if item["choices"] else ""
        rows.append(f"| `{name}` | {item['type']} | {default} | {choices} | {markdown_cell(item['doc'])} |")
    return "\n".join(rows)


def config_block() -> str:
    """A TOML block of every key with its default (keys without one commented out) and its doc, the
    README's config block."""
    lines = []
    for cls in SECTIONS.values():
        if cls.section:
            lines += ["", f"[{cls.section}]"]
        for name in cls.keys():
            item = describe(cls, name)
            if item["required"] or item["default"] is None:
                left = f"# {name} = ..."
            else:
                left = f"{name} = {_shown(item['default'])}"
            note = ("required: " if item["required"] else "") + item["doc"]
            if item["choices"]:
                note += ": " + " | ".join(item["choices"])
            lines.append(f"{left:<34} # {note}")
    return "\n".join(lines).lstrip("\n") + "\n"


# ----------------------------------------------------------------- generated documentation
CONFIG_DOC_INTRO = """\
# Config keys

Every key of a wgf config, generated from the typed settings (`wgf.settings`): its type, default
(or "required"), allowed values and meaning. `wgf config` prints the same table, `wgf config KEY`
one key and `wgf config --json` a JSON list. A key whose default depends on other keys says so in
its meaning. Every bad key or value is refused with one line naming it (exit code 2) before any work
starts; `--set section.key=value` overrides one value (a declared key, written without spaces; one
TOML value such as `1e-3`, `"fa"` or `[10, 100]`, or a bare word read as a string, with nothing after
it; each key at most once; a section is never replaced whole, its keys are set one by one), and
`--dry-run` prints the plan of a config without writing anything. The results file records the
config as written (root attribute `config`) and the value used for every key (root attribute
`resolved_config`, defaults included).
"""


def config_docs() -> str:
    """docs/config.md: the introduction and one table per section."""
    parts = [CONFIG_DOC_INTRO]
    for cls in SECTIONS.values():
        title = f"[{cls.section}]" if cls.section else "Root keys"
        parts.append(f"## {title}\n\n{cls.doc[0].upper() + cls.doc[1:]}.\n\n{markdown_table(cls)}\n")
        for name, key in cls.keys().items():  # the named things a key chooses from, from their registries
            if isinstance(key.choices, Registry):
                parts.append(f"`{name}` ({key.choices.doc}):\n\n{key.choices.table()}\n")
    return "\n".join(parts)


README_MARKERS = ("<!-- config-block: generated by `python -m wgf.settings` -->", "<!-- /config-block -->")


def readme_with_config_block(readme: str) -> str:
    """``readme`` with the text between README_MARKERS replaced by the generated config block."""
    start, end = README_MARKERS
    i, j = readme.index(start) + len(start), readme.index(end)
    return readme[:i] + "\n```toml\n" + config_block() + "```\n" + readme[j:]


def write_docs(root: str = ".") -> list[str]:
    """Write docs/config.md and the README's config block under ``root``; returns the files changed."""
    from pathlib import Path

    changed = []
    page = Path(root) / "docs" / "config.md"
    if not page.exists() or page.read_text() != config_docs():
        page.write_text(config_docs())
        changed.append(str(page))
    readme = Path(root) / "README.md"
    text = readme.read_text()
    if readme_with_config_block(text) != text:
        readme.write_text(readme_with_config_block(text))
        changed.append(str(readme))
    return changed


if __name__ == "__main__":  # python -m wgf.settings: regenerate docs/config.md and the README's config block
    for path in write_docs():
        print(f"wrote {path}")
