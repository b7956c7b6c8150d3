"""Random startup, single training and new-item interleaving against their definitions."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from policies import EpsilonGreedy, PopularityPolicy, RandomPolicy, check_policy
from policies.checks import CHECK_WORLD
from policies.schedules import InterleaveNew, RandomStartup, _slot_probabilities
from simulator import (
    PositionBasedModel,
    Requests,
    SimulationConfig,
    TrainingData,
    World,
    simulate,
    stream,
)

NEW = [1, 3, 4, 6, 12, 20]
"""Items born at 1.5: new for check_policy's requests at t = 2 (among its 8 candidates too)."""


@pytest.fixture
def mixed_world() -> World:
    world = World.generate(CHECK_WORLD, stream(0, "world"))
    world.item_birth[NEW] = 1.5
    return world


POLICIES = [
    InterleaveNew(RandomPolicy(), n_new=2),
    InterleaveNew(PopularityPolicy(), n_new=1),
    InterleaveNew(EpsilonGreedy(PopularityPolicy(), epsilon=0.3), n_new=2),
    RandomStartup(PopularityPolicy(), steps=5.0),
    RandomStartup(PopularityPolicy(), steps=1.0, retrain=False),
    InterleaveNew(RandomStartup(PopularityPolicy(), steps=1.0), n_new=3),
]


@pytest.mark.parametrize("policy", POLICIES, ids=repr)
def test_check_policy(policy, mixed_world: World) -> None:
    check_policy(policy, mixed_world)


def _log(world: World, days: int = 4) -> TrainingData:
    config = SimulationConfig(days=days, slate_size=5, ticks_per_day=4, window=np.inf)
    result = simulate(copy.deepcopy(world), PositionBasedModel(), RandomPolicy(), config, seed=0)
    return TrainingData(result.log.sessions(), world.features, now=float(days))


def test_startup_serves_random_then_the_policy(mixed_world: World) -> None:
    data = _log(mixed_world)
    early = RandomStartup(PopularityPolicy(), steps=10.0).fit(data)
    late = RandomStartup(PopularityPolicy(), steps=2.0).fit(data)
    asked = Requests(
        t=np.full(6, 4.0),
        user=np.arange(6),
        segment=mixed_world.user_segment[:6],
        features=mixed_world.features,
    )
    live = mixed_world.live_items
    random_slates = early.rank(asked, live, 5, np.random.default_rng(0))
    assert np.allclose(random_slates.propensities, 1 / len(live))
    greedy = late.rank(asked, live, 5, np.random.default_rng(0))
    expected = PopularityPolicy().fit(data).rank(asked, live, 5, np.random.default_rng(0))
    np.testing.assert_array_equal(greedy.items, expected.items)


def test_single_training_sees_only_the_startup_log(mixed_world: World) -> None:
    data = _log(mixed_world)
    once = RandomStartup(PopularityPolicy(), steps=2.0, retrain=False).fit(data)
    startup = TrainingData(data.impressions.subset(data.impressions.t < 2.0), data.features, 2.0)
    np.testing.assert_array_equal(once.inner.clicks_, PopularityPolicy().fit(startup).clicks_)
    every = RandomStartup(PopularityPolicy(), steps=2.0).fit(data)
    assert every.inner.clicks_.sum() > once.inner.clicks_.sum()


def test_single_training_needs_the_whole_log(mixed_world: World) -> None:
    data = _log(mixed_world)
    windowed = TrainingData(data.impressions, data.features, now=4.0, start=1.0)
    with pytest.raises(ValueError, match="window"):
        RandomStartup(PopularityPolicy(), steps=2.0, retrain=False).fit(windowed)


def test_interleaves_new_items_around_the_policy_slate(mixed_world: World) -> None:
    data = _log(mixed_world)
    policy = InterleaveNew(PopularityPolicy(), n_new=2).fit(data)
    asked = Requests(
        t=np.full(200, 2.0),
        user=np.arange(200),
        segment=mixed_world.user_segment[:200],
        features=mixed_world.features,
    )
    live = mixed_world.live_items
    slates = policy.rank(asked, live, 6, np.random.default_rng(1))
    is_new = np.isin(slates.items, NEW)
    assert (is_new.sum(axis=1) == 2).all()
    # the other slots hold popularity's top 4 among old items, in order
    old_only = PopularityPolicy().fit(data)
    blocked = np.broadcast_to(np.isin(live, NEW), (200, len(live)))
    top = old_only.rank(
        Requests(asked.t, asked.user, asked.segment, asked.features, blocked),
        live,
        4,
        np.random.default_rng(0),
    )
    for row, new_row, expected in zip(slates.items, is_new, top.items, strict=True):
        assert row[~new_row].tolist() == expected.tolist()
    np.testing.assert_allclose(slates.propensities[is_new], 2 / len(NEW) / 6)


def test_fills_with_new_items_when_old_ones_run_out(mixed_world: World) -> None:
    live = mixed_world.live_items
    blocked = np.zeros((1, len(live)), dtype=bool)
    blocked[0, ~np.isin(live, NEW)] = True
    blocked[0, np.flatnonzero(~np.isin(live, NEW))[:2]] = False  # two old items allowed
    asked = Requests(
        np.full(1, 2.0),
        np.zeros(1, dtype=np.int64),
        mixed_world.user_segment[:1],
        mixed_world.features,
        blocked,
    )
    slates = InterleaveNew(RandomPolicy(), n_new=1).rank(asked, live, 5, np.random.default_rng(2))
    assert np.isin(slates.items, NEW).sum() == 3


@pytest.mark.parametrize(("k", "m"), [(5, 0), (5, 2), (10, 3), (4, 4)])
def test_slot_probabilities_are_order_statistics(k: int, m: int) -> None:
    table = _slot_probabilities(k, m)
    np.testing.assert_allclose(table.sum(axis=1), 1.0)
    np.testing.assert_allclose(table.sum(axis=0), (k - m) / k)
    rng = np.random.default_rng(k * 10 + m)
    draws = np.sort(np.argsort(rng.random((20_000, k)), axis=1)[:, m:], axis=1)
    for j in range(k - m):
        frequency = np.bincount(draws[:, j], minlength=k) / len(draws)
        # binomial standard error at most 0.5 / sqrt(20,000) = 0.0035; 5 of them
        np.testing.assert_allclose(frequency, table[j], atol=0.018)


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: RandomStartup(RandomPolicy(), steps=-1.0), "steps"),
        (lambda: RandomStartup(RandomPolicy(), steps=float("inf")), "steps"),
        (lambda: RandomStartup(RandomPolicy(), retrain=1), "retrain"),
        (lambda: InterleaveNew(RandomPolicy(), n_new=-1), "n_new"),
        (lambda: InterleaveNew(RandomPolicy(), max_age=0.0), "max_age"),
    ],
)
def test_bad_arguments(make, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        make()
