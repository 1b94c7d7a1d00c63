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


def check_prop2():
    """R^DA = mean_g R(M_g#mu), R^FA = R(mu^G), R^EA = R(mu^E)."""
    from wgf.functionals import risk

    p = base_problem()
    sym = p.symmetry
    z = np.random.default_rng(2).normal(scale=0.5, size=(30, p.dim))
    r = lambda q, zz: risk(q, zz)  # noqa: E731
    van = p.replace(scheme="vanilla")
    gaps = [
        abs(r(p.replace(scheme="da"), z) - np.mean([r(van, zg) for zg in sym.orbit(z)])),
        abs(r(p.replace(scheme="fa"), z) - r(van, sym.symmetrize(z))),
        abs(r(p.replace(scheme="ea"), z) - r(van, sym.project(z))),
    ]
    return _row("prop2", "max relative gap DA/FA/EA risks", max(gaps) / r(van, z), 1e-12)


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


CHECKS = {
    "prop1": check_prop1,
    "prop2": check_prop2,
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
