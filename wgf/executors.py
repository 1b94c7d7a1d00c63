"""Independent jobs run in this process, in local processes or on a dask.distributed cluster.

A job is a tuple of arguments of a function ``fn``; ``run_jobs(fn, jobs, ...)`` calls
``fn(*job)`` for every job and yields ``(job, result)`` pairs as the jobs complete
(completion order, not submission order), so that a caller can store each result
as soon as it arrives. The three places a job can run share one contract:

- ``workers=1`` (and no ``dask``): one after the other in this process, in order;
  ``fn`` need not be picklable (it may write its results itself).
- ``workers=K``: K local processes; at most K jobs are in flight, so a worker
  process that dies takes only the jobs it was running with it.
- ``dask=ADDRESS`` (or a connected ``distributed.Client``): the scheduler at
  ADDRESS spreads the jobs over its workers; a worker that is lost has its jobs
  rescheduled by the scheduler.

For the last two, ``fn`` and every job must be picklable and self-contained
(a module-level function, or a ``functools.partial`` of one). A job that raises,
or is lost with its process or worker, is run again up to ``retries`` more times
(unless its failure is deterministic: ``DETERMINISTIC``, e.g. a MemoryError or ValueError);
a job that still fails stops the run with a ``JobError`` naming it: a job is never
silently dropped.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "run_jobs",
    "JobError",
    "SchedulerError",
    "parse_address",
    "connect",
    "DEFAULT_RETRIES",
    "CONNECT_TIMEOUT",
]

log = logging.getLogger("wgf")

DEFAULT_RETRIES = 2
# failures that the same job meets again on every attempt (out of memory, a bad value, a wrong type or index):
# never retried
DETERMINISTIC = (MemoryError, ValueError, TypeError, ArithmeticError, LookupError, NotImplementedError)
# seconds to wait for a dask scheduler to answer before giving up
CONNECT_TIMEOUT = 10.0
SCHEMES = ("tcp", "tls", "ws", "wss")


class JobError(RuntimeError):
    """A job that failed on every attempt.

    ``label`` names the job, ``attempts`` is how often it ran, ``cause`` is the
    exception of its last attempt.
    """

    def __init__(self, label: str, attempts: int, cause: BaseException) -> None:
        self.label, self.attempts, self.cause = label, attempts, cause
        tries = "once" if attempts == 1 else f"{attempts} times"
        super().__init__(f"{label} failed ({tries}): {type(cause).__name__}: {cause}")


class SchedulerError(RuntimeError):
    """The dask scheduler cannot be used: distributed is not installed or the scheduler does not answer."""


def parse_address(address: str) -> str:
    """``address`` if it is a scheduler address ``SCHEME://HOST:PORT`` (SCHEME tcp, tls, ws or wss).

    Raises ValueError with a one-line message otherwise.
    """
    expected = "expected tcp://HOST:PORT"
    try:
        parts = urlsplit(address)
        port = parts.port
    except ValueError:
        raise ValueError(f"'{address}' is not a dask scheduler address ({expected})") from None
    if (parts.scheme not in SCHEMES or not parts.hostname or port is None or port == 0
            or parts.path not in ("", "/") or parts.query or parts.fragment or parts.username):
        raise ValueError(f"'{address}' is not a dask scheduler address ({expected})")
    return address


def connect(address: str, timeout: float | None = None) -> Client:
    """A ``distributed.Client`` connected to the scheduler at ``address``.

    Gives up after ``timeout`` seconds (default ``CONNECT_TIMEOUT``). Raises
    ValueError for a malformed address and SchedulerError when distributed is
    not installed or the scheduler does not answer. The client is not made the
    process-wide default; close it when done.
    """
    parse_address(address)
    timeout = CONNECT_TIMEOUT if timeout is None else timeout
    try:
        from distributed import Client
    except ImportError:
        raise SchedulerError("running on a dask cluster needs dask.distributed: pip install wgf[distributed]") from None
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError):
        raise SchedulerError(f"no dask scheduler answered at {address} within {timeout:g} s") from None


def run_jobs(
    fn: Callable,
    jobs: Iterable[tuple],
    *,
    workers: int = 1,
    dask: str | Client | None = None,
    retries: int = DEFAULT_RETRIES,
    describe: Callable[[tuple], str] | None = None,
    no_retry: tuple[type[BaseException], ...] = (),
) -> Iterator[tuple[tuple, object]]:
    """Yield ``(job, fn(*job))`` for every job in ``jobs`` (argument tuples), as the jobs complete.

    By default the jobs run in this process, in order. ``workers`` > 1 runs them in
    that many local processes; ``dask`` (a scheduler address ``tcp://HOST:PORT`` or a
    ``distributed.Client``) on a dask cluster (an address is connected to for the
    run and closed after; a client is left open); then ``fn`` and the jobs must be
    picklable. A job that raises an ``Exception`` or is lost is run again, up to
    ``retries`` more times, except for exceptions of the types in ``DETERMINISTIC``
    and ``no_retry`` (deterministic failures); then a ``JobError`` naming the job (``describe(job)``,
    by default the function's name and the arguments) is raised and the jobs not
    yet started are cancelled (local processes finish the job they are running).
    Closing the generator early does the same.
    """
    jobs = [tuple(job) for job in jobs]
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if retries < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    if dask is not None and workers > 1:
        raise ValueError("workers > 1 (local processes) and dask (a cluster) exclude each other")
    label = describe or _default_label(fn)
    policy = _RetryPolicy(retries, label, DETERMINISTIC + tuple(no_retry))
    if dask is not None:
        return _run_dask(fn, jobs, dask, policy)
    workers = min(workers, max(len(jobs), 1))  # never more processes than jobs
    if workers > 1:
        return _run_processes(fn, jobs, workers, policy)
    return _run_serial(fn, jobs, policy)


def _default_label(fn):
    name = getattr(getattr(fn, "func", fn), "__name__", "job")

    def label(job):
        text = repr(job)
        return f"job {name}{text if len(text) <= 80 else text[:77] + '...'}"

    return label


class _RetryPolicy:
    """Counts the attempts per job; ``failed`` says whether to run a job again or raises its JobError."""

    def __init__(self, retries, label, no_retry):
        self.retries, self.label, self.no_retry = retries, label, no_retry

    def failed(self, job, attempts: int, error: BaseException) -> None:
        if attempts > self.retries or isinstance(error, self.no_retry):
            raise JobError(self.label(job), attempts, error) from error
        log.warning("%s failed (%s: %s): running it again (attempt %d of %d)",
                    self.label(job), type(error).__name__, error, attempts + 1, self.retries + 1)


def _run_serial(fn, jobs, policy):
    """In this process, one job after the other, in the given order."""
    for job in jobs:
        attempts = 0
        while True:
            attempts += 1
            try:
                result = fn(*job)
            except Exception as e:
                policy.failed(job, attempts, e)
            else:
                break
        yield job, result


def _one_thread_per_process():
    """Set up a worker process: it dies with its parent (Linux: PR_SET_PDEATHSIG), leaves Ctrl-C to its
    parent (which terminates it), and K local processes share the machine with one numba thread each
    (results do not depend on it)."""
    import signal

    import numba

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    numba.set_num_threads(1)


def _die_with_parent():
    """Ask the kernel to kill this process when its parent dies (Linux; elsewhere nothing is done)."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before the request
        os._exit(1)


def _run_processes(fn, jobs, workers, policy):
    """In ``workers`` local processes, at most ``workers`` jobs in flight.

    A process that dies breaks the pool: the jobs then in flight count one failed
    attempt each and a fresh pool runs what is left.
    """
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    todo = deque(range(len(jobs)))
    attempts = [0] * len(jobs)
    running = {}
    pool = None
    try:
        while todo or running:
            if pool is None:
                # spawned, not forked: a fork of a process whose numba threads are running is not safe
                pool = ProcessPoolExecutor(max_workers=workers, initializer=_one_thread_per_process,
                                           mp_context=multiprocessing.get_context("spawn"))
            while todo and len(running) < workers:
                i = todo.popleft()
                attempts[i] += 1
                running[pool.submit(fn, *jobs[i])] = i
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            if any(isinstance(f.exception(), BrokenProcessPool) for f in done):
                done = set(running)  # every job in flight is lost with the pool
                wait(done)
                pool.shutdown(wait=True)
                pool = None
            for fut in sorted(done, key=running.get):
                i = running.pop(fut)
                error = fut.exception()
                if error is None:
                    yield jobs[i], fut.result()
                else:
                    policy.failed(jobs[i], attempts[i], error)
                    todo.appendleft(i)
    except BaseException:  # an interrupt or a failed job: the workers stop now, not after their jobs
        if pool is not None:
            _stop(pool)
            pool = None
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _stop(pool) -> None:
    """Shut a process pool down without waiting for the jobs in flight: its workers are terminated."""
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=5)


def _run_dask(fn, jobs, dask, policy):
    """On a dask cluster: every job submitted at once, resubmitted when it fails or is lost for good."""
    from distributed import as_completed

    client = connect(dask) if isinstance(dask, str) else dask
    owned = isinstance(dask, str)
    attempts = [0] * len(jobs)
    futures = {}

    def submit(i):
        attempts[i] += 1
        fut = client.submit(fn, *jobs[i], pure=False)
        futures[fut] = i
        return fut

    try:
        queue = as_completed([submit(i) for i in range(len(jobs))], loop=client.loop)
        for fut in queue:
            i = futures.pop(fut)
            try:
                result = fut.result()
            except Exception as e:  # the job's own error, a lost worker (KilledWorker) or a cancellation
                fut.release()
                policy.failed(jobs[i], attempts[i], e)
                queue.add(submit(i))
                continue
            fut.release()
            yield jobs[i], result
    finally:
        if futures:
            client.cancel(list(futures))
        if owned:
            client.close()
