"""Finite-volume solvers of the mean-field Fokker-Planck equation on tensor grids."""

from wgf.grids.fluctuations import FluctuationPrediction, fluctuation_variance
from wgf.grids.flux import apply_operator, bernoulli_flux_weights, fokker_planck_operator
from wgf.grids.grid import Grid, NotSymmetricError
from wgf.grids.mean_field import RefusedGrid, make_grid, solve, wi_defect
from wgf.grids.minimizer import (DEFAULT_MINIMIZER_TOLERANCE, Minimizer, MinimizerError, gibbs_density,
                                  minimize_free_energy)
from wgf.grids.potential import MeanFieldPotential
from wgf.grids.solver import History, initial_density, potential_on_cells, solve_fokker_planck
from wgf.grids.cost import MethodChoice, choose_method
from wgf.grids.stepper import DEFAULT_TOLERANCE, FLUXES, METHODS, GridBlowUpError, StepStats, integrate
from wgf.grids.cch_flux import cch_apply, cch_rate, cch_velocity_cap
from wgf.grids.splitting import SplitFactors, split_error_operator, split_solve

__all__ = [
    "solve",
    "fluctuation_variance",
    "FluctuationPrediction",
    "make_grid",
    "RefusedGrid",
    "MeanFieldPotential",
    "minimize_free_energy",
    "Minimizer",
    "MinimizerError",
    "gibbs_density",
    "DEFAULT_MINIMIZER_TOLERANCE",
    "wi_defect",
    "Grid",
    "NotSymmetricError",
    "History",
    "solve_fokker_planck",
    "initial_density",
    "potential_on_cells",
    "integrate",
    "METHODS",
    "FLUXES",
    "cch_apply",
    "cch_rate",
    "cch_velocity_cap",
    "SplitFactors",
    "split_solve",
    "split_error_operator",
    "choose_method",
    "MethodChoice",
    "DEFAULT_TOLERANCE",
    "StepStats",
    "GridBlowUpError",
    "fokker_planck_operator",
    "apply_operator",
    "bernoulli_flux_weights",
]
