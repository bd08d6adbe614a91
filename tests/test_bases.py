"""Bases of components: the Fourier numbers of today to the bit, the irreps of finite groups, coordinates,
user directions and principal components."""

import numpy as np
import pytest
import torch

from fittest.errors import InputError
from training import bases
from training.fourier import fourier_basis, neuron_signal, signal
from training.groups import group

GROUPS = ("Z7", "D4", "D6", "S3", "S4", "A4", "A5", "Q8", "Z3xS3")


@pytest.mark.parametrize("p", [11, 12, 59])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fourier_power_is_todays_signal_to_the_bit(p, dtype):
    E = np.random.default_rng(p).standard_normal((3, p, 16)).astype(dtype)
    basis = bases.fourier(p)
    assert basis.power(E).dtype == dtype
    assert np.array_equal(basis.power(E), signal(E))
    assert np.array_equal(basis.power(E, rows=fourier_basis(p)), signal(E, fourier_basis(p)))
    assert basis.scale == p / 2 and np.array_equal(basis.labels, np.arange(1, (p - 1) // 2 + 1))


def test_fourier_power_on_torch_tensors_is_todays_signal_to_the_bit():
    p = 23
    E = torch.randn(4, p, 32, generator=torch.Generator().manual_seed(0))
    rows = torch.as_tensor(fourier_basis(p), dtype=E.dtype)  # as the training loop converts it
    basis = bases.fourier(p)
    assert torch.equal(basis.power(E, rows=rows), signal(E, rows))
    assert torch.equal(basis.power(E), signal(E, rows))  # converted inside, to the same numbers


def test_characters_are_the_multiplicative_basis():
    basis = bases.characters(13)
    E = np.random.default_rng(0).standard_normal((13, 5))
    assert np.array_equal(basis.power(E), signal(E, fourier_basis(13, group="multiplicative")))
    with pytest.raises(InputError, match="prime"):
        bases.characters(12)


def test_per_unit_power_is_each_neurons_power():
    p, d, h = 13, 6, 5
    rng = np.random.default_rng(1)
    E, w1 = rng.standard_normal((p, d)), rng.standard_normal((h, 2 * d))
    basis = bases.fourier(p)
    # neuron u's weight on each token, through either half of the first layer: a (p, h) site, units last
    per_unit = sum(basis.power(E @ half.T, per_unit=True) for half in (w1[:, :d], w1[:, d:]))
    assert per_unit.shape == (h, (p - 1) // 2)
    np.testing.assert_allclose(per_unit, neuron_signal(E, w1), rtol=1e-12)


def test_any_axis_keeps_the_other_axes_in_order():
    basis = bases.irreps("S3")
    x = np.random.default_rng(2).standard_normal((2, 6, 3, 4))
    reference = basis.power(np.moveaxis(x, 1, -2))  # (2, 3, components), summed over the last axis
    np.testing.assert_allclose(basis.power(x, axis=1), reference, rtol=1e-12)
    y = np.random.default_rng(3).standard_normal((5, 6))
    np.testing.assert_allclose(basis.power(y, axis=-1), basis.power(y.T, axis=0), rtol=1e-12)
    assert basis.power(y, axis=1, per_unit=True).shape == (5, basis.n_components)
    vector = y[0]
    np.testing.assert_allclose(basis.power(vector, axis=0), basis.power(vector[:, None]), rtol=1e-12)


def test_a_site_of_the_wrong_size_or_axis_is_refused_naming_both_sizes():
    basis = bases.fourier(11)
    with pytest.raises(InputError, match="rows of 11 entries but the site has 7") as caught:
        basis.power(np.zeros((7, 3)))
    assert "\n" not in str(caught.value)
    with pytest.raises(InputError, match="not an axis"):
        basis.power(np.zeros((11, 3)), axis=2)
    with pytest.raises(InputError, match="per_unit"):
        basis.power(np.zeros(11), axis=0, per_unit=True)
    with pytest.raises(InputError, match="a tensor for a tensor"):
        basis.power(torch.zeros(11, 3), rows=basis.rows)
    with pytest.raises(InputError, match="shape"):
        basis.power(np.zeros((11, 3)), rows=basis.rows[:4])


@pytest.mark.parametrize("name", GROUPS)
def test_irreps_are_orthonormal_and_span_the_functions_on_the_group(name):
    g = group(name)
    basis = bases.irreps(g)
    assert basis.rows.shape == (g.order, g.order) and basis.dim == "irrep" and basis.labels[0] == "trivial"
    np.testing.assert_allclose(basis.rows @ basis.rows.T, np.eye(g.order), atol=1e-10)
    widths = np.bincount(basis.component)
    expected = basis.coords["dim_rho"] ** 2 * np.where(basis.coords["kind"] == "complex", 2, 1)
    assert np.array_equal(widths, expected) and widths.sum() == g.order


def _translations(g):
    """The left and right regular representations as permutation matrices on functions of the group."""
    n = g.order
    left = np.zeros((n, n, n))
    right = np.zeros((n, n, n))
    for a in range(n):
        left[a, g.table[a], np.arange(n)] = 1  # (L_a f)(a x) = f(x)
        right[a, g.table[:, a], np.arange(n)] = 1
    return left, right


@pytest.mark.parametrize("name", ["S4", "A4", "D6", "Q8", "Z3xS3"])
def test_the_regular_representation_holds_each_irrep_d_times(name):
    g = group(name)
    basis = bases.irreps(g)
    table = g.characters
    left, right = _translations(g)
    sizes = np.array([len(c) for c in table.classes])
    representatives = [c[0] for c in table.classes]
    for index in range(basis.n_components):
        rows = basis.rows[basis.component == index]
        projector = rows.T @ rows
        # a two-sided isotypic component: invariant under translations on either side
        np.testing.assert_allclose(left @ projector, projector @ left, atol=1e-10)
        np.testing.assert_allclose(right @ projector, projector @ right, atol=1e-10)
        # the character of the left regular representation on it, against each irreducible character
        trace = np.einsum("ij,gji->g", projector, left)[representatives]
        multiplicity = (table.values.conj() * sizes) @ trace / g.order
        members = table.component == index
        d = table.dim[members][0]
        np.testing.assert_allclose(multiplicity, np.where(members, d, 0), atol=1e-9)


def test_the_permutation_representation_of_s4_is_trivial_plus_standard():
    s4 = group("S4")
    perms = [np.eye(4)[[int(c) for c in _one_line(label)]] for label in s4.elements]
    v = np.array([1.0, -2.0, 0.5, 3.0])
    E = np.stack([P @ v for P in perms])  # token g -> P_g v: every column a matrix coefficient of R^4
    basis = bases.irreps(s4)
    power = basis.power(E)
    values = s4.characters.values
    transposition = s4.class_of[s4.elements.index("(0 1)")]
    standard = [
        i
        for i, label in enumerate(basis.labels)
        if basis.coords["dim_rho"][i] == 3 and _value(s4, label, transposition) == 1
    ]
    assert len(standard) == 1 and values.shape == (5, 5)
    np.testing.assert_allclose(power[0], 24 * (E.mean(0) ** 2).sum(), rtol=1e-12)
    np.testing.assert_allclose(power[0] + power[standard[0]], (E**2).sum(), rtol=1e-12)
    others = np.delete(power, [0, standard[0]])
    assert others.max() < 1e-20 * (E**2).sum()


def _one_line(label):
    perm = list(range(4))
    for cycle in label.replace("e", "").strip("()").split(")("):
        points = [int(c) for c in cycle.split()] if cycle else []
        for a, b in zip(points, points[1:] + points[:1], strict=True):
            perm[a] = b
    return perm


def _value(g, label, column):
    table = g.characters
    return round(float(table.values[table.labels.index(label), column].real), 9)


def test_irreps_of_a_cyclic_group_are_the_fourier_circles():
    E = np.random.default_rng(4).standard_normal((5, 11, 8))
    irreps, fourier = bases.irreps("Z11"), bases.fourier(11)
    assert list(irreps.labels) == ["trivial", "1a", "1b", "1c", "1d", "1e"]  # k = 1 .. 5 in order
    np.testing.assert_allclose(irreps.power(E)[..., 1:] * fourier.scale, fourier.power(E), rtol=1e-12)
    np.testing.assert_allclose(irreps.power(E)[..., 0], 11 * (E.mean(-2) ** 2).sum(-1), rtol=1e-12)


def test_complex_and_quaternionic_irreps_are_one_real_component():
    z5 = bases.irreps("Z5")
    assert list(z5.coords["kind"]) == ["real", "complex", "complex"] and np.bincount(z5.component).tolist() == [1, 2, 2]
    a4 = bases.irreps("A4")
    complex_ = np.flatnonzero(a4.coords["kind"] == "complex")
    assert len(complex_) == 1 and np.sum(a4.component == complex_[0]) == 2
    q8 = bases.irreps("Q8")
    assert q8.coords["kind"][-1] == "quaternionic" and np.sum(q8.component == q8.n_components - 1) == 4


def test_irrep_power_on_torch_with_the_grouping_passed_matches_numpy():
    basis = bases.irreps("S4")
    x = np.random.default_rng(5).standard_normal((3, 24, 7))
    tensor = torch.as_tensor(x)
    rows, grouping = basis.like(tensor)
    assert rows.dtype == torch.float64 and torch.equal(rows, torch.as_tensor(basis.rows))
    out = basis.power(tensor, rows=rows, grouping=grouping)
    np.testing.assert_allclose(out.numpy(), basis.power(x), rtol=1e-12)
    np.testing.assert_allclose(basis.power(x).sum(-1), (x**2).sum((-2, -1)), rtol=1e-12)  # Parseval


def test_character_table_accepts_a_name_and_returns_labels_classes_values():
    labels, classes, table = bases.character_table("S3")
    assert labels == ("trivial", "1", "2") and len(classes) == 3 and table.shape == (3, 3)


def test_coordinates_give_each_coordinates_square():
    x = np.random.default_rng(6).standard_normal((4, 5))
    basis = bases.coordinates(5, name="unit")
    assert basis.dim == "unit" and np.array_equal(basis.labels, np.arange(5))
    np.testing.assert_array_equal(basis.power(x, axis=-1), (x**2).sum(0))
    with pytest.raises(InputError, match="n must be an integer in 1..8192"):
        bases.coordinates(0)


def test_directions_are_orthonormalised_in_order():
    v1, v2 = np.array([2.0, 0.0, 0.0]), np.array([1.0, 1.0, 0.0])
    basis = bases.directions([v1, v2], labels=["a", "b"], orthonormalise=True)
    np.testing.assert_allclose(basis.rows, [[1, 0, 0], [0, 1, 0]], atol=1e-15)
    assert list(basis.labels) == ["a", "b"] and basis.dim == "direction"
    q = np.linalg.qr(np.random.default_rng(7).standard_normal((6, 2)))[0].T
    assert np.array_equal(bases.directions(q).rows, q)  # orthonormal already: taken as they are


def test_dependent_and_non_orthonormal_directions_are_refused_in_one_line():
    v1, v2 = np.array([1.0, 0.0, 0.0]), np.array([1.0, 1.0, 0.0])
    for flag in (False, True):
        with pytest.raises(InputError, match=r"direction 'c' \(row 2\) lies in the span.*drop it") as caught:
            bases.directions([v1, v2, v1 - 2 * v2], labels=["a", "b", "c"], orthonormalise=flag)
        assert "\n" not in str(caught.value)
    with pytest.raises(InputError, match="orthonormalise=True"):
        bases.directions([v1, v2])
    with pytest.raises(InputError, match="is zero"):
        bases.directions([v1, 0 * v1])
    with pytest.raises(InputError, match="4 directions in 3 dimensions"):
        bases.directions(np.random.default_rng(9).standard_normal((4, 3)))
    with pytest.raises(InputError, match="NaN"):
        bases.directions([[np.nan, 1.0]])


def test_pca_finds_known_principal_axes():
    rng = np.random.default_rng(8)
    u = np.linalg.qr(rng.standard_normal((5, 2)))[0].T  # two orthonormal axes in R^5
    a, b = np.array([1.0, -1.0, 0.0, 0.0]), np.array([0.0, 0.0, 1.0, -1.0])
    x = 3 * a[:, None] * u[0] + b[:, None] * u[1] + rng.standard_normal(5)  # offset: pca centres it
    basis = bases.pca(x, 2)
    assert list(basis.labels) == [1, 2] and basis.dim == "pc"
    np.testing.assert_allclose(np.abs(basis.rows @ u.T), np.eye(2), atol=1e-12)
    np.testing.assert_allclose(basis.coords["explained_variance_ratio"], [0.9, 0.1], rtol=1e-12)
    assert np.all(basis.rows[np.arange(2), np.abs(basis.rows).argmax(1)] > 0)
    centred = x - x.mean(0)
    np.testing.assert_allclose(basis.power(centred, axis=-1), [18.0, 2.0], rtol=1e-12)
    with pytest.raises(InputError, match="2 principal directions with nonzero variance"):
        bases.pca(x, 3)
    with pytest.raises(InputError, match="k must be an integer in 1..3"):
        bases.pca(x, 4)


def test_a_basis_with_rows_that_are_not_orthonormal_is_refused():
    with pytest.raises(InputError, match="orthogonal"):
        bases.Basis(dim="unit", rows=[[1.0, 1.0], [0.0, 1.0]], component=[0, 1], labels=[0, 1])
    with pytest.raises(InputError, match="every component"):
        bases.Basis(dim="unit", rows=np.eye(2), component=[0, 0], labels=[0, 1])
