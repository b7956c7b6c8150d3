"""The ideal recommender ranks by true utility, not by what users know."""

from __future__ import annotations

import numpy as np
import pytest

from policies import check_policy
from policies.ideal import IdealPolicy
from simulator import Requests, World, WorldConfig, stream
from simulator.presets import Chaney2018, ChaneyWorld


@pytest.fixture
def chaney_world() -> ChaneyWorld:
    preset = Chaney2018()
    return preset.generate(preset.config.replace(n_users=300, n_items=40), stream(0, "world"))


def test_check_policy(chaney_world: ChaneyWorld) -> None:
    check_policy(IdealPolicy(chaney_world), chaney_world)


def test_ranks_by_true_utility(chaney_world: ChaneyWorld) -> None:
    users = np.arange(50)
    requests = Requests(
        np.zeros(50), users, chaney_world.user_segment[users], chaney_world.features
    )
    live = chaney_world.live_items
    slates = IdealPolicy(chaney_world).rank(requests, live, 5, np.random.default_rng(0))
    true = chaney_world.true_utility_table[np.ix_(users, live)]
    expected = live[np.argsort(-true, axis=1, kind="stable")[:, :5]]
    np.testing.assert_array_equal(slates.items, expected)
    np.testing.assert_array_equal(
        IdealPolicy(chaney_world).user_representation(users), chaney_world.preferences[users]
    )


def test_needs_a_world_with_true_utility() -> None:
    world = World.generate(WorldConfig(n_users=10, n_items=5, n_segments=1), stream(0, "world"))
    with pytest.raises(ValueError, match="true_utility"):
        IdealPolicy(world)
