"""Orchestration of the particle SGD: one trajectory per (N, seed).

``simulate`` draws the initial particles, then calls the compiled step loop of
``wgf.particles.kernels`` between consecutive snapshot times. MF time t_k = k eps,
with eps = alpha / N (the paper's scaling) or a given fixed step; step k has size
s_k = eps varsigma(k eps) with the problem's schedule varsigma. A snapshot time t
between two step times, k eps < t < (k + 1) eps, splits step k there into two
Euler-Maruyama steps of sizes t - k eps and (k + 1) eps - t (docs/kernels.md,
"Snapshot times"): every snapshot is taken at its own time, and every step time
k eps is still on the trajectory.
``gradient_step`` is one noise-free update of the scheme (data augmentation included) on a given batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from wgf.layout import PARTICLE_COORDINATES, PARTICLE_VARIABLES, xarray_dataset
from wgf.particles.kernels import engine_spec, make_advance

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import xarray as xr
    from numpy.typing import ArrayLike

    from wgf._typing import PathLike
    from wgf.problem import Problem

__all__ = ["Trajectory", "simulate", "gradient_step", "step_size", "snapshot_steps", "snapshot_times", "record_steps",
           "record_times", "BlowUpError", "DEFAULT_RECORDS", "ON_GRID_RTOL"]

# particle-steps per call of the compiled loop: Ctrl-C and the blow-up check are seen between calls
# (about a second of work), and the array of step sizes stays small
WORK_PER_CALL = 1 << 22


class BlowUpError(FloatingPointError):
    """Particle positions became non-finite or exceeded ``BLOW_UP_LIMIT``."""


# eps = DEFAULT_ALPHA / N when neither alpha nor a fixed step is given (the config's default, docs/config.md)
DEFAULT_ALPHA = 50.0

# a run's diagnostics are recorded about this many times by default (every ceil(K / DEFAULT_RECORDS) of its K steps)
DEFAULT_RECORDS = 100

# beyond this |theta| squared distances overflow float64: treated as a blow-up
BLOW_UP_LIMIT = 1e150

# a snapshot time t within ON_GRID_RTOL max(1, t) of a step time k eps is taken at that step (the round-off of
# t / eps); the PDE's integrator lands on its snapshot times with the same tolerance (wgf.grids.stepper)
ON_GRID_RTOL = 1e-12


@dataclass
class Trajectory:
    """Snapshots of one particle run.

    times (T,) MF times; positions (T, N, D) (a run with ``store=False`` keeps only the last one,
    (1, N, D)); n, seed, eps as run. ``save(path)`` writes it to a small HDF5 file that xarray opens
    (coordinates time, particle, coordinate) and ``Trajectory.load(path)`` reads it back
    (docs/outputs.md, "Saved objects").
    """

    times: np.ndarray
    positions: np.ndarray
    n: int
    seed: int
    eps: float

    KIND = "Trajectory"

    def __repr__(self) -> str:
        """One line: N, seed, eps, the snapshots held and their times, the shape of the positions."""
        times, shape = np.asarray(self.times, dtype=float).ravel(), tuple(np.shape(self.positions))
        held = shape[0] if shape else 0
        when = f"t = {times[0]:.4g} .. {times[-1]:.4g}" if times.size else "no times"
        snaps = (f"{times.size} snapshots {when}" if held == times.size else
                 f"the last {held} of {times.size} snapshots ({when})")
        return f"Trajectory(N = {self.n}, seed {self.seed}, eps = {self.eps:.4g}, {snaps}, positions {shape})"

    def to_xarray(self) -> xr.Dataset:
        """This run as the ``xarray.Dataset`` of the /particles/N<n> group of a results file (``wgf.open_results``)
        restricted to its own seed and to the positions: positions (seed, time, particle, coordinate) with a seed
        dimension of length 1 (the coordinate holding ``seed``), the coordinates time, particle, coordinate and
        their long_name and units (``wgf.layout``), and the attribute eps. ``tree[f"particles/N{n}"].to_dataset()
        [["positions"]].sel(seed=[seed])`` of a run of the same problem and settings is equal to it; the group's
        diagnostics (risk, si_rmd2, wi_rmd2), its trace and the attributes batch and done_<seed> are the
        runner's. A trajectory run with ``store=False`` has the last snapshot only: time holds its time."""
        positions = np.asarray(self.positions, dtype=float)
        times = np.asarray(self.times, dtype=float)[len(self.times) - positions.shape[0]:]
        arrays = [(PARTICLE_COORDINATES["seed"], [self.seed]), (PARTICLE_COORDINATES["time"], times),
                  (PARTICLE_COORDINATES["particle"], np.arange(positions.shape[1])),
                  (PARTICLE_COORDINATES["coordinate"], np.arange(positions.shape[2])),
                  (PARTICLE_VARIABLES["positions"], positions[None])]
        return xarray_dataset(arrays, {"eps": float(self.eps)})

    @property
    def final(self) -> np.ndarray:
        """Positions at the last snapshot, (N, D)."""
        return self.positions[-1]

    def save(self, path: PathLike) -> Path:
        """Write this trajectory to ``path`` (HDF5, netCDF conventions), atomically: a temporary file in the
        same folder renamed to ``path``. Stored: positions (time, particle, coordinate) with the coordinates
        time (P,), particle (N,), coordinate (D,); n, seed and eps as root attributes; when the positions
        hold only the last P < T snapshots, all T times as the coordinate snapshot_time. Returns the path."""
        from wgf.io import coordinate, save_object, variable

        times = np.asarray(self.times, dtype=float)
        positions = np.asarray(self.positions, dtype=float)
        if times.ndim != 1 or positions.ndim != 3 or not 1 <= positions.shape[0] <= times.size:
            raise ValueError(f"positions of shape {positions.shape} for {times.size} times: expected (T, N, D), "
                             "or the last P < T snapshots (P, N, D)")
        if positions.shape[1] != self.n:
            raise ValueError(f"positions hold {positions.shape[1]} particles, n = {self.n}")
        stored = times[times.size - positions.shape[0]:]

        def fill(f):
            coords = (coordinate(f, "time", stored, long_name="mean-field time of the snapshot (t = k eps, or a split step)"),
                      coordinate(f, "particle", np.arange(positions.shape[1]), long_name="particle index", dtype="i8"),
                      coordinate(f, "coordinate", np.arange(positions.shape[2]), long_name="coordinate of z in Z = R^D",
                                 dtype="i8"))
            variable(f, "positions", positions, *coords, long_name="particle positions z_i")
            if stored.size != times.size:
                coordinate(f, "snapshot_time", times, long_name="mean-field times of the run's snapshots "
                           "(positions hold the last ones only)")
            f.attrs["n"], f.attrs["seed"], f.attrs["eps"] = int(self.n), int(self.seed), float(self.eps)

        return save_object(path, self.KIND, fill)

    @classmethod
    def load(cls, path: PathLike) -> "Trajectory":
        """The Trajectory saved at ``path`` by ``save``, arrays bit for bit. FileNotFoundError/IsADirectoryError,
        or ``wgf.io.SavedFileError`` (a ValueError), in one line naming the file for anything else."""
        from wgf.io import read_object

        with read_object(path, cls.KIND) as f:
            positions = f["positions"][()]
            times = f["snapshot_time" if "snapshot_time" in f else "time"][()]
            n, seed, eps = int(f.attrs["n"]), int(f.attrs["seed"]), float(f.attrs["eps"])
            if positions.ndim != 3 or positions.shape[1] != n or not 1 <= positions.shape[0] <= times.size:
                raise ValueError(f"positions of shape {positions.shape} for n = {n} and {times.size} times")
        return cls(times, positions, n, seed, eps)


def step_size(n: int, *, alpha: float | None = None, step: float | None = None) -> float:
    """eps = alpha / N, or ``step`` when given (exactly one of the two)."""
    if (alpha is None) == (step is None):
        raise ValueError("give exactly one of alpha (eps = alpha / N) and step (fixed eps)")
    eps = alpha / n if step is None else step
    if not (np.isfinite(eps) and eps > 0):
        raise ValueError(f"step size must be finite and > 0, got {eps!r}")
    return float(eps)


def _snapshot_grid(times: ArrayLike, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(times, k, between) for the snapshot times t_j: k_j the step with k_j eps <= t_j < (k_j + 1) eps, between_j
    whether t_j lies strictly inside that step (more than ON_GRID_RTOL max(1, t_j) from every step time); a time
    on the step grid has k_j = round(t_j / eps)."""
    times = np.asarray(times, dtype=float)
    if times.ndim != 1 or times.size == 0 or not np.isfinite(times).all():
        raise ValueError("snapshot times must be a nonempty list of finite times")
    if times[0] < 0 or np.any(np.diff(times) < 0):
        raise ValueError("snapshot times must be nonnegative and nondecreasing")
    nearest = np.rint(times / eps)
    between = np.abs(times - nearest * eps) > ON_GRID_RTOL * np.maximum(1.0, times)
    return times, np.where(between, np.floor(times / eps), nearest).astype(np.int64), between


def snapshot_steps(times: ArrayLike, eps: float) -> np.ndarray:
    """Step indices k_j of the snapshot times (nondecreasing): k_j = round(t_j / eps) for a time on the step
    grid (to ON_GRID_RTOL), else the step k_j eps < t_j < (k_j + 1) eps that the snapshot splits."""
    return _snapshot_grid(times, eps)[1]


def snapshot_times(times: ArrayLike, eps: float) -> np.ndarray:
    """The MF times at which ``simulate`` takes the snapshots of ``times``: k_j eps for a time on the step grid
    (equal to t_j to ON_GRID_RTOL max(1, t_j)), t_j itself for a time between two steps."""
    times, steps, between = _snapshot_grid(times, eps)
    return np.where(between, times, steps * eps)


def record_steps(last_step: int, record_every: int | None = None) -> np.ndarray:
    """Step indices 0, K, 2K, ... of the diagnostics trace, ending with ``last_step`` itself.

    K = ``record_every``, by default ceil(last_step / DEFAULT_RECORDS): at most DEFAULT_RECORDS + 1 records.
    """
    if record_every is None:
        record_every = max(1, -(-int(last_step) // DEFAULT_RECORDS))
    if record_every < 1:
        raise ValueError(f"record_every must be >= 1, got {record_every}")
    return np.unique(np.append(np.arange(0, last_step + 1, record_every, dtype=np.int64), last_step))


def record_times(times: ArrayLike, eps: float, record_every: int | None = None) -> np.ndarray:
    """MF times of the diagnostics trace of a run through the snapshot ``times``: the step times
    ``record_steps(k_T, record_every) * eps`` (k_T the last snapshot's step), then the last snapshot's time
    when it lies between two steps. ``simulate`` calls on_record at these times, in this order."""
    times, steps, between = _snapshot_grid(times, eps)
    grid = record_steps(int(steps[-1]), record_every) * eps
    return np.append(grid, times[-1]) if between[-1] else grid


def simulate(problem: Problem, n_particles: int, seed: int, times: ArrayLike | None = None, *,
             alpha: float | None = None, step: float | None = None, batch: int = 20,
             initial: ArrayLike | None = None, callback: Callable[[int, float, np.ndarray], object] | None = None,
             store: bool = True, noise_projector: ArrayLike | None = None, record_every: int | None = None,
             on_record: Callable[[int, float, np.ndarray], object] | None = None) -> Trajectory:
    """Run the N-particle noisy SGD of ``problem`` (docs/theory.md §5).

    Parameters
    ----------
    problem : wgf.Problem
    n_particles : N
    seed : nonnegative int; fixes the initial particles, minibatches and noise
    times : snapshot MF times (default ``problem.times``); a time on the step grid t_k = k eps (to ON_GRID_RTOL)
        is taken after step k - 1, a time between two steps splits that step there (module docstring): the
        snapshots are taken at ``snapshot_times(times, eps)``
    alpha, step : eps = alpha / N, or a fixed eps = step (default alpha = 50)
    batch : minibatch size B
    initial : optional initial particles (N, D) instead of the problem's initial law
    callback : called as callback(j, t_j, positions) after each snapshot is taken
    store : keep all snapshots in memory (False keeps only the current positions)
    noise_projector : optional (D, D) projector applied to the noise instead of the problem's
    on_record : called as on_record(r, t_r, positions) at the times ``record_times(times, eps, record_every)``
        of the diagnostics trace (finer than the snapshots; every record_every steps and the last snapshot)

    Returns a ``Trajectory``. Raises ``BlowUpError`` naming the time interval if
    particles become non-finite.
    """
    if n_particles < 1:
        raise ValueError(f"n_particles must be >= 1, got {n_particles}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    if alpha is None and step is None:
        alpha = DEFAULT_ALPHA
    eps = step_size(n_particles, alpha=alpha, step=step)
    times, steps, between = _snapshot_grid(problem.times if times is None else times, eps)
    if initial is None:
        theta = problem.initial_particles(n_particles, np.random.default_rng(seed))
    else:
        theta = np.array(initial, dtype=float)
        if theta.shape != (n_particles, problem.dim):
            raise ValueError(f"initial must have shape ({n_particles}, {problem.dim}), got {theta.shape}")
    theta = np.ascontiguousarray(theta)
    advance = make_advance(problem.base_unit, problem.loss)
    spec = engine_spec(problem, batch, noise_projector=noise_projector)
    rate = problem.schedule.rate
    snaps = np.empty((len(steps), n_particles, problem.dim)) if store else None
    records = record_steps(int(steps[-1]), record_every) if on_record is not None else steps[:0]
    events = np.union1d(steps, records)  # the positions are looked at after each of these steps
    per_call = max(1, WORK_PER_CALL // n_particles)

    def check(t0, t1):
        if not np.all(np.abs(theta) < BLOW_UP_LIMIT):  # also catches NaN
            raise BlowUpError(f"particles became non-finite between t = {t0:.6g} and t = {t1:.6g} "
                              f"(N = {n_particles}, seed = {seed}, eps = {eps:.3g}): reduce alpha/step")

    def snapshot(j, t):
        if store:
            snaps[j] = theta
        if callback is not None:
            callback(int(j), t, theta)

    def piece(counter, t0, t1):
        """One Euler-Maruyama step from t0 to t1 inside a step, size (t1 - t0) varsigma(t0), drawing with counter."""
        advance(theta, counter, np.array([(t1 - t0) * float(rate(np.array([t0]))[0])]), seed, spec)
        check(t0, t1)

    k = 0
    for k_next in events:
        for k0 in range(k, k_next, per_call):
            k1 = min(k_next, k0 + per_call)
            advance(theta, k0, problem.schedule.step_sizes(eps, k0, k1), seed, spec)
        if k_next > k:
            check(k * eps, k_next * eps)
        k = k_next
        for r in np.flatnonzero(records == k):
            on_record(int(r), k * eps, theta)
        for j in np.flatnonzero((steps == k) & ~between):
            snapshot(j, k * eps)
        inside = np.flatnonzero((steps == k) & between)
        if inside.size == 0:
            continue
        # step k split at the snapshot times inside it: [k eps, t_a], [t_a, t_b], ..., [t_last, (k + 1) eps];
        # the first piece draws as step k would, the piece from t_j with the counter -1 - j (j its first snapshot)
        t0, counter = k * eps, k
        for t in np.unique(times[inside]):
            piece(counter, t0, t)
            at = inside[times[inside] == t]
            for j in at:
                snapshot(j, t)
            t0, counter = t, -1 - int(at[0])
        if k < events[-1]:  # later events: complete the step
            piece(counter, t0, (k + 1) * eps)
            k += 1
        elif on_record is not None:  # the trace ends at the last snapshot (record_times)
            on_record(len(records), times[-1], theta)
    return Trajectory(np.where(between, times, steps * eps), snaps if store else theta[None].copy(), n_particles,
                      seed, eps)


def gradient_step(problem: Problem, theta: ArrayLike, x: ArrayLike, y: ArrayLike, step: float, *,
                  t: float = 0.0, elements: ArrayLike | None = None) -> np.ndarray:
    """theta after one noise-free SGD update of the problem's scheme on the plain batch x (B, dx), y (B, dy):

        theta_i - s [ sum_b' w_b' J_z sigma(x_b', theta_i)^T grad_1 l(Phi(x_b'), y_b') + 2 tau theta_i ],
        Phi(x) = (1/N) sum_j sigma(x, theta_j),   s = step * varsigma(t),

    with the scheme's unit sigma (sigma_*, sigma^FA or sigma^EA), loss l, penalty tau and schedule varsigma,
    over the scheme's batch (x_b', y_b', w_b'), built from the plain one as ``simulate`` builds its minibatches
    (docs/theory.md §3):

    - vanilla, fa, ea: the B samples (x_b, y_b), w_b = 1/B;
    - da, orbit mode: the orbit of every sample, the |G| B samples (rho_g x_b, rhohat_g y_b), w = 1/(|G| B)
      (``wgf.schemes.scheme_quadrature``; a compact group's Haar quadrature points as G);
    - da, sample mode: (rho_{g_b} x_b, rhohat_{g_b} y_b), w_b = 1/B, with the group elements g_b given as
      ``elements`` (B,), indices into ``problem.group`` (ValueError without them).

    The labels are used as given (the logistic loss wants +-1). theta (N, D) is not modified; returns the
    new (N, D) array. ValueError, in one line, for a wrong shape, a step that is not finite and > 0, or
    ``elements`` missing in DA sample mode, out of range, or given to another scheme.
    """
    theta = np.array(theta, dtype=float, order="C")
    if theta.ndim != 2 or theta.shape[1] != problem.dim:
        raise ValueError(f"theta must have shape (N, {problem.dim}), got {theta.shape}")
    x = np.atleast_2d(np.asarray(x, dtype=float))
    y = np.atleast_2d(np.asarray(y, dtype=float))
    if x.shape != (x.shape[0], problem.base_unit.dim_x) or y.shape != (x.shape[0], problem.base_unit.dim_y):
        raise ValueError(f"x must be (B, {problem.base_unit.dim_x}) and y (B, {problem.base_unit.dim_y}), "
                         f"got {x.shape} and {y.shape}")
    if not (np.isfinite(step) and step > 0):
        raise ValueError(f"step must be finite and > 0, got {step!r}")
    xb, yb, wb = _scheme_batch(problem, x, y, elements)
    spec = engine_spec(problem, xb.shape[0], fixed_batch=(xb, yb, wb), beta=0.0)
    steps = np.array([step * float(problem.schedule.rate(t))])
    make_advance(problem.base_unit, problem.loss)(theta, 0, steps, 0, spec)
    return theta


def _scheme_batch(problem: Problem, x: np.ndarray, y: np.ndarray,
                  elements: ArrayLike | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The batch (x (B', dx), y (B', dy), w (B',)) that ``problem``'s scheme trains on, from the plain batch x, y
    (``gradient_step``): the orbit of every sample for DA in orbit mode, the given group elements in sample mode."""
    from wgf.data import Quadrature
    from wgf.schemes import SCHEMES, scheme_quadrature

    n_batch = x.shape[0]
    w = np.full(n_batch, 1.0 / n_batch)
    augments = SCHEMES[problem.scheme].augments
    sample_mode = augments and problem.da_mode == "sample"
    if elements is not None and not sample_mode:
        raise ValueError(f"elements are the group elements of DA in sample mode; this problem's scheme is "
                         f"{problem.scheme!r}" + (" in orbit mode (every element is used)" if augments else ""))
    if not augments:
        return x, y, w
    group = problem.group
    if not sample_mode:  # the orbit law pi^G of the batch, as the PDE and simulate's orbit minibatches use it
        q = scheme_quadrature(problem.scheme, Quadrature(x, y, w), group)
        return q.x, q.y, q.weights
    if elements is None:
        raise ValueError(f"DA in sample mode needs elements=: the group element of each of the {n_batch} samples, "
                         f"indices into the group (0 .. {group.order - 1})")
    g = np.asarray(elements)
    if g.shape != (n_batch,) or not np.issubdtype(g.dtype, np.integer):
        raise ValueError(f"elements must be {n_batch} integer group indices, one per sample; got "
                         f"{g.dtype} of shape {g.shape}")
    if g.size and (g.min() < 0 or g.max() >= group.order):
        raise ValueError(f"elements must be group indices in 0 .. {group.order - 1}, got {g.min()} .. {g.max()}")
    return (np.einsum("bij,bj->bi", group.rho_x[g], x), np.einsum("bij,bj->bi", group.rho_y[g], y), w)
