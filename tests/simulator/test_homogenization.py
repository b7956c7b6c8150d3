"""Nearest-neighbour Jaccard homogenization on hand-built sets (Chaney et al. 2018)."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.homogenization import (
    consumed_sets,
    homogenization,
    nearest_neighbours,
    neighbour_jaccard,
)


def _sets(rows: list[set[int]], n_items: int = 6) -> np.ndarray:
    users = [u for u, row in enumerate(rows) for _ in row]
    items = [i for row in rows for i in row]
    return consumed_sets(np.array(users, dtype=int), np.array(items, dtype=int), len(rows), n_items)


def test_consumed_sets() -> None:
    sets = consumed_sets(np.array([0, 0, 1]), np.array([2, 2, 0]), 3, 4)
    assert sets.tolist() == [[False, False, True, False], [True, False, False, False], [False] * 4]


def test_nearest_neighbour_by_cosine() -> None:
    representation = np.array([[1.0, 0.0], [10.0, 1.0], [0.0, 1.0], [0.1, 2.0]])
    neighbours = nearest_neighbours(representation, np.random.default_rng(0))
    assert neighbours.tolist() == [1, 0, 3, 2]


def test_ties_are_broken_at_random() -> None:
    """User 0 is equally similar to users 1, 2 and 3 (zero rows are similar to no one)."""
    representation = np.array([[1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [0.5, 0.0]])
    picks = [nearest_neighbours(representation, np.random.default_rng(s))[0] for s in range(300)]
    counts = np.bincount(picks, minlength=4)
    assert counts[0] == 0
    # each of 3 options: 100 expected, binomial sd 8.2; 5 sd
    assert (np.abs(counts[1:] - 100) < 41).all()
    zero = nearest_neighbours(np.zeros((3, 2)), np.random.default_rng(0))
    assert (zero != np.arange(3)).all()


def test_neighbour_jaccard_on_hand_built_sets() -> None:
    consumed = _sets([{0, 1, 2}, {1, 2, 3}, {4}, set()])
    neighbours = np.array([1, 0, 3, 2])
    # J = 2/4, 2/4, |{4} & {}| / |{4}| = 0, 0
    assert np.isclose(neighbour_jaccard(consumed, neighbours), (0.5 + 0.5 + 0 + 0) / 4)
    both_empty = _sets([set(), set()])
    assert neighbour_jaccard(both_empty, np.array([1, 0])) == 0.0


def test_homogenization_is_relative_to_the_ideal_on_the_same_pairs() -> None:
    representation = np.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])  # pairs 0-1, 2-3
    recommended = _sets([{0, 1}, {0, 1}, {2, 3}, {2, 4}])  # J = 1, 1, 1/3, 1/3
    ideal = _sets([{0, 1}, {0, 5}, {2}, {3}])  # J = 1/3, 1/3, 0, 0
    value = homogenization(representation, recommended, ideal, np.random.default_rng(0))
    assert np.isclose(value, (2 + 2 / 3) / 4 - (2 / 3) / 4)
    assert homogenization(representation, ideal, ideal, np.random.default_rng(0)) == 0.0


@pytest.mark.parametrize(
    ("representation", "message"),
    [
        (np.ones(3), "representation"),
        (np.ones((1, 2)), "representation"),
        (np.array([[np.nan, 1.0], [1.0, 0.0]]), "finite"),
    ],
)
def test_bad_representation(representation: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        nearest_neighbours(representation, np.random.default_rng(0))


def test_shapes_must_agree() -> None:
    with pytest.raises(ValueError, match="ideal_consumed"):
        homogenization(
            np.eye(2), np.zeros((2, 3), bool), np.zeros((2, 4), bool), np.random.default_rng(0)
        )
    with pytest.raises(ValueError, match="neighbours"):
        neighbour_jaccard(np.zeros((2, 3), bool), np.array([1]))
