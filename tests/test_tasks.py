"""Tasks beyond addition: subtraction and multiplication mod p, each with the basis its circles live in."""

import numpy as np
import pytest

import training
from fittest.cli import main
from fittest.errors import InputError
from training import fourier
from training.tasks import pairs

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("p", [5, 23, 59])
@pytest.mark.parametrize("group", fourier.GROUPS)
def test_bases_are_orthogonal_with_equal_norms(p, group):
    basis = fourier.fourier_basis(p, group=group)
    order = p if group == "additive" else p - 1
    assert basis.shape == (2 * len(fourier.frequencies(p, group=group)), p)
    np.testing.assert_allclose(basis @ basis.T, order / 2 * np.eye(len(basis)), atol=1e-9)


def _relabel(E: np.ndarray, image: np.ndarray) -> np.ndarray:
    """The embedding in which token ``image[n]`` has token n's vector."""
    out = np.empty_like(E)
    out[image] = E
    return out


@pytest.mark.parametrize("p", [7, 23, 31])
def test_each_basis_diagonalises_its_own_operation(p):
    E = RNG.standard_normal((p, 6))
    additive, multiplicative = fourier.fourier_basis(p), fourier.fourier_basis(p, group="multiplicative")
    n = np.arange(p)
    for a in range(1, p):
        scaled = _relabel(E, a * n % p)  # multiplying every token by a rotates each character's circle
        np.testing.assert_allclose(fourier.signal(scaled, multiplicative), fourier.signal(E, multiplicative))
        shifted = _relabel(E, (n + a) % p)  # adding a rotates each additive circle
        np.testing.assert_allclose(fourier.signal(shifted, additive), fourier.signal(E, additive))
    # and neither basis diagonalises the other operation
    assert not np.allclose(fourier.signal(_relabel(E, 2 * n % p), additive), fourier.signal(E, additive))
    assert not np.allclose(fourier.signal(_relabel(E, (n + 1) % p), multiplicative), fourier.signal(E, multiplicative))


def test_discrete_log_inverts_the_primitive_root():
    p = 59
    g, log = fourier.primitive_root(p), fourier.discrete_log(p)
    assert sorted(log[1:]) == list(range(p - 1)) and log[0] == -1
    assert all(pow(g, int(log[n]), p) == n for n in range(1, p))


def test_labels():
    a, b, c = pairs(7, "subtract")
    assert np.array_equal(c, (a - b) % 7)
    a, b, c = pairs(7, "multiply")
    assert np.array_equal(c, a * b % 7)


@pytest.fixture(scope="module")
def multiplied():
    config = training.TrainConfig(task="multiply", p=23, d=32, runs=3, steps=1500, hidden=64, device="cpu")
    return training.train(config)


def _top_share(signal: np.ndarray, n: int = 3) -> np.ndarray:
    return np.sort(signal, -1)[:, ::-1][:, :n].sum(-1) / signal.sum(-1)


def test_multiply_learns_and_concentrates_in_the_multiplicative_basis_only(multiplied):
    ds = multiplied
    assert ds.attrs["task"] == "multiply" and "multiplicative" in ds.attrs["basis"]
    assert list(ds.frequency.values) == list(range(1, 11))  # (p - 2) // 2 characters
    assert (ds.test_acc.isel(step=-1) > 0.95).all()
    E = ds.embedding.isel(snapshot=-1).values
    in_task_basis = _top_share(fourier.signal(E, fourier.fourier_basis(23, group="multiplicative")))
    in_additive_basis = _top_share(fourier.signal(E, fourier.fourier_basis(23)))
    # 3 of 10 characters hold most of the power; 3 of 11 additive frequencies hold about their share (3/11)
    assert (in_task_basis > 0.6).all() and (in_additive_basis < 0.45).all(), (in_task_basis, in_additive_basis)
    # the recorded signal is the one of the multiplicative basis
    np.testing.assert_allclose(
        ds.signal.isel(step=-1).values,
        fourier.signal(E, fourier.fourier_basis(23, group="multiplicative")),
        rtol=1e-4,
    )


def test_subtract_learns_in_the_additive_basis():
    ds = training.train(training.TrainConfig(task="subtract", p=23, d=32, runs=2, steps=1500, hidden=64, device="cpu"))
    assert (ds.test_acc.isel(step=-1) > 0.95).all() and ds.attrs["task"] == "subtract"
    assert (training.count_survivors(ds) >= 1).all()


def test_bad_task_combinations_are_refused(capsys):
    with pytest.raises(InputError, match="needs a prime p >= 5"):
        training.TrainConfig(task="multiply", p=21)
    with pytest.raises(InputError, match="task must be one of add, subtract, multiply"):
        training.TrainConfig(task="divide")
    with pytest.raises(InputError, match="act on additive Fourier circles"):
        training.TrainConfig(task="multiply", p=23, init_keep=(1, 2))
    assert main(["train", "--task", "multiply", "--p", "21", "--steps", "5"]) == 2
    error = capsys.readouterr().err
    assert "needs a prime p" in error and error.count("\n") == 1
