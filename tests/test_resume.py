"""Interrupted runs: a killed `wgf run` resumes to the same file as an uninterrupted one; workers change nothing."""

import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from _common import SWAP_PROBLEM
from wgf.cli import main

pytestmark = pytest.mark.slow  # killed and resumed runs in spawned processes (see conftest.py)

CONFIG = SWAP_PROBLEM + """[training]
beta = 1e-3
init = "si"
noise = "projected"
t_end = 20.0
snapshots = 5
[pde]
space = "fixed"
cells = 32
[particles]
n = [50, 200, 800]
seeds = 3
alpha = 10.0
batch = 10
"""


def _datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def _assert_same(a, b):
    da, db = _datasets(a), _datasets(b)
    assert sorted(da) == sorted(db)
    for name in da:
        np.testing.assert_array_equal(da[name], db[name], err_msg=name)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ref")
    (folder / "c.toml").write_text(CONFIG)
    assert main(["run", str(folder / "c.toml"), "-o", str(folder / "ref.h5"), "--quiet"]) == 0
    return folder


def test_interrupted_run_resumes_to_the_same_results(reference, tmp_path, monkeypatch):
    from wgf import runner

    cfg = reference / "c.toml"
    out = tmp_path / "r.h5"
    calls = {"n": 0}
    real = runner.particle_job

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "particle_job", flaky)
    assert main(["run", str(cfg), "-o", str(out), "--quiet"]) == 130  # Ctrl-C: one line, the partial kept
    assert not out.exists() and (tmp_path / "r.h5.partial").exists()
    with h5py.File(tmp_path / "r.h5.partial", "r") as f:
        done = sum(1 for n in (50, 200, 800) for s in range(3) if f[f"particles/N{n}"].attrs.get(f"done_{s}"))
        assert done == 4 and f["pde"].attrs["done"] == 1
    # without --resume the partial run is not silently overwritten
    assert main(["run", str(cfg), "-o", str(out), "--quiet"]) == 2
    monkeypatch.setattr(runner, "particle_job", real)
    calls["n"] = 0
    counted = []
    monkeypatch.setattr(runner, "particle_job", lambda *a, **k: counted.append(a[2:4]) or real(*a, **k))
    assert main(["run", str(cfg), "-o", str(out), "--quiet", "--resume"]) == 0
    assert len(counted) == 5  # only the unfinished runs were redone
    _assert_same(reference / "ref.h5", out)
    assert main(["run", str(cfg), "-o", str(out), "--quiet", "--resume"]) == 0  # complete: nothing to do


def test_sigkill_then_resume(reference, tmp_path):
    cfg = reference / "c.toml"
    out = tmp_path / "k.h5"
    proc = subprocess.Popen([sys.executable, "-m", "wgf", "run", str(cfg), "-o", str(out), "--quiet"], cwd=tmp_path)
    time.sleep(6.0)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    res = subprocess.run([sys.executable, "-m", "wgf", "run", str(cfg), "-o", str(out), "--quiet", "--resume"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    _assert_same(reference / "ref.h5", out)


def test_workers_give_the_same_file(reference, tmp_path):
    out = tmp_path / "w.h5"
    assert main(["run", str(reference / "c.toml"), "-o", str(out), "--quiet", "--workers", "2"]) == 0
    _assert_same(reference / "ref.h5", out)


def test_resume_refuses_a_partial_file_of_another_config(reference, tmp_path):
    out = tmp_path / "x.h5"
    with h5py.File(tmp_path / "x.h5.partial", "w") as f:
        f.attrs["config"] = "something else"
        f.attrs["wgf_version"] = "0"
    res = subprocess.run([sys.executable, "-m", "wgf", "run", str(reference / "c.toml"), "-o", str(out), "--resume"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "different config" in res.stderr
