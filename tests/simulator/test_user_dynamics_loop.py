"""The user dynamics inside the loop (`simulator.serving`, `simulator.processes`,
`simulator.monitoring`): who may arrive, what the daily user-dynamics metrics say, and that
they agree with the world's user state at the end of the run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from policies import PopularityPolicy, RandomPolicy
from simulator import (
    USER_DYNAMICS_METRICS,
    AcquisitionConfig,
    PerceptionConfig,
    PositionBasedModel,
    RetentionConfig,
    SatiationConfig,
    SimulationConfig,
    World,
    WorldConfig,
    simulate,
    stream,
)

DAYS = 8
SMALL = WorldConfig(n_users=300, n_items=120, n_segments=2)
# Leaving at 5% per session at the reference and faster below it: a few dozen of 300 users
# leave within the run, so every check below has departures to look at.
RETENTION = RetentionConfig(return_sensitivity=1.0, leave_probability=0.05, leave_sensitivity=1.0)


def run(config: WorldConfig, seed: int, serving: str = "online", policy=None):
    world = World.generate(config, stream(seed, "world"))
    simulation = SimulationConfig(days=DAYS, ticks_per_day=8, serving=serving)
    model = policy if policy is not None else PopularityPolicy()
    return simulate(world, PositionBasedModel(eta=1.0), model, simulation, seed)


def table(result) -> pd.DataFrame:
    return result.metrics.pivot_table(index=["day", "segment"], columns="metric", values="value")


@pytest.mark.parametrize("seed", [1, 2])
def test_departed_users_never_appear_in_the_log_after_departure(seed: int):
    result = run(SMALL.replace(retention=RETENTION), seed)
    world, log = result.world, result.log.sessions()
    departed = np.isfinite(world.user_departed)
    assert departed.sum() >= 10
    # A departure is stamped with the user's last session.
    assert (log.t <= world.user_departed[log.user]).all()
    last = np.full(world.n_users, -np.inf)
    np.maximum.at(last, log.user, log.t)
    assert np.array_equal(last[departed], world.user_departed[departed])


@pytest.mark.parametrize("serving", ["online", "batch"])
def test_newcomers_arrive_only_after_joining_and_are_served(serving: str):
    config = SMALL.replace(acquisition=AcquisitionConfig(rate=(10.0, 5.0)), retention=RETENTION)
    result = run(config, 3, serving)
    world, log = result.world, result.log.sessions()
    assert world.n_users > SMALL.n_users
    newcomers = log.user >= SMALL.n_users
    assert newcomers.any()
    assert (log.t >= world.user_joined[log.user]).all()
    assert (log.t <= world.user_departed[log.user]).all()


def test_user_dynamics_metrics_are_recorded_overall_and_per_segment_and_agree():
    result = run(SMALL.replace(retention=RETENTION), 4)
    world, log = result.world, result.log.sessions()
    daily = table(result)
    assert set(USER_DYNAMICS_METRICS) <= set(daily.columns)
    every = daily.xs("all", level="segment")
    segments = [daily.xs(str(s), level="segment") for s in range(SMALL.n_segments)]
    assert list(every.index) == list(range(DAYS))
    # Counts add up over segments.
    for metric in ("active_users", "churned_users", "present_users"):
        assert (every[metric] == sum(s[metric] for s in segments)).all()
    # Churned users are the departures, day by day; present users what is left of everyone.
    churned = np.bincount(world.user_departed[np.isfinite(world.user_departed)].astype(int))
    assert np.array_equal(every.churned_users.to_numpy(), np.pad(churned, (0, DAYS - len(churned))))
    assert (every.present_users == SMALL.n_users - every.churned_users.cumsum()).all()
    # Active users and sessions per active user are the day's log.
    day = np.floor(log.t).astype(int)
    active = [len(np.unique(log.user[day == d])) for d in range(DAYS)]
    assert every.active_users.tolist() == active
    sessions = np.bincount(day, minlength=DAYS) / np.maximum(active, 1)
    assert np.allclose(every.sessions_per_active_user, sessions)
    # Without newcomers each user's accumulated value only grows, so its mean does.
    assert (np.diff(every.long_term_value) >= 0).all()
    assert every.long_term_value.iloc[-1] > 0
    assert np.isnan(every.retention.iloc[0]) and every.retention.iloc[1:].between(0, 1).all()
    assert np.isclose(
        every.satisfaction.iloc[-1], world.retention.satisfaction[world.user_departed > DAYS].mean()
    )


def test_long_term_value_is_the_true_utility_per_user_of_the_whole_run():
    config = SMALL.replace(retention=RETENTION, perception=PerceptionConfig(appeal=1.0))
    result = run(config, 5)
    utility = result.truth.rows(0, len(result.log))["utility"]
    value = result.metric("long_term_value").iloc[-1]
    assert np.isclose(value, utility.sum() / SMALL.n_users)


def test_appeal_raises_clicks_above_true_utility():
    """Clicks follow perceived attractiveness, the utility metric true attractiveness: with
    appeal on, clicks exceed expected true clicks by far more than their Poisson error."""
    result = run(SMALL.replace(perception=PerceptionConfig(appeal=1.0)), 6, policy=RandomPolicy())
    clicks = result.log.sessions().click.sum()
    utility = result.truth.rows(0, len(result.log))["utility"].sum()
    assert clicks > utility + 4 * np.sqrt(utility)


def test_without_mechanisms_no_user_dynamics_metrics_are_recorded():
    result = run(SMALL, 7)
    assert not set(USER_DYNAMICS_METRICS) & set(result.metrics.metric)
    satiated = run(SMALL.replace(satiation=SatiationConfig(strength=1.0)), 7)
    assert set(USER_DYNAMICS_METRICS) <= set(satiated.metrics.metric)
