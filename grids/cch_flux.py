r"""The Carrillo-Chertock-Huang finite-volume flux of
:math:`\partial_t \rho = \nabla \cdot (\rho \nabla \xi)`, :math:`\xi = U + \beta \log \rho`
(J. A. Carrillo, A. Chertock, Y. Huang, Commun. Comput. Phys. 17, 2015): second order where the
Scharfetter-Gummel flux of ``wgf.grids.flux`` is first order (high cell Péclet numbers), with the same
discrete Gibbs state (docs/pde.md, "Space").

Along axis :math:`k`, through the face between cell :math:`c` and its right neighbour :math:`c^+`,

.. math::

    F = u^+ \rho^E_c + u^- \rho^W_{c^+}, \qquad
    u = -\frac{\xi_{c^+} - \xi_c}{h_k} \ \text{clipped to}\ [-\bar u_k, \bar u_k], \qquad
    \xi_c = U_c + \beta \log \max(\rho_c, \rho_{\min}),

with :math:`u^\pm = \max(\pm u, 0)` and :math:`\rho^{E, W}` the face values of the limited piecewise-linear
reconstruction :math:`\rho^{E, W}_c = \rho_c \pm s_c / 2`,
:math:`s_c = \operatorname{minmod}(\theta (\rho_c - \rho_{c^-}), (\rho_{c^+} - \rho_{c^-}) / 2, \theta (\rho_{c^+} - \rho_c))`
(:math:`\theta = 2`, the monotonized-central limiter; :math:`s = 0` in the cells at the walls), and
:math:`\partial_t \rho_c = -\sum_k (F_{c + 1/2} - F_{c - 1/2}) / h_k`, no flux through the walls.

- **Mass**: a flux leaves one cell and enters the next: conserved to round-off.
- **Positivity**: :math:`\rho^E, \rho^W \ge 0` and :math:`\rho^E_c + \rho^W_c = 2 \rho_c`, so a forward Euler
  step keeps :math:`\rho \ge 0` when :math:`\Delta t \cdot 2 \sum_k \bar u_k / h_k \le 1` (``cch_rate``), and
  so does SSP-RK3, a convex combination of such steps.
- **Free energy**: with :math:`u` before the clip, :math:`\frac{d}{dt} F_h = |\mathrm{cell}| \sum_c \xi_c\,
  \partial_t \rho_c = -|\mathrm{cell}| \sum_{\text{faces}} F u \le 0`, since :math:`F` has the sign of the clipped
  :math:`u`, which is that of :math:`u`.
- **Gibbs state**: :math:`F = 0` on every face exactly when :math:`\xi` is constant, i.e.
  :math:`\rho \propto e^{-U / \beta}`: the steady state of the Scharfetter-Gummel flux and the minimizer of
  :math:`F_h` (``wgf.grids.minimize_free_energy``).

The cap :math:`\bar u_k = 1.1 \max |\Delta_k U| / h_k + K \beta / h_k` (:math:`K` = ``CCH_DIFFUSION_CAP``) acts
only where :math:`|\Delta_k \log \rho| > K` between neighbours (vacuum and far tails); it keeps the CFL step
of the order of the drift's and the diffusion's instead of the fastest tail's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numba import njit

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["cch_velocity_cap", "cch_rate", "cch_apply", "CCH_DIFFUSION_CAP", "CCH_DENSITY_FLOOR"]

# K: full speed up to |Delta log rho| = K between neighbours; the diffusion's part of cch_rate is 2 K beta / h^2 per
# axis, at K = 2 the largest rate 4 beta / h^2 of the linearized diffusion (dt times it <= 0.9, inside SSP-RK3's
# stability interval [-2.51, 0])
CCH_DIFFUSION_CAP = 2.0
CCH_DENSITY_FLOOR = 1e-300  # rho_min inside the logarithm (vacuum)
CCH_THETA = 2.0  # the limiter's theta (1: minmod, 2: monotonized central)
_DRIFT_MARGIN = 1.1  # the cap above the largest drift |Delta U| / h, for the potential's change within a step


@njit(cache=True)
def _minmod_slope(left, centre, right, theta):
    """minmod(theta (c - l), (r - l) / 2, theta (r - c))."""
    a = theta * (centre - left)
    b = 0.5 * (right - left)
    c = theta * (right - centre)
    if a > 0.0 and b > 0.0 and c > 0.0:
        return min(a, b, c)
    if a < 0.0 and b < 0.0 and c < 0.0:
        return max(a, b, c)
    return 0.0


@njit(cache=True)
def _slope(rho, a, i, b, n, theta):
    """The limited slope s of cell i of line (a, :, b); 0 in the two wall cells."""
    if i == 0 or i == n - 1:
        return 0.0
    return _minmod_slope(rho[a, i - 1, b], rho[a, i, b], rho[a, i + 1, b], theta)


@njit(cache=True)
def _axis_divergence(rho, xi, out, h, cap, theta):
    """out[a, i, b] -= (F_{i+1/2} - F_{i-1/2}) / h along the middle axis of (P, n, Q) arrays."""
    p_count, n, q_count = rho.shape
    for a in range(p_count):
        for i in range(n - 1):
            for b in range(q_count):
                u = -(xi[a, i + 1, b] - xi[a, i, b]) / h
                if u > cap:
                    u = cap
                elif u < -cap:
                    u = -cap
                if u > 0.0:
                    flux = u * (rho[a, i, b] + 0.5 * _slope(rho, a, i, b, n, theta))
                elif u < 0.0:
                    flux = u * (rho[a, i + 1, b] - 0.5 * _slope(rho, a, i + 1, b, n, theta))
                else:
                    flux = 0.0
                flux /= h
                out[a, i, b] -= flux
                out[a, i + 1, b] += flux


@njit(cache=True)
def _chemical_potential(rho, potential, beta, floor):
    """xi = U + beta log max(rho, floor), flat arrays."""
    xi = np.empty_like(rho)
    for c in range(rho.size):
        xi[c] = potential[c] + beta * np.log(max(rho[c], floor))
    return xi


def _lines(shape, k):
    """(P, n_k, Q): the C-ordered array as lines along axis k."""
    return (int(np.prod(shape[:k], dtype=np.int64)), int(shape[k]), int(np.prod(shape[k + 1:], dtype=np.int64)))


def cch_velocity_cap(potential: np.ndarray, spacing: Sequence[float] | np.ndarray, beta: float) -> np.ndarray:
    r"""The caps :math:`\bar u_k = 1.1 \max_{\text{faces}} |\Delta_k U| / h_k + K \beta / h_k` per axis, (m,)."""
    potential = np.asarray(potential, dtype=float)
    return np.array([_DRIFT_MARGIN * np.abs(np.diff(potential, axis=k)).max(initial=0.0) / h
                     + CCH_DIFFUSION_CAP * beta / h for k, h in enumerate(spacing)])


def cch_rate(cap: np.ndarray, spacing: Sequence[float] | np.ndarray) -> float:
    r""":math:`2 \sum_k \bar u_k / h_k`: a forward Euler step of at most its inverse keeps :math:`\rho \ge 0`."""
    return float(2.0 * np.sum(np.asarray(cap) / np.asarray(spacing)))


def cch_apply(rho: np.ndarray, potential: np.ndarray, spacing: Sequence[float] | np.ndarray, beta: float,
              cap: np.ndarray | None = None) -> np.ndarray:
    r""":math:`\partial_t \rho = -\sum_k (F_{c+1/2} - F_{c-1/2}) / h_k` for the density and potential on the
    cells (both of the grid's shape), with the velocity caps ``cap`` (m,) (default ``cch_velocity_cap``)."""
    rho = np.ascontiguousarray(rho, dtype=float)
    potential = np.ascontiguousarray(potential, dtype=float)
    if cap is None:
        cap = cch_velocity_cap(potential, spacing, beta)
    xi = _chemical_potential(rho.ravel(), potential.ravel(), float(beta), CCH_DENSITY_FLOOR)
    out = np.zeros(rho.size)
    for k, h in enumerate(spacing):
        lines = _lines(rho.shape, k)
        _axis_divergence(rho.reshape(lines), xi.reshape(lines), out.reshape(lines), float(h), float(cap[k]),
                         CCH_THETA)
    return out.reshape(rho.shape)
