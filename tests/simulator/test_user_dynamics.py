"""User dynamics against their formulas (`simulator.user_dynamics`): return intensity, leaving,
acquisition, satiation and item appeal, on small worlds over several seeds and parameter values.

Statistical margins are 4 standard errors of the model's own count (Poisson or binomial), so a
correct mechanism fails a check with probability below 1e-4.
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

from simulator import PositionBasedModel, World, WorldConfig, stream
from simulator.retention_metrics import (
    USER_DYNAMICS_METRICS,
    accumulated_value,
    active_users,
    churned_users,
    long_term_value,
    mean_satisfaction,
    present_users,
    retention,
    sessions_per_active_user,
    user_dynamics_daily,
)
from simulator.user_dynamics import (
    AcquisitionConfig,
    PerceptionConfig,
    Retention,
    RetentionConfig,
    SatiationConfig,
    consumption_utility,
)

SEEDS = (1, 2, 3)
TICK = 1.0 / 8
CONFIGS = Path(__file__).parents[2] / "experiments" / "configs"
BASE = WorldConfig(n_users=400, n_items=100, n_segments=2, n_topics=5, dim=8)


def served_ticks(world: World, days: float, rng: np.random.Generator, slate_size: int = 5):
    """Run the world's side of the loop tick by tick with uniformly random slates and PBM clicks;
    yield each tick's (times, users)."""
    pbm = PositionBasedModel(eta=1.0)
    for tick in range(int(days / TICK)):
        start = tick * TICK
        world.acquire(start, start + TICK, rng)
        times, users = world.sample_arrivals(start, start + TICK, rng)
        if len(users):
            slates = np.stack(
                [rng.choice(world.live_items, slate_size, replace=False) for _ in users]
            )
            shown = world.slate_attractiveness(users, slates)
            perceived = world.perceived_attractiveness(users, slates, shown)
            clicks = pbm.respond(perceived, rng)
            world.after_sessions(times, users, slates, clicks, shown, perceived)
        yield times, users


# ---------------------------------------------------------------------------------- return
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("beta", "f_max"), [(0.7, 1.5), (2.0, 3.0)])
def test_return_rate_is_base_rate_times_f_of_satisfaction(seed: int, beta: float, f_max: float):
    retention = RetentionConfig(return_sensitivity=beta, max_return_factor=f_max)
    world = World.generate(BASE.replace(retention=retention), stream(seed, "world"))
    assert world.retention is not None
    gaps = np.array([-2.0, -0.5, 0.0, 1.0])
    group = np.arange(world.n_users) % len(gaps)
    world.retention.satisfaction[:] = retention.satisfaction_reference + gaps[group]
    days = 10.0
    rng = stream(seed, "arrivals")
    counts = np.zeros(len(gaps))
    for tick in range(int(days / TICK)):
        _, users = world.sample_arrivals(tick * TICK, (tick + 1) * TICK, rng)
        counts += np.bincount(group[users], minlength=len(gaps))
    f = f_max / (1 + (f_max - 1) * np.exp(-beta * gaps))
    expected = np.bincount(group, weights=world.activity, minlength=len(gaps)) * f * days
    assert np.all(np.abs(counts - expected) < 4 * np.sqrt(expected))


def test_return_factor_is_one_at_the_reference_and_bounded():
    config = RetentionConfig(return_sensitivity=1.3, max_return_factor=2.5)
    s_ref = config.satisfaction_reference
    assert config.return_factor(np.array([s_ref]))[0] == pytest.approx(1.0)
    assert config.return_factor(np.array([s_ref + 50]))[0] == pytest.approx(2.5)
    assert config.return_factor(np.array([s_ref - 50]))[0] == pytest.approx(0.0, abs=1e-12)


def test_satisfaction_is_an_exponentially_weighted_mean_of_consumption_utility():
    config = RetentionConfig(satisfaction_weight=0.3, return_sensitivity=1.0)
    retention = Retention(config, 3, stream(0, "test"))
    # User 1 has two sessions in the first batch, user 2 none.
    retention.record(np.array([0.1, 0.2, 0.3]), np.array([0, 1, 1]), np.array([2.0, 0.0, 3.0]))
    retention.record(np.array([1.0]), np.array([0]), np.array([1.5]))
    s0, w = config.satisfaction_reference, 0.3
    expected = [
        (1 - w) * ((1 - w) * s0 + w * 2.0) + w * 1.5,
        (1 - w) * ((1 - w) * s0 + w * 0.0) + w * 3.0,
        s0,
    ]
    np.testing.assert_allclose(retention.satisfaction, expected)


# ---------------------------------------------------------------------------------- leaving
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    ("d0", "gamma", "w", "value"),
    [(0.02, 1.0, 0.3, 0.0), (0.05, 0.5, 0.5, 2.0), (0.1, 2.0, 0.2, 0.4)],
)
@pytest.mark.parametrize("one_batch", [True, False])
def test_leaving_follows_the_hazard(
    seed: int, d0: float, gamma: float, w: float, value: float, one_batch: bool
):
    config = RetentionConfig(satisfaction_weight=w, leave_probability=d0, leave_sensitivity=gamma)
    n = 20_000
    retention = Retention(config, n, stream(seed, "leave"))
    # Every user has two sessions, in one batch or two: P(leave) = 1 - (1 - p1)(1 - p2).
    users = np.tile(np.arange(n), 2)
    times = np.repeat([0.1, 0.2], n)
    values = np.full(2 * n, value)
    if one_batch:
        gone, _ = retention.record(times, users, values)
    else:
        first, _ = retention.record(times[:n], users[:n], values[:n])
        second, _ = retention.record(times[n:], users[n:], values[n:])
        gone = np.union1d(first, second)
    s_ref = config.satisfaction_reference
    s1 = (1 - w) * s_ref + w * value
    s2 = (1 - w) * s1 + w * value
    p1, p2 = (min(1.0, d0 * math.exp(gamma * (s_ref - s))) for s in (s1, s2))
    p = 1 - (1 - p1) * (1 - p2)
    assert abs(len(gone) / n - p) < 4 * math.sqrt(p * (1 - p) / n)


def test_leaving_is_coupled_across_services():
    """With common patience, every user who leaves after a good session also leaves after a
    worse one: paired comparisons of policies see the same users' tolerance."""
    config = RetentionConfig(leave_probability=0.05, leave_sensitivity=1.0)
    n = 5_000
    users, times = np.arange(n), np.full(n, 0.5)
    good = Retention(config, n, stream(5, "patience")).record(times, users, np.full(n, 2.0))[0]
    bad = Retention(config, n, stream(5, "patience")).record(times, users, np.full(n, 0.0))[0]
    assert len(bad) > len(good) > 0
    assert np.isin(good, bad).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_departed_users_never_arrive_again(seed: int):
    retention = RetentionConfig(leave_probability=0.05, leave_sensitivity=1.0)
    world = World.generate(BASE.replace(retention=retention), stream(seed, "world"))
    sessions = list(served_ticks(world, 8.0, stream(seed, "run")))
    times = np.concatenate([t for t, _ in sessions])
    users = np.concatenate([u for _, u in sessions])
    departed = world.user_departed
    assert np.isfinite(departed).sum() > 20
    assert np.all(times <= departed[users])
    last = np.full(world.n_users, -np.inf)
    np.maximum.at(last, users, times)
    gone = np.isfinite(departed)
    np.testing.assert_array_equal(departed[gone], last[gone])


# ---------------------------------------------------------------------------------- acquisition
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("rate", [(4.0, 0.0, 10.0), 2.5])
def test_acquisition_adds_users_at_the_rate_of_each_segment(seed: int, rate):
    config = BASE.replace(n_segments=3, acquisition=AcquisitionConfig(rate=rate))
    world = World.generate(config, stream(seed, "world"))
    days = 20.0
    sessions = list(served_ticks(world, days, stream(seed, "run")))
    new = np.arange(config.n_users, world.n_users)
    counts = np.bincount(world.user_segment[new], minlength=3)
    expected = np.broadcast_to(np.asarray(rate), (3,)) * days
    assert np.all(np.abs(counts - expected) <= 4 * np.sqrt(expected))
    assert np.all((world.user_joined[new] >= 0) & (world.user_joined[new] < days))
    # Newcomers enter the arrival process at their base rate from the day they join.
    times = np.concatenate([t for t, _ in sessions])
    users = np.concatenate([u for _, u in sessions])
    assert np.all(times >= world.user_joined[users])
    expected_sessions = float(np.sum(world.activity[new] * (days - world.user_joined[new])))
    observed = np.isin(users, new).sum()
    assert abs(observed - expected_sessions) < 4 * math.sqrt(expected_sessions)
    assert world.features.users(new).shape == (len(new), 2 + config.n_user_features)


# ---------------------------------------------------------------------------------- satiation
@pytest.mark.parametrize(("strength", "recovery"), [(0.4, 0.5), (1.5, 3.0)])
def test_satiation_drops_attraction_to_a_served_topic_and_recovers(
    strength: float, recovery: float
):
    satiation = SatiationConfig(strength=strength, recovery_rate=recovery)
    config = BASE.replace(satiation=satiation, churn=0.0, preference_drift=0.0)
    world = World.generate(config, stream(4, "world"))
    plain = World.generate(BASE.replace(churn=0.0, preference_drift=0.0), stream(4, "world"))
    user, topic = np.array([0]), 2
    of_topic = world.live_items[world.item_topic[world.live_items] == topic][:3]
    other = world.live_items[world.item_topic[world.live_items] != topic][:3]
    click_times = [0.1, 0.4, 0.45, 1.0]
    for t in click_times:  # one session a batch, every shown item of the topic clicked
        slate = of_topic[None, :]
        shown = world.slate_attractiveness(user, slate)
        world.after_sessions(np.array([t]), user, slate, np.ones_like(slate, bool), shown, shown)
    h = 3 * sum(math.exp(-recovery * (1.0 - t)) for t in click_times)
    drop = plain.logits(user, world.live_items) - world.logits(user, world.live_items)
    on_topic = world.item_topic[world.live_items] == topic
    np.testing.assert_allclose(drop[0, on_topic], strength * h)
    np.testing.assert_allclose(drop[0, ~on_topic], 0.0, atol=1e-12)
    later = world.slate_attractiveness(user, of_topic[None, :])
    np.testing.assert_array_less(later, plain.slate_attractiveness(user, of_topic[None, :]))
    # Recovery: two days later, after consuming another topic, h has decayed exponentially.
    slate = other[None, :]
    shown = world.slate_attractiveness(user, slate)
    world.after_sessions(np.array([3.0]), user, slate, np.ones_like(slate, bool), shown, shown)
    assert world.satiation is not None
    assert world.satiation.level[0, topic] == pytest.approx(h * math.exp(-recovery * 2.0))
    assert world.satiation.at(user, 5.0)[0, topic] == pytest.approx(h * math.exp(-recovery * 4.0))


# ---------------------------------------------------------------------------------- perception
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("appeal", [0.5, 1.5])
def test_appeal_raises_clicks_but_not_consumption_utility(seed: int, appeal: float):
    honest = World.generate(BASE, stream(seed, "world"))
    baited = World.generate(
        BASE.replace(perception=PerceptionConfig(appeal)), stream(seed, "world")
    )
    rng = stream(seed, "sessions")
    n, k = 20_000, 5
    users = rng.integers(BASE.n_users, size=n)
    slates = rng.choice(honest.live_items, size=(n, k))
    pbm = PositionBasedModel(eta=1.0)
    true = honest.slate_attractiveness(users, slates)
    np.testing.assert_array_equal(true, baited.slate_attractiveness(users, slates))
    np.testing.assert_array_equal(
        honest.logits(users[:50], honest.live_items), baited.logits(users[:50], baited.live_items)
    )
    perceived = baited.perceived_attractiveness(users, slates, true)
    assert honest.perceived_attractiveness(users, slates, true) is true
    draws = stream(seed, "clicks")
    honest_clicks = pbm.respond(true, draws)
    baited_clicks = pbm.respond(perceived, draws)
    # Clicks: appeal raises the click rate well beyond sampling noise.
    gap = baited_clicks.sum() - honest_clicks.sum()
    assert gap > 4 * math.sqrt(baited_clicks.sum() + honest_clicks.sum())
    # Satisfaction input: both match the slates' true utility, sum_r theta_r a_r.
    true_utility = pbm.click_probabilities(true).sum(axis=1).mean()
    for clicks, seen in ((honest_clicks, true), (baited_clicks, perceived)):
        x = consumption_utility(clicks, true, seen)
        assert abs(x.mean() - true_utility) < 4 * x.std() / math.sqrt(n)


# ---------------------------------------------------------------------------------- bad input
BAD = [
    ({"retention": {"satisfaction_weight": 1.5}}, "retention.satisfaction_weight"),
    ({"retention": {"satisfaction_weight": float("nan")}}, "retention.satisfaction_weight"),
    ({"retention": {"return_sensitivity": -1.0}}, "retention.return_sensitivity"),
    ({"retention": {"max_return_factor": 0.5}}, "retention.max_return_factor"),
    ({"retention": {"leave_probability": 2.0}}, "retention.leave_probability"),
    ({"retention": {"leave_sensitivity": float("inf")}}, "retention.leave_sensitivity"),
    ({"retention": {"satisfaction_reference": -0.1}}, "retention.satisfaction_reference"),
    ({"retention": {"patience": 3}}, "retention has no setting 'patience'"),
    ({"acquisition": {"rate": -2.0}}, "acquisition.rate"),
    ({"acquisition": {"rate": [1.0, float("nan")]}}, "acquisition.rate"),
    (
        {"acquisition": {"rate": [1.0, 2.0, 3.0]}},
        "acquisition.rate must be a number or a list of 2",
    ),
    ({"satiation": {"strength": float("nan")}}, "satiation.strength"),
    ({"satiation": {"recovery_rate": -0.5}}, "satiation.recovery_rate"),
    ({"perception": {"appeal": -1.0}}, "perception.appeal"),
    ({"perception": 3}, "perception must be a PerceptionConfig or a table"),
]


@pytest.mark.parametrize(("changes", "field"), BAD)
def test_bad_parameters_are_one_line_errors(changes: dict, field: str):
    with pytest.raises(ValueError, match=field) as error:
        BASE.replace(**changes)
    assert "\n" not in str(error.value)


# ---------------------------------------------------------------------------------- off = as before
def test_mechanisms_off_draw_exactly_as_before():
    """Off (the defaults, or tracked but inert settings) gives the same world and arrivals, and
    switching on satiation or appeal leaves every other draw of the world unchanged."""
    plain = World.generate(BASE, stream(7, "world"))
    inert = BASE.replace(retention=RetentionConfig(satisfaction_weight=0.5))
    assert not inert.tracks_arrivals
    on = BASE.replace(satiation=SatiationConfig(strength=1.0), perception=PerceptionConfig(1.0))
    for config in (inert, on):
        other = World.generate(config, stream(7, "world"))
        for name in ("preferences", "activity", "user_observed", "item_latent", "item_quality"):
            np.testing.assert_array_equal(getattr(plain, name), getattr(other, name))
        a, b = stream(7, "arrivals"), stream(7, "arrivals")
        for tick in range(16):
            first = plain.sample_arrivals(tick * TICK, (tick + 1) * TICK, a)
            second = other.sample_arrivals(tick * TICK, (tick + 1) * TICK, b)
            for x, y in zip(first, second, strict=True):
                np.testing.assert_array_equal(x, y)


# ---------------------------------------------------------------------------------- metrics
def test_retention_metrics_on_a_hand_made_log():
    # Users 0, 1 come on day 0; user 0 and newcomer 2 on day 1; user 1 leaves at 0.6.
    t = np.array([0.1, 0.2, 0.6, 1.1, 1.5, 1.7])
    user = np.array([0, 0, 1, 0, 2, 2])
    utility = np.array([1.0, 0.5, 0.2, 2.0, 1.0, 1.0])
    joined = np.array([0.0, 0.0, 1.2])
    departed = np.array([np.inf, 0.6, np.inf])
    assert active_users(t, user, 0.0, 1.0) == 2
    assert sessions_per_active_user(t, user, 1.0, 2.0) == pytest.approx(1.5)
    assert retention(t, user, 0.0) == pytest.approx(0.5)
    assert math.isnan(retention(t, user, 5.0))
    assert present_users(joined, departed, 1.0) == 1
    assert churned_users(departed, 0.0, 1.0) == 1
    assert mean_satisfaction(np.array([1.0, 0.0, 3.0]), joined, departed, 2.0) == 2.0
    assert math.isnan(mean_satisfaction(None, joined, departed, 2.0))
    accumulated = accumulated_value(user, utility, 3)
    np.testing.assert_allclose(accumulated, [3.5, 0.2, 2.0])
    # The departed user stays in the mean with what they had gathered before leaving.
    assert long_term_value(accumulated, joined, 2.0) == pytest.approx(5.7 / 3)
    assert long_term_value(accumulated, joined, 1.0) == pytest.approx(3.7 / 2)
    table = user_dynamics_daily(
        1, t, user, accumulated, np.array([0, 1, 0]), joined, departed, None, n_segments=2
    )
    value = table.set_index(["segment", "metric"])["value"]
    assert list(table.metric.unique()) == list(USER_DYNAMICS_METRICS)
    assert value["all", "active_users"] == 2
    assert value["all", "retention"] == 0.5
    assert value["0", "retention"] == 1.0
    assert value["1", "present_users"] == 0
    assert value["1", "long_term_value"] == pytest.approx(0.2)


def test_dynamics_settings_come_from_toml_tables_and_round_trip():
    import tomli_w

    from experiments import load_experiment

    changes = ["world.retention.leave_probability=0.02", "world.acquisition.rate=[1.0, 2.0]"]
    experiment = load_experiment(CONFIGS / "quick.toml", overrides=changes)
    assert experiment.world.retention.leave_probability == 0.02
    assert experiment.world.acquisition.rate == (1.0, 2.0)
    resolved = tomllib.loads(tomli_w.dumps(experiment.resolved()))
    assert resolved["world"]["retention"]["leave_probability"] == 0.02
    with pytest.raises(ValueError, match="did you mean 'leave_probability'"):
        load_experiment(CONFIGS / "quick.toml", ["world.retention.leave_probabilty=0.1"])
