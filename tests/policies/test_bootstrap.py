"""BootstrapThompson: contract, exact mixture propensities, members that differ."""

import numpy as np
import pytest

from policies import BootstrapThompson, LightGBMPolicy, RandomPolicy, check_policy
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

MEMBER = LightGBMPolicy(n_trees=10, min_data_in_leaf=20)


@pytest.fixture(scope="module")
def fitted():
    world = World.generate(WorldConfig(n_users=500, n_items=60, n_segments=2), stream(0, "world"))
    config = SimulationConfig(days=3, ticks_per_day=4)
    result = simulate(world, PositionBasedModel(), RandomPolicy(), config, seed=0)
    data = TrainingData(result.log.labelled(3.0, 3.0), world.features, 3.0, 0.0)
    return world, BootstrapThompson(MEMBER, n_models=4).fit(data)


def test_bad_parameters() -> None:
    with pytest.raises(ValueError, match="n_models must be an integer >= 1, got 0"):
        BootstrapThompson(MEMBER, n_models=0)


def test_check_policy() -> None:
    check_policy(BootstrapThompson(MEMBER, n_models=3))


def test_propensities_are_the_share_of_members_ranking_the_item_there(fitted) -> None:
    world, policy = fitted
    users = np.arange(100)
    requests = Requests(
        t=np.full(100, 3.0), user=users, segment=world.user_segment[users], features=world.features
    )
    candidates = world.live_items
    slates = policy.rank(requests, candidates, 5, np.random.default_rng(1))
    members = [m.rank(requests, candidates, 5, np.random.default_rng(0)) for m in policy.members_]
    share = np.mean([m.items == slates.items for m in members], axis=0)
    np.testing.assert_array_equal(slates.propensities, share)
    np.testing.assert_array_equal(policy.propensities(requests, candidates, slates.items), share)
    assert (share < 1).any()  # bootstrapped members disagree somewhere
    assert policy.scores_are_click_probabilities
