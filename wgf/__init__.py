"""wgf: mean-field Wasserstein gradient flows of shallow networks under symmetry.

The problem (units, groups, data, schemes) lives here; the grid solver in
``wgf.grids``, the particle SGD in ``wgf.particles``, distances and checks in
``wgf.validation``.
"""

from ._version import __version__
from .config import ConfigError, Experiment, ParticleSettings, load_config, parse_config
from .data import EmpiricalData, GaussianTeacherData, Quadrature, gauss_hermite, load_dataset, make_teacher
from .discovery import Discovery, discover
from .functionals import first_variation, free_energy, model, potential, risk
from .groups import FiniteGroup, group_from_name
from . import plot
from .io import open_results
from .problem import Problem
from .schemes import SCHEMES, SchemeUnit, scheme_quadrature, scheme_unit
from .study import StudyPlan, run_paper_study
from .symmetry import NotEquivariantError, Symmetry
from .activations import ACTIVATIONS, Activation, activation
from .losses import LOSSES, Loss, make_loss
from .schedules import SCHEDULES, Schedule, make_schedule
from .units import Unit, custom_unit, make_unit, matrix_unit, two_layer_unit

__all__ = [
    "open_results",
    "__version__",
    "load_config",
    "parse_config",
    "ConfigError",
    "Experiment",
    "ParticleSettings",
    "Unit",
    "make_unit",
    "custom_unit",
    "matrix_unit",
    "two_layer_unit",
    "Activation",
    "activation",
    "ACTIVATIONS",
    "Loss",
    "make_loss",
    "LOSSES",
    "Schedule",
    "make_schedule",
    "SCHEDULES",
    "FiniteGroup",
    "group_from_name",
    "Symmetry",
    "NotEquivariantError",
    "Quadrature",
    "GaussianTeacherData",
    "EmpiricalData",
    "make_teacher",
    "gauss_hermite",
    "load_dataset",
    "SCHEMES",
    "SchemeUnit",
    "scheme_unit",
    "scheme_quadrature",
    "Problem",
    "model",
    "risk",
    "first_variation",
    "potential",
    "free_energy",
    "discover",
    "Discovery",
    "StudyPlan",
    "run_paper_study",
]
