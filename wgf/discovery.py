"""Architecture discovery: the parameter subspace the training flow keeps (docs/theory.md §8).

The heuristic builds an increasing sequence of subspaces E_0 = {0} c E_1 c ... of Z
with orthonormal bases B_j (D, j) and projectors P_j = B_j B_j^T. Round j

1. starts N particles in E_j, theta_i(0) = P_j xi_i, xi_i ~ N(0, s0^2 I_D)
   (s0 = the problem's ``init_std``), and trains them for an MF time T with the
   problem's scheme, data, tau and beta, the Langevin noise projected onto E_j
   (P_j xi instead of xi), in R independent replicas (R seeds);
2. measures how far training took the pooled particles (R N of them) out of E_j,

       RMD^2(nu, P_j#nu) = int |z - P_j z|^2 dnu / (2 (m2(nu) + m2(P_j#nu)))   (in [0, 1/2]);

3. stops when RMD^2 <= delta_j (E_j is kept by the flow: E_* = E_j), and
   otherwise sets E_{j+1} = E_j + span(v_j), with v_j the mean residual
   (1/(R N)) sum_i (theta_i - P_j theta_i), normalized. When the residuals spread
   symmetrically around E_j their mean carries no direction: if its norm is below
   ``pca_ratio`` times their root mean square, v_j is the top principal direction
   of the residuals (top right singular vector of the (R N, D) residual matrix,
   each replica's rows centered on their own mean: that removes the shift the
   particles of one minibatch run share).

For an equivariant problem (invariant risk: da/fa/ea, or vanilla with an
equivariant teacher) a flow started in E^G with noise projected onto E^G stays in
E^G (Thm 5 of the paper), while inside E^G nothing confines it to a smaller
subspace, so E_* is expected to be E^G.

Two ways to train a round (``gradient``):

- ``"exact"`` (default): the expected gradient, i.e. SGD whose "minibatch" is the
  problem's quadrature (x_q, y_q, w_q) (the data set itself for empirical data, the
  orbit-augmented nodes for da). This is the N-particle discretization of the
  mean-field flow itself, with no sampling noise.
- ``"minibatch"``: the particle engine's noisy SGD (``wgf.particles.simulate``) with
  fresh minibatches of size B. Every particle sees the same minibatch, so the
  non-equivariant part of the minibatch gradient is common to all particles: it
  does not average out over particles, it moves the cloud out of E^G coherently
  and dominates the mean residual once E_j is close to E^G. Replicas (independent
  minibatch streams) average it out only as 1/sqrt(R).

Choice of the thresholds delta_j (one value delta for every round: the floor
below does not depend on j).

- exact gradient: if E_j is kept, the equivariant gradient has no component out of
  E_j (particles and noise are in E_j) and RMD^2 is round-off, about 1e-32 on the
  swap and C3 problems; a subspace that is not kept is left at a rate set by the
  risk: after an MF time of 10, RMD^2 = 1/2 for E_0 and from about 2e-5 (E_1 on
  swap, nearly the direction the flow moves along; it grows like T^2 to T^3) to
  2e-3 for the others. The default delta = 1e-10 sits many orders from both.
- minibatches: at E_j = E^G the minibatch noise alone gives RMD^2 ~ c eps / B
  (eps = alpha / N: ~1/N at fixed alpha), measured c ~ 2e-3 on the swap problem
  (5e-6 at N = 1000, B = 20; 5e-7 at B = 200; 2e-5 at N = 250, B = 20), while the
  weakest signal of a non-kept subspace was about 2e-5 after an MF time of 10
  (1e-3 after 50). A direction found with minibatches is off by an angle phi,
  and the E_j it builds then leaks RMD^2 ~ phi^2 times the spread in E^G (1e-5
  for phi = 0.024 rad on swap) on top of the floor. The default is
  delta = 0.1 eps / B (about 50 times the floor): minibatch discovery needs large
  batches (B >= 200), long rounds (T ~ 50) and replicas; the exact gradient needs
  none of them. The residual RMD^2 of every round is recorded so the choice can
  be checked.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from wgf.particles.engine import DEFAULT_ALPHA as PARTICLES_DEFAULT_ALPHA
from wgf.registry import Registry

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import ArrayLike

    from wgf.io import ResultsFile
    from wgf.problem import Problem

__all__ = ["discover", "Discovery", "DiscoveryRound", "GRADIENTS", "default_delta", "format_round"]

GRADIENTS = Registry("gradient", "the gradient the discovery rounds follow")
GRADIENTS.add("exact", doc="the full gradient over the data's quadrature (deterministic rounds)", replicas=1,
              batched=False)
GRADIENTS.add("minibatch", doc="SGD on minibatches of B samples (noisy rounds, pooled over replicas)", replicas=4,
              batched=True)
EXACT_DELTA = 1e-10
MINIBATCH_DELTA_FACTOR = 0.1
# eps = DEFAULT_ALPHA / n and DEFAULT_ROUND_TIME of mean-field time per round unless given ([discover])
DEFAULT_ALPHA = PARTICLES_DEFAULT_ALPHA
DEFAULT_ROUND_TIME = 10.0


@dataclass
class DiscoveryRound:
    """One round: dim E_j, the residual RMD^2(nu, P_j#nu), the threshold delta_j and, when the
    round added one, the direction v_j (D,) (``principal``: the top principal direction of the
    residuals was used instead of their mean); ``mean_ratio`` = |mean residual| / rms residual;
    ``seconds`` of wall time."""

    dim: int
    rmd2: float
    threshold: float
    direction: np.ndarray | None = None
    principal: bool = False
    mean_ratio: float = 0.0
    seconds: float = 0.0

    @property
    def stopped(self) -> bool:
        return self.rmd2 <= self.threshold


@dataclass
class Discovery:
    """The result: ``basis`` (D, k) with orthonormal columns (E_* = its span), the rounds that
    built it, and the settings used (``eps`` the step, ``round_time`` the MF time per round).
    ``converged`` is False when the search stopped at ``max_dim`` without meeting delta."""

    basis: np.ndarray
    rounds: list = field(default_factory=list)
    converged: bool = True
    settings: dict = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return self.basis.shape[1]

    @property
    def projector(self) -> np.ndarray:
        """P_* = B B^T, (D, D)."""
        return self.basis @ self.basis.T

    def write(self, out: ResultsFile, reference: ArrayLike) -> None:
        """Write the result into /discovery of an open ``wgf.io.ResultsFile`` (layout in docs/outputs.md).

        Coordinates: round (J,) = j, parameter (D,), basis_vector (k,), reference_vector (m,), angle
        (min(k, m),). Variables: basis (parameter, basis_vector); per round dims, rmd2, threshold,
        principal, mean_ratio, seconds (round,) and directions (round, parameter) (NaN where no
        direction was added, as is mean_ratio); reference_basis (parameter, reference_vector);
        principal_angles (angle,). Each variable has long_name and units; one with skipped values
        says why in its ``skipped`` attribute. The settings, dim, reference_dim, converged and
        max_angle are attributes of /discovery (names and attributes: ``wgf.schema.DISCOVERY_VARIABLES``)."""
        from wgf.schema import DISCOVERY, DISCOVERY_COORDINATES, DISCOVERY_VARIABLES

        reference = np.asarray(reference, dtype=float)
        rounds = self.rounds
        d, k, m = self.basis.shape[0], self.basis.shape[1], reference.shape[1]
        dirs = np.full((len(rounds), d), np.nan)
        ratio = np.full(len(rounds), np.nan)
        for i, r in enumerate(rounds):
            if r.direction is not None:
                dirs[i] = r.direction
                ratio[i] = r.mean_ratio
        angles = self.principal_angles(reference)
        coords = {name: DISCOVERY_COORDINATES[name].coordinate(out, DISCOVERY, np.arange(size)) for name, size in
                  (("round", len(rounds)), ("parameter", d), ("basis_vector", k), ("reference_vector", m),
                   ("angle", angles.size))}
        no_direction = "NaN in a round that added no direction: the last one (E_j kept, or max_dim reached)"
        untrained = [r.dim for r in rounds if r.dim == d]
        skipped = {"mean_ratio": no_direction, "directions": no_direction}
        if untrained:
            skipped["rmd2"] = f"round {untrained[0]} not trained: E_j = Z, nothing can leave it (RMD^2 = 0)"
        if not angles.size:
            skipped["principal_angles"] = "none: E_* or E^G is {0}"
        values = {"basis": self.basis, "dims": [r.dim for r in rounds], "rmd2": [r.rmd2 for r in rounds],
                  "threshold": [r.threshold for r in rounds], "principal": [float(r.principal) for r in rounds],
                  "mean_ratio": ratio, "seconds": [r.seconds for r in rounds], "directions": dirs,
                  "reference_basis": reference, "principal_angles": angles}
        for name, var in DISCOVERY_VARIABLES.items():
            var.write(out, DISCOVERY, np.asarray(values[name], dtype=float), *(coords[dim] for dim in var.dims),
                      **({"skipped": skipped[name]} if name in skipped else {}))
        attrs = out.file[DISCOVERY].attrs
        for key, value in self.settings.items():
            attrs[key] = value
        attrs["dim"] = self.dim
        attrs["reference_dim"] = reference.shape[1]
        attrs["converged"] = int(self.converged)
        attrs["max_angle"] = float(angles.max()) if angles.size else 0.0

    def principal_angles(self, reference: ArrayLike) -> np.ndarray:
        """Principal angles (radians, descending) between span(basis) (D, k) and span(reference) (D, m):
        min(k, m) of them (scipy.linalg.subspace_angles); empty if either is {0}."""
        from scipy.linalg import subspace_angles

        reference = np.asarray(reference, dtype=float)
        if self.dim == 0 or reference.shape[1] == 0:
            return np.zeros(0)
        return subspace_angles(self.basis, reference)


def format_round(row: DiscoveryRound) -> str:
    """One line describing a round (what ``wgf discover`` prints)."""
    j = row.dim
    head = f"round {j}: dim E_{j} = {j}, RMD^2(nu, P#nu) = {row.rmd2:.3e}"
    if row.stopped:
        return f"{head} <= delta = {row.threshold:.1e}: E_{j} is kept"
    if row.direction is None:
        return f"{head} > delta = {row.threshold:.1e}: max_dim reached"
    how = "top principal direction of the residuals" if row.principal else "mean residual"
    v = ", ".join(f"{x:+.3f}" for x in row.direction)
    return f"{head} > delta = {row.threshold:.1e}: add v_{j} = [{v}] ({how})"


def default_replicas(gradient: str) -> int:
    """Replicas pooled per round by default: 1 for the exact gradient (deterministic), 4 for minibatches."""
    return GRADIENTS[gradient].replicas


def default_delta(gradient: str, eps: float, batch: int) -> float:
    """delta = 1e-10 for the exact gradient, 0.1 eps / B for minibatches (module docstring)."""
    return EXACT_DELTA if gradient == "exact" else MINIBATCH_DELTA_FACTOR * eps / batch


def _round_seed(seed: int, round_index: int, replica: int) -> int:
    """A distinct nonnegative int per (seed, round, replica)."""
    return int(np.random.SeedSequence((seed, round_index, replica)).generate_state(1)[0])


def expected_gradient_flow(problem, theta, n_steps: int, eps: float, seed: int, noise_projector=None):
    """n_steps of full-batch noisy gradient descent on the problem's quadrature, in place on theta (N, D):

        theta_i <- theta_i - s_k [ sum_q w_q J sigma(x_q, theta_i)^T grad_1 l(Phi(x_q), y_q) + 2 tau theta_i ]
                   + sqrt(2 beta s_k) P xi_i,   s_k = eps varsigma(k eps)

    i.e. the particle engine's step with the minibatch replaced by the quadrature (x_q, y_q, w_q)
    of the scheme's data (same compiled kernels, same counter-based noise). Returns theta.
    """
    from wgf.particles import kernels

    q = problem.quadrature
    spec = kernels.engine_spec(problem, len(q), noise_projector=noise_projector, fixed_batch=(q.x, q.y, q.weights))
    steps = problem.schedule.step_sizes(eps, 0, n_steps)
    kernels.make_advance(problem.base_unit, problem.loss)(theta, 0, steps, seed, spec)
    return theta


def _train(problem, basis, *, n, replicas, n_steps, eps, gradient, batch, seed, round_index):
    """Final particles of the R replicas of one round, pooled: (R N, D)."""
    from wgf.particles import BlowUpError, simulate
    from wgf.particles.engine import BLOW_UP_LIMIT

    proj = basis @ basis.T
    finals = []
    for r in range(replicas):
        s = _round_seed(seed, round_index, r)
        theta = np.random.default_rng(s).normal(scale=problem.init_std, size=(n, problem.dim)) @ proj
        theta = np.ascontiguousarray(theta)
        if gradient == "exact":
            expected_gradient_flow(problem, theta, n_steps, eps, s, proj)
            if not np.all(np.abs(theta) < BLOW_UP_LIMIT):  # also catches NaN
                raise BlowUpError(f"discovery round {round_index}: particles became non-finite (eps = {eps:.3g}): "
                                  "reduce alpha/step")
        else:
            theta = simulate(problem, n, s, [0.0, n_steps * eps], step=eps, batch=batch, initial=theta,
                             noise_projector=proj, store=False).final
        finals.append(theta)
    return np.concatenate(finals)


def discover(problem: Problem, *, n: int = 500, replicas: int | None = None, round_time: float | None = None,
             steps: int | None = None, gradient: str = "exact", alpha: float | None = None,
             step: float | None = None, batch: int = 20, delta: float | None = None, max_dim: int | None = None,
             seed: int = 0, pca_ratio: float = 0.1,
             on_round: Callable[[DiscoveryRound], object] | None = None) -> Discovery:
    """Run the heuristic of the module docstring on ``problem``.

    n : particles per replica; replicas : R independent runs pooled per round (default 1 for the
    exact gradient, 4 for minibatches); round_time : MF time T per round (default 10), or steps per
    round (T = steps eps); eps = alpha / N (default alpha = 50) or a fixed ``step``; gradient :
    "exact" | "minibatch"; batch : B (minibatch only); delta : stop threshold on RMD^2 (default
    ``default_delta``); max_dim : largest dim E_j tried (default D); pca_ratio : mean-vs-principal
    switch. on_round(round) is called after each round. Returns a ``Discovery``.
    The problem's ``init``, ``noise`` and ``t_end`` are not used: each round starts in E_j
    with noise projected onto E_j.
    """
    from wgf.particles import step_size

    GRADIENTS[gradient]  # an unknown name is refused with the registry's message
    if n < 1 or batch < 1 or seed < 0:
        raise ValueError("n and batch must be >= 1 and seed >= 0")
    replicas = default_replicas(gradient) if replicas is None else int(replicas)
    if replicas < 1:
        raise ValueError(f"replicas must be >= 1, got {replicas}")
    eps = step_size(n, alpha=DEFAULT_ALPHA if alpha is None and step is None else alpha, step=step)
    if round_time is not None and steps is not None:
        raise ValueError("give either round_time or steps, not both")
    if steps is None:
        steps = max(1, int(round((DEFAULT_ROUND_TIME if round_time is None else round_time) / eps)))
    n_steps = int(steps)
    delta = default_delta(gradient, eps, batch) if delta is None else float(delta)
    dim = problem.dim
    max_dim = dim if max_dim is None else int(max_dim)
    if not 0 <= max_dim <= dim:
        raise ValueError(f"max_dim must be in [0, {dim}], got {max_dim}")
    settings = dict(n=n, replicas=replicas, gradient=gradient, eps=eps, steps=n_steps, round_time=n_steps * eps,
                    delta=delta, max_dim=max_dim, seed=seed, pca_ratio=pca_ratio)
    if GRADIENTS[gradient].batched:
        settings["batch"] = batch
    basis = np.zeros((dim, 0))
    rounds = []
    while True:
        t0 = time.perf_counter()
        j = basis.shape[1]
        if j == dim:  # E_j = Z: nothing can leave it
            row = DiscoveryRound(j, 0.0, delta)
        else:
            z = _train(problem, basis, n=n, replicas=replicas, n_steps=n_steps, eps=eps, gradient=gradient,
                       batch=batch, seed=seed, round_index=j)
            pz = (z @ basis) @ basis.T
            res = z - pz
            sq = np.einsum("na,na->n", res, res)
            denom = 2.0 * (np.mean(np.einsum("na,na->n", z, z)) + np.mean(np.einsum("na,na->n", pz, pz)))
            row = DiscoveryRound(j, float(sq.mean() / denom) if denom > 0 else 0.0, delta)
        rounds.append(row)
        if row.stopped or j >= max_dim:
            row.seconds = time.perf_counter() - t0
            if on_round is not None:
                on_round(row)
            break
        mean = res.mean(axis=0)
        rms = float(np.sqrt(sq.mean()))
        row.mean_ratio = float(np.linalg.norm(mean) / rms)
        v = mean
        if row.mean_ratio < pca_ratio:
            centered = (res.reshape(replicas, n, dim) - res.reshape(replicas, n, dim).mean(axis=1, keepdims=True))
            v = np.linalg.svd(centered.reshape(-1, dim), full_matrices=False)[2][0]
            row.principal = True
        v = v - basis @ (basis.T @ v)  # re-orthogonalize against E_j (round-off)
        v = v / np.linalg.norm(v)
        v = v * (1.0 if v[np.abs(v).argmax()] > 0 else -1.0)  # sign: largest entry positive
        row.direction = v
        basis = np.hstack([basis, v[:, None]])
        row.seconds = time.perf_counter() - t0
        if on_round is not None:
            on_round(row)
    converged = rounds[-1].stopped
    return Discovery(basis, rounds, converged, settings)
