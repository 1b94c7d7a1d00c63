r"""Fluctuations of the particles around the mean-field limit (docs/theory.md §11).

For a test function :math:`f` of the particle cloud, :math:`\langle f, \nu^N_t \rangle` varies from seed to seed
by :math:`O(N^{-1/2})`: :math:`\sqrt N (\nu^N_t - \mu_t)` tends to a Gaussian field, fed by the initial law, the
Brownian noise and the mini-batch noise (every particle sees the same batch, and :math:`\varepsilon = \alpha / N`).

- **The estimator.** ``fluctuation_statistics(values, n)``: over S seeds, the mean of :math:`\langle f,
  \nu^N \rangle`, :math:`N\, \mathrm{Var}_{\mathrm{seeds}}` (ddof = 1) with its 95% chi-square interval, and the
  standard error of the mean (``FluctuationStatistics``). ``seed_values`` runs the seeds and evaluates a test
  function at every snapshot.
- **Test functions** ``FLUCTUATIONS``: the observables of ``wgf.functionals`` (``OBSERVABLES``; factory
  (problem) -> an ``Observable``, called on theta (N, D) -> (K,), with ``components(problem)`` naming the K
  values): ``mean``, ``second_moment``, ``covariance``, ``output``, ``risk``. The grid prediction linearizes the
  same observables (their first variations), so what is measured and what is predicted are one definition.
- **The linear unit exactly.** ``make_unit("linear", dx, dy)`` (:math:`\sigma(x, W) = W x`), squared loss,
  ``GaussianTeacherData``, vanilla scheme: every particle's gradient is the same matrix, so the empirical mean
  :math:`M_k` obeys a closed linear recursion driven by the batch's second moments.
  ``linear_mean_moments`` gives :math:`\mathbb E[\mathrm{vec}\, M_k]` and :math:`N\,\mathrm{Cov}[\mathrm{vec}\,
  M_k]` exactly for finite N, :math:`\varepsilon`, B; ``linear_mean_limit`` their limit as
  :math:`N \to \infty` with :math:`\varepsilon = \alpha / N` (a linear ODE for :math:`\Sigma(t)`);
  ``linear_cloud_covariance`` the expected covariance of the cloud exactly, and ``linear_cloud_covariance_limit``
  the mean-field law's (Gaussian, closed form): their difference is the finite-N bias, :math:`O(1/N)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from wgf.functionals import OBSERVABLES, OUTPUT_POINTS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from numpy.typing import ArrayLike

    from wgf.problem import Problem

__all__ = ["FLUCTUATIONS", "FluctuationStatistics", "fluctuation_statistics", "seed_values", "mean",
           "second_moment", "cloud_covariance", "output", "risk", "OUTPUT_POINTS", "LinearMoments",
           "linear_mean_moments", "linear_mean_limit", "linear_cloud_covariance", "linear_cloud_covariance_limit",
           "linear_fluctuation_problem",
           "interval_score", "mean_fluctuations", "LINEAR_ALPHA", "LINEAR_BATCH", "CONTROL_BATCH"]

# the quadrature nodes of the data at which ``output`` evaluates Phi


# ------------------------------------------------------------------ the estimator
@dataclass(frozen=True)
class FluctuationStatistics:
    r"""Seed statistics of a test function :math:`\langle f, \nu^N \rangle` (``fluctuation_statistics``).

    mean (...): the seed mean; n_var (...): :math:`N\, s^2` (:math:`s^2` the seed variance, ddof = 1);
    n_var_low, n_var_high (...): its ``level`` chi-square interval; mean_se (...): :math:`s / \sqrt S`;
    n, seeds: N and S; level (0.95).
    """

    mean: np.ndarray
    n_var: np.ndarray
    n_var_low: np.ndarray
    n_var_high: np.ndarray
    mean_se: np.ndarray
    n: int
    seeds: int
    level: float = 0.95

    @property
    def n_var_se(self) -> np.ndarray:
        r"""The standard error of ``n_var`` for Gaussian fluctuations, :math:`N s^2 \sqrt{2 / (S - 1)}`."""
        return self.n_var * np.sqrt(2.0 / (self.seeds - 1))

    def contains(self, n_var: ArrayLike) -> np.ndarray:
        """Whether predicted values of N Var lie in the interval [n_var_low, n_var_high] (elementwise)."""
        n_var = np.asarray(n_var, dtype=float)
        return (self.n_var_low <= n_var) & (n_var <= self.n_var_high)


def fluctuation_statistics(values: ArrayLike, n: int, level: float = 0.95) -> FluctuationStatistics:
    r"""Seed statistics of ``values`` (S, ...): :math:`\langle f, \nu^N \rangle` of S independent runs with N
    particles (seeds on the first axis; any trailing shape, e.g. (S, T, K) for T snapshots and K components).

    Returns the seed mean :math:`\bar v`, :math:`N s^2` with :math:`s^2 = \frac{1}{S-1} \sum_s (v_s - \bar v)^2`,
    its ``level`` interval

    .. math::

        \Big[\frac{(S-1)\, N s^2}{\chi^2_{S-1,\,(1+\ell)/2}},\ \frac{(S-1)\, N s^2}{\chi^2_{S-1,\,(1-\ell)/2}}\Big]

    (:math:`\chi^2_{S-1, q}` the q-quantile of the chi-square law with S - 1 degrees of freedom), and the
    standard error of the mean :math:`s / \sqrt S`. The interval assumes Gaussian values, which the central
    limit theorem of the fluctuations gives (:math:`(S-1) s^2 / \sigma^2 \sim \chi^2_{S-1}` exactly for Gaussian
    samples). ValueError for fewer than 2 seeds."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 0 or values.shape[0] < 2:
        raise ValueError(f"values need at least 2 seeds on the first axis, got shape {values.shape}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    s = values.shape[0]
    var = values.var(axis=0, ddof=1)
    low_q, high_q = stats.chi2.ppf([(1 - level) / 2, (1 + level) / 2], s - 1)
    n_var = n * var
    return FluctuationStatistics(values.mean(axis=0), n_var, (s - 1) * n_var / high_q, (s - 1) * n_var / low_q,
                                 np.sqrt(var / s), int(n), int(s), float(level))


def seed_values(problem: Problem, n: int, seeds: Iterable[int], f: Callable[[np.ndarray], ArrayLike],
                times: ArrayLike | None = None, **simulate_options) -> np.ndarray:
    """f(theta) at every snapshot of the particle runs of ``seeds``: (S, T, K) for T ``times`` (default the
    problem's) and f (N, D) -> (K,) (a scalar is K = 1). Each seed is one ``wgf.particles.simulate(problem, n,
    seed, times, store=False, **simulate_options)`` (alpha, step, batch, noise_projector, initial), run on one
    numba thread (the seeds are independent and the result does not depend on the threads)."""
    import numba

    from wgf.particles import simulate

    times = problem.times if times is None else np.asarray(times, dtype=float)
    out = []
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        for seed in seeds:
            row = [None] * len(times)

            def keep(j, t, theta, row=row):
                row[j] = np.atleast_1d(np.asarray(f(theta), dtype=float)).ravel()

            simulate(problem, n, int(seed), times, store=False, callback=keep, **simulate_options)
            out.append(np.stack(row))
    finally:
        numba.set_num_threads(threads)
    return np.stack(out)


# ------------------------------------------------------------------ test functions
def mean(theta: ArrayLike) -> np.ndarray:
    r""":math:`\langle z, \nu^N \rangle = \frac1N \sum_i \theta_i`, per coordinate: theta (N, D) -> (D,)."""
    return np.asarray(theta, dtype=float).mean(axis=0)


def second_moment(theta: ArrayLike) -> np.ndarray:
    r""":math:`\langle z_a^2, \nu^N \rangle = \frac1N \sum_i \theta_{i,a}^2`, per coordinate: (N, D) -> (D,)."""
    theta = np.asarray(theta, dtype=float)
    return (theta * theta).mean(axis=0)


def cloud_covariance(theta: ArrayLike) -> np.ndarray:
    r"""The covariance of the cloud, :math:`\frac1N \sum_i (\theta_i - \bar\theta)(\theta_i - \bar\theta)^\top`
    (divided by N, not N - 1), flattened row-major: (N, D) -> (D D,)."""
    theta = np.asarray(theta, dtype=float)
    d = theta - theta.mean(axis=0)
    return (d.T @ d / theta.shape[0]).ravel()


def output(problem: Problem, theta: ArrayLike, points: int = OUTPUT_POINTS) -> np.ndarray:
    r""":math:`\Phi_{\nu^N}(x_q)` at the first ``points`` quadrature nodes :math:`x_q` of the problem's data
    (``problem.quadrature``; ``wgf.functionals.model``), flattened: (N, D) -> (points dy,), node-major."""
    from wgf.functionals import model

    return model(problem, theta, problem.quadrature.x[:points]).ravel()


def risk(problem: Problem, theta: ArrayLike) -> np.ndarray:
    r""":math:`R(\nu^N)` (``wgf.functionals.risk``), as a vector of length 1."""
    from wgf.functionals import risk as risk_of

    return np.array([risk_of(problem, theta)])


# the test functions whose fluctuations are measured: the observables of ``wgf.functionals`` (factory (problem) ->
# an Observable, called on particles theta (N, D) -> (K,); ``FLUCTUATIONS[name].components(problem)`` its K names),
# the same the grid prediction linearizes (``wgf.grids.fluctuation_variance``)
FLUCTUATIONS = OBSERVABLES


# ------------------------------------------------------------------ the linear unit, exactly
@dataclass(frozen=True)
class LinearMoments:
    r"""Moments of the particles' empirical mean :math:`M = \frac1N \sum_i W_i` of the linear unit.

    times (T,); mean (T, D): :math:`\mathbb E[\mathrm{vec}\, M]` (row-major, z's layout); n_cov (T, D, D):
    :math:`N\, \mathrm{Cov}[\mathrm{vec}\, M]` (its limit :math:`\Sigma(t)` for ``n`` None); n (None: the
    limit); minibatch: whether the mini-batch noise is included.
    """

    times: np.ndarray
    mean: np.ndarray
    n_cov: np.ndarray
    n: int | None
    minibatch: bool = True

    @property
    def n_var(self) -> np.ndarray:
        """N Var of each coordinate of the mean, the diagonal of n_cov: (T, D)."""
        return np.diagonal(self.n_cov, axis1=1, axis2=2).copy()


def _linear_setup(problem: Problem) -> dict:
    r"""The constants of the linear recursion: W_* (dy, dx) (the teacher particles' mean), v = x_std^2, the label
    noise variance, the initial covariance per particle (D, D) and the noise's :math:`P P^\top` (D, D).
    ValueError unless the problem is the linear unit, squared loss, Gaussian teacher data, vanilla scheme."""
    from wgf.data import GaussianTeacherData
    from wgf.problem import INITS

    unit = problem.base_unit
    if unit.recipe is None or unit.recipe[1][2:] != ("identity",) or unit.recipe[0].__name__ != "matrix_unit":
        raise ValueError(f"the exact fluctuations need the linear unit (make_unit('linear', dx, dy)), "
                         f"got {unit.name!r}")
    if problem.loss.name != "squared":
        raise ValueError(f"the exact fluctuations need the squared loss, got {problem.loss.name!r}")
    if not isinstance(problem.data, GaussianTeacherData):
        raise ValueError("the exact fluctuations need Gaussian teacher data (GaussianTeacherData)")
    if problem.scheme != "vanilla":
        raise ValueError(f"the exact fluctuations are derived for the vanilla scheme, got {problem.scheme!r}")
    dx, dy, dim = unit.dim_x, unit.dim_y, unit.dim
    data = problem.data
    w_star = np.asarray(data.teacher, dtype=float).mean(axis=0).reshape(dy, dx)
    start = np.asarray(INITS[problem.init](problem.symmetry, np.eye(dim)), dtype=float)  # row a: image of e_a
    noise = problem.noise_projector
    noise = np.eye(dim) if noise is None else np.asarray(noise, dtype=float)
    return dict(dx=dx, dy=dy, dim=dim, w_star=w_star, v=float(data.x_std) ** 2, eta2=float(data.label_noise) ** 2,
                init_cov=problem.init_std ** 2 * start.T @ start, noise_cov=noise @ noise.T)


def _step_plan(problem: Problem, times: np.ndarray, eps: float) -> list[np.ndarray]:
    """The step sizes the engine takes from one snapshot to the next (``wgf.particles.simulate``): the steps
    s_k = eps varsigma(k eps), a step split at a snapshot time t inside it into the pieces (t - k eps)
    varsigma(k eps) and ((k + 1) eps - t) varsigma(t). One array per snapshot, the steps since the previous."""
    from wgf.particles import snapshot_steps, snapshot_times

    steps, at = snapshot_steps(times, eps), snapshot_times(times, eps)
    rate = problem.schedule.rate
    plan, k, t_cur = [], 0, 0.0  # t_cur in [k eps, (k + 1) eps)
    for k_j, t_j in zip(steps, at):
        sizes = []
        inside = t_j != k_j * eps
        if t_cur != k * eps:  # mid-step: go on in the same step, or complete it
            if inside and k_j == k:  # a later snapshot inside the same step (none for a repeated time)
                plan.append(np.array([(t_j - t_cur) * float(rate(np.array([t_cur]))[0])] if t_j > t_cur else []))
                t_cur = t_j
                continue
            sizes.append(((k + 1) * eps - t_cur) * float(rate(np.array([t_cur]))[0]))
            k += 1
        sizes.extend(problem.schedule.step_sizes(eps, k, int(k_j)))
        k, t_cur = int(k_j), k_j * eps
        if inside:
            sizes.append((t_j - k * eps) * float(rate(np.array([k * eps]))[0]))
            t_cur = t_j
        plan.append(np.asarray(sizes, dtype=float))
    return plan


def _batch_moments(c: dict, batch: int, minibatch: bool) -> tuple[np.ndarray, np.ndarray]:
    r"""Mean (P,) and covariance (P, P) of the entries :math:`S_{ab}` (p = a dx + b) of the batch's second-moment
    matrix :math:`S = \frac1B \sum_b x_b x_b^\top`, :math:`x_b \sim \mathcal N(0, v I)`: :math:`\mathbb E S = v I`,
    :math:`\mathrm{Cov}(S_{ab}, S_{cd}) = \frac{v^2}{B} (\delta_{ac}\delta_{bd} + \delta_{ad}\delta_{bc})` (Wishart;
    zero without the mini-batch noise, S = v I)."""
    dx, v = c["dx"], c["v"]
    eye = np.eye(dx)
    cov = v * v / batch * (np.einsum("ac,bd->abcd", eye, eye) + np.einsum("ad,bc->abcd", eye, eye))
    return v * eye.ravel(), (cov.reshape(dx * dx, dx * dx) if minibatch else np.zeros((dx * dx, dx * dx)))


def _step_maps(c: dict, s: float) -> tuple[np.ndarray, np.ndarray]:
    r"""The step :math:`u \mapsto G(S) u` of the augmented mean :math:`u = (\mathrm{vec}\, M, 1)` for step size s,
    :math:`G(S) = G_0 + \sum_p S_p G_p`: G0 (D + 1, D + 1), Gp (P, D + 1, D + 1) (docs/theory.md §11)."""
    dx, dy, dim, w_star = c["dx"], c["dy"], c["dim"], c["w_star"]
    g0 = np.eye(dim + 1)
    g0[:dim, :dim] *= 1.0 - 2.0 * s * c["tau"]
    gp = np.zeros((dx, dx, dim + 1, dim + 1))
    for a in range(dx):
        for b in range(dx):  # (M - W_*) e_a e_b^T: column b of the result is column a of M - W_*
            for r in range(dy):
                gp[a, b, r * dx + b, r * dx + a] = -2.0 * s
                gp[a, b, r * dx + b, dim] = 2.0 * s * w_star[r, a]
    return g0, gp.reshape(dx * dx, dim + 1, dim + 1)


def _check_n(n: int) -> int:
    if int(n) < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    return int(n)


def linear_mean_moments(problem: Problem, n: int, times: ArrayLike | None = None, *, alpha: float | None = None,
                        step: float | None = None, batch: int = 20, minibatch: bool = True) -> LinearMoments:
    r"""The exact mean and covariance of the particles' empirical mean :math:`M_k = \frac1N \sum_i W_i` of the
    linear unit (docs/theory.md §11), for ``wgf.particles.simulate(problem, n, seed, times, alpha=, step=,
    batch=)``.

    With :math:`\sigma(x, W) = W x`, the squared loss and the batch :math:`(x_b, y_b = W_* x_b + \eta_b)` of step
    k, every particle moves by the same gradient:

    .. math::

        M_{k+1} = (1 - 2 s_k \tau) M_k - 2 s_k (M_k - W_*) S_k + 2 s_k E_k + \sqrt{2 \beta s_k}\, \bar\xi_k,

    :math:`S_k = \frac1B \sum_b x_b x_b^\top`, :math:`E_k = \frac1B \sum_b \eta_b x_b^\top`,
    :math:`\bar\xi_k = \frac1N \sum_i P \xi_{k,i}` (P the noise projector), all independent of :math:`M_k`. The
    first and second moments of :math:`u = (\mathrm{vec}\, M, 1)` then close exactly with the Wishart moments of
    :math:`S_k` (``_batch_moments``); the initial mean has covariance :math:`s_0^2 P_0 / N`. ``minibatch`` False
    replaces :math:`S_k` by :math:`v I` and :math:`E_k` by 0 (the prediction without the mini-batch noise, a
    control). times default to the problem's; steps as the engine takes them, a snapshot between two steps
    splitting its step. Returns ``LinearMoments`` (mean (T, D), n_cov (T, D, D) = N Cov)."""
    from wgf.particles import step_size

    n = _check_n(n)
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch!r}")
    times = problem.times if times is None else np.asarray(times, dtype=float)
    c = dict(_linear_setup(problem), tau=float(problem.tau))
    dim, beta = c["dim"], float(problem.beta)
    eps = step_size(n, alpha=alpha, step=step)
    s_mean, s_cov = _batch_moments(c, batch, minibatch)
    mu = np.append(np.zeros(dim), 1.0)  # E u
    cov = np.zeros((dim + 1, dim + 1))  # Cov u
    cov[:dim, :dim] = c["init_cov"] / n
    means, covs = [], []
    maps = {}  # the step's maps per step size (one for a constant schedule, plus the split steps')
    for sizes in _step_plan(problem, times, eps):
        for s in sizes:
            if s not in maps:
                g0, gp = _step_maps(c, s)
                maps[s] = g0 + np.einsum("p,pij->ij", s_mean, gp), gp  # E G, G_p
            h, gp = maps[s]
            second = cov + np.outer(mu, mu)  # E u u^T
            new = h @ cov @ h.T + np.einsum("pq,pij,jk,qlk->il", s_cov, gp, second, gp)
            new[:dim, :dim] += 2.0 * beta * s / n * c["noise_cov"]
            new[:dim, :dim] += (4.0 * s * s * c["eta2"] * c["v"] / batch if minibatch else 0.0) * np.eye(dim)
            mu, cov = h @ mu, new
        means.append(mu[:dim].copy())
        covs.append(n * cov[:dim, :dim])
    return LinearMoments(np.asarray(times, dtype=float), np.array(means), np.array(covs), n, bool(minibatch))


def linear_mean_limit(problem: Problem, times: ArrayLike | None = None, *, alpha: float, batch: int = 20,
                      minibatch: bool = True, rtol: float = 1e-10) -> LinearMoments:
    r"""The limit :math:`N \to \infty`, :math:`\varepsilon = \alpha / N`, of ``linear_mean_moments``: the
    mean-field mean :math:`\mu(t)` and :math:`\Sigma(t) = \lim N\, \mathrm{Cov}[\mathrm{vec}\, M](t)`,

    .. math::

        \dot\mu = \varsigma \big(-2\tau \mu - 2 v (\mu - W_*)\big), \qquad
        \dot\Sigma = \varsigma \big(A \Sigma + \Sigma A^\top + 2\beta P P^\top\big)
            + \frac{\alpha \varsigma^2}{B}\, \mathrm{Cov}_{x, \eta}\big[\mathrm{vec}\, g\big],

    :math:`A = -2(\tau + v) I_D`, :math:`\mu(0) = 0`, :math:`\Sigma(0) = s_0^2 P_0`, and the covariance of the
    per-sample gradient :math:`g = 2 ((\mu - W_*) x - \eta) x^\top` (row :math:`(r, b)`, :math:`R = \mu - W_*`):

    .. math::

        \mathrm{Cov}[\mathrm{vec}\, g]_{(r,b),(r',d)} = 4 v^2 \big((R R^\top)_{r r'} \delta_{bd}
            + R_{rd} R_{r'b}\big) + 4 v s_\eta^2 \delta_{rr'} \delta_{bd}.

    ``minibatch`` False leaves that term out. Solved with ``scipy.integrate.solve_ivp`` (DOP853, ``rtol``).
    Returns ``LinearMoments`` with n None (n_cov is :math:`\Sigma`)."""
    from scipy.integrate import solve_ivp

    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch!r}")
    if not (np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be finite and > 0, got {alpha!r}")
    times = problem.times if times is None else np.asarray(times, dtype=float)
    c = _linear_setup(problem)
    dx, dy, dim, v, w_star = c["dx"], c["dy"], c["dim"], c["v"], c["w_star"]
    tau, beta, rate = float(problem.tau), float(problem.beta), problem.schedule.rate
    a = -2.0 * (tau + v)

    def gradient_cov(mu):
        r = mu.reshape(dy, dx) - w_star
        cov = np.einsum("rs,bd->rbsd", r @ r.T, np.eye(dx)) + np.einsum("rd,sb->rbsd", r, r)
        return (4.0 * v * v * cov.reshape(dim, dim) + 4.0 * v * c["eta2"] * np.eye(dim))

    def rhs(t, y):
        mu, sigma = y[:dim], y[dim:].reshape(dim, dim)
        rho = float(rate(np.array([t]))[0])
        dmu = rho * (-2.0 * tau * mu - 2.0 * v * (mu - w_star.ravel()))
        dsigma = rho * (2.0 * a * sigma + 2.0 * beta * c["noise_cov"])
        if minibatch:
            dsigma = dsigma + alpha * rho * rho / batch * gradient_cov(mu)
        return np.concatenate([dmu, dsigma.ravel()])

    y0 = np.concatenate([np.zeros(dim), c["init_cov"].ravel()])
    t_eval = np.asarray(times, dtype=float)
    sol = solve_ivp(rhs, (0.0, float(t_eval.max())), y0, method="DOP853", t_eval=t_eval, rtol=rtol,
                    atol=rtol * 1e-3)
    if not sol.success:
        raise RuntimeError(f"linear_mean_limit: the ODE solver failed: {sol.message}")
    ys = sol.y.T
    return LinearMoments(t_eval, ys[:, :dim], ys[:, dim:].reshape(-1, dim, dim), None, bool(minibatch))


def linear_cloud_covariance(problem: Problem, n: int, times: ArrayLike | None = None, *, alpha: float | None = None,
                            step: float | None = None) -> np.ndarray:
    r"""The exact expected covariance of the cloud, :math:`\mathbb E\big[\frac1N \sum_i (W_i - M)(W_i - M)^\top\big]`
    (vec layout, (T, D, D)), of the linear unit's particles (docs/theory.md §11). The common gradient cancels in
    :math:`d_i = W_i - M`: :math:`d_i' = (1 - 2 s \tau) d_i + \sqrt{2 \beta s}\, P (\xi_i - \bar\xi)`, so

    .. math::

        \mathbb E\, C_k = \big(1 - \tfrac1N\big) \Gamma_k, \qquad
        \Gamma_{k+1} = (1 - 2 s_k \tau)^2 \Gamma_k + 2 \beta s_k P P^\top, \qquad \Gamma_0 = s_0^2 P_0,

    independent of the batch. Steps as ``linear_mean_moments``."""
    from wgf.particles import step_size

    n = _check_n(n)
    times = problem.times if times is None else np.asarray(times, dtype=float)
    c = _linear_setup(problem)
    gamma, out = c["init_cov"].copy(), []
    for sizes in _step_plan(problem, times, step_size(n, alpha=alpha, step=step)):
        for s in sizes:
            gamma = (1.0 - 2.0 * s * problem.tau) ** 2 * gamma + 2.0 * problem.beta * s * c["noise_cov"]
        out.append((1.0 - 1.0 / n) * gamma)
    return np.array(out)


def linear_cloud_covariance_limit(problem: Problem, times: ArrayLike | None = None) -> np.ndarray:
    r"""The covariance of the mean-field law :math:`\mu_t` of the linear unit (Gaussian: an Ornstein-Uhlenbeck
    deviation around its mean), (T, D, D):

    .. math::

        \Gamma(t) = e^{-4\tau S(t)}\, s_0^2 P_0 + \frac{1 - e^{-4\tau S(t)}}{4\tau}\, 2\beta P P^\top,
        \qquad S(t) = \int_0^t \varsigma,

    (:math:`2 \beta S(t) P P^\top` for :math:`\tau = 0`); ``linear_cloud_covariance`` tends to it as
    :math:`N \to \infty` with :math:`\varepsilon = \alpha / N` or a step tending to 0."""
    times = problem.times if times is None else np.asarray(times, dtype=float)
    c = _linear_setup(problem)
    elapsed = np.asarray(problem.schedule.elapsed(np.asarray(times, dtype=float)), dtype=float)
    tau = float(problem.tau)
    decay = np.exp(-4.0 * tau * elapsed)
    grown = (-np.expm1(-4.0 * tau * elapsed) / (4.0 * tau)) if tau > 0 else elapsed
    return decay[:, None, None] * c["init_cov"] + grown[:, None, None] * 2.0 * problem.beta * c["noise_cov"]


# ------------------------------------------------------------------ the linear problem of the checks
# eps = alpha / N and the batches of the checks: all three sources of the fluctuations of the mean are a
# quarter to a half of N Var at t_end (initial law 0.11, Brownian 0.10, mini-batch 0.14-0.21 of 0.35-0.42);
# the control's batch of 2 makes the mini-batch term 5 times larger
LINEAR_ALPHA = 5.0
LINEAR_BATCH = 10
CONTROL_BATCH = 2
LINEAR_TEACHER = (0.8, -0.3)


def linear_fluctuation_problem(**training) -> Problem:
    r"""The linear problem of the fluctuation checks (docs/theory.md §11): ``make_unit("linear", 2, 1)``
    (:math:`\sigma(x, w) = \langle w, x \rangle`, D = 2), squared loss, :math:`X \sim \mathcal N(0, I_2)`,
    :math:`Y = \langle w_*, X \rangle + 0.3\, \eta` with :math:`w_* = (0.8, -0.3)`, :math:`\tau = 0.1`,
    :math:`\beta = 0.25`, WI start :math:`z \sim \mathcal N(0, I_2)`, full noise, t_end = 0.5 (2 snapshots);
    ``training`` overrides any of these (a ``Problem`` field). The group (swap) plays no role."""
    from wgf.data import GaussianTeacherData
    from wgf.groups import swap_group
    from wgf.problem import Problem
    from wgf.symmetry import Symmetry
    from wgf.units import make_unit

    base = make_unit("linear", 2, 1)
    data = GaussianTeacherData(base, np.array([LINEAR_TEACHER]), 1.0, 0.3, "arbitrary")
    settings = dict(tau=0.1, beta=0.25, init_std=1.0, t_end=0.5, snapshots=2, quadrature_points=4)
    settings.update(training)
    return Problem(Symmetry(base, swap_group(2, 1)), data, **settings)


def interval_score(measured: FluctuationStatistics, n_var: ArrayLike) -> np.ndarray:
    """Where predicted values of N Var lie against the measured interval, elementwise: 0 at the measured N Var,
    1 at the interval's edge on the prediction's side, above 1 outside (the distance to the measured value in
    units of that side's half width)."""
    n_var = np.asarray(n_var, dtype=float)
    above = n_var >= measured.n_var
    half = np.where(above, measured.n_var_high - measured.n_var, measured.n_var - measured.n_var_low)
    return np.abs(n_var - measured.n_var) / half


def mean_fluctuations(problem: Problem, n: int, seeds: int, *, alpha: float, batch: int, level: float = 0.95,
                      times: ArrayLike | None = None) -> FluctuationStatistics:
    """``fluctuation_statistics`` of the particles' mean (``mean``) over the seeds 0 .. seeds - 1 at the
    snapshot ``times`` (default the problem's): fields (T, D)."""
    values = seed_values(problem, n, range(seeds), mean, times, alpha=alpha, batch=batch)
    return fluctuation_statistics(values, n, level)
