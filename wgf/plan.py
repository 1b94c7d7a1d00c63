"""What an experiment will do and need, before it does it: its sizes and the plan ``--dry-run`` prints.

``experiment_needs`` and ``check_experiment`` estimate the memory and disk of each section by the
formulas of ``wgf.resources`` and refuse what the machine cannot hold (``ResourceError``).

``plan(exp)`` lists the sections that run, the particle runs, the grid, and the memory, disk and
time estimates of each (``wgf.resources``), without creating any file. The particle time is
nominal: PARTICLE_SECONDS per (particle, SGD step, sample of the batch, parameter), measured on
the demo on 2 cores; the PDE's integrator and its cost are chosen when the solve starts
(docs/pde.md, "Choosing the time integrator").
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from wgf.schemes import SCHEMES
from wgf.resources import (F64, SUPERLU_MAX_NONZEROS, ResourceError, check_bytes, check_processes, human_bytes,
                           lu_nonzeros, particle_bytes, solver_bytes, structure_bytes)

if TYPE_CHECKING:
    from wgf._typing import PathLike
    from wgf.config import Experiment
    from wgf.problem import Problem
    from wgf.settings import ParticleSettings

__all__ = ["plan", "particle_seconds", "step_seconds", "particle_run_bytes", "experiment_needs", "check_experiment", "PARTICLE_SECONDS"]

# seconds per particle x step x batch sample x parameter (the demo's runs on 2 cores: about 2e-9)
PARTICLE_SECONDS = 2e-9


def step_seconds(problem: Problem, n: int, batch: int) -> float:
    """Nominal time of one SGD step: N B' D PARTICLE_SECONDS, B' the batch after the scheme (|G| B for data
    augmentation in orbit mode and for feature maps)."""
    scheme = SCHEMES[problem.scheme]
    orbit = problem.group.order if scheme.augments or scheme.feature_maps else 1
    return n * batch * orbit * problem.dim * PARTICLE_SECONDS


def particle_seconds(exp: Experiment) -> float:
    """Nominal time of every (N, seed) run of ``exp``'s [particles]: sum over runs of K ``step_seconds``,
    K = t_end / eps steps."""
    s, problem = exp.particles, exp.problem
    if s is None:
        return 0.0
    return sum(s.seeds * (problem.t_end / s.eps(n)) * step_seconds(problem, n, s.batch) for n in s.n)


def plan(exp: Experiment) -> str:
    """The plan of ``exp`` as printed lines: problem, sections, runs, grid, and estimates."""
    p = exp.problem
    sym = p.symmetry
    lines = [f"experiment: {exp.title or '(untitled)'}",
             f"problem: unit {p.base_unit.name} (D = {p.dim}), group {p.group.name} (|G| = {p.group.order}, "
             f"dim E^G = {sym.dim_fixed}), scheme {p.scheme}, loss {p.loss.name}, tau = {p.tau:g}, "
             f"beta = {p.beta:g}, init {p.init}, noise {p.noise}, t_end = {p.t_end:g}, {p.snapshots} snapshots"]
    needs = {what.split()[0]: [] for what, _, _ in experiment_needs(exp)}
    for what, memory, disk in experiment_needs(exp):
        needs[what.split()[0]].append(f"{what}: memory {human_bytes(memory)}, disk {human_bytes(disk)}")
    if exp.pde is not None:
        cells = exp.pde.cells_per_axis(p)
        box = ", ".join(f"[{lo:g}, {hi:g}]" for lo, hi in exp.pde.box(p))
        where = "E^G" if exp.pde.space == "fixed" else "Z"
        lines.append(f"[pde] grid on {where}: {' x '.join(map(str, cells))} = {math.prod(cells)} cells, box {box}; "
                     f"method {exp.pde.method}, tolerance {exp.pde.tolerance:g}")
        lines += ["  " + x for x in needs.get("[pde]", [])]
    if exp.minimizer is not None:
        lines.append(f"[minimizer] the minimizer of F on the [pde] grid to the residual {exp.minimizer.tolerance:g} "
                     f"(at most {exp.minimizer.max_iterations} Newton iterations), and the flow's distance to it")
        lines += ["  " + x for x in needs.get("[minimizer]", [])]
    if exp.particles is not None:
        s = exp.particles
        runs = len(s.n) * s.seeds
        steps = [round(p.t_end / s.eps(n)) for n in s.n]
        lines.append(f"[particles] N = {', '.join(map(str, s.n))} x {s.seeds} seeds = {runs} runs; "
                     f"SGD steps per run {', '.join(map(str, steps))}; batch {s.batch}; about "
                     f"{particle_seconds(exp):.3g} s of SGD (nominal, one core)")
        lines.append("  diagnostics (docs/outputs.md, \"The diagnostics budget\"): " + "; ".join(
            _diagnostics_line(p, s, n) for n in s.n))
        lines += ["  " + x for x in needs.get("[particles]", [])]
    if exp.compare is not None:
        lines.append(f"[compare] metrics {', '.join(exp.compare.metrics)}; the PDE also on 1/2 and 1/4 of the "
                     "cells per axis for its floor (docs/pde.md)")
    if exp.discover is not None:
        r = exp.discover.resolved(p)
        lines.append(f"[discover] gradient {r['gradient']}, n = {r['n']} x {r['replicas']} replicas, "
                     f"max_dim {r['max_dim']}")
    total = sum(d for _, _, d in experiment_needs(exp))
    lines.append(f"results file: about {human_bytes(total)}")
    return "\n".join(lines)


def _diagnostics_line(problem: Problem, settings: ParticleSettings, n: int) -> str:
    """The diagnostics of an N-particle run as --dry-run states them: the trace's records, what it takes and the
    estimated share of the SGD time (``wgf.diagnostics.trace_share``)."""
    from wgf.diagnostics import exact_zero, trace_every, trace_names, trace_share

    zeros = [k for k in ("wi_rmd2", "si_rmd2") if exact_zero(k, problem)]
    names = [k for k in trace_names(problem, settings, n) if k not in zeros]
    return (f"N = {n}: a record every {trace_every(problem, settings, n)} steps ({', '.join(names)}"
            + (f"; {', '.join(zeros)} = 0 exactly, E^G = Z" if zeros else "")
            + f"), {trace_share(problem, settings, n, snapshots=False):.0%} of the SGD time, "
            f"{trace_share(problem, settings, n):.0%} with the snapshots")


def particle_run_bytes(problem: Problem, n: int, batch: int, *, snapshots: int = 0, exact: bool = False) -> float:
    """Memory of a particle run of ``problem`` (``wgf.resources.particle_bytes`` with the scheme's orbit and feature
    maps, and the problem's structure): N = ``n`` particles, minibatches of ``batch`` samples (``exact``: the
    quadrature of ``batch`` nodes as a fixed batch, as discovery's exact gradient), ``snapshots`` kept."""
    unit = problem.base_unit
    augments = SCHEMES[problem.scheme].augments and problem.da_mode == "orbit" and not exact
    orbit = problem.group.order if augments else 1
    rows = problem.unit.maps_in.shape[0]  # the scheme unit's feature maps (|G| for fa)
    return (structure_bytes(problem.group.order, problem.dim)
            + particle_bytes(n, problem.dim, unit.dim_x, unit.dim_y, batch, orbit=orbit, rows=rows,
                             snapshots=snapshots, keep=unit.keep_rows))


def experiment_needs(exp: Experiment) -> list[tuple[str, float, float]]:
    """[(what, memory bytes, disk bytes)] of the sections of the experiment ``exp`` (the formulas of
    ``wgf.resources``)."""
    from wgf.diagnostics import trace_every

    problem = exp.problem
    dim, times = problem.dim, problem.snapshots
    structure = structure_bytes(problem.group.order, dim)  # held by every process that runs the problem
    needs = []
    if exp.particles is not None:
        s = exp.particles
        for n in s.n:
            memory = particle_run_bytes(problem, n, s.batch, snapshots=times)
            steps = problem.t_end / (s.step if s.alpha is None else s.alpha / n)
            records = steps / trace_every(problem, s, n) + 2  # the trace
            disk = float(s.seeds) * (times * (float(n) * dim + 3) + records * (3 + dim)) * F64
            needs.append((f"[particles] n = {n} ({s.seeds} seeds, {times} snapshots, batch {s.batch}, D = {dim})",
                          memory, disk))
    if exp.pde is not None:
        cells = exp.pde.cells_per_axis(problem)
        p = float(math.prod(cells))
        memory = structure + (times + 40) * p * F64 + solver_bytes(exp.pde.method, p, len(cells))
        from wgf.grids.potential import potential_bytes

        memory += potential_bytes(problem, p, exp.pde.space)  # the mean-field potential's table
        needs.append((f"[pde] cells = {list(cells)} ({times} snapshots, method {exp.pde.method})", memory,
                      times * p * F64))
        if exp.minimizer is not None:
            from wgf.grids.minimizer import minimizer_bytes

            outputs = len(problem.quadrature.weights) * problem.base_unit.dim_y
            needs.append((f"[minimizer] cells = {list(cells)} ({outputs} model outputs)",
                          structure + minimizer_bytes(p, outputs), (p + 2 * times) * F64))
    return needs


def check_experiment(exp: Experiment, folder: PathLike | None = None, *, free_memory: float | None = None,
                     free_disk: float | None = None, workers: int = 1) -> None:
    """ResourceError if a section of ``exp`` cannot fit in memory, or all of them on the disk of ``folder``, or
    an implicit PDE solve would need more nonzeros in its LU factors than SuperLU indexes, or ``workers`` local
    processes running its particle runs would not fit (``wgf.resources.check_processes``)."""
    if exp.pde is not None and exp.pde.method == "implicit":
        cells = exp.pde.cells_per_axis(exp.problem)
        fill = lu_nonzeros(math.prod(cells), len(cells))
        if fill > SUPERLU_MAX_NONZEROS:
            raise ResourceError(f"[pde] method: an implicit solve on {' x '.join(map(str, cells))} cells needs about "
                                f"{fill:.2g} nonzeros in its LU factors, more than SuperLU indexes (2^31 - 1): use "
                                "method = \"explicit\" or fewer cells")
    needs = experiment_needs(exp)
    for what, memory, _ in needs:
        check_bytes(what, memory, free_memory=free_memory)
    if exp.particles is not None and workers > 1:
        runs = len(exp.particles.n) * exp.particles.seeds
        largest = max(memory for what, memory, _ in needs if what.startswith("[particles]"))
        check_processes("the largest particle run", min(workers, runs), largest, free_memory=free_memory)
    total = sum(d for _, _, d in needs)
    if needs and (folder is not None or free_disk is not None):
        what = needs[0][0] if len(needs) == 1 else "the results file"
        check_bytes(what, disk=total, folder=folder, free_disk=free_disk)
