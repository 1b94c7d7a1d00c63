"""Memory estimates: the formulas of wgf.resources against the arrays the engines allocate and the memory measured."""

import inspect
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from _common import swap_config
from wgf import ConfigError, parse_config
from wgf.resources import KEEP_MAX_BYTES, kept_rows
from wgf.plan import experiment_needs
from wgf.resources import (AUTO_LU_MAX_BYTES, CHUNK, F64, PROCESS_BYTES, ResourceError, check_processes, lu_bytes,
                           lu_nonzeros, particle_bytes, solver_bytes, structure_bytes)


def _allocated_floats(**sizes) -> float:
    """float64 numbers of the work arrays ``advance`` of wgf.particles.kernels allocates, read from its source
    (every np.empty / np.zeros of the function, its shape evaluated at ``sizes``)."""
    from wgf.particles import kernels
    from wgf.unit_kernels import WORK_ROWS

    source = inspect.getsource(kernels._build_advance)
    body = source[source.index("    def advance(theta, k0, steps, seed, spec"):]
    body = body[:body.index("for step in range")]
    shapes = re.findall(r"np\.(?:empty|zeros)\(\(?([^()]*?)\)?\)", body.replace("max(keep_rows, 1)", "keep_width"))
    assert len(shapes) == 23, shapes  # the engine's arrays: a new one must be counted in particle_bytes
    sizes["keep_width"] = max(sizes["keep_rows"], 1)
    return sum(float(np.prod(eval(f"({shape},)", {"CHUNK": CHUNK, "WORK_ROWS": WORK_ROWS}, sizes)))
               for shape in shapes)


@pytest.mark.parametrize("n,dim,dx,dy,batch,orbit,rows,keep", [
    (8, 4, 2, 2, 10**6, 1, 1, 2),      # vanilla, one chunk, too many rows to keep (kept_rows 0)
    (8, 4, 2, 2, 1000, 1, 1, 2),       # the same with a batch whose kept rows fit
    (1000, 4, 2, 2, 20, 1, 2, 0),      # fa: |G| rows per sample, 8 chunks, a unit that keeps nothing
    (300, 10, 3, 5, 1000, 6, 1, 4),    # da in orbit mode: |G| B samples
])
def test_particle_memory_counts_every_array_of_the_engine(n, dim, dx, dy, batch, orbit, rows, keep):
    n_batch = batch * orbit
    sizes = dict(n_batch=n_batch, n_rows=rows * n_batch, batch=batch, dx=dx, dy=dy, dim=dim,
                 n_chunks=-(-n // CHUNK), keep_rows=kept_rows(n, rows * n_batch, keep))
    counted = _allocated_floats(**sizes)
    estimate = particle_bytes(n, dim, dx, dy, batch, orbit=orbit, rows=rows, keep=keep) / F64 - 12.0 * n * dim
    assert estimate == counted  # exactly the work arrays; the 12 N D positions and copies come on top
    assert kept_rows(n, rows * n_batch, keep) == (keep if CHUNK * -(-n // CHUNK) * rows * n_batch * keep * 8
                                                  <= KEEP_MAX_BYTES else 0)


def test_the_particle_estimate_scales_with_the_batch_and_refuses_what_does_not_fit():
    exp = parse_config(swap_config(n=(8,), seeds=1).replace("batch = 5", "batch = 10000000"))
    memory = experiment_needs(exp)[0][1]
    assert 2.0e9 < memory < 2.2e9  # 27 numbers per sample (measured: 2.0 GB)
    for batch in (10**8, 10**9):  # 20 and 200 GB
        with pytest.raises(ConfigError, match=r"\[particles\] n = 8 .*batch %d.* needs about" % batch):
            parse_config(swap_config(n=(8,), seeds=1).replace("batch = 5", f"batch = {batch}"))


def test_lu_fill_bounds_the_fill_measured_with_superlu():
    # nonzeros of L + U measured with SuperLU (minimum degree on A^T + A) on Laplacian-pattern grids
    measured = {(1, 100000): 399998, (2, 65536): 3407022, (3, 32768): 15732582, (4, 20736): 23530118,
                (4, 65536): 173724004}
    for (axes, cells), nnz in measured.items():
        assert nnz <= lu_nonzeros(cells, axes) <= 1.25 * nnz, (axes, cells)
    assert lu_bytes(65536, 4) == 2 * 12 * lu_nonzeros(65536, 4)


def test_lu_fill_of_the_grids_operator_is_bounded():
    import scipy.sparse as sp
    from scipy.sparse.linalg import splu

    from wgf.grids.flux import fokker_planck_operator

    for shape in ((64, 64), (16, 16, 16), (8, 8, 8, 8)):  # the sizes the fill was fitted from on
        rng = np.random.default_rng(0)
        a = fokker_planck_operator(rng.normal(size=shape), [0.1] * len(shape), 1e-2)
        m = (sp.identity(a.shape[0], format="csc") - 0.1 * a).tocsc()
        lu = splu(m, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, relax=3, panel_size=10,
                  options={"SymmetricMode": True})
        assert lu.L.nnz + lu.U.nnz <= lu_nonzeros(m.shape[0], len(shape)), shape


def test_an_implicit_solve_beyond_superlu_is_refused_naming_the_key():
    text = swap_config(n=(8,), seeds=1) + '[pde]\nspace = "full"\ncells = 24\nhalf_width = 2.0\nmethod = "implicit"\n'
    with pytest.raises(ConfigError, match=r"^\[pde\] method: an implicit solve on 24 x 24 x 24 x 24 cells needs "
                                          r"about 3.2e\+09 nonzeros"):
        parse_config(text.replace('init = "wi"', 'init = "wi"'))
    exp = parse_config(text.replace("cells = 24", "cells = 8"))
    structure = structure_bytes(2, 4)  # the |G| = 2 matrices M_g, P_E, ... held by the process
    assert experiment_needs(exp)[1][1] == pytest.approx(structure + (3 + 40) * 8**4 * 8 + lu_bytes(8**4, 4))
    assert experiment_needs(exp)[0][1] == structure + particle_bytes(8, 4, 2, 2, 5, snapshots=3, keep=2)  # sigmoid_matrix keeps dy rows


def test_the_size_check_counts_the_time_integrators_factors():
    text = swap_config(n=(8,), seeds=1) + '[pde]\nspace = "full"\ncells = 8\nhalf_width = 2.0\nmethod = "split"\n'
    base = structure_bytes(2, 4) + (3 + 40) * 8**4 * 8  # the separable unit's potential keeps no table
    split = 2 * 3 * 8**4 * 4 * 8  # two sets of 3 floats per cell and axis, no fill-in
    assert experiment_needs(parse_config(text))[1][1] == pytest.approx(base + split)
    assert experiment_needs(parse_config(text.replace('"split"', '"explicit"')))[1][1] == pytest.approx(base)
    # auto may take SuperLU on a small grid (the larger estimate), never factors above AUTO_LU_MAX_BYTES
    assert experiment_needs(parse_config(text.replace('"split"', '"auto"')))[1][1] == pytest.approx(
        base + lu_bytes(8**4, 4))
    assert solver_bytes("auto", 32**4, 4) == solver_bytes("split", 32**4, 4) == 2 * 3 * 32**4 * 4 * 8
    assert lu_bytes(32**4, 4) > AUTO_LU_MAX_BYTES


def test_the_size_check_counts_the_potentials_table():
    """On E^G the potential stores sigma(x_q, z_c), C Q dy floats, where it fits a quarter of the free memory."""
    from wgf.grids.potential import table_budget, table_bytes

    text = swap_config(n=(8,), seeds=1, training='scheme = "fa"\nnoise = "projected"\n')
    exp = parse_config(text.replace('init = "wi"', 'init = "si"')
                       + '[pde]\nspace = "fixed"\ncells = 64\nhalf_width = 2.0\nmethod = "split"\n')
    table = table_bytes(64**2, len(exp.problem.quadrature.weights), 2)
    assert table == 64**2 * len(exp.problem.quadrature.weights) * 2 * 8 <= table_budget()
    base = structure_bytes(2, 4) + (3 + 40) * 64**2 * 8 + 2 * 3 * 64**2 * 2 * 8
    assert experiment_needs(exp)[1][1] == pytest.approx(base + table)


def test_worker_processes_are_counted():
    check_processes("a run", 1, 1e9, free_memory=1e9)  # one process: this one, already running
    with pytest.raises(ResourceError, match=r"^--workers 4 \(350 MB per process besides its job, a run\) needs "
                                            r"about 1.44 GB"):
        check_processes("a run", 4, 10e6, free_memory=1.5e9)
    check_processes("a run", 4, 10e6, free_memory=1.9e9)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux: resets the peak resident set size")
def test_measured_peak_memory_is_under_the_estimate():
    """The peak resident set size of a run with a large batch, over the resident size before it, in a process of
    its own. The peak (VmHWM) is reset before the run (/proc/self/clear_refs), so the compilation's own
    peak does not hide or inflate the run's."""
    code = f"""
import sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from _common import swap_config
from wgf import parse_config
from wgf.particles import simulate

def status(key):
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key + ":"))

from wgf import resources

p = parse_config(swap_config(n=(8,), seeds=1)).problem
# the same run with a batch of 5, compiled: the loop that recomputes the VJP's slopes, which a batch of 1e6
# takes (its kept array would pass KEEP_MAX_BYTES)
cap, resources.KEEP_MAX_BYTES = resources.KEEP_MAX_BYTES, 0
simulate(p, 8, 0, [0.0, 0.01], alpha=0.08, batch=5, store=False)
resources.KEEP_MAX_BYTES = cap
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")
base = status("VmRSS")
simulate(p, 8, 0, [0.0, 0.01], alpha=0.08, batch=1000000, store=False)
print(base, status("VmHWM") - base)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    base, extra = map(int, out.stdout.split())
    estimate = particle_bytes(8, 4, 2, 2, 10**6, keep=2)
    assert kept_rows(8, 10**6, 2) == 0
    assert 0.5 * estimate <= extra <= estimate, (extra, estimate)  # measured 184 MB against 200 MB
    assert base <= PROCESS_BYTES  # measured 225 MB (kernels from numba's cache) to 334 MB (compiling them)


def test_a_sweep_on_more_worker_processes_than_memory_holds_is_refused_before_any_run(tmp_path, capsys, monkeypatch):
    from wgf import resources
    from wgf.cli import main

    cfg = tmp_path / "c.toml"
    cfg.write_text(swap_config())
    monkeypatch.setattr(resources, "available_memory", lambda: 1.4e9)  # 4 processes of 350 MB exceed 80 %
    assert main(["sweep", str(cfg), "--workers", "4", "-o", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--workers 4 (350 MB per process besides its job, the largest run of the sweep)" in err[0]
    assert not list((tmp_path / "x").glob("sweep.h5*"))


def test_a_run_on_more_worker_processes_than_memory_holds_is_refused_before_any_run(tmp_path, capsys, monkeypatch):
    from wgf import resources
    from wgf.cli import main

    cfg = tmp_path / "c.toml"
    cfg.write_text(swap_config(n=(8, 16), seeds=2))
    monkeypatch.setattr(resources, "available_memory", lambda: 1.4e9)
    assert main(["run", str(cfg), "--workers", "4", "-o", str(tmp_path / "x.h5"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--workers 4 (350 MB per process besides its job, the largest particle run)" in err[0]
    assert not list(tmp_path.glob("x.h5*"))


def test_auto_never_chooses_an_implicit_step_superlu_cannot_factorize(monkeypatch):
    from wgf.grids import Grid, choose_method
    from wgf.grids import cost

    grid = Grid([(-2.0, 2.0)] * 2, 96)  # the case where a costly potential makes implicit steps cheaper
    rho = np.exp(-0.5 * np.sum(grid.centers**2, axis=-1) / 0.0625)
    rho /= rho.sum() * grid.cell_volume
    u = 0.3 * np.sum(grid.centers**2, axis=-1)
    monkeypatch.setattr(cost, "SPLIT_FACTOR_SECONDS_PER_CELL_AXIS", 1.0)  # as if split steps were dear
    assert choose_method(rho, u, grid.spacing, 1e-3, 1.0, tol=1e-3, potential_seconds=10.0).method == "implicit"
    monkeypatch.setattr(cost, "SUPERLU_MAX_NONZEROS", lu_nonzeros(96**2, 2) - 1)  # as 24^4 cells against 2^31
    choice = choose_method(rho, u, grid.spacing, 1e-3, 1.0, tol=1e-3, potential_seconds=10.0)
    assert choice.method == "explicit" and "more than it indexes (2^31 - 1)" in choice.reason
    monkeypatch.setattr(cost, "SUPERLU_MAX_NONZEROS", 2**31 - 1)
    monkeypatch.setattr(cost, "AUTO_LU_MAX_BYTES", lu_bytes(96**2, 2) - 1)  # factors larger than auto allows
    choice = choose_method(rho, u, grid.spacing, 1e-3, 1.0, tol=1e-3, potential_seconds=10.0)
    assert choice.method == "explicit" and "no SuperLU: its factors would take about" in choice.reason
