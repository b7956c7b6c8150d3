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
