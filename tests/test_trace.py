"""The diagnostics trace: risk, WI/SI RMD^2 and second moments every ``record_every`` steps."""

import h5py
import numpy as np
import pytest

import wgf
from _common import swap_config
from wgf import ConfigError, parse_config, risk
from wgf.particles import record_steps, simulate
from wgf.runner import run_experiment
from wgf.validation import si_rmd2


def test_record_steps():
    np.testing.assert_array_equal(record_steps(10, 3), [0, 3, 6, 9, 10])
    np.testing.assert_array_equal(record_steps(9, 3), [0, 3, 6, 9])
    np.testing.assert_array_equal(record_steps(250), np.append(np.arange(0, 250, 3), 250))  # ceil(250 / 100) = 3
    assert all(record_steps(k).size <= 101 for k in (99, 100, 101, 199, 200, 201, 10**6 + 7))
    assert record_steps(7).size == 8  # fewer steps than DEFAULT_RECORDS: every step
    with pytest.raises(ValueError, match="record_every"):
        record_steps(10, 0)


def test_records_do_not_change_the_run():
    """Looking at the positions between snapshots leaves the trajectory bitwise unchanged (the noise is
    keyed by step index, not by how the steps are grouped into calls)."""
    exp = parse_config(swap_config())
    plain = simulate(exp.problem, 16, 1, alpha=4.0, batch=5)
    seen = []
    traced = simulate(exp.problem, 16, 1, alpha=4.0, batch=5, record_every=3,
                      on_record=lambda r, t, theta: seen.append((r, t, theta.copy())))
    np.testing.assert_array_equal(plain.positions, traced.positions)
    eps = 4.0 / 16
    steps = record_steps(8, 3)  # t_end = 2 is step 8
    assert [r for r, _, _ in seen] == list(range(steps.size))
    np.testing.assert_allclose([t for _, t, _ in seen], steps * eps, rtol=0, atol=0)
    np.testing.assert_array_equal(seen[0][2], plain.positions[0])
    np.testing.assert_array_equal(seen[-1][2], plain.positions[-1])


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    out = tmp_path_factory.mktemp("trace") / "r.h5"
    run_experiment(parse_config(swap_config(n=(8, 16)).replace("batch = 5", "batch = 5\nrecord_every = 3")), out,
                   quiet=True)
    return out


def test_trace_in_the_results_file(traced):
    exp = parse_config(swap_config(n=(8, 16)))
    with h5py.File(traced) as f:
        for n in (8, 16):
            g, tr = f[f"particles/N{n}"], f[f"particles/N{n}/trace"]
            eps = 4.0 / n
            steps = record_steps(int(round(2.0 / eps)), 3)
            np.testing.assert_array_equal(tr["trace_time"][()], steps * eps)
            # the last record is the final snapshot: the same positions, so the same numbers
            final = g["positions"][:, -1]
            np.testing.assert_array_equal(tr["risk"][:, -1], g["risk"][:, -1])
            np.testing.assert_array_equal(tr["si_rmd2"][:, -1], g["si_rmd2"][:, -1])
            np.testing.assert_array_equal(tr["wi_rmd2"][:, -1], g["wi_rmd2"][:, -1])
            np.testing.assert_allclose(tr["second_moment"][:, -1], (final ** 2).mean(axis=1), rtol=1e-14)
            np.testing.assert_array_equal(tr["risk"][:, 0], g["risk"][:, 0])
            assert tr["risk"][()].std() > 0  # the risk moves along the trace
            for s in range(2):
                assert tr["risk"][s, -1] == risk(exp.problem, final[s])
                assert tr["si_rmd2"][s, -1] == si_rmd2(exp.problem.symmetry, final[s])


def test_trace_opens_with_xarray(traced):
    tree = wgf.open_results(traced)
    ds = tree["particles/N16/trace"]
    assert dict(ds.sizes) == {"seed": 2, "trace_time": 4, "time": 3, "particle": 16, "coordinate": 4}
    assert ds["risk"].dims == ("seed", "trace_time")
    assert ds["second_moment"].dims == ("seed", "trace_time", "coordinate")
    np.testing.assert_array_equal(ds["trace_time"].values, [0.0, 0.75, 1.5, 2.0])
    for name in ("risk", "si_rmd2", "wi_rmd2", "second_moment", "trace_time"):
        assert ds[name].attrs["long_name"] and "units" in ds[name].attrs, name


def test_trace_skips_large_wi_and_says_why(tmp_path, monkeypatch):
    from wgf import diagnostics

    monkeypatch.setattr(diagnostics, "TRACE_OT_MAX_PAIRS", 8 * 8 * 2)  # N = 8 traced, N = 16 not
    # record_every given: the trace takes exact OT up to its pair limit, not within the default budget
    text = swap_config(n=(8, 16), seeds=1).replace("batch = 5", "batch = 5\nrecord_every = 2")
    out = run_experiment(parse_config(text), tmp_path / "r.h5", quiet=True)
    with h5py.File(out) as f:
        assert "wi_rmd2" in f["particles/N8/trace"] and "wi_rmd2" in f["particles/N16"]
        assert "wi_rmd2" not in f["particles/N16/trace"]
        assert "between 16 and 32 points exceeds the limit of 128 pairs" in f["particles/N16/trace"].attrs["wi_rmd2_skipped"]


def test_too_many_records_are_refused_before_any_work():
    text = (swap_config(n=(8,)).replace("batch = 5", "batch = 5\nrecord_every = 1")
            .replace("t_end = 2.0", "t_end = 2e4").replace("alpha = 4.0", "alpha = 0.4"))
    with pytest.raises(ConfigError, match=r"\[particles\] record_every: 1 gives 4e\+05 records at N = 8"):
        parse_config(text)


def test_default_trace_within_budget_and_exact_zeros(tmp_path):
    """By default (no record_every) the trace holds what fits its budget: the swap group's exact OT at N = 8 does
    not (wi_rmd2_snapshots_only says why, the snapshots keep it: not a skip, no warning); the trivial group's wi_rmd2 and si_rmd2 are 0.0 exactly
    at every snapshot and record."""
    from wgf import diagnostics

    exp = parse_config(swap_config(n=(8,), seeds=2))
    out = run_experiment(exp, tmp_path / "s.h5", quiet=True)
    every = diagnostics.trace_every(exp.problem, exp.particles, 8)
    assert diagnostics.wi_snapshots_only(exp.problem, exp.particles, 8)
    given = parse_config(swap_config(n=(8,), seeds=2).replace("batch = 5", "batch = 5\nrecord_every = 1"))
    assert not diagnostics.wi_snapshots_only(given.problem, given.particles, 8)  # no budget: the trace takes it
    with h5py.File(out) as f:
        trace = f["particles/N8/trace"]
        assert "wi_rmd2" not in trace and "budget" in trace.attrs["wi_rmd2_snapshots_only"]
        assert not any("skipped" in k for g in (trace, f["particles/N8"]) for k in g.attrs)
        assert np.all(f["particles/N8/wi_rmd2"][()] > 0) and np.all(trace["si_rmd2"][()] > 0)
        assert np.array_equal(trace["trace_time"][()], np.append(np.arange(0, 4, every), 4) * 0.5)
        assert f["particles/N8/risk"][0, 0] == trace["risk"][0, 0]  # the record at t = 0 measured once
    trivial = parse_config(swap_config(n=(8,), seeds=2).replace('name = "swap"', 'name = "trivial"'))
    out = run_experiment(trivial, tmp_path / "t.h5", quiet=True)
    with h5py.File(out) as f:
        for g in (f["particles/N8"], f["particles/N8/trace"]):
            assert "wi_rmd2_skipped" not in g.attrs and "wi_rmd2_snapshots_only" not in g.attrs
            assert not np.any(g["wi_rmd2"][()]) and not np.any(g["si_rmd2"][()]) and np.all(g["risk"][()] > 0)
