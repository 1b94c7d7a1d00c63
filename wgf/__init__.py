"""wgf: mean-field Wasserstein gradient flows of shallow networks under symmetry.

Layers (docs/api.md):

- the problem: units, activations, losses, schedules, groups, symmetry, data, schemes and
  ``Problem`` (``wgf.units``, ``wgf.groups``, ...);
- the engines: the grid solver ``wgf.grids``, the particle SGD ``wgf.particles``, distances,
  rates and checks ``wgf.validation``; they import no application module and no matplotlib;
- the application: settings and configs, runner, sweeps, studies, results files, report, plots
  and the command line.

The names below resolve lazily (PEP 562): ``import wgf.grids`` loads only the problem layer
and the grid solver.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from wgf._version import __version__

# public name -> module that defines it
_EXPORTS = {
    "open_results": "wgf.io",
    "load_config": "wgf.config",
    "parse_config": "wgf.config",
    "ConfigError": "wgf.config",
    "Experiment": "wgf.config",
    "ParticleSettings": "wgf.config",
    "Unit": "wgf.units",
    "make_unit": "wgf.units",
    "custom_unit": "wgf.units",
    "matrix_unit": "wgf.units",
    "two_layer_unit": "wgf.units",
    "Activation": "wgf.activations",
    "activation": "wgf.activations",
    "ACTIVATIONS": "wgf.activations",
    "Loss": "wgf.losses",
    "make_loss": "wgf.losses",
    "LOSSES": "wgf.losses",
    "Schedule": "wgf.schedules",
    "make_schedule": "wgf.schedules",
    "SCHEDULES": "wgf.schedules",
    "FiniteGroup": "wgf.groups",
    "group_from_name": "wgf.groups",
    "Symmetry": "wgf.symmetry",
    "NotEquivariantError": "wgf.symmetry",
    "Quadrature": "wgf.data",
    "GaussianTeacherData": "wgf.data",
    "EmpiricalData": "wgf.data",
    "make_teacher": "wgf.data",
    "gauss_hermite": "wgf.data",
    "load_dataset": "wgf.data",
    "SCHEMES": "wgf.schemes",
    "SchemeUnit": "wgf.schemes",
    "scheme_unit": "wgf.schemes",
    "scheme_quadrature": "wgf.schemes",
    "Problem": "wgf.problem",
    "model": "wgf.functionals",
    "risk": "wgf.functionals",
    "first_variation": "wgf.functionals",
    "potential": "wgf.functionals",
    "free_energy": "wgf.functionals",
    "discover": "wgf.discovery",
    "Discovery": "wgf.discovery",
    "StudyPlan": "wgf.study",
    "run_paper_study": "wgf.study",
}
# subpackages and modules reachable as attributes of ``wgf`` (``wgf.plot.density(...)``)
_MODULES = ("grids", "particles", "validation", "plot", "io", "config")

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(f"wgf.{name}")
    else:
        raise AttributeError(f"module 'wgf' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_MODULES))


if TYPE_CHECKING:
    from wgf import grids, io, particles, plot, validation
    from wgf.activations import ACTIVATIONS, Activation, activation
    from wgf.config import ConfigError, Experiment, ParticleSettings, load_config, parse_config
    from wgf.data import EmpiricalData, GaussianTeacherData, Quadrature, gauss_hermite, load_dataset, make_teacher
    from wgf.discovery import Discovery, discover
    from wgf.functionals import first_variation, free_energy, model, potential, risk
    from wgf.groups import FiniteGroup, group_from_name
    from wgf.io import open_results
    from wgf.losses import LOSSES, Loss, make_loss
    from wgf.problem import Problem
    from wgf.schedules import SCHEDULES, Schedule, make_schedule
    from wgf.schemes import SCHEMES, SchemeUnit, scheme_quadrature, scheme_unit
    from wgf.study import StudyPlan, run_paper_study
    from wgf.symmetry import NotEquivariantError, Symmetry
    from wgf.units import Unit, custom_unit, make_unit, matrix_unit, two_layer_unit
