"""The N-particle noisy SGD of a shallow network (numba)."""

from wgf.particles.engine import (DEFAULT_RECORDS, BlowUpError, Trajectory, gradient_step, record_steps, record_times,
                                  simulate, snapshot_steps, snapshot_times, step_size)
from wgf.particles.kernels import EngineSpec, engine_spec, make_advance
from wgf.particles.reference import reference_run, reference_step

__all__ = [
    "simulate",
    "gradient_step",
    "engine_spec",
    "EngineSpec",
    "Trajectory",
    "BlowUpError",
    "step_size",
    "snapshot_steps",
    "snapshot_times",
    "record_steps",
    "record_times",
    "DEFAULT_RECORDS",
    "make_advance",
    "reference_step",
    "reference_run",
]
