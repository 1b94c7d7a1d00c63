"""Distances between particle clouds and densities, and invariance diagnostics."""

from .distances import EXACT_OT_MAX_PAIRS, TooLargeForExactOT, rmd2, second_moment, w2
from .invariance import si_rmd2, wi_rmd2

__all__ = ["w2", "rmd2", "second_moment", "TooLargeForExactOT", "EXACT_OT_MAX_PAIRS", "wi_rmd2", "si_rmd2"]
