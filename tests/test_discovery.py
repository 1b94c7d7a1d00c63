"""Tests of architecture discovery (wgf.discovery, ``wgf discover``; docs/theory.md §8).

The heuristic must recover E^G where the training flow is equivariant (swap on 2x2
matrix units, dim 2; C3 on 3x3 matrix units, the circulant matrices, dim 3), to
principal angles far below 0.05 rad, and must not stop at E^G where the flow leaves
it (vanilla training with an arbitrary teacher). The command writes the documented
HDF5 layout, which xarray opens on named coordinates, refuses bad [discover] keys (exit 2,
key named) and existing outputs.
"""

import contextlib
import io
from pathlib import Path

import h5py
import numpy as np
import pytest

import wgf
from wgf.cli import main
from wgf.config import ConfigError, parse_config
from wgf.discovery import discover, format_round

ROOT = Path(__file__).resolve().parents[1]
SWAP = ROOT / "examples" / "discover_swap.toml"
C3 = ROOT / "examples" / "discover_c3.toml"
# small enough for CI: a round is 40 full-batch steps of 200 particles
FAST = dict(n=200, round_time=10.0)


def _problem(path, **training):
    problem = wgf.load_config(path).problem
    return problem.replace(**training) if training else problem


def _check_orthonormal(basis):
    assert np.allclose(basis.T @ basis, np.eye(basis.shape[1]), atol=1e-12)


def test_recovers_swap_fixed_subspace():
    problem = _problem(SWAP)
    result = discover(problem, **FAST)
    assert result.converged and result.dim == 2 == problem.symmetry.dim_fixed
    _check_orthonormal(result.basis)
    angles = result.principal_angles(problem.symmetry.basis)
    assert angles.shape == (2,) and angles.max() < 1e-8  # far below the 0.05 rad requirement
    # E_0 and E_1 are left by the flow (signal well above delta), E_2 = E^G is kept to round-off
    rmd2 = [r.rmd2 for r in result.rounds]
    assert [r.dim for r in result.rounds] == [0, 1, 2]
    assert rmd2[0] == pytest.approx(0.5) and rmd2[1] > 1e-6 and rmd2[2] < 1e-20
    assert all(r.direction is not None for r in result.rounds[:2]) and result.rounds[2].direction is None


def test_c3_fixed_subspace_is_circulant_and_recovered():
    problem = _problem(C3)
    shift = np.roll(np.eye(3), 1, axis=0)
    circulant = np.stack([np.linalg.matrix_power(shift, k).ravel() for k in range(3)], axis=1) / np.sqrt(3)
    sym = problem.symmetry
    assert sym.dim_fixed == 3 and np.allclose(sym.projector, circulant @ circulant.T, atol=1e-12)
    result = discover(problem, **FAST)
    assert result.converged and result.dim == 3
    _check_orthonormal(result.basis)
    assert result.principal_angles(sym.basis).max() < 1e-8
    assert result.principal_angles(circulant).max() < 1e-8
    assert result.rounds[-1].rmd2 < 1e-20 and min(r.rmd2 for r in result.rounds[:-1]) > 1e-6


def test_symmetry_leveraging_schemes_recover_fixed_subspace_but_vanilla_arbitrary_does_not():
    # arbitrary teacher: vanilla training leaves E^G (the heuristic must keep going) while FA keeps it
    data = _arbitrary_data(SWAP)
    vanilla = discover(_problem(SWAP, data=data), **FAST)
    assert vanilla.dim > 2 and vanilla.rounds[2].rmd2 > 1e-6
    fa_problem = _problem(SWAP, data=data, scheme="fa")
    fa = discover(fa_problem, **FAST)
    assert fa.dim == 2 and fa.principal_angles(fa_problem.symmetry.basis).max() < 1e-8


def _arbitrary_data(path):
    text = path.read_text().replace('teacher = "wi"', 'teacher = "arbitrary"')
    data = parse_config(text).problem.data
    assert not data.is_equivariant
    return data


def test_max_dim_and_round_lines():
    problem = _problem(SWAP)
    rows = []
    result = discover(problem, max_dim=1, on_round=rows.append, **FAST)
    assert result.dim == 1 and not result.converged and len(rows) == 2
    assert "add v_0" in format_round(rows[0]) and "max_dim reached" in format_round(rows[1])
    with pytest.raises(ValueError, match="gradient"):
        discover(problem, gradient="sgd")
    # a pure function of the seed
    again = discover(problem, max_dim=1, **FAST)
    assert np.array_equal(again.basis, result.basis) and again.rounds[1].rmd2 == result.rounds[1].rmd2


def test_minibatch_mode_runs_replicas_and_calibrates_delta():
    # minibatch discovery is noisy (see the module docstring); here only its contract is checked
    problem = _problem(SWAP)
    result = discover(problem, gradient="minibatch", n=100, batch=10, replicas=2, round_time=2.0, max_dim=2)
    _check_orthonormal(result.basis)
    assert result.settings["delta"] == pytest.approx(0.1 * (50.0 / 100) / 10)
    assert result.settings["replicas"] == 2 and result.settings["batch"] == 10


# ------------------------------------------------------------------ CLI
def _config(tmp_path, extra="n = 100\nround_time = 5.0\n", name="swap.toml"):
    text = SWAP.read_text().split("[discover]")[0] + "[discover]\n" + extra
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def swap_file(tmp_path_factory):
    """One `wgf discover` run of the swap example (n = 100, round_time = 5): (config, output, printed)."""
    folder = tmp_path_factory.mktemp("discover")
    cfg = _config(folder)
    out = folder / "disc.h5"
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        assert main(["discover", str(cfg), "-o", str(out)]) == 0
    return cfg, out, printed.getvalue()


def test_cli_writes_discovery_layout(swap_file, capsys):
    cfg, out, printed = swap_file
    tmp_path = out.parent
    assert "round 0:" in printed and "round 2:" in printed and "discovered dim E_* = 2" in printed
    assert "principal angles to E^G" in printed
    assert out.exists() and not (tmp_path / "disc.h5.partial").exists()
    with h5py.File(out) as f:
        assert f.attrs["wgf_version"] == wgf.__version__ and f.attrs["config"] == cfg.read_text()
        g = f["discovery"]
        basis = g["basis"][()]
        assert basis.shape == (4, 2) and basis.dtype == np.float64
        _check_orthonormal(basis)
        for name in ("rmd2", "threshold", "dims", "principal", "seconds"):
            assert g[name].shape == (3,)
        assert np.array_equal(g["dims"][()], [0, 1, 2])
        assert g["rmd2"][0] == pytest.approx(0.5) and g["rmd2"][2] <= g["threshold"][2] < g["rmd2"][1]
        dirs = g["directions"][()]
        assert dirs.shape == (3, 4) and np.isfinite(dirs[:2]).all() and np.isnan(dirs[2]).all()
        assert np.allclose(dirs[:2].T, basis)
        assert g["reference_basis"].shape == (4, 2) and g["principal_angles"].shape == (2,)
        assert g["principal_angles"][()].max() < 1e-8
        assert g.attrs["dim"] == 2 and g.attrs["reference_dim"] == 2 and g.attrs["converged"] == 1
        assert g.attrs["gradient"] == "exact" and g.attrs["n"] == 100
    # the report reads it back
    assert main(["report", str(out)]) == 0
    report = capsys.readouterr().out
    assert "Discovered subspace: dimension 2 of 4 after 3 rounds" in report
    assert "principal angles to E^G (rad)" in report


def test_discovery_file_opens_with_xarray_on_named_coordinates(swap_file, tmp_path):
    _, out, _ = swap_file
    tree = wgf.open_results(out)
    d = tree["discovery"].to_dataset()
    assert not [dim for dim in d.dims if str(dim).startswith("phony_dim")]
    assert d["basis"].dims == ("parameter", "basis_vector") and d["basis"].shape == (4, 2)
    for name in ("dims", "rmd2", "threshold", "principal", "mean_ratio", "seconds"):
        assert d[name].dims == ("round",), name
    assert d["directions"].dims == ("round", "parameter")
    assert d["reference_basis"].dims == ("parameter", "reference_vector")
    assert d["principal_angles"].dims == ("angle",)
    assert d["round"].values.tolist() == [0, 1, 2] == d["dims"].values.tolist()
    assert d["parameter"].values.tolist() == [0, 1, 2, 3] and d["basis_vector"].values.tolist() == [0, 1]
    assert d["reference_vector"].values.tolist() == [0, 1] and d["angle"].values.tolist() == [0, 1]
    for name, var in d.variables.items():
        assert var.attrs.get("long_name") and var.attrs.get("units"), name
    assert d["principal_angles"].attrs["units"] == "rad" and d["seconds"].attrs["units"] == "s"
    # the last round added no direction: its NaNs say why
    assert np.isnan(d["directions"].sel(round=2)).all() and np.isnan(d["mean_ratio"].sel(round=2))
    assert np.isfinite(d["mean_ratio"].sel(round=[0, 1])).all()
    for name in ("directions", "mean_ratio"):
        assert "no direction" in d[name].attrs["skipped"]
    np.testing.assert_array_equal(d["directions"].sel(round=[0, 1]).values.T, d["basis"].values)
    assert d.attrs["dim"] == 2 and d.attrs["converged"] == 1 and d.attrs["gradient"] == "exact"

    # E_* = {0} (max_dim = 0): empty basis and angles, the angles say why they are missing
    from wgf.io import ResultsFile

    problem = _problem(SWAP)
    empty = discover(problem, n=50, round_time=2.0, max_dim=0)
    assert empty.dim == 0 and not empty.converged
    with ResultsFile(tmp_path / "empty.h5") as f:
        empty.write(f, problem.symmetry.basis)
    e = wgf.open_results(tmp_path / "empty.h5")["discovery"].to_dataset()
    assert e.sizes["basis_vector"] == 0 and e.sizes["angle"] == 0 and e.sizes["round"] == 1
    assert e["basis"].dims == ("parameter", "basis_vector") and "{0}" in e["principal_angles"].attrs["skipped"]


def test_cli_default_output_and_existing_output_refused(tmp_path, capsys, monkeypatch):
    cfg = _config(tmp_path, name="mine.toml")
    monkeypatch.chdir(tmp_path)
    assert main(["discover", str(cfg), "--quiet"]) == 0
    out = tmp_path / "mine.h5"
    assert out.exists()
    printed = capsys.readouterr().out
    assert "round 0" not in printed and "discovered dim E_* = 2" in printed
    before = out.read_bytes()
    assert main(["discover", str(cfg), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("wgf: error:") and "exists" in err[0] and "--overwrite" in err[0]
    assert out.read_bytes() == before
    assert main(["discover", str(cfg), "--quiet", "--overwrite"]) == 0


@pytest.mark.parametrize("extra, named", [
    ("n = 100\nfoo = 1\n", "foo"),
    ("n = \"many\"\n", "[discover] n"),
    ("delta = 0.7\n", "[discover] delta"),
    ("round_time = -1.0\n", "[discover] round_time"),
    ("gradient = \"sgd\"\n", "[discover] gradient"),
    ("batch = 20\n", "[discover] batch"),
    ("max_dim = 5\n", "[discover] max_dim"),
    ("round_time = 5.0\nsteps = 10\n", "[discover] steps"),
    ("seed = -1\n", "[discover] seed"),
])
def test_cli_bad_discover_key_exit_2(tmp_path, capsys, extra, named):
    cfg = _config(tmp_path, extra)
    out = tmp_path / "bad.h5"
    assert main(["discover", str(cfg), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("wgf: error:") and named in err[0]
    assert "[discover]" in err[0]
    assert not out.exists() and not (tmp_path / "bad.h5.partial").exists()
    with pytest.raises(ConfigError):
        wgf.load_config(cfg)


def test_examples_carry_a_discover_section():
    for path in (SWAP, C3):
        exp = wgf.load_config(path)
        assert exp.discover and exp.discover.gradient == "exact" and exp.problem.data.is_equivariant
