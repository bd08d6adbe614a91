"""Finite groups by name and by table, their conjugacy classes and their characters against known tables."""

import numpy as np
import pytest

from fittest.errors import InputError
from training.groups import from_table, group

NAMES = ("Z1", "Z7", "D4", "D6", "S3", "S4", "A4", "A5", "Q8", "Z3xS3")


@pytest.mark.parametrize(
    ("name", "order"), [("Z7", 7), ("D6", 12), ("S4", 24), ("A5", 60), ("Z3xS3", 18), ("Q8", 8), ("s4", 24)]
)
def test_named_groups_have_their_order_and_satisfy_the_axioms(name, order):
    g = group(name)
    assert g.order == order and len(g.elements) == order
    assert np.array_equal(g.table[0], np.arange(order)) and np.array_equal(g.table[:, 0], np.arange(order))
    assert np.array_equal(g.table[np.arange(order), g.inverse], np.zeros(order))
    checked = from_table(g.table, name=g.name, elements=g.elements)  # closure, identity, inverses, associativity
    assert checked.elements == g.elements


def test_names_are_canonical_and_case_insensitive():
    assert group("z3xs3").name == "Z3xS3"
    assert group("Z3xS3").elements[:2] == ("(0, e)", "(0, (1 2))")


def test_permutations_compose_with_the_right_factor_acting_first():
    s3 = group("S3")
    index = {label: i for i, label in enumerate(s3.elements)}
    # (0 1) after (1 2): 0 -> 0 -> 1, 1 -> 2 -> 2, 2 -> 1 -> 0
    assert s3.elements[s3.table[index["(0 1)"], index["(1 2)"]]] == "(0 1 2)"
    assert not s3.is_abelian and group("Z7").is_abelian


def test_dihedral_relations():
    d5 = group("D5")
    index = {label: i for i, label in enumerate(d5.elements)}
    r, s = index["r"], index["s"]
    power = 0
    for _ in range(5):
        power = d5.table[power, r]
    assert power == 0 and d5.table[s, s] == 0
    assert d5.table[d5.table[s, r], s] == index["r^4"]  # s r s = r^-1


def test_conjugacy_classes_of_s4():
    s4 = group("S4")
    assert sorted(len(c) for c in s4.classes) == [1, 3, 6, 6, 8]
    assert np.array_equal(s4.classes[0], [0])


@pytest.mark.parametrize("name", NAMES)
def test_characters_are_orthonormal_and_their_degrees_square_sum_to_the_order(name):
    g = group(name)
    table = g.characters
    sizes = np.array([len(c) for c in table.classes])
    values = table.values
    assert values.shape == (len(sizes), len(sizes))
    np.testing.assert_allclose((values * sizes) @ values.conj().T / g.order, np.eye(len(sizes)), atol=1e-10)
    np.testing.assert_allclose(values.conj().T @ values, np.diag(g.order / sizes), atol=1e-9)  # columns
    assert (table.dim**2).sum() == g.order and table.labels[0] == "trivial"
    np.testing.assert_allclose(values[0], 1)


def _table_at(g, representatives):
    index = {label: i for i, label in enumerate(g.elements)}
    columns = [g.class_of[index[label]] for label in representatives]
    return g.characters.values[:, columns]


def _same_rows(computed, known):
    computed, known = np.round(np.real_if_close(computed), 9) + 0.0, np.array(known, dtype=float)
    return np.array_equal(computed[np.lexsort(computed.T[::-1])], known[np.lexsort(known.T[::-1])])


def test_the_character_tables_of_s3_s4_and_d4_are_the_known_ones():
    s3 = [[1, 1, 1], [1, -1, 1], [2, 0, -1]]
    assert _same_rows(_table_at(group("S3"), ["e", "(0 1)", "(0 1 2)"]), s3)
    s4 = [[1, 1, 1, 1, 1], [1, -1, 1, 1, -1], [2, 0, 2, -1, 0], [3, 1, -1, 0, -1], [3, -1, -1, 0, 1]]
    assert _same_rows(_table_at(group("S4"), ["e", "(0 1)", "(0 1)(2 3)", "(0 1 2)", "(0 1 2 3)"]), s4)
    d4 = [[1, 1, 1, 1, 1], [1, 1, 1, -1, -1], [1, 1, -1, 1, -1], [1, 1, -1, -1, 1], [2, -2, 0, 0, 0]]
    assert _same_rows(_table_at(group("D4"), ["e", "r^2", "r", "s", "r s"]), d4)
    assert group("S4").characters.dim.tolist() == [1, 1, 2, 3, 3]
    assert group("D4").characters.dim.tolist() == [1, 1, 1, 1, 2]


def test_kinds_by_the_frobenius_schur_indicator():
    z5 = group("Z5").characters
    assert z5.kind == ("real", "complex", "complex", "complex", "complex")
    assert z5.labels == ("trivial", "1a", "1a*", "1b", "1b*") and z5.component.tolist() == [0, 1, 1, 2, 2]
    np.testing.assert_allclose(z5.values[2], z5.values[1].conj())
    a4 = group("A4").characters
    assert a4.kind.count("complex") == 2 and a4.dim[np.array(a4.kind) == "complex"].tolist() == [1, 1]
    q8 = group("Q8").characters
    assert q8.kind == ("real", "real", "real", "real", "quaternionic") and q8.dim[-1] == 2
    assert set(group("S5").characters.kind) == {"real"}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("T4", "unknown group 'T4'"),
        ("S8", "up to n=7"),
        ("A9", "up to n=7"),
        ("D2", "out of range"),
        ("Z0", "out of range"),
        ("Q6", "out of range"),
        ("Z6000", "6000 elements"),
        ("Z100xZ100", "10000 elements"),
        ("S4x", "unknown group"),
        ("", "non-empty"),
    ],
)
def test_bad_names_are_refused_in_one_line(name, message):
    with pytest.raises(InputError, match=message) as caught:
        group(name)
    assert "\n" not in str(caught.value)
    if "unknown" in message:
        assert "Zn (cyclic" in str(caught.value)


LOOP = [[0, 1, 2, 3, 4], [1, 0, 3, 4, 2], [2, 4, 0, 1, 3], [3, 2, 4, 0, 1], [4, 3, 1, 2, 0]]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (LOOP, "not associative"),  # a Latin square with identity (a loop) that is no group
        ([[0, 1], [1, 2]], "not closed"),
        ([[1, 0], [0, 1]], "identity is element 1"),
        ([[1, 1], [0, 0]], "no identity"),
        ([[0, 1, 2], [1, 2, 2], [2, 0, 1]], "repeats an element"),
        ([[0, 1, 2]], "square"),
        ([[0.0, 1.5], [1.0, 0.0]], "integers"),
        (np.zeros((2001, 2001), dtype=int), "up to 2000"),
    ],
)
def test_bad_tables_are_refused(table, message):
    with pytest.raises(InputError, match=message):
        from_table(table)


def test_a_table_with_its_own_labels():
    g = from_table([[0, 1], [1, 0]], name="C2", elements=["+", "-"])
    assert g.name == "C2" and g.elements == ("+", "-") and g.characters.dim.tolist() == [1, 1]
    with pytest.raises(InputError, match="distinct labels"):
        from_table([[0, 1], [1, 0]], elements=["a", "a"])
