"""``wgf.particles.gradient_step`` applies the whole scheme, data augmentation included.

A plain batch passed to a DA problem in orbit mode trains on the orbit of every sample; in
sample mode on the given group elements (refused in one line without them). Each step is
compared with an independent NumPy reference written here (the matrix unit's Jacobian by
hand, the augmented batch built from the group's matrices), with the engine's own DA
minibatches (``simulate``'s code path), and with PyTorch autograd when torch is importable.
The relu, softplus and tanh cases reuse the kernels of the slow every-activation tests; the
sigmoid case is the paper's unit, compiled once per test process by the conftest warm-up.
"""

from pathlib import Path

import numpy as np
import pytest

import wgf
from wgf.config import load_config
from wgf.particles import gradient_step, make_advance
from wgf.particles import kernels
from wgf.particles.rng import random_index

ROOT = Path(__file__).resolve().parents[1]
TOL = 1e-12

# the activations of the matrix unit s(W x) and their derivatives, written independently of wgf
ACTS = {
    "sigmoid": (lambda u: 1.0 / (1.0 + np.exp(-u)), lambda u: np.exp(-u) / (1.0 + np.exp(-u)) ** 2),
    "relu": (lambda u: np.maximum(u, 0.0), lambda u: (u > 0.0).astype(float)),
    "softplus": (lambda u: np.logaddexp(0.0, u), lambda u: 1.0 / (1.0 + np.exp(-u))),
    "tanh": (np.tanh, lambda u: 1.0 - np.tanh(u) ** 2),
}
# d l / d yhat of the losses (docs/kernels.md, "Losses")
LOSS_GRADS = {
    "squared": lambda yhat, y: 2.0 * (yhat - y),
    "logistic": lambda yhat, y: -y / (1.0 + np.exp(y * yhat)),
}
# (activation, loss): the paper's sigmoid in the fast tier; the others compile logistic kernels of their own
CASES = [("sigmoid", "squared")] + [
    pytest.param(act, loss, marks=pytest.mark.slow)
    for act in ("relu", "softplus", "tanh") for loss in ("squared", "logistic")
]


@pytest.fixture(scope="module")
def paper():
    return load_config(ROOT / "examples" / "paper_c2.toml").problem


def _problem(act, loss, da_mode="orbit"):
    """2x2 matrix units s(W x) under the swap group, DA, with a visible penalty tau."""
    unit = wgf.make_unit("sigmoid_matrix", 2, 2) if act == "sigmoid" else wgf.matrix_unit(2, 2, act)
    sym = wgf.Symmetry(unit, wgf.group_from_name("swap", 2, 2))
    teacher = np.array([[-0.5, 0.0, 0.0, 0.25], [0.25, 0.5, 0.0, 0.5], [-0.25, 0.15, 0.5, 0.0]])
    data = wgf.GaussianTeacherData(unit, teacher, 2.0, 0.0, "arbitrary")
    return wgf.Problem(sym, data, scheme="da", da_mode=da_mode, tau=0.05, beta=1e-2, init="wi", init_std=0.6,
                       loss=wgf.make_loss(loss))


def _batch(loss, n_batch=7, seed=3):
    """Inputs (B, 2) and labels (B, 2): Gaussian for the squared loss, +-1 for the logistic loss."""
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=1.5, size=(n_batch, 2))
    y = rng.normal(size=(n_batch, 2)) if loss == "squared" else rng.choice([-1.0, 1.0], size=(n_batch, 2))
    return x, y


def _orbit(group, x, y):
    """The |G| B samples (rho_g x_b, rhohat_g y_b), from the group's matrices."""
    xs = np.concatenate([x @ group.rho_x[g].T for g in range(group.order)])
    ys = np.concatenate([y @ group.rho_y[g].T for g in range(group.order)])
    return xs, ys


def _reference(act, loss, tau, theta, x, y, s):
    """theta_i - s [(1/B') sum_b J_z sigma(x_b, theta_i)^T grad_1 l(Phi(x_b), y_b) + 2 tau theta_i] for
    sigma(x, W) = act(W x), W (dy, dx) row-major, with J_z written by hand."""
    f, df = ACTS[act]
    n, (n_b, dx), dy = theta.shape[0], x.shape, y.shape[1]
    u = np.einsum("iaj,bj->bia", theta.reshape(n, dy, dx), x)  # (B', N, dy)
    phi = f(u).mean(axis=1)  # (B', dy)
    c = LOSS_GRADS[loss](phi, y) / n_b  # (B', dy)
    grad = np.einsum("bia,ba,bj->iaj", df(u), c, x).reshape(n, dy * dx)
    return theta - s * (grad + 2.0 * tau * theta)


def _torch_step(act, loss, tau, theta, x, y, s):
    """The same update by PyTorch autograd:
    theta - s N grad [ (1/B') sum_b l(Phi(x_b), y_b) + tau mean_i |theta_i|^2 ]."""
    import torch

    t = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    xt, yt = torch.tensor(x, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
    n, (dx, dy) = theta.shape[0], (x.shape[1], y.shape[1])
    u = torch.einsum("iaj,bj->bia", t.reshape(n, dy, dx), xt)
    act_fn = {"sigmoid": torch.sigmoid, "relu": torch.relu, "tanh": torch.tanh,
              "softplus": lambda v: torch.logaddexp(torch.zeros_like(v), v)}[act]
    phi = act_fn(u).mean(dim=1)
    if loss == "squared":
        per_sample = ((phi - yt) ** 2).sum(dim=1)
    else:
        per_sample = torch.logaddexp(torch.zeros_like(phi), -yt * phi).sum(dim=1)
    objective = per_sample.mean() + tau * (t**2).sum(dim=1).mean()
    (grad,) = torch.autograd.grad(objective, t)
    return theta - s * n * grad.numpy()


def _theta(problem, n=150, seed=5):
    return problem.initial_particles(n, np.random.default_rng(seed))  # two chunks of the engine


# ------------------------------------------------------------------ orbit mode vs the NumPy reference
@pytest.mark.parametrize("act,loss", CASES)
def test_orbit_mode_step_equals_reference_on_the_orbit_batch(act, loss):
    problem = _problem(act, loss)
    theta, (x, y), s = _theta(problem), _batch(loss), 0.4
    new = gradient_step(problem, theta, x, y, s)
    xo, yo = _orbit(problem.group, x, y)
    expected = _reference(act, loss, problem.tau, theta, xo, yo, s)
    assert np.abs(new - expected).max() <= TOL
    # not vacuous: the step moves the particles, and the orbit differs from the plain batch
    assert np.abs(new - theta).max() > 1e-3
    plain = _reference(act, loss, problem.tau, theta, x, y, s)
    assert np.abs(new - plain).max() > 1e-4
    # the reference is the documented formula: here the same as the vanilla problem on the augmented batch
    vanilla = gradient_step(problem.replace(scheme="vanilla"), theta, xo, yo, s)
    assert np.abs(new - vanilla).max() <= TOL


@pytest.mark.parametrize("act,loss", CASES)
def test_orbit_mode_step_equals_torch_autograd(act, loss):
    pytest.importorskip("torch")
    problem = _problem(act, loss)
    theta, (x, y), s = _theta(problem), _batch(loss), 0.4
    new = gradient_step(problem, theta, x, y, s)
    expected = _torch_step(act, loss, problem.tau, theta, *_orbit(problem.group, x, y), s)
    assert np.abs(new - theta).max() > 1e-3
    assert np.abs(new - expected).max() <= TOL


def _engine_da(paper, da_mode, k, seed, eps, n_batch=20):
    """The paper's unit and loss (the warm kernel) on a data set of 30 samples, DA in ``da_mode``: the particles
    before and after step k of the compiled loop without noise, and the plain minibatch (x, y) of that step
    (the engine's uniform draws of data indices, before augmentation)."""
    rng = np.random.default_rng(4)
    xs = rng.normal(scale=2.0, size=(30, 2))
    data = wgf.EmpiricalData(xs, paper.data.labels(xs) + rng.normal(scale=0.1, size=(30, 2)))
    problem = paper.replace(data=data, scheme="da", da_mode=da_mode, init="wi", tau=0.05)
    theta0 = np.ascontiguousarray(_theta(problem, 37))
    theta = theta0.copy()
    make_advance(problem.base_unit, problem.loss)(theta, k, np.array([eps]), seed,
                                                   kernels.engine_spec(problem, n_batch, beta=0.0))
    idx = [random_index(seed, kernels.STREAM_INDEX, k, b, 30) for b in range(n_batch)]
    return problem, theta0, theta, xs[idx], data.y[idx]


def test_orbit_mode_step_is_the_engine_step_on_its_orbit_minibatch(paper):
    """simulate's DA minibatch of step k is the orbit of its plain minibatch: one noise-free engine step of the
    DA problem equals gradient_step on that plain batch."""
    problem, theta0, theta, x, y = _engine_da(paper, "orbit", k=3, seed=11, eps=0.3)
    new = gradient_step(problem, theta0, x, y, 0.3)
    assert np.abs(new - theta0).max() > 1e-3
    assert np.abs(new - theta).max() <= TOL


# ------------------------------------------------------------------ sample mode
def test_sample_mode_needs_the_group_elements():
    problem = _problem("sigmoid", "squared", "sample")
    theta, (x, y) = _theta(problem, 9), _batch("squared")
    with pytest.raises(ValueError, match="sample mode needs elements=") as err:
        gradient_step(problem, theta, x, y, 0.4)
    assert "\n" not in str(err.value)
    bad_elements = (([0, 1], "7 integer group indices"), (np.zeros(7), "integer"), ([0, 1, 2, 0, 1, 0, 1], "0 .. 1"))
    for bad, match in bad_elements:
        with pytest.raises(ValueError, match=match):
            gradient_step(problem, theta, x, y, 0.4, elements=bad)
    for other in (problem.replace(da_mode="orbit"), problem.replace(scheme="vanilla"), problem.replace(scheme="fa")):
        with pytest.raises(ValueError, match="elements are the group elements of DA in sample mode"):
            gradient_step(other, theta, x, y, 0.4, elements=np.zeros(7, dtype=int))


def test_sample_mode_step_equals_reference_on_the_transformed_batch():
    problem = _problem("sigmoid", "squared", "sample")
    theta, (x, y), s = _theta(problem), _batch("squared"), 0.4
    g = np.array([0, 1, 1, 0, 1, 0, 1])
    new = gradient_step(problem, theta, x, y, s, elements=g)
    group = problem.group
    xg = np.stack([group.rho_x[gb] @ xb for gb, xb in zip(g, x)])
    yg = np.stack([group.rho_y[gb] @ yb for gb, yb in zip(g, y)])
    assert np.abs(new - _reference("sigmoid", "squared", problem.tau, theta, xg, yg, s)).max() <= TOL
    assert np.abs(new - _reference("sigmoid", "squared", problem.tau, theta, x, y, s)).max() > 1e-4
    # all identities: the plain batch
    ident = gradient_step(problem, theta, x, y, s, elements=np.zeros(7, dtype=int))
    assert np.abs(ident - _reference("sigmoid", "squared", problem.tau, theta, x, y, s)).max() <= TOL


def test_sample_mode_step_is_the_engine_step_with_its_drawn_elements(paper):
    """With the elements simulate's sample mode draws at step k, gradient_step is that engine step."""
    k, seed = 2, 7
    problem, theta0, theta, x, y = _engine_da(paper, "sample", k, seed, eps=0.3)
    g = np.array([random_index(seed, kernels.STREAM_GROUP, k, b, problem.group.order) for b in range(20)])
    assert 0 < g.sum() < 20  # both elements occur
    new = gradient_step(problem, theta0, x, y, 0.3, elements=g)
    assert np.abs(new - theta0).max() > 1e-3
    assert np.abs(new - theta).max() <= TOL
