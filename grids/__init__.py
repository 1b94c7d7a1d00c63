"""Finite-volume solvers of the mean-field Fokker-Planck equation on tensor grids."""

__all__: list[str] = []
