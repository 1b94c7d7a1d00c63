"""Particle runs on a dask.distributed cluster (a scheduler and two worker processes on loopback).

`wgf run --dask` writes the same file as a local run, bit for bit; failing or lost
jobs are run again, jobs that keep failing are reported by name; bad or unreachable
scheduler addresses are refused before any work.
"""

import socket

import h5py
import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

from wgf import executors  # noqa: E402
from wgf.cli import main  # noqa: E402
from wgf.executors import JobError, run_jobs  # noqa: E402
from _common import always_fails, square_dying_once, square_failing_once, swap_config  # noqa: E402

pytestmark = pytest.mark.slow  # a dask cluster of worker processes (see conftest.py)

CONFIG = swap_config(n=(8, 16, 32), seeds=3)




@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as c:
        yield c


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("local")
    (folder / "c.toml").write_text(CONFIG)
    assert main(["run", str(folder / "c.toml"), "-o", str(folder / "local.h5"), "--quiet"]) == 0
    return folder


def _contents(path):
    """{name: array} of every dataset and {name: attrs} of every group, without the file-level attributes."""
    data, attrs = {}, {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                data[name] = obj[()]
            else:
                attrs[name] = dict(obj.attrs)
        f.visititems(visit)
    return data, attrs


def test_dask_run_equals_the_local_run_bitwise(cluster, local_run, tmp_path):
    out = tmp_path / "dask.h5"
    assert main(["run", str(local_run / "c.toml"), "-o", str(out), "--quiet", "--dask", cluster.scheduler_address]) == 0
    (data_a, attrs_a), (data_b, attrs_b) = _contents(local_run / "local.h5"), _contents(out)
    # per N: 4 variables and 4 coordinates, and a trace of 3 variables (wi_rmd2 where its budget allows) on its
    # own time
    traced_wi = sum(f"particles/N{n}/trace/wi_rmd2" in data_a for n in (8, 16, 32))
    assert sorted(data_a) == sorted(data_b) and len(data_a) == 3 * (8 + 4) + traced_wi
    for name in data_a:
        np.testing.assert_array_equal(data_a[name], data_b[name], err_msg=name)
    assert attrs_a == attrs_b and attrs_b["particles/N32"]["done_2"] == 1


def test_an_interrupted_local_run_resumes_on_dask_to_the_same_file(cluster, local_run, tmp_path, monkeypatch):
    from wgf import runner

    out, real, calls = tmp_path / "r.h5", runner.particle_job, []

    def interrupted_at_the_fourth_run(*args, **kwargs):
        calls.append(args[2:4])
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "particle_job", interrupted_at_the_fourth_run)
    assert main(["run", str(local_run / "c.toml"), "-o", str(out), "--quiet"]) == 130
    monkeypatch.setattr(runner, "particle_job", real)
    with h5py.File(tmp_path / "r.h5.partial", "r") as f:
        assert sum(k.startswith("done_") for g in f["particles"].values() for k in g.attrs) == 3
    args = ["run", str(local_run / "c.toml"), "-o", str(out), "--quiet", "--resume", "--dask", cluster.scheduler_address]
    assert main(args) == 0
    (data_a, attrs_a), (data_b, attrs_b) = _contents(local_run / "local.h5"), _contents(out)
    for name in data_a:
        np.testing.assert_array_equal(data_a[name], data_b[name], err_msg=name)
    assert attrs_a == attrs_b


def test_a_failing_job_is_run_again(cluster, tmp_path):
    jobs = [(str(tmp_path), x) for x in range(4)]
    got = dict(run_jobs(square_failing_once, jobs, dask=cluster.scheduler_address))
    assert got == {job: job[1] ** 2 for job in jobs}
    assert len(list(tmp_path.iterdir())) == 4


def test_a_lost_worker_has_its_job_run_again(cluster, tmp_path):
    with distributed.Client(cluster, set_as_default=False) as client:
        jobs = [(str(tmp_path), x) for x in range(4)]
        got = dict(run_jobs(square_dying_once, jobs, dask=client))
        assert got == {job: job[1] ** 2 for job in jobs}
        assert (tmp_path / "1.died").exists()
        client.wait_for_workers(2, timeout=60)


def test_a_job_always_failing_is_reported_by_name(cluster):
    """A deterministic failure (ValueError) is not retried on the cluster either: one attempt, named."""
    with pytest.raises(JobError, match=r"job always_fails\((\d),\) failed \(once\): ValueError: bad input \1") as e:
        list(run_jobs(always_fails, [(x,) for x in range(4)], dask=cluster.scheduler_address, retries=1))
    assert e.value.attempts == 1 and isinstance(e.value.cause, ValueError)


def test_a_blow_up_names_the_run_and_exits_1(cluster, tmp_path, capsys):
    cfg = tmp_path / "hot.toml"
    cfg.write_text(CONFIG.replace("alpha = 4.0", "step = 0.002").replace("beta = 1e-4", "beta = 1e-4\ntau = 1000.0")
                   .replace("n = [8, 16, 32]", "n = [8]").replace("seeds = 3", "seeds = 1"))
    assert main(["run", str(cfg), "-o", str(tmp_path / "hot.h5"), "--quiet", "--dask", cluster.scheduler_address]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "numerical blow-up in particle run N=8, seed=0" in err[0]
    assert not (tmp_path / "hot.h5").exists()


@pytest.mark.parametrize("address", ["localhost:8786", "tcp://localhost", "http://localhost:8786", "tcp//x:1"])
def test_bad_address_exits_2_before_any_work(local_run, tmp_path, capsys, address):
    out = tmp_path / "bad.h5"
    assert main(["run", str(local_run / "c.toml"), "-o", str(out), "--quiet", "--dask", address]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a dask scheduler address" in err[0]
    assert not out.exists() and not (tmp_path / "bad.h5.partial").exists()


def test_dask_and_workers_exclude_each_other(local_run, tmp_path, capsys):
    args = ["run", str(local_run / "c.toml"), "-o", str(tmp_path / "x.h5"), "--dask", "tcp://127.0.0.1:8786"]
    assert main(args + ["--workers", "2"]) == 2
    assert "exclude each other" in capsys.readouterr().err


def test_unreachable_scheduler_exits_2_before_any_work(local_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(executors, "CONNECT_TIMEOUT", 1.0)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "far.h5"
    assert main(["run", str(local_run / "c.toml"), "-o", str(out), "--quiet", "--dask", f"tcp://127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"no dask scheduler answered at tcp://127.0.0.1:{port} within 1 s" in err[0]
    assert not out.exists() and not (tmp_path / "far.h5.partial").exists()


def test_paper_study_on_dask_equals_the_local_study(cluster, tmp_path, capsys):
    from wgf.study import StudyPlan, run_paper_study

    plan = StudyPlan(n=(20, 40), seeds=2, t_end=50.0, teachers=("wi",), schemes=("vanilla", "ea"))
    run_paper_study(plan, tmp_path / "local.h5", progress=False)
    run_paper_study(plan, tmp_path / "dask.h5", dask=cluster.scheduler_address, progress=False)
    local, local_attrs = _contents(tmp_path / "local.h5")
    remote, remote_attrs = _contents(tmp_path / "dask.h5")
    # a sweep file: coordinates N, init, noise, teacher, scheme, seed; risk, si_rmd2, wi_rmd2, m2 and status
    assert local.keys() == remote.keys() and len(local) == 6 + 5
    for key in local:
        np.testing.assert_array_equal(local[key], remote[key])
    assert local_attrs == remote_attrs


def test_a_python_built_experiment_on_dask_equals_the_local_run(cluster, local_run, tmp_path):
    """An experiment built in Python (no config text: pickled as its objects, its units as the calls that
    built them) gives the local run's particle data on the cluster."""
    from wgf import Experiment, parse_config
    from wgf.runner import run_experiment

    exp = parse_config(CONFIG)
    built = run_experiment(Experiment(exp.problem, particles=exp.particles), tmp_path / "built.h5", quiet=True,
                           dask=cluster.scheduler_address)
    (want, _), (got, _) = _contents(local_run / "local.h5"), _contents(built)
    assert sorted(want) == sorted(got)
    for name in want:
        np.testing.assert_array_equal(want[name], got[name], err_msg=name)
