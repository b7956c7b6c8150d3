"""Two tiny fixtures shared by the policy tests: a small world and a maker of its requests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from simulator import Requests, World, WorldConfig, stream


@pytest.fixture
def world() -> World:
    return World.generate(WorldConfig(n_users=500, n_items=100, n_segments=2), stream(0, "world"))


@pytest.fixture
def make_requests(world: World) -> Callable[..., Requests]:
    """Requests of the given users at t = 0, optionally blocking (n, n_candidates) items."""

    def make(users, blocked=None) -> Requests:
        users = np.asarray(users)
        return Requests(
            t=np.zeros(len(users)),
            user=users,
            segment=world.user_segment[users],
            features=world.features,
            blocked=blocked,
        )

    return make
