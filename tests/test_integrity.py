"""Data integrity and hostile input: checksums, durable marks, a full disk, byte corruption, and
inputs refused in one line with exit code 2 before any work starts."""

import errno

import h5py
import numpy as np
import pytest

from wgf.cli import main
from wgf.config import ConfigError, parse_config
from wgf.io import ResultsFile, intact, lock_path, partial_path
from wgf.resources import ResourceError, check_bytes

from _common import swap_config

SMALL = swap_config()
PDE = """
[pde]
space = "full"
cells = [6]
half_width = 1.0
"""


def _run(tmp_path, text=SMALL, *extra, name="c.toml"):
    cfg = tmp_path / name
    cfg.write_text(text)
    return cfg


def _arrays(path):
    with h5py.File(path, "r") as f:
        out = {}
        f.visititems(lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
    return out


def _one_line_exit_2(capsys, argv, expected):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0], err
    return err[0]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run of SMALL: (config path, results path)."""
    folder = tmp_path_factory.mktemp("reference")
    cfg = folder / "c.toml"
    cfg.write_text(SMALL)
    out = folder / "ref.h5"
    assert main(["run", str(cfg), "-o", str(out), "--quiet"]) == 0
    return cfg, out


# ------------------------------------------------------------------ checksums and durable marks
def test_every_array_is_checksummed(reference):
    _, out = reference
    with h5py.File(out, "r") as f:
        sets = []
        f.visititems(lambda k, v: sets.append(v) if isinstance(v, h5py.Dataset) else None)
        assert sets and all(ds.fletcher32 for ds in sets if ds.size)


def _flip_bytes(path, dataset, index, n_bytes=64, seed=0):
    """Overwrite ``n_bytes`` random bytes inside the stored chunk ``index`` of ``dataset``."""
    with h5py.File(path, "r") as f:
        info = f[dataset].id.get_chunk_info(index)
    rng = np.random.default_rng(seed)
    with open(path, "r+b") as fh:
        for _ in range(n_bytes):
            fh.seek(info.byte_offset + int(rng.integers(info.size - 4)))  # data bytes, not the checksum
            fh.write(bytes([int(rng.integers(256))]))


def test_a_bit_flipped_run_is_detected_and_run_again(tmp_path, reference, capsys, caplog):
    cfg, ref = reference
    out = tmp_path / "out.h5"
    partial_path(out).write_bytes(ref.read_bytes())  # a partial whose runs are all marked done
    _flip_bytes(partial_path(out), "particles/N16/positions", 3)  # chunk (seed 1, snapshot 0)
    with h5py.File(partial_path(out), "r") as f:
        ds = f["particles/N16/positions"]
        assert not intact(ds, index=1) and intact(ds, index=0)
    assert main(["report", str(partial_path(out))]) == 2
    assert "damaged" in capsys.readouterr().err
    assert main(["run", str(cfg), "-o", str(out), "--resume"]) == 0
    assert "/particles/N16, seed 1: its data fails the checksum" in caplog.text  # the damaged run, named
    got, want = _arrays(out), _arrays(ref)
    assert got.keys() == want.keys()
    for key in want:
        assert np.array_equal(got[key], want[key]), key


def test_a_full_disk_never_marks_unwritten_data(tmp_path, reference, capsys, monkeypatch):
    """The disk fills up in the middle of the second run: exit 1 in one line; the run is not marked;
    --resume completes the file bit for bit."""
    cfg, ref = reference
    out = tmp_path / "out.h5"
    real = h5py.Dataset.__setitem__
    count = {"writes": 0}

    def full_disk(self, key, value):
        if self.name.startswith("/particles/N8/") and "/trace/" not in self.name:
            count["writes"] += 1
            if count["writes"] > 4:  # run 0 writes its 4 arrays whole (and its trace); run 1 fails
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, key, value)

    monkeypatch.setattr(h5py.Dataset, "__setitem__", full_disk)
    assert main(["run", str(cfg), "-o", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No space left" in err[0] and "--resume" in err[0]
    monkeypatch.setattr(h5py.Dataset, "__setitem__", real)
    with h5py.File(partial_path(out), "r") as f:
        marks = {k for k in f["particles/N8"].attrs if k.startswith("done_")}
    assert marks == {"done_0"}
    assert main(["run", str(cfg), "-o", str(out), "--quiet", "--resume"]) == 0
    got, want = _arrays(out), _arrays(ref)
    for key in want:
        assert np.array_equal(got[key], want[key]), key


def test_mark_done_syncs_before_and_after_the_mark(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr("os.fsync", lambda fd: calls.append("fsync"))
    with ResultsFile(tmp_path / "o.h5", "cfg") as f:
        f.write("a", np.arange(4.0))
        grp = f.file.create_group("g")
        real_attrs = grp.attrs
        f.mark_done(grp, "done_0")
        assert calls == ["fsync", "fsync"] and real_attrs["done_0"] == 1


def test_an_unopenable_partial_is_kept_aside(tmp_path, capsys):
    cfg = _run(tmp_path)
    out = tmp_path / "out.h5"
    partial_path(out).write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(200))  # a truncated header
    assert main(["run", str(cfg), "-o", str(out), "--quiet", "--resume"]) == 0
    assert (tmp_path / "out.h5.partial.damaged").read_bytes().startswith(b"\x89HDF")


# ------------------------------------------------------------------ hostile files and paths
def test_binary_and_non_utf8_configs(tmp_path, capsys):
    binary = tmp_path / "b.toml"
    binary.write_bytes(bytes(range(256)) * 4)
    _one_line_exit_2(capsys, ["run", str(binary)], "not UTF-8")
    nul = tmp_path / "n.toml"
    nul.write_text(SMALL + "\x00")
    _one_line_exit_2(capsys, ["run", str(nul)], "NUL")
    _one_line_exit_2(capsys, ["run", str(tmp_path)], "is a folder")


@pytest.mark.parametrize("case", ["folder", "folder_overwrite", "config", "parent_is_file", "no_parent",
                                  "partial_is_folder", "lock_is_folder"])
def test_outputs_that_cannot_hold_results(tmp_path, capsys, case):
    cfg = _run(tmp_path)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    out, extra, expected = {
        "folder": (tmp_path / "adir", [], "is a folder"),
        "folder_overwrite": (tmp_path / "adir", ["--overwrite"], "is a folder"),
        "config": (cfg, ["--overwrite"], "is the config itself"),
        "parent_is_file": (tmp_path / "afile" / "o.h5", [], "is not a folder"),
        "no_parent": (tmp_path / "nope" / "o.h5", [], "does not exist"),
        "partial_is_folder": (tmp_path / "p.h5", ["--resume"], "not a file"),
        "lock_is_folder": (tmp_path / "l.h5", [], "not a file"),
    }[case]
    if case == "partial_is_folder":
        partial_path(out).mkdir()
    if case == "lock_is_folder":
        lock_path(out).mkdir()
    _one_line_exit_2(capsys, ["run", str(cfg), "-o", str(out), "--quiet", *extra], expected)
    assert cfg.read_text() == SMALL
    assert not any(p.suffix == ".partial" and p.is_file() for p in tmp_path.rglob("*"))


def test_figures_into_a_file_is_refused_before_the_run(tmp_path, capsys, reference):
    cfg = _run(tmp_path)
    afile = tmp_path / "afile"
    afile.write_text("x")
    out = tmp_path / "o.h5"
    _one_line_exit_2(capsys, ["run", str(cfg), "-o", str(out), "--figures", str(afile)], "is a file")
    assert not out.exists() and not partial_path(out).exists()
    _one_line_exit_2(capsys, ["report", str(reference[1]), "--figures", str(afile)], "is a file")


def test_report_on_foreign_and_damaged_files(tmp_path, capsys):
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    _one_line_exit_2(capsys, ["report", str(foreign)], "not a wgf results file")
    odd = tmp_path / "odd.h5"
    with h5py.File(odd, "w") as f:  # claims to be wgf, but its groups hold compound and 3-D arrays
        f.attrs["wgf_version"] = "0"
        f["pde/time"] = np.zeros((2, 2, 2))
        f["pde/density"] = np.zeros(3, dtype=[("a", "f8"), ("b", "i4")])
    _one_line_exit_2(capsys, ["report", str(odd)], "damaged or not a complete wgf results file")
    _one_line_exit_2(capsys, ["report", str(tmp_path)], "is a folder")
    text = tmp_path / "t.h5"
    text.write_text("hello")
    _one_line_exit_2(capsys, ["report", str(text)], "not an HDF5 file")


@pytest.mark.parametrize("kind", ["compound", "3d", "strings", "missing"])
def test_datasets_of_the_wrong_kind(tmp_path, capsys, kind):
    path = tmp_path / "d.h5"
    with h5py.File(path, "w") as f:
        x = np.random.default_rng(0).normal(size=(20, 2))
        if kind == "compound":
            f["x"] = np.zeros(20, dtype=[("a", "f8"), ("b", "f8")])
        elif kind == "3d":
            f["x"] = np.zeros((20, 2, 2))
        elif kind == "strings":
            f["x"] = np.array([b"a"] * 20)
        if kind != "missing":
            f["y"] = x
    cfg = _run(tmp_path, SMALL.replace('teacher = "wi"\nteacher_particles = [[-0.5, 0.0, 0.0, 0.25], '
                                       '[0.25, 0.5, 0.0, 0.5]]\nquadrature_points = 8', 'dataset = "d.h5"'))
    _one_line_exit_2(capsys, ["run", str(cfg), "-o", str(tmp_path / "o.h5")], "[data] dataset")


# ------------------------------------------------------------------ sizes and geometry
@pytest.mark.parametrize("change, expected", [
    (("n = [8, 16]\nseeds = 2\nalpha = 4.0", "n = [8, 1000000000000]\nseeds = 2\nstep = 0.5"),
     "[particles] n = 1000000000000"),
    (("seeds = 2", "seeds = 1000000000000"), "on disk"),
    (("batch = 5", "batch = 1000000000000"), "of memory"),
])
def test_sizes_that_cannot_fit_are_refused_with_the_estimate(tmp_path, capsys, change, expected):
    cfg = _run(tmp_path, SMALL.replace(*change))
    line = _one_line_exit_2(capsys, ["run", str(cfg), "-o", str(tmp_path / "o.h5")], expected)
    assert "needs about" in line
    assert not (tmp_path / "o.h5.partial").exists()


def test_pde_cells_that_cannot_fit(capsys):
    with pytest.raises(ConfigError, match=r"\[pde\] cells = \[100000, 100000, 100000, 100000\].*needs about"):
        parse_config(SMALL + PDE.replace("cells = [6]", "cells = [100000]").replace("half_width = 1.0",
                                                                                 "half_width = 1e4"))


def test_check_bytes_against_given_limits():
    check_bytes("x", 700, 10, free_memory=1000, free_disk=10)
    with pytest.raises(ResourceError, match="x needs about 900 B of memory"):
        check_bytes("x", 900, free_memory=1000)
    with pytest.raises(ResourceError, match="x needs about 11 B on disk"):
        check_bytes("x", disk=11, free_disk=10)


@pytest.mark.parametrize("change, expected", [
    (("init = \"wi\"", "init = \"wi\"\ninit_std = 0.0"), "init_std"),
    (("half_width = 1.0", "half_width = 1e-80"), "cuts the initial density"),
    (("half_width = 1.0", "half_width = 1e80"), "cannot resolve"),
    (("half_width = 1.0", "half_width = 1e-300"), "out of range"),
    (("half_width = 1.0", "half_width = 1e300"), "out of range"),
    (("half_width = 1.0", "bounds = [[0.1, 1.0]]"), "cuts the initial density"),
])
def test_invalid_pde_geometry(change, expected):
    text = SMALL + PDE
    with pytest.raises(ConfigError, match=expected):
        parse_config(text.replace(*change))


def test_a_marked_run_whose_chunks_were_never_written_is_not_intact(tmp_path):
    """A mark that reached the disk while the data did not (zeros from the fill value) is caught."""
    with ResultsFile(tmp_path / "o.h5", "cfg") as f:
        pos = f.dataset("particles/N4/positions", (2, 3, 4, 2), chunks=(1, 1, 4, 2))
        risk = f.dataset("particles/N4/risk", (2, 3))
        pos[0] = 1.0
        risk[0] = 1.0
        assert intact(pos, risk, index=0)
        assert not intact(pos, index=1)  # never written
        pos[1, :2] = 1.0
        assert not intact(pos, index=1)  # one snapshot missing
        pos[1, 2] = np.nan
        assert not intact(pos, index=1)  # written but not finite
        pos[1, 2] = 2.0
        assert intact(pos, risk, index=1)


# ------------------------------------------------------------------ classes found by a hostile sweep
def test_special_files_and_strings_in_configs(tmp_path, capsys):
    import os

    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    _one_line_exit_2(capsys, ["run", str(fifo)], "not a regular file")
    _one_line_exit_2(capsys, ["run", "/dev/zero"], "not a regular file")
    cfg = _run(tmp_path, 'title = "a\\u0000b"\n' + SMALL)
    _one_line_exit_2(capsys, ["run", str(cfg)], "control characters")
    _one_line_exit_2(capsys, ["run", str(tmp_path / ("x" * 300 + ".toml"))], "too long")


@pytest.mark.parametrize("change, expected", [
    (("dim_x = 2", "dim_x = 1000000000000000000000000000000"), "out of range"),
    (("beta = 1e-4", "beta = 1e300"), "out of range"),
    (("t_end = 2.0", "t_end = 1e12"), "SGD steps"),
    (('unit = "sigmoid_matrix"\ndim_x = 2\ndim_y = 2', 'unit = "linear"\ndim_x = 2000\ndim_y = 2000'), "parameters"),
    (('name = "swap"', 'name = "permutation"'), None),  # 2 elements: fine
])
def test_sizes_of_the_model_itself(tmp_path, capsys, change, expected):
    cfg = _run(tmp_path, SMALL.replace(*change))
    if expected is None:
        parse_config(cfg.read_text())
        return
    _one_line_exit_2(capsys, ["run", str(cfg), "-o", str(tmp_path / "o.h5")], expected)


def test_groups_too_large_to_tabulate(capsys):
    text = SMALL.replace('name = "swap"', 'name = "permutation"').replace("dim_x = 2", "dim_x = 7").replace(
        "dim_y = 2", "dim_y = 1")
    with pytest.raises(ConfigError, match=r"\[group\] name: 'permutation' on R\^7 has 5.04e\+03 elements"):
        parse_config(text)


def test_discover_sizes(capsys):
    base = SMALL + "[discover]\n"
    with pytest.raises(ConfigError, match=r"\[discover\] n = 1000000000000 .* needs about"):
        parse_config(base + "n = 1000000000000\n")
    with pytest.raises(ConfigError, match=r"\[discover\] steps: .* SGD steps per round"):
        parse_config(base + "round_time = 1e30\n")


def test_command_line_errors_are_one_line(tmp_path, capsys):
    cfg = _run(tmp_path)
    for argv in ([], ["bogus"], ["run"], ["run", str(cfg), "--workers", "abc"], ["run", str(cfg), "--workers", "5000"]):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
        assert code == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("wgf: error:"), err


def test_an_unexpected_failure_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch):
    import wgf.cli as cli

    def boom(args):
        raise TypeError("something nobody planned for\nsecond line")

    monkeypatch.setattr(cli, "_cmd_report", boom)
    assert main(["report", str(tmp_path / "x.h5")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["wgf: error: unexpected TypeError: something nobody planned for (set WGF_TRACEBACK=1 to see where)"]


def test_rates_that_cannot_be_fitted_are_not_written_as_nan(tmp_path, capsys):
    """risk_gap takes both signs: no rate can be fitted, and the file says why instead of holding NaN."""
    cfg = _run(tmp_path, SMALL + PDE + '[compare]\nmetrics = ["risk_gap", "mmd"]\n')
    out = tmp_path / "o.h5"
    assert main(["run", str(cfg), "-o", str(out), "--quiet"]) == 0
    with h5py.File(out, "r") as f:
        numbers = []
        f.visititems(lambda k, v: numbers.extend(float(a) for a in v.attrs.values()
                                                  if isinstance(a, (float, np.floating))))
        assert numbers and np.all(np.isfinite(numbers))
        gap = f["compare/risk_gap"].attrs
        assert "slope" not in gap and "0 positive values" in gap["slope_skipped"]
    assert main(["report", str(out)]) == 0


def test_quadrature_points_are_capped_before_the_rule_overflows():
    with pytest.raises(ConfigError, match=r"\[data\] quadrature_points: at most 200"):
        parse_config(SMALL.replace("quadrature_points = 8", "quadrature_points = 400"))


def test_fifos_as_results_or_datasets(tmp_path, capsys):
    import os

    fifo = tmp_path / "r.h5"
    os.mkfifo(fifo)
    _one_line_exit_2(capsys, ["report", str(fifo)], "not a regular file")
    data = tmp_path / "d.npz"
    os.mkfifo(data)
    cfg = _run(tmp_path, SMALL.replace('teacher = "wi"\nteacher_particles = [[-0.5, 0.0, 0.0, 0.25], '
                                       '[0.25, 0.5, 0.0, 0.5]]\nquadrature_points = 8', 'dataset = "d.npz"'))
    _one_line_exit_2(capsys, ["run", str(cfg), "-o", str(tmp_path / "o.h5")], "not a regular file")
    bad = tmp_path / "e.npz"
    bad.write_bytes(b"PK\x03\x04junk")
    cfg.write_text(cfg.read_text().replace("d.npz", "e.npz"))
    _one_line_exit_2(capsys, ["run", str(cfg), "-o", str(tmp_path / "o.h5")], "[data] dataset")


def test_a_loop_of_links_as_output_folder(tmp_path, capsys):
    cfg = _run(tmp_path)
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    _one_line_exit_2(capsys, ["run", str(cfg), "-o", str(tmp_path / "loop" / "x.h5")], "output")
