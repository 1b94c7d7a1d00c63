"""Every example of the README and docs/*.md runs as written: its ```python blocks are executed, its
```bash commands checked (``wgf run``/``sweep``/``discover`` with ``--dry-run``, other ``wgf`` commands
parsed by the command line's parser).

The blocks are read from the files at test time, so an edited example is what runs. The python blocks of
a file run in order in one namespace (README's "Python" and "Plotting" sections reuse ``exp``,
``problem``, ``traj``, ``history``, ``runs``, ``p``), in a temporary folder that holds what they read:
``wgf-demo/results.h5`` (the demo's layout, at a reduced size), ``wgf-sweep/sweep.h5`` (a tiny sweep on
the varied keys of README's sweep) and ``examples/`` (a link to the repository's). What cannot run here
is listed with its reason in ``SKIP`` (whole blocks, compiled for syntax only) and ``NOT_RUN`` (shell
commands other than ``wgf``).
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).parents[1]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# fences that hold no example: the generated config block (tests/test_settings.py), Sphinx directives
NOT_EXAMPLES = {"toml", "text", "{eval-rst}", "{include}", "{toctree}"}


@dataclass(frozen=True)
class Block:
    file: str  # relative to the repository root
    line: int  # the line of the opening fence, from 1
    lang: str  # the fence's language: python, bash, or one of NOT_EXAMPLES
    code: str
    key: str  # "FILE § SECTION #k": the k-th block (from 1) under the heading SECTION

    def __str__(self):
        return f"{self.file}:{self.line}"


def read_blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file."""
    name = str(path.relative_to(ROOT))
    lines = path.read_text().splitlines()
    blocks, section, per_section, i = [], "", {}, 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        elif line.startswith("```"):
            lang = (line[3:].split() or [""])[0]
            end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
            k = per_section[section] = per_section.get(section, 0) + 1
            blocks.append(Block(name, i + 1, lang, "\n".join(lines[i + 1:end]) + "\n", f"{name} § {section} #{k}"))
            i = end
        i += 1
    return blocks


BLOCKS = [b for path in FILES for b in read_blocks(path)]
PYTHON = [b for b in BLOCKS if b.lang == "python"]
BASH = [b for b in BLOCKS if b.lang == "bash"]

# blocks that cannot run here: compiled (python) or parsed (bash) only
SKIP = {
    "README.md § Running on a cluster #2": "needs dask-jobqueue and a SLURM cluster (SLURMCluster submits batch jobs)",
}
# shell commands other than wgf's, and why this file does not run them
NOT_RUN = {
    "pip install": "installs wgf and its extras: CI's own install step",
    "python -m pytest": "the test suite itself",
    "dask scheduler": "starts a cluster's scheduler (the dask executor is tested by tests/test_dask.py)",
    "dask worker": "starts a cluster's workers (the dask executor is tested by tests/test_dask.py)",
}
# wgf commands that have --dry-run: checked through it; the others are parsed (wgf demo: tests/test_demo.py)
DRY_RUN = {"run", "sweep", "discover"}
# what the dry run of a bash block must print (beyond "dry run: nothing written")
BASH_PRINTS = {
    "README.md § Sweeps #1": ["= 72 runs"],  # its prose: 4 x 3 x 2 x 3 = 72 runs
    "README.md § Running on a cluster #1": ["N = 5, 10, 50, 100, 500, 1000 x 10 seeds = 60 runs"],
}

# the reduced demo behind wgf-demo/results.h5: the demo's layout and snapshot times (t = 0, 2, ..., 10),
# a 32^2 grid, N = 100 and 1000 (README's Plotting draws N = 1000), 2 seeds, two metrics (energy is read)
DEMO_OVERRIDES = ["pde.cells=32", "particles.n=[100, 1000]", "particles.seeds=2",
                  'compare.metrics=["energy", "moments"]']
# a tiny sweep behind wgf-sweep/sweep.h5, on the dimensions README's example reads (scheme, teacher, N)
SWEEP_SETS = ["particles.seeds=2", "training.t_end=50", "particles.n=[10, 20]"]
SWEEP_VARIES = ["training.scheme=vanilla,fa", "particles.n=10,20", "data.teacher=arbitrary,wi"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The folder the examples run in, with examples/ (a link to the repository's)."""
    folder = tmp_path_factory.mktemp("doc_examples")
    (folder / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    return folder


@pytest.fixture
def shell_dir(tmp_path):
    """A folder of its own for the shell commands, with examples/: the outputs they name do not exist yet
    there (a dry run refuses an existing output, as the run would)."""
    (tmp_path / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    return tmp_path


@pytest.fixture(scope="module")
def inputs(workdir):
    """wgf-demo/results.h5 and wgf-sweep/sweep.h5 in ``workdir``."""
    from wgf.config import apply_overrides, parse_config
    from wgf.demo import DEMO_CONFIG
    from wgf.runner import run_experiment
    from wgf.sweep import Sweep, run_sweep

    (workdir / "wgf-demo").mkdir()
    run_experiment(parse_config(apply_overrides(DEMO_CONFIG, DEMO_OVERRIDES)), workdir / "wgf-demo" / "results.h5",
                   quiet=True)
    base = apply_overrides((ROOT / "examples" / "paper_c2.toml").read_text(), SWEEP_SETS)
    (workdir / "wgf-sweep").mkdir()
    run_sweep(Sweep.build(base, SWEEP_VARIES), workdir / "wgf-sweep" / "sweep.h5", progress=False)
    return workdir


# ---------------------------------------------------------------------------------------------------------
# python blocks: one namespace per file, blocks run in order (a block run alone first runs those before it)

_namespaces: dict[str, dict] = {}
_done: dict[str, dict[int, BaseException | None]] = {}


def _exec(block: Block, namespace: dict):
    # padded so that a traceback names the line of the Markdown file
    exec(compile("\n" * block.line + block.code, str(ROOT / block.file), "exec"), namespace)


def run_python(block: Block) -> dict:
    namespace = _namespaces.setdefault(block.file, {"__name__": "__main__"})
    done = _done.setdefault(block.file, {})
    for earlier in PYTHON:
        if earlier.file != block.file or earlier.line >= block.line or earlier.key in SKIP:
            continue
        if earlier.line not in done:
            try:
                _exec(earlier, namespace)
                done[earlier.line] = None
            except Exception as e:  # recorded, reported by the blocks that need it
                done[earlier.line] = e
        if done[earlier.line] is not None:
            pytest.fail(f"{block} runs after {earlier}, which failed: {done[earlier.line]!r}")
    try:
        _exec(block, namespace)
    except Exception as e:
        done[block.line] = e
        raise
    done[block.line] = None
    return namespace


def _printed_numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf", text)]


# what each block must leave behind: check(namespace, printed text, folder)
def _check_xarray(ns, out, folder):
    energy = ns["energy"]
    assert energy.dims == ("N", "seed", "time") and list(energy["N"].values) == [100, 1000]
    final = energy.isel(time=-1).mean("seed").to_series()
    assert np.isfinite(final.values).all() and (final.values > 0).all()
    density = ns["tree"]["pde"]["density"].sel(time=10.0)
    assert density.dims == ("u0", "u1") and np.isfinite(density.values).all()


def _check_sweep(ns, out, folder):
    ds = ns["ds"]
    assert {"scheme", "teacher", "N", "seed"} <= set(ds["si_rmd2"].dims)
    # the paper's prediction from an SI start: FA stays in E^G to round-off, vanilla with the arbitrary
    # teacher leaves it
    assert float(ds["si_rmd2"].sel(scheme="fa").max()) < 1e-20
    assert float(ds["si_rmd2"].sel(scheme="vanilla", teacher="arbitrary").min()) > 1e-12


def _check_fa_run(ns, out, folder):
    risk, defect = _printed_numbers(out.strip().splitlines()[-1])
    assert np.isfinite(risk) and risk > 0
    assert 0 <= defect < 1e-20  # FA from an SI start with projected noise stays in E^G (Thm 5)
    assert ns["traj"].positions.shape[1:] == (1000, 4)


def _check_compare(ns, out, folder):
    result = ns["result"]
    slope, low, high, n_points = result.rate["energy"]
    assert n_points == 9 and low <= -0.5 <= high  # the mean-field rate N^(-1/2), 3 N x 3 seeds fitted
    largest = result.values["energy"][-1, :, -1].mean()
    assert 0 < result.floor["energy"] < largest  # the PDE's own error is below the particles'
    assert _printed_numbers(out)[0] == pytest.approx(slope, abs=5e-4)  # RateFit prints 3 decimals
    assert ns["history"].trackers["mass"][-1] == pytest.approx(1.0, abs=1e-12)


def _check_reprs(ns, out, folder):
    lines = out.strip().splitlines()
    assert lines[0].startswith("History(3 snapshots") and len(lines[0]) < 600
    assert lines[1].startswith("RateFit(slope=") and "95% [" in lines[1]
    energy = ns["result"].to_xarray()["energy"]
    assert energy.dims == ("N", "seed", "time") and energy.sizes["N"] == 3
    np.testing.assert_array_equal(energy.values, ns["result"].values["energy"])


def _check_minimizer(ns, out, folder):
    best, history = ns["best"], ns["history"]
    assert best.residual <= 1e-9 and best.density.shape == history.grid.shape
    # the flow approaches the minimizer and its free energy stays above the minimum
    assert np.all(np.diff(best.distance(history.density)) < 0)
    assert np.all(history.trackers["free_energy"] >= best.free_energy)
    assert set(best.to_xarray().data_vars) >= {"density", "free_energy", "risk", "residual", "iterations"}


def _check_built(ns, out, folder):
    import h5py

    with h5py.File(folder / "built.h5", "r") as f:
        assert set(f["particles"]) == {"N100", "N1000"}
        assert f["particles/N1000/positions"].shape[:1] == (4,)  # 4 seeds
        assert np.isfinite(f["particles/N1000/risk"][()]).all()


def _check_saved(ns, out, folder):
    from wgf.grids import History

    assert (folder / "pde.h5").exists() and (folder / "run.h5").exists()
    np.testing.assert_array_equal(History.load(folder / "pde.h5").density, ns["history"].density)
    values = ns["result"].values["energy"]
    assert values.shape[:2] == (1, 1) and np.isfinite(values).all()


def _check_plots(ns, out, folder):
    for suffix in (".png", ".pdf"):
        assert (folder / "figures" / f"density_energy{suffix}").stat().st_size > 10_000
    assert (folder / "figures" / "density.gif").stat().st_size > 10_000


def _check_custom_unit(ns, out, folder):
    from wgf.units import matrix_unit

    unit, reference = ns["unit"], matrix_unit(2, 2, "sigmoid")
    assert unit.dim == 4
    rng = np.random.default_rng(0)
    x, z, c = rng.normal(size=(5, 2)), rng.normal(size=(3, 4)), rng.normal(size=(5, 2))
    np.testing.assert_allclose(unit.value(x, z), reference.value(x, z), rtol=1e-14)
    np.testing.assert_allclose(unit.vjp(x, z, c), reference.vjp(x, z, c), rtol=1e-12)


CHECKS = {
    "README.md § Output #1": _check_xarray,
    "README.md § Sweeps #2": _check_sweep,
    "README.md § Python #1": _check_fa_run,
    "README.md § Python #2": _check_compare,
    "README.md § Python #3": _check_reprs,
    "README.md § Python #4": _check_minimizer,
    "README.md § Python #5": _check_built,
    "README.md § Python #6": _check_saved,
    "README.md § Plotting #1": _check_plots,
    "docs/kernels.md § User-defined units #1": _check_custom_unit,
}


# all run blocks train, solve, spawn processes or compile kernels of their own (or need files that do)
@pytest.mark.slow
@pytest.mark.parametrize("block", [b for b in PYTHON if b.key not in SKIP], ids=str)
def test_python_example_runs(block, request, monkeypatch, capsys):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = request.getfixturevalue("inputs" if block.file == "README.md" else "workdir")
    monkeypatch.chdir(folder)
    capsys.readouterr()
    try:
        namespace = run_python(block)
        out = capsys.readouterr().out
        assert block.key in CHECKS, f"{block} ({block.key}): add what it must leave behind to CHECKS"
        CHECKS[block.key](namespace, out, folder)
    finally:
        plt.close("all")


@pytest.mark.parametrize("block", [b for b in PYTHON if b.key in SKIP], ids=str)
def test_skipped_python_example_compiles(block):
    compile(block.code, str(block), "exec")
    pytest.skip(SKIP[block.key])


# ---------------------------------------------------------------------------------------------------------
# bash blocks


def commands(block: Block) -> list[list[str]]:
    """The commands of a bash block as argument lists (continuations joined, comments dropped, && split)."""
    text = block.code.replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            out.append(words[:cut])
            words = words[cut + 1:]
    return out


def _tree(folder: Path) -> list[str]:
    return sorted(str(Path(d, f).relative_to(folder)) for d, _, files in os.walk(folder) for f in files)


def _not_run(words: list[str]) -> str | None:
    line = " ".join(words)
    return next((prefix for prefix in NOT_RUN if line.startswith(prefix)), None)


def _parse(block: Block, words: list[str]):
    """``words`` is a valid command line of wgf (its parser exits on a bad one)."""
    from wgf.cli import _parser

    try:
        _parser().parse_args(words[1:])
    except SystemExit as e:
        pytest.fail(f"{block}: {' '.join(words)!r} is refused by wgf's parser (exit {e.code})")


@pytest.mark.parametrize("block", BASH, ids=str)
def test_bash_example_is_accepted(block, shell_dir, monkeypatch, capsys):
    from wgf.cli import main

    monkeypatch.chdir(shell_dir)
    before = _tree(shell_dir)
    checked = 0
    for words in commands(block):
        if words[0] != "wgf":
            assert _not_run(words), f"{block}: {' '.join(words)!r}: check it here or list it in NOT_RUN"
            continue
        checked += 1
        if block.key in SKIP or words[1] not in DRY_RUN:
            _parse(block, words)
        else:
            capsys.readouterr()
            code = main(words[1:] + ["--dry-run"])
            printed, refused = capsys.readouterr()
            assert code == 0, f"{block}: {' '.join(words)!r}: {refused.strip()}"
            assert "dry run: nothing written" in printed
            for text in BASH_PRINTS.get(block.key, ()):
                assert text in printed, (text, printed)
    assert _tree(shell_dir) == before  # nothing written
    if block.key in SKIP:
        pytest.skip(SKIP[block.key])
    if not checked:
        pytest.skip("; ".join(sorted({NOT_RUN[_not_run(w)] for w in commands(block)})))


# ---------------------------------------------------------------------------------------------------------
# the lists above name only what exists


def test_every_block_is_an_example_or_declared_none():
    assert {b.file for b in PYTHON} >= {"README.md", "docs/kernels.md"}
    for b in BLOCKS:
        assert b.lang in {"python", "bash"} | NOT_EXAMPLES, f"{b}: ```{b.lang}: run it or add it to NOT_EXAMPLES"
    assert len({b.key for b in BLOCKS}) == len(BLOCKS)
    for text in ("## Python", "## Plotting", "## Sweeps", "## Output"):  # sections with python examples
        assert text in (ROOT / "README.md").read_text()


def test_every_listed_block_and_command_exists():
    keys = {b.key for b in BLOCKS}
    assert set(SKIP) <= keys, set(SKIP) - keys
    assert set(CHECKS) <= {b.key for b in PYTHON}, set(CHECKS) - keys
    assert set(BASH_PRINTS) <= {b.key for b in BASH}, set(BASH_PRINTS) - keys
    used = {_not_run(w) for b in BASH for w in commands(b) if w[0] != "wgf"}
    assert used == set(NOT_RUN), set(NOT_RUN) - used
    assert {b.key for b in PYTHON if b.key not in SKIP} == set(CHECKS)
