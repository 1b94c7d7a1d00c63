"""The ``wgf`` command line (docs/theory.md §10).

Exit codes: 0 success, 1 a numerical failure during the run (reported in one
line), 2 bad input (one line naming the key or value, before any work starts).
"""

from __future__ import annotations

import argparse
import faulthandler
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from wgf.interrupts import interruptible

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["main"]

MAX_WORKERS = 1024


class _Names:
    """The names of a registry (``module.attribute``) as argparse choices, imported only when a choice is
    checked or listed (``wgf --help`` imports none of wgf's numerical modules)."""

    def __init__(self, module: str, attribute: str):
        self.module, self.attribute = module, attribute

    def _names(self):
        import importlib

        return tuple(getattr(importlib.import_module(self.module), self.attribute))

    def __contains__(self, name) -> bool:
        return name in self._names()

    def __iter__(self):
        return iter(self._names())


class _Parser(argparse.ArgumentParser):
    """argparse with the contract's error format: one line on stderr, exit code 2."""

    def error(self, message):
        self.exit(2, f"wgf: error: {self.prog}: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="wgf", description="Mean-field Wasserstein gradient flows of shallow networks.")
    from wgf._version import __version__

    p.add_argument("--version", action="version", version=f"wgf {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = sub.add_parser("demo", help="run the built-in experiment: results.h5, figures and a summary")
    demo.add_argument("-o", "--output", default="wgf-demo", help="output folder (default: wgf-demo)")
    demo.add_argument("--overwrite", action="store_true", help="replace an existing results.h5 in the folder")
    demo_loud = demo.add_mutually_exclusive_group()
    demo_loud.add_argument("--quiet", action="store_true", help="no progress bars or logs")
    demo_loud.add_argument("-v", "--verbose", action="store_true",
                           help="also log the details: the PDE's time integrator and its cost, the hypotheses")
    check = sub.add_parser("check", help="run the paper's results as measured checks; exit 0 iff all pass")
    check.add_argument("names", nargs="*", help="checks to run (default: all)")
    check.add_argument("--quiet", action="store_true", help="print only the table")
    check.add_argument("--list", action="store_true", help="list the checks and what each measures, run nothing")
    report = sub.add_parser("report", help="print the summary of a results file and draw its figures")
    report.add_argument("results", help="an HDF5 file written by wgf")
    report.add_argument("--figures", help="folder for the figures (PNG and PDF)")
    report.add_argument("--quiet", action="store_true", help="no logs")
    run = sub.add_parser("run", help="run the sections of a TOML config and write an HDF5 file")
    run.add_argument("config", help="experiment config (TOML)")
    run.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                     help="override a config value (every key: wgf config), e.g. --set training.beta=1e-3 "
                          "(repeatable)")
    run.add_argument("-o", "--output", help="results file (default: CONFIG name with .h5, in the current folder)")
    run.add_argument("--figures", metavar="DIR", help="also draw the figures (PNG and PDF) into DIR")
    run.add_argument("--overwrite", action="store_true", help="replace an existing results file")
    run.add_argument("--resume", action="store_true", help="continue an interrupted run (OUT.h5.partial)")
    run.add_argument("--workers", type=int, default=1, help="local processes for the particle runs (default 1)")
    run.add_argument("--dask", metavar="ADDRESS",
                     help="run the particle runs on the dask.distributed scheduler at ADDRESS (tcp://HOST:PORT)")
    loud = run.add_mutually_exclusive_group()
    loud.add_argument("--quiet", action="store_true", help="no progress bars or logs (the summary is printed)")
    loud.add_argument("-v", "--verbose", action="store_true",
                      help="also log the details: the PDE's time integrator and its cost, the hypotheses and the "
                           "rates as they are found")
    run.add_argument("--dry-run", action="store_true",
                     help="check the config and sizes, print the plan (sections, runs, grid, memory, disk and time) "
                          "and exit without writing anything")
    study = sub.add_parser("paper-study", help="the paper's study for varying N (docs/theory.md §9): RMD^2 to E^G per scheme")
    study.add_argument("--quick", action="store_true", help="N in {10, 100, 1000} and 3 seeds (default: the full study)")
    study.add_argument("--group", choices=_Names("wgf.study", "STUDY_GROUPS"), default="swap", metavar="GROUP",
                       help="swap: the paper's problem (default); rotation: 2x2 gated units under SO(2), "
                            "N in {10, 100, 1000}, 3 seeds")
    study.add_argument("-o", "--output", default="wgf-paper-study", help="output folder (default: wgf-paper-study)")
    study.add_argument("--overwrite", action="store_true", help="replace an existing paper_study.h5 in the folder")
    study.add_argument("--resume", action="store_true", help="continue an interrupted study (paper_study.h5.partial)")
    study.add_argument("--workers", type=int, default=1, help="local processes for the runs (default 1)")
    study.add_argument("--dask", metavar="ADDRESS", help="run on the dask.distributed scheduler at ADDRESS")
    study.add_argument("--quiet", action="store_true", help="no progress bars or logs")
    sweep = sub.add_parser("sweep", help="train every combination of varied config values x seeds; one file with "
                                         "the varied keys as dimensions")
    sweep.add_argument("config", help="base config (TOML), or the name of a built-in sweep: "
                                      "paper, paper-quick, paper-rotation")
    sweep.add_argument("--vary", action="append", default=[], metavar="SECTION.KEY=V1,V2,...",
                       help="a varied key and its values, e.g. --vary training.scheme=vanilla,fa (repeatable); keys "
                            "varied together: --vary training.init+training.noise=si+projected,wi+full")
    sweep.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                       help="override a value of the base config, e.g. --set particles.seeds=5 (repeatable). "
                            "Precedence: --vary over --set over a built-in sweep's levels over the base config; a "
                            "--set key a built-in sweep varies is fixed (keys varied with it keep their levels); "
                            "the base's value of a varied key is replaced before anything is checked")
    sweep.add_argument("-o", "--output", help="output folder: sweep.h5 and the figures (default: CONFIG-sweep)")
    sweep.add_argument("--x", metavar="KEY", help="the varied key on the figures' x axis, by its dimension name "
                                                  "(scheme) or config key (training.scheme); default: N")
    sweep.add_argument("--overwrite", action="store_true", help="replace an existing sweep.h5 in the folder")
    sweep.add_argument("--resume", action="store_true", help="continue an interrupted sweep (sweep.h5.partial)")
    sweep.add_argument("--workers", type=int, default=1, help="local processes for the runs (default 1)")
    sweep.add_argument("--dask", metavar="ADDRESS", help="run on the dask.distributed scheduler at ADDRESS")
    sweep.add_argument("--quiet", action="store_true", help="no progress bars or logs")
    sweep.add_argument("--dry-run", action="store_true",
                       help="check every combination, print the plan and exit without writing anything")
    disc = sub.add_parser("discover", help="find the parameter subspace the training flow keeps (E^G if equivariant)")
    disc.add_argument("config", help="problem config (TOML), with an optional [discover] section")
    disc.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                      help="override a config value (every key: wgf config), e.g. --set discover.n=200 (repeatable)")
    disc.add_argument("-o", "--output", help="results file (default: CONFIG name with .h5, in the current folder)")
    disc.add_argument("--overwrite", action="store_true", help="replace an existing results file")
    disc.add_argument("--quiet", action="store_true", help="print only the result")
    disc.add_argument("--dry-run", action="store_true",
                      help="check the config and sizes, print the plan and exit without writing anything")
    conf = sub.add_parser("config", help="every config key: its type, default, allowed values and meaning "
                                         "(docs/config.md)")
    conf.add_argument("key", nargs="?", help="one key, as section.key (e.g. pde.cells) or title")
    conf.add_argument("--json", action="store_true",
                      help="a JSON list of objects with fields key, type, default, choices and doc")
    return p


def _fail(message: str, code: int = 2) -> int:
    message = " ".join(str(message).split())  # always one line, whatever the message holds
    _clear_progress_bars()
    print(f"wgf: error: {message}", file=sys.stderr)
    return code


def _clear_progress_bars() -> None:
    """Close the progress bars still on the screen, erasing their line (a failed run's bars would otherwise
    be glued to the error line, and redrawn after it when they are collected)."""
    if "tqdm" not in sys.modules:
        return
    from tqdm import tqdm

    for bar in list(tqdm._instances):
        bar.leave = False
        bar.close()


class _AboveProgressBars:
    """The stream of the log lines: stderr, where a line written while progress bars are on the screen goes
    above them (``tqdm.write`` erases the bars, writes the line and draws them again below it) instead of
    being glued to the end of a bar's line."""

    def write(self, text: str) -> None:
        bars = sys.modules["tqdm"].tqdm._instances if "tqdm" in sys.modules else ()
        if bars and text.endswith("\n"):
            sys.modules["tqdm"].tqdm.write(text[:-1], file=sys.stderr)
        else:
            sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _cmd_run(args) -> int:
    from wgf.config import ConfigError, load_config
    from wgf.runner import run_experiment

    try:
        exp = load_config(args.config, args.set)
    except ConfigError as e:
        return _fail(str(e))
    out = args.written = Path(args.output) if args.output else Path(Path(args.config).stem + ".h5")
    from wgf.io import output_refused

    # an output named like another's partial or lock file is refused before it is read as a complete one
    refused = _workers_refused(args.workers, args.dask) or output_refused(out, inputs=(args.config,), probe=False)
    if refused:
        return _fail(refused)
    if out.exists() and not args.overwrite and args.resume:
        written = _config_of(out)
        if written is None:
            return _fail(f"'{out}' exists but is not a wgf results file that can be read: use --overwrite or "
                         "another -o")
        if written != exp.text:
            return _fail(f"'{out}' is complete but was written by a different config: nothing of it can be "
                         "resumed (use --overwrite or another -o)")
        print(f"{out} is complete: nothing to resume")
        return 0
    refused = _output_refused(out, args.overwrite, args.resume, inputs=(args.config,), probe=not args.dry_run)
    if refused:
        return _fail(refused)
    if args.figures and Path(args.figures).exists() and not Path(args.figures).is_dir():
        return _fail(f"--figures '{args.figures}' is a file, not a folder")
    if args.dry_run:
        return _dry_run(exp, out)
    from wgf.plan import check_experiment
    from wgf.resources import ResourceError

    try:
        check_experiment(exp, folder=out.parent, workers=1 if args.dask else args.workers)
    except ResourceError as e:
        return _fail(str(e))
    if args.figures:
        from wgf.report import ReportError, figure_folder

        try:
            figure_folder(args.figures)
        except ReportError as e:
            return _fail(str(e))
    code = _execute(lambda client: run_experiment(exp, out, quiet=args.quiet, resume=args.resume,
                                                  workers=args.workers, dask=client),
                    args.dask if exp.particles is not None else None)
    if code:
        return code
    return _report(out, args.figures, written=True)


def _cmd_demo(args) -> int:
    from wgf.demo import run_demo

    folder = Path(args.output)
    if folder.exists() and not folder.is_dir():
        return _fail(f"output '{folder}' is not a folder")
    args.written = folder / "results.h5"
    if (folder / "results.h5").exists() and not args.overwrite:
        return _fail(f"'{folder / 'results.h5'}' exists (use --overwrite or another -o folder)")
    refused = _folder_refused(folder) or _output_refused(folder / "results.h5", True, False)
    if refused:
        return _fail(refused)
    code = _execute(lambda client: print(run_demo(folder, quiet=args.quiet)), None)
    if code:
        return code
    print(f"\nresults: {folder / 'results.h5'}; figures: {folder}/*.png, *.pdf")
    return 0


def _cmd_check(args) -> int:
    from wgf.validation.checks import CHECKS, run_checks, table_header, table_row

    unknown = [n for n in args.names if n not in CHECKS]
    if unknown:
        return _fail(f"unknown check '{unknown[0]}' (choose from {', '.join(CHECKS)})")
    names = args.names or list(CHECKS)
    if args.list:
        width = max(len(name) for name in names)
        for name in names:
            print(f"{name:<{width}}  {(CHECKS[name].__doc__ or '').strip().splitlines()[0]}")
        return 0
    print(table_header(names))

    def show(row):
        print(table_row(row, names), flush=True)

    rows = run_checks(args.names or None, on_result=show)
    failed = [r.name for r in rows if not r.passed]
    print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def _cmd_discover(args) -> int:
    from wgf.config import ConfigError, load_config
    from wgf.discovery import discover, format_round
    from wgf.settings import DiscoverSettings
    from wgf.io import OutputBusyError, OutputLock, ResultsFile
    from wgf.particles import BlowUpError

    try:
        exp = load_config(args.config, args.set)
    except ConfigError as e:
        return _fail(str(e))
    out = args.written = Path(args.output) if args.output else Path(Path(args.config).stem + ".h5")
    refused = _output_refused(out, args.overwrite, False, inputs=(args.config,), probe=not args.dry_run)
    if refused:
        return _fail(refused)
    settings = exp.discover or DiscoverSettings()
    try:
        settings.check(exp.problem)  # sizes of the defaults too
    except ConfigError as e:
        return _fail(str(e))
    if args.dry_run:
        from dataclasses import replace

        return _dry_run(replace(exp, discover=settings), out)
    problem = exp.problem

    def show(row):
        if not args.quiet:
            print(format_round(row), flush=True)

    try:
        lock = OutputLock(out)  # before any work: a second writer of the output is refused at once
    except OutputBusyError as e:
        return _fail(str(e))
    with lock:
        try:
            result = discover(problem, **settings.arguments(), on_round=show)
        except BlowUpError as e:
            return _fail(f"numerical blow-up: {e}", code=1)
        reference = problem.symmetry.basis
        try:
            with ResultsFile(out, exp.text, lock=lock) as f:
                f.file.attrs["title"] = exp.title
                result.write(f, reference)
        except OutputBusyError as e:
            return _fail(str(e))
    angles = result.principal_angles(reference)
    status = "" if result.converged else " (max_dim reached before RMD^2 <= delta)"
    print(f"discovered dim E_* = {result.dim}{status}; dim E^G = {reference.shape[1]} (group '{problem.group.name}')")
    print("principal angles to E^G (rad): " + (", ".join(f"{a:.2e}" for a in angles) or "none")
          + (f"  (max {angles.max():.2e})" if angles.size else ""))
    if not args.quiet:
        print(f"wrote {out}")
    return 0


def _dry_run(exp, out: Path) -> int:
    """Print the plan of ``exp`` (``wgf.plan``) and where it would be written; write nothing."""
    from wgf.plan import plan

    print(plan(exp))
    print(f"output: {out} (dry run: nothing written)")
    return 0


def _cmd_config(args) -> int:
    import json

    from wgf.settings import ConfigError, all_keys, describe, find_key, key_line

    try:
        keys = [find_key(args.key)[:2]] if args.key is not None else [(cls, name) for cls, name, _ in all_keys()]
    except ConfigError as e:
        return _fail(str(e))
    items = [describe(cls, name) for cls, name in keys]
    if args.json:
        print(json.dumps([{k: item[k] for k in ("key", "type", "default", "choices", "doc")} for item in items],
                         indent=1))
    else:
        for item in items:
            print(key_line(item))
    return 0


def _execute(work, dask_address) -> int:
    """work(client or None), connected to the dask scheduler at ``dask_address`` if given; 0, or the exit
    code after one line: 2 for an unreachable scheduler or a partial file that cannot be resumed,
    1 for a numerical blow-up or a job that failed on every attempt."""
    from wgf.executors import JobError, SchedulerError, connect
    from wgf.grids import GridBlowUpError, MinimizerError
    from wgf.io import OutputBusyError, ResumeError
    from wgf.particles import BlowUpError
    from wgf.resources import ResourceError

    client = None
    try:
        if dask_address is not None:
            client = connect(dask_address)
        work(client)
    except SchedulerError as e:
        return _fail(f"--dask: {e}")
    except (ResumeError, OutputBusyError, ResourceError) as e:  # refused before any work
        return _fail(str(e))
    except (BlowUpError, GridBlowUpError) as e:
        return _fail(f"numerical blow-up: {e}", code=1)
    except MinimizerError as e:  # the rest of the file (the PDE solved before) is kept in the .partial
        return _fail(f"[minimizer] {e} (raise max_iterations or tolerance)", code=1)
    except OSError as e:  # the disk filled up, the folder vanished, ...: what was finished is kept
        return _fail(_write_failure(e), code=1)
    except JobError as e:
        if isinstance(e.cause, OSError):
            return _fail(_write_failure(e.cause), code=1)
        if isinstance(e.cause, (BlowUpError, GridBlowUpError)):
            return _fail(f"numerical blow-up in {e.label}: {e.cause}", code=1)
        return _fail(str(e), code=1)
    finally:
        if client is not None:
            client.close()
    return 0


def _write_failure(e: OSError) -> str:
    import errno

    where = f" ('{e.filename}')" if getattr(e, "filename", None) else ""
    full = e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)  # the advice to free space only where it helps
    return (f"cannot write the results{where}: {e.strerror or e}; finished runs are kept in the partial "
            f"file: {'free the space and ' if full else ''}run the same command with --resume"
            + ("" if full else " once the cause is fixed"))


def _config_of(path: Path) -> str | None:
    """The config text a results file was written with, or None if it cannot be read."""
    import h5py

    from wgf.io import METADATA_CHECKSUM, metadata_digest

    try:
        with h5py.File(path, "r") as f:
            text = f.attrs.get("config")
            stored = f.attrs.get(METADATA_CHECKSUM)
            if stored is not None and stored != metadata_digest(f):  # a damaged header is not read as a config
                return None
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return text if isinstance(text, str) else None


def _folder_refused(folder: Path) -> str | None:
    """Why an output folder cannot be created (None if it can or exists)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return f"cannot create the output folder '{folder}': {e.strerror}"
    return None


def _output_refused(out: Path, overwrite: bool, resume: bool, *, inputs=(), probe: bool = True) -> str | None:
    """Why ``out`` cannot be written (None if it can): a path that cannot hold the results
    (``io.output_refused``; ``probe=False`` for a dry run, which writes nothing), an existing file or an
    interrupted partial one."""
    from wgf.io import output_refused, partial_path

    refused = output_refused(out, inputs=inputs, probe=probe)
    if refused:
        return refused
    if out.exists() and not overwrite:
        return f"output file '{out}' exists (use --overwrite to replace it)"
    if partial_path(out).exists() and not (resume or overwrite):
        return f"an interrupted run left '{partial_path(out)}': use --resume to continue it or --overwrite"
    return None


def _workers_refused(workers: int, dask) -> str | None:
    from wgf.executors import parse_address

    if workers < 1:
        return f"--workers must be >= 1, got {workers}"
    if workers > MAX_WORKERS:
        return f"--workers must be at most {MAX_WORKERS} local processes, got {workers} (use --dask for a cluster)"
    if dask is not None:
        if workers > 1:
            return "--dask and --workers exclude each other (the dask workers run the jobs)"
        try:
            parse_address(dask)
        except ValueError as e:
            return f"--dask: {e}"
    return None


def _job_output(folder: Path, name: str, args: argparse.Namespace) -> Path | str:
    """The results file ``name`` in the output folder of a study or sweep, or why it cannot be written:
    the options first, then the folder is created, then the file in it is checked (a complete file with
    --resume is taken as it is)."""
    if folder.exists() and not folder.is_dir():
        return f"output '{folder}' is not a folder"
    out = folder / name
    complete = out.exists() and args.resume and not args.overwrite
    return (_workers_refused(args.workers, args.dask) or _folder_refused(folder)
            or (None if complete else _output_refused(out, args.overwrite, args.resume)) or out)


def _cmd_paper_study(args) -> int:
    from wgf.study import STUDY_GROUPS, draw_study, run_paper_study, study_table, verdicts

    folder = Path(args.output)
    out = _job_output(folder, "paper_study.h5", args)
    if isinstance(out, str):
        return _fail(out)
    args.written = out
    complete = out.exists() and args.resume and not args.overwrite
    plan = STUDY_GROUPS[args.group](args.quick)
    folder.mkdir(parents=True, exist_ok=True)
    if complete:
        from wgf.study import paper_sweep

        if _config_of(out) != paper_sweep(plan).to_json():
            return _fail(f"'{out}' is complete but was written by a different study (or is not a study file): "
                         "use --overwrite or another -o")
        print(f"{out} is complete: nothing to resume")
    else:
        code = _execute(lambda client: run_paper_study(plan, out, workers=args.workers, dask=client,
                                                       resume=args.resume, progress=not args.quiet), args.dask)
        if code:
            return code
    print(study_table(out))
    print()
    for statement, value, holds in verdicts(out):
        print(f"{'holds' if holds else 'FAILS':<6} {statement}: {value:.3g}")
    paths = draw_study(out, folder)
    print(f"\nresults: {out}; figure: {paths[0]} (and .pdf)")
    return 0


def _cmd_sweep(args) -> int:
    from wgf.config import ConfigError, apply_overrides, parse_override, read_config
    from wgf.study import NAMED_SWEEPS
    from wgf.sweep import Sweep, parse_vary, run_sweep

    try:
        named = NAMED_SWEEPS[args.config]() if args.config in NAMED_SWEEPS and not Path(args.config).exists() else None
        given = [parse_vary(v) for v in args.vary]
        varied = {key for v in given for key in v.keys}
        overrides, fixed = [], set()
        for item in args.set:  # --vary over --set: the value of a key --vary gives is never checked or run
            section, key, _ = parse_override(item)
            dotted = f"{section}.{key}" if section else key
            if dotted in varied:
                logging.getLogger("wgf").warning("--set %s is not used: --vary %s gives its values (--vary takes "
                                                 "precedence over --set)", item.strip(), dotted)
            else:
                overrides.append(item)
                fixed.add(dotted)
        # --set and --vary over a built-in sweep's levels: a key given on the command line leaves its variation
        # (a --vary of it takes its place among the dimensions)
        varies, placed = [], []
        for v in named.varies if named else ():
            replacing = [g for g in given if set(g.keys) & set(v.keys) and g not in placed]
            left = v.without(fixed | varied)
            varies += replacing + ([left] if left else [])
            placed += replacing
        varies += [g for g in given if g not in placed]
        if named is not None:
            # changed by --set or --vary, it is a sweep of its own, no longer the named one
            same = not (args.set or args.vary)
            sweep = Sweep.build(apply_overrides(named.text, overrides), varies, name=named.name if same else "",
                                meta=named.meta if same else None)
        else:
            # the configuration each combination runs is checked (Sweep.build), not the base config on its own: the
            # base's values of the varied keys are replaced first
            sweep = Sweep.build(read_config(args.config, overrides), varies, base_dir=Path(args.config).parent.resolve())
    except ConfigError as e:
        return _fail(str(e))
    dims = {v.dim: v.keys[0] for v in sweep.varies}
    x = args.x if args.x is None or args.x in dims else next((d for d, k in dims.items() if k == args.x), args.x)
    if x is not None and x not in dims:
        return _fail(f"--x {args.x!r}: not a varied key (choose from {', '.join(dims)})")
    x = x or ("N" if "N" in dims else next(iter(dims)))
    folder = Path(args.output) if args.output else Path(Path(args.config).stem + "-sweep")
    if args.dry_run:
        refused = _workers_refused(args.workers, args.dask)
        if folder.exists() and not folder.is_dir():
            refused = refused or f"output '{folder}' is not a folder"
        if folder.is_dir():  # what a run would refuse in it (a run creates the folder; a dry run does not)
            refused = refused or _output_refused(folder / "sweep.h5", args.overwrite, args.resume, probe=False)
        if refused:
            return _fail(refused)
        first = sweep.experiment(sweep.combinations()[0])
        print(f"sweep: {' x '.join(f'{v.dim} ({len(v.levels)})' for v in sweep.varies)} = "
              f"{len(sweep.combinations())} combinations x {sweep.seeds} seeds = {sweep.n_jobs} runs")
        print("first combination: " + ", ".join(sweep.overrides(sweep.combinations()[0])))
        return _dry_run(first, folder / "sweep.h5")
    out = args.written = _job_output(folder, "sweep.h5", args)
    if isinstance(out, str):
        return _fail(out)
    complete = out.exists() and args.resume and not args.overwrite
    if complete:
        if _config_of(out) != sweep.to_json():
            return _fail(f"'{out}' is complete but was written by a different sweep: use --overwrite or another -o")
        print(f"{out} is complete: nothing to resume")
    else:
        code = _execute(lambda client: run_sweep(sweep, out, workers=args.workers, dask=client, resume=args.resume,
                                                 progress=not args.quiet), args.dask)
        if code:
            return code
    from wgf.report import draw_sweep, summary

    print(summary(out))  # what wgf report prints for the file

    paths = draw_sweep(out, folder, x=x)
    print(f"\nresults: {out}; figures: " + ", ".join(str(p) for p in paths))
    return 0


def _cmd_report(args) -> int:
    return _report(args.results, args.figures)


def _report(results, figures: str | None, *, written: bool = False) -> int:
    """Print the summary of ``results`` (``wgf.report.summary``) and draw its figures into ``figures`` if
    given, naming each file written: what ``wgf report`` prints, and how ``wgf run`` ends (``written``: the
    results file was just written, and is named last)."""
    from wgf.report import ReportError, draw_figures, figure_folder, summary

    try:
        if figures:
            figure_folder(figures)
        print(summary(results))
        paths = draw_figures(results, figures) if figures else ()
    except ReportError as e:
        return _fail(str(e))
    files = [*paths, results] if written else list(paths)
    if files:
        print()
    for path in files:
        print(f"wrote {path}")
    return 0


def _interrupted(written: Path | None) -> str:
    """The line for an interrupted command: what was written is in the .partial file (its finished parts
    marked) and --resume continues it; an interrupt before the file was opened leaves nothing."""
    from wgf.io import partial_path

    if written is not None and partial_path(written).exists():
        return (f"interrupted: the partial results file '{partial_path(written)}' is kept; run the same command "
                "with --resume to continue it")
    return "interrupted before any result was written"


def main(argv: Sequence[str] | None = None) -> int:
    # a crash in compiled code (e.g. a damaged numba cache) prints a Python traceback instead of dying silently
    try:
        faulthandler.enable()
    except (AttributeError, ValueError, OSError):  # stderr without a file descriptor (embedded use)
        pass
    args = _parser().parse_args(argv)
    # wgf's own progress notes at INFO; other libraries (e.g. fontTools writing PDF fonts) only from WARNING on
    logging.basicConfig(level=logging.WARNING, format="wgf: %(message)s", stream=_AboveProgressBars())
    if args.command not in ("config",):
        import tqdm

        # no monitor thread: nothing redraws a bar behind the command's back (after the error line that erased it)
        tqdm.tqdm.monitor_interval = 0
    logging.getLogger("wgf").setLevel(logging.ERROR if getattr(args, "quiet", False) else
                                      logging.DEBUG if getattr(args, "verbose", False) else logging.INFO)
    commands = {"run": _cmd_run, "demo": _cmd_demo, "report": _cmd_report, "check": _cmd_check,
                "discover": _cmd_discover, "paper-study": _cmd_paper_study, "sweep": _cmd_sweep,
                "config": _cmd_config}
    try:
        with interruptible():
            return commands[args.command](args)
    except KeyboardInterrupt:
        return _fail(_interrupted(getattr(args, "written", None)), code=130)
    except (OSError, MemoryError, OverflowError, RecursionError) as e:
        # the system refused something before or outside a run (a name too long, a loop of links, memory)
        if isinstance(e, OSError) and e.strerror:
            return _fail(f"{e.strerror}" + (f": '{e.filename}'" if e.filename else ""))
        return _fail(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'out of range'}")
    except Exception as e:  # a failure with no message of its own: one line, never a traceback
        if os.environ.get("WGF_TRACEBACK"):
            raise
        first = str(e).splitlines()[0] if str(e) else ""
        return _fail(f"unexpected {type(e).__name__}: {first} (set WGF_TRACEBACK=1 to see where)", code=1)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
