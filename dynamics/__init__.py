"""Effective ODEs fitted to trajectories held in xarray: fit, solve, compare, report."""
