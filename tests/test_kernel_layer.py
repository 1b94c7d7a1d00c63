"""The open kernel layer: custom units, losses, schedules, gradient_step, compile errors.

Every loss has an engine step equal to the NumPy reference to 1e-12; a custom
unit written one particle at a time with the same arithmetic as a built-in one
gives bitwise the same trajectory; a unit numba cannot compile, or a wrong VJP,
is refused in one line; Unit cannot be subclassed.
"""

from math import exp
from pathlib import Path

import numpy as np
import pytest
from numba import njit

import wgf
from wgf.activations import ACTIVATIONS
from wgf.config import ConfigError, load_config, parse_config
from wgf.jit import KernelCompileError
from wgf.particles import gradient_step, reference_step, simulate
from wgf.particles import kernels
from wgf.vector_math import fast_exp

ROOT = Path(__file__).resolve().parents[1]
SIG = ACTIVATIONS["sigmoid"].value


@pytest.fixture(scope="module")
def paper():
    return load_config(ROOT / "examples" / "paper_c2.toml").problem


# ------------------------------------------------------------------ a custom unit equal to sigmoid_matrix
def _value(x, z, out):
    dx = x.shape[0]
    for a in range(out.shape[0]):
        u = 0.0
        for j in range(dx):
            u += z[a * dx + j] * x[j]
        out[a] = SIG(u)


def _vjp(x, z, c, g):
    dx = x.shape[0]
    for a in range(c.shape[0]):
        u = 0.0
        for j in range(dx):
            u += z[a * dx + j] * x[j]
        s = SIG(u)
        d = s * (1.0 - s) * c[a]
        for j in range(dx):
            g[a * dx + j] += d * x[j]


def _custom_sigmoid(dx=2, dy=2):
    return wgf.custom_unit("my_sigmoid", dx, dy, dx * dy, _value, _vjp, lambda rx, ry: np.kron(ry, rx))


def _with_unit(problem, unit):
    sym = wgf.Symmetry(unit, problem.group)
    data = wgf.GaussianTeacherData(unit, problem.data.teacher, problem.data.x_std, 0.0, problem.data.teacher_kind)
    return problem.replace(symmetry=sym, data=data)


@pytest.mark.slow
@pytest.mark.parametrize("scheme,da_mode", [("vanilla", "orbit"), ("da", "orbit"), ("fa", "orbit"), ("ea", "orbit")])
def test_custom_unit_equal_to_builtin_gives_bitwise_the_same_trajectory(paper, scheme, da_mode):
    base = paper.replace(scheme=scheme, da_mode=da_mode, beta=1e-3, init="wi", noise="full")
    custom = _with_unit(base, _custom_sigmoid())
    for n in (50, 300):
        a = simulate(base, n, 3, times=[0.0, 0.5, 1.0], alpha=50.0)
        b = simulate(custom, n, 3, times=[0.0, 0.5, 1.0], alpha=50.0)
        assert np.array_equal(a.positions, b.positions)
        assert np.abs(a.final - a.positions[0]).max() > 1e-2  # the particles did move


@pytest.mark.slow
def test_custom_unit_runs_in_the_pde_potential(paper):
    from wgf.grids import Grid, MeanFieldPotential

    custom = _with_unit(paper, _custom_sigmoid())
    grid = Grid.on_subspace(paper.symmetry.basis, 12, 1.5) if hasattr(Grid, "on_subspace") else None
    if grid is None:
        grid = Grid(np.linspace(-1.5, 1.5, 13)[[0, -1]].reshape(1, 2).repeat(2, 0), (12, 12), basis=paper.symmetry.basis)
    rho = np.exp(-np.sum(grid.points**2, axis=1)).reshape(grid.shape)
    rho /= rho.sum() * grid.cell_volume
    u_builtin = MeanFieldPotential(paper, grid, path="direct")(rho)
    u_custom = MeanFieldPotential(custom, grid, path="direct")(rho)
    np.testing.assert_array_equal(u_builtin, u_custom)


@pytest.mark.slow
def test_custom_unit_lane_form_is_accepted():
    value, vjp = wgf.matrix_unit(2, 2, "tanh").value_kernel, wgf.matrix_unit(2, 2, "tanh").vjp_kernel
    u = wgf.custom_unit("lanes_tanh", 2, 2, 4, value.py_func, vjp.py_func, lambda rx, ry: np.kron(ry, rx), lanes=True)
    rng = np.random.default_rng(0)
    x, z = rng.normal(size=(5, 2)), rng.normal(size=(7, 4))
    assert np.array_equal(u.value(x, z), wgf.make_unit("tanh_matrix", 2, 2).value(x, z))


@pytest.mark.slow
def test_uncompilable_unit_is_refused_in_one_line():
    def bad_value(x, z, out):
        out[0] = {"not": "numba"}[0]

    with pytest.raises(KernelCompileError) as info:
        wgf.custom_unit("bad", 2, 1, 2, bad_value, _vjp, lambda rx, ry: np.eye(2))
    msg = str(info.value)
    assert "\n" not in msg and "bad_value" in msg and "unit 'bad'" in msg and "Failed in" not in msg


def test_wrong_vjp_is_refused():
    inner = njit(_vjp)

    def half_vjp(x, z, c, g):
        inner(x, z, c, g)
        for a in range(g.shape[0]):
            g[a] *= 0.5

    with pytest.raises(ValueError, match="finite differences"):
        wgf.custom_unit("half", 2, 2, 4, _value, half_vjp, lambda rx, ry: np.kron(ry, rx))


def _first_row_only(x, z, out):  # leaves out[1] unwritten
    out[0] = z[0] * x[0]


def _one_past_the_end(x, z, out):  # writes out[2] of an out (2,)
    for a in range(out.shape[0] + 1):
        out[a] = z[a] * x[0]


def _reads_past_x(x, z, c, g):  # reads x[dx]
    for a in range(g.shape[0]):
        g[a] += c[0] * x[x.shape[0]]


def _lanes_first_row(x, Z, m, out, work):  # lane form, row 1 of out unwritten
    for i in range(m):
        out[0, i] = Z[0, i] * x[0]


@pytest.mark.parametrize("value, vjp, lanes, message", [
    (_first_row_only, _vjp, False, r"unit 'u': value leaves out\[1\] unwritten"),
    (_one_past_the_end, _vjp, False, r"unit 'u': value indexes outside its arrays .*\(2,\), \(4,\), \(2,\)"),
    (_value, _reads_past_x, False, r"unit 'u': vjp indexes outside its arrays"),
    (_lanes_first_row, _vjp, True, r"unit 'u': value leaves out\[1, 0\] unwritten"),
])
def test_kernels_that_leave_outputs_unwritten_or_index_outside_are_refused(value, vjp, lanes, message):
    """Compiled code would run on uninitialised memory (risk = inf) or write past the arrays (a crash): the
    Python probe refuses both in one line, before anything is compiled."""
    with pytest.raises(wgf.units.KernelProbeError, match=message) as info:
        wgf.custom_unit("u", 2, 2, 4, value, vjp, lambda rx, ry: np.kron(ry, rx), lanes=lanes)
    assert "\n" not in str(info.value)


def test_probe_passes_a_correct_unit_and_a_non_finite_one_is_named():
    wgf.units.probe_kernels("ok", 2, 2, 4, _value, _vjp)  # nothing raised

    def nan_value(x, z, out):
        for a in range(out.shape[0]):
            out[a] = np.nan

    with pytest.raises(wgf.units.KernelProbeError, match="non-finite entry"):
        wgf.units.probe_kernels("nan", 2, 2, 4, nan_value, _vjp)


def test_unit_cannot_be_subclassed():
    with pytest.raises(TypeError, match="cannot be subclassed"):
        class MyUnit(wgf.Unit):  # noqa: F841
            pass


# ------------------------------------------------------------------ losses
@pytest.mark.slow
@pytest.mark.parametrize("loss", ["squared", "logistic", "huber"])
@pytest.mark.parametrize("scheme", ["vanilla", "fa", "ea"])
def test_every_loss_engine_step_matches_reference(paper, loss, scheme):
    problem = paper.replace(scheme=scheme, beta=1e-2, init="wi", noise="full", loss=wgf.make_loss(loss, 0.05))
    theta0 = np.ascontiguousarray(problem.initial_particles(37, np.random.default_rng(5)))
    theta = theta0.copy()
    k, seed, eps = 2, 11, 0.5
    spec = kernels.engine_spec(problem, 20)
    kernels.make_advance(problem.base_unit, problem.loss)(theta, k, np.array([eps]), seed, spec)
    xb, yb, wb = kernels.engine_batch(problem, 20, k, seed)
    if loss == "logistic":
        assert set(np.unique(yb)) <= {-1.0, 1.0}
    xi = np.empty_like(theta0)
    for i in range(theta0.shape[0]):
        kernels.fill_normal_at(seed, kernels.STREAM_NOISE, k, i * 2, xi[i])
    expected = reference_step(problem, theta0, xb, yb, wb, xi, eps)
    drift = reference_step(problem.replace(beta=0.0), theta0, xb, yb, wb, xi, eps) - theta0
    assert np.abs(drift).max() > 1e-4
    assert np.abs(theta - expected).max() <= 1e-12


def test_loss_values_and_gradients():
    rng = np.random.default_rng(0)
    yhat, y = rng.normal(size=(50, 2)), np.sign(rng.normal(size=(50, 2)))
    sq, lg, hb = wgf.make_loss("squared"), wgf.make_loss("logistic"), wgf.make_loss("huber", 0.3)
    np.testing.assert_allclose(sq(yhat, y), ((yhat - y) ** 2).sum(-1), rtol=1e-15)
    np.testing.assert_allclose(lg(yhat, y), np.log1p(np.exp(-y * yhat)).sum(-1), rtol=1e-14)
    r = np.abs(yhat - y)
    np.testing.assert_allclose(hb(yhat, y), np.where(r <= 0.3, 0.5 * r**2, 0.3 * (r - 0.15)).sum(-1), rtol=1e-14)
    for loss in (sq, lg, hb):
        fd = (loss.grad(yhat, y) * 0 + np.stack([(loss(yhat + e, y) - loss(yhat - e, y)) / 2e-6
                                                  for e in np.eye(2) * 1e-6], axis=-1))
        np.testing.assert_allclose(loss.grad(yhat, y), fd, rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match="huber_delta"):
        wgf.make_loss("huber", 0.0)


def test_pde_first_variation_uses_the_loss_gradient(paper):
    """U(mu, z) of the potential equals the functionals' potential for every loss (finite differences of R too)."""
    rng = np.random.default_rng(1)
    z = rng.normal(scale=0.4, size=(30, 4))
    for name in ("logistic", "huber"):
        p = paper.replace(loss=wgf.make_loss(name, 0.2))
        # dR/dmu at z_j = d/dt R((1 - t) mu + t delta_zj) at t = 0
        at = z[:3]
        fv = wgf.first_variation(p, z, at)
        for j in range(3):
            t = 1e-6
            w = np.full(31, (1 - t) / 30)
            w[-1] = t
            zz = np.vstack([z, at[j]])
            rp = wgf.risk(p, zz, w)
            w2 = w.copy()
            w2[:-1] = (1 + t) / 30
            w2[-1] = -t
            rm = wgf.risk(p, zz, w2)
            mean = np.mean(fv)  # the first variation is defined up to its mean against mu
            assert abs((rp - rm) / (2 * t) - (fv[j] - np.mean(wgf.first_variation(p, z, z)))) < 1e-6
        assert np.isfinite(mean)


def test_config_losses_and_schedules():
    base = (ROOT / "examples" / "paper_c2.toml").read_text()
    exp_ = parse_config(base.replace('scheme = "vanilla"', 'scheme = "vanilla"\nloss = "huber"\nhuber_delta = 0.5'))
    assert exp_.problem.loss.name == "huber" and exp_.problem.loss.param == 0.5
    exp_ = parse_config(base.replace('scheme = "vanilla"', 'scheme = "vanilla"\nschedule = "inverse_time"\n'
                                     'schedule_t0 = 5.0'))
    assert exp_.problem.schedule.t0 == 5.0
    for bad, key in (('loss = "hinge"', "loss"), ('schedule = "inverse_time"', "schedule_t0"),
                     ('huber_delta = 1.0', "huber_delta"), ('loss = "huber"\nhuber_delta = -1.0', "huber_delta")):
        with pytest.raises(ConfigError, match=key):
            parse_config(base.replace('scheme = "vanilla"', 'scheme = "vanilla"\n' + bad))
    with pytest.raises(ConfigError, match="activation"):
        parse_config(base.replace('unit = "sigmoid_matrix"', 'unit = "sigmoid_matrix"\nactivation = "relu"'))
    relu = parse_config(base.replace('unit = "sigmoid_matrix"', 'unit = "matrix"\nactivation = "relu"'))
    assert relu.problem.base_unit.name == "matrix[relu]"


# ------------------------------------------------------------------ schedules
def test_schedule_step_sizes_and_time_change():
    s = wgf.make_schedule("inverse_time", 2.0)
    np.testing.assert_allclose(s.step_sizes(0.1, 0, 4), 0.1 / (1 + np.arange(4) * 0.1 / 2.0), rtol=1e-15)
    t = np.array([0.0, 1.0, 7.0])
    np.testing.assert_allclose(s.elapsed(t), 2.0 * np.log1p(t / 2.0), rtol=1e-15)
    c = wgf.Schedule.from_callable(lambda u: 1.0 / (1.0 + u / 2.0))
    np.testing.assert_allclose(c.elapsed(t), s.elapsed(t), rtol=1e-10)
    with pytest.raises(ValueError, match="schedule_t0"):
        wgf.make_schedule("inverse_time")


def test_scheduled_particles_match_reference_steps(paper):
    """With a schedule, step k of the engine uses s_k = eps varsigma(k eps) (noise-free, so exactly comparable)."""
    problem = paper.replace(beta=0.0, init="wi", noise="full", schedule=wgf.make_schedule("inverse_time", 0.5))
    theta = problem.initial_particles(40, np.random.default_rng(0))
    eps = 0.2
    traj = simulate(problem, 40, 4, times=[0.0, 4 * eps], step=eps, initial=theta)
    ref = theta.copy()
    for k in range(4):
        xb, yb, wb = kernels.engine_batch(problem, 20, k, 4)
        ref = reference_step(problem, ref, xb, yb, wb, np.zeros_like(ref), eps / (1 + k * eps / 0.5))
    assert np.abs(traj.final - ref).max() <= 1e-12


# ------------------------------------------------------------------ gradient_step
def test_gradient_step_is_one_noise_free_update(paper):
    problem = paper.replace(scheme="fa", beta=0.5, init="wi", noise="full", loss=wgf.make_loss("huber", 0.1))
    rng = np.random.default_rng(2)
    theta = problem.initial_particles(25, rng)
    x = rng.normal(scale=4.0, size=(9, 2))
    y = problem.data.labels(x)
    new = gradient_step(problem, theta, x, y, 0.3)
    ref = reference_step(problem.replace(beta=0.0), theta, x, y, np.full(9, 1 / 9), np.zeros_like(theta), 0.3)
    assert np.abs(new - theta).max() > 1e-3
    assert np.abs(new - ref).max() <= 1e-13
    sched = problem.replace(schedule=wgf.make_schedule("inverse_time", 1.0))
    half = gradient_step(sched, theta, x, y, 0.3, t=1.0)  # varsigma(1) = 1/2
    ref_half = reference_step(problem.replace(beta=0.0), theta, x, y, np.full(9, 1 / 9), np.zeros_like(theta), 0.15)
    assert np.abs(half - ref_half).max() <= 1e-13
    with pytest.raises(ValueError, match="theta"):
        gradient_step(problem, theta[:, :3], x, y, 0.3)


# ------------------------------------------------------------------ every activation in the engine
@pytest.mark.slow
@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("family,scheme", [("matrix", "fa"), ("two_layer", "vanilla"), ("two_layer", "ea")])
def test_every_activation_engine_step_matches_reference(family, scheme, act):
    unit = wgf.matrix_unit(2, 2, act) if family == "matrix" else wgf.two_layer_unit(2, 2, 3, act)
    sym = wgf.Symmetry(unit, wgf.group_from_name("swap", 2, 2))
    rng = np.random.default_rng(0)
    teacher = wgf.make_teacher("wi", rng.normal(scale=0.5, size=(2, unit.dim)), sym)
    data = wgf.GaussianTeacherData(unit, teacher, 2.0, 0.0, "wi")
    problem = wgf.Problem(sym, data, scheme=scheme, beta=1e-2, init="wi", init_std=0.5, noise="full")
    theta0 = np.ascontiguousarray(problem.initial_particles(150, np.random.default_rng(5)))  # two chunks
    theta = theta0.copy()
    k, seed, eps = 1, 7, 0.5
    kernels.make_advance(unit, problem.loss)(theta, k, np.array([eps]), seed, kernels.engine_spec(problem, 20))
    xb, yb, wb = kernels.engine_batch(problem, 20, k, seed)
    xi = np.empty_like(theta0)
    pairs = (unit.dim + 1) // 2
    for i in range(theta0.shape[0]):
        kernels.fill_normal_at(seed, kernels.STREAM_NOISE, k, i * pairs, xi[i])
    expected = reference_step(problem, theta0, xb, yb, wb, xi, eps)
    drift = reference_step(problem.replace(beta=0.0), theta0, xb, yb, wb, xi, eps) - theta0
    assert np.abs(drift).max() > 1e-5
    assert np.abs(theta - expected).max() <= 1e-12
