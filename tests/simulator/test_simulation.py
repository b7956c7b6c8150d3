"""The loop against its model: arrivals, clicks, labels, serving modes, reproducibility."""

from __future__ import annotations

import math
from typing import Self

import numpy as np
import pandas as pd

from policies import OraclePolicy, PopularityPolicy, RandomPolicy
from simulator import (
    MetricSettings,
    PositionBasedModel,
    ServedModel,
    SimulationConfig,
    TrainingData,
    World,
    WorldConfig,
    simulate,
    stream,
)


def run(config: WorldConfig, policy_name: str = "random", seed: int = 0, **sim):
    world = World.generate(config, stream(seed, "world"))
    policy = {
        "random": RandomPolicy(),
        "popularity": PopularityPolicy(),
        "oracle": OraclePolicy(world),
    }[policy_name]
    return simulate(world, PositionBasedModel(eta=1.0), policy, SimulationConfig(**sim), seed)


class Spy:
    """Records what each fit saw; deep copies share one record, so the simulator's clones report."""

    def __init__(self) -> None:
        self.fits: list[tuple[float, TrainingData]] = []

    def __deepcopy__(self, memo: dict) -> Self:
        return self

    def fit(self, data: TrainingData) -> Self:
        self.fits.append((data.now, data))
        return self

    def rank(self, requests, candidates, k, rng):
        return RandomPolicy().rank(requests, candidates, k, rng)


def test_per_position_ctr_is_examination_times_attractiveness(static_world) -> None:
    """Under a random policy, clicks at position r have mean theta_r * a (PBM, eta = 1).

    Given the shown items, clicks at r are a sum of independent Bernoulli(theta_r a_ui); a
    deviation beyond 4 standard deviations at any of 10 positions has probability < 1e-3.
    """
    result = run(static_world, days=10)
    clicks = result.log.sessions().click
    truth = result.truth.rows(0, len(result.log))
    theta = PositionBasedModel(eta=1.0).examination(10)
    p = truth["shown_attractiveness"].astype(float) * theta
    z = (clicks.sum(axis=0) - p.sum(axis=0)) / np.sqrt((p * (1 - p)).sum(axis=0))
    assert np.all(np.abs(z) < 4), z
    ctr_over_theta = clicks.mean(axis=0) / theta
    mean_a = truth["shown_attractiveness"].mean()
    assert np.allclose(ctr_over_theta[:3], mean_a, rtol=0.15), (ctr_over_theta, mean_a)


def test_arrivals_follow_poisson_rates(small_world) -> None:
    """Session counts per segment and per activity bucket match their Poisson means (|z| < 4)."""
    days = 20
    result = run(small_world, days=days)
    world = result.world
    sessions = result.log.sessions()
    expected_total = world.total_rate * days
    assert abs(len(sessions) - expected_total) < 4 * np.sqrt(expected_total)
    for s in range(small_world.n_segments):
        expected = expected_total * world.arrival_shares[s]
        observed = np.sum(sessions.segment == s)
        assert abs(observed - expected) < 4 * np.sqrt(expected)
    bucket = world.activity_bucket[sessions.user]
    for b in range(small_world.activity_buckets):
        expected = world.activity[world.activity_bucket == b].sum() * days
        observed = np.sum(bucket == b)
        assert abs(observed - expected) < 4 * np.sqrt(expected)


def test_session_times_are_sorted_and_within_the_run(small_world) -> None:
    t = run(small_world, days=3).log.sessions().t
    assert np.all(np.diff(t) >= 0) and t.min() >= 0 and t.max() < 3


def test_same_seed_gives_identical_log_and_metrics(small_world) -> None:
    first, second = (run(small_world, "popularity", seed=7, days=4) for _ in range(2))
    pd.testing.assert_frame_equal(first.log.to_pandas(), second.log.to_pandas())
    pd.testing.assert_frame_equal(first.metrics, second.metrics)
    other = run(small_world, "popularity", seed=8, days=4)
    assert not first.log.to_pandas().equals(other.log.to_pandas())


def test_policy_change_leaves_arrivals_unchanged(small_world) -> None:
    """Named streams: the same users arrive at the same times whatever the policy shows."""
    logs = [run(small_world, name, days=5).log.sessions() for name in ("random", "oracle")]
    assert np.array_equal(logs[0].t, logs[1].t)
    assert np.array_equal(logs[0].user, logs[1].user)
    assert not np.array_equal(logs[0].item, logs[1].item)


def test_oracle_never_below_another_policy_on_the_same_sessions(static_world) -> None:
    oracle = run(static_world, "oracle", days=5)
    for name in ("random", "popularity"):
        other = run(static_world, name, days=5)
        n = len(oracle.log)
        mine = oracle.truth.rows(0, n)["utility"]
        theirs = other.truth.rows(0, n)["utility"]
        assert np.all(mine >= theirs - 1e-9)
        assert mine.mean() > 2 * theirs.mean()


def test_utility_never_exceeds_oracle_utility_within_a_run(small_world) -> None:
    result = run(small_world, "popularity", days=5, exclude_consumed=True)
    truth = result.truth.rows(0, len(result.log))
    assert np.all(truth["utility"] <= truth["oracle_utility"] + 1e-9)
    regret = result.metric("regret")
    assert (regret >= -1e-9).all()


def test_training_sees_only_arrived_labels(small_world) -> None:
    world = World.generate(small_world.replace(label_delay=0.7), stream(0, "world"))
    spy = Spy()
    simulate(world, PositionBasedModel(), spy, SimulationConfig(days=5, window=3.0), seed=0)
    assert len(spy.fits) == 5  # the initial fit at t=0 plus 4 daily retrains
    for now, data in spy.fits[1:]:
        assert len(data) > 0
        assert data.impressions.label_time.max() <= now
        assert data.impressions.t.min() >= now - 3.0
    # with a mean delay of 0.7 days, a good share of the last day's sessions is still unlabelled
    now, data = spy.fits[-1]
    last_day = np.sum(data.impressions.t >= now - 1)
    assert last_day < 0.75 * np.sum(
        (data.impressions.t >= now - 2) & (data.impressions.t < now - 1)
    )


def test_retrain_without_labels_keeps_previous_model(small_world) -> None:
    world = World.generate(small_world.replace(label_delay=1e9), stream(0, "world"))
    result = simulate(
        world, PositionBasedModel(), PopularityPolicy(), SimulationConfig(days=3, window=math.inf)
    )
    deployments = result.deployments
    assert deployments.kept_previous.tolist() == [False, True, True]
    assert set(result.log.sessions().model_version) == {0}


def test_training_duration_keeps_old_model_serving(small_world) -> None:
    result = run(small_world, "popularity", days=4, training_days=0.5)
    deployed = result.deployments[~result.deployments.kept_previous]
    assert deployed.t.tolist() == [0.0, 1.5, 2.5, 3.5]
    sessions = result.log.sessions()
    expected_version = np.searchsorted(deployed.t.to_numpy(), sessions.t, side="right") - 1
    # a model deployed mid-tick starts serving at the next tick
    tick = 1 / 32
    away_from_deploy = np.min(np.abs(sessions.t[:, None] - deployed.t.to_numpy()), axis=1) > tick
    assert np.array_equal(
        sessions.model_version[away_from_deploy], expected_version[away_from_deploy]
    )


def test_per_segment_models_train_and_serve_their_own_segment(small_world) -> None:
    world = World.generate(small_world, stream(0, "world"))
    spies = [Spy(), Spy()]
    models = [
        ServedModel(spies[0], name="a", segments=(0,), retrain_every=1.0),
        ServedModel(spies[1], name="b", segments=(1,), retrain_every=2.0),
    ]
    result = simulate(world, PositionBasedModel(), models, SimulationConfig(days=5))
    assert [len(s.fits) for s in spies] == [5, 3]
    for segment, spy in enumerate(spies):
        for _, data in spy.fits[1:]:
            assert set(data.impressions.segment) == {segment}
    deployments = result.deployments
    sessions = result.log.sessions()
    for segment, name in enumerate("ab"):
        versions = set(deployments.model_version[deployments.model == name])
        assert set(sessions.model_version[sessions.segment == segment]) <= versions


def test_batch_serving_reuses_precomputed_slates(static_world) -> None:
    result = run(static_world, "oracle", days=3, serving="batch")
    frame = result.log.sessions()
    # a deterministic policy's precomputed slate is identical across a user's sessions of a day
    day = np.floor(frame.t).astype(int)
    for user in np.unique(frame.user)[:50]:
        for d in range(3):
            rows = (frame.user == user) & (day == d)
            if rows.sum() > 1:
                assert (frame.item[rows] == frame.item[rows][0]).all()


def test_no_retired_item_is_ever_shown(small_world) -> None:
    churny = small_world.replace(churn=0.2)
    for serving in ("online", "batch"):
        result = run(churny, "oracle", days=4, serving=serving)
        sessions = result.log.sessions()
        retired = result.world.item_retired[sessions.item]
        born = result.world.item_birth[sessions.item]
        assert np.all(retired > sessions.t[:, None]) and np.all(born <= sessions.t[:, None])


def test_exclude_consumed_never_shows_a_clicked_item_again(small_world) -> None:
    result = run(small_world, "oracle", days=4, exclude_consumed=True)
    log = result.log.to_pandas()
    log["tick"] = np.floor(log.t * 32)
    first_click = log[log.click].groupby(["user", "item"]).tick.min().rename("clicked_tick")
    shown = log.join(first_click, on=["user", "item"], how="inner")
    assert len(shown) > 0
    assert (shown.tick <= shown.clicked_tick).all()


def test_parquet_export_round_trips(small_world, tmp_path) -> None:
    result = run(small_world, days=2)
    path = tmp_path / "log.parquet"
    result.log.to_parquet(path)
    back = pd.read_parquet(path)
    frame = result.log.to_pandas()
    pd.testing.assert_frame_equal(back, frame)
    assert list(frame.columns) == [
        "session",
        "t",
        "user",
        "segment",
        "item",
        "position",
        "propensity",
        "score",
        "click",
        "label_time",
        "model_version",
    ]
    assert frame.position.min() == 1 and frame.position.max() == 10
    assert (frame.propensity == 1 / 120).all()


def test_daily_metrics_are_tidy_with_every_segment(small_world) -> None:
    metrics = run(small_world, days=3).metrics
    assert list(metrics.columns) == ["day", "segment", "metric", "value"]
    assert set(metrics.segment) == {"all", "0", "1"}
    assert set(metrics.day) == {0, 1, 2}
    assert set(metrics.metric) >= {
        "ctr",
        "utility",
        "oracle_utility",
        "regret",
        "coverage",
        "exposure_gini",
        "popularity_bias",
        "homogenization",
        "preference_similarity",
    }
    assert len(metrics) == len(metrics.drop_duplicates(["day", "segment", "metric"]))


def test_metric_settings_change_only_the_metrics_that_read_them(small_world) -> None:
    """Settings travel with the metrics: the run, and every metric not looking back, is as is."""

    def run_with(**settings: float) -> pd.Series:
        world = World.generate(small_world, stream(0, "world"))
        config, settings_ = SimulationConfig(days=3), MetricSettings(**settings)
        result = simulate(
            world, PositionBasedModel(), RandomPolicy(), config, metric_settings=settings_
        )
        return result.metrics.set_index(["day", "segment", "metric"]).value

    base, short = run_with(), run_with(popularity_window=1.0, homogenization_window=1.0)
    looking_back = ["popularity_bias", "homogenization", "long_tail_share", "hit_rate_head"]
    looking_back += ["hit_rate_tail"]
    same = ~base.index.get_level_values("metric").isin(looking_back)
    pd.testing.assert_series_equal(base[same], short[same])
    assert base[(2, "all", "popularity_bias")] != short[(2, "all", "popularity_bias")]
    assert base[(2, "all", "homogenization")] != short[(2, "all", "homogenization")]


def test_popularity_loop_concentrates_exposure_where_random_does_not(small_world) -> None:
    """Greedy popularity shows one slate to all: coverage k / n_items, Gini near 1."""
    loop = run(small_world, "popularity", days=5)
    fair = run(small_world, "random", days=5)
    assert loop.metric("coverage").iloc[-1] <= 10 / 120 + 1e-9
    assert loop.metric("exposure_gini").iloc[-1] > 0.9
    assert fair.metric("coverage").iloc[-1] > 0.95
    assert fair.metric("exposure_gini").iloc[-1] < 0.3
    assert abs(fair.metric("popularity_bias").iloc[-1] - 0.5) < 0.05
    assert loop.metric("popularity_bias").iloc[-1] > 0.9


def test_consumption_dynamics_pull_clickers_toward_what_they_clicked(small_world) -> None:
    world = World.generate(small_world.replace(preference_drift=0.3), stream(0, "world"))
    users, slate = np.array([0, 1]), np.array([[5, 6], [5, 6]])
    before = world.preferences[[0, 1]] @ world.item_latent[[5, 6]].T
    world.update_preferences(users, slate, np.array([[True, False], [False, False]]))
    after = world.preferences[[0, 1]] @ world.item_latent[[5, 6]].T
    assert after[0, 0] > before[0, 0]  # pulled toward the clicked item
    np.testing.assert_array_equal(after[1], before[1])  # no click, no move
    np.testing.assert_allclose(np.linalg.norm(world.preferences[[0, 1]], axis=1), 1.0)


def test_interest_dynamics_push_away_from_ignored_items(small_world) -> None:
    config = small_world.replace(dynamics="interest", preference_drift=0.3)
    world = World.generate(config, stream(0, "world"))
    before = world.preferences[0] @ world.item_latent[6]
    world.update_preferences(np.array([0]), np.array([[5, 6]]), np.array([[False, False]]))
    assert world.preferences[0] @ world.item_latent[6] < before


def test_static_world_keeps_preferences(small_world) -> None:
    static = run(small_world.replace(preference_drift=0.0), "popularity", days=3)
    assert static.metric("preference_similarity").nunique() == 1
