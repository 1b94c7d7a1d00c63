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

Exact zeros are not computed: when E^G = Z (every M_g is the identity on Z, as for the trivial group) nu^G = nu and
P_E#nu = nu, so wi_rmd2 and si_rmd2 are 0 by definition and written as 0.0 (``exact_zero``).

The trace is kept within a budget (docs/outputs.md, "The diagnostics budget"): by default its records cost at most
``DIAGNOSTICS_SHARE`` of the run's SGD time, by the cost model ``diagnostic_seconds`` (seconds per evaluation) against
``sgd_step_seconds``; ``trace_every`` gives the steps between records, ``wi_skipped`` whether exact OT is taken.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from wgf import schema

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from wgf.problem import Problem
    from wgf.settings import ParticleSettings

__all__ = ["Diagnostic", "DIAGNOSTICS", "SWEEP_DIAGNOSTICS", "TRACE_OT_MAX_PAIRS", "KINDS", "ot_limit", "wi_skipped",
           "wi_skipped_note", "second_moment", "check_finite", "measure", "exact_zero", "DIAGNOSTICS_SHARE",
           "diagnostic_seconds", "ot_seconds", "sgd_step_seconds", "trace_every", "trace_names", "trace_share", "trace_wi_skipped", "wi_snapshots_only",
           "RECORD_SECONDS"]

# the trace takes WI RMD^2 by exact OT only up to this many pairs (0.1 s per record) and within its budget
# (trace_wi_skipped); the snapshots and the end of a sweep's run up to wgf.validation.SPARSE_OT_MAX_PAIRS, the
# pairs of the certified sparse solver (wgf.validation.wi_rmd2_cost), which no N <= 1e5 with |G| <= 16 reaches
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
    """The most pairs exact OT (``wgf.validation.wi_rmd2_cost``: N^2 |G| dense, or the sparse solver's candidate
    pairs) may take where a run is measured (``KINDS``): TRACE_OT_MAX_PAIRS along the trace,
    ``wgf.validation.SPARSE_OT_MAX_PAIRS`` at snapshots and at the end of a sweep's run."""
    import wgf.validation

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return TRACE_OT_MAX_PAIRS if kind == "trace" else wgf.validation.SPARSE_OT_MAX_PAIRS


def exact_zero(name: str, problem: Problem) -> bool:
    """Whether the diagnostic ``name`` is 0 by definition for ``problem``: wi_rmd2 and si_rmd2 when E^G = Z
    (dim E^G = D: every M_g is the identity on Z, so nu^G = nu and P_E#nu = nu). Such a value is written as 0.0
    without being computed."""
    return name in ("wi_rmd2", "si_rmd2") and problem.symmetry.dim_fixed == problem.dim


# the share of a run's SGD time the diagnostics trace may cost by default (docs/outputs.md, "The diagnostics budget")
DIAGNOSTICS_SHARE = 0.2
# the cost model of one evaluation of a diagnostic (seconds, 2 cores, measured at N = 100 and 1000 on the linear
# unit by benchmarks/diagnostics.py): a fixed cost per call plus TERM_SECONDS per (particle, term), exact OT's cost
# per pair (wgf.validation.wi_rmd2_cost), and RECORD_SECONDS per trace record (the SGD loop stops there: the
# finiteness checks, the calls)
CALL_SECONDS = {"risk": 1e-4, "si_rmd2": 4e-5, "wi_rmd2": 2e-4, "second_moment": 1e-5}
RECORD_SECONDS = 2.5e-4
TERM_SECONDS = 2e-10


def ot_seconds(n: int, order: int) -> float:
    """Estimated seconds of wi_rmd2 by exact OT between N = ``n`` and |G| N points: a call plus the expected
    time of ``wgf.validation.wi_rmd2_cost`` (dense or the certified sparse solver), the cost ``wi_skipped``
    weighs against the trace's budget."""
    from wgf.validation import wi_rmd2_cost

    return CALL_SECONDS["wi_rmd2"] + wi_rmd2_cost(n, order).seconds


def diagnostic_seconds(name: str, problem: Problem, n: int) -> float:
    """Estimated seconds of one evaluation of the diagnostic ``name`` at N = ``n`` (0 for an ``exact_zero``):
    risk N Q D dy terms (the model at the Q quadrature nodes), si_rmd2 N D^2, second_moment N D, wi_rmd2
    ``ot_seconds``."""
    if exact_zero(name, problem):
        return 0.0
    if name == "wi_rmd2":
        return ot_seconds(n, problem.group.order)
    dim = problem.dim
    terms = {"risk": len(problem.quadrature.weights) * dim * problem.base_unit.dim_y, "si_rmd2": dim * dim,
             "second_moment": dim}[name]
    return CALL_SECONDS[name] + TERM_SECONDS * float(n) * terms


def sgd_step_seconds(problem: Problem, n: int, batch: int) -> float:
    """Estimated seconds of one SGD step at N = ``n`` with minibatches of ``batch`` (``wgf.plan.PARTICLE_SECONDS``
    per particle, sample of the scheme's batch and parameter)."""
    from wgf.plan import step_seconds

    return step_seconds(problem, n, batch)


def _steps(problem: Problem, settings: ParticleSettings, n: int) -> int:
    """The SGD steps of an N-particle run (the last snapshot's step)."""
    return max(1, round(problem.t_end / settings.eps(n)))


def wi_skipped(problem: Problem, n: int, kind: str, *, budget: float | None = None) -> str | None:
    """Why wi_rmd2 (exact OT between N and |G| N points, ``wgf.validation.wi_rmd2_cost``) is not computed for
    ``n`` particles of ``problem`` where a run is measured (``kind`` in ``KINDS``); None when it is, or when it
    is an ``exact_zero``.

    The one skip decision for exact OT: beyond the pair limit of ``kind`` (``ot_limit``), or, given ``budget``
    (seconds per trace record), when its estimated cost ``ot_seconds`` exceeds it."""
    from wgf.validation import wi_rmd2_cost

    order = problem.group.order
    limit = ot_limit(kind)
    if exact_zero("wi_rmd2", problem):
        return None
    if wi_rmd2_cost(n, order).pairs > limit:
        return f"exact OT between {n} and {n * order} points exceeds the limit of {limit} pairs"
    if budget is not None and ot_seconds(n, order) > budget:
        return (f"exact OT between {n} and {n * order} points (about {ot_seconds(n, order):.2g} s) exceeds the "
                f"trace's budget of {budget:.2g} s per record ({DIAGNOSTICS_SHARE:.0%} of the SGD time between "
                "records)")
    return None


def _trace_cost(problem: Problem, n: int, names, *, record: bool = True) -> float:
    """Estimated seconds of one trace record (``record``) or snapshot measuring ``names``."""
    return RECORD_SECONDS * record + sum(diagnostic_seconds(k, problem, n) for k in names)


_CHEAP = ("risk", "si_rmd2", "second_moment")


def trace_every(problem: Problem, settings: ParticleSettings, n: int) -> int:
    """SGD steps between two records of the diagnostics trace of an N-particle run: [particles] record_every when
    given, else the larger of ceil(K / DEFAULT_RECORDS) (K steps: at most DEFAULT_RECORDS + 1 records) and the
    fewest steps whose SGD time pays for one record of risk, si_rmd2 and second_moment within DIAGNOSTICS_SHARE
    (RECORD_SECONDS and ``diagnostic_seconds`` against ``sgd_step_seconds``)."""
    from wgf.particles import DEFAULT_RECORDS

    if settings.record_every is not None:
        return int(settings.record_every)
    steps = _steps(problem, settings, n)
    cost = _trace_cost(problem, n, _CHEAP)
    paid = math.ceil(cost / (DIAGNOSTICS_SHARE * sgd_step_seconds(problem, n, settings.batch)))
    return max(1, -(-steps // DEFAULT_RECORDS), paid)


def trace_wi_skipped(problem: Problem, settings: ParticleSettings, n: int) -> str | None:
    """Why wi_rmd2 is not taken along the trace of an N-particle run (``wi_skipped`` with the budget left by
    the other diagnostics in the SGD time between two records, ``trace_every``; without a budget when [particles]
    record_every is given); None when it is."""
    if settings.record_every is not None:
        return wi_skipped(problem, n, "trace")
    every = trace_every(problem, settings, n)
    budget = DIAGNOSTICS_SHARE * every * sgd_step_seconds(problem, n, settings.batch) - _trace_cost(problem, n, _CHEAP)
    return wi_skipped(problem, n, "trace", budget=max(budget, 0.0))


def wi_snapshots_only(problem: Problem, settings: ParticleSettings, n: int) -> bool:
    """Whether the trace's budget alone keeps exact OT to the snapshots of an N-particle run: the snapshots take
    wi_rmd2, the trace could without a budget, but ``trace_wi_skipped`` leaves it out (by design: the trace group
    says ``wi_rmd2_snapshots_only``, not a skip; docs/outputs.md, "The diagnostics budget")."""
    return bool(trace_wi_skipped(problem, settings, n) and not wi_skipped(problem, n, "snapshot")
                and not wi_skipped(problem, n, "trace"))


def trace_names(problem: Problem, settings: ParticleSettings, n: int) -> tuple[str, ...]:
    """The diagnostics computed along the trace of an N-particle run: all but wi_rmd2 when ``trace_wi_skipped``."""
    return tuple(k for k in schema.TRACE_VARIABLES if k != "wi_rmd2" or not trace_wi_skipped(problem, settings, n))


def trace_share(problem: Problem, settings: ParticleSettings, n: int, *, snapshots: bool = True) -> float:
    """The estimated cost of the diagnostics of one N-particle run as a share of its SGD time: the trace's
    records (``trace_every``, ``trace_names``; those at a snapshot are shared with it) and, with ``snapshots``,
    the snapshots' risk, si_rmd2 and wi_rmd2 (exact OT up to ``ot_limit``)."""
    steps = _steps(problem, settings, n)
    every = trace_every(problem, settings, n)
    records = max(0, math.ceil(steps / every) - 1)  # the records between the first and the last snapshot
    cost = records * _trace_cost(problem, n, trace_names(problem, settings, n))
    if snapshots:
        names = ["risk", "si_rmd2"] + ([] if wi_skipped(problem, n, "snapshot") else ["wi_rmd2"])
        cost += problem.snapshots * _trace_cost(problem, n, names, record=False)
    return cost / (steps * sgd_step_seconds(problem, n, settings.batch))


# where a run is measured, as the note of ``wi_skipped_note`` says it
_WHERE = {"snapshot": "at the snapshots", "trace": "along the trace", "end": "at the end of training"}


def wi_skipped_note(problem: Problem, skipped: dict) -> str | None:
    """One line saying where wi_rmd2 = RMD^2(nu, nu^G) is not computed and why: ``skipped`` is {kind: {N: why}}
    (``wi_skipped`` per kind of ``KINDS`` and particle count, None where it is computed). None when it is
    computed everywhere."""
    parts = []
    for kind, whys in skipped.items():
        ns = [int(n) for n, why in whys.items() if why]
        if ns:
            reason = " or ".join(sorted({"beyond the trace's budget" if "budget" in w else f"limit {ot_limit(kind):.3g} pairs"
                                         for w in whys.values() if w}))
            parts.append(f"{_WHERE[kind]} for N = {', '.join(map(str, ns))} ({reason})")
    if not parts:
        return None
    return (f"wi_rmd2 skipped {' and '.join(parts)}: exact OT between N and |G| N points "
            f"(|G| = {problem.group.order}; wgf.validation.wi_rmd2_cost)")


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
    """The diagnostics ``names`` of the positions theta (N, D) of one run at time ``t``: {name: value}, 0.0 for an
    ``exact_zero`` (not computed), None for one that needs exact OT beyond the limit of ``kind`` (``wi_skipped``); ``total`` gives each as one number
    (second_moment summed over coordinates). Raises BlowUpError when a value or the positions are not finite."""
    n = len(theta)
    check_finite({"positions": theta}, t=t, n=n, seed=seed)
    values = {}
    for name in names:
        d = DIAGNOSTICS[name]
        if exact_zero(name, problem):
            values[name] = 0.0
        elif d.exact_ot and wi_skipped(problem, n, kind):
            values[name] = None
        else:
            values[name] = d.function(problem, theta, total)
    check_finite(values, t=t, n=n, seed=seed)
    return values
