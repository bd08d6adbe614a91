"""The modular-addition experiment in torch: train ensembles, record Fourier signals, analyse survival."""

from training.ablation import ablated_loss, ablated_metrics, top_circles
from training.config import TrainConfig
from training.fitness import fitness, gradient_norm, growth, initial_amplitude
from training.forecast import forecast_survivors
from training.fourier import amplitude, check_p, circularity, fourier_basis, frequencies, signal
from training.interventions import construct, keep_only, perturb, two_circles
from training.io import open_run
from training.model import snapshot_loss, snapshot_metrics
from training.statistics import correlation, separability
from training.survival import count_survivors, survival_rate, survivors, wilson_interval
from training.train import train

__all__ = [
    "TrainConfig",
    "open_run",
    "snapshot_loss",
    "snapshot_metrics",
    "train",
    "amplitude",
    "check_p",
    "fourier_basis",
    "frequencies",
    "signal",
    "circularity",
    "construct",
    "keep_only",
    "perturb",
    "two_circles",
    "survivors",
    "count_survivors",
    "survival_rate",
    "wilson_interval",
    "fitness",
    "initial_amplitude",
    "growth",
    "gradient_norm",
    "correlation",
    "separability",
    "ablated_loss",
    "ablated_metrics",
    "top_circles",
    "forecast_survivors",
]
