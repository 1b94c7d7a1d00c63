"""Distances between particle clouds and densities, and invariance diagnostics."""

from wgf.validation.distances import EXACT_OT_MAX_PAIRS, TooLargeForExactOT, output_l2, rmd2, risk_gap, second_moment, w2
from wgf.validation.rates import RateFit, fit_decay, fit_rate, mean_interval, richardson_floor
from wgf.validation.comparison import (DEFAULT_METRICS, Comparison, coarse_measures, compare, distances_to,
                                       metric_functions, sup_over_time)
from wgf.validation.measures import CellMeasure, as_cloud, as_measure, cell_measure
from wgf.validation.invariance import (WI_DENSE_MAX_PAIRS, WI_SECONDS_PER_PAIR, WICost, si_rmd2, wi_rmd2, wi_rmd2_cost,
                                       wi_transport)
from wgf.validation.transport import SPARSE_OT_MAX_PAIRS, SparseTransport, sparse_w2_squared
from wgf.validation.metrics import METRICS, energy, frame_directions, mmd, moments, sliced_directions, sliced_w2
from wgf.validation.fluctuations import (FLUCTUATIONS, FluctuationStatistics, LinearMoments, fluctuation_statistics,
                                         linear_cloud_covariance, linear_cloud_covariance_limit, linear_mean_limit,
                                         linear_mean_moments, seed_values)
from wgf.validation.fluctuation_runs import FluctuationLimit, fluctuation_dataset, fluctuation_limit

__all__ = [
    "as_measure",
    "compare",
    "distances_to",
    "sup_over_time",
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
    "fit_decay",
    "richardson_floor",
    "mean_interval",
    "RateFit","w2", "rmd2", "second_moment", "TooLargeForExactOT", "EXACT_OT_MAX_PAIRS", "wi_rmd2", "si_rmd2",
    "wi_rmd2_cost", "wi_transport", "WICost", "WI_DENSE_MAX_PAIRS", "WI_SECONDS_PER_PAIR", "SPARSE_OT_MAX_PAIRS",
    "SparseTransport", "sparse_w2_squared",
           "mmd", "energy", "sliced_w2", "sliced_directions", "frame_directions", "moments", "METRICS",
    "FLUCTUATIONS", "FluctuationStatistics", "fluctuation_statistics", "seed_values", "LinearMoments",
    "linear_mean_moments", "linear_mean_limit", "linear_cloud_covariance", "linear_cloud_covariance_limit",
    "fluctuation_dataset", "fluctuation_limit", "FluctuationLimit"]
