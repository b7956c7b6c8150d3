"""A training window shorter than the label delay is rejected, naming the window at fault."""

import pytest

from policies import RandomPolicy
from simulator import (
    PositionBasedModel,
    ServedModel,
    Simulation,
    SimulationConfig,
    World,
    WorldConfig,
    stream,
)


@pytest.fixture
def world() -> World:
    config = WorldConfig(n_users=50, n_items=30, n_segments=2, label_delay=(0.0, 3.0))
    return World.generate(config, stream(0, "world"))


def test_shared_window_shorter_than_a_segments_delay(world: World) -> None:
    with pytest.raises(ValueError, match=r"^window must be at least .* \(3.0 days\), got 2.0"):
        Simulation(world, PositionBasedModel(), RandomPolicy(), SimulationConfig(window=2.0))


def test_served_model_window_is_named(world: World) -> None:
    models = [
        ServedModel(RandomPolicy(), "fast", segments=(0,)),
        ServedModel(RandomPolicy(), "slow", segments=(1,), window=1.0),
    ]
    with pytest.raises(ValueError, match=r"^slow\.window must be at least"):
        Simulation(world, PositionBasedModel(), models, SimulationConfig(window=2.0))


def test_each_model_is_held_to_its_own_segments_delay(world: World) -> None:
    models = [
        ServedModel(RandomPolicy(), "fast", segments=(0,), window=1.0),
        ServedModel(RandomPolicy(), "slow", segments=(1,), window=3.0),
    ]
    Simulation(world, PositionBasedModel(), models, SimulationConfig(window=2.0))
