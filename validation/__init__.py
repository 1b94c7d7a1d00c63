"""Distances between particle clouds and densities, and invariance diagnostics."""

from .distances import EXACT_OT_MAX_PAIRS, TooLargeForExactOT, rmd2, second_moment, w2
from .compare import RateFit, as_measure, fit_rate, mean_interval, output_l2, richardson_floor, risk_gap
from .comparison import DEFAULT_METRICS, Comparison, coarse_measures, compare, metric_functions
from .measures import CellMeasure, as_cloud, cell_measure
from .invariance import si_rmd2, wi_rmd2
from .metrics import energy, frame_directions, mmd, moments, sliced_directions, sliced_w2

__all__ = [
    "as_measure",
    "compare",
    "Comparison",
    "metric_functions",
    "coarse_measures",
    "DEFAULT_METRICS",
    "CellMeasure",
    "cell_measure",
    "as_cloud",
    "output_l2",
    "risk_gap",
    "fit_rate",
    "richardson_floor",
    "mean_interval",
    "RateFit","w2", "rmd2", "second_moment", "TooLargeForExactOT", "EXACT_OT_MAX_PAIRS", "wi_rmd2", "si_rmd2",
           "mmd", "energy", "sliced_w2", "sliced_directions", "frame_directions", "moments"]
