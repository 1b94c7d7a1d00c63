"""Saving and loading a PDE solution (``History``) and a particle run (``Trajectory``) (docs/outputs.md,
"Saved objects").

A saved object loads back bit for bit (the History with an equal grid and its stats), opens with xarray on
named coordinates with long_name and units, is written atomically (a failed save leaves the old file and
no temporary one), feeds ``wgf.validation.comparison.compare`` as the original does, and a missing, foreign or
damaged file is refused in one line naming it.
"""

from pathlib import Path

import h5py
import numpy as np
import pytest
import xarray as xr

import wgf
from wgf.grids import History, make_grid, solve
from wgf.io import SavedFileError
from wgf.particles import Trajectory, simulate

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def problem():
    p = wgf.load_config(ROOT / "examples" / "fixed_subspace_pde.toml").problem
    return p.replace(t_end=1.0, snapshots=2)


@pytest.fixture(scope="module")
def history(problem):
    return solve(problem, make_grid(problem, "fixed", cells=(16, 12), half_width=2.0))


@pytest.fixture(scope="module")
def trajectories(problem):
    return [simulate(problem, n, seed, alpha=5.0) for n in (10, 20) for seed in (0, 1)]


def _one_line(error, path):
    text = str(error)
    assert "\n" not in text and str(path) in text, text


def test_history_round_trip_is_bitwise_with_an_equal_grid(history, tmp_path):
    path = tmp_path / "pde.h5"
    assert history.save(path) == path
    loaded = History.load(path)
    for a, b in ((loaded.times, history.times), (loaded.density, history.density)):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    assert loaded.trackers.keys() == history.trackers.keys()
    for name, values in history.trackers.items():
        assert loaded.trackers[name].tobytes() == np.asarray(values).tobytes(), name
    g, h = loaded.grid, history.grid
    for name in ("bounds", "cells", "basis", "spacing"):
        a, b = getattr(g, name), getattr(h, name)
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name
    assert g.shape == (16, 12) and g.cell_volume == h.cell_volume
    assert all(np.array_equal(a, b) for a, b in zip(g.axes, h.axes))
    assert loaded.stats == history.stats and loaded.stats.method in ("explicit", "implicit")
    # saving again replaces the file in place; nothing but the file is left in the folder
    history.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pde.h5"]
    # without trackers and stats
    bare = History(history.grid, history.times, history.density)
    bare.save(tmp_path / "bare.h5")
    again = History.load(tmp_path / "bare.h5")
    assert again.trackers == {} and again.stats is None


def test_history_opens_with_xarray(history, tmp_path):
    path = history.save(tmp_path / "pde.h5")
    ds = xr.open_dataset(path, engine="h5netcdf")
    assert ds["density"].dims == ("time", "u0", "u1") and ds["density"].shape == (2, 16, 12)
    assert ds["basis"].dims == ("parameter", "axis") and ds["lower"].dims == ("axis",)
    assert ds["mass"].dims == ("time",)
    np.testing.assert_array_equal(ds["time"].values, history.times)
    np.testing.assert_array_equal(ds["u0"].values, history.grid.axes[0])
    np.testing.assert_array_equal(ds["u1"].values, history.grid.axes[1])
    assert ds["parameter"].values.tolist() == [0, 1, 2, 3] and ds["cells"].values.tolist() == [16, 12]
    for name, var in ds.variables.items():
        assert var.attrs.get("long_name") and var.attrs.get("units"), name
    assert ds.attrs["wgf_object"] == "History" and ds.attrs["wgf_version"] == wgf.__version__
    ds.close()
    assert wgf.open_results(path)["density"].dims == ("time", "u0", "u1")


def test_trajectory_round_trip_and_xarray(trajectories, problem, tmp_path):
    run = trajectories[1]
    path = run.save(tmp_path / "run.h5")
    loaded = Trajectory.load(path)
    assert (loaded.n, loaded.seed, loaded.eps) == (run.n, run.seed, run.eps)
    assert loaded.times.tobytes() == run.times.tobytes() and loaded.positions.tobytes() == run.positions.tobytes()
    ds = xr.open_dataset(path, engine="h5netcdf")
    assert ds["positions"].dims == ("time", "particle", "coordinate") and ds["positions"].shape == (2, 10, 4)
    np.testing.assert_array_equal(ds["time"].values, run.times)
    assert ds["particle"].values.tolist() == list(range(10)) and ds["coordinate"].values.tolist() == [0, 1, 2, 3]
    for name, var in ds.variables.items():
        assert var.attrs.get("long_name") and var.attrs.get("units"), name
    assert ds.attrs["n"] == 10 and ds.attrs["seed"] == 1 and ds.attrs["eps"] == run.eps
    ds.close()
    # a run that kept only its final positions keeps all its snapshot times
    final = simulate(problem, 10, 1, alpha=5.0, store=False)
    assert final.positions.shape == (1, 10, 4)
    back = Trajectory.load(final.save(tmp_path / "final.h5"))
    assert back.times.tobytes() == final.times.tobytes() and back.positions.tobytes() == final.positions.tobytes()
    np.testing.assert_array_equal(back.final, run.final)
    ds = xr.open_dataset(tmp_path / "final.h5", engine="h5netcdf")
    assert ds["time"].values.tolist() == [1.0] and ds["snapshot_time"].values.tolist() == [0.0, 1.0]
    ds.close()


def test_loaded_objects_feed_compare(problem, history, trajectories, tmp_path):
    from wgf.validation import compare

    loaded_history = History.load(history.save(tmp_path / "pde.h5"))
    loaded_runs = [Trajectory.load(t.save(tmp_path / f"run{i}.h5")) for i, t in enumerate(trajectories)]
    a = compare(problem, history, trajectories, metrics=["moments"])
    b = compare(problem, loaded_history, loaded_runs, metrics=["moments"])
    assert b.n.tolist() == [10, 20] and a.values.keys() == b.values.keys()
    for name in a.values:
        np.testing.assert_array_equal(a.values[name], b.values[name])
        assert a.floor[name] == b.floor[name]


def test_missing_foreign_and_damaged_files_are_refused_in_one_line(history, trajectories, tmp_path):
    missing = tmp_path / "none.h5"
    for cls in (History, Trajectory):
        with pytest.raises(FileNotFoundError) as e:
            cls.load(missing)
        _one_line(e.value, missing)
    with pytest.raises(IsADirectoryError) as e:
        History.load(tmp_path)
    _one_line(e.value, tmp_path)
    text = tmp_path / "notes.h5"
    text.write_text("not HDF5\n")
    with pytest.raises(SavedFileError, match="not an HDF5 file") as e:
        History.load(text)
    _one_line(e.value, text)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["density"] = np.zeros(3)
    with pytest.raises(ValueError, match="no wgf_object") as e:
        Trajectory.load(foreign)
    _one_line(e.value, foreign)
    saved = history.save(tmp_path / "pde.h5")
    with pytest.raises(SavedFileError, match="saved History") as e:
        Trajectory.load(saved)
    _one_line(e.value, saved)
    run = trajectories[0].save(tmp_path / "run.h5")
    with h5py.File(run, "a") as f:
        del f["positions"]
    with pytest.raises(SavedFileError, match="damaged") as e:
        Trajectory.load(run)
    _one_line(e.value, run)
    # nowhere to save
    nowhere = tmp_path / "no" / "pde.h5"
    with pytest.raises(FileNotFoundError) as e:
        history.save(nowhere)
    _one_line(e.value, nowhere)


def test_a_failed_save_leaves_the_old_file_and_no_temporary(history, monkeypatch, tmp_path):
    import wgf.io

    path = history.save(tmp_path / "pde.h5")
    before = path.read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(wgf.io, "variable", full_disk)
    with pytest.raises(OSError, match="No space"):
        history.save(path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["pde.h5"]
