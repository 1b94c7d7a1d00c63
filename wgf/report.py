"""Summary tables and figures drawn from a results file alone.

``summary(path)`` returns the printed report; ``draw_figures(path, folder)``
writes PNG and PDF figures drawn with ``wgf.plot`` (``FIGURES`` names them) and
the animation ``density.gif``.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from wgf.schema import (COMPARE, DISCOVERY, FLUCTUATION_GROUP, HYPOTHESES_ATTR, MINIMIZER, PDE, SWEEP,
                        particle_counts, particles_path, read_diagnostics)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from numpy.typing import ArrayLike

    from wgf._typing import PathLike

log = logging.getLogger("wgf")

__all__ = ["summary", "what_ran", "no_slope", "draw_figures", "draw_sweep", "figure_folder", "ReportError"]


class ReportError(ValueError):
    """The file is missing or is not a wgf results file."""


# what reading a damaged or foreign HDF5 file can raise (h5py, numpy, missing keys or attributes)
_READ_ERRORS = (KeyError, OSError, ValueError, TypeError, IndexError, AttributeError, RuntimeError)


def _verify(f, path):
    """Check the metadata checksum of every group and dataset (``wgf.io.damaged_metadata``: attributes, shapes
    and types; a partial file's objects written after its last seal have none yet) and read every numeric
    dataset chunk by chunk: HDF5 checks each chunk's Fletcher-32 checksum."""
    from wgf.io import damaged_metadata

    problems = damaged_metadata(f, complete=_finished(f))
    if problems:
        name, why = problems[0]
        raise ReportError(f"'{path}' is damaged or not a complete wgf results file: {name}: {why}"
                          + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))
    damaged = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "fiub" and obj.size:
            try:
                for sel in (obj.iter_chunks() if obj.chunks else [()]):
                    obj[sel]
            except OSError:
                damaged.append(name)

    f.visititems(visit)
    if damaged:
        raise ReportError(f"'{path}' is damaged: /{damaged[0]} fails its checksum"
                          + (f" (and {len(damaged) - 1} more datasets)" if len(damaged) > 1 else ""))


@contextmanager
def _reading(path):
    """The open, verified results file; any failure to read it becomes one ReportError."""
    f = _open(path)
    try:
        _verify(f, path)
        yield f
    except ReportError:
        raise
    except _READ_ERRORS as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ReportError(f"'{path}' is damaged or not a complete wgf results file ({reason})") from None
    finally:
        f.close()


def figure_folder(folder: PathLike) -> Path:
    """``folder`` created if needed; ReportError (one line) if it is a file or cannot be written."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ReportError(f"--figures '{folder}' is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ReportError(f"--figures '{folder}' cannot be created: {e.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ReportError(f"--figures '{folder}' is not writable")
    return folder


def _open(path) -> h5py.File:
    path = Path(path)
    if not path.exists():
        raise ReportError(f"no such results file: '{path}'")
    if path.is_dir():
        raise ReportError(f"'{path}' is a folder, not a results file")
    if not path.is_file():
        raise ReportError(f"'{path}' is not a regular file")
    try:
        f = h5py.File(path, "r")
    except BlockingIOError:  # the lock a writer holds on the file it writes
        raise ReportError(f"'{path}' is being written by a running wgf process: wait for it to finish") from None
    except OSError:
        raise ReportError(f"'{path}' is not an HDF5 file (or it is damaged)") from None
    if "wgf_version" not in f.attrs:
        f.close()
        raise ReportError(f"'{path}' is not a wgf results file (no wgf_version attribute)")
    return f


def _particle_ns(f) -> list[int]:
    return particle_counts(f)


def _finished(f) -> bool:
    """Whether the file is complete (a run that finished; a partial file is not)."""
    return "finished" in f.attrs


def _done_seeds(f, n: int) -> list[int]:
    """The seeds of the N-particle runs that finished (all of them in a complete file)."""
    g = f[particles_path(n)]
    seeds = g["risk"].shape[0]
    return [s for s in range(seeds) if _finished(f) or g.attrs.get(f"done_{s}")]


NOT_FINISHED = "not finished"


# the settings that say what ran, in the order ``what_ran`` states them: (section, key, label)
RAN = (("model", "unit", "unit"), ("model", "activation", "activation"), ("group", "name", "group"),
       ("training", "scheme", "scheme"), ("training", "loss", "loss"), ("training", "huber_delta", "delta"),
       ("training", "schedule", "schedule"), ("training", "schedule_t0", "t0"), ("training", "init", "init"),
       ("training", "noise", "noise"), ("training", "beta", "beta"))


def what_ran(resolved: str | None, varied: Iterable[str] = ()) -> str | None:
    """The line "ran: unit ..., group ..., scheme ..., loss ..., schedule ..., init ..., noise ..., beta ..." of
    the settings a run used (its ``resolved_config`` attribute: the config with every ``--set`` applied and
    the defaults filled in), so that a title written for another setting is not read as what ran; None
    without it (a file not written by ``wgf run``). The keys ``varied`` by a sweep ("section.key") are left
    out (``_sweep_ran``)."""
    if not isinstance(resolved, str):
        return None
    from wgf.config import ConfigError, load_toml

    try:
        cfg = load_toml(resolved)
    except ConfigError:
        return None
    varied = set(varied)
    parts = [f"{label} {cfg[section][key]:g}" if isinstance(cfg[section][key], float)
             else f"{label} {cfg[section][key]}"
             for section, key, label in RAN
             if isinstance(cfg.get(section), dict) and key in cfg[section] and f"{section}.{key}" not in varied]
    return "ran: " + ", ".join(parts) if parts else None


def _sweep_ran(f) -> str | None:
    """``what_ran`` for a sweep's file: the settings every run shares (those of its first combination, the
    varied keys left out), then the varied keys; None when the file's sweep cannot be read back."""
    from wgf.config import ConfigError, resolved_config
    from wgf.sweep import Sweep

    try:
        sweep = Sweep.from_json(f.attrs["config"])
        exp = sweep.experiment(sweep.combinations()[0])
    except (ConfigError, KeyError, ValueError, TypeError, IndexError):
        return None
    line = what_ran(resolved_config(exp), {key for v in sweep.varies for key in v.keys})
    names = ["+".join(["N" if k == "particles.n" else k.rsplit(".", 1)[-1] for k in v.keys]) for v in sweep.varies]
    return line and f"{line}; varied: {', '.join(names)}"


def no_slope(ns: "ArrayLike", values: np.ndarray, floor: float, order: float) -> str:
    """Why the final-time values (K, S) of a distance at the particle counts ``ns`` (K,) have no rate:
    ``wgf.validation.fit_rate`` fits log(value) on log(N) over the values above the PDE's floor and needs at
    least 3 of them at 2 or more values of N."""
    if not np.isfinite(floor):
        return (f"no slope: the PDE's own error is unknown (its grids of 1/2 and 1/4 the cells do not converge, "
                f"order {order:.3g}), so no value lies above the floor")
    values = np.asarray(values, dtype=float)
    above = np.isfinite(values) & (values > floor) & (values > 0)
    n_above = int(np.any(above, axis=1).sum())
    if n_above < 2:
        return (f"no slope: {n_above} value{'' if n_above == 1 else 's'} of N above the PDE floor {floor:.2e}, "
                "2 needed" + (" (one N was run)" if len(ns) == 1 else ""))
    return f"no slope: {int(above.sum())} values (N, seed) above the PDE floor {floor:.2e}, 3 needed"


def summary(path: PathLike) -> str:
    """The report of a results file as text (PDE trackers, particles per N, distances and rates).

    Raises ReportError (one line) for a missing, foreign or damaged file (every dataset's checksum is
    checked)."""
    try:
        return _summary(path)
    except ReportError:
        raise
    except _READ_ERRORS as e:
        raise ReportError(f"'{path}' is damaged or not a complete wgf results file ({e})") from None


def _summary(path) -> str:
    from wgf.study import is_study

    lines = []
    with _reading(path) as f:
        lines.append(f"wgf {f.attrs['wgf_version']}  {f.attrs.get('title', '')}".rstrip())
        ran = what_ran(f.attrs.get("resolved_config")) if SWEEP not in f else _sweep_ran(f)
        if ran:
            lines.append(ran)
        if f.attrs.get(HYPOTHESES_ATTR):
            lines.extend("  " + line for line in str(f.attrs[HYPOTHESES_ATTR]).splitlines())
        if not _finished(f):
            lines.append(f"(a partial file: the run has not finished; what has not finished is shown as "
                         f"'{NOT_FINISHED}', in a sweep's table as '-'; means are over the finished runs)")
        if PDE in f and not (_finished(f) or f[PDE].attrs.get("done")):
            lines.append(f"\nPDE: {NOT_FINISHED}")
        elif PDE in f:
            p = f[PDE]
            t = p["time"][()]
            lines.append(f"\nPDE on a {'x'.join(str(n) for n in p['density'].shape[1:])} grid "
                         f"({p.attrs.get('space', '')} space), t = {t[0]:g} .. {t[-1]:g}, {p.attrs.get('steps', '?')} steps")
            lines.append("  mass error      %.2e   (|mass - 1|, max over snapshots)" % np.abs(p["mass"][()] - 1).max())
            lines.append("  risk            %.4e -> %.4e" % (p["risk"][0], p["risk"][-1]))
            lines.append("  free energy     %.4e -> %.4e   (nonincreasing: %s)" % (
                p["free_energy"][0], p["free_energy"][-1], bool(np.all(np.diff(p["free_energy"][()]) <= 1e-12))))
            if "wi_defect" in p:
                lines.append("  WI defect       %.2e   (max_g ||rho o M_g - rho||_1; 0 = weakly invariant)" % p["wi_defect"][()].max())
            lines.append("  SI defect       %.2e   (int |z - P_E z|^2 drho; 0 = on E^G)" % p["si_defect"][()].max())
            lines.append("  boundary mass   %.2e   (mass in the outer cell layer; large = box too small)" % p["boundary_mass"][()].max())
        if MINIMIZER in f and (_finished(f) or f[MINIMIZER].attrs.get("done")):
            lines.extend(_minimizer_lines(f[MINIMIZER]))
        ns = _particle_ns(f)
        if ns:
            lines.append("\nParticles at the final time (mean over seeds):")
            lines.append("  %8s %6s %12s %12s %12s" % ("N", "seeds", "risk", "WI RMD^2", "SI RMD^2"))
            for n in ns:
                done, seeds = _done_seeds(f, n), f[particles_path(n)]["risk"].shape[0]
                count = str(len(done)) if len(done) == seeds else f"{len(done)}/{seeds}"
                if not done:
                    lines.append("  %8d %6s %38s" % (n, count, NOT_FINISHED))
                    continue
                g = read_diagnostics(f, n, trace=False)
                wi = ("%12.3e" % g["wi_rmd2"][done, -1].mean() if g["wi_rmd2"] is not None
                      else "%12s" % "skipped")
                lines.append("  %8d %6s %12.4e %s %12.3e" % (n, count, g["risk"][done, -1].mean(), wi,
                                                         g["si_rmd2"][done, -1].mean()))
            lines.append("  (RMD^2 to the symmetrization nu^G and to the projection P_E#nu: 0 = invariant)")
        if COMPARE in f:
            c = f[COMPARE]
            cn = c["N"][()].astype(int)
            lines.append("\nParticles vs PDE density at the final time (mean over seeds):")
            lines.append("  %-20s" % "metric" + "".join("%11s" % f"N={n}" for n in cn) + "   slope [95%]          floor")
            why = []
            for name in sorted(k for k in c if c[k].ndim == 3):
                d = c[name]
                vals = d[()][:, :, -1].mean(axis=1)
                if "slope" in d.attrs:
                    slope = "%+.2f [%+.2f, %+.2f]" % (d.attrs["slope"], d.attrs["slope_low"], d.attrs["slope_high"])
                else:  # never a NaN slope: the reason follows the table
                    slope = "none (see below)"
                    why.append(f"  {name}: {no_slope(cn, d[()][:, :, -1], d.attrs['floor'], d.attrs.get('floor_order', np.nan))}")
                lines.append("  %-20s" % name + "".join("%11.3e" % v for v in vals) + "   %-20s %.2e" % (slope, d.attrs["floor"]))
            lines.extend(why)
            lines.append("  (the mean-field limit predicts a slope of -1/2 for mmd, energy and output_l2;"
                         " values below the floor are the PDE's own error and are not fitted)")
            lines.extend(_sup_lines(c, cn))
        if MINIMIZER in f and any(k.startswith("particles_") for k in f[MINIMIZER]):
            lines.extend(_particles_to_minimizer_lines(f[MINIMIZER]))
        if FLUCTUATION_GROUP in f and (_finished(f) or f[FLUCTUATION_GROUP].attrs.get("done")):
            lines.extend(_fluctuation_lines(f[FLUCTUATION_GROUP]))
        if DISCOVERY in f:
            d = f[DISCOVERY]
            rmd2 = d["rmd2"][()] if "rmd2" in d else []
            lines.append(f"\nDiscovered subspace: dimension {d['basis'].shape[1]} of {d['basis'].shape[0]} "
                         f"after {len(rmd2)} rounds (residual RMD^2 per round: "
                         + ", ".join("%.2e" % v for v in rmd2) + ")")
            if "principal_angles" in d and d["principal_angles"].size:
                lines.append("  principal angles to E^G (rad): "
                             + ", ".join("%.2e" % v for v in d["principal_angles"][()]))
        has_study, has_sweep = is_study(f), SWEEP in f
    if has_study:
        from wgf.study import study_table, verdicts

        lines.append("\n" + study_table(path))
        for statement, value, holds in verdicts(path):
            lines.append(f"{'holds' if holds else 'FAILS':<6} {statement}: {value:.3g}")
    elif has_sweep:
        from wgf.sweep import sweep_table

        lines.append("\n" + sweep_table(path))
    return "\n".join(lines)


def _slope_text(d) -> str | None:
    """"+s [low, high]" of an array's slope attributes, None without a slope."""
    if "slope" not in d.attrs:
        return None
    return "%+.2f [%+.2f, %+.2f]" % (d.attrs["slope"], d.attrs["slope_low"], d.attrs["slope_high"])


def _sup_lines(c, cn) -> list[str]:
    """The table of /compare/<metric>_sup: the largest distance over the snapshots per run (mean over seeds), its
    slope in N above the final time's floor, and the times at which the largest values were reached."""
    names = sorted(k for k in c if c[k].ndim == 3 and f"{k}_sup" in c)
    if not names:
        return []
    times = c["time"][()]
    lines = ["\nLargest particle-PDE distance over the snapshots (sup over t of each run, mean over seeds):",
             "  %-20s" % "metric" + "".join("%11s" % f"N={n}" for n in cn) + "   slope [95%]          reached at"]
    why = []
    for name in names:
        d, sup = c[f"{name}_sup"], c[f"{name}_sup"][()]
        slope = _slope_text(d)
        if slope is None:
            slope = "none (see below)"
            why.append(f"  {name}: {no_slope(cn, sup, d.attrs['floor'], d.attrs.get('floor_order', np.nan))}")
        at = times[np.argmax(c[name][()], axis=2)]
        when = f"t = {at.min():g}" if at.min() == at.max() else f"t = {at.min():g} .. {at.max():g}"
        lines.append("  %-20s" % name + "".join("%11.3e" % v for v in sup.mean(axis=1)) + "   %-20s %s" % (slope, when))
    lines.extend(why)
    lines.append("  (uniform in time: the mean-field rate -1/2 must hold for the supremum too; fitted above the "
                 "final time's floor)")
    return lines


def _limit_source(d) -> str:
    """"linear ODE" or "grid 32x32" of a <f>_limit variable."""
    if d.attrs.get("source") == "grid":
        return "grid " + "x".join(str(int(c)) for c in np.atleast_1d(d.attrs.get("cells", [])))
    return {"linear_ode": "linear ODE"}.get(d.attrs.get("source"), str(d.attrs.get("source", "")))


def _fluctuation_lines(g) -> list[str]:
    """The table of /fluctuations: per test function and component, N Var_seeds at the final time per N with its
    interval, and the predicted limit (or why there is none)."""
    ns = g["N"][()].astype(int)
    t = g["time"][()]
    level = float(g.attrs.get("level", 0.95))
    lines = [f"\nFluctuations at t = {t[-1]:g}: N Var_seeds <f, nu^N> [{level:.0%} chi-square interval] over "
             f"{int(np.max(g.attrs['seeds']))} seeds, and the predicted limit as N -> infinity (eps = alpha / N):",
             "  %-16s" % "f" + "".join("%28s" % f"N={n}" for n in ns) + "   limit"]
    notes = []
    for name in _fluctuation_names(g):
        components = [c.decode() if isinstance(c, bytes) else str(c) for c in g[f"{name}_component"][()]]
        values, low, high = (g[k][()][:, -1] for k in (name, f"{name}_low", f"{name}_high"))
        limit = g[f"{name}_limit"] if f"{name}_limit" in g else None
        for k, c in enumerate(components):
            row = "  %-16s" % f"{name} {c}"[:16]
            row += "".join("%28s" % f"{values[i, k]:.4g} [{low[i, k]:.4g}, {high[i, k]:.4g}]" for i in range(len(ns)))
            row += "   " + ("%.4g" % limit[()][-1, k] if limit is not None else "none (see below)")
            lines.append(row)
        if limit is not None:
            notes.append(f"  {name}: limit from the {_limit_source(limit)}")
        else:
            notes.append(f"  {name}: no limit: {g.attrs.get(f'{name}_limit_skipped', 'not computed')}")
    lines.extend(notes)
    lines.append("  (N Var over the seeds tends to the limit as N grows: its interval at the largest N should hold it)")
    return lines


def _minimizer_lines(m) -> list[str]:
    """The minimizer of F (/minimizer): F*, R(rho*), its residual and iterations, and how far the PDE's density is
    from it at the final time with the exponential rates of the approach."""
    cells = "x".join(str(n) for n in m["density"].shape)
    lines = [f"\nMinimizer of F on the {cells} grid ({int(m['iterations'][()])} Newton iterations, "
             f"{m.attrs.get('seconds', np.nan):.3g} s)",
             "  F*              %.6e   (F_h(rho*); risk R(rho*) = %.4e)" % (m["free_energy"][()], m["risk"][()]),
             "  residual        %.2e   (||G(rho*) - rho*||_1, G the Gibbs map)" % m["residual"][()]]
    if "pde_distance" not in m:
        return lines
    t, gap, dist = m["time"][()], m["pde_free_energy_gap"][()], m["pde_distance"][()]
    lines.append("  F - F*          %.3e -> %.3e   (the PDE's F_h(rho_t) - F*, t = %g .. %g)" % (gap[0], gap[-1],
                                                                                                    t[0], t[-1]))
    lines.append("  ||rho-rho*||_1  %.3e -> %.3e   (the PDE's L1 distance to rho*)" % (dist[0], dist[-1]))
    for key, what in (("pde_distance", "rate ||rho-rho*||"), ("pde_free_energy_gap", "rate F - F*")):
        a = m[key].attrs
        if np.isfinite(a.get("decay_rate", np.nan)):
            lines.append("  %-17s %+.2f [%+.2f, %+.2f] per unit time (exponential fit over the last half of the "
                         "times, %d points)" % (what, a["decay_rate"], a["decay_rate_low"], a["decay_rate_high"],
                                                a["decay_points"]))
        else:
            lines.append("  %-17s none: fewer than 3 values above round-off in the last half of the times" % what)
    near = m.attrs.get("long_time_distance")  # written with the particles (wgf.runner.run_minimizer_particles)
    if near is not None and dist[-1] > near:  # the flow has not reached rho*
        lines.append(f"  (the flow at t = {t[-1]:g} is far from converged: ||rho_t - rho*||_1 = {dist[-1]:.2g} of at "
                     f"most 2, F - F* = {gap[-1]:.2g} against |F*| = {abs(m['free_energy'][()]):.2g})")
        lines.append(f"  particles vs rho*: at long times (||rho_t - rho*||_1 <= {near:g}); until then they are "
                     "measured against rho_t (/compare)")
    return lines


def _particles_to_minimizer_lines(m) -> list[str]:
    """The table of /minimizer/particles_<metric>: the particles at the final time against rho* (mean over seeds),
    the slope in N above the floor (the PDE's own distance to rho* plus its error) and the PDE's distance."""
    names = sorted(k for k in m if k.startswith("particles_"))
    mn = m["N"][()].astype(int)
    t = m[names[0]].attrs.get("time", np.nan)
    lines = [f"\nParticles at t = {t:g} vs the minimizer rho* (mean over seeds):",
             "  %-20s" % "metric" + "".join("%11s" % f"N={n}" for n in mn)
             + "   slope [95%]          floor     PDE to rho*"]
    why = []
    for key in names:
        d, name = m[key], key[len("particles_"):]
        values = d[()]
        slope = _slope_text(d)
        if slope is None:
            slope = "none (see below)"
            why.append(f"  {name}: {no_slope(mn, values, d.attrs['floor'], d.attrs.get('floor_order', np.nan))}")
        lines.append("  %-20s" % name + "".join("%11.3e" % v for v in values.mean(axis=1))
                     + "   %-20s %.2e  %.2e" % (slope, d.attrs["floor"], d.attrs["pde_value"]))
    if len(why) == len(names) > 1 and all(": no slope: 0 values of N above" in w for w in why):
        why = ["  no slope for any metric: no value lies above its floor (the particles' distance to rho* is the "
               "PDE's own)"]
    lines.extend(why)
    lines.append("  (as N grows the particles approach the PDE's density rho_t, not rho*: the floor is twice the PDE's "
                 "own distance to rho* plus its error, above which at least half of a value is the particles' own "
                 "error; values below it are not fitted)")
    return lines


# ------------------------------------------------------------------- figures
REPORT_POINTS = 100_000  # particles read per snapshot for the density, marginals and animation figures
FIGURES = {
    "density": "the PDE density at the final time (contours, colour bar) with the particles of the largest N",
    "snapshots": "the density and the particles at up to four snapshot times",
    "marginals": "the 1D marginals of the PDE density against the particles' histograms",
    "off_subspace": "the particles' component off E^G, |z - P_E z|, over time and at the final time",
    "distances": "each distance between particles and PDE against N, with the fitted rate",
    "distances_time": "each distance between particles and PDE against time, per N",
    "training": "risk and invariance (RMD^2) of the particles over time, the PDE's risk and free energy",
    "minimizer": "the PDE's F - F* and L1 distance to the minimizer rho* over time, and the particles at the final "
                 "time against rho* per metric, against N",
    "discovery": "the rounds of an architecture discovery",
    "fluctuations_<f>": "per test function f of /fluctuations, N Var_seeds <f, nu^N_t> against time, one curve per N "
                        "with its 95% interval and the predicted limit dashed, a panel per component",
}


def draw_figures(path: PathLike, folder: PathLike) -> list[Path]:
    """Draw every figure the file supports into ``folder`` (PNG and PDF, with ``wgf.plot``: ``FIGURES``
    names them) and the animation ``density.gif``; returns the PNG paths.

    All or nothing: the figures are drawn into a temporary folder inside ``folder`` and moved in
    (``os.replace``, one file at a time) only once every one is drawn; on any failure or interrupt the
    temporary folder is removed, so ``folder`` holds what it held before (an earlier report's figures are
    not half overwritten). Raises ReportError (one line) for a damaged or foreign file, data a figure
    refuses, and a folder that is a file or not writable."""
    import shutil
    import tempfile

    folder = figure_folder(folder)
    try:
        staging = Path(tempfile.mkdtemp(prefix=".wgf-figures-", dir=folder))
    except OSError as e:
        raise ReportError(f"--figures '{folder}' cannot be written: {e.strerror}") from None
    try:
        drawn = _draw_figures(path, staging, folder)
        with _writing(folder):
            for file in sorted(p for p in staging.rglob("*") if p.is_file()):
                target = folder / file.relative_to(staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(file, target)
        return [folder / p.relative_to(staging) for p in drawn]
    except ReportError:
        raise
    except _READ_ERRORS as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ReportError(f"'{path}' is damaged or not a complete wgf results file ({reason})") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def _writing(folder):
    """A failure to write a figure (a full disk, a quota, no permission, a read-only file system) as one
    ReportError naming the ``--figures`` folder, not as a damaged results file."""
    import errno

    try:
        yield
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EFBIG):
            raise
        raise ReportError(f"--figures '{folder}' cannot be written: {e.strerror}") from None


def _draw_figures(path, folder, shown) -> list[Path]:
    """The figures of ``path`` drawn into ``folder`` (``shown``: the folder named in messages)."""
    from matplotlib.figure import Figure  # no pyplot: the figures never touch the user's backend

    from wgf import plot
    from wgf.study import is_study

    folder = Path(folder)
    written = []

    def keep(fig, name):
        with _writing(shown):
            written.extend(p for p in plot.save(fig, folder / name) if p.suffix == ".png")

    with _reading(path) as f:
        ns = _particle_ns(f)
        if PDE in f:
            snap = plot.read_snapshot(f, max_points=REPORT_POINTS)
            keep(_density_figure(Figure, plot, snap), "density")
            count = len(f[PDE]["time"])
            idx = sorted(set(np.linspace(0, count - 1, min(count, 4)).round().astype(int).tolist()))
            fig = Figure(figsize=(3.4 * len(idx) + 1.0, 3.4), layout="constrained")
            plot.density_snapshots(**plot.read_snapshots(f, idx, max_points=plot.MAX_POINTS),
                                   axes=fig.subplots(1, len(idx), squeeze=False)[0])
            keep(fig, "snapshots")
            m = snap["rho"].ndim
            fig = Figure(figsize=(3.4 * m, 2.9), layout="constrained")
            plot.marginals(**snap, axes=fig.subplots(1, m, squeeze=False)[0])
            keep(fig, "marginals")
            with _writing(shown):
                plot.animate(f, folder / "density.gif", max_points=plot.MAX_POINTS)
        if ns:
            try:
                off = plot.read_off_subspace(f)
            except ValueError as e:  # no projector: a config that cannot be built here
                log.warning("figure off_subspace skipped: %s", str(e).splitlines()[0] if str(e) else e)
            else:
                if np.allclose(off["projector"], np.eye(len(off["projector"]))):  # E^G = Z: nothing is off it
                    log.debug("figure off_subspace not drawn: E^G is the whole parameter space")
                else:
                    fig = Figure(figsize=(9.0, 3.6), layout="constrained")
                    plot.off_subspace(**off, axes=fig.subplots(1, 2))
                    keep(fig, "off_subspace")
        if COMPARE in f:
            keep(_rates_figure(Figure, plot, f), "distances")
            keep(_distance_time_figure(Figure, plot, f), "distances_time")
        if ns or PDE in f:
            fig = Figure(figsize=(10.0, 3.8), layout="constrained")
            plot.training(**plot.read_training(f), axes=fig.subplots(1, 2))
            keep(fig, "training")
        if MINIMIZER in f and "pde_distance" in f[MINIMIZER]:
            keep(_minimizer_figure(Figure, plot, f), "minimizer")
        if FLUCTUATION_GROUP in f:
            for name in _fluctuation_names(f[FLUCTUATION_GROUP]):
                keep(_fluctuation_figure(Figure, plot, f, name), f"fluctuations_{name}")
        if DISCOVERY in f:
            fig = Figure(figsize=(9.0, 3.6), layout="constrained")
            plot.discovery_rounds(**plot.read_discovery(f), axes=fig.subplots(1, 2))
            keep(fig, "discovery")
        has_study, has_sweep = is_study(f), SWEEP in f
    with _writing(shown):
        if has_study:
            from wgf.study import draw_study

            written.append(draw_study(path, folder)[0])
        elif has_sweep:
            written += draw_sweep(path, folder)
    return written


def draw_sweep(path: PathLike, folder: PathLike, *, x: str | None = None) -> list[Path]:
    """One figure per quantity of a sweep file (``wgf sweep``) against its varied key ``x`` (default: the
    first, N), lines for the other keys: ``<quantity>_vs_<x>.png`` and ``.pdf`` in ``folder``; returns
    the PNG paths."""
    from matplotlib.figure import Figure

    from wgf import plot
    from wgf.sweep import SWEEP_QUANTITIES, read_sweep

    ds = read_sweep(path)
    x = x or ds["status"].dims[0]
    written = []
    for q in (q for q in SWEEP_QUANTITIES if q in ds):
        fig = Figure(figsize=(5.5, 4.0), layout="constrained")
        plot.sweep_quantity(ds[q], x, ax=fig.add_subplot(), ylabel=q)
        written.append(plot.save(fig, Path(folder) / f"{q}_vs_{x}")[0])
    return written


def _density_figure(Figure, plot, snap):
    """The final density with the particles: one panel (1 or 2 grid axes) or the corner plot of every
    pair of axes (2D marginals)."""
    m = snap["rho"].ndim
    if m <= 2:
        fig = Figure(figsize=(5.0, 4.0) if m == 2 else (5.0, 3.5), layout="constrained")
        plot.density(**snap, ax=fig.add_subplot())
        return fig
    title = snap.pop("title")
    fig = Figure(figsize=(3.6 * (m - 1), 3.0 * (m - 1)), layout="constrained")
    grid = fig.subplots(m - 1, m - 1, squeeze=False)
    for i in range(1, m):
        for j in range(m - 1):
            if j >= i:
                grid[i - 1, j].axis("off")
            else:
                plot.density(**snap, dims=(j, i), ax=grid[i - 1, j])
    fig.suptitle(f"PDE density at {title}: 2D marginals (sums over the other grid axes)", fontsize=10)
    return fig


def _metric_names(c):
    return sorted(k for k in c if c[k].ndim == 3)


def _metric_grid(Figure, count):
    cols = min(3, count)
    rows = (count + cols - 1) // cols
    fig = Figure(figsize=(4.2 * cols, 3.5 * rows), layout="constrained")
    axs = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axs[count:]:
        ax.axis("off")
    return fig, axs


def _rates_figure(Figure, plot, f):
    c = f[COMPARE]
    n = c["N"][()]
    names = _metric_names(c)
    fig, axs = _metric_grid(Figure, len(names))
    for ax, name in zip(axs, names):
        d = c[name]
        rate = tuple(d.attrs.get(k, np.nan) for k in ("slope", "slope_low", "slope_high"))
        plot.distance_vs_n(n, d[()][:, :, -1], floor=d.attrs["floor"], rate=rate, ax=ax, ylabel=name)
    plot.legend_below(fig, axs[:len(names)])
    fig.suptitle(f"particles vs PDE at $t = {c[names[0]].attrs['time']:g}$")
    return fig


def _minimizer_figure(Figure, plot, f):
    """The PDE's approach to rho* over time (``plot.minimizer_convergence``) and, with particles, one panel per
    /minimizer/particles_<metric>: the particles at the final time against rho*, against N (``distance_vs_n``,
    the floor the PDE's own distance to rho* plus its error), with one legend below those panels."""
    from wgf.labels import display_name

    m = f[MINIMIZER]
    names = sorted(k for k in m if k.startswith("particles_"))
    fig, axs = _metric_grid(Figure, 1 + len(names))
    plot.minimizer_convergence(**plot.read_minimizer(f), ax=axs[0])
    for ax, key in zip(axs[1:], names):
        d = m[key]
        rate = tuple(d.attrs.get(k, np.nan) for k in ("slope", "slope_low", "slope_high"))
        plot.distance_vs_n(m["N"][()], d[()], floor=d.attrs["floor"], rate=rate, ax=ax,
                           ylabel=display_name(key[len("particles_"):]) + r" to $\rho^*$",
                           floor_label=r"floor: twice the PDE's distance to $\rho^*$ and its error")
    if names:
        plot.legend_below(fig, axs[1:1 + len(names)])
        fig.suptitle(f"convergence to the minimizer $\\rho^*$ of $F$: the PDE over time, the particles at "
                     f"$t = {m[names[0]].attrs['time']:g}$ against $N$")
    return fig


def _fluctuation_names(g) -> list[str]:
    """The test functions of a /fluctuations group, in the order of [compare] fluctuations."""
    names = [k[: -len("_component")] for k in g if k.endswith("_component")]
    order = [n.strip() for n in str(g.attrs.get("test_functions", "")).split(",")]
    return sorted(names, key=lambda n: order.index(n) if n in order else len(order))


def _fluctuation_figure(Figure, plot, f, name):
    """N Var_seeds of one test function against time (``plot.fluctuations``), a panel per component, one legend
    below them."""
    g = f[FLUCTUATION_GROUP]
    count = g[f"{name}_component"].shape[0]
    fig, axs = _metric_grid(Figure, count)
    for k, ax in enumerate(axs[:count]):
        plot.fluctuations(**plot.read_fluctuations(f, name, k), ax=ax)
    plot.legend_below(fig, axs[:count])
    fig.suptitle(f"fluctuations of {name} over {int(np.max(g.attrs['seeds']))} seeds (95% chi-square interval)",
                 fontsize=10)
    return fig


def _distance_time_figure(Figure, plot, f):
    names = _metric_names(f[COMPARE])
    fig, axs = _metric_grid(Figure, len(names))
    for ax, name in zip(axs, names):
        plot.distance_vs_time(**plot.read_distances(f, name), ax=ax)
    plot.legend_below(fig, axs[:len(names)])
    fig.suptitle("particles vs PDE over time (geometric mean over seeds, 95% t-interval of the logarithm)")
    return fig
