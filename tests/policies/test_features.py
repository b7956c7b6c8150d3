"""Feature building: observable features only, leak-free log features, bucketing as specified."""

import dataclasses

import numpy as np
import pytest

from policies import LightGBMPolicy, RandomPolicy
from policies.features import (
    LOG_FEATURES,
    FeatureBuilder,
    bucket_codes,
    bucket_edges,
    popularity_snapshot,
)
from simulator import (
    PositionBasedModel,
    SimulationConfig,
    TrainingData,
    World,
    WorldConfig,
    simulate,
    stream,
)

DAYS = 3


@pytest.fixture(scope="module")
def logged() -> tuple[World, TrainingData]:
    """A tiny world after a few days of random logging, and its training data."""
    world = World.generate(WorldConfig(n_users=500, n_items=150, n_segments=2), stream(0, "w"))
    config = SimulationConfig(days=DAYS, ticks_per_day=4)
    result = simulate(world, PositionBasedModel(), RandomPolicy(), config, seed=0)
    return world, TrainingData(result.log.labelled(DAYS, DAYS), world.features, DAYS, 0.0)


def all_rows(data: TrainingData) -> tuple[np.ndarray, np.ndarray]:
    return np.nonzero(np.ones(data.impressions.item.shape, dtype=bool))


def build(data: TrainingData, **options) -> tuple[FeatureBuilder, np.ndarray]:
    builder = FeatureBuilder(data.features, **options)
    return builder, builder.fit_transform(data, *all_rows(data), prior=0.02)


# ---------------------------------------------------------------------- bucketing
def test_bucket_edges_and_codes() -> None:
    values = np.arange(100.0)
    assert np.allclose(bucket_edges(values, "quantile", 4), [24.75, 49.5, 74.25])
    assert np.allclose(bucket_edges(values, "fixed", 4), [24.75, 49.5, 74.25])
    skewed = np.array([0.0] * 90 + [10.0] * 10)
    assert np.allclose(bucket_edges(skewed, "fixed", 2), [5.0])
    assert len(bucket_edges(skewed, "quantile", 4)) == 1  # tied quantiles merge into one edge
    codes = bucket_codes(np.array([-1.0, 24.75, 50.0, np.nan]), np.array([24.75, 49.5]))
    assert np.array_equal(codes[:3], [0, 1, 2])  # a value on an edge goes up
    assert np.isnan(codes[3])


def test_no_bucketing_keeps_raw_observable_values(logged) -> None:
    world, data = logged
    builder, x = build(data, bucketing="none", log_features=())
    sessions, positions = all_rows(data)
    users = data.impressions.user[sessions]
    users_part = ("segment", "user_f0", "user_f1", "user_f2", "user_f3")
    items_part = ("topic", "item_f0", "item_f1", "item_f2", "item_f3", "item_age")
    assert builder.names == users_part + items_part
    assert np.array_equal(x[:, 1:5], world.user_observed[users])
    items = data.impressions.item[sessions, positions]
    assert np.array_equal(x[:, 6:10], world.item_observed[items])
    assert np.allclose(x[:, 10], data.impressions.t[sessions] - world.item_birth[items])


@pytest.mark.parametrize("n_buckets", [2, 5])
def test_quantile_buckets_hold_equal_counts(logged, n_buckets: int) -> None:
    _, data = logged
    raw = build(data, bucketing="none")[1]
    builder, x = build(data, bucketing="quantile", n_buckets=n_buckets, n_user_buckets=None)
    for j, name in enumerate(builder.names):
        if name in ("segment", "topic"):
            assert np.array_equal(x[:, j], raw[:, j])  # categories are never bucketed
        elif name.startswith(("user_f", "item_f")):  # continuous: no ties
            counts = np.bincount(x[:, j].astype(int))
            assert len(counts) == n_buckets
            # equal shares up to rounding at the edges
            assert np.allclose(counts / len(x), 1 / n_buckets, atol=0.01)


def test_fixed_buckets_have_equal_widths(logged) -> None:
    _, data = logged
    raw = build(data, bucketing="none")[1]
    builder, x = build(data, bucketing="fixed", n_buckets=4, n_user_buckets=None)
    j = builder.names.index("user_f0")
    low, high = raw[:, j].min(), raw[:, j].max()
    expected = np.minimum(np.floor((raw[:, j] - low) / ((high - low) / 4)), 3)
    assert np.array_equal(x[:, j], expected)


def test_user_features_get_their_own_bucket_count(logged) -> None:
    _, data = logged
    builder, x = build(data, n_buckets=8, n_user_buckets=3)
    assert len(np.unique(x[:, builder.names.index("user_f0")])) == 3
    assert len(np.unique(x[:, builder.names.index("item_f0")])) == 8


def test_activity_only_when_asked_for(logged) -> None:
    _, data = logged
    assert "activity_bucket" not in build(data)[0].names
    asked = build(data, user_features=["segment", "activity_bucket"])[0]
    assert asked.user_features == ("segment", "activity_bucket")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"user_features": ["user_f0", "preference"]}, "user_features has unknown .*'preference'"),
        ({"item_features": ["quality"]}, "item_features has unknown feature names \\['quality'\\]"),
        ({"log_features": ["item_ctr", "ctr"]}, "log_features has unknown .*'ctr'"),
        ({"user_features": "segment"}, "user_features must be a list of feature names"),
        ({"item_features": ["topic", "topic"]}, "item_features lists a feature twice"),
        ({"n_buckets": 1}, "n_buckets must be an integer >= 2, got 1"),
        ({"n_user_buckets": 1}, "n_user_buckets must be an integer >= 2, got 1"),
        ({"bucketing": "log"}, "bucketing must be one of"),
    ],
)
def test_bad_feature_options(logged, options: dict, message: str) -> None:
    _, data = logged
    with pytest.raises(ValueError, match=message):
        FeatureBuilder(data.features, **options)


# ---------------------------------------------------------------------- log features
def test_snapshot_counts_only_earlier_sessions_with_arrived_labels(logged) -> None:
    _, data = logged
    imp = data.impressions
    items = np.arange(150)
    at = 2.0
    snapshot = popularity_snapshot(imp, items, at, days=1.0, start=0.0, prior=0.02)
    rows = (imp.t >= 1.0) & (imp.t < 2.0)
    expected = np.bincount(imp.item[rows].ravel(), minlength=150)
    assert np.array_equal(snapshot[:, 0], expected)
    late = dataclasses.replace(imp, label_time=np.where(rows, 2.5, imp.label_time))
    assert popularity_snapshot(late, items, at, 1.0, 0.0, 0.02)[:, 0].sum() == 0
    # a span reaching before the log's start is unknown, not empty
    assert np.isnan(popularity_snapshot(imp, items, at, 1.0, start=1.5, prior=0.02)).all()


def test_a_rows_own_click_never_feeds_its_features(logged) -> None:
    _, data = logged
    columns = slice(-len(LOG_FEATURES), None)
    before = build(data, bucketing="none")[1][:, columns]
    day = np.floor(data.impressions.t)
    flipped = dataclasses.replace(
        data,
        impressions=dataclasses.replace(
            data.impressions, click=data.impressions.click ^ (day == 1)[:, None]
        ),
    )
    after = build(flipped, bucketing="none")[1][:, columns]
    row_day = np.repeat(day, data.impressions.slate_size)
    unchanged = row_day <= 1  # rows of day 1 (and before) cannot see day 1's clicks
    assert np.allclose(before[unchanged], after[unchanged], equal_nan=True)
    assert not np.allclose(before[row_day == 2], after[row_day == 2])
    assert np.isnan(before[row_day == 0]).all()  # nothing was logged before day 0


# ---------------------------------------------------------------------- latent truth
def test_scrambling_the_latent_truth_leaves_training_unchanged(logged) -> None:
    world, data = logged
    before = build(data)[1]
    model_before = LightGBMPolicy().fit(data).booster_
    rng = np.random.default_rng(1)
    saved = {
        name: getattr(world, name).copy()
        for name in ("preferences", "item_latent", "item_quality", "segment_means", "projection")
    }
    try:
        for name, value in saved.items():
            setattr(world, name, rng.permutation(value.ravel()).reshape(value.shape))
        world.offset += 3.0
        after = build(data)[1]
        model_after = LightGBMPolicy().fit(data).booster_
    finally:
        for name, value in saved.items():
            setattr(world, name, value)
        world.offset -= 3.0
    assert np.array_equal(before, after, equal_nan=True)
    assert model_before is not None and model_after is not None
    assert model_before.model_to_string() == model_after.model_to_string()
