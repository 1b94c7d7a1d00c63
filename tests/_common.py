"""Small problems and job functions shared by the tests (importable by worker processes)."""

import os
from pathlib import Path

# the paper's swap problem on 2x2 sigmoid units with a 2-particle WI teacher, cheap quadrature
SWAP_PROBLEM = """
[model]
unit = "sigmoid_matrix"
dim_x = 2
dim_y = 2
[group]
name = "swap"
[data]
teacher = "wi"
teacher_particles = [[-0.5, 0.0, 0.0, 0.25], [0.25, 0.5, 0.0, 0.5]]
quadrature_points = 8
"""


# gated units under SO(2) (16 Haar points), an arbitrary teacher, SI start with projected noise
GATED = """
[model]
unit = "gated_matrix"
dim_x = 2
dim_y = 2
[group]
name = "rotation"
haar_points = 16
[data]
teacher = "arbitrary"
teacher_particles = [[0.8, -0.3, 0.5, 0.2], [-0.4, 0.6, 0.1, 0.9]]
quadrature_points = 6
x_std = 1.5
[training]
beta = 1e-4
init = "si"
noise = "projected"
t_end = 1.0
snapshots = 3
"""


def swap_config(n=(8, 16), seeds=2, *, training="", title=None) -> str:
    """SWAP_PROBLEM with a WI start, t_end = 2 (3 snapshots), alpha = 4, B = 5, and the given N and seeds."""
    head = f'title = "{title}"\n' if title else ""
    return head + SWAP_PROBLEM + f"""[training]
{training}beta = 1e-4
init = "wi"
t_end = 2.0
snapshots = 3
[particles]
n = {list(n)}
seeds = {seeds}
alpha = 4.0
batch = 5
"""


def square_failing_once(marker_dir, x):
    """x * x; the first attempt for each x raises (a marker file remembers it)."""
    marker = Path(marker_dir) / f"{x}.failed"
    if not marker.exists():
        marker.touch()
        raise RuntimeError(f"transient failure of {x}")
    return x * x


def square_dying_once(marker_dir, x):
    """x * x; the first attempt for x = 1 kills the process that runs it."""
    marker = Path(marker_dir) / f"{x}.died"
    if x == 1 and not marker.exists():
        marker.touch()
        os._exit(13)
    return x * x


def always_fails(x):
    raise ValueError(f"bad input {x}")
