"""Faults and hostile input: one writer per output, resume of a complete file, zero-step runs,
non-finite values, worker counts, workers with the PDE and the parallel particle path."""

import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from wgf.cli import main
from wgf.config import ConfigError, parse_config
from wgf.executors import run_jobs
from wgf.io import OutputBusyError, ResultsFile, lock_path, partial_path

SMALL = """
[model]
unit = "sigmoid_matrix"
dim_x = 2
dim_y = 2
[group]
name = "swap"
[data]
teacher = "wi"
teacher_particles = [[-0.5, 0.0, 0.0, 0.25], [0.25, 0.5, 0.0, 0.5]]
quadrature_points = 6
[training]
beta = 1e-4
t_end = 2.0
snapshots = 3
[particles]
n = [8, 16]
seeds = 2
alpha = 4.0
batch = 5
"""


def test_second_writer_of_an_output_is_refused_before_touching_it(tmp_path):
    out = tmp_path / "out.h5"
    with ResultsFile(out, "first") as f:
        f.write("x", np.arange(3.0))
        f.flush()
        size = partial_path(out).stat().st_size
        with pytest.raises(OutputBusyError, match="another wgf process"):
            ResultsFile(out, "second", resume=True)
        with pytest.raises(OutputBusyError):
            ResultsFile(out, "second")
        assert partial_path(out).stat().st_size == size  # untouched
    with h5py.File(out, "r") as f:
        assert f.attrs["config"] == "first" and np.array_equal(f["x"][()], np.arange(3.0))
    with ResultsFile(out, "again"):  # the lock died with its writer
        pass


def test_second_cli_writer_gets_one_line_and_exit_2(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL)
    out = tmp_path / "out.h5"
    # the holder keeps the lock until it is killed below (a cold start of each wgf process can take a while)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time, fcntl; fh = open(sys.argv[1], 'a+'); fcntl.flock(fh, fcntl.LOCK_EX); "
        "print('locked', flush=True); time.sleep(900)"), str(lock_path(out))], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        for extra in ([], ["--resume"], ["--overwrite"]):
            res = subprocess.run([sys.executable, "-m", "wgf", "run", str(cfg), "-o", str(out), "--quiet", *extra],
                                 capture_output=True, text=True, timeout=300)
            assert res.returncode == 2, res.stderr
            lines = res.stderr.strip().splitlines()
            assert len(lines) == 1 and "another wgf process" in lines[0]
            assert not out.exists() and not partial_path(out).exists()
    finally:
        holder.kill()
        holder.wait()


def test_resume_of_a_complete_file_checks_its_config(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL)
    out = tmp_path / "out.h5"
    assert main(["run", str(cfg), "-o", str(out), "--quiet"]) == 0
    assert main(["run", str(cfg), "-o", str(out), "--quiet", "--resume"]) == 0
    assert "nothing to resume" in capsys.readouterr().out
    other = tmp_path / "d.toml"
    other.write_text(SMALL.replace("beta = 1e-4", "beta = 2e-4"))
    assert main(["run", str(other), "-o", str(out), "--quiet", "--resume"]) == 2
    assert "different config" in capsys.readouterr().err
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    assert main(["run", str(cfg), "-o", str(junk), "--quiet", "--resume"]) == 2
    assert junk.read_bytes() == b"not hdf5"


def test_zero_step_runs_are_refused_at_config_time():
    with pytest.raises(ConfigError, match=r"\[particles\] alpha: .*N = 8 exceeds the snapshot spacing"):
        parse_config(SMALL.replace("alpha = 4.0", "alpha = 9.0"))
    with pytest.raises(ConfigError, match=r"\[particles\] step"):
        parse_config(SMALL.replace("alpha = 4.0", "step = 1.5"))
    parse_config(SMALL.replace("alpha = 4.0", "alpha = 8.0"))  # eps = spacing: one step per interval


def test_non_finite_risk_is_a_blow_up_and_never_written(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    # linear units: Phi ~ x_std, so the squared error and the gradients overflow within the first steps
    cfg.write_text(SMALL.replace("[data]", "[data]\nx_std = 1e90").replace("sigmoid_matrix", "linear"))
    out = tmp_path / "out.h5"
    assert main(["run", str(cfg), "-o", str(out), "--quiet"]) == 1
    assert "blow-up" in capsys.readouterr().err
    with h5py.File(partial_path(out), "r") as f:
        for name, ds in _datasets(f):
            assert np.isfinite(ds[()]).all(), name


def _datasets(group, prefix=""):
    for k, v in group.items():
        if isinstance(v, h5py.Dataset):
            yield prefix + k, v
        else:
            yield from _datasets(v, prefix + k + "/")


def _pid(_):
    import os

    return os.getpid()


def test_workers_never_exceed_jobs():
    pids = run_jobs(_pid, [(0,), (1,)], workers=6)
    assert len(set(pids)) <= 2


@pytest.mark.slow
def test_workers_with_pde_and_parallel_particles(tmp_path):
    """Spawned workers: the parent's numba threads (PDE, N >= 2048) do not break them."""
    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL.replace("n = [8, 16]", "n = [2100]").replace("seeds = 2", "seeds = 2")
                   .replace("alpha = 4.0", "alpha = 50.0").replace("[training]", "[training]\ninit = \"si\"\n"
                                                                   "noise = \"projected\"")
                   + "\n[pde]\nspace = \"fixed\"\ncells = 16\nhalf_width = 1.5\n")
    for workers in ("1", "2"):
        assert main(["run", str(cfg), "-o", str(tmp_path / f"w{workers}.h5"), "--quiet", "--workers", workers]) == 0
    with h5py.File(tmp_path / "w1.h5") as a, h5py.File(tmp_path / "w2.h5") as b:
        assert np.array_equal(a["particles/N2100/positions"][()], b["particles/N2100/positions"][()])


LONG = SMALL.replace("t_end = 2.0", "t_end = 300.0").replace("snapshots = 3", "snapshots = 6") \
    .replace("n = [8, 16]", "n = [1500]").replace("alpha = 4.0", "alpha = 50.0")


def _start(args, cwd):
    return subprocess.Popen([sys.executable, "-m", "wgf", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(predicate, timeout=240.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_ctrl_c_prints_one_line_keeps_the_partial_and_resume_completes(tmp_path, monkeypatch, capsys):
    """Ctrl-C (KeyboardInterrupt) in the middle of the particle runs: one line, exit 130, the partial kept."""
    from wgf import runner

    cfg = tmp_path / "c.toml"
    cfg.write_text(SMALL)
    out = tmp_path / "out.h5"
    real, calls = runner.particle_job, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "particle_job", interrupted)
    assert main(["run", str(cfg), "-o", str(out), "--quiet"]) == 130
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "--resume" in lines[0]
    assert partial_path(out).exists() and not out.exists()
    monkeypatch.setattr(runner, "particle_job", real)
    assert main(["run", str(cfg), "-o", str(out), "--quiet", "--resume"]) == 0
    assert out.exists()


@pytest.mark.slow
def test_workers_die_with_their_parent(tmp_path):
    import psutil

    # jobs of about a minute each: a worker that did not die with its parent would still be computing
    (tmp_path / "c.toml").write_text(LONG.replace("seeds = 2", "seeds = 4").replace("t_end = 300.0", "t_end = 3000.0"))
    proc = _start(["run", "c.toml", "-o", "out.h5", "--quiet", "--workers", "2"], tmp_path)
    parent = psutil.Process(proc.pid)
    assert _wait_for(lambda: len(_workers(parent)) >= 2)
    workers = _workers(parent)
    time.sleep(1.0)
    proc.kill()
    proc.wait()
    gone, alive = psutil.wait_procs(workers, timeout=20)
    assert not alive, f"{len(alive)} worker(s) outlived their parent"


def _workers(parent):
    try:
        return [p for p in parent.children(recursive=True) if "resource_tracker" not in " ".join(p.cmdline())]
    except psutil_errors():
        return []


def psutil_errors():
    import psutil

    return (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess)
