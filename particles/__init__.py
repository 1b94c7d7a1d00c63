"""The N-particle noisy SGD of a shallow network (numba)."""

from .engine import BlowUpError, Trajectory, simulate, snapshot_steps, step_size
from .kernels import make_advance
from .reference import reference_run, reference_step

__all__ = [
    "simulate",
    "Trajectory",
    "BlowUpError",
    "step_size",
    "snapshot_steps",
    "make_advance",
    "reference_step",
    "reference_run",
]
