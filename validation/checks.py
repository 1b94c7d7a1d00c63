"""The paper's results as named, measured checks (docs/theory.md §7), on small built-in problems.

Each check returns a ``Check`` row: what is measured, the value, the tolerance
and whether it passes. ``run_checks()`` runs them all (``wgf check``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from wgf.problem import Problem

__all__ = ["Check", "CHECKS", "run_checks", "base_problem", "table_header", "table_row"]

PAPER_TEACHER = 0.5 * np.array(
    [[-1, 0, 0, 0.5], [0.5, 1, 0, 1], [-0.5, 0.3, 1, 0], [0, -1, -0.5, 1], [0.7, -0.7, 0.5, 0.7]]
)


@dataclass(frozen=True)
class Check:
    name: str
    quantity: str
    value: float
    tolerance: float
    passed: bool
    relation: str = "<="


def table_header(names: Iterable[str]) -> str:
    """The header of the table of the checks ``names`` (``table_row``): the check column as wide as the
    longest name, the quantity last, so that every column is aligned whatever the names and quantities."""
    width = max(len("check"), *(len(n) for n in names))
    return f"{'check':<{width}}  {'value':>9}  {'tolerance':>12}  {'result':<6}  quantity"


def table_row(row: Check, names: Iterable[str]) -> str:
    """One row of the table of the checks ``names`` (aligned with ``table_header(names)``)."""
    width = max(len("check"), *(len(n) for n in names))
    return (f"{row.name:<{width}}  {row.value:9.2e}  {row.relation:>2} {row.tolerance:9.1e}  "
            f"{'pass' if row.passed else 'FAIL':<6}  {row.quantity}")


def _row(name, quantity, value, tolerance, relation="<="):
    ok = value <= tolerance if relation == "<=" else value >= tolerance
    return Check(name, quantity, float(value), float(tolerance), bool(ok and np.isfinite(value)), relation)


def base_problem(teacher: str = "arbitrary", **training: Any) -> Problem:
    """The paper's swap problem (docs/theory.md §9) with a given teacher kind and training settings."""
    from wgf.data import GaussianTeacherData, make_teacher
    from wgf.groups import swap_group
    from wgf.problem import Problem
    from wgf.symmetry import Symmetry
    from wgf.units import make_unit

    unit = make_unit("sigmoid_matrix", 2, 2)
    sym = Symmetry(unit, swap_group(2, 2))
    data = GaussianTeacherData(unit, make_teacher(teacher, PAPER_TEACHER, sym), 4.0, 0.0, teacher)
    settings = dict(tau=1e-4, beta=1e-2, init_std=0.25, t_end=2.0, snapshots=3, quadrature_points=10)
    settings.update(training)
    return Problem(sym, data, **settings)


def check_prop1():
    """Q_G Phi_mu = Phi_{mu^G} on a random cloud."""
    p = base_problem()
    z = np.random.default_rng(0).normal(scale=0.5, size=(50, p.dim))
    x = np.random.default_rng(1).normal(scale=4.0, size=(64, 2))
    unit, sym = p.base_unit, p.symmetry
    lhs = sym.symmetrize_function(lambda xx: unit.output(xx, z))(x)
    rhs = unit.output(x, sym.symmetrize(z))
    return _row("prop1", "max |Q_G Phi_mu - Phi_mu^G|", np.abs(lhs - rhs).max(), 1e-12)


def prop2_measures():
    r"""The measures of Prop 2 for the swap problem ``p`` (docs/theory.md §7): a random cloud of 30 particles
    (uniform weights) and a random non-invariant density on the 6^4 cells of the full-space grid on [-1.5, 1.5]^4,
    the cloud of its cell centres weighted by :math:`\rho_c |\mathrm{cell}|`. Returns (p, [(z (N, D), w (N,))])."""
    from wgf.grids import make_grid

    p = base_problem()
    z = np.random.default_rng(2).normal(scale=0.5, size=(30, p.dim))
    grid = make_grid(p, "full", 6, 1.5)
    rho = np.random.default_rng(3).random(grid.shape)
    rho /= rho.sum() * grid.cell_volume
    return p, [(z, np.full(len(z), 1.0 / len(z))), (grid.embed(grid.points), rho.ravel() * grid.cell_volume)]


def prop2_gaps(right: bool):
    r"""Relative gaps :math:`|R^S(\mu) - R(\nu_S)| / R(\mu)` for S = DA, FA, EA over the measures of
    ``prop2_measures``: with the measures of Prop 2 (``right``: :math:`R^{DA}` against the mean of
    :math:`R(M_g \# \mu)`, :math:`\nu_{FA} = \mu^G`, :math:`\nu_{EA} = P_E \# \mu`) or with the wrong one,
    :math:`\nu_S = \mu`."""
    from wgf.functionals import risk

    p, clouds = prop2_measures()
    sym, order = p.symmetry, p.group.order
    van = p.replace(scheme="vanilla")
    gaps = []
    for z, w in clouds:
        r = risk(van, z, w)
        if right:
            targets = (np.mean([risk(van, zg, w) for zg in sym.orbit(z)]),
                       risk(van, sym.symmetrize(z), np.tile(w, order) / order),
                       risk(van, sym.project(z), w))
        else:
            targets = (r, r, r)
        for scheme, target in zip(("da", "fa", "ea"), targets):
            gaps.append(abs(risk(p.replace(scheme=scheme), z, w) - target) / r)
    return gaps


def check_prop2():
    """R^DA = mean_g R(M_g#mu), R^FA = R(mu^G), R^EA = R(mu^E), on a random cloud and a random grid density."""
    return _row("prop2", "max relative gap DA/FA/EA risks, random cloud and grid density", max(prop2_gaps(True)),
                1e-12)


def check_prop2_control():
    """Control: R^DA, R^FA, R^EA against R(mu) itself (the wrong measure) on the same non-invariant measures."""
    return _row("prop2_control", "min relative |R^S(mu) - R(mu)|, S = DA/FA/EA (must be large)",
                min(prop2_gaps(False)), 1e-3, ">=")


def _flow(problem, space, cells, half_width=1.5):
    """The flow on a grid with one time integrator for every scheme (implicit up to 2 axes, explicit above):
    flows compared to round-off must not differ by the integrator ``method="auto"`` picks per potential cost."""
    from wgf.grids import make_grid, solve

    grid = make_grid(problem, space, cells, half_width)
    return solve(problem, grid, method="implicit" if grid.ndim <= 2 else "explicit")


def check_thm3():
    """WI start, invariant risk (DA): the full-space 4D flow stays WI."""
    h = _flow(base_problem(scheme="da", init="wi", noise="full"), "full", 6)
    return _row("thm3", "max WI defect, DA, 4D grid", h.trackers["wi_defect"].max(), 1e-12)


def check_thm3_control():
    """Control: vanilla with the arbitrary teacher (R not invariant) does leave the WI densities."""
    h = _flow(base_problem(scheme="vanilla", init="wi", noise="full"), "full", 6)
    return _row("thm3_control", "WI defect, vanilla, arbitrary teacher (must be large)", h.trackers["wi_defect"][-1],
                1e-3, ">=")


def check_thm4():
    """WI start: WGF(R^DA) = WGF(R^FA), and = WGF(R) for an equivariant pi."""
    da = _flow(base_problem(scheme="da", init="wi", noise="full"), "full", 6)
    fa = _flow(base_problem(scheme="fa", init="wi", noise="full"), "full", 6)
    van = _flow(base_problem("wi", scheme="vanilla", init="wi", noise="full"), "full", 6)
    dwi = _flow(base_problem("wi", scheme="da", init="wi", noise="full"), "full", 6)
    vol = da.grid.cell_volume
    gap = max(np.abs(da.density - fa.density).sum(axis=(1, 2, 3, 4)).max() * vol,
              np.abs(van.density - dwi.density).sum(axis=(1, 2, 3, 4)).max() * vol)
    return _row("thm4", "max L1 gap DA vs FA (and vanilla vs DA, WI teacher)", gap, 1e-12)


def check_thm5():
    """SI start, projected noise, arbitrary teacher: DA (orbit), FA and EA particles stay in E^G at finite N.

    (Vanilla stays in E^G only in the mean-field limit, and only for an equivariant pi.)
    """
    from wgf.particles import simulate

    worst = 0.0
    for scheme in ("da", "fa", "ea"):
        p = base_problem("arbitrary", scheme=scheme, init="si", noise="projected", t_end=5.0)
        traj = simulate(p, 200, 0, alpha=5.0)
        worst = max(worst, float(np.abs(traj.final - p.symmetry.project(traj.final)).max()))
    return _row("thm5", "max |theta - P_E theta|, DA/FA/EA particles", worst, 1e-12)


def check_thm5_control():
    """Control: vanilla with the arbitrary teacher leaves E^G at finite N (docs/theory.md §7.8)."""
    from wgf.particles import simulate

    p = base_problem("arbitrary", scheme="vanilla", init="si", noise="projected", t_end=5.0)
    traj = simulate(p, 200, 0, alpha=5.0)
    defect = float(np.abs(traj.final - p.symmetry.project(traj.final)).max())
    return _row("thm5_control", "max |theta - P_E theta|, vanilla (must be large)", defect, 1e-3, ">=")


def check_thm6():
    """SI start on E^G: WGF(R^DA) = WGF(R^FA) = WGF(R^EA)."""
    flows = [_flow(base_problem(scheme=s, init="si", noise="projected"), "fixed", 32) for s in ("da", "fa", "ea")]
    vol = flows[0].grid.cell_volume
    gap = max(np.abs(f.density - flows[0].density).sum(axis=(1, 2)).max() * vol for f in flows[1:])
    return _row("thm6", "max L1 gap DA/FA/EA flows on E^G", gap, 1e-12)


def check_mean_field_limit():
    """Particles -> PDE: the fitted log-log slope of mmd(nu^N, mu_t) is about -1/2."""
    from wgf.grids import make_grid, solve
    from wgf.particles import simulate
    from wgf.validation import as_measure, fit_rate, mmd

    p = base_problem("wi", scheme="vanilla", init="si", noise="projected", beta=1e-2, t_end=2.0, snapshots=2)
    h = solve(p, make_grid(p, "fixed", 48, 2.0))
    mu = as_measure(h, 1)
    ns = np.array([100, 400, 1600])
    vals = np.array([[mmd(simulate(p, n, s, alpha=5.0).final, mu, bandwidth=0.25) for s in range(4)]
                     for n in ns])
    fit = fit_rate(ns, vals)
    return _row("mf_limit", f"|slope + 1/2| of mmd vs N (slope {fit.slope:+.2f})", abs(fit.slope + 0.5), 0.15)


# ------------------------------------------------------------------ SO(2): a continuous group
ROTATION_TEACHER = np.array([[0.8, -0.3, 0.5, 0.2], [-0.4, 0.6, 0.1, 0.9], [0.3, 0.7, -0.6, 0.4]])


def rotation_problem(teacher: str = "arbitrary", **training):
    """2x2 gated units s(|W x|^2) W x (sigmoid) under SO(2) (16-point Haar quadrature), x ~ N(0, 1.5^2 I)."""
    from wgf.data import GaussianTeacherData, make_teacher
    from wgf.groups import rotation_group
    from wgf.problem import Problem
    from wgf.symmetry import Symmetry
    from wgf.units import make_unit

    unit = make_unit("gated_matrix", 2, 2)
    sym = Symmetry(unit, rotation_group(2, 2, 16))
    data = GaussianTeacherData(unit, make_teacher(teacher, ROTATION_TEACHER, sym), 1.5, 0.0, teacher)
    settings = dict(tau=1e-4, beta=1e-3, init_std=0.25, t_end=2.0, snapshots=3, quadrature_points=8)
    settings.update(training)
    return Problem(sym, data, **settings)


def check_so2_thm5():
    """SO(2): from an SI start with projected noise, DA (orbit), FA and EA particles stay in E^G."""
    from wgf.particles import simulate

    worst = 0.0
    for scheme in ("da", "fa", "ea"):
        p = rotation_problem("arbitrary", scheme=scheme, init="si", noise="projected")
        traj = simulate(p, 200, 0, alpha=5.0)
        worst = max(worst, float(np.abs(traj.final - p.symmetry.project(traj.final)).max()))
    return _row("so2_thm5", "max |theta - P_E theta|, DA/FA/EA particles, SO(2)", worst, 1e-12)


def check_so2_thm5_control():
    """Control: vanilla with an arbitrary teacher leaves E^G under SO(2)."""
    from wgf.particles import simulate

    p = rotation_problem("arbitrary", scheme="vanilla", init="si", noise="projected")
    traj = simulate(p, 200, 0, alpha=5.0)
    defect = float(np.abs(traj.final - p.symmetry.project(traj.final)).max())
    return _row("so2_thm5_control", "max |theta - P_E theta|, vanilla, SO(2) (must be large)", defect, 1e-3, ">=")


def check_so2_thm6():
    """SO(2), SI start on E^G: the DA and FA flows agree on the E^G grid."""
    flows = [_flow(rotation_problem(scheme=s, init="si", noise="projected"), "fixed", 32) for s in ("da", "fa")]
    gap = np.abs(flows[0].density - flows[1].density).sum(axis=(1, 2)).max() * flows[0].grid.cell_volume
    return _row("so2_thm6", "max L1 gap DA/FA flows on E^G, SO(2)", gap, 1e-12)


def check_so2_thm3():
    """SO(2), WI start, DA: the (interpolated) WI defect of the full-space flow falls as h is halved."""
    defects = []
    for cells in (8, 16):
        p = rotation_problem("si", scheme="da", init="wi", noise="full", t_end=0.2, snapshots=2)
        defects.append(_flow(p, "full", cells).trackers["wi_defect"].max())
    return _row("so2_thm3", f"WI defect ratio h -> h/2, DA, 4D grid ({defects[0]:.2g} -> {defects[1]:.2g})",
                defects[0] / defects[1], 2.0, ">=")


def check_so2_vanilla_limit():
    """SO(2), vanilla with an equivariant teacher: the particles approach E^G as N grows (SI start)."""
    from wgf.particles import simulate
    from wgf.validation import fit_rate

    p = rotation_problem("si", scheme="vanilla", init="si", noise="projected")
    ns = np.array([50, 200, 800])
    vals = np.array([[p.symmetry.si_defect(simulate(p, n, s, alpha=5.0).final) for s in range(3)] for n in ns])
    fit = fit_rate(ns, vals)
    return _row("so2_vanilla", f"slope of int |z - P_E z|^2 vs N, vanilla, equivariant teacher ({fit.slope:+.2f})",
                fit.slope, -0.5)


# ------------------------------------------------------------------ the hypotheses themselves
def _invariance_gaps():
    """DA with every loss under swap and SO(2) (the problems above; combinations refused at construction, such as
    logistic labels rotated off +-1, are skipped): (the problem, whether wgf calls its risk invariant,
    max_g |R(M_g#mu) - R(mu)| over the group's elements on a random cloud). DA's orbit of the data quadrature is
    invariant under those elements exactly, so an invariant loss gives round-off."""
    from wgf.functionals import risk
    from wgf.losses import LOSSES, make_loss

    z = np.random.default_rng(5).normal(scale=0.5, size=(20, 4))
    rows = []
    for make in (base_problem, rotation_problem):
        for loss in LOSSES:
            try:
                p = make(scheme="da", loss=make_loss(loss))
            except ValueError:
                continue
            base = risk(p, z)
            rows.append((p, p.risk_is_invariant, max(abs(risk(p, z @ m.T) - base) for m in p.symmetry.matrices)))
    return rows


def check_hypotheses():
    """Where wgf calls the risk invariant (Problem.hypotheses: DA, every loss under swap, squared under SO(2)),
    R(M_g#mu) = R(mu) to round-off."""
    rows = [(p, gap) for p, claimed, gap in _invariance_gaps() if claimed]
    return _row("hypotheses", f"max |R(M_g#mu) - R(mu)|, DA, {len(rows)} cases called invariant",
                max(gap for _, gap in rows), 1e-12)


def check_hypotheses_control():
    """Control: where wgf calls the risk NOT invariant (DA, huber loss under SO(2)), it is not."""
    rows = [(p, gap) for p, claimed, gap in _invariance_gaps() if not claimed]
    names = ", ".join(f"{p.loss.name}/{p.group.name}" for p, _ in rows)
    return _row("hypotheses_control", f"min |R(M_g#mu) - R(mu)|, DA {names}, called NOT invariant",
                min(gap for _, gap in rows), 1e-5, ">=")


# ------------------------------------------------------------------ optima: minimizers of the free energy
LINEAR_TEACHER = np.array([[0.8, -0.3]])
TANH_TEACHER = np.array([[1.5, -0.5]])
# the residual ||G(rho) - rho||_1 to which the optima are solved (wgf.grids.minimize_free_energy)
OPTIMUM_TOLERANCE = 1e-11
OPTIMUM_CELLS = 64


def neuron_problem(unit: str = "linear", teacher: str = "arbitrary", **training: Any) -> Problem:
    r"""One neuron :math:`s(\langle w, x \rangle)` (``make_unit(unit, 2, 1)``: D = 2, dim_y = 1) under swap, which
    exchanges :math:`x_1, x_2` and so :math:`w_1, w_2` (:math:`E^G = \mathrm{span}(1, 1)`), on
    :math:`X \sim \mathcal N(0, I_2)` (swap-invariant) with one teacher particle (``LINEAR_TEACHER`` = (0.8, -0.3)
    for ``linear``, ``TANH_TEACHER`` = (1.5, -0.5) for ``tanh_matrix``; ``teacher`` "wi" adds its swap image).

    ``linear``: :math:`\tau = 0.1`, :math:`\beta = 0.02`, 4 Gauss-Hermite points per axis (exact: the risk is
    quadratic), so that the Gibbs state's std :math:`\sqrt{\beta / 2\tau} = 0.32` is 4 cells of the 64^2 grid on
    :math:`[-2.5, 2.5]^2`, whose walls are 7 stds from its mean. ``tanh_matrix``: :math:`\tau = \beta = 10^{-3}`,
    12 points per axis, grid on :math:`[-3, 3]^2`."""
    from wgf.data import GaussianTeacherData, make_teacher
    from wgf.groups import swap_group
    from wgf.problem import Problem
    from wgf.symmetry import Symmetry
    from wgf.units import make_unit

    base = make_unit(unit, 2, 1)
    sym = Symmetry(base, swap_group(2, 1))
    particles = LINEAR_TEACHER if unit == "linear" else TANH_TEACHER
    data = GaussianTeacherData(base, make_teacher(teacher, particles, sym), 1.0, 0.0, teacher)
    settings = dict(tau=0.1, beta=0.02, quadrature_points=4) if unit == "linear" else \
        dict(tau=1e-3, beta=1e-3, quadrature_points=12)
    settings.update(training)
    return Problem(sym, data, **settings)


def neuron_box(problem: Problem) -> float:
    """The half width of the full-space grid of ``neuron_problem``: 2.5 for the linear unit, 3 for tanh."""
    return 2.5 if problem.base_unit.name == "linear" else 3.0


def optimum(problem: Problem, space: str = "full", cells: int = OPTIMUM_CELLS):
    r"""The minimizer of :math:`F_h` of a ``neuron_problem`` on its full-space grid (cells^2 on
    :math:`[-a, a]^2`, a = ``neuron_box``) or on :math:`E^G` (``space`` "fixed": cells on
    :math:`u \in [-\sqrt2 a, \sqrt2 a]`, the diagonal of that square; the problem is made SI, init "si" with
    projected noise), to ``OPTIMUM_TOLERANCE``. Returns (problem, grid, Minimizer)."""
    from wgf.grids import make_grid, minimize_free_energy

    half_width = neuron_box(problem)
    if space == "fixed":
        problem, half_width = problem.replace(init="si", noise="projected"), np.sqrt(2.0) * half_width
    grid = make_grid(problem, space, cells, half_width)
    return problem, grid, minimize_free_energy(problem, grid, OPTIMUM_TOLERANCE)


def optimum_wi_defect(grid, density, problem: Problem) -> float:
    """max_g ||rho o M_g - rho||_1 / ||rho||_1 of a density on a G-symmetric grid (the cell index maps of the
    group's matrices; ``NotSymmetricError`` if the grid is not mapped onto itself)."""
    from wgf.grids import wi_defect

    return wi_defect(density, [grid.index_map(m) for m in problem.symmetry.matrices[1:]])


def theorem2_optima() -> dict:
    r"""Thm 2 on the linear ``neuron_problem`` (arbitrary teacher, 64^2 full-space grid): the minimizers of
    :math:`F_h` for vanilla, DA and FA. Returns their L1 distance ``da_fa``, the WI defects ``wi_da``, ``wi_fa``,
    ``wi_vanilla``, ``f_da`` = :math:`F^{DA}_h(\rho_{DA})`, ``f_vanilla_at_da`` = :math:`F_h(\rho_{DA})` (vanilla's
    free energy at the DA minimizer), ``f_vanilla`` = :math:`F_h(\rho_{van})` (vanilla's minimum) and the largest
    ``residual`` of the three solves."""
    from wgf.grids import MeanFieldPotential

    p = neuron_problem("linear")
    out = {scheme: optimum(p.replace(scheme=scheme))[1:] for scheme in ("vanilla", "da", "fa")}
    grid = out["da"][0]  # one grid: the schemes share the problem's dimension and box
    vanilla, da, fa = (out[s][1] for s in ("vanilla", "da", "fa"))
    return dict(da_fa=float(da.distance(fa.density)), wi_da=optimum_wi_defect(grid, da.density, p),
                wi_fa=optimum_wi_defect(grid, fa.density, p), wi_vanilla=optimum_wi_defect(grid, vanilla.density, p),
                f_da=da.free_energy, f_vanilla_at_da=MeanFieldPotential(p, grid).free_energy(da.density)[0],
                f_vanilla=vanilla.free_energy, residual=max(b.residual for _, b in out.values()))


def check_thm2():
    """The minimizers of F^DA and F^FA coincide, are WI and attain vanilla's minimum over WI laws (linear unit)."""
    m = theorem2_optima()
    value = max(m["da_fa"], m["wi_da"], m["wi_fa"], abs(m["f_vanilla_at_da"] - m["f_da"]),
                max(m["f_vanilla"] - m["f_da"], 0.0))
    return _row("thm2", "max |rho_DA - rho_FA|_1, WI defects, |F_h(rho_DA) - F_h^DA(rho_DA)|, "
                        "(F_h(rho_van) - F_h^DA(rho_DA))_+, linear unit, 64^2", value, 1e-6)


def check_thm2_control():
    """Control: vanilla's own minimizer (arbitrary teacher) is not WI."""
    p = neuron_problem("linear")
    _, grid, best = optimum(p)
    return _row("thm2_control", "WI defect of vanilla's minimizer, linear unit (must be large)",
                optimum_wi_defect(grid, best.density, p), 1e-3, ">=")


# the factors of (tau, beta) at which Cor 1 is measured: the tanh neuron's 1e-3 times these
COROLLARY1_SCALES = (4.0, 2.0, 1.0)


def corollary1_distances(scheme: str = "da", scales=COROLLARY1_SCALES) -> np.ndarray:
    r""":math:`\big(\|\Phi - Q_G f_*\|_{L^2(\pi_X)},\ \|\Phi - f_*\|_{L^2(\pi_X)}\big)` (len(scales), 2) for the
    minimizers of the tanh ``neuron_problem`` (arbitrary teacher) with ``scheme`` at
    :math:`\tau = \beta = 10^{-3} s`, s in ``scales``: :math:`\Phi` the trained model's output (the scheme's unit)
    and :math:`Q_G f_*` (``Symmetry.symmetrize_function``) on the Gauss-Hermite nodes of :math:`\pi_X`."""
    from wgf.functionals import model

    out = []
    for s in scales:
        p = neuron_problem("tanh_matrix", scheme=scheme, tau=1e-3 * s, beta=1e-3 * s)
        _, grid, best = optimum(p)
        q = p.data.quadrature(p.quadrature_points)  # pi itself, not DA's orbit
        phi = model(p, grid.embed(grid.points), q.x, best.density.ravel() * grid.cell_volume)
        targets = (p.symmetry.symmetrize_function(p.data.labels)(q.x), p.data.labels(q.x))
        out.append([np.sqrt(np.dot(q.weights, ((phi - t) ** 2).sum(axis=1))) for t in targets])
    return np.asarray(out)


def check_cor1():
    """Squared loss, invariant pi_X: the DA and FA minimizers' outputs are closer to Q_G f_* than to f_*."""
    ratios = np.concatenate([(d[:, 0] / d[:, 1]) for d in map(corollary1_distances, ("da", "fa"))])
    return _row("cor1", "max ||Phi - Q_G f*|| / ||Phi - f*||, DA/FA minimizers, tanh neuron, tau = beta = 1e-3..4e-3",
                ratios.max(), 0.25)


def check_cor1_limit():
    """Cor 1 as beta, tau -> 0: the DA minimizer's distance to Q_G f_* shrinks each time they are halved."""
    d = corollary1_distances("da")[:, 0]
    steps = d[1:] / d[:-1]
    return _row("cor1_limit", "max ||Phi - Q_G f*|| ratio as tau = beta halves (" +
                " -> ".join(f"{v:.3g}" for v in d) + ")", steps.max(), 0.8)


def check_cor1_control():
    """Control: vanilla's minimizer (arbitrary teacher) is closer to f_* than to Q_G f_*."""
    d = corollary1_distances("vanilla", COROLLARY1_SCALES[-1:])[0]
    return _row("cor1_control", "||Phi - Q_G f*|| / ||Phi - f*||, vanilla minimizer (must be large)",
                d[0] / d[1], 1.0, ">=")


def subspace_risk_gap(unit: str) -> tuple[float, float, float]:
    r"""(:math:`R(\rho^*_{E^G}) - R(\rho^*_{\mathcal Z})`, :math:`R(\rho^*_{E^G})`, :math:`R(\rho^*_{\mathcal Z})`):
    the DA risks of the minimizers of :math:`F_h` on the :math:`E^G` grid and on the full-space grid of the
    ``neuron_problem`` ``unit`` (arbitrary teacher, the same :math:`\tau, \beta`). The minimizer over
    :math:`\mathcal Z` is WI (Thm 2), so this compares the SI and WI optima of Props 4-5; risks, not free
    energies, because the entropies live on spaces of different dimension."""
    p = neuron_problem(unit, scheme="da")
    on_fixed = optimum(p, "fixed")[2].risk
    on_full = optimum(p)[2].risk
    return on_fixed - on_full, on_fixed, on_full


def check_prop4():
    """E^G too poor: the tanh neuron's optimum on E^G has a larger risk than its optimum on Z."""
    gap, on_fixed, on_full = subspace_risk_gap("tanh_matrix")
    return _row("prop4", f"R(rho*_E) - R(rho*_Z), DA, tanh neuron ({on_fixed:.4f} - {on_full:.4f})",
                gap, 1e-2, ">=")


def check_prop5():
    """E^G rich enough: the linear neuron's optima on E^G and on Z have the same risk."""
    gap, on_fixed, on_full = subspace_risk_gap("linear")
    return _row("prop5", f"|R(rho*_E) - R(rho*_Z)|, DA, linear unit (R = {on_full:.4g})", abs(gap), 1e-12)


# ------------------------------------------------------------------ fluctuations (docs/theory.md §11)
# seeds of the fluctuation rows; their intervals are joint 95% ones (Bonferroni over the values compared)
FLUCTUATION_SEEDS = 100


def _linear_fluctuations(ns, batch, level):
    """The measured fluctuations of the mean of ``linear_fluctuation_problem`` at t_end over FLUCTUATION_SEEDS seeds
    for each N of ``ns``: [(N, FluctuationStatistics at t_end)]."""
    from wgf.validation.fluctuations import LINEAR_ALPHA, linear_fluctuation_problem, mean_fluctuations

    p = linear_fluctuation_problem()
    return p, [(n, mean_fluctuations(p, n, FLUCTUATION_SEEDS, alpha=LINEAR_ALPHA, batch=batch, level=level,
                                     times=[p.t_end])) for n in ns]


def check_fluct_linear():
    """Linear unit: the measured N Var of the particles' mean at N = 100 and 1000 lies in its interval around the
    exact discrete value (``linear_mean_moments``)."""
    from wgf.validation.fluctuations import LINEAR_ALPHA, LINEAR_BATCH, interval_score, linear_mean_moments

    level = 1.0 - 0.05 / 4  # 2 N x 2 coordinates
    p, measured = _linear_fluctuations((100, 1000), LINEAR_BATCH, level)
    scores = [interval_score(m, linear_mean_moments(p, n, [p.t_end], alpha=LINEAR_ALPHA, batch=LINEAR_BATCH)
                             .n_var)[0] for n, m in measured]
    text = ", ".join(f"N = {n}: {m.n_var[0, 0]:.3g} [{m.n_var_low[0, 0]:.3g}, {m.n_var_high[0, 0]:.3g}]"
                     for n, m in measured)
    return _row("fluct_linear", f"N Var of the mean vs the exact recursion, in units of the interval ({text})",
                np.max(scores), 1.0)


def check_fluct_linear_limit():
    """Linear unit: the exact discrete N Cov of the mean at N = 1000 is within 10% of its limit Sigma(t_end)."""
    from wgf.validation.fluctuations import (LINEAR_ALPHA, LINEAR_BATCH, linear_fluctuation_problem,
                                             linear_mean_limit, linear_mean_moments)

    p = linear_fluctuation_problem()
    exact = linear_mean_moments(p, 1000, [p.t_end], alpha=LINEAR_ALPHA, batch=LINEAR_BATCH).n_var[-1]
    limit = linear_mean_limit(p, [p.t_end], alpha=LINEAR_ALPHA, batch=LINEAR_BATCH).n_var[-1]
    return _row("fluct_linear_limit", f"max |N Var(N = 1000) / Sigma(t_end) - 1| (Sigma diag "
                f"{', '.join(f'{v:.3g}' for v in limit)})", np.max(np.abs(exact / limit - 1.0)), 0.1)


def check_fluct_batch_control():
    """Control: without its mini-batch term the exact prediction falls outside the measured interval (B = 2)."""
    from wgf.validation.fluctuations import CONTROL_BATCH, LINEAR_ALPHA, interval_score, linear_mean_moments

    level = 1.0 - 0.05 / 2  # 2 coordinates
    p, [(n, m)] = _linear_fluctuations((1000,), CONTROL_BATCH, level)
    without = linear_mean_moments(p, n, [p.t_end], alpha=LINEAR_ALPHA, batch=CONTROL_BATCH, minibatch=False).n_var
    return _row("fluct_batch_control", f"N Var without the mini-batch term ({without[0, 0]:.3g}) vs measured "
                f"({m.n_var[0, 0]:.3g}), in units of the interval (must be large)",
                np.min(interval_score(m, without)[0]), 1.0, ">=")


CHECKS = {
    "prop1": check_prop1,
    "prop2": check_prop2,
    "prop2_control": check_prop2_control,
    "thm2": check_thm2,
    "thm2_control": check_thm2_control,
    "cor1": check_cor1,
    "cor1_limit": check_cor1_limit,
    "cor1_control": check_cor1_control,
    "prop4": check_prop4,
    "prop5": check_prop5,
    "thm3": check_thm3,
    "thm3_control": check_thm3_control,
    "thm4": check_thm4,
    "thm5": check_thm5,
    "thm5_control": check_thm5_control,
    "thm6": check_thm6,
    "mf_limit": check_mean_field_limit,
    "so2_thm3": check_so2_thm3,
    "so2_thm5": check_so2_thm5,
    "so2_thm5_control": check_so2_thm5_control,
    "so2_thm6": check_so2_thm6,
    "so2_vanilla": check_so2_vanilla_limit,
    "hypotheses": check_hypotheses,
    "hypotheses_control": check_hypotheses_control,
    "fluct_linear": check_fluct_linear,
    "fluct_linear_limit": check_fluct_linear_limit,
    "fluct_batch_control": check_fluct_batch_control,
}


def run_checks(names: Iterable[str] | None = None,
               on_result: Callable[[Check], object] | None = None) -> list[Check]:
    """Run the named checks (all by default) in order; on_result(check) after each.

    The solver's resolution warnings are silenced meanwhile: the checks measure
    identities that hold to round-off at any resolution, on deliberately small grids.
    """
    import logging

    logger = logging.getLogger("wgf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    rows = []
    try:
        for name in names or CHECKS:
            row = CHECKS[name]()
            rows.append(row)
            if on_result is not None:
                on_result(row)
    finally:
        logger.setLevel(level)
    return rows
