"""The results schema (wgf.schema) is what the files hold and what docs/outputs.md shows; the diagnostics
(wgf.diagnostics) are defined once for runs and sweeps."""

from dataclasses import replace

import h5py
import numpy as np
import pytest

from _common import SWAP_PROBLEM, swap_config
from wgf import diagnostics, parse_config, schema
from wgf.particles import BlowUpError

SMALL = SWAP_PROBLEM + """[training]
beta = 1e-3
init = "si"
noise = "projected"
t_end = 0.5
snapshots = 2
[pde]
space = "fixed"
cells = 8
half_width = 2.0
[particles]
n = [8]
seeds = 1
alpha = 4.0
batch = 5
record_every = 1
[compare]
metrics = ["mmd"]
"""


def test_docs_outputs_tables_are_the_schema():
    assert schema.docs_drift() == [], "run: python -m wgf.schema --write-docs"


def test_docs_drift_is_detected(tmp_path):
    text = schema.DOCS.read_text(encoding="utf-8")
    changed = tmp_path / "outputs.md"
    changed.write_text(text.replace("| `second_moment` |", "| `m2_per_coordinate` |"), encoding="utf-8")
    assert schema.docs_drift(changed) == ["trace"]
    assert schema.main(["--check-docs", str(changed)]) == 1
    assert schema.write_docs(changed) and schema.docs_drift(changed) == []
    (tmp_path / "bare.md").write_text("no markers\n", encoding="utf-8")
    assert "pde (no markers)" in schema.docs_drift(tmp_path / "bare.md")


def _dims(ds):
    if ds.is_scale:  # a coordinate is its own dimension
        return (ds.name.rsplit("/", 1)[-1],)
    return tuple(ds.dims[i][0].name.rsplit("/", 1)[-1] if len(ds.dims[i]) else None for i in range(ds.ndim))


def _check_group(group, expected):
    """Every array of ``group`` is one of ``expected`` ({name: Variable}) and the other way round, with its
    long_name, units and dimension names."""
    arrays = {k for k, v in group.items() if isinstance(v, h5py.Dataset)}
    assert arrays == set(expected), group.name
    for name, var in expected.items():
        ds = group[name]
        assert ds.attrs["long_name"] == var.long_name, f"{group.name}/{name}"
        assert ds.attrs["units"] == var.units, f"{group.name}/{name}"
        assert _dims(ds) == var.dims, f"{group.name}/{name}"


@pytest.fixture(scope="module")
def run_file(tmp_path_factory):
    from wgf.runner import run_experiment

    return run_experiment(parse_config(SMALL), tmp_path_factory.mktemp("schema") / "r.h5", quiet=True)


def test_a_run_writes_exactly_the_schema(run_file):
    with h5py.File(run_file) as f:
        assert set(f) == {schema.PDE, schema.PARTICLES, schema.COMPARE}
        m = f["pde/basis"].shape[1]
        pde = {**{v.name: v for v in (schema.PDE_COORDINATES[k] for k in ("time", "parameter", "axis"))},
               **{f"u{k}": schema.PDE_COORDINATES["u{k}"].format(k=k) for k in range(m)},
               **schema.PDE_VARIABLES}
        pde["density"] = replace(pde["density"], dims=("time", *(f"u{k}" for k in range(m))))
        _check_group(f[schema.PDE], pde)
        assert set(f[schema.PARTICLES]) == {"N8"}
        _check_group(f[schema.particles_path(8)], {**schema.PARTICLE_COORDINATES, **schema.PARTICLE_VARIABLES})
        _check_group(f[schema.trace_path(8)], {**schema.TRACE_COORDINATES, **schema.TRACE_VARIABLES})
        _check_group(f[schema.COMPARE], {**schema.COMPARE_COORDINATES,
                                         "mmd": schema.COMPARE_VARIABLES["{metric}"].format(metric="mmd"),
                                         "mmd_sup": schema.COMPARE_VARIABLES["{metric}_sup"].format(metric="mmd")})
        diag = schema.read_diagnostics(f, 8)
        np.testing.assert_array_equal(diag["risk"], f[schema.trace_path(8)]["risk"][()])
        assert set(diag) == {"time", *schema.TRACE_VARIABLES}
        assert schema.particle_counts(f) == [8]


def test_a_sweep_writes_exactly_the_schema(tmp_path):
    from wgf.sweep import Sweep, run_sweep

    out = run_sweep(Sweep.build(swap_config(n=(8,), seeds=1).replace("t_end = 2.0", "t_end = 1.0"),
                                ["training.init+training.noise=si+projected,wi+full"]), tmp_path / "s.h5",
                    progress=False)
    with h5py.File(out) as f:
        keys = ("N", "init")
        expected = {"N": schema.SWEEP_COORDINATES["{key}"].format(key="N", config_key="particles.n"),
                    "init": schema.SWEEP_COORDINATES["{key}"].format(key="init", config_key="training.init"),
                    "seed": schema.SWEEP_COORDINATES["seed"],
                    "noise": schema.SWEEP_VARIABLES["{key}"].format(key="noise", first_key="init",
                                                                    config_key="training.noise",
                                                                    first_config_key="training.init")}
        for name in (*schema.SWEEP_QUANTITIES, "status"):
            expected[name] = replace(schema.SWEEP_VARIABLES[name], dims=(*keys, "seed"))
        _check_group(f[schema.SWEEP], expected)
    ds = schema.read_sweep(out)
    assert set(ds.data_vars) == {*schema.SWEEP_QUANTITIES, "status"} and "noise" in ds.coords


def test_discovery_writes_exactly_the_schema(tmp_path):
    from wgf.discovery import Discovery, DiscoveryRound
    from wgf.io import ResultsFile

    basis = np.eye(3)[:, :1]
    rounds = [DiscoveryRound(dim=0, rmd2=0.3, threshold=0.01, direction=np.array([1.0, 0.0, 0.0]), principal=False,
                             mean_ratio=0.9, seconds=0.1),
              DiscoveryRound(dim=1, rmd2=1e-12, threshold=0.01, direction=None, principal=False, mean_ratio=np.nan,
                             seconds=0.1)]
    with ResultsFile(tmp_path / "d.h5") as out:
        Discovery(basis, rounds).write(out, np.eye(3)[:, :2])
    with h5py.File(tmp_path / "d.h5") as f:
        _check_group(f[schema.DISCOVERY], {**schema.DISCOVERY_COORDINATES, **schema.DISCOVERY_VARIABLES})


def test_one_exact_ot_guard():
    from wgf.validation import SPARSE_OT_MAX_PAIRS, wi_rmd2_cost

    problem = parse_config(swap_config(n=(8,), seeds=1)).problem  # |G| = 2, E^G a line of Z
    assert diagnostics.wi_skipped(problem, 10, "snapshot") is None
    assert diagnostics.wi_skipped(problem, 10, "end") is None
    n = 40_000  # the sparse solver's candidate pairs, about 26 N at |G| = 2, pass the trace's limit
    assert wi_rmd2_cost(n, 2).pairs > diagnostics.TRACE_OT_MAX_PAIRS > wi_rmd2_cost(n // 2, 2).pairs
    assert diagnostics.wi_skipped(problem, n // 2, "trace") is None
    assert diagnostics.wi_skipped(problem, n, "snapshot") is None
    assert diagnostics.wi_skipped(problem, n, "trace") == (f"exact OT between {n} and {2 * n} points exceeds the "
                                                           f"limit of {diagnostics.TRACE_OT_MAX_PAIRS} pairs")
    # the sparse solver's pairs grow like N |G|: N = 1e5 fits at snapshots, N = 2e6 does not
    assert diagnostics.wi_skipped(problem, 100_000, "snapshot") is None
    assert wi_rmd2_cost(2_000_000, 2).pairs > SPARSE_OT_MAX_PAIRS
    assert "exceeds the limit" in diagnostics.wi_skipped(problem, 2_000_000, "end")
    # the budget: a call plus the solver's expected time
    cost = diagnostics.ot_seconds(10, 2)
    assert cost == pytest.approx(diagnostics.CALL_SECONDS["wi_rmd2"] + wi_rmd2_cost(10, 2).seconds, rel=1e-14)
    assert diagnostics.wi_skipped(problem, 10, "trace", budget=cost) is None
    assert "exceeds the trace's budget" in diagnostics.wi_skipped(problem, 10, "trace", budget=0.99 * cost)
    with pytest.raises(ValueError, match="kind"):
        diagnostics.ot_limit("sometimes")


def test_exact_zeros_are_written_without_being_computed(monkeypatch):
    """E^G = Z (the trivial group): wi_rmd2 and si_rmd2 are 0.0 exactly, at any N (no OT limit), and their functions
    are not called; a group with E^G a line computes both."""
    trivial = parse_config(swap_config(n=(8,), seeds=1).replace('name = "swap"', 'name = "trivial"')).problem
    swap = parse_config(swap_config(n=(8,), seeds=1)).problem
    assert [diagnostics.exact_zero(k, trivial) for k in ("wi_rmd2", "si_rmd2", "risk")] == [True, True, False]
    assert not diagnostics.exact_zero("wi_rmd2", swap) and not diagnostics.exact_zero("si_rmd2", swap)
    assert diagnostics.diagnostic_seconds("wi_rmd2", trivial, 10 ** 6) == 0.0
    theta = np.random.default_rng(0).normal(size=(8, trivial.dim))
    monkeypatch.setitem(diagnostics.DIAGNOSTICS, "wi_rmd2", replace(diagnostics.DIAGNOSTICS["wi_rmd2"], function=None))
    monkeypatch.setitem(diagnostics.DIAGNOSTICS, "si_rmd2", replace(diagnostics.DIAGNOSTICS["si_rmd2"], function=None))
    values = diagnostics.measure(trivial, theta, kind="trace", t=0.0, seed=0)
    assert values["wi_rmd2"] == 0.0 and values["si_rmd2"] == 0.0 and values["risk"] > 0
    assert diagnostics.wi_skipped(trivial, 10 ** 6, "trace") is None  # a zero needs no OT
    with pytest.raises(TypeError):  # the swap group does compute them
        diagnostics.measure(swap, theta, kind="trace", t=0.0, seed=0)


def test_the_trace_within_its_budget():
    """By default the trace's records cost at most DIAGNOSTICS_SHARE of the SGD time by the cost model: record_every
    is raised until one record is paid for, exact OT is taken along the trace only when it fits the budget left; a
    given record_every is kept."""
    exp = parse_config(swap_config(n=(8,), seeds=1))
    problem, settings = exp.problem, exp.particles
    for n in (8, 100, 3000):
        every = diagnostics.trace_every(problem, settings, n)
        names = diagnostics.trace_names(problem, settings, n)
        cheap = diagnostics.RECORD_SECONDS + sum(diagnostics.diagnostic_seconds(k, problem, n)
                                                  for k in ("risk", "si_rmd2", "second_moment"))
        step = diagnostics.sgd_step_seconds(problem, n, settings.batch)
        assert cheap <= diagnostics.DIAGNOSTICS_SHARE * every * step < cheap + diagnostics.DIAGNOSTICS_SHARE * step \
            or every == -(-round(problem.t_end / settings.eps(n)) // 100)
        total = diagnostics.RECORD_SECONDS + sum(diagnostics.diagnostic_seconds(k, problem, n) for k in names)
        assert total <= diagnostics.DIAGNOSTICS_SHARE * every * step
        assert ("wi_rmd2" in names) == (diagnostics.trace_wi_skipped(problem, settings, n) is None)
    assert "wi_rmd2" not in diagnostics.trace_names(problem, settings, 3000)  # 1.8e7 pairs: about 2.3 s per record
    assert diagnostics.trace_share(problem, settings, 3000, snapshots=False) <= diagnostics.DIAGNOSTICS_SHARE
    given = replace(settings, record_every=3)  # given: kept, and exact OT up to its pair limit
    assert diagnostics.trace_every(problem, given, 100) == 3 and "wi_rmd2" in diagnostics.trace_names(problem, given, 100)


def test_one_definition_per_diagnostic_and_one_blow_up_check():
    exp = parse_config(swap_config(n=(8,), seeds=1))
    theta = np.random.default_rng(0).normal(size=(8, exp.problem.dim))
    per_time = diagnostics.measure(exp.problem, theta, kind="trace", t=1.0, seed=0)
    at_end = diagnostics.measure(exp.problem, theta, kind="end", t=1.0, seed=0, total=True)
    assert set(per_time) == set(diagnostics.DIAGNOSTICS) == set(schema.TRACE_VARIABLES)
    np.testing.assert_allclose(per_time["second_moment"], (theta ** 2).mean(axis=0), rtol=1e-14)
    assert at_end["second_moment"] == pytest.approx((theta ** 2).sum(axis=1).mean(), rel=1e-14)
    assert {k: at_end[k] for k in ("risk", "si_rmd2", "wi_rmd2")} == {k: per_time[k] for k in
                                                                     ("risk", "si_rmd2", "wi_rmd2")}
    assert set(diagnostics.SWEEP_DIAGNOSTICS) == set(schema.SWEEP_QUANTITIES)
    theta[3, 1] = np.inf
    with pytest.raises(BlowUpError, match=r"the positions became non-finite at t = 1 \(N = 8, seed = 0\)"):
        diagnostics.measure(exp.problem, theta, kind="snapshot", t=1.0, seed=0)
    with pytest.raises(BlowUpError, match="the risk became non-finite at t = 2.5"):
        diagnostics.check_finite({"si_rmd2": 0.1, "wi_rmd2": None, "risk": np.inf}, t=2.5, n=8, seed=1)
    with pytest.raises(BlowUpError, match="second_moment became non-finite"):
        diagnostics.check_finite({"second_moment": np.array([1.0, np.nan])}, t=2.5, n=8, seed=1)
