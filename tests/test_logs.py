"""What the command line prints: each fact once, no NaN, what ran stated, log lines never glued to a progress bar."""

import io
import logging

import numpy as np
import pytest

from _common import swap_config
from wgf.cli import main
from wgf.config import load_config, resolved_config


def test_a_run_logs_the_skipped_wi_rmd2_once_and_ends_with_the_report(tmp_path, monkeypatch, caplog, capsys):
    """With exact OT limited to 200 pairs along the trace and 300 at the snapshots, the trace of N = 16 (512 pairs)
    and of N = 12 (288) and the snapshots of N = 16 skip wi_rmd2: one warning line says where and why; the run
    ends with what ``wgf report`` prints for its file, then the file's name."""
    import wgf.validation
    from wgf import diagnostics

    monkeypatch.setattr(diagnostics, "TRACE_OT_MAX_PAIRS", 200)
    monkeypatch.setattr(wgf.validation, "SPARSE_OT_MAX_PAIRS", 300)
    cfg = tmp_path / "small.toml"
    # record_every given: the trace takes exact OT up to its pair limit (by default, within its budget)
    cfg.write_text(swap_config(n=(8, 12, 16), seeds=1, title="small").replace("batch = 5", "batch = 5\nrecord_every = 2"))
    out = tmp_path / "small.h5"
    with caplog.at_level(logging.INFO, logger="wgf"):
        assert main(["run", str(cfg), "-o", str(out)]) == 0
    notes = [r.getMessage() for r in caplog.records if "wi_rmd2" in r.getMessage()]
    assert notes == ["wi_rmd2 skipped at the snapshots for N = 16 (limit 300 pairs) and along the trace for "
                     "N = 12, 16 (limit 200 pairs): exact OT between N and |G| N points (|G| = 2; wgf.validation.wi_rmd2_cost)"]
    assert not [r for r in caplog.records if "time integrator" in r.getMessage() or "slope" in r.getMessage()]
    printed = capsys.readouterr().out
    assert printed.endswith(f"\nwrote {out}\n")
    assert main(["report", str(out)]) == 0
    assert printed == capsys.readouterr().out + f"\nwrote {out}\n"  # one code path for both
    assert "ran: unit sigmoid_matrix, group swap, scheme vanilla, loss squared, schedule constant, init wi" in printed
    assert "       16      1" in printed and "skipped" in printed


def test_the_summary_states_the_settings_that_ran_after_set(tmp_path):
    """A --set changes what ran, not the config's title: the 'ran:' line under the title names the loss."""
    from wgf.report import what_ran

    cfg = tmp_path / "c.toml"
    cfg.write_text(swap_config(title="logistic loss, tanh units", training='loss = "logistic"\n'))
    exp = load_config(cfg, ["training.loss=huber", "training.huber_delta=0.5", "training.schedule=inverse_time",
                            "training.schedule_t0=3.0"])
    assert exp.title == "logistic loss, tanh units"
    assert what_ran(resolved_config(exp)) == (
        "ran: unit sigmoid_matrix, group swap, scheme vanilla, loss huber, delta 0.5, schedule inverse_time, t0 3, "
        "init wi, noise full, beta 0.0001")
    assert what_ran(None) is None and what_ran("not = [toml") is None


@pytest.mark.parametrize("values,floor,why", [
    ([[0.5, 0.4], [0.01, 0.02]], 0.1, "no slope: 1 value of N above the PDE floor 1.00e-01, 2 needed"),
    ([[0.01, 0.02], [0.01, 0.0]], 0.1, "no slope: 0 values of N above the PDE floor 1.00e-01, 2 needed"),
    ([[0.5, 0.01], [0.3, 0.01]], 0.1, "no slope: 2 values (N, seed) above the PDE floor 1.00e-01, 3 needed"),
    ([[0.5, 0.4], [0.3, 0.2]], np.nan, "no slope: the PDE's own error is unknown (its grids of 1/2 and 1/4 the "
                                       "cells do not converge, order 0.3), so no value lies above the floor"),
])
def test_no_slope_says_why(values, floor, why):
    from wgf.report import no_slope

    assert no_slope([10, 100], np.array(values), floor, 0.3) == why
    assert "nan" not in why


def test_no_slope_with_one_n_says_one_n_was_run():
    from wgf.report import no_slope

    assert no_slope([1000], np.array([[0.5, 0.4, 0.45]]), 0.1, 1.0) == (
        "no slope: 1 value of N above the PDE floor 1.00e-01, 2 needed (one N was run)")


def test_the_integrator_choice_is_a_debug_note(caplog):
    """The PDE's time integrator and its cost: at debug level (wgf run --verbose), not in every solve's log."""
    from wgf import parse_config
    from wgf.grids import make_grid, solve

    problem = parse_config(swap_config(n=(8,), seeds=1)).problem
    fixed = problem.replace(init="si", noise="projected", t_end=0.1, snapshots=2)
    grid = make_grid(fixed, "fixed", cells=8, half_width=1.0)  # the conftest's warm-up solve: no new kernel
    with caplog.at_level(logging.INFO, logger="wgf"):
        solve(fixed, grid)
    assert not [r for r in caplog.records if "time integrator" in r.getMessage()]
    with caplog.at_level(logging.DEBUG, logger="wgf"):
        solve(fixed, grid)
    assert [r.levelno for r in caplog.records if "time integrator" in r.getMessage()] == [logging.DEBUG]


def test_verbose_and_quiet_set_the_log_level_and_exclude_each_other(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(swap_config())
    assert main(["run", str(cfg), "--dry-run", "-v"]) == 0
    assert logging.getLogger("wgf").getEffectiveLevel() == logging.DEBUG
    assert main(["run", str(cfg), "--dry-run"]) == 0
    assert logging.getLogger("wgf").getEffectiveLevel() == logging.INFO
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main(["run", str(cfg), "--dry-run", "-v", "--quiet"])
    assert e.value.code == 2 and "not allowed with argument" in capsys.readouterr().err


def test_a_log_line_goes_above_the_progress_bars(monkeypatch):
    """A line logged while a bar is on the screen is written on a line of its own (the bar erased and drawn again
    below it), never glued to the end of the bar's line; no monitor thread redraws a bar after the command."""
    import sys

    import tqdm

    from wgf.cli import _AboveProgressBars

    screen = io.StringIO()
    monkeypatch.setattr(sys, "stderr", screen)
    bar = tqdm.tqdm(total=3, desc="particles", file=screen, disable=False, mininterval=0)
    bar.update()
    _AboveProgressBars().write("wgf: a note\n")
    bar.update()
    bar.close()
    text = screen.getvalue()
    before, _, after = text.partition("wgf: a note\n")
    assert after and before.rsplit("\r", 1)[-1].strip() == ""  # the bar's line was erased before the note
    assert "particles:  67%" in after  # and the bar drawn again below it
    main(["config", "title"])
    main(["check", "--list"])
    assert tqdm.tqdm.monitor_interval == 0
