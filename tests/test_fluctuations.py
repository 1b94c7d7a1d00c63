"""Fluctuations of the particles (docs/theory.md §11): the seed estimator and its chi-square interval, the test
functions, the linear unit's exact recursion for the empirical mean and its N -> infinity limit, the cloud
covariance's O(1/N) bias, and the particles measured against them (300 seeds at N = 100 and 1000)."""

import numpy as np
import pytest

from wgf.functionals import model, risk
from wgf.particles import simulate
from wgf.validation import fit_rate
from wgf.validation.checks import run_checks
from wgf.validation.fluctuations import (CONTROL_BATCH, FLUCTUATIONS, LINEAR_ALPHA, LINEAR_BATCH, OUTPUT_POINTS,
                                         _step_plan, fluctuation_statistics, interval_score, linear_cloud_covariance,
                                         linear_cloud_covariance_limit, linear_fluctuation_problem, linear_mean_limit,
                                         linear_mean_moments, mean, mean_fluctuations, seed_values)

SEEDS = 300


@pytest.fixture(scope="module")
def problem():
    return linear_fluctuation_problem()


def test_the_estimator_is_n_times_the_seed_variance_with_its_chi_square_interval():
    values = np.array([[1.0, 2.0], [3.0, 2.5], [2.0, 4.0], [6.0, 0.5]])  # 4 seeds, 2 components
    st = fluctuation_statistics(values, 10)
    var = np.array([np.var(values[:, 0], ddof=1), np.var(values[:, 1], ddof=1)])
    np.testing.assert_allclose(st.mean, values.mean(axis=0), rtol=1e-15)
    np.testing.assert_allclose(st.n_var, 10 * var, rtol=1e-15)
    np.testing.assert_allclose(st.mean_se, np.sqrt(var / 4), rtol=1e-15)
    # 3 degrees of freedom: chi2_{3, 0.025} = 0.2158, chi2_{3, 0.975} = 9.3484
    np.testing.assert_allclose(st.n_var_low, 3 * 10 * var / 9.348403604, rtol=1e-9)
    np.testing.assert_allclose(st.n_var_high, 3 * 10 * var / 0.2157952826, rtol=1e-9)
    np.testing.assert_allclose(st.n_var_se, 10 * var * np.sqrt(2 / 3), rtol=1e-15)
    assert st.contains(st.n_var).all() and not st.contains(st.n_var_high * 1.01).any()
    np.testing.assert_allclose(interval_score(st, st.n_var_low), 1.0, rtol=1e-14)
    np.testing.assert_allclose(interval_score(st, st.n_var_high), 1.0, rtol=1e-14)
    with pytest.raises(ValueError, match="2 seeds"):
        fluctuation_statistics(values[:1], 10)


def test_the_interval_covers_the_variance_of_gaussian_values_95_percent_of_the_time():
    """4000 replications of 30 Gaussian 'seeds' of variance 2/N: the 95% interval of N Var holds 2 in 95% of them
    (within 4 binomial standard errors, 0.014); for a heavy-tailed law (Student t, 5 dof) it does not (it assumes
    Gaussian fluctuations)."""
    rng = np.random.default_rng(0)
    n, reps = 50, 4000
    st = fluctuation_statistics(rng.normal(scale=np.sqrt(2 / n), size=(30, reps)), n)
    covered = st.contains(np.full(reps, 2.0)).mean()
    assert abs(covered - 0.95) < 4 * np.sqrt(0.95 * 0.05 / reps), covered
    t5 = rng.standard_t(5, size=(30, reps)) * np.sqrt(2 / n) / np.sqrt(5 / 3)  # variance 2 / n
    assert fluctuation_statistics(t5, n).contains(np.full(reps, 2.0)).mean() < 0.95 - 0.05


def test_the_test_functions_are_the_measures_integrals(problem):
    theta = np.random.default_rng(1).normal(size=(7, problem.dim))
    expected = {"mean": theta.mean(axis=0), "second_moment": (theta**2).mean(axis=0),
                "covariance": np.cov(theta.T, bias=True).ravel(),
                "output": model(problem, theta, problem.quadrature.x[:OUTPUT_POINTS]).ravel(),
                "risk": [risk(problem, theta)]}
    assert list(FLUCTUATIONS) == list(expected)
    for name, entry in FLUCTUATIONS.items():
        value = entry(problem)(theta)
        np.testing.assert_allclose(value, expected[name], rtol=1e-13, atol=1e-15)
        assert len(entry.components(problem)) == np.size(value), name


def test_the_steps_of_the_plan_add_up_to_the_snapshot_times_as_the_engine_takes_them(problem):
    eps = 0.03
    times = np.array([0.0, 0.06, 0.1, 0.1, 0.13, 0.5])  # on the grid, inside a step (twice), inside another
    ends = np.cumsum([s.sum() for s in _step_plan(problem, times, eps)])
    np.testing.assert_allclose(ends, times, rtol=0, atol=1e-15)
    assert [len(s) for s in _step_plan(problem, times, eps)] == [0, 2, 2, 0, 2, 13]


def test_the_exact_mean_is_the_geometric_recursion_and_large_batches_remove_the_batch_term(problem):
    """E M_k = (1 - 2 s (tau + v))^k M_0 + (1 - (1 - 2 s (tau + v))^k) v W_* / (tau + v) with v = x_std^2; with B
    = 10^12 the moments equal the prediction without the mini-batch term to 1e-10."""
    n, times = 100, [0.5]
    ex = linear_mean_moments(problem, n, times, alpha=LINEAR_ALPHA, batch=LINEAR_BATCH)
    s, tau, v = LINEAR_ALPHA / n, problem.tau, 1.0
    k = round(0.5 / s)
    q = (1 - 2 * s * (tau + v)) ** k
    np.testing.assert_allclose(ex.mean[-1], (1 - q) * v * np.array([0.8, -0.3]) / (tau + v), rtol=1e-13)
    big = linear_mean_moments(problem, n, times, alpha=LINEAR_ALPHA, batch=10**12)
    without = linear_mean_moments(problem, n, times, alpha=LINEAR_ALPHA, batch=LINEAR_BATCH, minibatch=False)
    np.testing.assert_allclose(big.n_cov, without.n_cov, rtol=0, atol=1e-10)
    assert np.all(ex.n_var > 1.5 * without.n_var)  # the batch term is a third of N Var or more
    # without batch noise and at beta = 0 the mean's fluctuations are the initial law's, contracted:
    # N Cov = q^2 s_0^2 I exactly (s_0 = 1)
    cold = linear_mean_moments(problem.replace(beta=0.0), n, times, alpha=LINEAR_ALPHA, batch=2, minibatch=False)
    np.testing.assert_allclose(cold.n_cov[-1], q * q * np.eye(2), rtol=1e-13)


def test_the_exact_moments_tend_to_the_limit_at_rate_one_over_n(problem):
    """|N Var(N) / Sigma - 1| falls 10-fold per decade of N (0.47% at N = 1000, under the 10% of the check), the
    mean converges to the ODE's; the cloud covariance's N x bias converges to a constant."""
    lim = linear_mean_limit(problem, [0.25, 0.5], alpha=LINEAR_ALPHA, batch=LINEAR_BATCH)
    gaps, mean_gaps, n_bias = [], [], []
    for n in (1000, 10000, 100000):
        ex = linear_mean_moments(problem, n, [0.25, 0.5], alpha=LINEAR_ALPHA, batch=LINEAR_BATCH)
        gaps.append(np.abs(ex.n_var / lim.n_var - 1).max())
        mean_gaps.append(np.abs(ex.mean - lim.mean).max())
        n_bias.append(n * np.trace(linear_cloud_covariance(problem, n, [0.5], alpha=LINEAR_ALPHA)[-1]
                                   - linear_cloud_covariance_limit(problem, [0.5])[-1]))
    assert gaps[0] < 0.01
    np.testing.assert_allclose(gaps[0] / gaps[1], 10, rtol=0.05)
    np.testing.assert_allclose(gaps[1] / gaps[2], 10, rtol=0.01)
    np.testing.assert_allclose(mean_gaps[1] / mean_gaps[2], 10, rtol=0.01)
    # the bias is -Gamma / N plus the Euler steps' own O(eps) error: N bias converges (to -1.82: -tr Gamma(t)
    # = -2.09 plus alpha = 5 times the Euler error's coefficient)
    assert abs(n_bias[1] - n_bias[2]) < 1e-3 * abs(n_bias[2])
    # the discrete cloud covariance in closed form: (1 - 1/N) (q^k s_0^2 I + 2 beta s (1 - q^k) / (1 - q) I),
    # q = (1 - 2 s tau)^2
    n, s = 1000, LINEAR_ALPHA / 1000
    q, k = (1 - 2 * s * problem.tau) ** 2, round(0.5 / s)
    closed = (1 - 1 / n) * (q**k + 2 * problem.beta * s * (1 - q**k) / (1 - q)) * np.eye(2)
    np.testing.assert_allclose(linear_cloud_covariance(problem, n, [0.5], alpha=LINEAR_ALPHA)[-1], closed,
                               rtol=1e-12)


def test_the_particles_mean_fluctuates_as_the_exact_recursion_predicts(problem):
    """300 seeds at N = 100 and 1000, t_end = 0.5, alpha = 5, B = 10: the sample mean and N Var of the particles'
    mean agree with the exact discrete recursion within 4 standard errors, and N Var lies in its 95% interval
    (Bonferroni over the 4 values); the exact N Var at N = 1000 is within 10% of the limit Sigma(t_end)."""
    t = [problem.t_end]
    lim = linear_mean_limit(problem, t, alpha=LINEAR_ALPHA, batch=LINEAR_BATCH).n_var[-1]
    for n in (100, 1000):
        st = mean_fluctuations(problem, n, SEEDS, alpha=LINEAR_ALPHA, batch=LINEAR_BATCH, level=1 - 0.05 / 4,
                               times=t)
        ex = linear_mean_moments(problem, n, t, alpha=LINEAR_ALPHA, batch=LINEAR_BATCH)
        assert np.all(np.abs(st.mean[-1] - ex.mean[-1]) < 4 * st.mean_se[-1]), (n, st.mean, ex.mean)
        assert np.all(np.abs(st.n_var[-1] - ex.n_var[-1]) < 4 * st.n_var_se[-1]), (n, st.n_var, ex.n_var)
        assert st.contains(ex.n_var).all(), (n, st.n_var_low, ex.n_var, st.n_var_high)
    assert np.all(np.abs(ex.n_var[-1] / lim - 1) < 0.1)


def test_the_prediction_without_the_mini_batch_term_is_rejected(problem):
    """B = 2: the measured N Var of the mean (300 seeds, N = 1000) holds the exact prediction and rejects the one
    without the mini-batch term (and the limit without it), by more than twice the interval's half width."""
    t = [problem.t_end]
    st = mean_fluctuations(problem, 1000, SEEDS, alpha=LINEAR_ALPHA, batch=CONTROL_BATCH, times=t)
    ex = linear_mean_moments(problem, 1000, t, alpha=LINEAR_ALPHA, batch=CONTROL_BATCH)
    without = linear_mean_moments(problem, 1000, t, alpha=LINEAR_ALPHA, batch=CONTROL_BATCH, minibatch=False)
    limit_without = linear_mean_limit(problem, t, alpha=LINEAR_ALPHA, batch=CONTROL_BATCH, minibatch=False)
    assert st.contains(ex.n_var).all(), (st.n_var, ex.n_var)
    assert np.all(interval_score(st, without.n_var) > 2) and np.all(interval_score(st, limit_without.n_var) > 2)


def test_the_cloud_covariance_is_biased_by_minus_gamma_over_n(problem):
    """E[(1/N) sum_i (W_i - M)(W_i - M)^T] against the mean-field law's Gamma(t), measured over 2000 seeds at
    N = 4, 8, 16, 32 (alpha = 1, disjoint seeds): the trace's bias agrees with the exact one within 4 standard errors
    at every N, and its slope against N (least squares weighted by the seeds' errors) is -1 within 4 of its standard errors;
    the exact bias has slope -1 to 1%."""
    t, ns, seeds = [problem.t_end], np.array([4, 8, 16, 32]), 2000
    gamma = np.trace(linear_cloud_covariance_limit(problem, t)[-1])
    measured, se, exact = [], [], []
    for j, n in enumerate(ns):  # disjoint seeds: the runs of one seed at two N share random numbers
        v = seed_values(problem, int(n), range(j * seeds, (j + 1) * seeds),
                        lambda th: np.trace(np.cov(th.T, bias=True)), t, alpha=1.0, batch=LINEAR_BATCH)[:, -1, 0]
        bias = np.trace(linear_cloud_covariance(problem, int(n), t, alpha=1.0)[-1]) - gamma
        assert abs(v.mean() - gamma - bias) < 4 * v.std(ddof=1) / np.sqrt(seeds), (n, v.mean() - gamma, bias)
        measured.append(gamma - v.mean())
        se.append(v.std(ddof=1) / np.sqrt(seeds))
        exact.append(-bias)
    # the slope of log |bias| on log N weighted by the seeds' errors (sd of log |bias| = se / |bias|), with its
    # standard error from those errors
    x, y, w = np.log(ns), np.log(measured), (np.array(measured) / np.array(se)) ** 2
    xm = np.sum(w * x) / w.sum()
    slope = np.sum(w * (x - xm) * y) / np.sum(w * (x - xm) ** 2)
    assert abs(slope + 1) < 4 / np.sqrt(np.sum(w * (x - xm) ** 2)), slope
    assert abs(fit_rate(ns, exact).slope + 1) < 0.01


def test_seed_values_are_the_runs_snapshots(problem):
    vals = seed_values(problem, 20, [3, 5], mean, [0.1, 0.5], alpha=LINEAR_ALPHA, batch=4)
    assert vals.shape == (2, 2, 2)
    for s, seed in enumerate((3, 5)):
        traj = simulate(problem, 20, seed, [0.1, 0.5], alpha=LINEAR_ALPHA, batch=4)
        np.testing.assert_array_equal(vals[s], traj.positions.mean(axis=1))


def test_the_check_rows_pass_and_the_control_fails():
    rows = {r.name: r for r in run_checks(["fluct_linear", "fluct_linear_limit", "fluct_batch_control"])}
    assert all(r.passed for r in rows.values()), rows
    assert rows["fluct_linear_limit"].value < 0.01
    assert rows["fluct_batch_control"].value > 2


def test_exact_fluctuations_refuse_other_problems(problem):
    from wgf.losses import make_loss

    with pytest.raises(ValueError, match="squared loss"):
        linear_mean_moments(problem.replace(loss=make_loss("huber")), 10, alpha=1.0)
    with pytest.raises(ValueError, match="vanilla"):
        linear_mean_limit(problem.replace(scheme="fa"), alpha=1.0)
