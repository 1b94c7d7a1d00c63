"""The mean-field Wasserstein gradient flow of a problem on a grid (docs/theory.md §4).

    d_t mu = div( mu grad_z U(mu, .) ) + beta Lap mu,    U = dR/dmu + tau |z|^2,

on the full space (grid basis I, D <= 4 axes) or on E^G (grid basis an
orthonormal basis of E^G, for SI dynamics), discretized by the
Scharfetter-Gummel finite volumes of ``wgf.grids.flux`` and integrated by
``wgf.grids.stepper``. Trackers are recorded at every snapshot.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from wgf.grids.grid import Grid, NotSymmetricError
from wgf.grids.potential import MeanFieldPotential
from wgf.grids.solver import History, initial_density
from wgf.grids.stepper import DEFAULT_TOLERANCE, StepStats, integrate

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from numpy.typing import ArrayLike

    from wgf.problem import Problem

__all__ = ["solve", "make_grid", "wi_defect", "interpolated_wi_defect", "interpolation_maps", "RefusedGrid", "GridRole"]

log = logging.getLogger("wgf")


# mass in the outermost cell layer above which the box is reported as too small
BOUNDARY_WARNING = 1e-3
# a marginal narrower than this many cells is reported as under-resolved
RESOLUTION_CELLS = 1.5


class RefusedGrid(ValueError):
    """The grid cannot carry this problem's flow (docs/theory.md §4)."""


@dataclass(frozen=True)
class GridRole:
    """Which grid a solve runs on, as its warnings name it: the grid the user chose, with ``cells`` per axis
    (set by ``setting``, e.g. "[pde]" in a config; None: a grid built in Python), or one ``factor`` times
    coarser per axis that serves ``purpose`` (e.g. "the floor estimate's", docs/pde.md). A warning names the
    user's setting and says what to change there, not on the coarse grid they never chose."""

    cells: tuple
    setting: str | None = None
    factor: int = 1
    purpose: str | None = None

    def named(self) -> str:
        """"[pde] cells = 48" or, without a setting, "the grid of 48 cells"."""
        cells = _cells_text(self.cells)
        return f"{self.setting} cells = {cells}" if self.setting else f"the grid of {cells} cells"

    def where(self, grid: Grid) -> str:
        """"" on the user's own grid, else "on the floor estimate's 12-cell grid (48 // 4), "."""
        if self.factor == 1:
            return ""
        return f"on {self.purpose or 'a coarser'} {_cells_text(grid.cells)}-cell grid ({_cells_text(self.cells)} // {self.factor}), "


def _cells_text(cells) -> str:
    """48 for [48, 48], else 48 x 24."""
    cells = [int(c) for c in np.atleast_1d(cells)]
    return str(cells[0]) if len(set(cells)) == 1 else " x ".join(map(str, cells))


def make_grid(problem: Problem, space: str = "full", cells: int | Sequence[int] = 64, half_width: float = 2.0,
              bounds: Sequence[Sequence[float]] | None = None) -> Grid:
    """The grid of a [pde] section: on Z (``full``) or on E^G (``fixed``), refusing what docs/theory.md §4 refuses."""
    sym = problem.symmetry
    if space == "full":
        basis = np.eye(problem.dim)
        if problem.init == "si" and sym.dim_fixed < problem.dim:
            raise RefusedGrid("an SI start is singular on a full-space grid: use the E^G grid or a WI start")
    elif space == "fixed":
        basis = sym.basis
        if not problem.stays_in_fixed_subspace:
            raise RefusedGrid(
                "the flow is not known to stay in E^G: a grid on E^G needs projected noise and "
                "scheme da/fa/ea or an equivariant teacher (use the full space)"
            )
        if problem.init != "si":
            raise RefusedGrid("a grid on E^G needs an SI start (init = 'si')")
    else:
        raise ValueError(f"space must be 'full' or 'fixed', got {space!r}")
    m = basis.shape[1]
    if m > 4:
        raise RefusedGrid(f"the grid would have {m} axes; grids have at most 4")
    if bounds is None:
        bounds = [(-half_width, half_width)] * m
    elif len(bounds) == 1:
        bounds = list(bounds) * m
    return Grid(bounds, cells, basis)


def initial_law(problem, grid: Grid):
    """The problem's initial density in grid coordinates: N(0, init_std^2 I_m).

    Full space with a WI start: z ~ N(0, s0^2 I_D); on E^G with an SI start:
    u = B^T P_E z ~ N(0, s0^2 I_m) since B has orthonormal columns.
    """
    s2 = problem.init_std**2
    m = grid.ndim

    def density(u):
        return np.exp(-0.5 * np.sum(u * u, axis=-1) / s2) / (2 * np.pi * s2) ** (m / 2)

    return density


def wi_defect(rho: np.ndarray, index_maps: Iterable[np.ndarray]) -> float:
    """max_g || rho o M_g - rho ||_L1 (relative to the L1 norm of rho) from the cell index maps."""
    flat = rho.ravel()
    norm = np.abs(flat).sum()
    return float(max(np.abs(flat[perm] - flat).sum() for perm in index_maps) / norm)


# memory allowed for the interpolation weights of the WI defect of a continuous group
WI_INTERPOLATION_BYTES = 2e8


def interpolation_maps(grid: Grid, matrices: Iterable[ArrayLike], max_bytes: float = WI_INTERPOLATION_BYTES) -> list:
    """Multilinear interpolation weights of rho o M_g at the cell centers, for maps that do not send
    cells to cells (a continuous group's Haar quadrature). At most as many maps as fit in ``max_bytes``
    (equispaced in the list); [] if a map does not keep the grid's subspace."""
    matrices = list(matrices)
    if not matrices:
        return []
    per_map = grid.size * 2**grid.ndim * 16
    count = max(1, min(len(matrices), int(max_bytes // per_map)))
    out = []
    for k in np.unique(np.linspace(0, len(matrices) - 1, count).round().astype(int)):
        m = np.asarray(matrices[k], dtype=float)
        r = grid.basis.T @ m @ grid.basis
        if not np.allclose(m @ grid.basis, grid.basis @ r, atol=1e-10):
            return []
        out.append(grid.interpolation_weights(grid.points @ r.T))
    return out


def interpolated_wi_defect(rho: np.ndarray, weights: Iterable[tuple[np.ndarray, np.ndarray]]) -> float:
    """max_g || rho o M_g - rho ||_L1 / || rho ||_L1 with rho o M_g interpolated (``interpolation_maps``).

    For a continuous group this is approximate: the interpolation error is O(h^2) where rho is smooth
    (and points mapped outside the box are clamped to it), so the defect of an exactly invariant density
    is not 0 but falls as the grid is refined (docs/groups.md)."""
    flat = rho.ravel()
    norm = np.abs(flat).sum()
    return float(max(np.abs(np.einsum("pj,pj->p", w, flat[i]) - flat).sum() for i, w in weights) / norm)


def solve(problem: Problem, grid: Grid, times: ArrayLike | None = None, *, method: str = "auto",
          tol: float = DEFAULT_TOLERANCE, potential_path: str = "auto",
          on_snapshot: Callable[[int, float, np.ndarray], object] | None = None, role: GridRole | None = None,
          flux: str = "sg") -> History:
    """Solve the mean-field WGF of ``problem`` on ``grid`` from its initial law through ``times``.

    Trackers (arrays over snapshots): mass, risk, free_energy, wi_defect (when the
    grid is G-symmetric), si_defect, boundary_mass (mass in the outermost cell
    layer). Under-resolution (a marginal of standard deviation below 1.5 cells) and more than 1e-3 of the mass
    in the outer layer are each logged once per solve, at the worst snapshot, naming the grid by ``role``
    (default: the grid itself, as the user's) and the cells or box that would carry the flow.
    on_snapshot(j, t, rho) is called after each snapshot. ``method`` "auto" takes the
    integrator with the lower estimated cost at the tolerance ``tol`` (``wgf.grids.cost``);
    ``History.stats`` says which and why. ``flux`` is the face flux (``wgf.grids.stepper.FLUXES``, docs/pde.md):
    "sg" (Scharfetter-Gummel) or "cch" (Carrillo-Chertock-Huang, second order at high cell Peclet numbers,
    SSP-RK3 only).

    A step-size schedule varsigma(t) is a change of time: the autonomous flow is
    solved to the internal times S(t_j) = int_0^t_j varsigma, and mu(t_j) is its
    state there (``wgf.schedules``).
    """
    times = problem.times if times is None else np.asarray(times, dtype=float)
    role = GridRole(tuple(grid.cells)) if role is None else role
    worst = _Worst()
    pot = MeanFieldPotential(problem, grid, path=potential_path)
    sym = problem.symmetry
    try:
        maps = [grid.index_map(m) for m in sym.matrices[1:]]
    except NotSymmetricError:
        maps = None
    interp = interpolation_maps(grid, sym.matrices[1:]) if maps is None and sym.group.continuous else []
    z = pot.z
    si_weights = np.einsum("cd,cd->c", z - sym.project(z), z - sym.project(z)).reshape(grid.shape)
    vol = grid.cell_volume
    names = ("mass", "risk", "free_energy", "wi_defect", "si_defect", "boundary_mass")
    trackers = {k: [] for k in names}
    interior = tuple(slice(1, -1) for _ in range(grid.ndim))

    def record(j, t, rho):
        free_energy, risk = pot.free_energy(rho)  # at this exact density
        mass = rho.sum() * vol
        trackers["mass"].append(mass)
        trackers["risk"].append(risk)
        trackers["free_energy"].append(free_energy)
        if maps is not None:
            trackers["wi_defect"].append(wi_defect(rho, maps) if maps else 0.0)
        elif interp:  # a continuous group on a grid it does not map onto itself: interpolated
            trackers["wi_defect"].append(interpolated_wi_defect(rho, interp))
        trackers["si_defect"].append(float(np.sum(rho * si_weights) * vol))
        boundary = mass - rho[interior].sum() * vol
        trackers["boundary_mass"].append(boundary)
        worst.see(grid, rho, t, boundary)
        if on_snapshot is not None:
            on_snapshot(j, t, rho)

    rho0 = initial_density(grid, initial_law(problem, grid))
    stats = StepStats()
    internal = problem.schedule.elapsed(times)
    try:
        dens = integrate(rho0, internal, pot, grid.spacing, problem.beta, method=method, tol=tol,
                         on_snapshot=lambda j, s, rho: record(j, times[j], rho), stats=stats, flux=flux)
    finally:
        worst.warn(grid, role)
    out = {k: np.asarray(v, dtype=float) for k, v in trackers.items() if v}
    return History(grid, times, np.stack(dens), out, stats)


class _Worst:
    """The worst snapshot of one solve for its two warnings: the narrowest marginal in cells,
    std_k / h_k = min over axes k and snapshots, and the most mass in the outermost cell layer."""

    def __init__(self):
        self.narrow = None  # (std / h, t, axis k, std)
        self.boundary = None  # (mass, t)

    def see(self, grid: Grid, rho: np.ndarray, t: float, boundary: float) -> None:
        mass = rho.sum()
        for k in range(grid.ndim):
            marg = rho.sum(axis=tuple(j for j in range(grid.ndim) if j != k)) / mass
            mean = np.dot(marg, grid.axes[k])
            std = float(np.sqrt(max(np.dot(marg, (grid.axes[k] - mean) ** 2), 0.0)))
            ratio = std / grid.spacing[k]
            if ratio < RESOLUTION_CELLS and (self.narrow is None or ratio < self.narrow[0]):
                self.narrow = (ratio, t, k, std)
        if boundary > BOUNDARY_WARNING and (self.boundary is None or boundary > self.boundary[0]):
            self.boundary = (boundary, t)

    def warn(self, grid: Grid, role: GridRole) -> None:
        """One line per fault, naming the user's setting, the grid (if not theirs) and what to change:
        cells per axis >= factor * ceil(1.5 (b_k - a_k) / max(std, h_k / 2)), rounded up to a multiple of 8
        (a density within a cell or two has a std the grid cannot measure: the advice is then about 3x)."""
        where = role.where(grid)
        if self.narrow is not None:
            _, t, k, std = self.narrow
            width = grid.bounds[k][1] - grid.bounds[k][0]
            need = role.factor * math.ceil(RESOLUTION_CELLS * width / max(std, 0.5 * grid.spacing[k]))
            need = 8 * math.ceil(need / 8)
            log.warning("%s is under-resolved for this flow: %st = %.4g: density std %.3g < %.3g cells of %.3g on "
                        "axis %d; use >= %d cells", role.named(), where, t, std,
                        RESOLUTION_CELLS, grid.spacing[k], k, need)
        if self.boundary is not None:
            mass, t = self.boundary
            box = " x ".join(f"[{lo:.4g}, {hi:.4g}]" for lo, hi in grid.bounds)
            owner, fix = (f"the {role.setting} box", f"{role.setting} half_width (or bounds)") if role.setting else \
                ("the box", "it")
            if role.factor > 1:
                fix += f" or refine {role.setting + ' cells' if role.setting else 'the grid'} (its outer layer is {role.factor} of your cells wide)"
            log.warning("%s %s is too small for this flow: %st = %.4g: mass %.3g in the outermost cell layer "
                        "(no-flux wall); enlarge %s", owner, box, where, t, mass, fix)
