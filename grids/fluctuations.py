r"""The limit variance of the particles' fluctuations predicted on a grid (docs/theory.md, "Fluctuations",
"On a grid").

The particles' empirical law :math:`\nu^N_t` fluctuates around the mean-field law :math:`\mu_t` at order
:math:`N^{-1/2}`: :math:`\eta^N_t = \sqrt N (\nu^N_t - \mu_t)` converges to a Gaussian field :math:`\eta_t`.
For a test function :math:`f` the limit variance of :math:`\langle f, \eta_T \rangle` follows from the
linearized flow around :math:`\mu_t`. With :math:`\varphi_s` the solution of the backward (adjoint tangent)
equation :math:`-\partial_s \varphi_s = \mathcal L_s^* \varphi_s`, :math:`\varphi_T = f`,

.. math::

    \operatorname{Var} \langle f, \eta_T \rangle = \operatorname{Var}_{\mu_0}(\varphi_0)
      + \int_0^T \Big[ 2 \beta\, \mathbb E_{\mu_s} |\nabla \varphi_s|^2
      + \frac{\alpha}{B} \operatorname{Var}_{(x, y) \sim \pi} \Big( \int \nabla \varphi_s \cdot g_{x, y}\, d\mu_s \Big)
      \Big] ds ,

the initial law, the Brownian noise and the mini-batch noise (:math:`\varepsilon = \alpha / N`, batch :math:`B`;
:math:`g_{x, y}(z) = -\nabla_z \langle \nabla_1 \ell(\Phi_\mu(x), y), \sigma(x, z) \rangle` the drift of one
sample).

On the grid the flow is :math:`\dot\rho = F(\rho) = A(U[\rho])\, \rho` (``wgf.grids.flux``), its tangent

.. math::

    F'(\rho)\, \delta = A(U)\, \delta + K\, U'(\rho)\, \delta, \qquad
    K = \frac{\partial (A(U) \rho)}{\partial U}, \qquad
    U'(\rho)\, \delta = \sum_q w_q\, \ell''_q\, \big\langle \delta\Phi_q, \sigma(x_q, z_c) \big\rangle ,
    \quad \delta\Phi_q = |\mathrm{cell}| \sum_c \delta_c\, \sigma(x_q, z_c),

:math:`K` sparse (each face's flux depends on the potential of its two cells through the Bernoulli weights)
and :math:`U'` symmetric of rank at most :math:`Q\, d_y`. The backward equation
:math:`-\dot\varphi = F'(\rho_s)^\top \varphi` is integrated by implicit Euler on the snapshot times of a forward
solve (GMRES, preconditioned by the sparse LU of :math:`I - \Delta t\, A^\top`), and the three rates are
discretized on the flux's faces: :math:`\mathbb E_\mu |\nabla \varphi|^2 = |\mathrm{cell}| \sum_{\text{faces}}
\tfrac12 (\rho_c + \rho_{c^+}) (\varphi_{c^+} - \varphi_c)^2 / h_k^2`, and the mini-batch term is the variance over
the data quadrature of :math:`X_q = |\mathrm{cell}|\, \langle K^\top \varphi, v_q \rangle` with
:math:`v_q(z_c) = \langle \nabla_1 \ell(\Phi(x_q), y_q), \sigma(x_q, z_c) \rangle`, the change of
:math:`\langle \varphi, \dot\rho \rangle` when the potential is that one sample's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, gmres, splu

from wgf.grids.flux import apply_operator, bernoulli_flux_weights, fokker_planck_operator
from wgf.grids.potential import MeanFieldPotential
from wgf.functionals import OBSERVABLES
from wgf.schemes import DA_MODES, SCHEMES

if TYPE_CHECKING:
    from collections.abc import Callable

    from numpy.typing import ArrayLike

    from wgf.grids.grid import Grid
    from wgf.grids.solver import History
    from wgf.problem import Problem

__all__ = ["FluctuationPrediction", "fluctuation_variance", "Tangent", "cell_values", "DEFAULT_BACKWARD_STEPS"]

# implicit Euler steps of the backward equation over [0, t_end] when no history is given
DEFAULT_BACKWARD_STEPS = 200
# relative residual of the GMRES solve of each implicit Euler step
GMRES_RTOL = 1e-12


# ------------------------------------------------------------------ test functions on the cells
def cell_values(problem: Problem, pot: MeanFieldPotential, test_function: str | Callable,
                rho_T: np.ndarray) -> tuple[np.ndarray, list[str]]:
    r"""The cell values (K, C) of a test function and its K component names: for a name of
    ``wgf.functionals.OBSERVABLES`` (the observables the particles' fluctuations are measured with), its first
    variation :math:`\frac{\delta F}{\delta \mu}(\rho_T, z_c)` at the cell centres :math:`z_c = B u_c` (f itself
    for a linear F; the linearization of F at the flow's law otherwise, e.g. :math:`\delta R / \delta \mu` for the
    risk); or a callable f(z (C, D)) -> (C,) or (C, K) of the points z_c (a linear F)."""
    if callable(test_function):
        values = np.asarray(test_function(pot.z), dtype=float)
        values = values.reshape(values.shape[0], -1).T
        return values, [f"f[{k}]" for k in range(values.shape[0])]
    observable = OBSERVABLES[test_function](problem)
    weights = np.asarray(rho_T, dtype=float).ravel() * pot.grid.cell_volume
    return observable.first_variation(pot.z, weights, pot.z).T, list(observable.components)


# ------------------------------------------------------------------ the tangent of the grid flow
def _weight_derivatives(du: np.ndarray, beta: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Derivatives in :math:`\delta u` of the two flux weights of ``bernoulli_flux_weights``:
    :math:`(B'(x), -B'(-x))`, :math:`x = \delta u / \beta`, with :math:`B'(x) = B(x) (1 - B(-x)) / x`
    (:math:`-\tfrac12 + x / 6` near 0); the upwind limit :math:`(-[\delta u < 0], [\delta u > 0])` at
    ``beta == 0``."""
    if beta == 0.0:
        return -(du < 0).astype(float), (du > 0).astype(float)
    fwd, bwd = bernoulli_flux_weights(du, beta)
    x = du / beta
    small = np.abs(x) < 1e-5
    xs = np.where(small, 1.0, x)
    d_fwd = np.where(small, -0.5 + x / 6, fwd / beta * (1.0 - bwd / beta) / xs)  # B'(x)
    d_bwd = np.where(small, -0.5 - x / 6, bwd / beta * (1.0 - fwd / beta) / -xs)  # B'(-x)
    return d_fwd, -d_bwd


def _loss_curvature(loss, phi: np.ndarray, y: np.ndarray) -> np.ndarray:
    r""":math:`\ell''` per output component (Q, dy), by a central difference of ``loss.grad`` (exact to
    round-off for the squared loss, whose curvature is 2)."""
    h = 1e-5 * np.maximum(1.0, np.abs(phi))
    return (loss.grad(phi + h, y) - loss.grad(phi - h, y)) / (2 * h)


def _sides(ndim: int, k: int) -> tuple[tuple, tuple]:
    lo, hi = [slice(None)] * ndim, [slice(None)] * ndim
    lo[k], hi[k] = slice(0, -1), slice(1, None)
    return tuple(lo), tuple(hi)


class Tangent:
    r"""The tangent :math:`F'(\rho) = A(U) + K U'(\rho)` of the grid flow :math:`F(\rho) = A(U[\rho]) \rho` at one
    density rho (grid shape), and its transpose; vectors are cell arrays of the grid's shape.

    ``pot`` is the problem's ``MeanFieldPotential`` on the grid."""

    def __init__(self, pot: MeanFieldPotential, rho: np.ndarray) -> None:
        problem, grid = pot.problem, pot.grid
        self.pot, self.rho, self.beta = pot, np.asarray(rho, dtype=float), problem.beta
        self.spacing, self.vol = grid.spacing, grid.cell_volume
        self.potential = pot(self.rho)
        self.output = pot.last_output  # Phi (Q, dy)
        self.loss_grad = problem.loss.grad(self.output, pot.y)  # l'(Phi_q, y_q), (Q, dy)
        self.curvature = _loss_curvature(problem.loss, self.output, pot.y)  # l''_q, (Q, dy)
        self.operator = fokker_planck_operator(self.potential, self.spacing, self.beta)
        self._zero_output = pot.output(np.zeros(grid.shape))  # sigma(x_q, 0) on the separable path, else 0
        # d flux / d(U_{c+} - U_c) on every face of every axis (rates per unit density, as the operator's)
        self.face_slopes = []
        for k, h in enumerate(self.spacing):
            lo, hi = _sides(grid.ndim, k)
            d_fwd, d_bwd = _weight_derivatives(np.diff(self.potential, axis=k), self.beta)
            self.face_slopes.append((d_fwd * self.rho[lo] - d_bwd * self.rho[hi]) / h**2)

    # -------------------------------------------------------------- pieces
    def linear_output(self, delta: np.ndarray) -> np.ndarray:
        r""":math:`\delta\Phi_q = |\mathrm{cell}| \sum_c \delta_c \sigma(x_q, z_c)`, (Q, dy), for any signed delta
        (the separable path's output is affine in rho: its constant is taken out)."""
        mass = float(delta.sum() * self.vol)
        return self.pot.output(delta) + (mass - 1.0) * self._zero_output

    def potential_derivative(self, delta: np.ndarray) -> np.ndarray:
        r""":math:`U'(\rho)\, \delta = \sum_q w_q \ell''_q \langle \delta\Phi_q, \sigma(x_q, z_c) \rangle`
        (symmetric in the cells' dot product); up to a constant on the separable path, which the flux never
        sees."""
        return self.pot.dual(self.curvature * self.pot.qw[:, None] * self.linear_output(delta))

    def flux_derivative(self, v: np.ndarray) -> np.ndarray:
        r""":math:`K v`: the change of :math:`A(U)\rho` when the potential moves by v."""
        out = np.zeros_like(self.rho)
        for k, slope in enumerate(self.face_slopes):
            lo, hi = _sides(self.rho.ndim, k)
            flux = slope * np.diff(v, axis=k)
            out[lo] -= flux
            out[hi] += flux
        return out

    def flux_derivative_transpose(self, phi: np.ndarray) -> np.ndarray:
        r""":math:`K^\top \varphi`: per face, :math:`g = (\varphi_{c^+} - \varphi_c)\, \partial J / \partial \delta U`
        added to the right cell and taken from the left one."""
        out = np.zeros_like(self.rho)
        for k, slope in enumerate(self.face_slopes):
            lo, hi = _sides(self.rho.ndim, k)
            g = slope * np.diff(phi, axis=k)
            out[hi] += g
            out[lo] -= g
        return out

    # -------------------------------------------------------------- the tangent
    def apply(self, delta: np.ndarray) -> np.ndarray:
        r""":math:`F'(\rho)\, \delta = A \delta + K U' \delta`."""
        a = (self.operator @ delta.ravel()).reshape(delta.shape)
        return a + self.flux_derivative(self.potential_derivative(delta))

    def apply_transpose(self, phi: np.ndarray) -> np.ndarray:
        r""":math:`F'(\rho)^\top \varphi = A^\top \varphi + U' K^\top \varphi`."""
        a = (self.operator.T @ phi.ravel()).reshape(phi.shape)
        return a + self.potential_derivative(self.flux_derivative_transpose(phi))

    # -------------------------------------------------------------- the noise rates
    def brownian_rate(self, phi: np.ndarray) -> float:
        r""":math:`2 \beta\, \mathbb E_\rho |\nabla \varphi|^2` on the faces: :math:`2 \beta |\mathrm{cell}|
        \sum_k \sum_{\text{faces}} \tfrac12 (\rho_c + \rho_{c^+}) (\varphi_{c^+} - \varphi_c)^2 / h_k^2`."""
        total = 0.0
        for k, h in enumerate(self.spacing):
            lo, hi = _sides(phi.ndim, k)
            total += float(np.sum(0.5 * (self.rho[lo] + self.rho[hi]) * np.diff(phi, axis=k) ** 2)) / h**2
        return 2.0 * self.beta * self.vol * total

    def sample_drifts(self, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""(:math:`X_q = \langle \ell'_q, \delta\Phi_q[K^\top \varphi] \rangle` (Q,), :math:`o_q =
        \delta\Phi_q[K^\top \varphi]` (Q, dy)): :math:`\langle \varphi, K v_q \rangle` for the potential
        :math:`v_q` of sample q alone, and its derivative in the label."""
        o = self.linear_output(self.flux_derivative_transpose(phi))
        return np.einsum("qa,qa->q", self.loss_grad, o), o


# ------------------------------------------------------------------ the prediction
@dataclass
class FluctuationPrediction:
    r"""The predicted limit :math:`\operatorname{Var}\langle f, \eta_T \rangle` per time and test-function component.

    times (T,); names (K,) the components; initial, brownian, minibatch (T, K) its three contributions (the
    initial law, the Brownian noise, the mini-batch noise); value (T, K) :math:`\langle f, \mu_T \rangle` on the
    grid; time_error (T, K) or None: the estimated error of ``total`` in the backward step, the value on every
    other snapshot minus ``total`` (implicit Euler is first order: doubling the step doubles the error).
    """

    times: np.ndarray
    names: list
    initial: np.ndarray
    brownian: np.ndarray
    minibatch: np.ndarray
    value: np.ndarray
    time_error: np.ndarray | None = None

    @property
    def total(self) -> np.ndarray:
        """initial + brownian + minibatch, (T, K): the limit of N Var <f, nu^N_T>."""
        return self.initial + self.brownian + self.minibatch

    @property
    def extrapolated(self) -> np.ndarray:
        """total - time_error, (T, K): the Richardson extrapolation of the two step sizes, second order in the
        step (needs ``estimate_error``)."""
        if self.time_error is None:
            raise ValueError("no time_error: predict with estimate_error=True")
        return self.total - self.time_error

    def __repr__(self) -> str:
        rows = ", ".join(f"{n} = {v:.4g}" for n, v in zip(self.names, self.total[-1]))
        return f"FluctuationPrediction(at t = {self.times[-1]:.4g}: {rows})"


def _check_problem(problem: Problem, grid: Grid) -> np.ndarray:
    """Refuse what the prediction does not cover; return the noise covariance in grid coordinates (identity)."""
    if not problem.schedule.is_constant:
        raise NotImplementedError("the fluctuation prediction needs a constant step-size schedule")
    if problem.beta <= 0 and problem.init_std <= 0:
        raise ValueError("no fluctuations: beta = 0 and a deterministic start")
    proj = problem.noise_projector
    basis = grid.basis
    cov = basis.T @ (basis if proj is None else proj @ basis)
    if not np.allclose(cov, np.eye(grid.ndim), atol=1e-10):
        raise ValueError("the noise does not act as the identity on the grid's subspace (projected noise on a "
                         "full-space grid): the prediction needs full noise on Z or projected noise on E^G")
    return cov


def _minibatch_variance(problem: Problem, pot: MeanFieldPotential, x: np.ndarray, o: np.ndarray,
                        curvature: np.ndarray) -> float:
    r""":math:`\operatorname{Var}` over one sample of :math:`\pi` of :math:`\langle \varphi, K v \rangle`: over the
    data quadrature (orbit-averaged per sample for DA in orbit mode), plus the label noise's part
    :math:`\mathbb E |\ell'' \xi \cdot o|^2` (squared loss: :math:`\xi \sim N(0, s_\eta^2 I)`)."""
    w = pot.qw
    noise = problem.quadrature.noise_variance / pot.y.shape[1]
    lo = (curvature * o)  # (Q, dy): the label derivative of X_q up to sign
    if SCHEMES[problem.scheme].augments and DA_MODES[problem.da_mode].quadrature:
        g = problem.group.order
        q = len(w) // g
        x = x.reshape(g, q).mean(axis=0)
        lo = np.einsum("gba,gqb->qa", problem.group.rho_y, lo.reshape(g, q, -1)) / g
        w = w[:q] * g
    mean = float(w @ x)
    return float(w @ (x - mean) ** 2) + noise * float(w @ np.einsum("qa,qa->q", lo, lo))


def fluctuation_variance(problem: Problem, grid: Grid, test_function: str | Callable, times: ArrayLike | None = None,
                         *, alpha: float, batch: int, history: History | None = None,
                         steps: int = DEFAULT_BACKWARD_STEPS, estimate_error: bool = False,
                         tol: float = 1e-5) -> FluctuationPrediction:
    r"""The limit :math:`\operatorname{Var}\langle f, \eta_T \rangle = \lim_N N \operatorname{Var}\langle f,
    \nu^N_T \rangle` at each time T of ``times`` (default: the problem's last time), from the linearized flow on
    ``grid`` (module docstring; docs/theory.md, "Fluctuations").

    Parameters
    ----------
    test_function : str or callable
        a name of ``wgf.functionals.OBSERVABLES`` ("mean", "second_moment", "covariance", "output", "risk") or a
        callable of the points
        z (C, D) -> (C,) or (C, K)
    alpha, batch : float, int
        the particles' eps = alpha / N and minibatch size B (a fixed step eps: alpha = eps N)
    history : History, optional
        a forward solve of ``problem`` on ``grid`` whose snapshot times include ``times`` (its snapshots are the
        backward steps); default: ``wgf.grids.solve`` at ``steps`` equal steps over [0, max(times)] and ``times``,
        with local tolerance ``tol``
    estimate_error : bool
        also solve on every other snapshot (twice the steps' size): ``time_error``

    Needs a constant schedule and a grid whose noise covariance is the identity: full noise on a full-space grid,
    or projected noise on E^G. On E^G with vanilla or DA in sample mode one sample's drift leaves E^G; its normal
    fluctuations decouple from the tangential ones at first order, so the prediction holds for functions of
    :math:`P_E z` (which "mean" on E^G is, coordinate by coordinate, while the particles' own mean is not).
    """
    from wgf.grids.mean_field import solve

    _check_problem(problem, grid)
    targets = np.atleast_1d(problem.times[-1] if times is None else np.asarray(times, dtype=float))
    if history is None:
        fine = np.union1d(np.linspace(0.0, float(targets.max()), steps + 1), targets)
        history = solve(problem, grid, fine, tol=tol)
    fine = np.asarray(history.times, dtype=float)
    index = [int(np.argmin(np.abs(fine - t))) for t in targets]
    if any(abs(fine[j] - t) > 1e-9 * max(1.0, abs(t)) for j, t in zip(index, targets)):
        raise ValueError("the history's snapshot times must include every requested time")
    pot = MeanFieldPotential(problem, grid)
    tangents: dict[int, Tangent] = {}

    def tangent(j):
        if j not in tangents:
            tangents[j] = Tangent(pot, history.density[j])
        return tangents[j]

    names = None
    shape = None
    out = {key: [] for key in ("initial", "brownian", "minibatch", "value", "coarse")}
    for jt in index:
        cells, names = cell_values(problem, pot, test_function, history.density[jt])
        shape = (len(targets), len(names))
        parts = _backward(problem, pot, tangent, fine, jt, cells, alpha, batch, stride=1)
        for key, v in zip(("initial", "brownian", "minibatch"), parts):
            out[key].append(v)
        out["value"].append(grid.cell_volume * cells @ history.density[jt].ravel())
        if estimate_error:
            out["coarse"].append(sum(_backward(problem, pot, tangent, fine, jt, cells, alpha, batch, stride=2)))
    arrays = {k: np.asarray(v).reshape(shape) for k, v in out.items() if v}
    total = arrays["initial"] + arrays["brownian"] + arrays["minibatch"]
    return FluctuationPrediction(targets, names, arrays["initial"], arrays["brownian"], arrays["minibatch"],
                                 arrays["value"], arrays["coarse"] - total if estimate_error else None)


def _backward(problem, pot, tangent, fine, jt, cells, alpha, batch, stride):
    r"""(initial, brownian, minibatch) per component (K,) for the final time fine[jt]: implicit Euler from jt down to
    0 on every ``stride``-th snapshot (0 always included), the rates integrated by the trapezoid rule."""
    grid = pot.grid
    steps = sorted(set(range(jt, -1, -stride)) | {0})
    initial, brownian, minibatch = [], [], []
    for f in cells:
        phi = f.reshape(grid.shape).copy()
        rates = []
        for pos in range(len(steps) - 1, -1, -1):
            j = steps[pos]
            if pos < len(steps) - 1:
                phi = _implicit_step(tangent(j), phi, fine[steps[pos + 1]] - fine[j])
            tj = tangent(j)
            x, o = tj.sample_drifts(phi)
            rates.append((tj.brownian_rate(phi),
                          alpha / batch * _minibatch_variance(problem, pot, x, o, tj.curvature)))
        rates = np.asarray(rates[::-1])  # (len(steps), 2) in increasing time
        t = fine[steps]
        integral = np.sum(0.5 * (rates[1:] + rates[:-1]) * np.diff(t)[:, None], axis=0) if len(t) > 1 else np.zeros(2)
        rho0 = tangent(0).rho
        vol = grid.cell_volume
        mean = float(np.sum(rho0 * phi) * vol)
        initial.append(float(np.sum(rho0 * (phi - mean) ** 2) * vol))
        brownian.append(float(integral[0]))
        minibatch.append(float(integral[1]))
    return np.asarray(initial), np.asarray(brownian), np.asarray(minibatch)


def _implicit_step(tj: Tangent, phi: np.ndarray, dt: float) -> np.ndarray:
    r""":math:`\varphi_j` from :math:`(I - \Delta t\, F'(\rho_j)^\top) \varphi_j = \varphi_{j+1}`: GMRES on the
    sparse-plus-low-rank matrix, preconditioned by the sparse LU of :math:`I - \Delta t A^\top`."""
    if dt <= 0:
        return phi
    n = phi.size
    key = ("lu", dt)
    cache = tj.__dict__.setdefault("_lu", {})
    if key not in cache:
        cache[key] = splu((sp.identity(n, format="csc") - dt * tj.operator.T).tocsc())
    lu = cache[key]
    shape = phi.shape

    def matvec(v):
        v = v.reshape(shape)
        return (v - dt * tj.apply_transpose(v)).ravel()

    rhs = phi.ravel()
    guess = lu.solve(rhs)
    sol, info = gmres(LinearOperator((n, n), matvec=matvec, dtype=float), rhs, x0=guess, rtol=GMRES_RTOL,
                      atol=0.0, restart=min(n, 60), maxiter=50,
                      M=LinearOperator((n, n), matvec=lu.solve, dtype=float))
    if info != 0:
        raise RuntimeError(f"the backward step's GMRES did not converge (info = {info})")
    return sol.reshape(shape)


def flow(pot: MeanFieldPotential, rho: np.ndarray) -> np.ndarray:
    r""":math:`F(\rho) = A(U[\rho])\, \rho` on the cells, the grid flow the tangent linearizes."""
    return apply_operator(rho, pot(rho), pot.grid.spacing, pot.problem.beta)
