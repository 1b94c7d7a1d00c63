"""The diagnostics of a particle run, defined once for ``wgf run`` and ``wgf sweep`` (docs/theory.md §6).

``DIAGNOSTICS`` names each one: its function of (problem, positions), the variable it is written as
(``wgf.schema``) and whether it needs exact optimal transport (then ``wi_skipped`` says whether it is
computed for N particles under a group of order |G|, and why not). ``measure`` computes the ones asked
for at one time of one run and raises ``wgf.particles.BlowUpError`` when one is not finite: nothing
non-finite is ever written.

    risk            R(nu) of the scheme,
    si_rmd2         RMD^2(nu, P_E#nu)   (0 iff nu lives on E^G),
    wi_rmd2         RMD^2(nu, nu^G)     (0 iff nu is weakly invariant; exact OT between N and |G| N points),
    second_moment   (1/N) sum_i z_id^2 per coordinate d; its sum over d, (1/N) sum_i |z_i|^2, is a sweep's m2.

``wgf.runner.particle_job`` measures them at every snapshot and along the trace, ``wgf.sweep.sweep_job``
at the end of training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from wgf import schema

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from wgf.problem import Problem

__all__ = ["Diagnostic", "DIAGNOSTICS", "SWEEP_DIAGNOSTICS", "TRACE_OT_MAX_PAIRS", "KINDS", "ot_limit", "wi_skipped",
           "wi_skipped_note", "second_moment", "check_finite", "measure"]

# the trace takes WI RMD^2 by exact OT only up to this many pairs (0.1 s per record); the snapshots and the end
# of a sweep's run up to wgf.validation.EXACT_OT_MAX_PAIRS
TRACE_OT_MAX_PAIRS = 1_000_000
# where a run is measured: at its snapshots, along its trace, at the end of a sweep's run
KINDS = ("snapshot", "trace", "end")


def _risk(problem, theta):
    from wgf.functionals import risk

    return risk(problem, theta)


def _si_rmd2(problem, theta):
    from wgf.validation import si_rmd2

    return si_rmd2(problem.symmetry, theta)


def _wi_rmd2(problem, theta):
    from wgf.validation import wi_rmd2

    return wi_rmd2(problem.symmetry, theta)


def second_moment(theta: np.ndarray, *, total: bool = False) -> np.ndarray | float:
    """(1/N) sum_i z_id^2 per coordinate d (D,), or with ``total`` its sum over d, (1/N) sum_i |z_i|^2 (a float)."""
    n = len(theta)
    if total:
        return float(np.einsum("nd,nd->", theta, theta) / n)
    return np.einsum("nd,nd->d", theta, theta) / n


@dataclass(frozen=True)
class Diagnostic:
    """A named diagnostic: ``function(problem, theta, total)`` of the positions theta (N, D), the variable it
    is written as in the trace (``wgf.schema``), and whether it needs exact OT between N and |G| N points
    (``wi_skipped``). ``total``: the one number a sweep keeps (the same value for a scalar diagnostic)."""

    name: str
    function: Callable
    variable: schema.Variable
    exact_ot: bool = False


DIAGNOSTICS = {d.name: d for d in (
    Diagnostic("risk", lambda problem, theta, total: _risk(problem, theta), schema.TRACE_VARIABLES["risk"]),
    Diagnostic("si_rmd2", lambda problem, theta, total: _si_rmd2(problem, theta), schema.TRACE_VARIABLES["si_rmd2"]),
    Diagnostic("wi_rmd2", lambda problem, theta, total: _wi_rmd2(problem, theta), schema.TRACE_VARIABLES["wi_rmd2"],
               exact_ot=True),
    Diagnostic("second_moment", lambda problem, theta, total: second_moment(theta, total=total),
               schema.TRACE_VARIABLES["second_moment"]),
)}
# the variables of /sweep (wgf.schema.SWEEP_QUANTITIES) and the diagnostic each one is (its total)
SWEEP_DIAGNOSTICS = {"risk": "risk", "si_rmd2": "si_rmd2", "wi_rmd2": "wi_rmd2", "m2": "second_moment"}


def ot_limit(kind: str) -> int:
    """The most pairs exact OT may take where a run is measured (``KINDS``): TRACE_OT_MAX_PAIRS along the
    trace, ``wgf.validation.EXACT_OT_MAX_PAIRS`` at snapshots and at the end of a sweep's run."""
    import wgf.validation

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return TRACE_OT_MAX_PAIRS if kind == "trace" else wgf.validation.EXACT_OT_MAX_PAIRS


def wi_skipped(n: int, order: int, kind: str) -> str | None:
    """Why wi_rmd2 (exact OT between N and |G| N points, N^2 |G| pairs) is not computed for ``n`` particles
    under a group of ``order`` where a run is measured (``kind`` in ``KINDS``); None when it is."""
    limit = ot_limit(kind)
    if n * n * order <= limit:
        return None
    return f"exact OT between {n} and {n * order} points exceeds the limit of {limit} pairs"


# where a run is measured, as the note of ``wi_skipped_note`` says it
_WHERE = {"snapshot": "at the snapshots", "trace": "along the trace", "end": "at the end of training"}


def wi_skipped_note(ns: Iterable[int], order: int, kinds: Iterable[str] = ("snapshot", "trace")) -> str | None:
    """One line saying where wi_rmd2 = RMD^2(nu, nu^G) is not computed for the particle counts ``ns`` under a
    group of ``order`` (``wi_skipped`` per kind of ``KINDS``) and why: exact OT between N and |G| N points
    takes N^2 |G| pairs, more than the limit of that kind (``ot_limit``). None when it is computed everywhere."""
    parts = []
    for kind in kinds:
        skipped = [int(n) for n in ns if wi_skipped(int(n), order, kind)]
        if skipped:
            parts.append(f"{_WHERE[kind]} for N = {', '.join(map(str, skipped))} (limit {ot_limit(kind):.3g} pairs)")
    if not parts:
        return None
    return (f"wi_rmd2 skipped {' and '.join(parts)}: exact OT between N and |G| N points takes N^2 |G| pairs "
            f"(|G| = {order})")


def check_finite(values: dict, *, t: float, n: int, seed: int) -> None:
    """Raise ``wgf.particles.BlowUpError`` naming the first of ``values`` (None is skipped) that is not finite."""
    for name, value in values.items():
        if value is not None and not np.all(np.isfinite(value)):
            from wgf.particles import BlowUpError

            what = {"risk": "the risk", "positions": "the positions"}.get(name, name)
            raise BlowUpError(f"{what} became non-finite at t = {t:.6g} (N = {n}, seed = {seed}): "
                              "reduce alpha/step or the data scale")


def measure(problem: Problem, theta: np.ndarray, *, kind: str, t: float, seed: int,
            names: Iterable[str] = tuple(DIAGNOSTICS), total: bool = False) -> dict:
    """The diagnostics ``names`` of the positions theta (N, D) of one run at time ``t``: {name: value}, None for
    one that needs exact OT beyond the limit of ``kind`` (``wi_skipped``); ``total`` gives each as one number
    (second_moment summed over coordinates). Raises BlowUpError when a value or the positions are not finite."""
    n = len(theta)
    check_finite({"positions": theta}, t=t, n=n, seed=seed)
    values = {}
    for name in names:
        d = DIAGNOSTICS[name]
        values[name] = None if d.exact_ot and wi_skipped(n, problem.group.order, kind) else d.function(problem, theta,
                                                                                                      total)
    check_finite(values, t=t, n=n, seed=seed)
    return values
