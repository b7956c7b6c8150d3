"""Retrieval: the inner policy ranks only the retrieved candidates, with exact propensities, and
retrieval by clicks alone never lets a newer item in."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from policies import (
    EpsilonGreedy,
    LightGBMPolicy,
    PlackettLuce,
    PopularityPolicy,
    RandomPolicy,
    Retrieval,
    check_policy,
    make_policy,
    position_probabilities,
)
from simulator import (
    PositionBasedModel,
    Requests,
    SimulationConfig,
    TrainingData,
    World,
    WorldConfig,
    simulate,
    stream,
)

FEW_TREES = {"n_trees": 10, "min_data_in_leaf": 20}


@pytest.fixture(scope="module")
def logged() -> tuple[World, TrainingData]:
    """Two days of random slates on a 100-item world with high click rates and at least 12
    items born at day 1."""
    world = World.generate(
        WorldConfig(n_users=500, n_items=100, n_segments=2, offset=-1.0, new_items_per_day=12),
        stream(0, "world"),
    )
    config = SimulationConfig(days=2, slate_size=5, ticks_per_day=4)
    result = simulate(world, PositionBasedModel(), RandomPolicy(), config, seed=0)
    return world, TrainingData(result.log.labelled(2.0, 2.0), world.features, 2.0, 0.0)


def requests_of(
    world: World, n: int, blocked: np.ndarray | None = None, t: float = 2.0
) -> Requests:
    users = np.arange(n) % world.n_users
    return Requests(
        t=np.full(n, t),
        user=users,
        segment=world.user_segment[users],
        features=world.features,
        blocked=blocked,
    )


def clicks_of(data: TrainingData, candidates: np.ndarray) -> np.ndarray:
    imp = data.impressions
    counts = np.bincount(imp.item[imp.click], minlength=int(candidates.max()) + 1)
    return counts[candidates]


# ---------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_candidates": 0}, "n_candidates must be an integer >= 1, got 0"),
        ({"n_candidates": 2.5}, "n_candidates must be an integer >= 1, got 2.5"),
        ({"n_candidates": True}, "n_candidates must be an integer >= 1, got True"),
        ({"fresh_share": 1.5}, "fresh_share must be a probability in \\[0, 1\\], got 1.5"),
        ({"fresh_share": -0.1}, "fresh_share must be a probability in \\[0, 1\\], got -0.1"),
        ({"fresh_share": float("nan")}, "fresh_share must be"),
        ({"fresh_share": float("inf")}, "fresh_share must be"),
    ],
)
def test_bad_parameters(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        Retrieval(PopularityPolicy(), **params)
    assert "\n" not in str(caught.value)


def test_slates_larger_than_the_retrieved_set_are_refused(logged) -> None:
    world, _ = logged
    with pytest.raises(ValueError, match="n_candidates must be at least the slate size 10, got 5"):
        make_policy("popularity", world, wrappers=[("retrieval", {"n_candidates": 5})])


# ---------------------------------------------------------------------- pass-through
@pytest.mark.parametrize(
    "inner",
    [
        lambda: LightGBMPolicy(**FEW_TREES),
        lambda: PlackettLuce(PopularityPolicy(), temperature=5.0),
        lambda: EpsilonGreedy(PopularityPolicy(), epsilon=0.5),
    ],
    ids=["lightgbm", "plackett_luce", "epsilon_greedy"],
)
@pytest.mark.parametrize("n_blocked", [0, 20])
def test_a_set_covering_the_catalog_passes_everything_through(logged, inner, n_blocked) -> None:
    world, data = logged
    candidates = world.live_items
    blocked = np.zeros((40, len(candidates)), dtype=bool)
    blocked[:, :n_blocked] = True
    requests = requests_of(world, 40, blocked if n_blocked else None)
    alone = inner().fit(data)
    for n_candidates in (len(candidates), 10 * len(candidates)):
        wrapped = Retrieval(inner(), n_candidates=n_candidates, fresh_share=0.5).fit(data)
        got = wrapped.rank(requests, candidates, 5, np.random.default_rng(3))
        want = alone.rank(requests, candidates, 5, np.random.default_rng(3))
        for field in ("items", "propensities", "scores"):
            np.testing.assert_array_equal(getattr(got, field), getattr(want, field))


# ---------------------------------------------------------------------- retrieval
def test_only_the_most_clicked_are_shown_with_the_inner_propensities(logged) -> None:
    world, data = logged
    candidates = world.live_items
    policy = Retrieval(EpsilonGreedy(PopularityPolicy(), epsilon=0.5), n_candidates=20)
    policy.fit(data)
    requests = requests_of(world, 400)
    kept = candidates[policy.retrieved(requests, candidates)]
    clicks = clicks_of(data, candidates)
    inside = np.isin(candidates, kept)
    assert inside.sum() == 20 and clicks[inside].min() >= clicks[~inside].max()
    slates = policy.rank(requests, candidates, 5, np.random.default_rng(0))
    assert np.isin(slates.items, kept).all()
    # exploration over 400 requests reaches every retrieved item, and nothing else
    assert set(np.unique(slates.items)) == set(kept)
    inner_p = position_probabilities(policy.inner, requests, kept, slates.items)
    np.testing.assert_array_equal(slates.propensities, inner_p)
    np.testing.assert_array_equal(
        policy.propensities(requests, candidates, slates.items), slates.propensities
    )
    left_out = np.broadcast_to(candidates[~inside][:5], (400, 5))
    assert (policy.propensities(requests, candidates, left_out) == 0).all()


def test_the_youngest_are_retrieved_for_a_fresh_share(logged) -> None:
    world, data = logged
    candidates = world.live_items
    young = candidates[world.item_birth[candidates] == 1.0]  # the youngest, all born at day 1
    assert len(young) >= 12
    policy = Retrieval(PopularityPolicy(), n_candidates=20, fresh_share=0.4).fit(data)
    kept_at = {
        t: candidates[policy.retrieved(requests_of(world, 1, t=t), candidates)]
        for t in 2.0 + np.arange(32) / 32
    }
    for kept in kept_at.values():
        fresh = np.intersect1d(kept, young)
        assert len(kept) == 20 and len(fresh) >= 8  # 8 fresh slots, all young
        popular = np.setdiff1d(kept, fresh)
        others = np.setdiff1d(candidates, kept)
        assert clicks_of(data, popular).min() >= clicks_of(data, np.setdiff1d(others, young)).max()
    # the fresh slots rotate through the tied young items with the request time
    assert len(np.unique(np.concatenate(list(kept_at.values())))) >= len(young)
    assert np.isin(young, np.concatenate(list(kept_at.values()))).all()
    again = policy.retrieved(requests_of(world, 1, t=2.5), candidates)
    np.testing.assert_array_equal(candidates[again], kept_at[2.5])
    assert not again.flags.writeable


def test_blocked_retrieved_items_are_not_shown(logged) -> None:
    world, data = logged
    candidates = world.live_items
    policy = Retrieval(PopularityPolicy(), n_candidates=12).fit(data)
    requests = requests_of(world, 3)
    cols = policy.retrieved(requests, candidates)
    blocked = np.zeros((3, len(candidates)), dtype=bool)
    blocked[0, cols[:7]] = True  # 5 retrieved items left: exactly a slate
    blocked[1, cols[:10]] = True  # 2 left: topped up from outside the retrieved set
    blocked[2, :] = True  # nothing allowed anywhere
    blocked[2, cols[0]] = False
    slates = policy.rank(requests_of(world, 3, blocked), candidates, 5, np.random.default_rng(0))
    shown = np.isin(candidates, slates.items[0])
    assert not (shown & blocked[0]).any() and np.isin(slates.items[0], candidates[cols]).all()
    shown = np.isin(candidates, slates.items[1])
    assert not (shown & blocked[1]).any()
    assert np.isin(candidates[cols[10:]], slates.items[1]).all()
    assert candidates[cols[0]] in slates.items[2]
    told = policy.propensities(requests_of(world, 3, blocked), candidates, slates.items)
    np.testing.assert_array_equal(told, slates.propensities)


@pytest.mark.parametrize("inner", ["plackett_luce", "random"])
def test_topped_up_slates_are_shown_as_often_as_their_propensities(logged, inner) -> None:
    """Rows that need the top-up (2 retrieved items left) or have fewer than a slate allowed
    anywhere, around a stochastic ranker: frequencies over many draws against the reported
    propensities, within 5 binomial standard errors."""
    world, data = logged
    candidates = world.live_items
    ranker = PlackettLuce(PopularityPolicy(), 5.0) if inner == "plackett_luce" else RandomPolicy()
    policy = Retrieval(ranker, n_candidates=12).fit(data)
    cols = policy.retrieved(requests_of(world, 1), candidates)
    rows = np.zeros((2, len(candidates)), dtype=bool)
    rows[0, cols[:10]] = True  # 2 retrieved left: topped up from outside
    rows[1, :] = True
    rows[1, cols[:3]] = False  # 3 allowed in the whole catalog, slate of 5
    n, k = 2000, 5
    for row in rows:
        requests = requests_of(world, n, np.broadcast_to(row, (n, len(candidates))).copy())
        slates = policy.rank(requests, candidates, k, np.random.default_rng(7))
        told = policy.propensities(requests, candidates, slates.items)
        np.testing.assert_allclose(told, slates.propensities, rtol=1e-12)
        for r in range(k):
            items, counts = np.unique(slates.items[:, r], return_counts=True)
            first = np.array([np.flatnonzero(slates.items[:, r] == i)[0] for i in items])
            p = told[first, r]
            margin = 5 * np.sqrt(p * (1 - p) / n) + 1e-12
            assert (np.abs(counts / n - p) <= margin).all(), (r, counts / n, p)


@pytest.mark.parametrize(
    "policy",
    [
        lambda: Retrieval(EpsilonGreedy(LightGBMPolicy(**FEW_TREES), 0.3), n_candidates=20),
        lambda: Retrieval(LightGBMPolicy(**FEW_TREES), n_candidates=20),
        lambda: Retrieval(PlackettLuce(PopularityPolicy(), 5.0), n_candidates=6, fresh_share=0.5),
        lambda: Retrieval(PopularityPolicy(), n_candidates=6, fresh_share=0.5),
        lambda: Retrieval(RandomPolicy(), n_candidates=6),
    ],
    ids=["epsilon_lightgbm", "lightgbm", "plackett_luce_fresh", "popularity_fresh", "random"],
)
def test_check_policy(policy) -> None:
    check_policy(policy())


# ---------------------------------------------------------------------- registry
@pytest.mark.parametrize(
    "wrappers",
    [
        [("retrieval", {"n_candidates": 30})],
        [("epsilon_greedy", {"epsilon": 0.2}), ("retrieval", {"n_candidates": 30})],
    ],
    ids=["lightgbm", "epsilon_greedy"],
)
def test_the_registry_wraps_lightgbm(logged, wrappers) -> None:
    world, data = logged
    policy = make_policy("lightgbm", world, wrappers=wrappers, n_trees=10)
    assert isinstance(policy, Retrieval) and policy.n_candidates == 30
    policy.fit(data)
    requests = requests_of(world, 50)
    slates = policy.rank(requests, world.live_items, 10, np.random.default_rng(0))
    kept = world.live_items[policy.retrieved(requests, world.live_items)]
    assert np.isin(slates.items, kept).all()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n_candidates": 0}, "n_candidates must be an integer >= 1, got 0"),
        ({"fresh_share": float("nan")}, "fresh_share must be a finite number, got nan"),
        ({"n_candidate": 30}, "wrapper 'retrieval' has no parameter 'n_candidate'"),
    ],
)
def test_the_registry_refuses_bad_parameters(logged, params, message) -> None:
    world, _ = logged
    with pytest.raises(ValueError, match=message):
        make_policy("lightgbm", world, wrappers=[("retrieval", params)])


# ---------------------------------------------------------------------- the loop it adds
GROWING = WorldConfig(n_users=300, n_items=200, offset=-1.0, churn=0.0, new_items_per_day=20)


def shown_items(fresh_share: float, seed: int) -> np.ndarray:
    """Items shown (sessions x positions) in 5 days of a catalog of 200 items growing by 20 a
    day, served uniformly at random from 20 retrieved items."""
    world = World.generate(GROWING, stream(seed, "world"))
    policy = Retrieval(RandomPolicy(), n_candidates=20, fresh_share=fresh_share)
    config = SimulationConfig(days=5, slate_size=5, ticks_per_day=4)
    result = simulate(copy.deepcopy(world), PositionBasedModel(), policy, config, seed=seed)
    return result.log.sessions().item


def new_item_share(fresh_share: float, seed: int) -> float:
    """Share of impressions going to items born after the first fit."""
    return float((shown_items(fresh_share, seed) >= GROWING.n_items).mean())


def new_items_shown(fresh_share: float, seed: int) -> float:
    """Share of the items born on days 2-4 that are shown at least once."""
    born = np.arange(GROWING.n_items + 20, GROWING.n_items + 80)
    return float(np.isin(born, shown_items(fresh_share, seed)).mean())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fresh_slots_rotate_through_a_days_arrivals(seed: int) -> None:
    # 20 items arrive a day and tie in age; 6 fresh slots. A fixed tie-break would show the
    # same 6 of each day's 20 (30%); the block moves by 20/24 items an hour, so a day with
    # sessions in most hours shows every one (~75 sessions a day over 24 hours).
    assert new_items_shown(0.3, seed) >= 0.95


def test_requests_of_different_hours_get_their_own_fresh_slots_in_any_subset(logged) -> None:
    """The set depends on each request's own hour, so ranking a batch and asking about any
    subset of it (as a wrapper above, or an off-policy replay, does) agree exactly."""
    world, data = logged
    candidates = world.live_items
    policy = Retrieval(RandomPolicy(), n_candidates=20, fresh_share=0.4).fit(data)
    requests = requests_of(world, 40)
    requests = dataclasses.replace(requests, t=2.0 + np.arange(40) / 96)  # 10 hours
    slates = policy.rank(requests, candidates, 5, np.random.default_rng(3))
    young = candidates[world.item_birth[candidates] == 1.0]
    shown_young = {tuple(np.intersect1d(row, young)) for row in slates.items}
    assert len(set().union(*shown_young)) > 8  # more young items than the 8 fresh slots
    for rows in (np.arange(40), np.arange(7, 31, 3), np.array([39, 0])):
        told = policy.propensities(requests.subset(rows), candidates, slates.items[rows])
        np.testing.assert_array_equal(told, slates.propensities[rows])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_retrieval_by_clicks_alone_never_lets_new_items_in(seed: int) -> None:
    # Every retrieved item is shown ~75 times a day at click rates near 0.3, so it has clicks
    # after the first day and outranks every new item (0 clicks) from then on.
    assert new_item_share(0.0, seed) == 0.0
    # A fresh share of 0.3 puts 6 of the 20 retrieved items among the newest from day 1 on, so
    # a uniform ranker gives them ~30% of days 1-4's impressions (~24% of the run; thousands
    # of impressions, so the margin is many standard errors).
    assert new_item_share(0.3, seed) > 0.15


def test_the_set_follows_each_fit_and_catalog_change(logged) -> None:
    world, data = logged
    candidates = world.live_items
    requests = requests_of(world, 1)
    policy = Retrieval(PopularityPolicy(), n_candidates=20, fresh_share=0.25).fit(data)
    first = candidates[policy.retrieved(requests, candidates)]
    np.testing.assert_array_equal(candidates[policy.retrieved(requests, candidates)], first)
    # a log with the retrieved items' clicks removed: a refit retrieves others
    imp = data.impressions
    without = TrainingData(imp.subset(~np.isin(imp.item, first).any(axis=1)), data.features, 2.0)
    refit = candidates[policy.fit(without).retrieved(requests, candidates)]
    assert len(np.intersect1d(refit, first)) <= 5  # at most the 5 youngest stay
    fewer = np.setdiff1d(candidates, refit[:3])
    fresh = Retrieval(PopularityPolicy(), n_candidates=20, fresh_share=0.25).fit(without)
    np.testing.assert_array_equal(
        fewer[policy.retrieved(requests, fewer)], fewer[fresh.retrieved(requests, fewer)]
    )
    assert not np.isin(refit[:3], fewer[fresh.retrieved(requests, fewer)]).any()
