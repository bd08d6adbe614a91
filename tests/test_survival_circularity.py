import numpy as np
import pytest

from training.fourier import circularity
from training.interventions import construct, keep_only


def test_pure_circle_and_ellipse_have_circularity_one():
    p, k = 23, 3
    n = np.arange(p)
    theta = 2 * np.pi * k * n / p
    circle = np.stack([np.cos(theta), np.sin(theta), np.zeros(p)], axis=1) + 4.0  # offset: the mean is ignored
    c = circularity(circle)
    assert c[k - 1] == pytest.approx(1.0, rel=1e-12)
    assert np.all(np.delete(c, k - 1) < 1e-20) or np.all(np.isnan(np.delete(c, k - 1)))
    ellipse = np.stack([3 * np.cos(theta), 0.5 * np.sin(theta)], axis=1)
    assert circularity(ellipse)[k - 1] == pytest.approx(1.0, rel=1e-12)


def test_noise_lowers_circularity():
    p, k = 31, 2
    E = construct(p, 6, {k: 30.0}, eps=0.0, seed=0)
    noisy = E + np.random.default_rng(0).normal(scale=0.5, size=E.shape)
    assert 0.2 < circularity(noisy)[k - 1] < 0.99


def test_random_embedding_matches_theory_and_grows_with_d():
    # a random Gaussian embedding: c_k ~ d / (p + d) (frequency k fits its own plane)
    rng = np.random.default_rng(1)
    p = 59
    means = []
    for d in (16, 128):
        c = circularity(rng.normal(size=(20, p, d)))
        assert c.shape == (20, 29)
        assert np.all((c > 0) & (c <= 1))
        assert c.mean() == pytest.approx(d / (p + d), rel=0.1)
        means.append(c.mean())
    assert means[1] > means[0]


def test_removed_frequency_is_nan():
    E = keep_only(np.random.default_rng(2).normal(size=(11, 4)), [1, 2])
    c = circularity(E)
    assert np.all(np.isnan(c[2:]))
    assert np.all(np.isfinite(c[:2])) and np.all(c[:2] > 0)
    # one kept circle alone is exact
    assert circularity(keep_only(E, [2]))[1] == pytest.approx(1.0)
