"""Running the sections of an experiment and writing them to HDF5."""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np
from tqdm.auto import tqdm

from wgf.config import Experiment, resolved_config
from wgf.diagnostics import (measure, trace_every, trace_names, trace_wi_skipped, wi_skipped, wi_skipped_note,
                             wi_snapshots_only)
from wgf.executors import DEFAULT_RETRIES, run_jobs
from wgf.io import ResultsFile, intact
from wgf.schema import (COMPARE, COMPARE_COORDINATES, COMPARE_VARIABLES, FLUCTUATION_GROUP, HYPOTHESES_ATTR,
                        MINIMIZER, MINIMIZER_COORDINATES, MINIMIZER_SCALARS, MINIMIZER_VARIABLES,
                        PARTICLE_COORDINATES, PARTICLE_VARIABLES, PDE, PDE_COORDINATES, PDE_FIELDS, PDE_VARIABLES,
                        TRACE_COORDINATES, TRACE_VARIABLES, particles_path)

if TYPE_CHECKING:
    from distributed import Client

    from wgf._typing import PathLike
    from wgf.grids import History, Minimizer

__all__ = ["run_experiment", "run_particles", "run_minimizer_particles", "run_fluctuations"]

log = logging.getLogger("wgf")


def _wi_limits(problem, settings, n: int) -> tuple[str | None, str | None]:
    """Why /particles/N<n>/wi_rmd2 and its trace are skipped (None: they are not): ``wgf.diagnostics.wi_skipped``
    at the snapshots, ``trace_wi_skipped`` along the trace (its budget)."""
    return wi_skipped(problem, n, "snapshot"), trace_wi_skipped(problem, settings, n)


def trace_times(problem, settings, n: int) -> np.ndarray:
    """MF times of the diagnostics trace of an N-particle run: t = k eps every ``wgf.diagnostics.trace_every``
    steps ([particles] record_every, or by default within the diagnostics budget), and the final snapshot time
    (``wgf.particles.record_times``)."""
    from wgf.particles import record_times, step_size

    return record_times(problem.times, step_size(n, alpha=settings.alpha, step=settings.step),
                        trace_every(problem, settings, n))


def particle_job(problem, settings, n: int, seed: int, sink=None):
    """One (N, seed) run with its diagnostics at each snapshot and along its trace.

    sink(kind, j, values) is called with kind "snapshot" (values: positions, risk, si_rmd2, wi_rmd2)
    at each snapshot and kind "trace" (values: risk, si_rmd2, wi_rmd2, second_moment) every
    ``wgf.diagnostics.trace_every`` steps; an entry skipped by the OT size limits or the trace's budget is None
    (``trace_names``), an exact zero 0.0. A record at a snapshot's positions is measured once for both. Without a
    sink both are collected and returned as {kind: {name: array}} (for worker processes, and written per run).
    Returns (eps, collected or None).
    """
    from wgf.particles import simulate

    rows = None
    if sink is None:
        rows = {"snapshot": {k: [] for k in PARTICLE_VARIABLES}, "trace": {k: [] for k in TRACE_VARIABLES}}

        def sink(kind, j, values):
            for key, value in values.items():
                rows[kind][key].append(value)

    traced = set(trace_names(problem, settings, n))
    last = {}  # the trace's last record: (t, {name: value}), reused by a snapshot at the same positions

    def diagnostics(kind, j, t, theta):
        # wgf.diagnostics: one definition per diagnostic, its exact-OT guard and the blow-up check (nothing
        # non-finite is ever written)
        if kind == "snapshot":
            names = [k for k in PARTICLE_VARIABLES if k != "positions"]
            known = last.get(t, {})
            values = {k: known[k] for k in names if k in known}
            values.update(measure(problem, theta, kind=kind, t=t, seed=seed, names=[k for k in names
                                                                                    if k not in values]))
            values = {k: values[k] for k in names}
            values["positions"] = theta.copy()
        else:
            values = measure(problem, theta, kind=kind, t=t, seed=seed, names=[k for k in TRACE_VARIABLES
                                                                               if k in traced])
            last.clear()
            last[t] = {k: v for k, v in values.items() if v is not None}
            values = {k: values.get(k) for k in TRACE_VARIABLES}
        sink(kind, j, values)

    traj = simulate(problem, n, seed, problem.times, alpha=settings.alpha, step=settings.step,
                    batch=settings.batch, store=False, record_every=trace_every(problem, settings, n),
                    callback=partial(diagnostics, "snapshot"), on_record=partial(diagnostics, "trace"))
    return traj.eps, rows


def _worker_job(exp, n, seed):
    """particle_job(...) -> (eps, rows) of the (N, seed) run of ``exp``.

    Picklable with ``functools.partial``: it runs in another process or on another machine, where an
    experiment read from a config is parsed again from its text (``Experiment.__reduce__``) and one
    built in Python arrives as pickled.
    """
    return particle_job(exp.problem, exp.particles, n, seed)


def run_particles(exp: Experiment, out: ResultsFile, *, progress: bool = True, workers: int = 1,
                  dask: str | Client | None = None, retries: int = DEFAULT_RETRIES) -> None:
    """Every (N, seed) particle run of ``exp`` into /particles/N<N>/ (docs/theory.md §10).

    Per snapshot: positions, the scheme's risk R(nu), RMD^2(nu, nu^G) (exact OT;
    skipped with a logged note when too large) and RMD^2(nu, P_E#nu) (closed form).
    A finished run is marked in the group's attributes (``done_<seed>``): a resumed
    file skips it. ``workers`` > 1 runs the jobs in local processes, ``dask`` (a
    scheduler address or a ``distributed.Client``) on a dask cluster, each result
    written as it arrives (same results: every run is a pure function of (N, seed)).
    A run that fails is run again up to ``retries`` times (a numerical blow-up is
    not: it would repeat), then raises ``executors.JobError`` naming its N and seed.
    """
    from wgf.particles import BlowUpError, snapshot_times

    problem, settings = exp.problem, exp.particles
    n_times, seeds = len(problem.times), settings.seeds
    limits = {n: _wi_limits(problem, settings, n) for n in settings.n}
    # the trace's budget keeps exact OT to the snapshots: by design, said by wi_rmd2_snapshots_only, not a skip
    budgeted = {n: limits[n][1] if wi_snapshots_only(problem, settings, n) else None for n in settings.n}
    note = wi_skipped_note(problem, {"snapshot": {n: limits[n][0] for n in settings.n},
                                     "trace": {n: None if budgeted[n] else limits[n][1] for n in settings.n}})
    if note:  # once per run (the file's attributes say it per N)
        log.warning("%s", note)
    sets = {}
    for n in settings.n:
        grp = out.file.require_group(particles_path(n))
        trace = grp.require_group("trace")
        skip = limits[n]
        for g, why in zip((grp, trace), skip):
            if why:
                g.attrs["wi_rmd2_snapshots_only" if g is trace and budgeted[n] else "wi_rmd2_skipped"] = why
        if budgeted[n]:
            log.debug("N = %d: wi_rmd2 at the snapshots only: %s", n, budgeted[n])
        t_trace = trace_times(problem, settings, n)
        shapes = {"positions": (seeds, n_times, n, problem.dim), "risk": (seeds, n_times),
                  "si_rmd2": (seeds, n_times), "wi_rmd2": (seeds, n_times)}
        sets[n] = {"snapshot": {
            key: (None if key == "wi_rmd2" and skip[0] else
                  PARTICLE_VARIABLES[key].dataset(out, grp.name, shape,
                                                  chunks=(1, 1, n, problem.dim) if key == "positions" else None))
            for key, shape in shapes.items()}}
        coords = {"seed": PARTICLE_COORDINATES["seed"].coordinate(out, grp.name, np.arange(seeds)),
                  "trace_time": TRACE_COORDINATES["trace_time"].coordinate(out, trace.name, t_trace),
                  "coordinate": PARTICLE_COORDINATES["coordinate"].coordinate(out, grp.name, np.arange(problem.dim))}
        sizes = {"seed": seeds, "trace_time": t_trace.size, "coordinate": problem.dim}
        sets[n]["trace"] = {
            key: (None if key == "wi_rmd2" and skip[1] else
                  out.label(var.dataset(out, trace.name, tuple(sizes[d] for d in var.dims)),
                            *(coords[d] for d in var.dims)))
            for key, var in TRACE_VARIABLES.items()}

    def label_snapshots(n, eps):
        """The times the snapshots were taken at (the PDE's), known once a run has its eps, and the labels."""
        grp = out.file[particles_path(n)]
        coords = (grp["seed"],
                  PARTICLE_COORDINATES["time"].coordinate(out, grp.name, snapshot_times(problem.times, eps)),
                  PARTICLE_COORDINATES["particle"].coordinate(out, grp.name, np.arange(n)),
                  grp["coordinate"])
        for key, ds in sets[n]["snapshot"].items():
            if ds is not None:
                out.label(ds, *coords[: ds.ndim])
        grp.attrs["eps"] = eps
        grp.attrs["batch"] = settings.batch

    jobs = []
    for n in settings.n:
        grp = out.file[particles_path(n)]
        if ("time" not in grp or "particle" not in grp) and "eps" in grp.attrs:  # left out of a rebuilt partial
            label_snapshots(n, grp.attrs["eps"])
        for s in range(seeds):
            if grp.attrs.get(f"done_{s}"):
                if (intact(*sets[n]["snapshot"].values(), *sets[n]["trace"].values(), index=s)
                        and intact(grp.get("time"))):
                    continue
                log.warning("/particles/N%d, seed %d: its data fails the checksum or is not finite: running it "
                            "again", n, s)
                out.unmark(grp, f"done_{s}")
            jobs.append((n, s))
    out.seal()  # the layout's metadata checksums written before any run ends
    # progress bars on a terminal only (tqdm's disable=None): none in a pipe or a log file
    bar = tqdm(total=len(settings.n) * seeds, initial=len(settings.n) * seeds - len(jobs), desc="particles",
               unit="run", disable=None if progress else True)

    def mark(runs):  # after their data is on the disk
        out.mark_done_many(runs)
        bar.update(len(runs))

    def finish(n, seed, eps, marks):
        grp = out.file[particles_path(n)]
        if "time" not in grp:
            label_snapshots(n, eps)
        marks.add((grp, f"done_{seed}"))

    # each run's rows are collected in memory and written at its end, one write per array (a record at a time
    # costs an HDF5 write per value); finished runs are marked together (one pair of syncs per MARK_SECONDS)
    job = partial(_worker_job, exp) if workers > 1 or dask is not None else (
        lambda n, seed: particle_job(problem, settings, n, seed))
    with out.batched(mark) as marks:
        for (n, seed), (eps, rows) in run_jobs(job, jobs, workers=workers, dask=dask, retries=retries,
                                               describe=lambda nj: f"particle run N={nj[0]}, seed={nj[1]}",
                                               no_retry=(BlowUpError, OSError)):
            for kind, values in rows.items():
                for key, ds in sets[n][kind].items():
                    if ds is not None:
                        value = np.asarray(values[key])
                        out.room(value.nbytes)  # stop cleanly before a write the disk cannot take
                        ds[seed] = value
            finish(n, seed, eps, marks)
    bar.close()


def run_pde(exp: Experiment, out: ResultsFile, *, progress: bool = True):
    """The mean-field PDE of ``exp`` on its [pde] grid into /pde/ (docs/theory.md §10); returns the History.

    The density is written at each snapshot as it is taken; the cell-center axes are
    HDF5 dimension scales of /pde/density.
    """
    from wgf.grids import History, solve
    from wgf.grids.mean_field import GridRole

    problem, cfg = exp.problem, exp.pde
    grid = cfg.make_grid(problem)
    times = problem.times
    tracker_names = tuple(k for k in PDE_VARIABLES if k not in PDE_FIELDS)
    if PDE in out.file and out.file[PDE].attrs.get("done"):
        g = out.file[PDE]
        # every array of /pde (the grid's basis and axes too) is verified before the PDE is taken as solved
        if intact(*(ds for ds in g.values() if isinstance(ds, h5py.Dataset))) and all(
                k in g for k in ("density", "time", "basis") + tuple(f"u{k}" for k in range(grid.ndim))):
            trackers = {k: g[k][()] for k in tracker_names if k in g}
            return History(grid, times, g["density"][()], trackers)
        log.warning("/pde: its data fails the checksum or is not finite: solving again")
    if PDE in out.file:
        del out.file[PDE]
    time = PDE_COORDINATES["time"].coordinate(out, PDE, times)
    axes = [PDE_COORDINATES["u{k}"].coordinate(out, PDE, axis, k=k) for k, axis in enumerate(grid.axes)]
    PDE_FIELDS["basis"].write(out, PDE, grid.basis,
                              PDE_COORDINATES["parameter"].coordinate(out, PDE, np.arange(problem.dim)),
                              PDE_COORDINATES["axis"].coordinate(out, PDE, np.arange(grid.ndim)))
    density = PDE_FIELDS["density"].dataset(out, PDE, (len(times),) + grid.shape, chunks=(1,) + grid.shape)
    out.label(density, time, *axes)
    out.file[PDE].attrs["space"] = cfg.space
    out.file[PDE].attrs["cell_volume"] = grid.cell_volume
    out.seal()  # the layout's metadata checksums written before the solve
    bar = tqdm(total=len(times), desc="pde", unit="snapshot", disable=None if progress else True)

    def snapshot(j, t, rho):
        out.room(rho.nbytes)
        density[j] = rho
        out.flush()
        bar.update()

    history = solve(problem, grid, times, method=cfg.method, tol=cfg.tolerance, on_snapshot=snapshot,
                    role=GridRole(tuple(grid.cells), "[pde]"), flux=cfg.flux)
    bar.close()
    for name, values in history.trackers.items():
        PDE_VARIABLES[name].write(out, PDE, values, time)
    out.file[PDE].attrs["steps"] = history.stats.steps
    out.mark_done(out.file[PDE])
    return history


def run_minimizer(exp: Experiment, out: ResultsFile, history) -> Minimizer:
    """The minimizer of F on the [pde] grid into /minimizer/ (docs/pde.md, "The minimizer"); returns it.

    Written: density on the cell centres u0.. of /pde, the scalars free_energy, risk, residual and iterations,
    and the PDE's convergence to it per snapshot, pde_free_energy_gap F_h(rho_t) - F_h(rho*) and pde_distance
    ||rho_t - rho*||_1, each with its exponential rate over the last half of the times (``fit_decay``). A
    finished /minimizer is kept by a resumed run."""
    from wgf.grids import Minimizer, minimize_free_energy
    from wgf.validation import fit_decay

    problem, cfg = exp.problem, exp.minimizer
    grid = exp.pde.make_grid(problem)
    group = out.file.get(MINIMIZER)
    if group is not None and group.attrs.get("done"):
        if intact(*(ds for ds in group.values() if isinstance(ds, h5py.Dataset))) and "density" in group:
            return Minimizer(grid, group["density"][()], *(group[k][()].item() for k in MINIMIZER_SCALARS))
        log.warning("/minimizer: its data fails the checksum or is not finite: solving again")
    if group is not None:
        del out.file[MINIMIZER]
    best = minimize_free_energy(problem, grid, cfg.tolerance, max_iterations=cfg.max_iterations)
    log.info("minimizer: F = %.6g, R = %.4g, residual %.2g after %d Newton iterations (%.3g s)", best.free_energy,
             best.risk, best.residual, best.iterations, best.seconds)
    axes = [MINIMIZER_COORDINATES["u{k}"].coordinate(out, MINIMIZER, axis, k=k) for k, axis in enumerate(grid.axes)]
    time = MINIMIZER_COORDINATES["time"].coordinate(out, MINIMIZER, history.times)
    density = replace(MINIMIZER_VARIABLES["density"], dims=tuple(f"u{k}" for k in range(grid.ndim)))
    density.write(out, MINIMIZER, best.density, *axes)
    for key in MINIMIZER_SCALARS:
        MINIMIZER_VARIABLES[key].write(out, MINIMIZER, getattr(best, key))
    # the flow's convergence: F_h - F_h* is quadratic in the distance, so it reaches round-off of F first
    gap = history.trackers["free_energy"] - best.free_energy
    distance = best.distance(history.density)
    for key, values, floor in (("pde_free_energy_gap", gap, 1e-12 * max(1.0, abs(best.free_energy))),
                               ("pde_distance", distance, max(10.0 * best.residual, 1e-13))):
        fit = fit_decay(history.times, values, floor=floor)
        MINIMIZER_VARIABLES[key].write(out, MINIMIZER, values, time, decay_rate=fit.slope, decay_rate_low=fit.low,
                                       decay_rate_high=fit.high, decay_points=fit.n_points)
    out.file[MINIMIZER].attrs["cell_volume"] = grid.cell_volume
    out.file[MINIMIZER].attrs["seconds"] = best.seconds
    out.mark_done(out.file[MINIMIZER])
    return best


def run_compare(exp: Experiment, out: ResultsFile, history, *, progress: bool = True) -> dict:
    """Every metric between the particles (read back from /particles) and the PDE density, per (N, seed,
    snapshot), by ``wgf.validation.comparison.compare``; returns {metric: RateFit}.

    Writes /compare/N (K,) and /compare/<metric> (K, S, T) with attributes slope, slope_low,
    slope_high (log-log least squares at the final time, 95% interval), n_points, floor and
    floor_order: the Richardson estimate of the PDE's own error from the same PDE on grids of 1/2
    and 1/4 the cells per axis (docs/pde.md); no point at or below the floor enters the fit. And
    /compare/<metric>_sup (K, S), the largest value over the snapshots of each run, with its rate above the
    same floor (``wgf.validation.comparison.sup_over_time``: the mean-field rate uniform in time).
    """
    from wgf.validation import Comparison, coarse_measures, compare

    problem, cfg, pde = exp.problem, exp.compare, exp.pde
    ns, times = exp.particles.n, problem.times
    coarse = coarse_measures(problem, history, method=pde.method, tol=pde.tolerance, setting="[pde]",
                             flux=pde.flux)
    coords = (COMPARE_COORDINATES["N"].coordinate(out, COMPARE, ns),
              COMPARE_COORDINATES["seed"].coordinate(out, COMPARE, np.arange(exp.particles.seeds)),
              COMPARE_COORDINATES["time"].coordinate(out, COMPARE, times))
    names = cfg.metrics
    bar = tqdm(total=len(names) + ("moments" in names), desc="compare", unit="metric",
               disable=None if progress else True)

    def write(name, values, floor, order, fit):
        attrs = Comparison.metric_attrs(floor, order, fit, times[-1])  # what Comparison.to_xarray gives too
        COMPARE_VARIABLES["{metric}"].format(metric=name).write(out, COMPARE, values, *coords, **attrs)
        bar.update()

    result = compare(problem, history, {n: out.file[f"{particles_path(n)}/positions"] for n in ns}, metrics=names,
                     bandwidth=cfg.resolved(problem)["bandwidth"], coarse=coarse, on_metric=write,
                     times={n: out.file[f"{particles_path(n)}/time"][()] for n in ns})
    for name, why in result.skipped.items():
        log.warning("/compare/%s skipped: %s", name, why)
        bar.update()
    sup_rate = result.sup_rate
    for name, values in result.values.items():  # the sup over the snapshots, as Comparison.to_xarray gives it
        attrs = Comparison.metric_attrs(result.floor[name], result.floor_order[name], sup_rate[name], None)
        COMPARE_VARIABLES["{metric}_sup"].format(metric=name).write(out, COMPARE, np.max(values, axis=2),
                                                                    *coords[:2], **attrs)
    bar.close()
    return result.rate


# the particles are compared with the minimizer rho* when the PDE's density at the final time is within this L1
# distance of it (out of 2): at long times, where their distance to rho* can measure their own error
LONG_TIME_DISTANCE = 0.1


def run_minimizer_particles(exp: Experiment, out: ResultsFile, best: Minimizer, history: History) -> dict:
    """The particles at the final time against the minimizer rho* (``best``), per metric of /compare, into
    /minimizer/particles_<metric> (N, seed) (``wgf.validation.comparison.distances_to``, rho* as the
    ``CellMeasure`` of its cell averages, like a PDE snapshot); returns {metric: RateFit}.

    With N -> infinity the particles tend to the PDE's density rho_T, not to rho*: their distance to rho* levels
    off at d(rho_T, rho*), which differs from d(rho_{T,h}, rho*) (the attribute pde_value, measured on the grid) by
    at most the PDE's own error (pde_floor, the Richardson floor of /compare/<metric>). With delta = pde_value +
    pde_floor, the triangle inequality gives |d(nu, rho*) - d(nu, rho_T)| <= delta, so a value above 2 delta is at
    least half the particles' own error d(nu, rho_T): the rate in N (``fit_rate``) is fitted above floor = 2 delta
    only. At long times (rho_T near rho*) it is the mean-field rate of the particles' distance to rho*; a flow far
    from rho* would leave every value below the floor. The particles are therefore compared with rho* only at long
    times: when ||rho_T - rho*||_1 <= LONG_TIME_DISTANCE, the attribute long_time_distance of /minimizer (the last
    value of /minimizer/pde_distance says which case a file is in); otherwise nothing is written and {} returned.
    """
    from wgf.validation import Comparison, TooLargeForExactOT, as_measure, cell_measure, fit_rate
    from wgf.validation.comparison import distances_to, metric_functions

    problem, cfg, ns = exp.problem, exp.compare, exp.particles.n
    far = float(best.distance(history.density[-1]))
    out.file[MINIMIZER].attrs["long_time_distance"] = LONG_TIME_DISTANCE
    if far > LONG_TIME_DISTANCE:  # not at long times: every value would be the PDE's own distance to rho*
        log.info("/minimizer: the flow at t = %g is %.2g from rho* in L1 (above long_time_distance = %g): the "
                 "particles are measured against rho_T (/compare), against rho* at long times", history.times[-1],
                 far, LONG_TIME_DISTANCE)
        return {}
    c = out.file[COMPARE]
    names = [k for k in c if c[k].ndim == 3]  # the metrics /compare holds (a skipped one is absent)
    star = cell_measure(best.grid, best.density)
    positions = {n: out.file[f"{particles_path(n)}/positions"] for n in ns}
    bandwidth = cfg.resolved(problem)["bandwidth"]
    try:
        values = distances_to(problem, star, positions, metrics=names, bandwidth=bandwidth)
    except TooLargeForExactOT as e:  # w2 beyond its size limit: the others without it
        log.warning("/minimizer: particles against the minimizer without w2: %s", e)
        names = [k for k in names if k != "w2"]
        values = distances_to(problem, star, positions, metrics=names, bandwidth=bandwidth)
    final = as_measure(history, len(history.times) - 1)
    functions = metric_functions(problem, names, bandwidth)
    coords = (MINIMIZER_COORDINATES["N"].coordinate(out, MINIMIZER, ns),
              MINIMIZER_COORDINATES["seed"].coordinate(out, MINIMIZER, np.arange(exp.particles.seeds)))
    fits = {}
    for name in names:
        pde_value = float(functions[name]([final], star)[0])
        pde_floor, order = float(c[name].attrs["floor"]), float(c[name].attrs["floor_order"])
        floor = 2.0 * (pde_value + pde_floor)
        fits[name] = fit = fit_rate(ns, values[name], floor=floor)
        attrs = Comparison.metric_attrs(floor, order, fit, history.times[-1])
        MINIMIZER_VARIABLES["particles_{metric}"].format(metric=name).write(
            out, MINIMIZER, values[name], *coords, **attrs, pde_value=pde_value, pde_floor=pde_floor)
    return fits


def run_fluctuations(exp: Experiment, out: ResultsFile) -> None:
    """N Var_seeds of the test functions of ``[compare] fluctuations`` per N and snapshot, with their intervals, seed
    means and predicted limits, into /fluctuations (``wgf.validation.fluctuation_runs.fluctuation_arrays``, the
    arrays of ``fluctuation_dataset``; docs/theory.md §11). The values are read from /particles/N<N>/positions; the
    limit is the linear unit's exact ODE for the mean where it applies, else the grid prediction on the [pde] grid
    where it applies, else absent with the reason in the group's attribute <f>_limit_skipped. A finished
    /fluctuations is kept by a resumed run."""
    from wgf.validation.fluctuation_runs import fluctuation_arrays

    problem, settings = exp.problem, exp.particles
    group = out.file.get(FLUCTUATION_GROUP)
    if group is not None and group.attrs.get("done"):
        if intact(*(ds for ds in group.values() if isinstance(ds, h5py.Dataset))):
            return
        log.warning("/fluctuations: its data fails the checksum or is not finite: computing it again")
    if group is not None:
        del out.file[FLUCTUATION_GROUP]
    grid = exp.pde.make_grid(problem) if exp.pde is not None else None
    positions = {n: out.file[f"{particles_path(n)}/positions"] for n in settings.n}
    arrays, attrs = fluctuation_arrays(problem, positions, exp.compare.fluctuations, alpha=settings.alpha,
                                       batch=settings.batch, grid=grid, times=problem.times)
    coords = {}
    for var, values, *extra in arrays:  # the coordinates first: every variable is labelled with them
        if var.dims == (var.name,):
            stored = replace(var, dtype=h5py.string_dtype()) if not var.dtype else var
            coords[var.name] = stored.coordinate(out, FLUCTUATION_GROUP, values)
    for var, values, *extra in arrays:
        if var.dims != (var.name,):
            var.write(out, FLUCTUATION_GROUP, values, *(coords[d] for d in var.dims), **(extra[0] if extra else {}))
    group = out.file[FLUCTUATION_GROUP]
    for key, value in attrs.items():
        group.attrs[key] = value
        if key.endswith("_limit_skipped"):
            log.info("/fluctuations/%s: none: %s", key[: -len("_skipped")], value)
    out.mark_done(group)


def run_experiment(exp: Experiment, out_path: PathLike, *, quiet: bool = False, resume: bool = False,
                   workers: int = 1, dask: str | Client | None = None) -> Path:
    """Run the sections ``exp`` has and write ``out_path`` (atomically on completion).

    With ``resume``, a partial file of the same config is continued: finished
    particle runs and a finished PDE are kept, the rest is computed. The particle
    runs go to ``workers`` local processes or to the dask scheduler ``dask`` (an
    address ``tcp://HOST:PORT`` or a ``distributed.Client``), see ``run_particles``.
    """
    out_path = Path(out_path)
    with ResultsFile(out_path, exp.fingerprint(), resume=resume) as out:
        if exp.title:
            out.file.attrs["title"] = exp.title
        resolved = resolved_config(exp)
        if resolved is not None:  # an experiment built in Python has its objects, not settings
            out.file.attrs["resolved_config"] = resolved
        hypotheses = exp.problem.hypotheses()  # which of the paper's hypotheses hold, and why (docs/theory.md)
        out.file.attrs[HYPOTHESES_ATTR] = "\n".join(hypotheses)
        for line in hypotheses:  # the summary states them (wgf.report.summary); here for --verbose
            log.debug("%s", line)
        history = run_pde(exp, out, progress=not quiet) if exp.pde is not None else None
        best = run_minimizer(exp, out, history) if exp.minimizer is not None else None
        if exp.particles is not None:
            run_particles(exp, out, progress=not quiet, workers=workers, dask=dask)
        if exp.compare is not None:
            fits = run_compare(exp, out, history, progress=not quiet)
            for name, fit in fits.items():  # the summary states them (wgf.report.summary); here for --verbose
                if np.isfinite(fit.slope):
                    log.debug("%s: slope %+.3f [%+.3f, %+.3f] from %d values above the PDE floor", name, *fit)
            if best is not None:
                run_minimizer_particles(exp, out, best, history)
            if exp.compare.fluctuations:
                run_fluctuations(exp, out)
    return out_path
