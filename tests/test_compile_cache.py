"""Compilation and the on-disk numba cache in any order of first use and under concurrency.

Each sequence runs real ``wgf`` processes on a fresh, private NUMBA_CACHE_DIR and
must exit 0 every time: discovery (which trains on a fixed batch) before a
particle run, then a recompiled step loop in processes that load its callees
from the cache; three processes (more than the 2 cores) compiling into one empty
cache at once, then a fourth.
The particle config has N above the parallel threshold, so the parallel loops
are compiled and cached too.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # real wgf processes on private numba caches (see conftest.py)

ROOT = Path(__file__).resolve().parents[1]

RUN = """
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
t_end = 0.2
snapshots = 2
[particles]
n = [400, 2500]
seeds = 1
alpha = 50.0
"""

DISCOVER = RUN.split("[particles]")[0] + """
[discover]
n = 50
round_time = 0.5
max_dim = 2
"""


def _wgf(args, cache, cwd, **kw):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    return subprocess.Popen([sys.executable, "-m", "wgf", *args, "--quiet"], env=env, cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _ok(proc, timeout=600):
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}: {err[-2000:]}"


@pytest.fixture
def configs(tmp_path):
    (tmp_path / "run.toml").write_text(RUN)
    (tmp_path / "discover.toml").write_text(DISCOVER)
    return tmp_path


def test_discover_then_run_then_a_recompiled_step_loop_with_cached_callees(configs):
    """Discovery (a fixed batch) compiles first, then a particle run loads what it shares and compiles the
    rest; with only the step loop's cache entry deleted, two more runs recompile it around cached callees."""
    cache = configs / "cache"
    _ok(_wgf(["discover", "discover.toml", "-o", "d.h5"], cache, configs))
    _ok(_wgf(["run", "run.toml", "-o", "a.h5"], cache, configs))
    entries = [p for p in cache.rglob("*") if p.is_file() and "advance" in p.name]
    assert entries, "the step loop was not cached"
    for p in entries:  # delete only the step loop's cache entry
        p.unlink()
    for i in range(2):
        _ok(_wgf(["run", "run.toml", "-o", f"b{i}.h5"], cache, configs))
    import h5py
    import numpy as np

    with h5py.File(configs / "a.h5") as a, h5py.File(configs / "b1.h5") as b:
        assert np.array_equal(a["particles/N2500/positions"][()], b["particles/N2500/positions"][()])


def test_three_concurrent_first_compilations_then_a_fourth(configs):
    cache = configs / "cache"
    procs = [_wgf(["run", "run.toml", "-o", f"c{i}.h5"], cache, configs) for i in range(3)]
    for p in procs:
        _ok(p)
    _ok(_wgf(["run", "run.toml", "-o", "c5.h5"], cache, configs))
    import h5py
    import numpy as np

    with h5py.File(configs / "c0.h5") as a, h5py.File(configs / "c5.h5") as b:
        assert np.array_equal(a["particles/N2500/positions"][()], b["particles/N2500/positions"][()])


_FIRST_USE = """
import sys
import numpy as np
from wgf.jit import FASTMATH, jit
from wgf.particles.rng import fill_normal

@jit(error_model="numpy", fastmath=FASTMATH)
def fast_caller(seed, stream, k, out):
    fill_normal(seed, stream, k, out)

z = np.empty(11)
if sys.argv[1] == "kernel-first":
    fast_caller(20240917, 2, 5, np.empty(11))  # a fast-math kernel compiles fill_normal first
fill_normal(20240917, 2, 5, z)
print(repr(z.tolist()))
"""


def test_numerics_do_not_depend_on_the_order_of_first_use(tmp_path):
    """A function called from Python and from a fast-math kernel compiles with its own flags, whichever
    compiles it first (numba would otherwise give it its first caller's flags: results 1 ulp apart)."""
    outs = []
    for order in ("python-first", "kernel-first"):
        env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / order))
        res = subprocess.run([sys.executable, "-c", _FIRST_USE, order], env=env, capture_output=True, text=True,
                             timeout=600)
        assert res.returncode == 0, res.stderr
        outs.append(res.stdout)
    assert outs[0] == outs[1]
