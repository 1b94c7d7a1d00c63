"""`wgf demo` leaves a complete results file, the figures and a summary (run here at a reduced size)."""

import h5py
import numpy as np
import pytest

from wgf import demo
from wgf.cli import main

pytestmark = pytest.mark.slow  # the whole demo pipeline, at a reduced size (see conftest.py)


def _small(monkeypatch):
    text = (demo.DEMO_CONFIG.replace("n = [100, 1000, 10000]", "n = [100, 200, 400]")
            .replace("cells = 96", "cells = 24").replace("t_end = 10.0", "t_end = 1.0")
            .replace("snapshots = 6", "snapshots = 3").replace("seeds = 3", "seeds = 2"))
    assert text != demo.DEMO_CONFIG
    monkeypatch.setattr(demo, "DEMO_CONFIG", text)


def test_demo_outputs_are_complete(tmp_path, monkeypatch, capsys):
    _small(monkeypatch)
    assert main(["demo", "-o", str(tmp_path), "--quiet"]) == 0
    printed = capsys.readouterr().out
    for heading in ("PDE on a 24x24 grid", "Minimizer of F on the 24x24 grid", "Particles at the final time",
                    "Particles vs PDE density", "Largest particle-PDE distance over the snapshots"):
        assert heading in printed
    # tau = 1e-4: the flow relaxes on times of order 1 / tau, and the summary says it ends far from rho*
    assert "(the flow at t = 1 is far from converged: ||rho_t - rho*||_1 = " in printed
    assert "particles vs rho*: at long times (||rho_t - rho*||_1 <= 0.1)" in printed
    assert "the flow at t = 1 is far from converged" in printed and "skipped" not in printed
    with h5py.File(tmp_path / "results.h5", "r") as f:
        assert f["pde/density"].shape == (3, 24, 24)
        assert set(f["particles"]) == {"N100", "N200", "N400"}
        metrics = {"mmd", "energy", "sliced_w2", "output_l2", "moments_mean_error", "moments_cov_error"}
        assert metrics <= set(f["compare"])
        for name in metrics:
            assert f[f"compare/{name}"].shape == (3, 2, 3) and np.isfinite(f[f"compare/{name}"][()]).all()
            np.testing.assert_array_equal(f[f"compare/{name}_sup"][()], f[f"compare/{name}"][()].max(axis=2))
        # far from rho* at the final time: the particles are not compared with it, and the file says why
        assert f["minimizer/density"].shape == (24, 24) and f["minimizer/pde_distance"][-1] > 0.1
        assert not any(k.startswith("particles_") for k in f["minimizer"])
        assert f["minimizer"].attrs["long_time_distance"] == 0.1 and "particles_skipped" not in f["minimizer"].attrs
    for stem in ("density", "distances", "training", "minimizer"):
        assert (tmp_path / f"{stem}.png").stat().st_size > 10_000 and (tmp_path / f"{stem}.pdf").exists()
    # a second demo into the same folder is refused instead of overwriting
    assert main(["demo", "-o", str(tmp_path), "--quiet"]) == 2
