"""check_policy over every shipped policy, and the contract breaches it catches."""

from __future__ import annotations

import numpy as np
import pytest

from policies import (
    UCB,
    EpsilonGreedy,
    IPSPopularity,
    OraclePolicy,
    PlackettLuce,
    PopularityPolicy,
    RandomizedSwaps,
    RandomPolicy,
    RandomTraffic,
    ThompsonSampling,
    check_policy,
)
from policies.checks import CHECK_WORLD
from simulator import PositionBasedModel, Slates, World, stream

THETA = PositionBasedModel(1.0).examination(5)

SHIPPED = {
    "random": lambda w: RandomPolicy(),
    "popularity": lambda w: PopularityPolicy(),
    "oracle": lambda w: OraclePolicy(w),
    "ips_popularity": lambda w: IPSPopularity(THETA, clip=10.0),
    "epsilon_slots": lambda w: EpsilonGreedy(PopularityPolicy(), epsilon=0.3),
    "epsilon_top": lambda w: EpsilonGreedy(OraclePolicy(w), epsilon=0.3, variant="top"),
    "plackett_luce_shared": lambda w: PlackettLuce(PopularityPolicy(), temperature=5.0),
    "plackett_luce_rows": lambda w: PlackettLuce(OraclePolicy(w), temperature=0.1),
    "plackett_luce_top_m": lambda w: PlackettLuce(OraclePolicy(w), temperature=0.2, top_m=5),
    # click counts tie often, so the top-m cutoff keeps whole ties
    "plackett_luce_top_m_ties": lambda w: PlackettLuce(PopularityPolicy(), 5.0, top_m=5),
    "thompson": lambda w: ThompsonSampling(),
    "thompson_segments": lambda w: ThompsonSampling(by_segment=True, examination=THETA),
    "ucb": lambda w: UCB(by_segment=True),
    "random_traffic": lambda w: RandomTraffic(PopularityPolicy(), share=0.3),
    "random_traffic_stochastic": lambda w: RandomTraffic(PlackettLuce(OraclePolicy(w)), 0.3),
    "swaps_adjacent": lambda w: RandomizedSwaps(PopularityPolicy(), rate=0.5),
    "swaps_top": lambda w: RandomizedSwaps(ThompsonSampling(), rate=0.5, pairs="top"),
    "swaps_any": lambda w: RandomizedSwaps(RandomPolicy(), rate=0.5, pairs="any"),
    "nested": lambda w: RandomizedSwaps(
        RandomTraffic(EpsilonGreedy(OraclePolicy(w), 0.2, "top"), 0.2), 0.3
    ),
}


@pytest.fixture(scope="module")
def check_world() -> World:
    return World.generate(CHECK_WORLD, stream(0, "world"))


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_policies_conform(check_world, name):
    check_policy(SHIPPED[name](check_world), check_world)


class OverclaimingRandom(RandomPolicy):
    """Reports twice the true propensity."""

    def rank(self, requests, candidates, k, rng):
        slates = super().rank(requests, candidates, k, rng)
        return Slates(slates.items, np.minimum(2 * slates.propensities, 1.0), slates.scores)


class UnderclaimingEpsilon(EpsilonGreedy):
    """Reports exploration propensities a quarter too low (so they still sum below 1)."""

    def _marginals(self, greedy, allowed, n_candidates, cols):
        p = super()._marginals(greedy, allowed, n_candidates, cols)
        return np.where(cols == greedy, p, 0.75 * p)


class Repeating(RandomPolicy):
    """Shows its first item twice."""

    def rank(self, requests, candidates, k, rng):
        slates = super().rank(requests, candidates, k, rng)
        items = slates.items.copy()
        items[:, -1] = items[:, 0]
        return Slates(items, slates.propensities, slates.scores)


class IgnoringBlocked(PopularityPolicy):
    def rank(self, requests, candidates, k, rng):
        scores = self.score(requests, candidates)
        best = candidates[np.argsort(-scores, kind="stable")[:k]]
        items = np.broadcast_to(best, (len(requests), k)).copy()
        return Slates(items, np.ones(items.shape), np.ones(items.shape))


class Unseeded(RandomPolicy):
    def rank(self, requests, candidates, k, rng):
        return super().rank(requests, candidates, k, np.random.default_rng())


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (OverclaimingRandom(), "inconsistent with the reported propensities"),
        (UnderclaimingEpsilon(PopularityPolicy(), epsilon=0.5), "inconsistent"),
        (Repeating(), "same item twice"),
        (IgnoringBlocked(), "blocked items shown"),
        (Unseeded(), "same seed gave different slates"),
    ],
)
def test_check_policy_catches_breaches(check_world, policy, message):
    with pytest.raises(AssertionError, match=message):
        check_policy(policy, check_world)


class CrashingOnTheEmptyLog(PopularityPolicy):
    """Reads the latest impression time, which an empty log does not have."""

    def fit(self, data):
        self.latest_ = float(data.impressions.t.max())
        return super().fit(data)


def test_check_policy_fits_on_an_empty_log_first(check_world):
    with pytest.raises(AssertionError, match=r"fit on an empty log \(the simulator's first fit"):
        check_policy(CrashingOnTheEmptyLog(), check_world)
