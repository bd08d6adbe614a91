import numpy as np
import pytest
import torch

from fittest.errors import InputError
from training import fourier


@pytest.mark.parametrize("p", [3, 12, 59])
def test_signal_equals_numpy_fft(p):
    rng = np.random.default_rng(0)
    E = rng.normal(size=(2, p, 7))
    F = np.fft.fft(E, axis=-2)
    K = (p - 1) // 2
    expected = (np.abs(F[:, 1 : K + 1, :]) ** 2).sum(-1)
    np.testing.assert_allclose(fourier.signal(E), expected, rtol=1e-12)
    np.testing.assert_allclose(fourier.amplitude(E), np.sqrt(expected), rtol=1e-12)


@pytest.mark.parametrize("p", [5, 12, 59])
def test_parseval(p):
    rng = np.random.default_rng(1)
    E = rng.normal(size=(p, 11))
    total = (np.abs(fourier.coefficients(E)) ** 2).sum()
    np.testing.assert_allclose(total, p * (E**2).sum(), rtol=1e-12)
    # the kept half-spectrum: k and p-k carry equal power, k=0 and (even p) k=p/2 stand alone
    F = fourier.coefficients(E)
    middle = (np.abs(F[p // 2]) ** 2).sum() if p % 2 == 0 else 0.0
    zero = (np.abs(F[0]) ** 2).sum()
    np.testing.assert_allclose(zero + middle + 2 * fourier.signal(E).sum(), p * (E**2).sum(), rtol=1e-12)


def test_torch_and_numpy_agree():
    rng = np.random.default_rng(2)
    E = rng.normal(size=(3, 59, 16))
    basis = torch.as_tensor(fourier.fourier_basis(59))
    np.testing.assert_allclose(fourier.signal(torch.as_tensor(E), basis).numpy(), fourier.signal(E), rtol=1e-12)


def test_inverse_roundtrip():
    E = np.random.default_rng(3).normal(size=(13, 4))
    np.testing.assert_allclose(fourier.embedding_from_coefficients(fourier.coefficients(E)), E, atol=1e-12)


def test_pure_circle_has_one_frequency():
    p, k = 31, 4
    n = np.arange(p)
    E = np.stack([np.cos(2 * np.pi * k * n / p), np.sin(2 * np.pi * k * n / p)], axis=1)
    s = fourier.signal(E)
    assert np.argmax(s) == k - 1
    np.testing.assert_allclose(s[k - 1], p**2 / 2, rtol=1e-12)
    assert np.all(np.delete(s, k - 1) < 1e-20)


@pytest.mark.parametrize("bad", [2, 0, -5, 3.5, "59", None, True, float("nan"), float("inf"), np.float32("-inf")])
def test_check_p_rejects(bad):
    with pytest.raises(InputError, match="p must be an integer >= 3"):
        fourier.check_p(bad)


@pytest.mark.parametrize(
    "function, embedding, message",
    [
        (fourier.amplitude, np.zeros(11), r"shape \(\.\.\., p, d\)"),
        (fourier.signal, np.zeros((2, 4)), "number of tokens p"),
        (fourier.circularity, np.zeros(11), r"shape \(\.\.\., p, d\)"),
        (fourier.circularity, np.full((11, 4), np.nan), "NaN or infinite"),
    ],
)
def test_embedding_shape_and_values_are_checked(function, embedding, message):
    with pytest.raises(InputError, match=message):
        function(embedding)


def test_basis_of_another_p_is_refused():
    with pytest.raises(InputError, match="basis is for p=13"):
        fourier.signal(np.zeros((11, 4)), fourier.fourier_basis(13))
