"""The columnar log: appends across chunk boundaries, time queries, memory per impression."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator import ImpressionLog
from simulator.ranking import best_columns


def batch(n: int, start: float, k: int = 3) -> dict[str, np.ndarray]:
    t = start + np.arange(n) * 0.01
    return {
        "t": t,
        "user": np.arange(n),
        "segment": np.zeros(n, dtype=np.int8),
        "label_time": t + 0.5,
        "model_version": np.zeros(n, dtype=np.int32),
        "item": np.arange(n * k).reshape(n, k),
        "propensity": np.ones((n, k)),
        "score": np.zeros((n, k)),
        "click": np.zeros((n, k), dtype=bool),
    }


@given(st.lists(st.integers(0, 40), min_size=1, max_size=8), st.integers(1, 16))
@settings(max_examples=60, deadline=None)
def test_appends_read_back_in_order(sizes: list[int], chunk_rows: int) -> None:
    log = ImpressionLog(slate_size=3, chunk_rows=chunk_rows)
    start, expected_t = 0.0, []
    for n in sizes:
        columns = batch(n, start)
        log.append(columns)
        expected_t.extend(columns["t"])
        start += 1.0
    assert len(log) == sum(sizes)
    np.testing.assert_array_equal(log.sessions().t, expected_t)
    for lo, hi in [(0, len(log)), (1, len(log) // 2), (len(log) // 3, len(log))]:
        np.testing.assert_array_equal(log.sessions(lo, hi).t, expected_t[lo:hi])
        np.testing.assert_array_equal(log.sessions(lo, hi).session, np.arange(lo, max(lo, hi)))


def test_time_window_and_label_queries() -> None:
    log = ImpressionLog(slate_size=3, chunk_rows=7)
    for day in range(3):
        log.append(batch(20, float(day)))
    day_one = log.between(1.0, 2.0)
    assert len(day_one) == 20 and day_one.t.min() >= 1.0 and day_one.t.max() < 2.0
    labelled = log.labelled(now=2.6, window=1.0)
    assert len(labelled) > 0
    assert labelled.label_time.max() <= 2.6 and labelled.t.min() >= 1.6


def test_memory_grows_by_chunks_not_doubling() -> None:
    log = ImpressionLog(slate_size=10, chunk_rows=1000)
    for _ in range(10):
        log.append(batch(1000, 0.0, k=10))
    # 8+4+1+8+4 bytes per session + (4+8+4+1) per impression = 19.5 bytes per impression
    assert log.nbytes / log.n_impressions == 19.5


@given(st.integers(1, 30), st.integers(1, 30), st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_best_columns_are_the_top_k_in_order(n_columns: int, k: int, seed: int) -> None:
    k = min(k, n_columns)
    matrix = np.random.default_rng(seed).normal(size=(4, n_columns))
    best = best_columns(matrix, k)
    chosen = np.take_along_axis(matrix, best, axis=1)
    np.testing.assert_array_equal(chosen, -np.sort(-matrix, axis=1)[:, :k])
