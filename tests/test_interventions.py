import numpy as np
import pytest

from fittest.errors import InputError
from training import fourier
from training.interventions import construct, keep_only, perturb, two_circles


def _random(p, d=16, seed=0):
    return np.random.default_rng(seed).normal(size=(p, d))


@pytest.mark.parametrize("p", [7, 12, 59])
def test_perturb_scales_exactly_the_chosen_circles(p):
    E = _random(p)
    before = fourier.amplitude(E)
    factors = {1: 3.0, (p - 1) // 2: 0.25}
    after = fourier.amplitude(perturb(E, factors))
    expected = before.copy()
    for k, factor in factors.items():
        expected[k - 1] *= factor
    np.testing.assert_allclose(after, expected, rtol=1e-12)
    # the mean and (even p) the middle line are untouched too
    F0, F1 = fourier.coefficients(E), fourier.coefficients(perturb(E, factors))
    np.testing.assert_allclose(F1[0], F0[0], atol=1e-12)
    if p % 2 == 0:
        np.testing.assert_allclose(F1[p // 2], F0[p // 2], atol=1e-12)


def test_perturb_keeps_the_circle_shape_and_input():
    E = _random(11)
    copy = E.copy()
    out = perturb(E, {2: 2.0})
    np.testing.assert_array_equal(E, copy)
    F0, F1 = fourier.coefficients(E), fourier.coefficients(out)
    np.testing.assert_allclose(F1[2], 2 * F0[2], atol=1e-12)
    np.testing.assert_allclose(F1[9], 2 * F0[9], atol=1e-12)
    assert out.dtype == np.float64 and not np.iscomplexobj(out)


@pytest.mark.parametrize("p", [13, 12])
def test_keep_only_zeroes_everything_else(p):
    E = _random(p, seed=1) + 5.0  # a non-zero mean that must go as well
    kept = [2, 4]
    out = keep_only(E, kept)
    amp = fourier.amplitude(out)
    before = fourier.amplitude(E)
    np.testing.assert_allclose(amp[[k - 1 for k in kept]], before[[k - 1 for k in kept]], rtol=1e-12)
    others = np.delete(amp, [k - 1 for k in kept])
    assert np.all(others < 1e-12 * before.max())
    F = fourier.coefficients(out)
    assert np.abs(F[0]).max() < 1e-10
    if p % 2 == 0:
        assert np.abs(F[p // 2]).max() < 1e-10


def test_keep_only_mean_option_and_empty_set():
    E = _random(9, seed=2) + 1.0
    with_mean = keep_only(E, [1], keep_mean=True)
    np.testing.assert_allclose(with_mean.mean(0), E.mean(0), atol=1e-12)
    np.testing.assert_allclose(keep_only(E, []), 0.0, atol=1e-12)
    np.testing.assert_allclose(keep_only(E, range(1, 5), keep_mean=True), E, atol=1e-12)


@pytest.mark.parametrize("p,d", [(59, 128), (12, 3), (5, 2)])
def test_construct_has_exactly_the_asked_amplitudes(p, d):
    asked = {1: 40.0, (p - 1) // 2: 7.5}
    E = construct(p, d, asked, eps=1e-6, seed=3)
    assert E.shape == (p, d) and E.dtype == np.float64
    amp = fourier.amplitude(E)
    expected = np.full((p - 1) // 2, 1e-6)
    for k, a in asked.items():
        expected[k - 1] = a
    np.testing.assert_allclose(amp, expected, rtol=1e-9)
    F = fourier.coefficients(E)
    assert np.abs(F[0]).max() < 1e-12


def test_construct_builds_circles_not_lines():
    p, d, k = 31, 8, 5
    E = construct(p, d, {k: 10.0}, eps=0.0, seed=4)
    # the embedding spans a plane and every token is at the same distance from the centre
    singular = np.linalg.svd(E, compute_uv=False)
    assert singular[1] > 0.99 * singular[0] and singular[2] < 1e-12 * singular[0]
    radii = np.linalg.norm(E, axis=1)
    np.testing.assert_allclose(radii, np.sqrt(2) * 10.0 / p, rtol=1e-12)
    # consecutive tokens advance by the angle 2 pi k / p
    basis = np.linalg.svd(E, full_matrices=False)[2][:2]
    angles = np.angle((E @ basis.T) @ np.array([1, 1j]))
    steps = np.mod(np.diff(angles), 2 * np.pi)
    assert np.allclose(steps, 2 * np.pi * k / p) or np.allclose(steps, 2 * np.pi * (p - k) / p)
    assert np.allclose(fourier.circularity(E)[k - 1], 1.0)


def test_construct_is_seeded():
    a = construct(11, 6, {3: 1.0}, seed=1)
    np.testing.assert_array_equal(a, construct(11, 6, {3: 1.0}, seed=1))
    assert not np.allclose(a, construct(11, 6, {3: 1.0}, seed=2))


def test_two_circles():
    pair = two_circles(59, 50.0, 0.4, seed=0)
    assert len(pair) == 2
    (k1, s1), (k2, s2) = pair.items()
    assert k1 != k2 and 1 <= min(k1, k2) and max(k1, k2) <= 29
    assert s1 == 50.0 and s2 == pytest.approx(20.0)
    assert two_circles(59, 50.0, 0.4, seed=0) == pair
    amp = fourier.amplitude(construct(59, 16, pair))
    assert np.argsort(amp)[-2:].tolist() == [k2 - 1, k1 - 1]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda E: perturb(E, {0: 2.0}), "outside 1..5"),
        (lambda E: perturb(E, {6: 2.0}), "outside 1..5"),
        (lambda E: perturb(E, {2: 0.0}), "above 0"),
        (lambda E: perturb(E, {2: -1.0}), "above 0"),
        (lambda E: perturb(E, {2: float("nan")}), "finite number"),
        (lambda E: perturb(E, {1.5: 2.0}), "not an integer"),
        (lambda E: perturb(E, [2]), "mapping"),
        (lambda E: keep_only(E, [7]), "outside 1..5"),
        (lambda E: keep_only(E, 3), "list of frequencies"),
        (lambda E: perturb(E[0], {1: 2.0}), "shape"),
        (lambda E: perturb(E + 1j, {1: 2.0}), "real"),
        (lambda E: construct(11, 1, {1: 1.0}), "d must be"),
        (lambda E: construct(11, 4, {1: -1.0}), ">= 0"),
        (lambda E: construct(11, 4, {9: 1.0}), "outside 1..5"),
        (lambda E: construct(11, 4, {1: 1.0}, eps=-1.0), "eps"),
        (lambda E: two_circles(11, 1.0, 1.5), r"\[0, 1\]"),
        (lambda E: two_circles(11, 1.0, -0.1), r"\[0, 1\]"),
        (lambda E: two_circles(11, 0.0, 0.5), "above 0"),
    ],
)
def test_bad_input(call, message):
    E = _random(11)
    with pytest.raises(ValueError, match=message) as info:
        call(E)
    assert isinstance(info.value, InputError)


def test_nan_embedding_refused():
    E = _random(11)
    E[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        keep_only(E, [1])
