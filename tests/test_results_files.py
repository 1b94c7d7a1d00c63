"""Results files that must not be silently wrong or lost: locks that survive a deleted sidecar, outputs named
like another output's files, metadata checksums read back by the report, partial files shown as partial,
damaged partials rebuilt on resume, and a disk that fills up during a run."""

import re
import resource
import shutil
import signal
import subprocess
import sys

import h5py
import numpy as np
import pytest

from _common import swap_config
from wgf.cli import main
from wgf.io import (OutputBusyError, OutputLock, ResultsFile, damaged_metadata, lock_path, output_refused,
                    partial_path)
from wgf.report import ReportError, summary

SMALL = swap_config()
WITH_PDE = swap_config(n=(8,), seeds=1, training='init = "si"\nnoise = "projected"\n').replace(
    'init = "wi"\n', "") + """
[pde]
space = "fixed"
cells = 8
half_width = 1.5
"""


def _arrays(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
    return out


def _assert_same_arrays(got, want):
    a, b = _arrays(got), _arrays(want)
    assert sorted(a) == sorted(b)
    for key in b:
        assert np.array_equal(a[key], b[key]), key


def _labels(path):
    """{dataset: [names of the coordinates attached to each axis]}."""
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda k, v: out.__setitem__(k, [sorted(s.name for s in d.values()) for d in v.dims])
                     if isinstance(v, h5py.Dataset) else None)
    assert any(axes and axes[0] for axes in out.values())
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A complete run of SMALL: (config, results)."""
    folder = tmp_path_factory.mktemp("reference")
    cfg = folder / "c.toml"
    cfg.write_text(SMALL)
    assert main(["run", str(cfg), "-o", str(folder / "ref.h5"), "--quiet"]) == 0
    return cfg, folder / "ref.h5"


# ------------------------------------------------------------------ locks and names
def test_a_deleted_sidecar_does_not_let_a_second_writer_in(tmp_path):
    out = tmp_path / "out.h5"
    with ResultsFile(out, "first") as first:
        first.write("x", np.arange(3.0))
        first.sync()
        size = partial_path(out).stat().st_size
        lock_path(out).unlink()  # looks stale: a user removes it
        for resume in (False, True):
            with pytest.raises(OutputBusyError, match="another wgf process"):
                ResultsFile(out, "second", resume=resume)
        assert partial_path(out).stat().st_size == size  # not truncated
    with h5py.File(out, "r") as f:
        assert f.attrs["config"] == "first" and np.array_equal(f["x"][()], np.arange(3.0))
    assert not lock_path(out).exists()  # the second writer's lock file removed with it


def test_no_lock_file_is_left_behind(tmp_path, reference):
    cfg, _ = reference
    with ResultsFile(tmp_path / "a.h5", "cfg"):
        assert lock_path(tmp_path / "a.h5").exists()
    assert output_refused(tmp_path / "b.h5") is None  # the probe writes and removes a file of its own
    assert main(["run", str(cfg), "-o", str(tmp_path / "a.h5"), "--quiet"]) == 2  # exists: refused
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5"]


@pytest.mark.parametrize("name, expected", [("x.h5.partial", "the partial file of"),
                                            (".x.h5.lock", "the lock file of"),
                                            ("x.h5.partial.damaged", "the damaged partial file")])
def test_outputs_named_like_another_outputs_files_are_refused(tmp_path, capsys, reference, name, expected):
    cfg, ref = reference
    shutil.copy(ref, tmp_path / name)
    before = (tmp_path / name).read_bytes()
    for extra in ([], ["--resume"], ["--overwrite"]):
        assert main(["run", str(cfg), "-o", str(tmp_path / name), "--quiet", *extra]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expected in err[0] and name in err[0], err
    assert (tmp_path / name).read_bytes() == before


def test_discover_takes_its_lock_before_any_work(tmp_path, capsys, monkeypatch, reference):
    cfg, _ = reference
    out = tmp_path / "d.h5"
    import functools

    from wgf import discovery

    @functools.wraps(discovery.discover)  # its signature gives the defaults
    def never(*args, **kwargs):
        pytest.fail("discovery ran")

    monkeypatch.setattr(discovery, "discover", never)
    with OutputLock(out):
        assert main(["discover", str(cfg), "-o", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "another wgf process" in err[0]
    assert not out.exists() and not partial_path(out).exists()


# ------------------------------------------------------------------ metadata read back
def _flip_after(path, marker: bytes, value: bytes, offset: int = 6):
    """Flip one bit of the first occurrence of ``value`` after ``marker`` (an attribute's name) in the file."""
    data = bytearray(path.read_bytes())
    at = data.index(value, data.index(marker))
    data[at + offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_flipped_attribute_or_shape_is_named_by_the_report(tmp_path, reference):
    _, ref = reference
    assert "16      2   " in summary(ref)
    with h5py.File(ref, "r") as f:
        assert damaged_metadata(f) == []
        eps = f["particles/N16"].attrs["eps"]
    bad = tmp_path / "attr.h5"
    shutil.copy(ref, bad)
    _flip_after(bad, b"eps\x00", np.float64(eps).tobytes())
    with h5py.File(bad, "r") as f:
        assert f["particles/N16"].attrs["eps"] != eps  # HDF5 itself reads the flipped value without a word
    with pytest.raises(ReportError, match=r"/particles/N\d+: its attributes, shape or type fail their checksum"):
        summary(bad)
    # every stored (2, 3) dimension list (shapes and maximum shapes of the diagnostics): none read back unnoticed
    base = ref.read_bytes()
    dims = np.array((2, 3), "<u8").tobytes()
    hits = [m.start() for m in re.finditer(re.escape(dims), base)][:8]
    assert len(hits) == 8
    for at in hits:
        data = bytearray(base)
        data[at] ^= 0x01  # 2 -> 3
        bad.write_bytes(bytes(data))
        with pytest.raises(ReportError, match="damaged"):
            summary(bad)


def test_the_report_of_a_partial_file_shows_what_has_not_finished(tmp_path, capsys, monkeypatch, reference):
    from wgf import runner

    cfg, _ = reference
    out = tmp_path / "p.h5"
    real, calls = runner.particle_job, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # N = 8 done, N = 16 not started
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "particle_job", interrupted)
    assert main(["run", str(cfg), "-o", str(out), "--quiet"]) == 130
    text = summary(partial_path(out))
    assert "a partial file" in text
    assert re.search(r"\n\s+16\s+0/2\s+not finished\n", text), text
    assert re.search(r"\n\s+8\s+2\s+\d\.\d{4}e[-+]\d\d", text), text
    assert "0.0000e+00" not in text


# ------------------------------------------------------------------ damaged partials on resume
def _flip_chunk(path, dataset, index=(0,)):
    with h5py.File(path, "r") as f:
        info = f[dataset].id.get_chunk_info_by_coord(index)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset)
        byte = fh.read(1)
        fh.seek(info.byte_offset)
        fh.write(bytes([byte[0] ^ 0x10]))


def test_damaged_coordinates_and_marks_of_a_partial_are_rebuilt(tmp_path, caplog, reference):
    cfg, ref = reference
    out = tmp_path / "out.h5"
    partial = partial_path(out)
    shutil.copy(ref, partial)  # every run marked done
    _flip_chunk(partial, "particles/N8/seed")
    _flip_chunk(partial, "particles/N16/trace/trace_time")
    with h5py.File(partial, "r") as f:
        eps = f["particles/N16"].attrs["eps"]
    _flip_after(partial, b"eps\x00", np.float64(eps).tobytes())  # a group's attribute: its marks not trusted
    assert main(["run", str(cfg), "-o", str(out), "--resume"]) == 0  # not quiet: the warnings are logged
    assert "rebuilt from its verified parts" in caplog.text
    assert "/particles/N8/seed" in caplog.text
    _assert_same_arrays(out, ref)
    assert _labels(out) == _labels(ref)  # every axis labelled by its coordinate, as in an uninterrupted run
    with h5py.File(out, "r") as f:
        assert damaged_metadata(f) == []
    summary(out)


def test_a_damaged_grid_of_a_solved_pde_is_solved_again(tmp_path, caplog):
    cfg = tmp_path / "c.toml"
    cfg.write_text(WITH_PDE)
    ref = tmp_path / "ref.h5"
    assert main(["run", str(cfg), "-o", str(ref), "--quiet"]) == 0
    for dataset in ("pde/basis", "pde/u0"):
        out = tmp_path / f"{dataset.replace('/', '_')}.h5"
        shutil.copy(ref, partial_path(out))
        _flip_chunk(partial_path(out), dataset, (0,) * (2 if dataset.endswith("basis") else 1))
        caplog.clear()
        assert main(["run", str(cfg), "-o", str(out), "--resume"]) == 0
        assert f"/{dataset}" in caplog.text and "/pde: its data fails the checksum" in caplog.text
        _assert_same_arrays(out, ref)


# ------------------------------------------------------------------ a full disk
def _limited(limit, argv, *, margin=None):
    """``wgf argv`` in a process whose files may not exceed ``limit`` bytes (writes beyond fail with EFBIG)."""
    def limit_files():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    code = ("import sys, wgf.io\n" + (f"wgf.io.WRITE_MARGIN = {margin}\n" if margin is not None else "")
            + "from wgf.cli import main\nsys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=300,
                          preexec_fn=limit_files)


def test_a_filling_disk_stops_the_run_before_hdf5_fails(tmp_path, capsys, monkeypatch, reference):
    """A disk with room for about half the file: the room asked for before each write is refused, the run
    stops in one line (exit 1) with its partial intact, and after space is freed --resume completes it."""
    import os
    from types import SimpleNamespace

    from wgf.io import WRITE_MARGIN

    cfg, ref = reference
    out = tmp_path / "out.h5"
    real = os.statvfs

    def filling(path):  # free space: a fixed budget less what the partial file holds
        st = real(path)
        used = partial_path(out).stat().st_size if partial_path(out).exists() else 0
        fields = {k: getattr(st, k) for k in dir(st) if k.startswith("f_")}
        fields["f_bavail"] = fields["f_bfree"] = max(0, WRITE_MARGIN + 60_000 - used) // st.f_frsize
        return SimpleNamespace(**fields)

    monkeypatch.setattr(os, "statvfs", filling)
    assert main(["run", str(cfg), "-o", str(out), "--quiet"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "No space left on device" in lines[0] and "--resume" in lines[0], lines
    with h5py.File(partial_path(out), "r") as f:  # opens, verifies, and holds the finished runs
        assert damaged_metadata(f, complete=False) == []
        assert f["particles/N8"].attrs.get("done_0") == 1
    monkeypatch.setattr(os, "statvfs", real)
    assert main(["run", str(cfg), "-o", str(out), "--quiet", "--resume"]) == 0
    _assert_same_arrays(out, ref)


@pytest.mark.slow
def test_a_write_that_fails_in_hdf5_leaves_a_partial_that_resume_rebuilds(tmp_path, reference):
    """A real file size limit (RLIMIT_FSIZE: writes beyond fail with EFBIG) and no room asked for: HDF5 fails
    in the middle of its writes; one line, exit 1, no traceback; --resume rebuilds the partial and completes
    the results bit for bit."""
    cfg, ref = reference
    out = tmp_path / "hard.h5"
    res = _limited(60_000, ["run", str(cfg), "-o", str(out), "--quiet"], margin=-10**9)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "File too large" in res.stderr
    assert main(["run", str(cfg), "-o", str(out), "--quiet", "--resume"]) == 0
    _assert_same_arrays(out, ref)

def test_a_saved_object_with_a_flipped_attribute_is_refused(tmp_path):
    from wgf.io import SavedFileError, read_object, save_object

    def fill(f):
        ds = f.create_dataset("x", data=np.arange(4.0))
        ds.attrs["scale"] = 0.123456789

    path = save_object(tmp_path / "o.h5", "History", fill)
    with read_object(path, "History") as f:
        assert f["x"].attrs["scale"] == 0.123456789
    _flip_after(path, b"scale\x00", np.float64(0.123456789).tobytes())
    with pytest.raises(SavedFileError, match=r"damaged saved History \(/x: its attributes, shape or type fail"):
        with read_object(path, "History"):
            pass


def test_a_complete_file_with_a_flipped_config_is_not_taken_for_another_config(tmp_path, capsys, reference):
    cfg, ref = reference
    out = tmp_path / "out.h5"
    shutil.copy(ref, out)
    _flip_after(out, b"config\x00", b"[particles]", offset=3)
    assert main(["run", str(cfg), "-o", str(out), "--quiet", "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a wgf results file that can be read" in err[0], err


# ------------------------------------------------------------------ the hypotheses a run states
def test_a_run_states_its_hypotheses_in_the_file_and_the_report(reference):
    from wgf.config import load_config
    from wgf.report import summary

    cfg, ref = reference
    expected = load_config(cfg).problem.hypotheses()
    with h5py.File(ref, "r") as f:
        assert f.attrs["hypotheses"].splitlines() == list(expected)
    text = summary(ref)
    assert "risk invariant: yes" in expected[0] and all(line in text for line in expected)
