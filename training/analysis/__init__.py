"""Survival analysis on saved run datasets: survivors, fitness measures, statistics, forecasts (never torch).

The public names are re-exported by :mod:`training`; this room imports only the floors below it (the run
dataset, the Fourier maths, :mod:`dynamics` for the ODE forecast) and never :mod:`training.engine`.
"""
