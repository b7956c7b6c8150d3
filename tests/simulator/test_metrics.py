"""Metric functions on inputs with known answers, the feedback-loop metrics on a hand-made day."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from policies import LightGBMPolicy, RandomPolicy
from simulator import (
    DAILY_METRICS,
    LOOP_METRICS,
    DayData,
    Impressions,
    PositionBasedModel,
    SimulationConfig,
    World,
    WorldConfig,
    gini,
    simulate,
    stream,
)
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


# ---------------------------------------------------------------------- loop metrics
def day_data(predicting: list[bool] | None) -> DayData:
    """Three sessions of two positions over items 0..3; item 0 is the most popular."""
    n = 3
    impressions = Impressions(
        session=np.arange(n),
        t=np.array([0.1, 0.2, 0.3]),
        user=np.array([0, 1, 2], dtype=np.int32),
        segment=np.array([0, 0, 1], dtype=np.int8),
        label_time=np.array([0.1, 0.2, 0.3]),
        model_version=np.zeros(n, dtype=np.int32),
        item=np.array([[0, 1], [0, 2], [3, 1]], dtype=np.int32),
        propensity=np.ones((n, 2)),
        score=np.array([[0.5, 0.4], [0.3, 0.2], [0.2, 0.1]], dtype=np.float32),
        click=np.array([[True, False], [False, False], [True, True]]),
    )
    return DayData(
        day=0,
        impressions=impressions,
        shown_attractiveness=np.full((n, 2), 0.3),
        click_probability=np.array([[0.4, 0.1], [0.2, 0.1], [0.1, 0.05]]),
        utility=np.zeros(n),
        oracle_utility=np.zeros(n),
        live_items=np.arange(4),
        item_popularity=np.array([0.875, 0.625, 0.375, 0.125]),
        item_birth=np.array([0.0, 0.0, 0.5, 1.0]),  # item 2 joins mid-day, item 3 at its end
        consumed_user=np.empty(0, dtype=np.int64),
        consumed_item=np.empty(0, dtype=np.int64),
        preferences=np.eye(3),
        model_age=np.zeros(n),
        day_end=1.0,
        rng=np.random.default_rng(0),
        score_is_click_probability=None if predicting is None else np.array(predicting),
    )


def test_calibration_error_is_signed_mean_over_predicting_sessions() -> None:
    d = day_data([True, True, False])  # the third session's scores are not predictions
    # predicted - true: [[0.1, 0.3], [0.1, 0.1]]
    assert LOOP_METRICS["calibration_error"](d) == pytest.approx(0.15, abs=1e-6)
    assert LOOP_METRICS["calibration_error_p1"](d) == pytest.approx(0.1, abs=1e-6)
    assert LOOP_METRICS["calibration_error_p2"](d) == pytest.approx(0.2, abs=1e-6)
    assert math.isnan(LOOP_METRICS["calibration_error_p3"](d))  # beyond the slate


@pytest.mark.parametrize("predicting", [None, [False, False, False]])
def test_calibration_is_nan_when_no_scores_are_predictions(predicting) -> None:
    d = day_data(predicting)
    for name in ("calibration_error", "calibration_error_p1", "apparent_position_effect"):
        assert math.isnan(LOOP_METRICS[name](d))


def test_position_effects() -> None:
    d = day_data([True, True, True])
    # predicted: top mean 1/3, bottom mean 0.7/3; true: top 0.7/3, bottom 0.25/3
    assert LOOP_METRICS["apparent_position_effect"](d) == pytest.approx(0.3, abs=1e-6)
    assert LOOP_METRICS["position_effect"](d) == pytest.approx(1 - 0.25 / 0.7)


def test_new_items_are_those_born_during_the_run_within_a_week() -> None:
    d = day_data(None)
    # item 2 is new (born at 0.5, shown once of 6 impressions); item 3, born at the day's end,
    # is not yet; items 0 and 1 are the launch catalog
    assert DAILY_METRICS["new_item_share"](d) == pytest.approx(1 / 6)
    assert DAILY_METRICS["new_item_coverage"](d) == 1.0
    unseen = dataclasses.replace(
        d, live_items=np.arange(5), item_birth=np.array([0, 0, 0.5, 1, 0.7])
    )
    assert DAILY_METRICS["new_item_coverage"](unseen) == 0.5  # item 4 is new and never shown
    later = dataclasses.replace(d, day_end=9.0)  # item 2 is 8.5 days old: no longer new
    assert DAILY_METRICS["new_item_share"](later) == 0.0
    assert math.isnan(DAILY_METRICS["new_item_coverage"](later))
    # the edges: born at the day's start (new), exactly NEW_ITEM_DAYS before its end (new)
    edges = dataclasses.replace(d, day_end=8.0, item_birth=np.array([0.0, 7.0, 1.0, 0.5]))
    assert DAILY_METRICS["new_item_share"](edges) == pytest.approx(3 / 6)  # items 1 and 2
    assert DAILY_METRICS["new_item_coverage"](edges) == 1.0


def new_item_share_by_day(policy, seed: int) -> np.ndarray:
    world = World.generate(
        WorldConfig(n_users=400, n_items=150, new_items_per_day=10), stream(seed, "world")
    )
    config = SimulationConfig(days=5, ticks_per_day=4)
    metrics = simulate(world, PositionBasedModel(), policy, config, seed=seed).metrics
    rows = metrics[(metrics.metric == "new_item_share") & (metrics.segment == "all")]
    return rows.sort_values("day").value.to_numpy()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_new_items_reach_random_slates_but_never_a_cold_start_zero_model(seed: int) -> None:
    """A model that scores items absent from its training log 0 never shows an item born after
    its first fit (the launch catalog fills every slate); uniformly random slates show new
    items in proportion to their share of the catalog (about 10 in 150 a day)."""
    lightgbm = new_item_share_by_day(LightGBMPolicy(n_trees=10, min_data_in_leaf=20), seed)
    random = new_item_share_by_day(RandomPolicy(), seed)
    assert (lightgbm[1:] == 0.0).all()
    assert (random[2:] > 0.05).all()


def test_long_tail_share_and_hit_rates_split_at_the_80th_percentile() -> None:
    d = day_data(None)
    # only item 0 (percentile 0.875) is head: 2 of 6 impressions, 1 click; tail 4, 2 clicks
    assert LOOP_METRICS["long_tail_share"](d) == pytest.approx(4 / 6)
    assert LOOP_METRICS["hit_rate_head"](d) == pytest.approx(1 / 2)
    assert LOOP_METRICS["hit_rate_tail"](d) == pytest.approx(2 / 4)


def test_segment_scope_keeps_the_prediction_flags_of_its_sessions() -> None:
    d = day_data([True, True, False]).for_users(
        np.array([False, False, True]), np.array([False, False, True])
    )
    assert math.isnan(LOOP_METRICS["calibration_error"](d))


def test_diagnostics_are_daily_metrics_and_nan_for_random() -> None:
    assert set(LOOP_METRICS) <= set(DAILY_METRICS)
    world = World.generate(WorldConfig(n_users=100, n_items=40, n_segments=2), stream(0, "w"))
    result = simulate(
        world, PositionBasedModel(), RandomPolicy(), SimulationConfig(days=2, ticks_per_day=4)
    )
    assert result.metric("calibration_error").isna().all()
    assert result.metric("position_effect").notna().all()


def test_position_bias_error_compares_relative_curves_at_positions_after_the_first() -> None:
    d = dataclasses.replace(
        day_data([True, True, True]),
        estimated_examination=np.array([[2.0, 0.8], [np.nan, np.nan], [1.0, 0.5]]),
        true_examination=np.array([1.0, 0.5]),
    )
    # relative estimates at position 2: 0.4 and 0.5 against 0.5; sessions without a curve skip
    assert LOOP_METRICS["position_bias_error"](d) == pytest.approx(0.1)
    assert math.isnan(LOOP_METRICS["position_bias_error"](day_data([True, True, True])))
    no_truth = dataclasses.replace(d, true_examination=None)
    assert math.isnan(LOOP_METRICS["position_bias_error"](no_truth))
