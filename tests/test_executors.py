"""run_jobs in this process and in local processes: results, retries, lost processes, reported failures."""

import pickle
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from _common import always_fails, square_dying_once, square_failing_once, swap_config
from wgf import Experiment, parse_config
from wgf.executors import JobError, parse_address, run_jobs
from wgf.runner import _worker_job


class Deterministic(ArithmeticError):
    pass


def fails_deterministically(marker_dir, x):
    (Path(marker_dir) / f"{x}.{len(list(Path(marker_dir).iterdir()))}").touch()
    raise Deterministic(f"always {x}")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_job_failing_once_is_run_again(tmp_path, workers):
    jobs = [(str(tmp_path), x) for x in range(5)]
    got = dict(run_jobs(square_failing_once, jobs, workers=workers))
    assert got == {job: job[1] ** 2 for job in jobs}
    assert len(list(tmp_path.iterdir())) == 5


@pytest.mark.slow
def test_a_lost_process_is_replaced_and_its_job_run_again(tmp_path):
    jobs = [(str(tmp_path), x) for x in range(4)]
    got = dict(run_jobs(square_dying_once, jobs, workers=2))
    assert got == {job: job[1] ** 2 for job in jobs}
    assert (tmp_path / "1.died").exists()


def fails_every_time(x):
    raise RuntimeError(f"lost connection {x}")


def needs_too_much_memory(x):
    raise MemoryError(f"{x} TB")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_job_always_failing_is_reported_by_name(workers):
    with pytest.raises(JobError, match=r"job fails_every_time\(3,\) failed \(3 times\): RuntimeError: lost conn") as e:
        list(run_jobs(fails_every_time, [(3,)], workers=workers, retries=2))
    assert e.value.attempts == 3 and isinstance(e.value.cause, RuntimeError)
    with pytest.raises(JobError, match="run number 7 failed"):
        list(run_jobs(fails_every_time, [(7,)], workers=workers, retries=0, describe=lambda job: f"run number {job[0]}"))
    # a deterministic failure (a bad value, memory the machine does not have) is reported at once, not retried
    for fn, error in ((always_fails, ValueError), (needs_too_much_memory, MemoryError)):
        with pytest.raises(JobError, match=rf"failed \(once\): {error.__name__}") as e:
            list(run_jobs(fn, [(3,)], workers=workers, retries=2))
        assert e.value.attempts == 1 and isinstance(e.value.cause, error)


@pytest.mark.parametrize("workers", [1, 2])
def test_no_retry_errors_are_reported_at_once(tmp_path, workers):
    with pytest.raises(JobError) as e:
        list(run_jobs(fails_deterministically, [(str(tmp_path), 1)], workers=workers, no_retry=(Deterministic,)))
    assert e.value.attempts == 1 and len(list(tmp_path.iterdir())) == 1


def test_serial_jobs_run_in_order_and_need_not_be_picklable():
    seen = []
    out = list(run_jobs(lambda a, b: seen.append(a) or a + b, [(1, 2), (3, 4), (5, 6)]))
    assert out == [((1, 2), 3), ((3, 4), 7), ((5, 6), 11)] and seen == [1, 3, 5]


def test_interrupts_are_not_retried():
    calls = []

    def interrupted():
        calls.append(1)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        list(run_jobs(interrupted, [()]))
    assert calls == [1]


def test_bad_arguments():
    with pytest.raises(ValueError, match="workers"):
        list(run_jobs(always_fails, [(1,)], workers=0))
    with pytest.raises(ValueError, match="exclude"):
        list(run_jobs(always_fails, [(1,)], workers=2, dask="tcp://127.0.0.1:8786"))
    with pytest.raises(ValueError, match="retries"):
        list(run_jobs(always_fails, [(1,)], retries=-1))


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "tls://scheduler.example.org:8786", "tcp://[::1]:1234"])
def test_scheduler_addresses(address):
    assert parse_address(address) == address


@pytest.mark.parametrize("address", ["127.0.0.1:8786", "tcp://host", "tcp://host:port", "http://host:8786",
                                     "tcp://:8786", "tcp://host:99999", "tcp://host:8786/path", ""])
def test_bad_scheduler_addresses(address):
    with pytest.raises(ValueError, match="not a dask scheduler address"):
        parse_address(address)


SMALL = swap_config()


@pytest.mark.slow
def test_particle_jobs_in_two_processes_equal_the_serial_ones():
    """The config's experiment runs serially; the same experiment built in Python (no config text: it is
    pickled as its objects, its units as the calls that built them) runs in two worker processes."""
    exp = parse_config(SMALL)
    built = Experiment(exp.problem, particles=exp.particles)
    assert built.text == "" and pickle.loads(pickle.dumps(built)).problem.base_unit.name == "sigmoid_matrix"
    jobs = [(n, s) for n in (8, 16) for s in range(2)]
    serial = dict(run_jobs(partial(_worker_job, exp), jobs))
    pooled = dict(run_jobs(partial(_worker_job, built), jobs, workers=2))
    assert sorted(serial) == sorted(pooled) == sorted(jobs)
    for key in jobs:
        (eps_a, rows_a), (eps_b, rows_b) = serial[key], pooled[key]
        assert eps_a == eps_b
        for kind, names in (("snapshot", ("positions", "risk", "si_rmd2", "wi_rmd2")),
                            ("trace", ("risk", "si_rmd2", "wi_rmd2", "second_moment"))):
            for name in names:
                np.testing.assert_array_equal(np.asarray(rows_a[kind][name]), np.asarray(rows_b[kind][name]),
                                              err_msg=f"{kind}/{name}")


def test_a_changed_experiment_travels_as_itself_and_resumes_only_its_own_file(tmp_path):
    """Only an experiment that is what its config text parses to travels as that text; one changed after
    parsing travels as its fields, so a worker runs the changed one. An experiment without text is told
    apart in its results file by a digest of its fields, so a resume never mixes two of them."""
    import dataclasses

    from wgf.io import ResultsFile, ResumeError

    exp = parse_config(SMALL)
    changed = dataclasses.replace(exp, particles=dataclasses.replace(exp.particles, alpha=2.0))
    assert pickle.loads(pickle.dumps(exp)).origin == exp.origin is not None
    back = pickle.loads(pickle.dumps(changed))
    assert back.particles.alpha == 2.0 and back.origin is None
    a = Experiment(exp.problem, particles=exp.particles)
    b = Experiment(exp.problem, particles=changed.particles)
    again = Experiment(exp.problem, particles=exp.particles)
    assert a.fingerprint() != b.fingerprint() and a.fingerprint() == again.fingerprint()
    out = tmp_path / "r.h5"
    with pytest.raises(RuntimeError):
        with ResultsFile(out, a.fingerprint()):
            raise RuntimeError("interrupted")
    with pytest.raises(ResumeError, match="different config"):
        ResultsFile(out, b.fingerprint(), resume=True)
