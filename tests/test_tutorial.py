"""The tutorial notebook (docs/tutorial.ipynb) runs from top to bottom and shows what it says."""

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # the whole notebook (see conftest.py)

NOTEBOOK = Path(__file__).parents[1] / "docs" / "tutorial.ipynb"


def test_the_tutorial_runs_and_its_numbers_hold(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    monkeypatch.chdir(tmp_path)
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    namespace = {"__name__": "__main__"}
    for k, cell in enumerate(cells):
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{NOTEBOOK.name}, cell {k}", "exec"), namespace)
    result, history = namespace["result"], namespace["history"]
    assert abs(history.trackers["mass"][-1] - 1.0) < 1e-12
    fit = result.rate["energy"]
    assert fit.low <= -0.5 <= fit.high and fit.n_points == 9  # the N^(-1/2) of the mean-field limit
    assert result.floor["energy"] < 0.5 * result.values["energy"][-1, :, -1].mean()  # the PDE is accurate enough
    p, theta = namespace["p"], namespace["theta"]  # the last scheme of the loop: FA stays in E^G (Thm 5)
    assert p.scheme == "fa" and namespace["si_rmd2"](p.symmetry, theta) < 1e-25
    assert (tmp_path / "pde.h5").exists() and (tmp_path / "run.h5").exists()
    from wgf.grids import History

    np.testing.assert_array_equal(History.load(tmp_path / "pde.h5").density, history.density)
