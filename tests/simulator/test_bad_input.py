"""Invalid parameters fail at construction with one line naming the parameter and the value."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from policies import RandomPolicy
from simulator import (
    MetricSettings,
    PositionBasedModel,
    ServedModel,
    Simulation,
    SimulationConfig,
    World,
    WorldConfig,
    simulate,
    stream,
)

WORLD_CASES = [
    ({"n_users": 0}, "n_users must be an integer >= 1, got 0"),
    ({"n_items": -5}, "n_items must be an integer >= 1, got -5"),
    ({"n_users": 2.5}, "n_users must be an integer >= 1, got 2.5"),
    ({"churn": 1.5}, r"churn must be a probability in \[0, 1\], got 1.5"),
    ({"preference_drift": -0.1}, r"preference_drift must be a probability in \[0, 1\], got -0.1"),
    ({"label_delay": -1.0}, "label_delay must be >= 0, got -1.0"),
    ({"label_delay": (1.0, 2.0)}, "label_delay must be a number or a list of 5"),
    ({"segment_shares": (0.5, 0.6)}, "segment_shares must be a number or a list of 5"),
    ({"n_segments": 2, "segment_shares": (0.5, 0.6)}, "segment_shares must sum to 1"),
    ({"mean_sessions_per_day": 0}, "mean_sessions_per_day must be > 0, got 0"),
    ({"dynamics": "gravity"}, "dynamics must be one of 'consumption', 'interest', got 'gravity'"),
    ({"affinity": "high"}, "affinity must be a number, got 'high'"),
    ({"n_segments": 200}, "n_segments must be <= 127, got 200"),
]


@pytest.mark.parametrize(("changes", "message"), WORLD_CASES)
def test_bad_world_config(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorldConfig(**changes)


SIMULATION_CASES = [
    ({"days": 0}, "days must be an integer >= 1, got 0"),
    ({"slate_size": -1}, "slate_size must be an integer >= 1, got -1"),
    ({"ticks_per_day": 24}, "ticks_per_day must be a power of two, got 24"),
    ({"retrain_every": 0}, "retrain_every must be > 0, got 0"),
    ({"retrain_every": 0.001}, "retrain_every must be at least one serving tick"),
    ({"window": -2.0}, "window must be > 0, got -2.0"),
    ({"training_days": -1}, "training_days must be >= 0, got -1"),
    ({"serving": "streaming"}, "serving must be one of 'online', 'batch', got 'streaming'"),
    ({"truth": "fast"}, "truth must be one of 'exact', 'cached', 'sampled', got 'fast'"),
    ({"truth_sample_rate": 0.0}, "truth_sample_rate must be > 0, got 0.0"),
    ({"truth_sample_rate": float("nan")}, "truth_sample_rate must be"),
    ({"truth_sample_rate": 1.5}, r"truth_sample_rate must be a probability in \[0, 1\], got 1.5"),
    ({"log_spill": ""}, "log_spill must be true, false or a folder, got ''"),
    ({"log_spill": 3}, "log_spill must be true, false or a folder, got 3"),
]


@pytest.mark.parametrize(("changes", "message"), SIMULATION_CASES)
def test_bad_simulation_config(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SimulationConfig(**changes)


METRIC_CASES = [
    ({"popularity_window": 0}, "popularity_window must be > 0, got 0"),
    ({"homogenization_window": -1.0}, "homogenization_window must be > 0, got -1.0"),
    ({"homogenization_pairs": 0}, "homogenization_pairs must be an integer >= 1, got 0"),
]


@pytest.mark.parametrize(("changes", "message"), METRIC_CASES)
def test_bad_metric_settings(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MetricSettings(**changes)


@pytest.fixture
def world() -> World:
    return World.generate(WorldConfig(n_users=50, n_items=20, n_segments=2), stream(0, "world"))


def test_slate_larger_than_catalog(world: World) -> None:
    with pytest.raises(ValueError, match="slate_size must not exceed the live catalog"):
        Simulation(world, PositionBasedModel(), RandomPolicy(), SimulationConfig(slate_size=21))


def test_models_must_cover_each_segment_once(world: World) -> None:
    models = [ServedModel(RandomPolicy(), "a", segments=(0,))]
    with pytest.raises(ValueError, match="cover each of the 2 segments exactly once"):
        Simulation(world, PositionBasedModel(), models)
    twice = [ServedModel(RandomPolicy(), "a"), ServedModel(RandomPolicy(), "b", segments=(1,))]
    with pytest.raises(ValueError, match="exactly once, got segments"):
        Simulation(world, PositionBasedModel(), twice)


def test_served_model_overrides_are_checked() -> None:
    with pytest.raises(ValueError, match=r"a.retrain_every must be > 0, got -1.0"):
        ServedModel(RandomPolicy(), "a", retrain_every=-1.0)


def test_negative_seed() -> None:
    with pytest.raises(ValueError, match="seed must be a non-negative integer, got -3"):
        stream(-3, "world")


NOT_FINITE_CASES = [
    (WorldConfig, {"affinity": float("nan")}, "affinity must be a finite number, got nan"),
    (
        WorldConfig,
        {"mean_sessions_per_day": float("inf")},
        "mean_sessions_per_day must be a finite",
    ),
    (
        WorldConfig,
        {"label_delay": [1.0, float("nan")] + [1.0] * 3},
        r"label_delay\[1\] must be a fin",
    ),
    (WorldConfig, {"affinity": [1.0, 2.0]}, r"affinity must be a number, got \[1.0, 2.0\]"),
    (WorldConfig, {"mean_sessions_per_day": (1.0, 2.0)}, "mean_sessions_per_day must be a number"),
    (SimulationConfig, {"window": [1.0, 2.0]}, "window must be a number"),
    (SimulationConfig, {"retrain_every": float("nan")}, "retrain_every must be a finite number"),
    (SimulationConfig, {"window": float("nan")}, "window must be a finite number, got nan"),
    (MetricSettings, {"popularity_window": float("inf")}, "popularity_window must be a finite"),
    (PositionBasedModel, {"eta": float("inf")}, "eta must be a finite number, got inf"),
]


@pytest.mark.parametrize(("build", "changes", "message"), NOT_FINITE_CASES)
def test_nan_and_infinity_are_refused(build: Any, changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build(**changes)


def test_an_infinite_window_trains_on_all_history() -> None:
    assert SimulationConfig(window=float("inf")).window == float("inf")


def test_numpy_scalars_are_good_numbers() -> None:
    config = WorldConfig(n_users=np.int64(50), n_items=np.int64(20), affinity=np.float64(2.0))
    assert World.generate(config, stream(0, "world")).config.n_users == 50
    assert SimulationConfig(days=np.int64(2), window=np.float64(3.0)).days == 2


API_CASES = [
    ({"world": None}, TypeError, "world must be a World"),
    ({"click_model": "pbm"}, TypeError, "click_model must be a click model"),
    ({"models": "random"}, TypeError, "models must be a policy"),
    ({"models": []}, TypeError, "models must be a policy or a non-empty list of ServedModel"),
    ({"models": [RandomPolicy()]}, TypeError, "list of ServedModel"),
    (
        {"config": {"days": 1}},
        TypeError,
        r"config must be a SimulationConfig or None, got \{'days'",
    ),
]


@pytest.mark.parametrize(("changes", "error", "message"), API_CASES)
def test_bad_simulate_arguments_fail_at_once(
    world: World, changes: dict, error: type[Exception], message: str
) -> None:
    arguments = {
        "world": world,
        "click_model": PositionBasedModel(),
        "models": RandomPolicy(),
        "config": SimulationConfig(days=1),
        **changes,
    }
    with pytest.raises(error, match=message) as raised:
        simulate(**arguments)
    assert "\n" not in str(raised.value)
