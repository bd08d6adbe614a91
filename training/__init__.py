"""The modular-addition experiment in torch: train ensembles, record Fourier signals, analyse survival."""

from training.fourier import amplitude, check_p, fourier_basis, frequencies, signal

__all__ = ["amplitude", "check_p", "fourier_basis", "frequencies", "signal"]
