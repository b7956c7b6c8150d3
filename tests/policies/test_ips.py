"""Inverse-examination weights, examination-weighted counts, and the IPS popularity scorer."""

from __future__ import annotations

import numpy as np
import pytest

from policies import (
    UCB,
    IPSPopularity,
    PopularityPolicy,
    ThompsonSampling,
    examined_counts,
    ips_weights,
)
from simulator import Impressions, PositionBasedModel, TrainingData


def log(items, clicks, segments=None) -> Impressions:
    """A hand-written log: one row of item ids and one row of clicks per session."""
    items = np.asarray(items, dtype=np.int32)
    n = len(items)
    return Impressions(
        session=np.arange(n),
        t=np.zeros(n),
        user=np.zeros(n, dtype=np.int32),
        segment=np.zeros(n, dtype=np.int8) if segments is None else np.asarray(segments, np.int8),
        label_time=np.zeros(n),
        model_version=np.zeros(n, dtype=np.int32),
        item=items,
        propensity=np.ones(items.shape),
        score=np.zeros(items.shape, dtype=np.float32),
        click=np.asarray(clicks, dtype=bool),
    )


def test_weights_are_inverse_relative_examination():
    theta = PositionBasedModel(1.0).examination(4)
    weights = ips_weights(log([[0, 1, 2, 3]] * 2, [[0, 0, 0, 0]] * 2), theta)
    assert weights.shape == (2, 4)
    np.testing.assert_allclose(weights[0], [1, 2, 3, 4])
    np.testing.assert_allclose(
        ips_weights(log([[0, 1, 2, 3]], [[0] * 4]), 0.5 * theta), weights[:1]
    )


def test_clipping_caps_the_weights():
    theta = PositionBasedModel(2.0).examination(4)
    weights = ips_weights(log([[0, 1, 2, 3]], [[0] * 4]), theta, clip=5.0)
    np.testing.assert_allclose(weights[0], [1, 4, 5, 5])


def test_weighted_clicks_are_unbiased_for_top_position_clicks():
    rng = np.random.default_rng(0)
    theta = PositionBasedModel(1.0).examination(3)
    attractiveness = np.array([0.6, 0.3, 0.1])
    n = 200_000
    items = np.array([rng.permutation(3) for _ in range(n)])
    clicks = rng.random((n, 3)) < theta * attractiveness[items]
    weights = ips_weights(log(items, clicks), theta)
    estimate = np.bincount(items[clicks], weights=weights[clicks]) / np.bincount(items.ravel())
    np.testing.assert_allclose(estimate, attractiveness, rtol=0.03)


def test_examined_counts_weight_trials_by_examination():
    theta = [1.0, 0.5]
    clicks, trials = examined_counts(log([[0, 1], [1, 0]], [[1, 0], [1, 0]]), 3, theta)
    np.testing.assert_allclose(clicks, [1, 1, 0])
    np.testing.assert_allclose(trials, [1.5, 1.5, 0])
    clicks, trials = examined_counts(log([[0, 1], [1, 0]], [[1, 0], [1, 0]], [0, 1]), 2, None, 2)
    np.testing.assert_allclose(clicks, [[1, 0], [0, 1]])
    np.testing.assert_allclose(trials, [[1, 1], [1, 1]])


def data_where_a_low_item_is_better(world) -> TrainingData:
    """Item 0 always at the top, clicked 20 times in 100; item 1 always at position 5
    (theta = 0.2 at eta = 1), clicked 10 times in 100: its top-position rate is 0.5."""
    items = np.tile([0, 2, 3, 4, 1], (100, 1))
    clicks = np.zeros((100, 5), dtype=bool)
    clicks[:20, 0] = True
    clicks[:10, 4] = True
    return TrainingData(impressions=log(items, clicks), features=world.features, now=1.0)


def test_ips_popularity_undoes_the_position_advantage(world, make_requests):
    data = data_where_a_low_item_is_better(world)
    theta = PositionBasedModel(1.0).examination(5)
    requests = make_requests([0])
    candidates = np.arange(5)
    assert PopularityPolicy().fit(data).rank(requests, candidates, 1, None).items[0, 0] == 0
    ips = IPSPopularity(theta).fit(data)
    np.testing.assert_allclose(ips.score(requests, candidates)[[0, 1]], [20, 50])
    assert ips.rank(requests, candidates, 1, None).items[0, 0] == 1


@pytest.mark.parametrize("model", [ThompsonSampling, UCB])
def test_bandit_counts_use_the_examination_curve(world, make_requests, model):
    data = data_where_a_low_item_is_better(world)
    theta = PositionBasedModel(1.0).examination(5)
    requests = make_requests([0])
    raw = model().fit(data).score(requests, np.arange(2))
    debiased = model(examination=theta).fit(data).score(requests, np.arange(2))
    assert raw[0] > raw[1]
    assert debiased[1] > debiased[0]


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: ips_weights(log([[0, 1]], [[0, 0]]), [1.0, 0.5], clip=0.5), "clip"),
        (lambda: ips_weights(log([[0, 1]], [[0, 0]]), [1.0, 0.0]), "examination"),
        (lambda: ips_weights(log([[0, 1]], [[0, 0]]), [1.0, 0.5, 0.3]), "examination"),
        (lambda: IPSPopularity([]), "examination"),
        (lambda: IPSPopularity([1.0, np.nan]), "examination"),
        (lambda: IPSPopularity([1.0], clip=0), "clip"),
        (lambda: IPSPopularity([1.0], window=-1), "window"),
    ],
)
def test_bad_inputs_name_the_field(make, field):
    with pytest.raises(ValueError, match=field):
        make()
