"""Top-k selection: the best columns and the best values agree, ties and -inf included."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.ranking import best_columns, best_values


@pytest.mark.parametrize("seed", range(4))
def test_best_values_are_the_values_of_the_best_columns_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(50):
        n, c = rng.integers(1, 40), rng.integers(1, 200)
        k = int(rng.integers(1, c + 1))
        matrix = rng.normal(size=(n, c))
        if rng.random() < 0.5:  # many ties
            matrix = np.round(matrix, 1) + 0.0
        matrix[rng.random((n, c)) < 0.2] = -np.inf  # blocked items
        expected = np.take_along_axis(matrix, best_columns(matrix, k), 1)
        assert (expected[:, :-1] >= expected[:, 1:]).all()
        assert (expected[:, -1:] >= np.sort(matrix, axis=1)[:, ::-1][:, k - 1 : k]).all()
        assert best_values(matrix, k).tobytes() == expected.tobytes()


def test_best_values_in_place_gives_the_same_bits_and_only_reorders_rows() -> None:
    rng = np.random.default_rng(7)
    matrix = np.round(rng.normal(size=(30, 120)), 1) + 0.0
    kept = matrix.copy()
    expected = best_values(kept, 10)
    assert (kept == matrix).all(), "without overwrite the matrix is left alone"
    assert best_values(matrix, 10, overwrite=True).tobytes() == expected.tobytes()
    assert (np.sort(matrix, axis=1) == np.sort(kept, axis=1)).all()
