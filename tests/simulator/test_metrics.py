"""Metric functions on inputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from simulator import gini
from simulator.day_data import popularity_percentile
from simulator.metrics import mean_pairwise_cosine, mean_pairwise_jaccard


def test_gini_known_values() -> None:
    assert gini(np.array([3, 3, 3, 3])) == pytest.approx(0.0)
    assert gini(np.array([0, 0, 0, 8])) == pytest.approx(0.75)  # (n - 1) / n
    assert np.isnan(gini(np.zeros(4)))


@given(arrays(np.float64, st.integers(1, 50), elements=st.floats(0, 1e6)))
def test_gini_is_bounded_and_scale_free(values: np.ndarray) -> None:
    if values.sum() == 0:
        return
    g = gini(values)
    assert -1e-9 <= g <= 1.0
    assert gini(values * 7.0) == pytest.approx(g, abs=1e-9)


def test_mean_pairwise_cosine() -> None:
    assert mean_pairwise_cosine(np.ones((5, 3))) == pytest.approx(1.0)
    assert mean_pairwise_cosine(np.eye(4)) == pytest.approx(0.0)
    v = np.array([[1.0, 0.0], [-1.0, 0.0]])
    assert mean_pairwise_cosine(v) == pytest.approx(-1.0)


def test_mean_pairwise_jaccard() -> None:
    rng = np.random.default_rng(0)
    same = mean_pairwise_jaccard(np.array([0, 0, 1, 1]), np.array([4, 5, 4, 5]), 100, rng)
    assert same == pytest.approx(1.0)
    disjoint = mean_pairwise_jaccard(np.array([0, 1, 2]), np.array([4, 5, 6]), 100, rng)
    assert disjoint == pytest.approx(0.0)
    repeated = mean_pairwise_jaccard(np.array([0, 0, 1]), np.array([4, 4, 4]), 50, rng)
    assert repeated == pytest.approx(1.0)  # a repeated click counts once
    half = mean_pairwise_jaccard(np.array([0, 0, 1]), np.array([4, 5, 4]), 50, rng)
    assert half == pytest.approx(0.5)


def test_popularity_percentile_ranks_live_items() -> None:
    percentile = popularity_percentile(np.array([2, 2, 2, 3]), np.array([1, 2, 3]), 5)
    assert np.isnan(percentile[[0, 4]]).all()
    assert percentile[2] > percentile[3] > percentile[1]
    assert np.mean(percentile[[1, 2, 3]]) == pytest.approx(0.5)
