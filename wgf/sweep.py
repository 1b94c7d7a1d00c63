"""Sweeps: one config, some of its keys varied, every combination x seed trained by noisy SGD.

A sweep is a base config (TOML text) and a list of ``Vary``: a key ``section.key`` and its
values, or several keys varied together (``training.init+training.noise=si+projected,wi+full``:
the init is si with projected noise, then wi with full noise). Every combination of the
varied values, for every seed 0..S-1, is one job: the config with those values set
(``config.apply_overrides``) is parsed and its particles trained to ``t_end``. At the end
of training each job measures (docs/theory.md §6)

    risk          R(nu) of the scheme,
    si_rmd2       RMD^2(nu, P_E#nu)   (0 iff nu lives on E^G),
    wi_rmd2       RMD^2(nu, nu^G)     (0 iff nu is weakly invariant; exact OT, skipped when too large),
    m2            (1/N) sum_i |z_i|^2   (the sum over coordinates of second_moment).

These are the diagnostics of ``wgf run`` (``wgf.diagnostics``: one definition each, one exact-OT guard,
one blow-up check); the file's variables are ``wgf.schema.SWEEP_VARIABLES``.

The results file holds /sweep/<quantity> with one dimension per varied key (named after
the key's last part; particles.n is ``N``) and ``seed``; keys varied together are
coordinates along the first key's dimension. Every job is a pure function of its
combination and seed, so the file is the same on every executor (this process, local
processes, a dask cluster); each result is written as it arrives and marked in
/sweep/status after it is on the disk, so an interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np
from tqdm.auto import tqdm

from wgf.config import (ConfigError, ConfigVariants, Experiment, apply_overrides, dump_toml, load_toml,
                        parse_config, parse_key, parse_value, read_section)
from wgf.diagnostics import SWEEP_DIAGNOSTICS, measure, ot_limit, wi_skipped
from wgf.plan import experiment_needs
from wgf.resources import check_processes
from wgf.schema import MISSING, STATUS, SWEEP, SWEEP_COORDINATES, SWEEP_QUANTITIES, SWEEP_VARIABLES
from wgf.schema import read_sweep as _read_sweep

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    import xarray as xr
    from distributed import Client

    from wgf._typing import PathLike

__all__ = ["Vary", "Sweep", "parse_vary", "sweep_job", "run_sweep", "read_sweep", "sweep_table", "SWEEP_QUANTITIES",
           "STATUS"]

log = logging.getLogger("wgf")

# the most jobs a sweep may have (each is a particle run): beyond, a --vary list is a typo
MAX_JOBS = 1_000_000
# what a sweep does not read: varying it would only repeat the same runs
UNUSED_SECTIONS = ("pde", "minimizer", "compare", "discover")
UNUSED_KEYS = ("particles.seeds", "particles.record_every", "training.snapshots")
# names of the file's own variables, which a varied key may not take
RESERVED = tuple(k for k in (*SWEEP_COORDINATES, *SWEEP_VARIABLES) if "{" not in k)
# combinations from which checking them is announced (about 20 microseconds each)
LARGE_SWEEP = 10_000


def _split_top(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside brackets and quotes (a ``+`` in an exponent, 1e+3, does not split)."""
    parts, depth, quote, start = [], 0, None, 0
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == sep and depth == 0 and not (sep == "+" and i >= 2 and text[i - 1] in "eE" and text[i - 2].isdigit()):
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


@dataclass(frozen=True)
class Vary:
    """Config keys varied together: ``keys`` ("section.key", ...) and ``levels``, one tuple of raw TOML
    values (one per key) per level."""

    keys: tuple
    levels: tuple

    @property
    def dim(self) -> str:
        """The dimension's name: the first key's last part (``N`` for particles.n)."""
        return "N" if self.keys[0] == "particles.n" else self.keys[0].rsplit(".", 1)[-1]

    def values(self, k: int = 0) -> list:
        """The values of key ``k`` at every level (``config.parse_value``)."""
        return [parse_value(level[k], f"--vary {self.keys[k]}") for level in self.levels]

    def settings(self) -> list[dict]:
        """Per level, {(section, key): value} of the keys it sets."""
        keys = [tuple(key.split(".")) for key in self.keys]
        columns = [self.values(k) for k in range(len(self.keys))]
        return [dict(zip(keys, level)) for level in zip(*columns)]

    def without(self, keys: Iterable[str]) -> "Vary | None":
        """This Vary with ``keys`` left out (given elsewhere, e.g. by ``--set``): the other keys keep their
        levels, each distinct level once; None when none of its keys is left."""
        kept = [k for k, key in enumerate(self.keys) if key not in set(keys)]
        if not kept:
            return None
        levels = tuple(dict.fromkeys(tuple(level[k] for k in kept) for level in self.levels))
        return Vary(tuple(self.keys[k] for k in kept), levels)

    def text(self) -> str:
        """The ``--vary`` argument that gives this Vary."""
        return "+".join(self.keys) + "=" + ",".join("+".join(level) for level in self.levels)


def _same(value) -> str:
    """What makes two values of a key the same value (1e-3 and 0.001; 1 and 1.0)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(float(value))
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def parse_vary(text: str) -> Vary:
    """A ``--vary`` argument: ``section.key=v1,v2,...`` or ``a.k1+b.k2=v1+w1,v2+w2`` (keys varied
    together). Keys are declared config keys (``config.parse_key``: no spaces inside); values are one TOML
    value each (``1e-3``, ``"fa"``, ``[32, 32]``) or else a bare word read as a string
    (``config.parse_value``). Raises ConfigError (one line) for a malformed argument or a value given
    twice (1e-3 and 0.001 are the same value)."""
    keys_text, sep, values_text = str(text).partition("=")
    usage = f"--vary {text!r}: expected section.key=v1,v2,... (e.g. training.scheme=vanilla,fa)"
    if not sep or not values_text.strip():
        raise ConfigError(usage)
    keys = []
    for part in keys_text.split("+"):
        if "." not in part:  # a sweep varies section keys (the root's title is not a run's setting)
            raise ConfigError(usage)
        section, key = parse_key(part, f"--vary {text!r}")
        keys.append(f"{section}.{key}")
    keys = tuple(keys)
    levels = []
    for level in _split_top(values_text, ","):
        parts = tuple(_split_top(level, "+")) if len(keys) > 1 else (level,)
        if not level:
            raise ConfigError(f"--vary {text!r}: an empty value (two commas in a row, or one at an end)")
        if len(parts) != len(keys) or not all(parts):
            raise ConfigError(f"--vary {text!r}: the value {level!r} needs {len(keys)} parts joined by + "
                              f"(one per key: {' + '.join(keys)})")
        levels.append(parts)
    vary = Vary(keys, tuple(levels))
    seen = {}
    for level, values in zip(levels, zip(*(vary.values(k) for k in range(len(keys))))):
        same = tuple(_same(v) for v in values)
        if same in seen:
            raise ConfigError(f"--vary {'+'.join(keys)}: the values {'+'.join(seen[same])} and {'+'.join(level)} "
                              "are the same (each value once)")
        seen[same] = level
    return vary


def _what_runs(raw: dict) -> dict:
    """The config (TOML tables) a sweep's runs take: without the sections it does not read ([pde], [compare],
    [discover]) and [particles] record_every, with training.snapshots = 2 (each run goes from 0 to t_end in one
    stretch), so that their rules (a grid, steps per snapshot interval, records) do not refuse what runs."""
    out = {k: v for k, v in raw.items() if k not in UNUSED_SECTIONS}
    left = [f"[{s}]" for s in UNUSED_SECTIONS if s in raw]
    if isinstance(out.get("particles"), dict) and "record_every" in out["particles"]:
        out["particles"] = {k: v for k, v in out["particles"].items() if k != "record_every"}
        left.append("particles.record_every")
    training = out.get("training", {})
    if isinstance(training, dict) and training.get("snapshots") != 2:
        out["training"] = {**training, "snapshots": 2}
    if left:  # documented (README, "Sweeps"); a note for who asks (a refusal stays one line)
        log.debug("the sweep does not read %s: left out", ", ".join(left))
    return out


def _base_value(text: str, section: str, key: str):
    """The checked value of one key of config ``text`` (its default when absent), the rest of the config
    unchecked (a sweep may replace it)."""
    from wgf.settings import SECTIONS

    table = load_toml(text).get(section, {})
    if not isinstance(table, dict):
        raise ConfigError(f"[{section}]: expected a table of keys, got {table!r}")
    cls = SECTIONS[section]
    value = table.get(key, cls.default(key))
    return cls.keys()[key].check(section, key, list(value) if isinstance(value, tuple) else value)


@dataclass(frozen=True)
class Sweep:
    """A base config and the keys it varies; ``seeds`` from its [particles] section.

    text : the base config (TOML); its [particles] n, when a list and not varied, is varied as N
    varies : tuple of Vary
    base_dir : where the config's relative paths resolve (None: the current folder)
    name : a label (the named sweeps, e.g. the paper's study)
    """

    text: str
    varies: tuple = ()
    base_dir: str | None = None
    name: str = ""
    meta: dict = field(default_factory=dict, compare=False)

    @classmethod
    def build(cls, text: str, varies: Iterable[Vary | str] = (), *, base_dir: PathLike | None = None, name: str = "",
              meta: Mapping[str, Any] | None = None) -> "Sweep":
        """The sweep of ``text`` over ``varies`` (Vary or ``--vary`` strings), checked before any run: the
        configuration each combination runs is checked as ``parse_config`` checks a config (a bad value is a
        one-line ConfigError naming it and the combination), the base config's values of varied keys are
        not (they are replaced), and what a sweep does not read is left out of its text (``_what_runs``)."""
        varies = [v if isinstance(v, Vary) else parse_vary(v) for v in varies]
        keys = [k for v in varies for k in v.keys]
        if len(set(keys)) != len(keys):
            raise ConfigError(f"--vary: {next(k for k in keys if keys.count(k) > 1)} is varied twice")
        unused = [k for k in keys if k.split(".")[0] in UNUSED_SECTIONS or k in UNUSED_KEYS]
        if unused:
            raise ConfigError(f"--vary {unused[0]}: a sweep does not use it (it trains particles to t_end and "
                              "measures them there)")
        names = [v.dim for v in varies] + [k.rsplit(".", 1)[-1] for v in varies for k in v.keys[1:]]
        taken = [d for d in names if names.count(d) > 1 or d in RESERVED]
        if taken:
            raise ConfigError(f"--vary: two varied keys, or a varied key and a variable of the file, are both "
                              f"named '{taken[0]}'")
        for v in varies:
            if "particles.n" in v.keys and not all(isinstance(n, int) and not isinstance(n, bool)
                                                   for n in v.values(v.keys.index("particles.n"))):
                raise ConfigError(f"--vary {v.text()}: particles.n takes one integer N per level")
        raw = load_toml(text)
        if not isinstance(raw.get("particles"), dict):
            raise ConfigError("[particles]: a sweep trains particles; the config has no [particles] section")
        ran = _what_runs(raw)
        if ran != raw:  # the configuration that runs is checked, and recorded
            text = dump_toml(ran)
        if "particles.n" not in keys:  # the config's list of N is a dimension too
            ns = _base_value(text, "particles", "n")
            varies.insert(0, Vary(("particles.n",), tuple((str(int(n)),) for n in ns)))
        sweep = cls(text, tuple(varies), None if base_dir is None else str(base_dir), name, dict(meta or {}))
        if sweep.n_jobs > MAX_JOBS:
            raise ConfigError(f"--vary: {sweep.n_jobs} runs ({math.prod(sweep.shape)} combinations x {sweep.seeds} "
                              f"seeds), more than {MAX_JOBS}")
        sweep.plan()
        return sweep

    def plan(self) -> dict[tuple, tuple[int, float, bool]]:
        """index -> (N, the cost of a run N t_end / eps, whether exact OT to nu^G fits the size guard, the memory
        of a run in bytes) of every combination, each checked as ``parse_config`` checks its config
        (``config.ConfigVariants``: each distinct section table and problem once); computed once per Sweep."""
        if "_plan" in self.__dict__:
            return self.__dict__["_plan"]
        variants = ConfigVariants(self.text, None if self.base_dir is None else Path(self.base_dir))
        settings = [v.settings() for v in self.varies]
        combinations = self.combinations()
        out = {}
        # a large sweep shows its check as a progress bar on a terminal (none in a pipe or a file), erased when
        # done and before a refusal's one line
        for index in tqdm(combinations, desc="checking the combinations", unit="combination", leave=False,
                          disable=True if len(combinations) < LARGE_SWEEP else None):
            values = {}
            for levels, k in zip(settings, index):
                values.update(levels[k])
            try:
                e = variants.experiment(values)
            except ConfigError as err:
                raise ConfigError(f"{err} (at {', '.join(self.overrides(index))})") from None
            n = int(e.particles.n[0])
            out[index] = (n, n * e.problem.t_end / e.particles.eps(n),
                          wi_skipped(e.problem, n, "end") is None,
                          max(memory for _, memory, _ in experiment_needs(e)))
        object.__setattr__(self, "_plan", out)
        return out

    @property
    def shape(self) -> tuple:
        return tuple(len(v.levels) for v in self.varies)

    @property
    def seeds(self) -> int:
        """[particles] seeds of the base config."""
        return _base_value(self.text, "particles", "seeds")

    @property
    def title(self) -> str:
        return read_section(self.text, "").title

    @property
    def n_jobs(self) -> int:
        return math.prod(self.shape) * self.seeds

    def combinations(self) -> list[tuple]:
        """Every index tuple into ``shape``, in C order."""
        return list(itertools.product(*(range(n) for n in self.shape)))

    def overrides(self, index: Sequence[int]) -> list[str]:
        """``section.key=value`` for each varied key at ``index``."""
        return [f"{key}={value}" for v, k in zip(self.varies, index) for key, value in zip(v.keys, v.levels[k])]

    def experiment(self, index: Sequence[int]) -> Experiment:
        """The experiment of one combination (ConfigError naming the combination if it is not valid)."""
        try:
            return parse_config(apply_overrides(self.text, self.overrides(index)),
                                None if self.base_dir is None else Path(self.base_dir))
        except ConfigError as e:
            raise ConfigError(f"{e} (at {', '.join(self.overrides(index))})") from None

    def to_json(self) -> str:
        """Canonical text of the sweep (stored in the results file; a resume must match it); text beyond ASCII as
        it is (UTF-8 in the file), never as escapes."""
        return json.dumps({"text": self.text, "varies": [v.text() for v in self.varies], "base_dir": self.base_dir,
                           "name": self.name, "meta": self.meta}, sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Sweep":
        d = json.loads(text)
        return cls(d["text"], tuple(parse_vary(v) for v in d["varies"]), d["base_dir"], d["name"], d["meta"])


@functools.lru_cache(maxsize=4)
def _sweep_of(sweep_json: str) -> Sweep:
    """``Sweep.from_json``, once per process for the runs of one sweep (its --vary values are parsed and compared
    once, not per run)."""
    return Sweep.from_json(sweep_json)


def sweep_job(sweep_json: str, index: tuple, seed: int, with_wi: bool) -> dict:
    """One run of a sweep: {quantity: value} of the particles at t_end (module docstring), or
    {"blew_up": message} when the run blew up. Picklable: it runs in a worker process or on a dask worker."""
    from wgf.particles import BlowUpError, simulate

    sweep = _sweep_of(sweep_json)
    exp = sweep.experiment(index)
    problem, settings = exp.problem, exp.particles
    n = int(np.atleast_1d(settings.n)[0])
    try:
        theta = simulate(problem, n, seed, [0.0, problem.t_end], alpha=settings.alpha, step=settings.step,
                         batch=settings.batch, store=False).final
        names = [d for q, d in SWEEP_DIAGNOSTICS.items() if q != "wi_rmd2" or with_wi]
        measured = measure(problem, theta, kind="end", t=problem.t_end, seed=seed, names=names, total=True)
    except BlowUpError as e:
        return {"blew_up": str(e)}
    return {q: measured[d] for q, d in SWEEP_DIAGNOSTICS.items() if d in measured and measured[d] is not None}


def _coordinate_values(vary: Vary, k: int):
    values = vary.values(k)
    if all(isinstance(v, bool) for v in values):
        return np.array(values, dtype="i1"), "i1"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype="i8"), "i8"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.array(values, dtype="f8"), "f8"
    import h5py

    return (np.array([v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for v in values], dtype=object),
            h5py.string_dtype())


def _salvaged(group, name: str, fill: float):
    """``group[name]`` if it exists and every chunk passes its checksum; if some fail (a resumed file with
    flipped bytes), the dataset is removed and its values returned with those chunks set to ``fill``
    (their runs become pending and run again: HDF5 cannot write into a chunk it cannot read); else None."""
    ds = group.get(name)
    if ds is None:
        return None
    values = np.full(ds.shape, fill, dtype=ds.dtype)
    damaged = 0
    for sel in ds.iter_chunks():
        try:
            values[sel] = ds[sel]
        except OSError:
            damaged += 1
    if not damaged:
        return ds
    log.warning("%s: %d chunk(s) fail their checksum: their runs are run again", ds.name, damaged)
    del group[name]
    return values


def run_sweep(sweep: Sweep, out_path: PathLike, *, workers: int = 1, dask: str | Client | None = None,
              resume: bool = False, progress: bool = True, retries: int | None = None) -> Path:
    """Run every job of ``sweep`` and write ``out_path`` (atomically on completion; module docstring).

    Layout: /sweep/<dim> for each varied key (and keys varied with it as coordinates along it),
    /sweep/seed, /sweep/<quantity> (*shape, S) with long_name and units, /sweep/status (*shape, S)
    (0 pending, 1 finished, 2 blew up: its quantities hold -1, the netCDF _FillValue, read as NaN).
    ``resume`` continues a partial file of the same sweep. Runs go to ``workers`` local processes (their
    memory checked first: ResourceError) or the dask scheduler ``dask``; a failing run is retried ``retries``
    times (a blow-up is not: it is recorded), then stops the sweep with a JobError naming it.
    """
    from wgf.executors import DEFAULT_RETRIES, run_jobs
    from wgf.io import ResultsFile, intact

    out_path = Path(out_path)
    text = sweep.to_json()
    seeds, shape = sweep.seeds, sweep.shape
    # per combination: N, the cost of a run (~ N^2 t_end / alpha, or N t_end / step) and whether exact OT
    # to nu^G fits the size guard (computed when the sweep was built)
    plan = sweep.plan()
    if dask is None:  # local processes: each holds Python, numba and the kernels besides its run
        check_processes("the largest run of the sweep", min(workers, sweep.n_jobs), max(p[3] for p in plan.values()))
    skipped_wi = sorted({plan[i][0] for i in plan if not plan[i][2]})
    with ResultsFile(out_path, text, resume=resume) as out:
        root = out.file.require_group(SWEEP)
        title = sweep.title
        out.file.attrs["title"] = f"{title + ': ' if title else ''}sweep of {', '.join(v.dim for v in sweep.varies)}"
        root.attrs["name"] = sweep.name
        root.attrs["base_config"] = sweep.text
        coords, extras = [], []
        for v in sweep.varies:
            values, dtype = _coordinate_values(v, 0)
            coord = replace(SWEEP_COORDINATES["{key}"], dtype=dtype).coordinate(out, SWEEP, values, key=v.dim,
                                                                               config_key=v.keys[0])
            coord.attrs["config_key"] = v.keys[0]
            coords.append(coord)
            for k, key in enumerate(v.keys[1:], start=1):
                values, dtype = _coordinate_values(v, k)
                extra = SWEEP_VARIABLES["{key}"].format(key=key.rsplit(".", 1)[-1], first_key=v.dim, config_key=key,
                                                        first_config_key=v.keys[0])
                replace(extra, dtype=dtype).write(out, SWEEP, values, coord, config_key=key)
                extras.append(key.rsplit(".", 1)[-1])
        coords.append(SWEEP_COORDINATES["seed"].coordinate(out, SWEEP, np.arange(seeds)))
        names = [q for q in SWEEP_QUANTITIES if q != "wi_rmd2" or len(skipped_wi) < len({p[0] for p in plan.values()})]
        if skipped_wi:
            root.attrs["wi_rmd2_skipped"] = (f"at N = {', '.join(map(str, skipped_wi))}: exact OT between N and |G| N "
                                             f"points exceeds the limit of {ot_limit('end')} pairs (those runs "
                                             "have no wi_rmd2 value)")
        sets = {}
        for q in names:
            ds = _salvaged(root, q, MISSING)
            if not isinstance(ds, h5py.Dataset):
                ds = root.create_dataset(q, shape=shape + (seeds,), dtype="f8", fillvalue=MISSING, fletcher32=True,
                                         chunks=True, data=ds)
                for key, value in SWEEP_QUANTITIES[q].attrs.items():
                    ds.attrs[key] = value
                ds.attrs["_FillValue"] = np.float64(MISSING)  # netCDF readers show runs without values as NaN
                if extras:  # CF: the keys varied with others are coordinates of every quantity
                    ds.attrs["coordinates"] = " ".join(extras)
            sets[q] = out.label(ds, *coords)
        status = _salvaged(root, "status", STATUS["pending"])
        if not isinstance(status, h5py.Dataset):
            status = root.create_dataset("status", shape=shape + (seeds,), dtype="i1", fillvalue=0, fletcher32=True,
                                         chunks=True, data=status)
            status.attrs.update(**SWEEP_VARIABLES["status"].attrs,
                                flag_values=np.array(list(STATUS.values()), dtype="i1"),
                                flag_meanings=" ".join(STATUS))
            if extras:
                status.attrs["coordinates"] = " ".join(extras)
            out.label(status, *coords)
        out.seal()  # the layout's metadata checksums written before any run ends
        jobs = []
        states = status[()]  # read once (one read per run costs 40 us: 30 s for 800,000 runs)
        for index in sweep.combinations():
            for s in range(seeds):
                at = index + (s,)
                state = int(states[at])
                if state == STATUS["blew_up"]:
                    continue
                if state == STATUS["finished"]:
                    kept = [sets[q] for q in names if q != "wi_rmd2" or plan[index][2]]
                    if intact(*kept, index=at) and all(ds[at] != MISSING for ds in kept):  # MISSING: salvaged
                        continue
                    status[at] = STATUS["pending"]  # damaged: run it again
                jobs.append((text, index, s, plan[index][2]))
        n_total = sweep.n_jobs
        jobs.sort(key=lambda job: -plan[job[1]][1])  # the longest runs first: better load balance
        bar = tqdm(total=n_total, initial=n_total - len(jobs), desc="sweep", unit="run",
                   disable=None if progress else True)  # on a terminal only: none in a pipe or a log file
        runs = run_jobs(sweep_job, jobs, workers=workers, dask=dask,
                        retries=DEFAULT_RETRIES if retries is None else retries,
                        describe=lambda j: f"sweep run {', '.join(sweep.overrides(j[1]))}, seed {j[2]}")
        def mark(finished):  # the values are on the disk before they are marked: one pair of syncs per batch
            out.sync()
            for at, state in finished:
                status[at] = state
            out.sync()
            bar.update(len(finished))

        with out.batched(mark) as marks:
            for job, values in runs:
                at = tuple(job[1]) + (job[2],)
                out.room()  # stop cleanly before a write the disk cannot take
                for q in names:  # what a run leaves without a value holds the fill value (NaN for netCDF readers)
                    sets[q][at] = values.get(q, MISSING)
                if "blew_up" in values:
                    log.warning("%s, seed %d blew up: %s", ", ".join(sweep.overrides(job[1])), job[2],
                                values["blew_up"])
                marks.add((at, STATUS["blew_up" if "blew_up" in values else "finished"]))
        bar.close()
    return out_path


def read_sweep(path: PathLike) -> xr.Dataset:
    """The /sweep group of a sweep file as an ``xarray.Dataset``: the quantities on the varied keys' dimensions
    and seed, runs without values (not finished, or blown up) as NaN (``wgf.schema.read_sweep``)."""
    return _read_sweep(path)


# the most rows ``sweep_table`` prints
MAX_TABLE_ROWS = 48


def _mean(value) -> str:
    """A mean over seeds as printed: NaN (no run of the combination finished, or blew up) as "-"."""
    value = float(value)
    return f"{value:12.3e}" if np.isfinite(value) else f"{'-':>12}"


def sweep_table(path: PathLike) -> str:
    """The mean over seeds of every quantity, one row per combination of the varied keys."""
    ds = read_sweep(path)
    names = [q for q in SWEEP_QUANTITIES if q in ds]
    dims = [d for d in ds["status"].dims if d != "seed"]
    means = {q: ds[q].mean("seed") for q in names}
    blown = (ds["status"] == STATUS["blew_up"]).sum("seed")
    width = {d: max(len(d), *(len(str(v)) for v in ds[d].values)) + 2 for d in dims}
    lines = [f"mean over {ds.sizes['seed']} seeds at the end of training"
             + ("" if "wi_rmd2" in ds else f" (wi_rmd2 skipped: {ds.attrs.get('wi_rmd2_skipped', '')})"),
             "".join(f"{d:<{width[d]}}" for d in dims) + "".join(f"{q:>12}" for q in names)]
    combos = list(itertools.product(*(range(ds.sizes[d]) for d in dims)))
    for index in combos[:MAX_TABLE_ROWS]:
        at = dict(zip(dims, index))
        row = "".join(f"{str(ds[d].values[i]):<{width[d]}}" for d, i in at.items())
        row += "".join(f"{_mean(means[q][at])}" for q in names)
        if int(blown[at]):
            row += f"   ({int(blown[at])} blew up)"
        lines.append(row)
    if len(combos) > MAX_TABLE_ROWS:
        lines.append(f"... and {len(combos) - MAX_TABLE_ROWS} more rows (read the file with wgf.sweep.read_sweep)")
    return "\n".join(lines)
