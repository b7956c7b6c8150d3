"""The chaney2018 preset: its distributions match the published parameters over several seeds."""

from __future__ import annotations

import numpy as np
import pytest

from policies import RandomPolicy
from policies.content import ContentFiltering
from policies.schedules import InterleaveNew, RandomStartup
from simulator import SimulationConfig, simulate, stream
from simulator.choice_models import AttentionArgmax
from simulator.presets import PRESETS, Chaney2018, ChaneyWorld, preset_world

SEEDS = [0, 1, 2]


def _world(seed: int, **changes: object) -> ChaneyWorld:
    preset = Chaney2018()
    return preset.generate(preset.config.replace(**changes), stream(seed, "world"))


def test_registry_and_published_sizes() -> None:
    preset = PRESETS["chaney2018"]()
    c = preset.config
    assert (c.n_users, c.dim, c.new_items_per_day, c.churn) == (100, 20, 10, 0.0)
    assert (preset.known_mean, preset.known_sd, preset.utility_sd) == (0.98, 0.1, 1e-5)


@pytest.mark.parametrize("seed", SEEDS)
def test_dirichlet_preferences_and_attributes(seed: int) -> None:
    world = _world(seed, n_users=2000)
    assert np.isclose(world.user_hyper.sum(), 10.0) and np.isclose(world.item_hyper.sum(), 0.1)
    for vectors in (world.preferences, world.item_base_latent):
        assert (vectors >= 0).all() and np.allclose(vectors.sum(axis=1), 1.0)
    # Dirichlet(a) with a0 = sum(a): E x_j = a_j / a0, Var x_j = m_j (1 - m_j) / (a0 + 1).
    # 5 standard errors per attribute keeps 20 attributes x 3 seeds below ~1e-4 false alarms.
    m = world.user_hyper / 10.0
    se = np.sqrt(m * (1 - m) / 11.0 / world.n_users)
    assert (np.abs(world.preferences.mean(axis=0) - m) < 5 * se + 1e-12).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_items_are_nearly_single_attribute(seed: int) -> None:
    """mu_alpha sums to 0.1: almost all of an item's mass sits on one attribute."""
    world = _world(seed, n_items=2000)
    assert np.median(world.item_base_latent.max(axis=1)) > 0.95


@pytest.mark.parametrize("seed", SEEDS)
def test_true_and_known_utility(seed: int) -> None:
    world = _world(seed, n_items=500)
    mean = np.clip(world.preferences @ world.item_base_latent.T, 1e-9, 1 - 1e-9)
    noise = world.true_utility_table - mean
    # V ~ Beta'(mean, 1e-5): unbiased (4.5 standard errors) with sd 1e-5; the sd of a sample sd
    # of this skewed noise over 50,000 pairs is ~2-3% (measured), so allow 15%
    assert abs(noise.mean()) < 4.5 * 1e-5 / np.sqrt(noise.size)
    assert abs(noise.std() / 1e-5 - 1) < 0.15
    # V*/V = eta ~ Beta'(0.98, 0.1), where V did not underflow to 0 (means near 1e-9)
    known = world.true_utility_table > 0
    ratio = world.known_utility_table[known] / world.true_utility_table[known]
    assert ((ratio >= 0) & (ratio <= 1)).all()
    assert abs(ratio.mean() - 0.98) < 4.5 * 0.1 / np.sqrt(ratio.size)
    users, items = np.array([3, 7]), np.array([0, 9, 4])
    np.testing.assert_array_equal(
        world.attractiveness(users, items), world.known_utility_table[np.ix_(users, items)]
    )
    np.testing.assert_array_equal(
        world.true_utility(users, items[None, :2].repeat(2, 0)),
        world.true_utility_table[np.ix_(users, items[:2])],
    )


def test_catalog_grows_without_retirement() -> None:
    world = _world(0)
    rng = stream(0, "catalog")
    for day in range(1, 4):
        world.churn(float(day), rng)
    assert world.n_items_total == 40 and len(world.live_items) == 40
    assert world.true_utility_table.shape == (100, 40)
    assert np.isinf(world.item_retired).all()
    np.testing.assert_array_equal(world.item_birth[-10:], 3.0)


def test_every_user_arrives_exactly_once_a_day() -> None:
    world = _world(0)
    users = [world.sample_arrivals(t / 8, (t + 1) / 8, stream(0, "arrivals"))[1] for t in range(16)]
    first, second = np.concatenate(users[:8]), np.concatenate(users[8:])
    assert sorted(first) == list(range(100)) and sorted(second) == list(range(100))


def test_simulates_with_the_choice_model() -> None:
    world = _world(0, n_users=30)
    config = SimulationConfig(days=4, slate_size=5, ticks_per_day=1, exclude_consumed=True)
    result = simulate(world, AttentionArgmax(), RandomPolicy(), config, seed=0)
    clicks = result.log.sessions().click
    assert len(clicks) == 4 * 30 and (clicks.sum(axis=1) == 1).all()
    assert result.world.n_items_total == 40


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"n_item_features": 4}, "n_item_features"),
        ({"n_segments": 2}, "n_segments"),
        ({"preference_drift": 0.1}, "preference_drift"),
    ],
)
def test_bad_config(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        _world(0, **changes)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"known_mean": 1.2}, "mean"),
        ({"known_sd": 0.5}, "sd"),
        ({"user_concentration": 0.0}, "user_concentration"),
        ({"utility_sd": float("nan")}, "sd"),
    ],
)
def test_bad_parameters(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Chaney2018(**kwargs)


def test_chaney_components_compose() -> None:
    """Random startup, then content filtering retrained daily, 10 new items interleaved: every
    user consumes one item a day, never the same twice, and new items reach the slates."""
    world = _world(0, n_users=30, n_items=30)
    policy = InterleaveNew(RandomStartup(ContentFiltering(), steps=3.0), n_new=10)
    config = SimulationConfig(
        days=8, slate_size=15, ticks_per_day=1, window=np.inf, exclude_consumed=True
    )
    log = simulate(world, AttentionArgmax(), policy, config, seed=0).log.sessions()
    assert (log.click.sum(axis=1) == 1).all()
    rows, positions = np.nonzero(log.click)
    pairs = set(zip(log.user[rows].tolist(), log.item[rows, positions].tolist(), strict=True))
    assert len(pairs) == 8 * 30
    # from day 1 on exactly the day's 10 new items are interleaved (on day 0 every item is new)
    new = log.t[:, None] - world.item_birth[log.item] < 1.0
    assert (new[log.t >= 1.0].sum(axis=1) == 10).all() and new[log.t < 1.0].all()


def test_preset_world_by_name() -> None:
    world = preset_world("chaney2018", stream(0, "world"), {"n_users": 7}, known_mean=0.9)
    assert isinstance(world, ChaneyWorld) and world.n_users == 7
    assert world.preset.known_mean == 0.9
    again = ChaneyWorld.generate(world.config, stream(0, "world"))
    assert again.n_users == 7
    with pytest.raises(ValueError, match="did you mean 'chaney2018'"):
        preset_world("chaney2019", stream(0, "world"))
