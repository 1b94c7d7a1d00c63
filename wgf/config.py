"""Experiment configs (TOML, docs/theory.md §10): parsing and validation.

``load_config(path)`` returns an ``Experiment`` whose ``problem`` carries the
four problem sections ([model] [group] [data] [training]); the optional
sections [pde], [particles], [compare] and [discover] are kept as validated settings.
Every bad value raises ``ConfigError`` with one line naming the key.
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
import tomllib
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from wgf.data import TEACHER_KINDS, EmpiricalData, GaussianTeacherData, load_dataset, make_teacher
from wgf.discovery import GRADIENTS
from wgf.groups import COMPACT_GROUPS, GROUP_NAMES, GROUPS, FiniteGroup, group_from_name
from wgf.problem import INITS, NOISES, Problem
from wgf.resources import ResourceError, check_bytes, check_experiment, quadrature_bytes
from wgf.schemes import DA_MODES, SCHEMES
from wgf.symmetry import NotEquivariantError, Symmetry
from wgf.activations import ACTIVATIONS
from wgf.losses import LOSSES, make_loss
from wgf.schedules import SCHEDULES, make_schedule
from wgf.units import UNIT_ALIASES, UNIT_NAMES, UNITS, make_unit

if TYPE_CHECKING:
    from collections.abc import Iterable

    from wgf._typing import PathLike

__all__ = ["ConfigError", "Experiment", "ParticleSettings", "load_config", "parse_config", "METRICS"]

METRICS = ("mmd", "energy", "w2", "sliced_w2", "output_l2", "risk_gap", "moments")


class ConfigError(ValueError):
    """A config value is missing, unknown, of the wrong type or impossible. The message names the key."""


# ----------------------------------------------------------------- checkers
def _where(section, key):
    return f"[{section}] {key}" if section else key


# integers (counts, sizes, seeds) up to 2^53 (exact in float64, fit in int64); real numbers between
# 1e-100 and 1e100 in magnitude (or 0): beyond, every quantity of the model overflows or underflows
MAX_INTEGER = 2**53
MIN_MAGNITUDE, MAX_MAGNITUDE = 1e-100, 1e100


def _number(section, key, v, *, low=None, low_open=False, integer=False):
    where = _where(section, key)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"{where}: expected a {'integer' if integer else 'number'}, got {v!r}")
    if integer and not isinstance(v, int):
        raise ConfigError(f"{where}: expected an integer, got {v!r}")
    if integer and abs(v) > MAX_INTEGER:
        raise ConfigError(f"{where}: {v} is out of range (at most {MAX_INTEGER})")
    if not math.isfinite(v):
        raise ConfigError(f"{where}: must be finite, got {v!r}")
    if not integer and v != 0 and not (MIN_MAGNITUDE <= abs(v) <= MAX_MAGNITUDE):
        raise ConfigError(f"{where}: {v!r} is out of range (magnitudes from {MIN_MAGNITUDE:g} to {MAX_MAGNITUDE:g})")
    if low is not None and (v <= low if low_open else v < low):
        raise ConfigError(f"{where}: must be {'>' if low_open else '>='} {low}, got {v!r}")
    return v


# Gauss-Hermite rules beyond this many nodes per axis lose their weights to overflow (NaN)
MAX_QUADRATURE_POINTS = 200


def _bounded_int(s, k, v, high):
    v = _pos_int(s, k, v)
    if v > high:
        raise ConfigError(f"{_where(s, k)}: at most {high}, got {v}")
    return v


def _pos_int(s, k, v):
    return _number(s, k, v, low=1, integer=True)


def _pos(s, k, v):
    return float(_number(s, k, v, low=0, low_open=True))


def _nonneg(s, k, v):
    return float(_number(s, k, v, low=0))


def _choice(options):
    def check(s, k, v):
        if not isinstance(v, str) or v not in options:
            raise ConfigError(f"{_where(s, k)}: expected one of {', '.join(options)}, got {v!r}")
        return v

    return check


def _fraction(s, k, v, high, closed=False):
    """A number in [0, high) ([0, high] when closed)."""
    v = float(_number(s, k, v, low=0))
    if v > high or (v == high and not closed):
        raise ConfigError(f"{_where(s, k)}: must be {'<=' if closed else '<'} {high}, got {v!r}")
    return v


def _string(s, k, v):
    if not isinstance(v, str):
        raise ConfigError(f"{_where(s, k)}: expected a string, got {v!r}")
    if any(ord(c) < 32 and c not in "\t" for c in v) or len(v) > 4096:
        raise ConfigError(f"{_where(s, k)}: control characters (or more than 4096 characters) are not allowed")
    return v


def _matrix_list(s, k, v):
    try:
        arr = np.array(v, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(f"{_where(s, k)}: expected a list of square matrices") from None
    if arr.ndim != 3 or arr.shape[1] != arr.shape[2] or arr.shape[0] == 0:
        raise ConfigError(f"{_where(s, k)}: expected a list of square matrices, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ConfigError(f"{_where(s, k)}: entries must be finite")
    return arr


def _particles_list(s, k, v):
    if not isinstance(v, list) or not v or not all(isinstance(r, list) for r in v):
        raise ConfigError(f"{_where(s, k)}: expected a nonempty list of particles (lists of numbers)")
    for j, row in enumerate(v):
        for x in row:
            if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x):
                raise ConfigError(f"{_where(s, k)}: particle {j} has a non-finite or non-numeric entry {x!r}")
    return v


def _int_or_list(s, k, v):
    vals = v if isinstance(v, list) else [v]
    if not vals:
        raise ConfigError(f"{_where(s, k)}: expected a positive integer or a nonempty list of them")
    return tuple(_pos_int(s, k, x) for x in vals)


def _bounds(s, k, v):
    if not isinstance(v, list) or not v:
        raise ConfigError(f"{_where(s, k)}: expected a list of [low, high] pairs")
    out = []
    for pair in v:
        if not isinstance(pair, list) or len(pair) != 2:
            raise ConfigError(f"{_where(s, k)}: expected a list of [low, high] pairs, got {pair!r}")
        lo, hi = (float(_number(s, k, x)) for x in pair)
        if not lo < hi:
            raise ConfigError(f"{_where(s, k)}: need low < high, got {pair!r}")
        out.append((lo, hi))
    return tuple(out)


def _metrics(s, k, v):
    if not isinstance(v, list) or not v:
        raise ConfigError(f"{_where(s, k)}: expected a nonempty list of metric names")
    for m in v:
        if m not in METRICS:
            raise ConfigError(f"{_where(s, k)}: unknown metric {m!r} (choose from {', '.join(METRICS)})")
    return tuple(v)


SCHEMA = {
    "": {"title": _string},
    "model": {"unit": _choice(UNIT_NAMES), "dim_x": _pos_int, "dim_y": _pos_int, "hidden": _pos_int,
              "activation": _choice(tuple(ACTIVATIONS))},
    "group": {"name": _choice(tuple(GROUP_NAMES)), "generators_x": _matrix_list, "generators_y": _matrix_list,
              "haar_points": _pos_int},
    "data": {
        "x_std": _pos,
        "teacher": _choice(TEACHER_KINDS),
        "teacher_particles": _particles_list,
        "label_noise": _nonneg,
        "quadrature_points": lambda s, k, v: _bounded_int(s, k, v, MAX_QUADRATURE_POINTS),
        "dataset": _string,
    },
    "training": {
        "scheme": _choice(SCHEMES),
        "da_mode": _choice(DA_MODES),
        "tau": _nonneg,
        "beta": _nonneg,
        "init": _choice(INITS),
        "init_std": _nonneg,
        "noise": _choice(NOISES),
        "t_end": _pos,
        "snapshots": lambda s, k, v: _number(s, k, v, low=2, integer=True),
        "loss": _choice(LOSSES),
        "huber_delta": _pos,
        "schedule": _choice(SCHEDULES),
        "schedule_t0": _pos,
    },
    "pde": {
        "space": _choice(("full", "fixed")),
        "cells": _int_or_list,
        "half_width": _pos,
        "bounds": _bounds,
        "method": _choice(("auto", "implicit", "explicit")),
        "tolerance": _pos,
    },
    "particles": {"n": _int_or_list, "seeds": _pos_int, "alpha": _pos, "step": _pos, "batch": _pos_int,
                  "record_every": _pos_int},
    "compare": {"metrics": _metrics, "bandwidth": _pos},
    "discover": {
        "n": _pos_int,
        "replicas": _pos_int,
        "round_time": _pos,
        "steps": _pos_int,
        "gradient": _choice(GRADIENTS),
        "alpha": _pos,
        "step": _pos,
        "batch": _pos_int,
        "delta": lambda s, k, v: _fraction(s, k, v, 0.5),
        "max_dim": _pos_int,
        "seed": lambda s, k, v: _number(s, k, v, low=0, integer=True),
        "pca_ratio": lambda s, k, v: _fraction(s, k, v, 1.0, closed=True),
    },
}

REQUIRED = {"model": ("unit", "dim_x", "dim_y")}


@dataclass(frozen=True)
class ParticleSettings:
    """[particles]: particle counts, seeds 0..seeds-1, eps = alpha / N or step, minibatch size."""

    n: tuple = (100, 1000, 10000)
    seeds: int = 4
    alpha: float | None = 50.0
    step: float | None = None
    batch: int = 20
    record_every: int | None = None  # steps between diagnostics records; default: about DEFAULT_RECORDS per run


@dataclass(frozen=True)
class Experiment:
    """A parsed config: the problem and the sections to run."""

    problem: Problem
    title: str = ""
    particles: ParticleSettings | None = None
    pde: dict | None = None
    compare: dict | None = None
    text: str = ""
    path: Path | None = field(default=None, compare=False)
    discover: dict | None = None

    # (text, base folder) when this object is what parsing that text gave (set by ``parse_config``); an
    # experiment changed afterwards (``dataclasses.replace``) or built in Python has none
    origin: tuple | None = field(default=None, init=False, compare=False, repr=False)

    def __reduce__(self):
        """Pickled as its config text when it is what that text parses to: parsed again where it is unpickled
        (a worker process builds its own data and kernels); any other experiment, built in Python or changed
        after parsing, is pickled field by field, so that a worker runs exactly this one."""
        if self.origin is not None and self.origin[0] == self.text:
            return _from_text, (*self.origin, None if self.path is None else str(self.path))
        return Experiment, (self.problem, self.title, self.particles, self.pde, self.compare, self.text, self.path,
                            self.discover)

    def fingerprint(self) -> str:
        """What identifies the experiment in its results file (a resume must match it): its config text, or
        for an experiment with none, a digest of its pickled fields."""
        if self.text:
            return self.text
        fields = (self.problem, self.title, self.particles, self.pde, self.compare, self.discover)
        return "experiment built in Python, sha256 " + hashlib.sha256(pickle.dumps(fields)).hexdigest()


def _parsed(exp: Experiment, base_dir: Path | None) -> Experiment:
    """``exp`` marked as what parsing its text (relative paths beside ``base_dir``) gives."""
    object.__setattr__(exp, "origin", (exp.text, None if base_dir is None else str(Path(base_dir).resolve())))
    return exp


def _from_text(text: str, base_dir: str | None, path: str | None) -> Experiment:
    """The experiment of config ``text``, relative paths resolved in ``base_dir``, read from ``path``."""
    exp = parse_config(text, None if base_dir is None else Path(base_dir))
    return exp if path is None else _parsed(replace(exp, path=Path(path)), base_dir)


def _validated(raw: dict) -> dict:
    out = {}
    top = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    for key, value in top.items():
        if key not in SCHEMA[""]:
            raise ConfigError(f"unknown top-level key '{key}' (known: {', '.join(SCHEMA[''])})")
    out[""] = {k: SCHEMA[""][k]("", k, v) for k, v in top.items()}
    for section, table in raw.items():
        if not isinstance(table, dict):
            continue
        if section not in SCHEMA or section == "":
            known = ", ".join(f"[{s}]" for s in SCHEMA if s)
            raise ConfigError(f"unknown section [{section}] (known: {known})")
        checked = {}
        for key, value in table.items():
            if isinstance(value, dict):
                raise ConfigError(f"[{section}] {key}: unexpected sub-table")
            if key not in SCHEMA[section]:
                raise ConfigError(f"[{section}] unknown key '{key}' (known: {', '.join(SCHEMA[section])})")
            checked[key] = SCHEMA[section][key](section, key, value)
        out[section] = checked
    for section, keys in REQUIRED.items():
        for key in keys:
            if key not in out.get(section, {}):
                raise ConfigError(f"[{section}] {key}: missing (required)")
    return out


def _group(cfg, dim_x, dim_y) -> FiniteGroup:
    g = cfg.get("group", {})
    if "generators_x" in g or "generators_y" in g:
        if "name" in g:
            raise ConfigError("[group] name: give either a name or generators_x/generators_y, not both")
        if "generators_x" not in g or "generators_y" not in g:
            raise ConfigError("[group] generators_y: generators_x and generators_y must be given together")
        gx, gy = g["generators_x"], g["generators_y"]
        if gx.shape[1] != dim_x:
            raise ConfigError(f"[group] generators_x: matrices must be {dim_x} x {dim_x} (dim_x)")
        if gy.shape[1] != dim_y:
            raise ConfigError(f"[group] generators_y: matrices must be {dim_y} x {dim_y} (dim_y)")
        try:
            return FiniteGroup.from_generators(gx, gy)
        except ValueError as e:
            raise ConfigError(f"[group] generators_x: {e}") from None
    name = g.get("name", "trivial")
    if "haar_points" in g and name not in COMPACT_GROUPS:
        raise ConfigError(f"[group] haar_points: only used by the compact groups ({', '.join(COMPACT_GROUPS)})")
    try:
        return group_from_name(name, dim_x, dim_y, g.get("haar_points"))
    except ValueError as e:
        key = "haar_points" if "haar_points" in str(e) else "name"
        raise ConfigError(f"[group] {key}: {e}") from None


def _data(cfg, symmetry, base_dir):
    d = cfg.get("data", {})
    unit = symmetry.unit
    if "dataset" in d:
        for key in ("teacher", "teacher_particles", "x_std", "label_noise"):
            if key in d:
                raise ConfigError(f"[data] {key}: not used with a dataset (remove it or the dataset)")
        path = Path(d["dataset"])
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        try:
            x, y = load_dataset(path)
        except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile) as e:
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ConfigError(f"[data] dataset: cannot read '{path}': {reason}") from None
        if x.shape[1] != unit.dim_x or y.shape[1] != unit.dim_y:
            raise ConfigError(
                f"[data] dataset: arrays have dim_x = {x.shape[1]}, dim_y = {y.shape[1]}; "
                f"[model] says {unit.dim_x}, {unit.dim_y}"
            )
        return EmpiricalData(x, y)
    if "teacher_particles" not in d:
        raise ConfigError("[data] teacher_particles: missing (required unless a dataset is given)")
    rows = d["teacher_particles"]
    for j, row in enumerate(rows):
        if len(row) != unit.dim:
            raise ConfigError(
                f"[data] teacher_particles: particle {j} has {len(row)} numbers, the unit "
                f"'{unit.name}' has D = {unit.dim} parameters"
            )
    kind = d.get("teacher", "arbitrary")
    teacher = make_teacher(kind, np.array(rows, dtype=float), symmetry)
    return GaussianTeacherData(unit, teacher, d.get("x_std", 4.0), d.get("label_noise", 0.0), kind)


# the most SGD steps a run may take (about 3 h at 1e5 steps/s): beyond, t_end, N or alpha is a typo
MAX_STEPS = 1e9
# the most diagnostics records a run may take (each costs a risk evaluation over the data)
MAX_RECORDS = 100_000


def _check_steps(particles, problem):
    """Every snapshot interval must hold at least one SGD step: eps <= t_end / (snapshots - 1); and a run
    takes at most MAX_STEPS steps."""
    spacing = problem.t_end / (problem.snapshots - 1)
    for n in np.atleast_1d(particles.n):
        eps = particles.step if particles.alpha is None else particles.alpha / n
        if problem.t_end / eps > MAX_STEPS:
            key = "step" if particles.alpha is None else "alpha"
            raise ConfigError(f"[particles] {key}: t_end / eps = {problem.t_end / eps:.3g} SGD steps at N = {n}, "
                              f"more than {MAX_STEPS:.0e}: raise alpha/step or lower t_end")
        if eps > spacing:
            key = "step" if particles.alpha is None else "alpha"
            raise ConfigError(f"[particles] {key}: the step eps = {eps:.3g} at N = {n} exceeds the snapshot spacing "
                              f"t_end / (snapshots - 1) = {spacing:.3g}: no SGD step between snapshots "
                              "(raise N or t_end, or lower alpha/step)")
        if particles.record_every is not None and problem.t_end / eps / particles.record_every > MAX_RECORDS:
            raise ConfigError(f"[particles] record_every: {particles.record_every} gives "
                              f"{problem.t_end / eps / particles.record_every:.3g} records at N = {n}, more than "
                              f"{MAX_RECORDS}: raise record_every")


def _check_pde(pde, problem):
    space = pde.get("space", "full")
    if "half_width" in pde and "bounds" in pde:
        raise ConfigError("[pde] bounds: give either half_width or bounds, not both")
    m = problem.dim if space == "full" else problem.symmetry.dim_fixed
    if m > 4:
        raise ConfigError(f"[pde] space: a '{space}' grid would have {m} axes; grids have at most 4")
    if space == "full" and problem.init == "si" and problem.symmetry.dim_fixed < problem.dim:
        raise ConfigError(
            "[pde] space: an SI start is singular on a full-space grid; use space = \"fixed\" or init = \"wi\""
        )
    if space == "fixed" and not problem.stays_in_fixed_subspace:
        raise ConfigError(
            "[pde] space: the flow is not known to stay in E^G (needs noise = \"projected\" and scheme "
            "da/fa/ea or an equivariant teacher); use space = \"full\""
        )
    if space == "fixed" and problem.init != "si":
        raise ConfigError("[pde] space: a grid on E^G needs init = \"si\"")
    for key in ("cells", "bounds"):
        if key in pde and len(pde[key]) not in (1, m):
            raise ConfigError(f"[pde] {key}: give 1 or {m} values (one per grid axis), got {len(pde[key])}")
    _check_geometry(pde, problem.init_std, m)


def _check_geometry(pde, sigma, m):
    """The grid must resolve and hold the initial density N(0, sigma^2) on each axis:
    sigma > 0, a cell width h <= 2 sigma and at least sigma on each side of 0."""
    if not (sigma > 0 and math.isfinite(sigma)):
        raise ConfigError(f"[training] init_std: a grid needs an initial density of positive width, got {sigma!r}")
    if "bounds" in pde:
        bounds = [tuple(b) for b in pde["bounds"]] * (m if len(pde["bounds"]) == 1 else 1)
        key = "bounds"
    else:
        w = pde.get("half_width", 2.0)
        bounds, key = [(-w, w)] * m, "half_width"
    cells = list(pde.get("cells", (64,))) * (m if len(pde.get("cells", (64,))) == 1 else 1)
    for (lo, hi), n in zip(bounds, cells):
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ConfigError(f"[pde] {key}: need finite lo < hi, got ({lo!r}, {hi!r})")
        if lo > -sigma or hi < sigma:
            raise ConfigError(f"[pde] {key}: the box ({lo:.3g}, {hi:.3g}) cuts the initial density "
                              f"(init_std = {sigma:.3g}) short: it must reach at least -init_std and +init_std")
        h = (hi - lo) / n
        if h > 2 * sigma:
            raise ConfigError(f"[pde] {key}: cell width {h:.3g} cannot resolve the initial density "
                              f"(init_std = {sigma:.3g}): use more cells or a smaller box (h <= 2 init_std)")


def _check_discover(d, problem):
    """Cross-key checks of [discover] (wgf.discovery.discover takes the section as keywords), and its sizes:
    memory for n particles x replicas, at most MAX_STEPS steps per round."""
    n, replicas = d.get("n", 500), d.get("replicas", 1 if d.get("gradient", "exact") == "exact" else 4)
    batch = d.get("batch", 20)
    try:
        check_bytes(f"[discover] n = {n} x replicas = {replicas} (D = {problem.dim})",
                    12.0 * n * replicas * problem.dim * 8 + float(batch) * (problem.base_unit.dim_x + 4) * 8
                    * max(1, -(-n // 128)))
    except ResourceError as e:
        raise ConfigError(str(e)) from None
    eps = d.get("step", d.get("alpha", 50.0) / n)
    steps = d.get("steps", d.get("round_time", 10.0) / eps)
    if steps * replicas > MAX_STEPS:
        raise ConfigError(f"[discover] steps: {steps * replicas:.3g} SGD steps per round, more than {MAX_STEPS:.0e}: "
                          "lower round_time/steps or raise alpha/step")
    for a, b in (("alpha", "step"), ("round_time", "steps")):
        if a in d and b in d:
            raise ConfigError(f"[discover] {b}: give either {a} or {b}, not both")
    if "batch" in d and d.get("gradient", "exact") != "minibatch":
        raise ConfigError("[discover] batch: only used with gradient = \"minibatch\"")
    if d.get("max_dim", 0) > problem.dim:
        raise ConfigError(f"[discover] max_dim: must be <= D = {problem.dim}, got {d['max_dim']}")


# the largest group wgf tabulates (its multiplication table has order^2 entries)
MAX_GROUP_ORDER = 1000


def _check_structure(m, g):
    """Sizes of the unit and the group, before either is built: D = dim Z and |G| (memory for the
    |G| matrices M_g of D x D, and a group small enough to tabulate)."""
    dx, dy, unit = m["dim_x"], m["dim_y"], m["unit"]
    dim = UNITS[unit].dim(dx, dy, m.get("hidden"))
    name = g.get("name", "trivial")
    # a group given by generators: its order is known only once they are closed under products
    order = 1 if "generators_x" in g else GROUPS[name].order(dx, g.get("haar_points"))
    if order > MAX_GROUP_ORDER:
        raise ConfigError(f"[group] name: '{name}' on R^{dx} has {order:.3g} elements, more than "
                          f"{MAX_GROUP_ORDER}: use a smaller dim_x")
    try:
        check_bytes(f"[model] unit '{unit}' with D = {dim} parameters under a group of {order} elements",
                    (order + 4.0) * float(dim) ** 2 * 8)
    except ResourceError as e:
        raise ConfigError(str(e)) from None


def parse_config(text: str, base_dir: Path | None = None) -> Experiment:
    """Parse and validate TOML ``text``; relative paths resolve against ``base_dir``."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"not valid TOML: {e}") from None
    cfg = _validated(raw)
    m = cfg["model"]
    if m["unit"] == "two_layer" and "hidden" not in m:
        raise ConfigError("[model] hidden: missing (required for unit two_layer)")
    if m["unit"] != "two_layer" and "hidden" in m:
        raise ConfigError(f"[model] hidden: only used by two_layer, not by {m['unit']}")
    if m["unit"] in UNIT_ALIASES and m.get("activation", UNIT_ALIASES[m["unit"]]) != UNIT_ALIASES[m["unit"]]:
        raise ConfigError(f"[model] activation: unit {m['unit']} has the {UNIT_ALIASES[m['unit']]} activation "
                          f"(use unit = \"matrix\" with activation = \"{m['activation']}\")")
    _check_structure(m, cfg.get("group", {}))
    unit = make_unit(m["unit"], m["dim_x"], m["dim_y"], m.get("hidden"),
                     None if m["unit"] in UNIT_ALIASES else m.get("activation"))
    group = _group(cfg, m["dim_x"], m["dim_y"])
    try:
        symmetry = Symmetry(unit, group)
    except NotEquivariantError as e:
        raise ConfigError(f"[group] name: {e}") from None
    data = _data(cfg, symmetry, base_dir)
    t = dict(cfg.get("training", {}))
    if "da_mode" in t and t.get("scheme", "vanilla") != "da":
        raise ConfigError("[training] da_mode: only used with scheme = \"da\"")
    if "huber_delta" in t and t.get("loss") != "huber":
        raise ConfigError("[training] huber_delta: only used with loss = \"huber\"")
    if "schedule_t0" in t and t.get("schedule") != "inverse_time":
        raise ConfigError("[training] schedule_t0: only used with schedule = \"inverse_time\"")
    if t.get("schedule") == "inverse_time" and "schedule_t0" not in t:
        raise ConfigError("[training] schedule_t0: missing (required for schedule = \"inverse_time\")")
    t["loss"] = make_loss(t.get("loss", "squared"), t.pop("huber_delta", 1.0))
    t["schedule"] = make_schedule(t.get("schedule", "constant"), t.pop("schedule_t0", None))
    q_points = cfg.get("data", {}).get("quadrature_points", 16)
    try:
        check_bytes(f"[data] quadrature_points = {q_points} (per axis, dim_x = {m['dim_x']})",
                    quadrature_bytes(q_points, m["dim_x"], m["dim_y"],
                                     group.order if t.get("scheme") == "da" else 1))
    except ResourceError as e:
        raise ConfigError(str(e)) from None
    try:
        problem = Problem(
            symmetry,
            data,
            quadrature_points=cfg.get("data", {}).get("quadrature_points", 16),
            **t,
        )
    except ValueError as e:
        raise ConfigError(f"[training] {e}") from None
    particles = None
    if "particles" in cfg:
        p = dict(cfg["particles"])
        if "alpha" in p and "step" in p:
            raise ConfigError("[particles] step: give either alpha (eps = alpha / N) or step, not both")
        if "step" in p:
            p["alpha"] = None
        particles = ParticleSettings(**p)
        _check_steps(particles, problem)
    pde = cfg.get("pde")
    if pde is not None:
        _check_pde(pde, problem)
    if "compare" in cfg and (pde is None or particles is None):
        raise ConfigError("[compare] metrics: comparing needs both a [pde] and a [particles] section")
    discover = cfg.get("discover")
    if discover is not None:
        _check_discover(discover, problem)
    exp = Experiment(problem, cfg[""].get("title", ""), particles, pde, cfg.get("compare"), text,
                     discover=discover)
    try:
        check_experiment(exp)  # memory; the disk is checked where the output is known
    except ResourceError as e:
        raise ConfigError(str(e)) from None
    return _parsed(exp, base_dir)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise ConfigError(f"cannot write {v!r} to TOML")


def dump_toml(cfg: dict) -> str:
    """TOML text of a parsed config: root keys, then one [section] per table (deeper tables inline)."""
    lines = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in cfg.items() if not isinstance(v, dict)]
    for name, table in cfg.items():
        if isinstance(table, dict):
            lines += ["", f"[{name}]"] + [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def apply_overrides(text: str, overrides: Iterable[str]) -> str:
    """The config ``text`` with each ``section.key=value`` of ``overrides`` set (value read as a TOML value,
    e.g. 1e-3, "fa", [10, 100], or else as a string; ``key=value`` sets a root key such as title).
    Returns TOML text (comments dropped), validated later by ``parse_config``."""
    overrides = list(overrides)
    if not overrides:
        return text
    try:
        cfg = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"not valid TOML: {e}") from None
    for item in overrides:
        path, sep, value = str(item).partition("=")
        keys = path.strip().split(".")
        if not sep or not all(k.strip() for k in keys) or len(keys) > 2:
            raise ConfigError(f"--set {item!r}: expected section.key=value (e.g. training.beta=1e-3)")
        try:
            parsed = tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value.strip()
        table = cfg
        if len(keys) == 2:
            table = cfg.setdefault(keys[0].strip(), {})
            if not isinstance(table, dict):
                raise ConfigError(f"--set {item!r}: {keys[0]} is a value, not a [section]")
        table[keys[-1].strip()] = parsed
    return dump_toml(cfg)


# a config is a few kB of text; anything this large is some other file
MAX_CONFIG_BYTES = 1 << 20


def load_config(path: PathLike, overrides: Iterable[str] = ()) -> Experiment:
    """Read and validate a TOML config file (see ``parse_config``), with ``section.key=value``
    ``overrides`` applied first (``apply_overrides``; the experiment's text is then the merged config)."""
    path = Path(path)
    try:
        if path.is_dir():
            raise ConfigError(f"config '{path}' is a folder, not a TOML file")
        if path.exists() and not path.is_file():  # a FIFO, a device (/dev/zero), a socket
            raise ConfigError(f"config '{path}' is not a regular file")
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"config '{path}' is {size} bytes: not a TOML config (limit {MAX_CONFIG_BYTES} bytes)")
        raw = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read config '{path}': {e.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"config '{path}' is not UTF-8 text (byte {e.start}): not a TOML config") from None
    if "\x00" in text:
        raise ConfigError(f"config '{path}' contains NUL bytes: not a TOML config")
    text = apply_overrides(text, overrides)
    exp = parse_config(text, base_dir=path.parent)
    return _parsed(Experiment(exp.problem, exp.title, exp.particles, exp.pde, exp.compare, text, path, exp.discover),
                   path.parent)
