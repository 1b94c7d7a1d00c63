"""Compiling numba kernels safely: stable cache keys, one compiler at a time, one-line errors.

wgf specializes its kernels to a unit and a loss by closures (``make_...``
factories that capture the unit's compiled functions). Three things make that
safe to cache on disk:

- **Stable identities.** numba keys the on-disk cache of a closure by the pickled
  contents of its cells; a compiled function pickles with a random per-process
  id, so a closure over one would never hit the cache (and would pile up
  entries). ``jit`` gives every function it compiles an id derived from its code
  (bytecode, constants, names, the values of the constant globals it names and,
  recursively, what it closes over and the compiled functions it calls), so the
  key is the same in every process and changes when the code changes.
- **No cached caller of a parallel function.** Only top-level entry points are
  ``parallel=True``; the functions they call are serial and inlined or linked
  into the caller's library. (A cached function that calls a separately cached
  ``parallel=True`` function can crash when the two are loaded from the cache in
  another order.)
- **Explicit floating-point flags.** numba compiles a called function that has no
  ``fastmath`` option with the flags of the first jitted function that calls it, so
  a function called both from Python and from a fast-math kernel would give results
  that depend on the order of first use and on the disk cache (1 ulp apart).
  ``jit`` gives every separately compiled function ``fastmath=False`` unless it
  asks for flags; inlined helpers take their caller's flags by design.
- **Distinct symbols.** numba names a compiled function after its qualified
  name and a per-process counter; ``jit`` adds the fingerprint to the name, so
  two specializations of one closure compiled in different processes never share
  a symbol when a third process loads both from the cache (``_named_by``).
- **One compiler at a time.** ``compile_for`` compiles an entry point for the
  argument types of a call under an exclusive file lock, so that processes
  starting together compile once and the others load the result from the cache.

See docs/kernels.md for the unit and loss kernel protocol.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import tempfile
import types as pytypes
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numba
from numba.core.dispatcher import Dispatcher

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["FASTMATH", "KERNEL_OPTIONS", "PARALLEL_WORK", "threads_for", "call_on", "prange_only", "jit", "fingerprint", "compile_for", "compile_lock", "KernelCompileError", "check_compiles"]


# floating-point flags of the kernels: fused multiply-add, no signed zeros, reciprocals. No reassociation:
# every sum keeps the order it is written in (results are the same for any number of threads).
# (A dict, not a set: compile options are part of the cache key and must pickle identically in every process.)
FASTMATH = {"contract": True, "nsz": True, "arcp": True}

# the options of every separately compiled kernel function: numpy's error model (no division checks) and
# FASTMATH. Functions called once per row or per chunk (the schemes' row maps, the losses, random numbers for a
# row of lanes) are compiled once with them and called; only scalar functions called inside a loop over lanes
# (activations, vector_math, the unit's lane kernels) are inlined at numba's IR level, so that the loop
# vectorises. An IR-inlined copy at every call site had made compiling a step loop twice as slow
# (docs/kernels.md, "Compilation and the numba cache").
KERNEL_OPTIONS = {"error_model": "numpy", "fastmath": FASTMATH}


# the threading layer of parallel kernels: OpenMP where numba finds it, else TBB, else numba's workqueue
# (docs/kernels.md, "Threads": workqueue hands every parallel region to its workers even at 1 thread, 4.5x
# slower at N = 1000); NUMBA_THREADING_LAYER or NUMBA_THREADING_LAYER_PRIORITY in the environment win
THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]
if not {"NUMBA_THREADING_LAYER", "NUMBA_THREADING_LAYER_PRIORITY"} & set(os.environ):
    numba.config.THREADING_LAYER_PRIORITY = THREADING_LAYER_PRIORITY


def prange_only() -> dict[str, bool]:
    """The ``parallel`` option that makes only explicit ``prange`` loops parallel: no array expression,
    ``np.zeros`` or slice assignment becomes a parallel region of its own (a step loop of 1 serial pass
    would otherwise enter one per step; a fresh dict each time, numba consumes it)."""
    return {"prange": True, "comprehension": False, "reduction": False, "inplace_binop": False, "setitem": False,
            "numpy": False, "stencil": False, "fusion": False}


# below this work per call (particles x rows x D) a parallel kernel runs on one thread: a parallel region costs
# more than the second thread gains (measured for the particle step by benchmarks/threads.py; a sum of a unit over
# 100 particles and 16 rows: 6.7 us on one thread, 190 us on two while another process keeps a core busy);
# docs/kernels.md, "Threads"
PARALLEL_WORK = 1 << 15


def threads_for(work: float, min_work: int = PARALLEL_WORK) -> int:
    """The threads a parallel kernel call of ``work`` (particles x rows x D) runs on: numba's current number,
    or 1 below ``min_work``."""
    return numba.get_num_threads() if work >= min_work else 1


def call_on(threads: int, kernel: Callable[..., Any], *args: Any) -> Any:
    """kernel(*args) with numba's thread count set to ``threads`` for the call (numba's setting is per calling
    thread; restored after). The kernels' sums run in a fixed order, so the result is the same for any count."""
    saved = numba.get_num_threads()
    if threads >= saved:
        return kernel(*args)
    numba.set_num_threads(max(1, threads))
    try:
        return kernel(*args)
    finally:
        numba.set_num_threads(saved)


class KernelCompileError(TypeError):
    """A user-supplied function cannot be compiled by numba."""


# global values numba compiles in as constants
_CONSTANTS = (bool, int, float, complex, str, bytes, tuple, type(None))


def _code_digest(code: pytypes.CodeType, h) -> None:
    h.update(code.co_code)
    h.update(repr(code.co_names).encode())
    h.update(repr(code.co_varnames).encode())
    for c in code.co_consts:
        if isinstance(c, pytypes.CodeType):
            _code_digest(c, h)
        else:
            h.update(repr(c).encode())


def _value_digest(value, h, seen) -> None:
    if isinstance(value, Dispatcher):
        value = value.py_func
    if isinstance(value, pytypes.FunctionType):
        h.update(fingerprint(value, seen).encode())
    else:
        h.update(type(value).__qualname__.encode())
        h.update(repr(value).encode())


def fingerprint(py_func: pytypes.FunctionType, _seen: set[int] | None = None) -> str:
    """A hex digest of a Python function's code, of what it closes over and of the compiled functions it calls."""
    seen = set() if _seen is None else _seen
    h = hashlib.sha256()
    h.update(f"{py_func.__module__}.{py_func.__qualname__}".encode())
    if id(py_func) in seen:  # recursion
        return h.hexdigest()
    seen.add(id(py_func))
    _code_digest(py_func.__code__, h)
    for cell in py_func.__closure__ or ():
        _value_digest(cell.cell_contents, h, seen)
    # globals it names that are compiled functions: their code is part of this one; globals that are
    # constants (numba freezes them into the machine code): their values are too, so that a constant
    # changed in another module is never served from a cache compiled with its old value
    for name in py_func.__code__.co_names:
        g = py_func.__globals__.get(name)
        if isinstance(g, Dispatcher):
            _value_digest(g, h, seen)
        elif isinstance(g, _CONSTANTS):
            h.update(f"{name}={g!r}".encode())
    return h.hexdigest()


def jit(py_func: Callable[..., Any] | None = None,
        **options: Any) -> Dispatcher | Callable[[Callable[..., Any]], Dispatcher]:
    """``numba.njit`` with a code-derived identity (module docstring); usable as @jit or @jit(...)."""
    if py_func is None:
        return lambda f: jit(f, **options)
    if isinstance(py_func, Dispatcher):
        return py_func
    if options.get("inline", "never") == "never":
        # explicit flags: numba compiles a callee that has none with the flags of its first jitted caller,
        # so its numerics would depend on who compiled it first (or on what the disk cache holds)
        options.setdefault("fastmath", False)
    digest = fingerprint(py_func)
    disp = numba.njit(**options)(_named_by(py_func, digest))
    disp._set_uuid(f"wgf-{digest}")
    return disp


def _named_by(py_func: pytypes.FunctionType, digest: str) -> pytypes.FunctionType:
    """A copy of ``py_func`` whose qualified name ends with its fingerprint.

    numba names a compiled function's symbol after its qualified name and a per-process counter. The
    closures of one ``make_...`` factory share a qualified name, so two specializations compiled in two
    processes can get the same symbol; a process that loads both from the disk cache links calls of the
    second to the first one's code (a step loop of one unit running another unit's kernels). With the
    fingerprint in the name, equal symbols mean equal code. The copy shares the code object, so the disk
    cache still finds the source file."""
    f = pytypes.FunctionType(py_func.__code__, py_func.__globals__, py_func.__name__, py_func.__defaults__,
                             py_func.__closure__)
    f.__kwdefaults__ = py_func.__kwdefaults__
    f.__dict__.update(py_func.__dict__)
    f.__doc__, f.__module__ = py_func.__doc__, py_func.__module__
    f.__qualname__ = f"{py_func.__qualname__}_{digest[:12]}"
    return f


def _lock_path() -> Path:
    base = numba.config.CACHE_DIR or os.environ.get("NUMBA_CACHE_DIR") or tempfile.gettempdir()
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path / f"wgf-compile-{os.getuid() if hasattr(os, 'getuid') else 0}.lock"


@contextlib.contextmanager
def compile_lock() -> Iterator[None]:
    """Exclusive inter-process lock held while kernels are compiled or loaded from the cache."""
    with open(_lock_path(), "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def compile_for(dispatcher: Dispatcher, *args) -> None:
    """Make sure ``dispatcher`` has a compiled version for the types of ``args`` (under ``compile_lock``)."""
    sig = tuple(numba.typeof(a) for a in args)
    if sig in dispatcher.overloads:
        return
    with compile_lock():
        dispatcher.compile(sig)


def check_compiles(dispatcher: Dispatcher, signature: tuple[numba.types.Type, ...], what: str) -> None:
    """Compile ``dispatcher`` for ``signature``; a failure becomes one ``KernelCompileError`` line naming ``what``."""
    try:
        with compile_lock():
            dispatcher.compile(signature)
    except Exception as exc:  # numba raises many error types; all mean "cannot compile"
        lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(exc).splitlines()]
        lines = [line for line in lines if line and not line.startswith("Failed in")]
        first = lines[0] if lines else type(exc).__name__
        raise KernelCompileError(f"{what} ({dispatcher.py_func.__name__}) does not compile with numba: "
                                 f"{first}") from None
