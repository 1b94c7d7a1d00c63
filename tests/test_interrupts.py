"""Ctrl-C always stops a command (wgf.interrupts, docs/outputs.md "Faults")."""

import ctypes
import os
import signal
import subprocess
import sys
import time

import pytest
from _common import swap_config

from wgf.interrupts import REPEAT, interruptible

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def _interrupt_inside_callback():
    """SIGINT delivered while Python runs inside a ctypes callback: the KeyboardInterrupt is raised there,
    and ctypes drops it as "unraisable" (what llvmlite's callbacks do while numba compiles)."""

    @ctypes.CFUNCTYPE(None)
    def callback():
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs at one of these bytecodes
            pass

    ctypes.CFUNCTYPE(None, ctypes.c_void_p)(lambda _: None)  # ctypes loaded before the clock starts
    callback()


def _busy(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return time.monotonic()


def test_an_interrupt_dropped_in_a_callback_is_raised_again(monkeypatch):
    dropped = []
    monkeypatch.setattr(sys, "unraisablehook", lambda report: dropped.append(report.exc_type))
    with pytest.raises(KeyboardInterrupt):
        with interruptible() as state:
            start = time.monotonic()
            _interrupt_inside_callback()
            _busy(2.0)
    assert state["interrupted"]
    assert time.monotonic() - start < 20 * REPEAT + 0.5
    assert dropped == []  # nothing reported about the dropped one: it was raised again


def test_control_without_the_guard_the_interrupt_is_lost(monkeypatch):
    dropped = []
    monkeypatch.setattr(sys, "unraisablehook", lambda report: dropped.append(report.exc_type))
    _interrupt_inside_callback()
    _busy(0.3)  # no KeyboardInterrupt here: Python dropped it
    assert dropped == [KeyboardInterrupt]


def test_cleanup_after_an_interrupt_runs_undisturbed():
    cleaned = []
    with pytest.raises(KeyboardInterrupt):
        with interruptible():
            try:
                os.kill(os.getpid(), signal.SIGINT)
                _busy(1.0)
            finally:  # a KeyboardInterrupt is being handled: the repeated ones stand back
                _busy(10 * REPEAT)
                cleaned.append(True)
    assert cleaned == [True]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


@pytest.mark.slow
def test_sigint_while_numba_compiles_exits_130(tmp_path):
    """``wgf run`` on an empty numba cache, interrupted while it compiles: exit 130, one line, no finished file."""
    (tmp_path / "c.toml").write_text(swap_config(n=(8,), seeds=1))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    for delay in (1.5, 3.0):
        proc = subprocess.Popen([sys.executable, "-m", "wgf", "run", "c.toml", "-o", "o.h5", "--overwrite"],
                                cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert len(err.strip().splitlines()) == 1 and err.startswith("wgf: error: interrupted"), err
        assert not (tmp_path / "o.h5").exists()
