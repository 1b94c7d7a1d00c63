"""The built-in demo: the paper's swap problem on E^G, particles against the PDE as N grows.

Swap group on 2x2 sigmoid units, WI teacher, SI start with projected noise: the
mean-field flow stays in the 2D subspace E^G (Thm 5), so the PDE is solved on a
96^2 grid of E^G with the second-order Carrillo-Chertock-Huang flux (docs/pde.md, "Space") while the
particles move in Z = R^4. The minimizer of the free energy is solved on the
same grid: the flow to t = 10 is still far from it (at tau = 1e-4 its slowest mode relaxes on times of order
1 / tau), which the summary states. ``run_demo`` writes
``results.h5`` and the figures into a folder and returns the printed summary.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from wgf.config import parse_config

if TYPE_CHECKING:
    from wgf._typing import PathLike

__all__ = ["DEMO_CONFIG", "run_demo"]

DEMO_CONFIG = """\
title = "wgf demo: swap-symmetric sigmoid units, SI start, PDE on E^G vs particles in R^4"

[model]
unit = "sigmoid_matrix"
dim_x = 2
dim_y = 2

[group]
name = "swap"

[data]
x_std = 4.0
teacher = "wi"
teacher_particles = [
    [-0.5, 0.0, 0.0, 0.25],
    [0.25, 0.5, 0.0, 0.5],
    [-0.25, 0.15, 0.5, 0.0],
    [0.0, -0.5, -0.25, 0.5],
    [0.35, -0.35, 0.25, 0.35],
]
quadrature_points = 16

[training]
scheme = "vanilla"
tau = 1e-4
beta = 1e-3
init = "si"
init_std = 0.25
noise = "projected"
t_end = 10.0
snapshots = 6

[pde]
space = "fixed"
cells = 96
half_width = 2.0
flux = "cch"

[minimizer]

[particles]
n = [100, 1000, 10000]
seeds = 3
alpha = 50.0
batch = 20

[compare]
metrics = ["mmd", "energy", "sliced_w2", "output_l2", "moments"]
bandwidth = 0.25
"""


def run_demo(folder: PathLike, *, quiet: bool = False) -> str:
    """Run the demo into ``folder`` (results.h5 and figures); return the summary text."""
    from wgf.report import draw_figures, summary
    from wgf.runner import run_experiment

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    exp = parse_config(DEMO_CONFIG)
    out = folder / "results.h5"
    run_experiment(exp, out, quiet=quiet)
    draw_figures(out, folder)
    return summary(out)
