"""What a run holds in memory: training windows read only the columns a policy uses, and no
window outlives its training job.
"""

from __future__ import annotations

import dataclasses
import tracemalloc
import weakref
from typing import Self

import numpy as np
import pandas as pd

from policies import PopularityPolicy
from simulator import (
    DAILY_METRICS,
    DayData,
    ImpressionLog,
    Impressions,
    PositionBasedModel,
    SimulationConfig,
    TrainingData,
    World,
    WorldConfig,
    simulate,
    stream,
)


def filled_log(n_sessions: int, k: int = 10, seed: int = 0) -> ImpressionLog:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0.0, 3.0, n_sessions))
    log = ImpressionLog(slate_size=k, chunk_rows=1024)
    log.append(
        {
            "t": t,
            "user": rng.integers(0, 1000, n_sessions),
            "segment": rng.integers(0, 3, n_sessions).astype(np.int8),
            "label_time": t + rng.exponential(0.2, n_sessions),
            "model_version": np.zeros(n_sessions, dtype=np.int32),
            "item": rng.integers(0, 500, (n_sessions, k)),
            "propensity": rng.random((n_sessions, k)),
            "score": rng.random((n_sessions, k)),
            "click": rng.random((n_sessions, k)) < 0.1,
        }
    )
    return log


def test_a_training_window_holds_only_the_columns_its_policy_reads() -> None:
    log = filled_log(40_000)
    whole = log.between(0.0, 3.0)
    whole_bytes = sum(getattr(whole, name).nbytes for name in whole.__dataclass_fields__)
    del whole
    tracemalloc.start()
    window = log.labelled(now=3.0, window=3.0)
    policy = PopularityPolicy().fit(TrainingData(window, features=None, now=3.0))  # type: ignore[arg-type]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # Popularity reads items (40 bytes a session) and clicks (10); the label times (8) are read
    # to filter, a mask (1) kept: 59 of the 203 bytes a session of a whole copy, plus counts.
    assert peak < 0.35 * whole_bytes
    eager = log.between(0.0, 3.0)
    eager = eager.subset(eager.label_time <= 3.0)
    expected = np.bincount(eager.item[eager.click].astype(np.int64)).astype(float)
    np.testing.assert_array_equal(policy.clicks_, expected)
    pd.testing.assert_frame_equal(window.to_pandas(), eager.to_pandas(), check_exact=True)


def test_a_window_of_some_segments_is_the_windows_rows_of_those_segments() -> None:
    log = filled_log(5_000)
    window = log.labelled(now=2.5, window=1.5)
    expected = window.subset(np.isin(window.segment, [0, 2])).to_pandas()
    got = log.labelled(now=2.5, window=1.5, segments=[0, 2]).to_pandas()
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert 0 < len(got) < len(window.to_pandas())


def test_a_window_replaced_as_a_dataclass_is_a_plain_record_of_its_columns() -> None:
    log = filled_log(3_000)
    window = log.labelled(now=2.5, window=1.5)
    flipped = dataclasses.replace(window, click=~window.click)
    assert type(flipped) is Impressions
    expected = window.to_pandas().assign(click=lambda frame: frame.click.map(np.logical_not))
    pd.testing.assert_frame_equal(flipped.to_pandas(), expected, check_exact=True)


SEEN: list[weakref.ref[TrainingData]] = []
"""A weak reference to each training set a `Watched` policy was given."""


class Watched(PopularityPolicy):
    """Popularity that notes each training set it is given in `SEEN`."""

    def fit(self, data: TrainingData) -> Self:
        SEEN.append(weakref.ref(data))
        return super().fit(data)


def test_no_training_window_outlives_its_job() -> None:
    # At each day's end (before the next retrain) every window fitted on must be freed: one
    # kept by the retraining process would sit beside the day's log and the next window.
    SEEN.clear()
    alive: list[int] = []

    def windows_alive(day: DayData) -> float:
        alive.append(sum(ref() is not None for ref in SEEN))
        return 0.0

    world = World.generate(WorldConfig(n_users=300, n_items=60), stream(0, "world"))
    config = SimulationConfig(days=4, ticks_per_day=4)
    metrics = DAILY_METRICS | {"windows_alive": windows_alive}
    simulate(world, PositionBasedModel(), Watched(), config, seed=0, metrics=metrics)
    assert len(SEEN) == 4  # the first fit at t = 0 and one retrain a day
    assert len(alive) >= 4 and max(alive) == 0  # read for the population and each segment


def test_a_day_of_models_without_examination_curves_carries_no_block_of_nan() -> None:
    days: list[DayData] = []

    def keep_day(day: DayData) -> float:
        days.append(day)
        return 0.0

    world = World.generate(WorldConfig(n_users=300, n_items=60), stream(0, "world"))
    config = SimulationConfig(days=2, ticks_per_day=4)
    metrics = DAILY_METRICS | {"keep_day": keep_day}
    result = simulate(world, PositionBasedModel(), PopularityPolicy(), config, metrics=metrics)
    assert days and all(day.estimated_examination is None for day in days)
    assert result.metric("position_bias_error").isna().all()
