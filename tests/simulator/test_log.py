"""The columnar log: appends across chunk boundaries, time queries, memory per impression."""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import PopularityPolicy
from simulator import (
    ImpressionLog,
    MetricSettings,
    PositionBasedModel,
    SimulationConfig,
    SimulationResult,
    World,
    WorldConfig,
    simulate,
    simulation,
    stream,
)
from simulator.log import ColumnStore
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


@given(st.integers(1, 9), st.integers(0, 80), st.integers(0, 80), st.integers(0, 80))
@settings(max_examples=40, deadline=None)
def test_spilled_rows_read_back_the_same(chunk_rows: int, spill_at: int, lo: int, hi: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        memory = ImpressionLog(slate_size=3, chunk_rows=chunk_rows)
        spilling = ImpressionLog(slate_size=3, chunk_rows=chunk_rows, folder=Path(folder))
        for day in range(4):
            memory.append(batch(20, float(day)))
            spilling.append(batch(20, float(day)))
        cut = spilling.spill_before(spill_at / 20)
        assert cut == memory.session_at(spill_at / 20)
        assert spilling.n_spilled == cut // chunk_rows * chunk_rows
        pd.testing.assert_frame_equal(spilling.to_pandas(), memory.to_pandas(), check_exact=True)
        a, b = memory.sessions(lo, hi), spilling.sessions(lo, hi)
        np.testing.assert_array_equal(a.item, b.item)
        np.testing.assert_array_equal(a.click, b.click)
        for t in (0.0, lo / 20, hi / 20, 5.0):
            assert spilling.session_at(t) == memory.session_at(t)


def test_a_spilling_run_gives_the_same_results_in_bounded_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Chunks of 8192 sessions would hold days of this small world: use small ones to spill.
    monkeypatch.setattr(simulation, "ImpressionLog", partial(ImpressionLog, chunk_rows=64))
    monkeypatch.setattr(simulation, "ColumnStore", partial(ColumnStore, chunk_rows=64))

    def run(spill: bool) -> SimulationResult:
        world = World.generate(WorldConfig(n_users=600, n_items=100), stream(0, "world"))
        config = SimulationConfig(days=6, window=1.0, log_spill=spill)
        settings = MetricSettings(popularity_window=1.0, homogenization_window=1.0)
        return simulate(
            world, PositionBasedModel(eta=1.0), PopularityPolicy(), config, metric_settings=settings
        )

    memory, spilling = run(False), run(True)
    pd.testing.assert_frame_equal(spilling.metrics, memory.metrics, check_exact=True)
    pd.testing.assert_frame_equal(
        spilling.log.to_pandas(), memory.log.to_pandas(), check_exact=True
    )
    # One day of log (about 600 sessions) plus the day being served stay in memory.
    assert spilling.log.n_spilled > len(memory.log) / 2
    assert spilling.log.nbytes < memory.log.nbytes / 2
    assert spilling.truth.nbytes < memory.truth.nbytes / 2


def test_a_log_spills_older_sessions_and_keeps_recent_ones() -> None:
    with tempfile.TemporaryDirectory() as folder:
        log = ImpressionLog(slate_size=3, chunk_rows=10, folder=Path(folder))
        for day in range(10):
            log.append(batch(20, float(day)))
            log.spill_before(day + 1.0 - 2.0)
        one_chunk = ImpressionLog(slate_size=3, chunk_rows=10)
        one_chunk.append(batch(1, 0.0))
        # the last two days, 40 sessions, are the 4 chunks that stay in memory
        assert log.nbytes == 4 * one_chunk.nbytes
        assert len(log.between(8.0, 10.0)) == 40 and len(log.between(0.0, 1.0)) == 20


@pytest.mark.parametrize("spill", [False, True])
def test_clicks_between_are_the_clicks_of_between(spill: bool, tmp_path: Path) -> None:
    # Read a chunk at a time (spilled chunks read back one by one), in log order all the same.
    log = ImpressionLog(slate_size=3, chunk_rows=7, folder=tmp_path if spill else None)
    rng = np.random.default_rng(0)
    for day in range(3):
        columns = batch(20, float(day))
        columns["click"] = rng.random((20, 3)) < 0.3
        log.append(columns)
    if spill:
        log.spill_before(1.5)
    users, items = log.clicks_between(0.5, 2.1)
    block = log.between(0.5, 2.1)
    rows, positions = np.nonzero(block.click)
    assert len(users) > 0
    np.testing.assert_array_equal(users, block.user[rows])
    np.testing.assert_array_equal(items, block.item[rows, positions])
    assert [len(a) for a in log.clicks_between(5.0, 6.0)] == [0, 0]


@given(st.integers(1, 9), st.floats(0.0, 4.0), st.one_of(st.none(), st.floats(0.1, 3.0)))
@settings(max_examples=40, deadline=None)
def test_labelled_is_the_window_filtered_by_label_time(
    chunk_rows: int, now: float, window: float | None
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        log = ImpressionLog(slate_size=3, chunk_rows=chunk_rows)
        spilled = ImpressionLog(slate_size=3, chunk_rows=chunk_rows, folder=Path(folder))
        rng = np.random.default_rng(chunk_rows)
        for day in range(4):
            columns = batch(20, float(day))
            columns["label_time"] = columns["t"] + rng.exponential(0.5, 20)
            log.append(columns)
            spilled.append(columns)
        spilled.spill_before(2.0)
        block = log.between(-np.inf if window is None else now - window, now)
        expected = block.subset(block.label_time <= now).to_pandas()
        for got in (log.labelled(now, window), spilled.labelled(now, window)):
            pd.testing.assert_frame_equal(got.to_pandas(), expected, check_exact=True)
