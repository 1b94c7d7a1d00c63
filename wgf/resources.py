"""Memory and disk a run will need, estimated and checked before any work starts.

Every size a config can make large (particles N, seeds, snapshots, minibatch,
dimensions, quadrature points, PDE cells) enters a product of counts below; a run
whose estimate exceeds what the machine has is refused with one line that gives
the estimate (``ResourceError``, a ``ConfigError``). The estimates are upper
bounds of the dominant arrays (docs/outputs.md), not exact accounting:

- particles, per (N, seed) job in memory: (12 + T) N D + ceil(N / 128) B_t dy float64
  (positions and the engine's work arrays, the T snapshots a worker sends back, the
  per-chunk partial sums of the B_t = B K rows of the scheme's batch);
  on disk: seeds T (N D + 3) float64 per N;
- PDE in memory: (T + 40) P float64 for P cells (snapshots, solver work arrays and factors);
  on disk: T P float64;
- data quadrature: q^dx (dx + dy + 1) float64 (tensor Gauss-Hermite nodes, augmented K times for da).
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wgf._typing import PathLike
    from wgf.config import Experiment

__all__ = ["ResourceError", "available_memory", "check_bytes", "quadrature_bytes", "experiment_needs",
           "check_experiment"]

F64 = 8
CHUNK = 128  # particles per chunk of the engine (wgf.particles.kernels.CHUNK)
# share of the available memory a run may plan to use
MEMORY_SHARE = 0.8


class ResourceError(ValueError):
    """A run would need more memory or disk than the machine has."""


def human_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1000
    return f"{n:.3g} EB"  # pragma: no cover


def available_memory() -> int:
    """Bytes of memory available to a new allocation (MemAvailable on Linux, else physical memory)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 1 << 62


def check_bytes(what: str, memory: float = 0.0, disk: float = 0.0, *, folder: PathLike | None = None,
                free_memory: float | None = None, free_disk: float | None = None) -> None:
    """Raise ResourceError (one line naming ``what`` and the estimate) if ``memory`` bytes exceed
    MEMORY_SHARE of the available memory or ``disk`` bytes the free space in ``folder``."""
    if memory > 0:
        free = available_memory() if free_memory is None else free_memory
        if memory > MEMORY_SHARE * free:
            raise ResourceError(f"{what} needs about {human_bytes(memory)} of memory, more than this machine has "
                                f"available ({human_bytes(free)}): reduce it")
    if disk > 0 and (folder is not None or free_disk is not None):
        free = shutil.disk_usage(Path(folder)).free if free_disk is None else free_disk
        if disk > free:
            raise ResourceError(f"{what} needs about {human_bytes(disk)} on disk, more than is free in "
                                f"'{folder}' ({human_bytes(free)}): reduce it or write elsewhere")


def quadrature_bytes(points: int, dim_x: int, dim_y: int, orbit: int = 1) -> float:
    """Memory of the tensor quadrature: points^dim_x nodes with x, y and a weight, times the orbit size."""
    return float(points) ** dim_x * (dim_x + dim_y + 1) * F64 * orbit


def experiment_needs(exp: Experiment) -> list[tuple[str, float, float]]:
    """[(what, memory bytes, disk bytes)] of the sections of the experiment ``exp`` (module docstring)."""
    from wgf.particles import DEFAULT_RECORDS
    from wgf.schemes import SCHEMES

    problem = exp.problem
    dim, times = problem.dim, problem.snapshots
    unit = problem.base_unit
    needs = []
    if exp.particles is not None:
        s = exp.particles
        scheme = SCHEMES[problem.scheme]
        orbit = problem.group.order if scheme.augments else 1
        rows = s.batch * orbit * max(1, problem.group.order if scheme.feature_maps else 1)
        for n in s.n:
            memory = float(12 + times) * n * dim * F64 + math.ceil(n / CHUNK) * float(rows) * unit.dim_y * F64
            steps = problem.t_end / (s.step if s.alpha is None else s.alpha / n)
            records = steps / (s.record_every or max(1.0, math.ceil(steps / DEFAULT_RECORDS))) + 2  # the trace
            disk = float(s.seeds) * (times * (float(n) * dim + 3) + records * (3 + dim)) * F64
            needs.append((f"[particles] n = {n} ({s.seeds} seeds, {times} snapshots, D = {dim})", memory, disk))
    if exp.pde is not None:
        cells = exp.pde.cells_per_axis(problem)
        p = float(math.prod(cells))
        needs.append((f"[pde] cells = {list(cells)} ({times} snapshots)", (times + 40) * p * F64, times * p * F64))
    return needs


def check_experiment(exp: Experiment, folder: PathLike | None = None, *, free_memory: float | None = None,
                     free_disk: float | None = None) -> None:
    """ResourceError if a section of ``exp`` cannot fit in memory, or all of them on the disk of ``folder``."""
    needs = experiment_needs(exp)
    for what, memory, _ in needs:
        check_bytes(what, memory, free_memory=free_memory)
    total = sum(d for _, _, d in needs)
    if needs and (folder is not None or free_disk is not None):
        what = needs[0][0] if len(needs) == 1 else "the results file"
        check_bytes(what, disk=total, folder=folder, free_disk=free_disk)
