"""Experiment configs (TOML, docs/config.md, docs/theory.md §10): parsing into typed settings.

``load_config(path)`` returns an ``Experiment``: the sections of ``wgf.settings`` (one frozen
dataclass per section, every key declared once with its default, check and doc) and the
``Problem`` that the four problem sections ([model] [group] [data] [training]) describe; the
optional sections [pde], [particles], [compare] and [discover] are kept as their settings.
Every bad value raises ``ConfigError`` with one line naming the key.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import tomllib
import zipfile
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from wgf.data import EmpiricalData, GaussianTeacherData, load_dataset, make_teacher
from wgf.groups import GROUPS, FiniteGroup, group_from_name
from wgf.problem import Problem
from wgf.plan import check_experiment
from wgf.resources import ResourceError, available_memory, check_bytes, quadrature_bytes, structure_bytes
from wgf.settings import (
    METRICS,
    SECTIONS,
    CompareSettings,
    ConfigError,
    DataSettings,
    DiscoverSettings,
    MAX_MAGNITUDE,
    GroupSettings,
    MinimizerSettings,
    ModelSettings,
    ParticleSettings,
    PdeSettings,
    RootSettings,
    Section,
    TrainingSettings,
    find_key,
    where,
)
from wgf.schemes import SCHEMES
from wgf.symmetry import InexactQuadratureError, NotEquivariantError, Symmetry
from wgf.units import UNIT_ALIASES, UNITS, make_unit

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from wgf._typing import PathLike

__all__ = ["ConfigError", "Experiment", "ParticleSettings", "load_config", "parse_config", "resolved_config",
           "METRICS"]


@dataclass(frozen=True)
class Experiment:
    """A parsed config: the problem, and the settings of each section (None: the section is absent).

    ``model``, ``group``, ``data`` and ``training`` are the settings ``problem`` was built from (None for
    an experiment built in Python from a ``Problem``)."""

    problem: Problem
    title: str = ""
    particles: ParticleSettings | None = None
    pde: PdeSettings | None = None
    compare: CompareSettings | None = None
    text: str = ""
    path: Path | None = field(default=None, compare=False)
    discover: DiscoverSettings | None = None
    model: ModelSettings | None = None
    group: GroupSettings | None = None
    data: DataSettings | None = None
    training: TrainingSettings | None = None
    minimizer: MinimizerSettings | None = None

    # (text, base folder) when this object is what parsing that text gave (set by ``parse_config``); an
    # experiment changed afterwards (``dataclasses.replace``) or built in Python has none
    origin: tuple | None = field(default=None, init=False, compare=False, repr=False)

    def __reduce__(self):
        """Pickled as its config text when it is what that text parses to: parsed again where it is unpickled
        (a worker process builds its own data and kernels); any other experiment, built in Python or changed
        after parsing, is pickled field by field, so that a worker runs exactly this one."""
        if self.origin is not None and self.origin[0] == self.text:
            return _from_text, (*self.origin, None if self.path is None else str(self.path))
        return Experiment, tuple(getattr(self, f.name) for f in fields(self) if f.init)

    def sections(self) -> dict[str, Section]:
        """name -> settings of every present section, in the order a config is written ("" for the root)."""
        out = {"": RootSettings(title=self.title)}
        for name in SECTIONS:
            value = getattr(self, name, None) if name else None
            if value is not None:
                out[name] = value
        return out

    def fingerprint(self) -> str:
        """What identifies the experiment in its results file (a resume must match it): its config text, or
        for an experiment with none, a digest of its pickled fields."""
        if self.text:
            return self.text
        fields_ = (self.problem, self.title, self.particles, self.pde, self.compare, self.discover, self.minimizer)
        return "experiment built in Python, sha256 " + hashlib.sha256(pickle.dumps(fields_)).hexdigest()


def _parsed(exp: Experiment, base_dir: Path | None) -> Experiment:
    """``exp`` marked as what parsing its text (relative paths beside ``base_dir``) gives."""
    object.__setattr__(exp, "origin", (exp.text, None if base_dir is None else str(Path(base_dir).resolve())))
    return exp


def _from_text(text: str, base_dir: str | None, path: str | None) -> Experiment:
    """The experiment of config ``text``, relative paths resolved in ``base_dir``, read from ``path``."""
    exp = parse_config(text, None if base_dir is None else Path(base_dir))
    return exp if path is None else _parsed(replace(exp, path=Path(path)), base_dir)


def _frozen(v):
    """A TOML value as a hashable key (lists as tuples, tables as sorted pairs)."""
    if isinstance(v, list):
        return tuple(_frozen(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _frozen(x)) for k, x in v.items()))
    return (type(v).__name__, v)


def _check_layout(raw: dict) -> None:
    """Every root key and every section of the TOML tables ``raw`` is a declared one."""
    for key, value in raw.items():
        if not isinstance(value, dict) and key not in RootSettings.keys():
            raise ConfigError(f"unknown top-level key '{key}' (known: {', '.join(RootSettings.keys())})")
        if isinstance(value, dict) and (key not in SECTIONS or key == ""):
            known = ", ".join(f"[{s}]" for s in SECTIONS if s)
            raise ConfigError(f"unknown section [{key}] (known: {known})")


# the sections every config has (their defaults when absent)
PROBLEM_SECTIONS = ("model", "group", "data", "training")


def _sections(raw: dict) -> dict[str, Section]:
    """The settings of every section of the TOML tables ``raw`` (the four problem sections always, with
    their defaults when absent; the others when present)."""
    _check_layout(raw)
    top = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    return {name: cls.from_table(raw.get(name, {}) if name else top) for name, cls in SECTIONS.items()
            if not name or name in raw or name in PROBLEM_SECTIONS}


# digits of an integer that Python reads from text (sys.get_int_max_str_digits); longer ones are refused
_INT_DIGITS = 4300
_LONG_INTEGER = re.compile(r"[+-]?[0-9][0-9_]{%d,}" % (_INT_DIGITS - 1))


def load_toml(text: str) -> dict:
    """The tables of TOML ``text``; ConfigError (one line) when it is not valid TOML, naming the key of an
    integer too long to read (Python reads at most 4300 digits; no config value needs more than 16)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"not valid TOML: {e}") from None
    except ValueError:  # int("...") beyond sys.get_int_max_str_digits: find the key on its line (or the key
        # whose value, a multi-line array, continues on it)
        section, key = "", ""
        for line in text.splitlines():
            header = re.match(r"\s*\[\s*([^\]\[=]*?)\s*\]\s*(#.*)?$", line)
            if header:
                section, key = header.group(1), ""
                continue
            name, eq, value = line.partition("=")
            if eq and re.fullmatch(r"\s*[\w.\"' -]+\s*", name):
                key, line = name.strip().strip("\"'"), value
            long = [len(m.group()) for m in _LONG_INTEGER.finditer(line)]
            if long and key:
                raise ConfigError(f"{where(section, key)}: an integer of {max(long)} digits is out of range "
                                  f"(magnitudes up to {MAX_MAGNITUDE:g})") from None
        raise ConfigError(f"not valid TOML: an integer of more than {_INT_DIGITS} digits") from None


def read_section(text: str, name: str) -> Section:
    """The settings of section ``name`` ("" for the root keys) of config ``text``, checked, without building
    the problem (defaults when the section is absent)."""
    raw = load_toml(text)
    if name not in SECTIONS:
        raise ConfigError(f"unknown section [{name}] (known: {', '.join(f'[{s}]' for s in SECTIONS if s)})")
    table = {k: v for k, v in raw.items() if not isinstance(v, dict)} if name == "" else raw.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}]: expected a table of keys, got {table!r}")
    return SECTIONS[name].from_table(table)


def _given(section: Section) -> dict[str, Any]:
    """The keys of ``section`` that are set (not None)."""
    return {k: getattr(section, k) for k in section.keys() if getattr(section, k) is not None}


def _group(g: GroupSettings, dim_x: int, dim_y: int) -> FiniteGroup:
    if g.generators_x is not None:
        gx, gy = np.array(g.generators_x, dtype=float), np.array(g.generators_y, dtype=float)
        if gx.shape[1] != dim_x:
            raise ConfigError(f"[group] generators_x: matrices must be {dim_x} x {dim_x} (dim_x)")
        if gy.shape[1] != dim_y:
            raise ConfigError(f"[group] generators_y: matrices must be {dim_y} x {dim_y} (dim_y)")
        try:  # closed under products: refused as soon as it exceeds MAX_GROUP_ORDER elements
            return FiniteGroup.from_generators(gx, gy, max_order=MAX_GROUP_ORDER)
        except ValueError as e:
            raise ConfigError(f"[group] generators_x: {e}") from None
    try:
        return group_from_name(g.group_name, dim_x, dim_y, g.haar_points)
    except ValueError as e:
        key = "haar_points" if "haar_points" in str(e) else "name"
        raise ConfigError(f"[group] {key}: {e}") from None


def _data(d: DataSettings, symmetry: Symmetry, base_dir: Path | None):
    unit = symmetry.unit
    if d.dataset is not None:
        path = Path(d.dataset)
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
    if d.teacher_particles is None:
        raise ConfigError("[data] teacher_particles: missing (required unless a dataset is given)")
    for j, row in enumerate(d.teacher_particles):
        if len(row) != unit.dim:
            raise ConfigError(
                f"[data] teacher_particles: particle {j} has {len(row)} numbers, the unit "
                f"'{unit.name}' has D = {unit.dim} parameters"
            )
    teacher = make_teacher(d.teacher, np.array(d.teacher_particles, dtype=float), symmetry)
    return GaussianTeacherData(unit, teacher, d.x_std, d.label_noise, d.teacher)


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
                    structure_bytes(order, dim))
    except ResourceError as e:
        raise ConfigError(str(e)) from None


def parse_config(text: str, base_dir: Path | None = None) -> Experiment:
    """Parse and validate TOML ``text``; relative paths resolve against ``base_dir``."""
    return _parsed(_experiment(_sections(load_toml(text)), text, base_dir), base_dir)


def _symmetry_data(m: ModelSettings, g: GroupSettings, d: DataSettings, base_dir: Path | None):
    """(symmetry, data) of the [model], [group] and [data] sections (sizes checked before anything is built)."""
    _check_structure(_given(m), _given(g))
    unit = make_unit(m.unit, m.dim_x, m.dim_y, m.hidden, None if m.unit in UNIT_ALIASES else m.activation)
    group = _group(g, m.dim_x, m.dim_y)
    try:
        symmetry = Symmetry(unit, group)
    except NotEquivariantError as e:
        raise ConfigError(f"[group] name: {e}") from None
    except InexactQuadratureError as e:
        raise ConfigError(f"[group] haar_points: {e}") from None
    return symmetry, _data(d, symmetry, base_dir)


def _problem(s: dict[str, Section], base_dir: Path | None, cache: dict | None = None) -> Problem:
    """The problem the four problem sections of ``s`` describe; ``cache``: (model, group, data) -> (symmetry,
    data), shared by the problems of many variants of one config."""
    m, g, d, t = s["model"], s["group"], s["data"], s["training"]
    if cache is None:
        symmetry, data = _symmetry_data(m, g, d, base_dir)
    else:
        if (m, g, d) not in cache:
            cache[m, g, d] = _symmetry_data(m, g, d, base_dir)
        symmetry, data = cache[m, g, d]
    group = symmetry.group
    try:
        check_bytes(f"[data] quadrature_points = {d.quadrature_points} (per axis, dim_x = {m.dim_x})",
                    quadrature_bytes(d.quadrature_points, m.dim_x, m.dim_y,
                                     group.order if SCHEMES[t.scheme].augments else 1))
    except ResourceError as e:
        raise ConfigError(str(e)) from None
    try:
        return Problem(symmetry, data, quadrature_points=d.quadrature_points, **t.problem_arguments())
    except ValueError as e:
        raise ConfigError(f"[group] haar_points: {e}" if isinstance(e, InexactQuadratureError) else f"[training] {e}") \
            from None


def _experiment(s: dict[str, Section], text: str, base_dir: Path | None, problems: dict | None = None, *,
                free_memory: float | None = None) -> Experiment:
    """The experiment of the settings ``s`` of config ``text``: the problem (from ``problems``, a cache by
    problem sections, when given), then the rules of the other sections and the memory it needs."""
    m, g, d, t = s["model"], s["group"], s["data"], s["training"]
    if problems is None:
        problem = _problem(s, base_dir)
    else:
        if (m, g, d, t) not in problems:
            if len(problems) > MAX_CACHED_PROBLEMS:  # a bounded cache: each problem may hold its quadrature
                problems.clear()
            problems[m, g, d, t] = _problem(s, base_dir, problems)
        problem = problems[m, g, d, t]
    if "minimizer" in s and "pde" not in s:
        raise ConfigError("[minimizer] needs a [pde] section: the minimizer is solved on its grid")
    for name in ("particles", "pde", "minimizer", "discover"):
        if name in s:
            s[name].check(problem)
    if "compare" in s and ("pde" not in s or "particles" not in s):
        raise ConfigError("[compare] metrics: comparing needs both a [pde] and a [particles] section")
    if "compare" in s:
        s["compare"].check_particles(s["particles"])
    exp = Experiment(problem, s[""].title, s.get("particles"), s.get("pde"), s.get("compare"), text,
                     discover=s.get("discover"), model=m, group=g, data=d, training=t, minimizer=s.get("minimizer"))
    try:
        check_experiment(exp, free_memory=free_memory)  # memory; the disk is checked where the output is known
    except ResourceError as e:
        raise ConfigError(str(e)) from None
    return exp


# the most problems (and symmetries with their data) ``ConfigVariants`` keeps
MAX_CACHED_PROBLEMS = 1024


class ConfigVariants:
    """Variants of one config, each with some keys set to other values, checked as ``parse_config`` checks
    the config text of each, but cheaply: each section is checked once per distinct set of values given
    to it, the symmetry and data once per distinct [model], [group] and [data], each problem once, and the
    available memory read once (a sweep checks every combination of its varied values with it).

    ``experiment({(section, key): value, ...})`` is the experiment of one variant ("" for a root key; keys
    declared ones, values as TOML reads them, e.g. from ``parse_value``); its ``text`` is empty."""

    def __init__(self, text: str, base_dir: Path | None = None):
        self.raw = load_toml(text)
        _check_layout(self.raw)
        self.base_dir = None if base_dir is None else Path(base_dir)
        self.free_memory = available_memory()
        self._tables: dict = {}
        self._problems: dict = {}

    def _section(self, name: str, given: dict) -> Section | None:
        """The settings of section ``name`` with the values ``given`` set (None: the section is absent)."""
        at = (name, _frozen(given))
        if at not in self._tables:
            if name and not given and name not in self.raw and name not in PROBLEM_SECTIONS:
                self._tables[at] = None
            else:
                top = {k: v for k, v in self.raw.items() if not isinstance(v, dict)}
                base = self.raw.get(name, {}) if name else top
                if not isinstance(base, dict):
                    raise ConfigError(f"[{name}]: expected a table of keys, got {base!r}")
                self._tables[at] = SECTIONS[name].from_table({**base, **given})
        return self._tables[at]

    def experiment(self, values: Mapping[tuple[str, str], Any]) -> Experiment:
        given: dict[str, dict] = {}
        for (section, key), value in values.items():
            given.setdefault(section, {})[key] = value
        s = {}
        for name in SECTIONS:
            section = self._section(name, given.get(name, {}))
            if section is not None:
                s[name] = section
        return _experiment(s, "", self.base_dir, self._problems, free_memory=self.free_memory)


def resolved_config(exp: Experiment) -> str | None:
    """TOML text of every key of every present section of ``exp`` with the value used, defaults included
    (keys that do not apply, such as da_mode without data augmentation, are left out; so is
    [particles] record_every when its default, which depends on N, is used).

    None for an experiment that is not what parsing its config gave (built in Python, or changed
    afterwards): its settings need not be what built its problem."""
    if exp.origin is None or exp.origin[0] != exp.text:
        return None
    cfg: dict[str, Any] = {}
    for name, section in exp.sections().items():
        used = section.resolved(exp.problem)
        values = {k: used[k] for k in section.keys() if k in used}  # in declaration order
        if name:
            cfg[name] = values
        else:
            cfg.update(values)
    return dump_toml(cfg)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):  # TOML basic strings: UTF-8 as it is, JSON's escapes for the rest
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise ConfigError(f"cannot write {v!r} to TOML")


def _plain(v) -> bool:
    """A value made of what configs hold: booleans, numbers, strings, lists and tables of them."""
    if isinstance(v, (bool, int, float, str)):
        return True
    if isinstance(v, list):
        return all(_plain(x) for x in v)
    return isinstance(v, dict) and all(_plain(x) for x in v.values())


def _toml_key(k: str) -> str:
    """A bare key when TOML allows one (letters, digits, _ and -), else a quoted one."""
    return k if k and all(c.isascii() and (c.isalnum() or c in "_-") for c in k) else json.dumps(k, ensure_ascii=False)


def dump_toml(cfg: dict) -> str:
    """TOML text of a parsed config: root keys, then one [section] per table (deeper tables inline)."""
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in cfg.items() if not isinstance(v, dict)]
    for name, table in cfg.items():
        if isinstance(table, dict):
            lines += ["", f"[{_toml_key(name)}]"] + [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


# a key given on the command line: section.key or a root key, each part an identifier (no spaces)
_DOTTED_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


def parse_key(dotted: str, what: str) -> tuple[str, str]:
    """(section, key) of a key given as ``section.key`` (or a root key such as ``title``) in an override or a
    sweep (``what`` says which, for the message): identifiers joined by one dot, spaces allowed only
    around it, a key the settings declare; a whole section (``training``) is not a key. ConfigError
    (one line) for anything else."""
    dotted = str(dotted).strip()
    if not _DOTTED_KEY.fullmatch(dotted):
        raise ConfigError(f"{what}: {dotted!r} is not a config key: expected section.key (letters, digits and _, "
                          "no spaces; e.g. training.beta)")
    try:
        cls, key, _ = find_key(dotted)
    except ConfigError as e:
        raise ConfigError(f"{what}: {e}") from None
    return cls.section, key


def parse_value(raw: str, what: str) -> Any:
    """The value of an override or of a sweep's level: one TOML value (1e-3, "fa", [10, 100], true) with
    nothing after it but a comment, or else a bare word read as a string (fa); ConfigError (one line,
    naming ``what``) for more than one value, a value with a newline or a control character, a date
    or an integer of more digits than Python reads."""
    text = str(raw).strip()
    if not text:
        raise ConfigError(f"{what}: no value given")
    try:
        table = tomllib.loads(f"v = {text}")
    except tomllib.TOMLDecodeError:
        table = None
    except ValueError:  # int("...") beyond sys.get_int_max_str_digits
        raise ConfigError(f"{what}: an integer of more than {_INT_DIGITS} digits is out of range "
                          f"(magnitudes up to {MAX_MAGNITUDE:g})") from None
    if table is not None and list(table) != ["v"]:
        raise ConfigError(f"{what}: {text!r} is not one value (a newline or a [table] follows it)")
    if table is None:
        if any(ord(c) < 32 or ord(c) == 127 for c in text) or text[0] in "[{\"'":
            raise ConfigError(f"{what}: {text!r} is not one TOML value")
        return text  # a bare word: a string
    if not _plain(table["v"]):
        raise ConfigError(f"{what}: dates and times are not config values")
    return table["v"]


def parse_override(item: str) -> tuple[str, str, Any]:
    """(section, key, value) of one ``--set section.key=value`` (``parse_key``, ``parse_value``)."""
    path, sep, value = str(item).partition("=")
    if not sep:
        raise ConfigError(f"--set {item!r}: expected section.key=value (e.g. training.beta=1e-3)")
    section, key = parse_key(path, f"--set {item!r}")
    return section, key, parse_value(value, f"--set {where(section, key)}")


def apply_overrides(text: str, overrides: Iterable[str]) -> str:
    """The config ``text`` with each ``section.key=value`` of ``overrides`` set (``parse_override``: a declared
    key, one TOML value such as 1e-3, "fa" or [10, 100], or a bare word read as a string; ``key=value`` sets
    a root key such as title; a section is never replaced whole, and a key is set at most once).
    Returns TOML text (comments dropped), validated later by ``parse_config``."""
    overrides = list(overrides)
    if not overrides:
        return text
    cfg = load_toml(text)
    seen = set()
    for item in overrides:
        section, key, value = parse_override(item)
        if (section, key) in seen:
            raise ConfigError(f"--set {where(section, key)}: given twice")
        seen.add((section, key))
        table = cfg.setdefault(section, {}) if section else cfg
        if not isinstance(table, dict):
            raise ConfigError(f"--set {item!r}: {section} is a value, not a [section]")
        table[key] = value
    return dump_toml(cfg)


# a config is a few kB of text; anything this large is some other file
MAX_CONFIG_BYTES = 1 << 20


def read_config(path: PathLike, overrides: Iterable[str] = ()) -> str:
    """The text of the config file ``path`` (UTF-8 TOML of at most MAX_CONFIG_BYTES, no NUL) with the
    ``section.key=value`` ``overrides`` applied (``apply_overrides``), not yet validated."""
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
    return apply_overrides(text, overrides)


def load_config(path: PathLike, overrides: Iterable[str] = ()) -> Experiment:
    """Read and validate a TOML config file (see ``parse_config``), with ``section.key=value``
    ``overrides`` applied first (``apply_overrides``; the experiment's text is then the merged config)."""
    path = Path(path)
    text = read_config(path, overrides)
    exp = parse_config(text, base_dir=path.parent)
    return _parsed(replace(exp, text=text, path=path), path.parent)
