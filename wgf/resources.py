"""Memory and disk a run will need, estimated and checked before any work starts.

Every size a config can make large (particles N, seeds, snapshots, minibatch,
dimensions, quadrature points, PDE cells) enters a product of counts below; a run
whose estimate exceeds what the machine has is refused with one line that gives
the estimate (``ResourceError``, a ``ConfigError``). The estimates are upper
bounds of the dominant arrays (docs/outputs.md), not exact accounting:

- particles, per (N, seed) job in memory (``particle_bytes``): the arrays the engine allocates for a run
  (``wgf.particles.kernels``: positions, per-chunk lanes, the batch, its rows and per-chunk partial
  sums) and the T snapshots a worker sends back; measured peak over the process's baseline on the
  swap problem, batch 2e5 and 1e6: 23 (vanilla), 31 (fa) and 40 (da) float64 per batch sample, against
  25, 33 and 42 counted; on disk: seeds T (N D + 3) float64 per N;
- the problem, held by every process that runs it (``structure_bytes``): (|G| + 4) D^2 float64 (the |G|
  matrices M_g, the projector P_E, its basis and work copies; D = 10^4 on the trivial group: 4 GB
  estimated, 4.1 GB measured);
- a worker process (``--workers``): PROCESS_BYTES for Python, numpy, numba and the compiled kernels
  (225 MB measured with the kernels from numba's cache, 334 MB compiling them) besides its job;
- PDE in memory: (T + 40) P float64 for P cells (snapshots, solver work arrays), and for the implicit
  integrator its factors of I - dt A (``solver_bytes``): two sparse LU factors (``lu_nonzeros``: the
  fill measured with SuperLU, minimum degree on A^T + A, up to 16^4 cells) for ``implicit``, two sets of
  the split solve's tridiagonal factors (3 m P float64 each on m axes) for ``split``; on disk: T P float64;
- data quadrature: q^dx (dx + dy + 1) float64 (tensor Gauss-Hermite nodes, augmented K times for da).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wgf._typing import PathLike

__all__ = ["ResourceError", "available_memory", "check_bytes", "quadrature_bytes", "human_bytes", "particle_bytes",
           "KEEP_MAX_BYTES", "kept_rows",
           "lu_nonzeros", "lu_bytes", "solver_bytes", "check_processes", "structure_bytes", "PROCESS_BYTES",
           "SUPERLU_MAX_NONZEROS", "AUTO_LU_MAX_BYTES"]

F64 = 8
CHUNK = 128  # particles per chunk of the engine (wgf.particles.kernels.CHUNK)
# share of the available memory a run may plan to use
MEMORY_SHARE = 0.8
# memory of a worker process before its job: Python, numpy, scipy, numba and the compiled kernels (225 MB measured
# with the kernels from numba's cache, 334 MB compiling them)
PROCESS_BYTES = 350e6
# SuperLU indexes the nonzeros of its factors with 32-bit integers
SUPERLU_MAX_NONZEROS = 2**31 - 1
# bytes per nonzero of a sparse LU factor: the value and its row index
LU_BYTES_PER_NONZERO = 12
# method="auto" never gives a grid SuperLU factors larger than this (wgf.grids.cost), so its size check is bounded
AUTO_LU_MAX_BYTES = 1e9
# floats per cell and axis of one set of the split solve's factors (sub-diagonal, c_i, 1 / q_i; wgf.grids.splitting)
SPLIT_FLOATS_PER_CELL_AXIS = 3


class ResourceError(ValueError):
    """A run would need more memory or disk than the machine has."""


def human_bytes(n: float) -> str:
    """``n`` bytes as people read them: 3 significant digits and a decimal unit (kB, MB, ...)."""
    if n == float("inf"):  # beyond a float: a tensor quadrature on R^300
        return "> 1e308 B"
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
    """Memory of the tensor quadrature: points^dim_x nodes with x, y and a weight, times the orbit size
    (infinite beyond what a float holds: 16 points on R^300 are 16^300 nodes)."""
    try:
        return float(points) ** dim_x * (dim_x + dim_y + 1) * F64 * orbit
    except OverflowError:
        return float("inf")


# the most memory the particle engine's forward pass may keep for the VJP (N x rows x K floats); beyond it the
# step recomputes what the VJP needs, bitwise the same (wgf.particles.kernels)
KEEP_MAX_BYTES = 64 * 2**20


def kept_rows(n: int, rows: int, keep_rows: int) -> int:
    """The rows K the forward pass keeps per batch row and particle: the unit's ``keep_rows`` while the kept array,
    ceil(N / CHUNK) CHUNK R K floats, fits in KEEP_MAX_BYTES, else 0 (the VJP recomputes; bitwise the same)."""
    padded = -(-int(n) // CHUNK) * CHUNK
    return int(keep_rows) if padded * int(rows) * int(keep_rows) * F64 <= KEEP_MAX_BYTES else 0


def particle_bytes(n: int, dim: int, dim_x: int, dim_y: int, batch: int, *, orbit: int = 1, rows: int = 1,
                   snapshots: int = 0, keep: int = 0) -> float:
    """Memory of one particle run of N = ``n`` particles of D = ``dim`` parameters and minibatch B = ``batch``:
    the arrays ``wgf.particles.kernels`` allocates for it (``advance``), in float64::

        N D (12 + T)                       positions, their copies and the T snapshots a worker returns,
        C CHUNK (3 D + dy + 3)             per-chunk lanes (C = ceil(N / CHUNK)): z, gradient, noise, output, work,
        CHUNK (D + dy + 3)                 the teacher's lanes: z, output, work,
        B' (dx + 3 dy + 1)                 the scheme's batch, B' = K B (K = |G| for da in orbit mode, else 1),
        B (2 dx + 2 dy)                    the plain batch and its random numbers,
        R (2 dx + (2 + C) dy)              the feature rows of this step and the next, R = r B' (r = |G| maps
                                           for fa), and the per-chunk partial sums of the outputs,
        C CHUNK R K (C CHUNK if K = 0)     what the forward pass keeps for the VJP: K = ``kept_rows`` of the
                                           unit's keep_rows k (``wgf.particles.kernels``: 0 beyond its cap),

    ``orbit`` = K, ``rows`` = r, ``snapshots`` = T, ``keep`` = k."""
    chunks = -(-int(n) // CHUNK)
    kept = kept_rows(n, int(batch * orbit * max(1, rows)), keep)
    dx, dy = float(dim_x), float(dim_y)
    b = float(batch)
    b_scheme = b * orbit
    r = b_scheme * max(1, rows)
    floats = (float(n) * dim * (12 + snapshots) + chunks * CHUNK * (3.0 * dim + dy + 3) + CHUNK * (dim + dy + 3.0)
              + b_scheme * (dx + 3 * dy + 1) + b * (2 * dx + 2 * dy) + r * (2 * dx + (2 + chunks) * dy)
              + chunks * CHUNK * max(r * kept, 1))
    return floats * F64


def lu_nonzeros(cells: float, axes: int) -> float:
    """Nonzeros of the sparse LU factors of I - dt A on a grid of P = ``cells`` cells and ``axes`` axes (SuperLU,
    minimum degree ordering on A^T + A, as ``wgf.grids``): 4 P (1 axis), 6 P^1.2 (2), 1.1 P^1.6 (3), 0.7 P^1.75 (4),
    fitted to the fill measured at 10^4-10^5, 64^2-256^2, 16^3-32^3 and 8^4-16^4 cells (an upper bound there,
    not on smaller grids, whose factors are small;
    16^4 = 65536 cells: 1.7e8 nonzeros)."""
    c = float(cells)
    return {1: 4.0 * c, 2: 6.0 * c**1.2, 3: 1.1 * c**1.6}.get(axes, 0.7 * c**1.75)


def lu_bytes(cells: float, axes: int) -> float:
    """Memory of the two LU factors the implicit integrator keeps (the step and its half step)."""
    return 2 * LU_BYTES_PER_NONZERO * lu_nonzeros(cells, axes)


def solver_bytes(method: str, cells: float, axes: int) -> float:
    """Memory of the factors of I - dt A the time integrator ``method`` keeps (two sets, the step and its half
    step): LU (``lu_bytes``) for "implicit", 2 x 3 floats per cell and axis for "split", the larger of the two
    for "auto" (its LU only up to AUTO_LU_MAX_BYTES), none for "explicit" (its stages are among the work arrays)."""
    split = 2 * SPLIT_FLOATS_PER_CELL_AXIS * float(cells) * axes * F64
    lu = lu_bytes(cells, axes)
    return {"implicit": lu, "split": split, "auto": max(split, lu if lu <= AUTO_LU_MAX_BYTES else 0.0)}.get(method, 0.0)


def check_processes(what: str, workers: int, job_memory: float, *, free_memory: float | None = None) -> None:
    """ResourceError (one line) if ``workers`` local processes, each PROCESS_BYTES besides its job of
    ``job_memory`` bytes (``what``), exceed MEMORY_SHARE of the available memory."""
    if workers > 1:
        check_bytes(f"--workers {workers} ({human_bytes(PROCESS_BYTES)} per process besides its job, {what})",
                    workers * (PROCESS_BYTES + job_memory), free_memory=free_memory)


def structure_bytes(order: int, dim: int) -> float:
    """Memory of the problem's structure on Z = R^D under a group of ``order`` elements: (|G| + 4) D^2 float64."""
    return (order + 4.0) * float(dim) ** 2 * F64
