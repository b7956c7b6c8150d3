"""World options added for the replications: catalog growth and unnormalised preferences."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from simulator import World, WorldConfig, stream


def _world(config: WorldConfig) -> World:
    return World.generate(config, stream(0, "world"))


def test_catalog_grows_by_new_items_per_day_without_churn(small_world: WorldConfig) -> None:
    world = _world(small_world.replace(churn=0.0, new_items_per_day=7))
    rng = stream(0, "catalog")
    for day in range(1, 4):
        world.churn(float(day), rng)
    assert world.n_items_total == small_world.n_items + 21
    assert len(world.live_items) == world.n_items_total
    np.testing.assert_array_equal(world.item_birth[-7:], 3.0)


def test_growth_adds_to_churn_replacements(small_world: WorldConfig) -> None:
    world = _world(small_world.replace(churn=0.1, new_items_per_day=5))
    world.churn(1.0, stream(0, "catalog"))
    retired = int((~np.isinf(world.item_retired)).sum())
    assert retired > 0
    assert len(world.live_items) == small_world.n_items + 5
    assert world.n_items_total == small_world.n_items + retired + 5


def _interest_steps(config: WorldConfig, steps: int) -> NDArray:
    """Norms of preferences after `steps` batches where every user ignores a whole slate."""
    world = _world(config)
    rng = np.random.default_rng(1)
    users = np.arange(config.n_users)
    for _ in range(steps):
        slates = rng.choice(world.live_items, size=(len(users), 5))
        world.update_preferences(users, slates, np.zeros(slates.shape, dtype=bool))
    return np.linalg.norm(world.preferences, axis=1)


def test_unnormalised_interest_dynamics_diverge(small_world: WorldConfig) -> None:
    """Pushed away from ignored items, p <- p + (rate / k) sum (p - q): the norm compounds by
    about (1 + rate) a step, which only renormalisation stops."""
    interest = small_world.replace(dynamics="interest", preference_drift=0.1)
    np.testing.assert_allclose(_interest_steps(interest, 30), 1.0)
    free = _interest_steps(interest.replace(normalize_preferences=False), 30)
    assert free.min() > 5.0  # (1.1) ** 30 = 17, less the pull of the items' mean


def test_normalisation_on_is_the_default(small_world: WorldConfig) -> None:
    assert small_world.normalize_preferences is True and small_world.new_items_per_day == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"new_items_per_day": -1}, "new_items_per_day"),
        ({"new_items_per_day": 1.5}, "new_items_per_day"),
        ({"normalize_preferences": 1}, "normalize_preferences"),
    ],
)
def test_bad_options(small_world: WorldConfig, changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        small_world.replace(**changes)
