"""Exploration wrappers: exact propensities, behaviour, and bad inputs."""

from __future__ import annotations

import itertools
from typing import Self

import numpy as np
import pytest

from policies import (
    UCB,
    EpsilonGreedy,
    LightGBMPolicy,
    OraclePolicy,
    PlackettLuce,
    PopularityPolicy,
    RandomizedSwaps,
    RandomPolicy,
    RandomTraffic,
    ThompsonSampling,
    beta_marginals,
    check_policy,
    position_probabilities,
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

CANDIDATES = np.array([3, 5, 8, 13, 21, 34])
SCORES = np.array([0.30, 0.10, 0.25, 0.05, 0.20, 0.15])


class FixedScorer:
    """A scorer with fixed scores, shared by all requests or one row per request."""

    def __init__(self, scores: np.ndarray) -> None:
        self.scores = scores

    def fit(self, data) -> Self:
        return self

    def score(self, requests, candidates) -> np.ndarray:
        return self.scores


def marginal_table(policy, requests, candidates, k) -> np.ndarray:
    """P(candidate c at position r) for one request, (C, k), from `position_probabilities` on
    cyclic shifts of the candidates (each row distinct, each (item, position) once)."""
    n = len(candidates)
    rows = (np.arange(n)[:, None] + np.arange(k)) % n
    repeated = requests.subset(np.zeros(n, dtype=np.int64))
    values = position_probabilities(policy, repeated, candidates, candidates[rows])
    table = np.zeros((n, k))
    table[rows, np.arange(k)] = values
    return table


def epsilon_greedy_exact(greedy, allowed, eps, k, variant) -> np.ndarray:
    """Enumerate every exploration pattern and fill of the documented procedures."""
    table = np.zeros((len(allowed), k))
    if variant == "top":
        table[greedy, np.arange(k)] += 1 - eps
        pool = [x for x in np.flatnonzero(allowed) if x not in greedy[: k - 1]]
        for x in pool:
            slate = [x, *greedy[: k - 1]]
            table[slate, np.arange(k)] += eps / len(pool)
        return table
    for pattern in itertools.product([False, True], repeat=k):
        weight = np.prod([eps if e else 1 - eps for e in pattern])
        kept = {greedy[r] for r in range(k) if not pattern[r]}
        pool = [x for x in np.flatnonzero(allowed) if x not in kept]
        slots = [r for r in range(k) if pattern[r]]
        fills = list(itertools.permutations(pool, len(slots)))
        for fill in fills:
            slate = list(greedy)
            for r, x in zip(slots, fill, strict=True):
                slate[r] = x
            table[slate, np.arange(k)] += weight / len(fills)
    return table


@pytest.mark.parametrize("variant", ["slots", "top"])
@pytest.mark.parametrize("eps", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("blocked_item", [None, 2])
def test_epsilon_greedy_propensities_match_enumeration(make_requests, variant, eps, blocked_item):
    k = 3
    blocked = np.zeros((1, len(CANDIDATES)), dtype=bool)
    if blocked_item is not None:
        blocked[0, blocked_item] = True
    policy = EpsilonGreedy(FixedScorer(SCORES), epsilon=eps, variant=variant)
    requests = make_requests([0], blocked)
    greedy = np.argsort(-np.where(blocked[0], -np.inf, SCORES))[:k]
    exact = epsilon_greedy_exact(greedy, ~blocked[0], eps, k, variant)
    np.testing.assert_allclose(marginal_table(policy, requests, CANDIDATES, k), exact, atol=1e-12)


def test_plackett_luce_reports_the_enumerated_marginals(make_requests):
    temperature, k = 0.1, 3
    weights = np.exp(SCORES / temperature)
    exact = np.zeros((len(SCORES), k))
    for order in itertools.permutations(range(len(SCORES)), k):
        left, probability = list(range(len(SCORES))), 1.0
        for i in order:
            probability *= weights[i] / weights[left].sum()
            left.remove(i)
        exact[list(order), np.arange(k)] += probability
    policy = PlackettLuce(FixedScorer(SCORES), temperature=temperature)
    slates = policy.rank(make_requests(np.zeros(50, int)), CANDIDATES, k, np.random.default_rng(0))
    cols = np.searchsorted(CANDIDATES, slates.items)
    np.testing.assert_allclose(slates.propensities, exact[cols, np.arange(k)], atol=1e-8)


def test_plackett_luce_per_request_scores_agree_with_a_shared_row(make_requests):
    requests = make_requests(np.arange(4))
    items = CANDIDATES[[[0, 1, 2], [5, 4, 3], [2, 0, 4], [1, 3, 5]]]
    shared = PlackettLuce(FixedScorer(SCORES), 0.1).propensities(requests, CANDIDATES, items)
    rows = PlackettLuce(FixedScorer(np.tile(SCORES, (4, 1))), 0.1)
    np.testing.assert_allclose(rows.propensities(requests, CANDIDATES, items), shared, atol=1e-9)


def test_plackett_luce_top_m_never_shows_the_tail(make_requests):
    policy = PlackettLuce(FixedScorer(SCORES), temperature=10.0, top_m=4)
    slates = policy.rank(make_requests(np.zeros(500, int)), CANDIDATES, 3, np.random.default_rng(1))
    assert set(slates.items.ravel()) == set(CANDIDATES[np.argsort(-SCORES)[:4]])
    table = marginal_table(policy, make_requests([0]), CANDIDATES, 3)
    np.testing.assert_allclose(table.sum(axis=0), 1.0, atol=1e-9)
    assert table[np.argsort(-SCORES)[4:]].max() == 0.0


def test_plackett_luce_top_m_keeps_every_candidate_tied_at_the_cutoff(make_requests):
    # An unfitted scorer scores everything 0: top_m must not turn that into "the first m items
    # by index, for everyone, forever" but explore the whole catalog uniformly.
    uniform = PlackettLuce(FixedScorer(np.zeros(len(CANDIDATES))), temperature=0.1, top_m=3)
    table = marginal_table(uniform, make_requests([0]), CANDIDATES, 3)
    np.testing.assert_allclose(table, 1.0 / len(CANDIDATES), atol=1e-9)
    tied = np.array([0.3, 0.2, 0.2, 0.2, 0.1, 0.0])  # 2nd best three times, then the tail
    table = marginal_table(
        PlackettLuce(FixedScorer(tied), 0.1, top_m=2), make_requests([0]), CANDIDATES, 2
    )
    assert table[4:].max() == 0.0
    np.testing.assert_allclose(table[1:4], np.tile(table[1], (3, 1)), atol=1e-12)  # exchangeable
    np.testing.assert_allclose(table.sum(axis=0), 1.0, atol=1e-9)


def test_thompson_blocked_requests_race_only_their_items(world, make_requests):
    policy = ThompsonSampling().fit(_clicky_data(world))
    candidates = np.arange(12)
    blocked = np.zeros((3, 12), dtype=bool)
    blocked[1, [0, 4]] = True
    blocked[2, 7] = True
    requests = make_requests([0, 1, 2], blocked)
    slates = policy.rank(requests, candidates, 4, np.random.default_rng(0))
    a, b = policy.posterior(candidates)
    for row in range(3):
        keep = np.flatnonzero(~blocked[row])
        table = beta_marginals.beta_race(a[0, keep], b[0, keep], 4).table()
        spots = np.searchsorted(keep, slates.items[row])
        np.testing.assert_allclose(slates.propensities[row], table[spots, np.arange(4)], atol=1e-9)


def _clicky_data(world):
    result = simulate(
        World.generate(world.config, stream(1, "world")),
        PositionBasedModel(),
        RandomPolicy(),
        SimulationConfig(days=1, slate_size=4, ticks_per_day=2),
    )
    return TrainingData(impressions=result.log.sessions(), features=world.features, now=1.0)


WRAPPERS = {
    "epsilon_slots": lambda w: EpsilonGreedy(PopularityPolicy(), 0.2),
    "epsilon_top": lambda w: EpsilonGreedy(OraclePolicy(w), 0.2, variant="top"),
    "plackett_luce_shared": lambda w: PlackettLuce(PopularityPolicy(), temperature=3.0),
    "plackett_luce_rows": lambda w: PlackettLuce(OraclePolicy(w), temperature=0.1),
    "thompson": lambda w: ThompsonSampling(by_segment=True),
    "random_traffic": lambda w: RandomTraffic(PlackettLuce(OraclePolicy(w)), share=0.2),
    "swaps": lambda w: RandomizedSwaps(EpsilonGreedy(OraclePolicy(w)), rate=0.5, pairs="any"),
    "random": lambda w: RandomPolicy(),
}


@pytest.mark.parametrize("name", WRAPPERS)
@pytest.mark.parametrize("n_blocked", [0, 3, 5])
def test_marginals_are_distributions_even_when_few_items_are_allowed(
    world, make_requests, name, n_blocked
):
    """Each position holds exactly one item; with 5 of 7 candidates blocked and a slate of 3,
    the best-scored blocked ones are allowed back so slates stay full and exact."""
    policy = WRAPPERS[name](world).fit(_clicky_data(world))
    candidates = np.arange(7)
    blocked = np.zeros((1, 7), dtype=bool)
    blocked[0, :n_blocked] = True
    requests = make_requests([3], blocked)
    table = marginal_table(policy, requests, candidates, 3)
    np.testing.assert_allclose(table.sum(axis=0), 1.0, atol=1e-8)
    assert table.sum(axis=1).max() <= 1.0 + 1e-8
    slates = policy.rank(requests.subset(np.zeros(20, int)), candidates, 3, stream(0, "x"))
    assert (np.sort(slates.items, axis=1)[:, 1:] != np.sort(slates.items, axis=1)[:, :-1]).all()
    shown = table[slates.items, np.arange(3)]
    np.testing.assert_allclose(slates.propensities, shown, atol=1e-9)


@pytest.mark.parametrize("n_blocked", [0, 3, 4, 5, 6, 7])  # 4: exactly k allowed; 7: none
def test_random_slates_show_items_as_often_as_their_propensities(make_requests, n_blocked):
    """With fewer allowed items than slots, the allowed ones take the first positions and the
    blocked ones fill the rest, so propensities depend on the position."""
    candidates, k, n = np.arange(7), 3, 20_000
    blocked = np.zeros((n, 7), dtype=bool)
    blocked[:, :n_blocked] = True
    requests = make_requests(np.zeros(n, dtype=int), blocked)
    slates = RandomPolicy().rank(requests, candidates, k, stream(0, "x"))
    table = marginal_table(RandomPolicy(), requests.subset(np.array([0])), candidates, k)
    frequency = np.zeros((7, k))
    np.add.at(frequency, (slates.items, np.broadcast_to(np.arange(k), slates.items.shape)), 1 / n)
    np.testing.assert_array_equal(slates.propensities, table[slates.items, np.arange(k)])
    margin = 5 * np.sqrt(table * (1 - table) / n) + 1e-12  # binomial SE of each frequency
    assert (np.abs(frequency - table) <= margin).all()


def test_random_traffic_is_the_exact_mixture(make_requests):
    policy = RandomTraffic(FixedScorer(SCORES), share=0.25)
    table = marginal_table(policy, make_requests([0]), CANDIDATES, 3)
    greedy = np.zeros((6, 3))
    greedy[np.argsort(-SCORES)[:3], np.arange(3)] = 1.0
    np.testing.assert_allclose(table, 0.25 / 6 + 0.75 * greedy)


def test_lightgbm_before_its_first_fit_is_taken_as_uniform_then_as_greedy(world, make_requests):
    """Without a model LightGBMPolicy ranks at random, so wrappers must mix in 1 / n, not the
    greedy slate of its all-zero scores; once fitted its slate is the greedy one."""
    policy = LightGBMPolicy(n_trees=5, min_data_in_leaf=20)
    candidates = world.live_items
    assert not policy.ranks_greedily
    table = marginal_table(policy, make_requests([0]), candidates, 3)
    np.testing.assert_array_equal(table, np.full(table.shape, 1.0 / len(candidates)))
    config = SimulationConfig(days=2, slate_size=3, ticks_per_day=4)
    log = simulate(world, PositionBasedModel(), RandomPolicy(), config, seed=0).log
    policy.fit(TrainingData(log.labelled(2.0, 2.0), world.features, 2.0, 0.0))
    assert policy.ranks_greedily
    requests = make_requests([0])
    greedy = policy.rank(requests, candidates, 3, stream(0, "x")).items
    np.testing.assert_array_equal(
        position_probabilities(policy, requests, candidates, greedy), np.ones((1, 3))
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: RandomTraffic(LightGBMPolicy(n_trees=5, min_data_in_leaf=20), share=0.3),
        lambda: RandomizedSwaps(LightGBMPolicy(n_trees=5, min_data_in_leaf=20), rate=0.5),
    ],
    ids=["random_traffic", "swaps"],
)
def test_wrappers_around_lightgbm_log_exact_propensities_from_its_first_day(make):
    """`check_policy` compares logged propensities with the policy's own answer and with the
    frequencies of its slates, including before the first fit on data, when LightGBM ranks at
    random."""
    check_policy(make())


def test_ucb_is_deterministic_and_tries_unseen_items_first(world, make_requests):
    policy = UCB().fit(_clicky_data(world))
    unseen = np.array([world.n_items_total + 5])
    candidates = np.concatenate([np.arange(20), unseen])
    requests = make_requests(np.arange(5))
    first = policy.rank(requests, candidates, 4, np.random.default_rng(0))
    again = policy.rank(requests, candidates, 4, np.random.default_rng(1))
    np.testing.assert_array_equal(first.items, again.items)
    assert (first.items[:, 0] == unseen[0]).all()
    assert (first.propensities == 1.0).all()


@pytest.mark.parametrize(
    "make",
    [
        lambda w: EpsilonGreedy(PopularityPolicy(), 0.1, "slots"),
        lambda w: PlackettLuce(OraclePolicy(w), 0.05, top_m=50),
        lambda w: ThompsonSampling(by_segment=True, examination=[1, 0.5, 0.33, 0.25]),
        lambda w: UCB(),
        lambda w: RandomTraffic(ThompsonSampling(), 0.1),
    ],
)
def test_wrappers_run_in_the_simulator(make):
    world = World.generate(WorldConfig(n_users=300, n_items=60, n_segments=2), stream(2, "w"))
    config = SimulationConfig(days=2, slate_size=4, exclude_consumed=True)
    result = simulate(world, PositionBasedModel(), make(world), config, seed=2)
    logged = result.log.sessions().propensity
    assert len(logged) > 0
    assert ((logged > 0) & (logged <= 1)).all()


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: EpsilonGreedy(PopularityPolicy(), epsilon=-0.1), "epsilon"),
        (lambda: EpsilonGreedy(PopularityPolicy(), epsilon=1.5), "epsilon"),
        (lambda: EpsilonGreedy(PopularityPolicy(), variant="sometimes"), "variant"),
        (lambda: PlackettLuce(PopularityPolicy(), temperature=0.0), "temperature"),
        (lambda: PlackettLuce(PopularityPolicy(), temperature=-1.0), "temperature"),
        (lambda: PlackettLuce(PopularityPolicy(), top_m=0), "top_m"),
        (lambda: ThompsonSampling(prior=(0.0, 1.0)), "prior"),
        (lambda: ThompsonSampling(prior=(1.0,)), "prior"),
        (lambda: ThompsonSampling(examination=[1.0, -0.5]), "examination"),
        (lambda: ThompsonSampling(window=0), "window"),
        (lambda: UCB(exploration=-1.0), "exploration"),
        (lambda: RandomTraffic(PopularityPolicy(), share=1.2), "share"),
    ],
)
def test_bad_inputs_name_the_field(make, field):
    with pytest.raises(ValueError, match=field):
        make()


def test_top_m_below_the_slate_size_is_an_error(make_requests):
    policy = PlackettLuce(FixedScorer(SCORES), top_m=2)
    with pytest.raises(ValueError, match="top_m"):
        policy.rank(make_requests([0]), CANDIDATES, 3, np.random.default_rng(0))


def test_plackett_luce_survives_scores_hundreds_of_temperatures_apart() -> None:
    """Weights exp(-720) are subnormal floats: they used to overflow the quadrature's range."""
    from policies import PlackettLuce
    from simulator import Requests, World, WorldConfig, stream

    world = World.generate(WorldConfig(n_users=5, n_items=40, n_segments=1), stream(0, "w"))

    class Stepped:
        def fit(self, data):
            return self

        def score(self, requests, candidates):
            return np.where(np.arange(len(candidates)) < 10, 720.0, 0.0)

    requests = Requests(
        t=np.zeros(2), user=np.arange(2), segment=np.zeros(2, np.int8), features=world.features
    )
    slates = PlackettLuce(Stepped(), temperature=1.0).rank(
        requests, world.live_items, 10, np.random.default_rng(0)
    )
    assert np.all(slates.propensities > 0) and np.all(np.isfinite(slates.propensities))
    assert set(slates.items[0]) == set(world.live_items[:10])


class CountingScorer(FixedScorer):
    """A fixed scorer that counts how often it is asked to score."""

    calls = 0

    def score(self, requests, candidates) -> np.ndarray:
        self.calls += 1
        return self.scores


@pytest.mark.parametrize("pairs", ["adjacent", "top", "any"])
def test_swaps_around_a_greedy_scorer_rank_it_once_and_match_enumeration(make_requests, pairs):
    """Every pair a swap may exchange is a question about the same greedy slate: the scorer is
    asked once per tick however many pairs there are, and the marginals are the enumerated
    mixture of the greedy slate and its swapped versions.
    """
    k, rate = 4, 0.6
    scorer = CountingScorer(SCORES)
    policy = RandomizedSwaps(scorer, rate=rate, pairs=pairs)
    requests = make_requests([0])
    table = marginal_table(policy, requests, CANDIDATES, k)
    assert scorer.calls == 1

    greedy = np.argsort(-SCORES, kind="stable")[:k]
    chosen = {
        "adjacent": [(r, r + 1) for r in range(k - 1)],
        "top": [(0, r) for r in range(1, k)],
        "any": list(itertools.combinations(range(k), 2)),
    }[pairs]
    expected = np.zeros((len(CANDIDATES), k))
    expected[greedy, np.arange(k)] += 1 - rate
    for a, b in chosen:
        slate = greedy.copy()
        slate[[a, b]] = slate[[b, a]]
        expected[slate, np.arange(k)] += rate / len(chosen)
    np.testing.assert_allclose(table, expected, atol=1e-12)
