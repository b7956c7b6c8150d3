"""Two tiny fixtures shared by the policy tests: a small world and requests on it."""

from __future__ import annotations

import numpy as np
import pytest

from simulator import Requests, World, WorldConfig, stream


@pytest.fixture
def world() -> World:
    return World.generate(WorldConfig(n_users=500, n_items=100, n_segments=2), stream(0, "world"))


def make_requests(world: World, users, blocked=None) -> Requests:
    users = np.asarray(users)
    return Requests(
        t=np.zeros(len(users)),
        user=users,
        segment=world.user_segment[users],
        features=world.features,
        blocked=blocked,
    )


@pytest.fixture
def requests(world: World) -> Requests:
    return make_requests(world, np.arange(6))
