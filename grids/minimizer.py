r"""The minimizer of the free energy on a grid: the flow's limit, solved for directly (docs/pde.md, "The minimizer").

With :math:`\tau, \beta > 0` the mean-field flow converges to the unique minimizer of
:math:`F(\mu) = R(\mu) + \tau \int |z|^2 d\mu + \beta \int \mu \log \mu`. On a grid, the discrete free energy
(``MeanFieldPotential.free_energy``)

.. math::

    F_h(\rho) = R(\Phi_\rho) + |\mathrm{cell}| \sum_c \rho_c\, \tau |z_c|^2
        + \beta\, |\mathrm{cell}| \sum_c \rho_c \log \rho_c

is strictly convex in the cell density :math:`\rho` for a convex loss, and its minimizer under
:math:`\sum_c \rho_c |\mathrm{cell}| = 1` is the fixed point

.. math::

    \rho^* = G(\rho^*), \qquad G(\rho)_c = \frac{e^{-U[\rho]_c / \beta}}{\sum_{c'} e^{-U[\rho]_{c'} / \beta}\, |\mathrm{cell}|},
    \qquad U[\rho]_c = \frac{\delta R}{\delta \mu}[\rho](z_c) + \tau |z_c|^2 .

It is also the exact stationary state of the PDE's own scheme: the Scharfetter-Gummel flux through a face
vanishes exactly when :math:`\rho_{c^+} / \rho_c = e^{-(U_{c^+} - U_c)/\beta}` (``wgf.grids.flux``), so the
flow on the same grid converges to it and no flow's :math:`F_h` falls below :math:`F_h(\rho^*)`.

Solved in the space of the model's outputs :math:`\Phi` (Q, dy) at the quadrature nodes, on which :math:`U`
alone depends: :math:`\Phi = T(\Phi) := \Phi_{G(\Phi)}`, a system of Q dy unknowns whatever the number of cells.
Newton's method with the Jacobian :math:`I - T'(\Phi)`,

.. math::

    T'(\Phi)\, v = -\frac{1}{\beta}\, \Phi\big[\rho\, (w - \langle w \rangle_\rho)\big], \qquad
    w_c = \sum_q w_q \big\langle \partial_1 \nabla_1 \ell(\Phi_q, y_q)\, v_q,\ \sigma(x_q, z_c) \big\rangle ,

applied matrix-free (two passes over the cells, the loss's curvature by a difference of its gradient) inside
GMRES (scipy), with a backtracking line search on :math:`\|\Phi - T(\Phi)\|_\infty` and a continuation in the
temperature (:math:`\beta_0` the spread of the initial potential, then :math:`\beta_{k+1} = \max(\beta, \beta_k / 4)`),
each stage started from the last. The measurements behind this choice are in docs/pde.md.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse.linalg import LinearOperator, gmres

from wgf.grids.grid import Grid
from wgf.grids.potential import MeanFieldPotential

if TYPE_CHECKING:
    import xarray as xr

    from wgf.problem import Problem

__all__ = ["Minimizer", "MinimizerError", "minimize_free_energy", "gibbs_density", "minimizer_bytes",
           "DEFAULT_MINIMIZER_TOLERANCE", "DEFAULT_MAX_ITERATIONS", "GMRES_RESTART"]

log = logging.getLogger("wgf")

# the stated residual ||G(rho) - rho||_1 at which the minimizer is returned
DEFAULT_MINIMIZER_TOLERANCE = 1e-9
# Newton iterations over all temperature stages
DEFAULT_MAX_ITERATIONS = 200
# each temperature stage below the target's is solved to this residual before the next
_STAGE_TOLERANCE = 1e-4
_CONTINUATION_FACTOR = 4.0
# the Krylov basis of GMRES: at most this many vectors of Q dy numbers
GMRES_RESTART = 200


def minimizer_bytes(cells: int, outputs: int) -> float:
    """Memory of a solve beyond the potential's own (``MeanFieldPotential``): about 12 cell arrays (densities,
    potentials, their temporaries) and the GMRES basis of GMRES_RESTART + 4 vectors of ``outputs`` = Q dy numbers."""
    return 8.0 * (12.0 * cells + (GMRES_RESTART + 4.0) * outputs)


class MinimizerError(ArithmeticError):
    """The fixed point was not reached to the tolerance within the iterations (the message says where it stopped)."""


def gibbs_density(potential: np.ndarray, beta: float, cell_volume: float) -> np.ndarray:
    r""":math:`G_c = e^{-U_c/\beta} / \sum_{c'} e^{-U_{c'}/\beta} |\mathrm{cell}|` for U on the cells (any shape),
    shifted by its minimum so that no exponential overflows."""
    e = np.exp(-(potential - potential.min()) / beta)
    return e / (e.sum() * cell_volume)


@dataclass(frozen=True)
class Minimizer:
    r"""The minimizer :math:`\rho^*` of :math:`F_h` on ``grid``: density (grid shape, mass 1), its free energy
    :math:`F_h(\rho^*)` and risk :math:`R(\rho^*)`, the stated residual :math:`\|G(\rho^*) - \rho^*\|_1`,
    Newton ``iterations`` (all temperature stages), potential ``evaluations`` and ``seconds`` of wall time."""

    grid: Grid
    density: np.ndarray
    free_energy: float
    risk: float
    residual: float
    iterations: int
    evaluations: int = 0
    seconds: float = 0.0

    def __repr__(self) -> str:
        cells = " x ".join(str(int(c)) for c in self.grid.cells)
        return (f"Minimizer(F = {self.free_energy:.6g}, R = {self.risk:.4g} on {cells} cells, residual "
                f"{self.residual:.2g} after {self.iterations} Newton iterations, {self.seconds:.3g} s)")

    def distance(self, rho: np.ndarray) -> np.ndarray:
        r""":math:`\|\rho - \rho^*\|_{L^1} = |\mathrm{cell}| \sum_c |\rho_c - \rho^*_c|` for densities rho
        (..., *grid.shape) -> (...)."""
        axes = tuple(range(-self.grid.ndim, 0))
        return np.abs(np.asarray(rho, dtype=float) - self.density).sum(axis=axes) * self.grid.cell_volume

    def to_xarray(self) -> xr.Dataset:
        """The /minimizer group of a results file (``wgf.open_results``, then ``tree["minimizer"].to_dataset()``):
        density (u0, .., u{m-1}) on the cell centres of the grid and the scalars free_energy, risk, residual and
        iterations, with their long_name and units (``wgf.layout``); the attribute cell_volume."""
        from wgf.layout import MINIMIZER_COORDINATES, MINIMIZER_SCALARS, MINIMIZER_VARIABLES, xarray_dataset

        dims = tuple(f"u{k}" for k in range(self.grid.ndim))
        density = MINIMIZER_VARIABLES["density"]
        arrays = [*((MINIMIZER_COORDINATES["u{k}"].format(k=k), c) for k, c in enumerate(self.grid.axes)),
                  (replace(density, dims=dims), self.density),
                  *((MINIMIZER_VARIABLES[k], getattr(self, k)) for k in MINIMIZER_SCALARS)]
        return xarray_dataset(arrays, {"cell_volume": self.grid.cell_volume})


def minimize_free_energy(problem: Problem, grid: Grid, tol: float = DEFAULT_MINIMIZER_TOLERANCE, *,
                         max_iterations: int = DEFAULT_MAX_ITERATIONS, potential_path: str = "auto",
                         initial: np.ndarray | None = None,
                         potential: MeanFieldPotential | None = None) -> Minimizer:
    r"""The minimizer of the discrete free energy of ``problem`` on ``grid`` (module docstring), to the residual
    :math:`\|G(\rho) - \rho\|_{L^1} \le` ``tol``.

    Parameters
    ----------
    problem : the problem (its scheme's unit, loss, data, tau, beta > 0)
    grid : a grid of ``wgf.grids.make_grid`` (full space or E^G, 1 to 4 axes)
    tol : the residual at which the fixed point is returned
    max_iterations : Newton iterations allowed over all temperature stages (``MinimizerError`` beyond)
    potential_path : the evaluation path of ``MeanFieldPotential``
    initial : a cell density to start from (default: the Gibbs density of the penalty at the first stage)
    potential : a ``MeanFieldPotential`` of (problem, grid) to reuse

    Returns
    -------
    Minimizer
    """
    beta = float(problem.beta)
    if not (np.isfinite(beta) and beta > 0):
        raise ValueError(f"the minimizer needs beta > 0 (F is then strictly convex), got beta = {beta!r}")
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be finite and > 0, got {tol!r}")
    start = time.perf_counter()
    pot = MeanFieldPotential(problem, grid, path=potential_path) if potential is None else potential
    vol = grid.cell_volume
    counts = {"iterations": 0, "evaluations": 0}

    def gibbs(phi, b):
        counts["evaluations"] += 1
        return gibbs_density(pot.of_output(phi), b, vol)

    if initial is None:  # the Gibbs density of the potential of the uniform density, at its spread
        u0 = pot(np.full(grid.shape, 1.0 / (grid.size * vol)))
        stage = max(beta, float(np.ptp(u0)))
        phi = pot.output(gibbs_density(u0, stage, vol))
    else:
        phi = pot.output(np.asarray(initial, dtype=float))
        stage = beta
    while True:
        target = tol if stage == beta else max(tol, _STAGE_TOLERANCE)
        phi, residual = _newton(pot, phi, stage, target, gibbs, counts, max_iterations)
        if stage == beta:
            break
        stage = max(beta, stage / _CONTINUATION_FACTOR)
    rho = gibbs(phi, beta)
    free_energy, risk = pot.free_energy(rho)
    return Minimizer(grid, rho, free_energy, risk, residual, counts["iterations"], counts["evaluations"],
                     time.perf_counter() - start)


def _newton(pot, phi, beta, tol, gibbs, counts, max_iterations):
    """Newton iterations at temperature beta from phi until ||G(Phi_rho) - rho||_1 <= tol, rho = G(phi);
    returns (phi, that residual)."""
    vol = pot.grid.cell_volume
    y, qw, loss = pot.y, pot.qw[:, None], pot.problem.loss
    while True:
        rho = gibbs(phi, beta)
        out = pot.output(rho)
        residual = float(np.abs(gibbs(out, beta) - rho).sum() * vol)
        if not np.isfinite(residual):
            raise MinimizerError(f"the fixed point iteration became non-finite at beta = {beta:.3g}")
        if residual <= tol:
            return phi, residual
        if counts["iterations"] >= max_iterations:
            raise MinimizerError(f"no fixed point to {tol:.2g} within {max_iterations} Newton iterations: residual "
                                 f"||G(rho) - rho||_1 = {residual:.3g} at beta = {beta:.3g}")
        counts["iterations"] += 1
        res = phi - out
        grad = loss.grad(phi, y)

        def jacobian(v, rho=rho, phi=phi, grad=grad):
            v = v.reshape(phi.shape)
            h = 1e-7 * max(1.0, float(np.abs(phi).max())) / max(float(np.abs(v).max()), 1e-300)
            w = pot.dual((loss.grad(phi + h * v, y) - grad) / h * qw)
            w = w - float((rho * w).sum() * vol)
            return (v + pot.output(rho * w) / beta).ravel()

        step, _ = gmres(LinearOperator((phi.size, phi.size), matvec=jacobian, dtype=float), -res.ravel(),
                        rtol=1e-3, restart=min(phi.size, GMRES_RESTART), maxiter=5)
        step = step.reshape(phi.shape)
        norm, s = float(np.abs(res).max()), 1.0
        while True:  # backtracking on the fixed-point residual of Phi
            trial = phi + s * step
            trial_norm = float(np.abs(trial - pot.output(gibbs(trial, beta))).max())
            if trial_norm <= (1.0 - 1e-4 * s) * norm or s < 1e-3:
                break
            s *= 0.5
        phi = trial
