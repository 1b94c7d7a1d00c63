"""The layout of a results file, defined once: every HDF5 path, variable, dimension, long_name and units.

A results file (``wgf run``, ``wgf sweep``, ``wgf paper-study``, ``wgf discover``) has one group per
section: /pde, /particles/N<N> with its /trace, /compare, /discovery and /sweep (a paper study is a
sweep named ``paper-study``). Each section is a ``Section``: its path, its coordinates and variables
(``Variable``: name, dims, long_name, units) and the attributes of its group. The writers (``wgf.runner``,
``wgf.sweep``, ``wgf.discovery``) take names and attributes from here, the readers (``wgf.report``,
``wgf.plot``, ``wgf.study``, ``wgf.sweep``, ``wgf.cli``) read through the functions below, and the
tables of docs/outputs.md are rendered from the same sections (``render_docs``)::

    python -m wgf.schema --write-docs      # regenerate the tables of docs/outputs.md
    python -m wgf.schema --check-docs      # exit 1 when they differ from the schema

A name in braces (``u{k}``, ``{metric}``, ``{key}``) is a template: ``Variable.format(k=0)`` fills it in.
The arrays of /pde, /particles/N<N> and /compare (``Variable`` and their tables) are defined in ``wgf.layout``,
below the engines, whose ``History``, ``Trajectory`` and ``Comparison`` convert themselves to the same
structure (``to_xarray``); they are re-exported here with the rest of the layout. The PDE trackers'
attributes are ``wgf.grids.solver.TRACKER_ATTRS`` (the engine writes them in a saved History too; it does
not import the application layer): ``PDE_VARIABLES`` and ``SECTIONS`` are built on first use, so that
reading a file does not import the grid solver.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from wgf.layout import (COMPARE_COORDINATES, COMPARE_VARIABLES, FLUCTUATION_COORDINATES, FLUCTUATION_VARIABLES,
                        MINIMIZER_COORDINATES, MINIMIZER_SCALARS, MINIMIZER_VARIABLES, PARTICLE_COORDINATES,
                        PARTICLE_VARIABLES, PDE_COORDINATES, PDE_FIELDS, Variable, _table)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    import xarray as xr

    from wgf._typing import PathLike

__all__ = ["Variable", "Section", "SECTIONS", "ROOT_ATTRS", "HYPOTHESES_ATTR",
           "PDE", "MINIMIZER", "MINIMIZER_COORDINATES", "MINIMIZER_VARIABLES", "MINIMIZER_SCALARS", "PARTICLES", "TRACE", "COMPARE", "DISCOVERY", "SWEEP", "STUDY_NAME",
           "PDE_COORDINATES", "PDE_FIELDS", "PDE_VARIABLES", "PARTICLE_COORDINATES", "PARTICLE_VARIABLES",
           "TRACE_COORDINATES", "TRACE_VARIABLES", "COMPARE_COORDINATES", "COMPARE_VARIABLES", "DISCOVERY_COORDINATES",
           "DISCOVERY_VARIABLES", "SWEEP_COORDINATES", "SWEEP_VARIABLES", "SWEEP_QUANTITIES", "STUDY_KEYS",
           "STUDY_DIMS", "STUDY_QUANTITIES", "STATUS", "MISSING", "FLUCTUATION_GROUP", "FLUCTUATION_COORDINATES",
           "FLUCTUATION_VARIABLES", "FLUCTUATION_ATTRS",
           "particles_path", "trace_path", "particle_counts", "read_diagnostics", "read_sweep",
           "render_section", "render_docs", "write_docs", "docs_drift", "main"]


@dataclass(frozen=True)
class Section:
    """A group of a results file: ``path`` (``N<N>`` stands for each N), a title, its coordinates and
    variables, the attributes of its group ((name, meaning) pairs) and an introduction for the docs."""

    key: str
    path: str
    title: str
    coordinates: tuple
    variables: tuple
    attrs: tuple = ()
    note: str = ""

    def __getitem__(self, name: str) -> Variable:
        for v in self.coordinates + self.variables:
            if v.name == name:
                return v
        raise KeyError(f"{self.path} has no variable {name!r}")

    @property
    def names(self) -> tuple:
        """The names of its coordinates and variables."""
        return tuple(v.name for v in self.coordinates + self.variables)


# ------------------------------------------------------------------ root
# root attribute of ``wgf run``: Problem.hypotheses(), one line each
HYPOTHESES_ATTR = "hypotheses"

ROOT_ATTRS = (
    ("wgf_version", "the version of wgf that wrote the file"),
    ("config", "the config (TOML text; a sweep: its canonical JSON, base config, --vary arguments and name)"),
    ("resolved_config", "wgf run: every key of every present section with the value used (TOML)"),
    ("title", "the config's title"),
    (HYPOTHESES_ATTR, "wgf run: one line per hypothesis of the paper's theorems, whether it holds for this problem and "
                   "why (``Problem.hypotheses()``)"),
    ("python_version, numpy_version, numba_version, h5py_version", "versions"),
    ("command, cpu, host", "the command line and the machine"),
    ("started, finished", "UTC times of the (last resumed) run and of its completion"),
    ("metadata_checksum", "on the root and on every group and dataset: the digest of its metadata (\"Metadata "
                          "checksums\" above; wgf.io.metadata_digest)"),
)

# ------------------------------------------------------------------ /pde
PDE = "pde"
# PDE_COORDINATES, PDE_FIELDS: wgf.layout (a History's to_xarray uses them too)


def _pde_variables() -> dict:
    """basis, density and the solver's trackers (``wgf.grids.solver.TRACKER_ATTRS``, ``tracker_variable``)."""
    from wgf.grids.solver import TRACKER_ATTRS, tracker_variable

    return {**PDE_FIELDS, **_table(*(replace(tracker_variable(name), doc="a solver tracker (those it has)")
                                     for name in TRACKER_ATTRS))}


# ------------------------------------------------------------------ /minimizer
MINIMIZER = "minimizer"
# MINIMIZER_COORDINATES, MINIMIZER_VARIABLES: wgf.layout (a Minimizer's to_xarray uses them too)

# ------------------------------------------------------------------ /particles/N<N>
PARTICLES = "particles"
TRACE = "trace"  # the trace's group in each /particles/N<N>
# PARTICLE_COORDINATES, PARTICLE_VARIABLES: wgf.layout (a Trajectory's to_xarray uses them too)

# ------------------------------------------------------------------ /particles/N<N>/trace
TRACE_COORDINATES = _table(
    Variable("trace_time", ("trace_time",), "mean-field time of the record (t = k eps, every record_every steps)",
             doc="every record_every steps (by default within the diagnostics budget), and t_end (the last "
                 "snapshot's time)"),
)
TRACE_VARIABLES = _table(
    *(replace(PARTICLE_VARIABLES[k], dims=("seed", "trace_time"), doc="")
      for k in ("risk", "si_rmd2", "wi_rmd2")),
    Variable("second_moment", ("seed", "trace_time", "coordinate"),
             "second moment (1/N) sum_i z_id^2 per coordinate d"),
)
TRACE_VARIABLES["wi_rmd2"] = replace(TRACE_VARIABLES["wi_rmd2"], doc="exact OT; absent beyond the trace's "
                                     "budget (`wi_rmd2_snapshots_only`) or 1e6 pairs (`wi_rmd2_skipped`); 0 exactly "
                                     "when E^G = Z")

# ------------------------------------------------------------------ /compare
COMPARE = "compare"
# COMPARE_COORDINATES, COMPARE_VARIABLES: wgf.layout (a Comparison's to_xarray uses them too)

# ------------------------------------------------------------------ /fluctuations
FLUCTUATION_GROUP = "fluctuations"
# FLUCTUATION_COORDINATES, FLUCTUATION_VARIABLES: wgf.layout (wgf.validation.fluctuation_dataset uses them too)
FLUCTUATION_ATTRS = (
    ("test_functions", "the test functions f, in the order of [compare] fluctuations"),
    ("seeds", "S, the seeds per N"), ("level", "the level of the intervals (0.95)"),
    ("interval", "how the intervals are found (chi-square with S - 1 degrees of freedom, docs/theory.md §11)"),
    ("alpha, batch", "eps = alpha / N and the minibatch size B of the particles (alpha absent with a fixed step)"),
    ("{f}_limit_skipped", "why {f}_limit is absent"), ("done", "1 once the group is on the disk"),
)

# ------------------------------------------------------------------ /discovery
DISCOVERY = "discovery"
DISCOVERY_COORDINATES = _table(
    Variable("round", ("round",), "round j (it trains in E_j, dim E_j = j)", dtype="i8", doc="J rounds, 0 .. J-1"),
    Variable("parameter", ("parameter",), "coordinate of z in Z = R^D", dtype="i8"),
    Variable("basis_vector", ("basis_vector",), "basis vector of E_* (column)", dtype="i8"),
    Variable("reference_vector", ("reference_vector",), "basis vector of E^G (column)", dtype="i8"),
    Variable("angle", ("angle",), "principal angle index", dtype="i8", doc="min(k, m) angles"),
)
DISCOVERY_VARIABLES = _table(
    Variable("basis", ("parameter", "basis_vector"), "orthonormal basis of E_* (columns)"),
    Variable("dims", ("round",), "dim E_j"),
    Variable("rmd2", ("round",), "RMD^2(nu, P_j # nu) after training in E_j",
             doc="a round with E_j = Z is not trained: 0, and `skipped` says so"),
    Variable("threshold", ("round",), "threshold delta_j on RMD^2"),
    Variable("principal", ("round",), "1 where the top principal direction of the residuals replaced their mean"),
    Variable("mean_ratio", ("round",), "|mean residual| / rms residual", doc="NaN in the last round (`skipped`)"),
    Variable("seconds", ("round",), "wall time of the round", "s"),
    Variable("directions", ("round", "parameter"), "unit direction v_j added in round j",
             doc="NaN in the last round (`skipped`)"),
    Variable("reference_basis", ("parameter", "reference_vector"),
             "orthonormal basis of E^G of the config's group (columns)"),
    Variable("principal_angles", ("angle",), "principal angles between E_* and E^G, descending", "rad",
             doc="empty when either is {0} (`skipped`)"),
)

# ------------------------------------------------------------------ /sweep
SWEEP = "sweep"
# /sweep/status: what became of each job (a value the quantities hold where a job has none: they are all >= 0)
STATUS = {"pending": 0, "finished": 1, "blew_up": 2}
MISSING = -1.0
SWEEP_COORDINATES = _table(
    Variable("{key}", ("{key}",), "config key {config_key}", dtype="",
             doc="one per varied key, named after its last part (particles.n: N); attribute config_key"),
    Variable("seed", ("seed",), "seed", dtype="i8"),
)
SWEEP_QUANTITIES = _table(  # at the end of training, per combination and seed
    *(replace(PARTICLE_VARIABLES[k], dims=("{keys}", "seed"), doc="") for k in ("risk", "si_rmd2", "wi_rmd2")),
    Variable("m2", ("{keys}", "seed"), "second moment (1/N) sum_i |z_i|^2"),
)
SWEEP_QUANTITIES["wi_rmd2"] = replace(SWEEP_QUANTITIES["wi_rmd2"],
                                      doc="exact OT (else NaN: `wi_rmd2_skipped`)")
SWEEP_VARIABLES = _table(
    Variable("{key}", ("{first_key}",), "config key {config_key} (varied with {first_config_key})", dtype="",
             doc="a key varied together with another: a coordinate along the first key's dimension"),
    *SWEEP_QUANTITIES.values(),
    Variable("status", ("{keys}", "seed"), "0 pending, 1 finished, 2 blew up (no values)", dtype="i1",
             doc="flag_values, flag_meanings"),
)

# ------------------------------------------------------------------ the paper's study (a named sweep)
STUDY_NAME = "paper-study"
STUDY_KEYS = {"N": "particles.n", "init": "training.init", "teacher": "data.teacher", "scheme": "training.scheme"}
STUDY_DIMS = (*STUDY_KEYS, "seed")
STUDY_QUANTITIES = ("si_rmd2", "wi_rmd2", "risk")


def _sections() -> dict:
    return {
        "pde": Section("pde", "/pde", "The PDE (`[pde]`)", tuple(PDE_COORDINATES.values()),
                       tuple(_pde_variables().values()),
                       (("space", "full or fixed (the grid on E^G)"), ("cell_volume", "volume of a cell in u"),
                        ("steps", "time steps taken"), ("done", "1 once the PDE is on the disk"))),
        "minimizer": Section(
            "minimizer", "/minimizer", "The minimizer of F (`[minimizer]`)", tuple(MINIMIZER_COORDINATES.values()),
            tuple(MINIMIZER_VARIABLES.values()),
            (("cell_volume", "volume of a cell in u"), ("seconds", "wall time of the solve"),
             ("long_time_distance", "the particles are compared with rho* (particles_<metric>) when the flow at "
                                    "the final time is within this L1 distance of it (pde_distance); farther, "
                                    "they are measured against the flow itself (/compare)"),
             ("done", "1 once the minimizer is on the disk")),
            "on the [pde] grid: u0.. are the cell centres of /pde and time its snapshots"),
        "particles": Section(
            "particles", "/particles/N<N>", "Particle runs (`[particles]`, one group per N)",
            tuple(PARTICLE_COORDINATES.values()), tuple(PARTICLE_VARIABLES.values()),
            (("eps", "the step eps"), ("batch", "minibatch size"), ("done_<seed>", "1 once the run is on the disk"),
             ("wi_rmd2_skipped", "why wi_rmd2 is absent"))),
        "trace": Section(
            "trace", "/particles/N<N>/trace", "The diagnostics trace", tuple(TRACE_COORDINATES.values()),
            tuple(TRACE_VARIABLES.values()), (("wi_rmd2_skipped", "why wi_rmd2 is absent (the OT size limit)"),
                                              ("wi_rmd2_snapshots_only", "why wi_rmd2 is at the snapshots only "
                                               "(the trace's budget)")),
            "seed and coordinate are those of /particles/N<N>"),
        "compare": Section("compare", "/compare", "Particles against the PDE (`[compare]`)",
                           tuple(COMPARE_COORDINATES.values()), tuple(COMPARE_VARIABLES.values())),
        "fluctuations": Section(
            "fluctuations", "/fluctuations", "Fluctuations (`[compare] fluctuations`)",
            tuple(FLUCTUATION_COORDINATES.values()), tuple(FLUCTUATION_VARIABLES.values()), FLUCTUATION_ATTRS,
            "{f} stands for each test function of [compare] fluctuations; the values are read from "
            "/particles/N<N>/positions"),
        "discovery": Section(
            "discovery", "/discovery", "Architecture discovery (`wgf discover`)",
            tuple(DISCOVERY_COORDINATES.values()), tuple(DISCOVERY_VARIABLES.values()),
            (("dim", "k = dim E_*"), ("reference_dim", "m = dim E^G"),
             ("converged", "0: max_dim was reached before RMD^2 <= delta"), ("max_angle", "largest principal angle"),
             ("n, replicas, gradient, eps, steps, round_time, delta, max_dim, seed, pca_ratio, batch",
              "the settings"))),
        "sweep": Section(
            "sweep", "/sweep", "Sweeps (`wgf sweep`)", tuple(SWEEP_COORDINATES.values()),
            tuple(SWEEP_VARIABLES.values()),
            (("name", "the named sweep (paper-study) or empty"), ("base_config", "the base config (TOML text)"),
             ("wi_rmd2_skipped", "the N without wi_rmd2")),
            "{keys} are the varied keys' dimensions; the quantities have _FillValue -1 (NaN when read)"),
        "study": Section(
            "study", "/sweep", "The paper's study (`wgf paper-study`, `wgf sweep paper`)",
            (*(replace(SWEEP_COORDINATES["{key}"].format(key=d, config_key=key), dtype="", doc="")
               for d, key in STUDY_KEYS.items()), SWEEP_COORDINATES["seed"]),
            (replace(SWEEP_VARIABLES["{key}"].format(key="noise", first_key="init", config_key="training.noise",
                                                     first_config_key="training.init"), doc=""),
             *(replace(SWEEP_VARIABLES[k], dims=STUDY_DIMS) for k in SWEEP_VARIABLES if k != "{key}")),
            (("name", STUDY_NAME),),
            "a sweep named paper-study; the study reads si_rmd2, wi_rmd2 and risk"),
    }


_LAZY = {"PDE_VARIABLES": _pde_variables, "SECTIONS": _sections}


def __getattr__(name: str):  # PEP 562: PDE_VARIABLES and SECTIONS import the grid solver's tracker table
    if name in _LAZY:
        value = _LAZY[name]()
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------------ paths
def particles_path(n: int) -> str:
    """The group of the N-particle runs: ``particles/N<n>``."""
    return f"{PARTICLES}/N{int(n)}"


def trace_path(n: int) -> str:
    """The diagnostics trace of the N-particle runs: ``particles/N<n>/trace``."""
    return f"{particles_path(n)}/{TRACE}"


# ------------------------------------------------------------------ readers
def particle_counts(node: Mapping) -> list[int]:
    """The N of every /particles/N<N> group of a results file (an open h5py File or the DataTree of
    ``wgf.open_results``), ascending."""
    if PARTICLES not in node:
        return []
    return sorted(int(k[1:]) for k in node[PARTICLES] if k[:1] == "N" and k[1:].isdigit())


def read_diagnostics(node: Mapping, n: int, *, trace: bool | None = None) -> dict:
    """The diagnostics of the N-particle runs of a results file (an open h5py File or a DataTree) as arrays:
    {"time": (R,), "risk", "si_rmd2": (S, R), "wi_rmd2": (S, R) or None (skipped)} and, from the trace,
    "second_moment" (S, R, D). ``trace`` True: the trace (/particles/N<N>/trace on trace_time), False: the
    snapshots (on time), None: the trace when the file has one."""
    g = node[particles_path(n)]
    if trace is None:
        trace = TRACE in g
    src, tname = (g[TRACE], "trace_time") if trace else (g, "time")
    names = TRACE_VARIABLES if trace else {k: v for k, v in PARTICLE_VARIABLES.items() if k != "positions"}
    out = {"time": np.asarray(src[tname], dtype=float)}
    for name in names:
        out[name] = np.asarray(src[name], dtype=float) if name in src else None
    return out


def read_sweep(path: PathLike) -> xr.Dataset:
    """The /sweep group of a sweep file as an ``xarray.Dataset``: the quantities on the varied keys' dimensions
    and seed, runs without values (not finished, or blown up) as NaN."""
    import xarray as xr

    return xr.open_dataset(path, group=SWEEP, engine="h5netcdf").load()


# ------------------------------------------------------------------ docs/outputs.md
def _all_sections() -> dict:
    return globals().get("SECTIONS") or __getattr__("SECTIONS")


DOCS = Path(__file__).resolve().parent.parent / "docs" / "outputs.md"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|")


def render_section(key: str) -> str:
    """The markdown table of one section (its coordinates and variables) and its group's attributes."""
    s = _all_sections()[key]
    lines = ([f"{s.note[0].upper()}{s.note[1:]}.", ""] if s.note else []) + [
        "| array | dims | long_name | units | notes |", "|---|---|---|---|---|"]
    for v in s.coordinates + s.variables:
        dims = "coordinate" if v in s.coordinates else "(" + ", ".join(v.dims) + ("," if len(v.dims) == 1 else "") + ")"
        lines.append(f"| `{_cell(v.name)}` | {dims} | {_cell(v.long_name)} | {_cell(v.units)} | {_cell(v.doc)} |")
    if s.attrs:
        lines += ["", "Attributes of the group: " + "; ".join(f"`{name}`: {what}" for name, what in s.attrs) + "."]
    return "\n".join(lines)


def _markers(key: str) -> tuple[str, str]:
    return f"<!-- schema:{key} -->", f"<!-- /schema:{key} -->"


def render_docs(text: str) -> str:
    """``text`` (docs/outputs.md) with the part between ``<!-- schema:KEY -->`` and ``<!-- /schema:KEY -->``
    of each section replaced by ``render_section(KEY)``; the root attributes under ``schema:root``."""
    for key in ("root", *_all_sections()):
        start, end = _markers(key)
        body = ("| attribute | content |\n|---|---|\n" + "\n".join(f"| `{n}` | {_cell(w)} |" for n, w in ROOT_ATTRS)
                if key == "root" else render_section(key))
        text = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _m: f"{start}\n{body}\n{end}", text,
                      flags=re.S)
    return text


def docs_drift(path: PathLike = DOCS) -> list[str]:
    """The sections whose tables in ``path`` differ from the schema, or lack their markers."""
    text = Path(path).read_text(encoding="utf-8")
    fresh = render_docs(text)
    drift = []
    for key in ("root", *_all_sections()):
        start, end = _markers(key)
        if start not in text or end not in text:
            drift.append(f"{key} (no markers)")
            continue
        part = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        if part.search(text).group(0) != part.search(fresh).group(0):
            drift.append(key)
    return drift


def write_docs(path: PathLike = DOCS) -> bool:
    """Regenerate the tables of ``path`` from the schema; whether the file changed."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    fresh = render_docs(text)
    if fresh != text:
        path.write_text(fresh, encoding="utf-8")
    return fresh != text


def main(argv: Iterable[str] | None = None) -> int:
    """``python -m wgf.schema --write-docs [PATH]`` or ``--check-docs [PATH]`` (default docs/outputs.md)."""
    args = list(sys.argv[1:] if argv is None else argv)
    path = Path(args[1]) if len(args) > 1 else DOCS
    if args[:1] == ["--write-docs"]:
        print(f"{path}: {'updated' if write_docs(path) else 'up to date'}")
        return 0
    if args[:1] == ["--check-docs"]:
        drift = docs_drift(path)
        print(f"{path}: " + (f"differs from wgf.schema in {', '.join(drift)}" if drift else "up to date"))
        return 1 if drift else 0
    print("usage: python -m wgf.schema --write-docs | --check-docs [PATH]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
