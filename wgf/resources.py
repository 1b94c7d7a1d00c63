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

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wgf._typing import PathLike

__all__ = ["ResourceError", "available_memory", "check_bytes", "quadrature_bytes", "human_bytes"]

F64 = 8
CHUNK = 128  # particles per chunk of the engine (wgf.particles.kernels.CHUNK)
# share of the available memory a run may plan to use
MEMORY_SHARE = 0.8


class ResourceError(ValueError):
    """A run would need more memory or disk than the machine has."""


def human_bytes(n: float) -> str:
    """``n`` bytes as people read them: 3 significant digits and a decimal unit (kB, MB, ...)."""
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
