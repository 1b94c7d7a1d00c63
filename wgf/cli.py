"""The ``wgf`` command line (SPEC section 10).

Exit codes: 0 success, 1 a numerical failure during the run (reported in one
line), 2 bad input (one line naming the key or value, before any work starts).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wgf", description="Mean-field Wasserstein gradient flows of shallow networks.")
    from ._version import __version__

    p.add_argument("--version", action="version", version=f"wgf {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="run the built-in experiment: results.h5, figures and a summary")
    demo.add_argument("-o", "--output", default="wgf-demo", help="output folder (default: wgf-demo)")
    demo.add_argument("--overwrite", action="store_true", help="replace an existing results.h5 in the folder")
    demo.add_argument("--quiet", action="store_true", help="no progress bars or logs")
    check = sub.add_parser("check", help="run the paper's results as measured checks; exit 0 iff all pass")
    check.add_argument("names", nargs="*", help="checks to run (default: all)")
    check.add_argument("--quiet", action="store_true", help="print only the table")
    report = sub.add_parser("report", help="print the summary of a results file and draw its figures")
    report.add_argument("results", help="an HDF5 file written by wgf")
    report.add_argument("--figures", help="folder for the figures (PNG and PDF)")
    report.add_argument("--quiet", action="store_true", help="no logs")
    run = sub.add_parser("run", help="run the sections of a TOML config and write an HDF5 file")
    run.add_argument("config", help="experiment config (TOML)")
    run.add_argument("-o", "--output", help="results file (default: CONFIG name with .h5, in the current folder)")
    run.add_argument("--overwrite", action="store_true", help="replace an existing results file")
    run.add_argument("--resume", action="store_true", help="continue an interrupted run (OUT.h5.partial)")
    run.add_argument("--workers", type=int, default=1, help="local processes for the particle runs (default 1)")
    run.add_argument("--quiet", action="store_true", help="no progress bars or logs")
    return p


def _fail(message: str, code: int = 2) -> int:
    print(f"wgf: error: {message}", file=sys.stderr)
    return code


def _cmd_run(args) -> int:
    from .config import ConfigError, load_config
    from .grids import GridBlowUpError
    from .particles import BlowUpError
    from .runner import run_experiment

    try:
        exp = load_config(args.config)
    except ConfigError as e:
        return _fail(str(e))
    out = Path(args.output) if args.output else Path(Path(args.config).stem + ".h5")
    from .io import ResumeError, partial_path

    if args.workers < 1:
        return _fail(f"--workers must be >= 1, got {args.workers}")
    if out.exists() and not args.overwrite:
        if args.resume:
            print(f"{out} is complete: nothing to resume")
            return 0
        return _fail(f"output file '{out}' exists (use --overwrite to replace it)")
    if partial_path(out).exists() and not (args.resume or args.overwrite):
        return _fail(f"an interrupted run left '{partial_path(out)}': use --resume to continue it or --overwrite")
    if not out.parent.exists():
        return _fail(f"output folder '{out.parent}' does not exist")
    try:
        run_experiment(exp, out, quiet=args.quiet, resume=args.resume, workers=args.workers)
    except ResumeError as e:
        return _fail(str(e))
    except (BlowUpError, GridBlowUpError) as e:
        return _fail(f"numerical blow-up: {e}", code=1)
    if not args.quiet:
        print(f"wrote {out}")
    return 0


def _cmd_demo(args) -> int:
    from .demo import run_demo

    folder = Path(args.output)
    if (folder / "results.h5").exists() and not args.overwrite:
        return _fail(f"'{folder / 'results.h5'}' exists (use --overwrite or another -o folder)")
    if folder.exists() and not folder.is_dir():
        return _fail(f"output '{folder}' is not a folder")
    print(run_demo(folder, quiet=args.quiet))
    print(f"\nresults: {folder / 'results.h5'}; figures: {folder}/*.png, *.pdf")
    return 0


def _cmd_check(args) -> int:
    from .validation.checks import CHECKS, run_checks

    unknown = [n for n in args.names if n not in CHECKS]
    if unknown:
        return _fail(f"unknown check '{unknown[0]}' (choose from {', '.join(CHECKS)})")
    print("%-13s %-58s %10s %12s  %s" % ("check", "quantity", "value", "tolerance", "result"))

    def show(row):
        print("%-13s %-58s %10.2e %2s %9.1e  %s" % (row.name, row.quantity, row.value, row.relation, row.tolerance,
                                                   "pass" if row.passed else "FAIL"), flush=True)

    rows = run_checks(args.names or None, on_result=show)
    failed = [r.name for r in rows if not r.passed]
    print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def _cmd_report(args) -> int:
    from .report import ReportError, draw_figures, summary

    try:
        text = summary(args.results)
    except ReportError as e:
        return _fail(str(e))
    print(text)
    if args.figures:
        for path in draw_figures(args.results, args.figures):
            print(f"wrote {path}")
    return 0


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.ERROR if args.quiet else logging.INFO, format="wgf: %(message)s", stream=sys.stderr
    )
    commands = {"run": _cmd_run, "demo": _cmd_demo, "report": _cmd_report, "check": _cmd_check}
    return commands[args.command](args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
