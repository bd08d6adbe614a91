"""The modular-addition experiment in torch: train ensembles, record Fourier signals, analyse survival."""

from training.config import TrainConfig
from training.fourier import amplitude, check_p, fourier_basis, frequencies, signal
from training.io import open_run
from training.model import snapshot_loss, snapshot_metrics
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
]
