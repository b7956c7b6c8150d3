"""Oracle truth: the per-user cache equals per-session scoring through churn, drift, consumption
and rotations; the sampled estimate is unbiased with an interval that covers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from policies import PopularityPolicy, RandomPolicy
from simulator import PositionBasedModel, SimulationConfig, World, WorldConfig, simulate, stream
from simulator.shifts import rotation_in_plane
from simulator.truth import OracleTruth, sampled_mean_interval


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cached_truth_equals_exact_as_the_world_moves(seed: int) -> None:
    world = World.generate(WorldConfig(n_users=200, n_items=150, churn=0.2), stream(seed, "w"))
    model, k = PositionBasedModel(eta=1.0), 5
    exact, cached = OracleTruth(world, model, k), OracleTruth(world, model, k, mode="cached")
    rng = np.random.default_rng(seed)
    consumed = np.zeros((world.n_users, 1000), dtype=bool)
    for step in range(12):
        users = rng.integers(0, world.n_users, size=120)  # repeats: users come back
        blocked = consumed[users][:, world.live_items]
        np.testing.assert_allclose(cached(users, blocked), exact(users, blocked), rtol=1e-12)
        slates = world.live_items[rng.integers(0, len(world.live_items), size=(120, k))]
        clicks = rng.random((120, k)) < 0.05
        world.update_preferences(users, slates, clicks)
        rows, positions = np.nonzero(clicks)
        consumed[users[rows], slates[rows, positions]] = True
        cached.forget(users[rows])
        if step % 3 == 2:
            world.churn(float(step), rng)
        if step == 7:
            u, v = np.eye(world.config.dim)[:2]
            world.rotate_items(rotation_in_plane(u, v, 0.3))


def test_sampled_truth_scores_a_binomial_share_of_sessions() -> None:
    world = World.generate(WorldConfig(n_users=500, n_items=100), stream(0, "w"))
    model, rate, n = PositionBasedModel(eta=1.0), 0.2, 5000
    users = np.random.default_rng(1).integers(0, 500, size=n)
    sampled = OracleTruth(world, model, 5, "sampled", rate, np.random.default_rng(2))(users, None)
    exact = OracleTruth(world, model, 5)(users, None)
    scored = ~np.isnan(sampled)
    # 4 binomial standard deviations
    assert abs(scored.sum() - rate * n) < 4 * np.sqrt(n * rate * (1 - rate))
    np.testing.assert_allclose(sampled[scored], exact[scored], rtol=1e-12)


@pytest.mark.parametrize("rate", [0.05, 0.3])
def test_sampled_mean_is_unbiased_and_its_interval_covers(rate: float) -> None:
    values = np.random.default_rng(3).exponential(size=400)
    rng = np.random.default_rng(int(rate * 100))
    estimates, covered, n_runs = [], 0, 2000
    for _ in range(n_runs):
        mean, low, high = sampled_mean_interval(np.where(rng.random(400) < rate, values, np.nan))
        estimates.append(mean)
        covered += low <= values.mean() <= high
    spread = np.nanstd(estimates) / np.sqrt(n_runs)
    assert abs(np.nanmean(estimates) - values.mean()) < 4 * spread
    # nominal 95%, with 4 binomial standard deviations of 2000 runs, and some slack for the
    # normal approximation at small samples
    assert covered / n_runs > 0.95 - 4 * np.sqrt(0.95 * 0.05 / n_runs) - 0.02


def test_a_run_with_cached_truth_reports_the_exact_regret() -> None:
    def regret(truth: str) -> pd.Series:
        world = World.generate(WorldConfig(n_users=400, n_items=120), stream(0, "world"))
        config = SimulationConfig(days=4, truth=truth, exclude_consumed=True)
        result = simulate(world, PositionBasedModel(eta=1.0), PopularityPolicy(), config)
        return result.metric("regret")

    np.testing.assert_allclose(regret("cached"), regret("exact"), rtol=1e-12)


def test_a_run_with_sampled_truth_changes_nothing_else() -> None:
    def run(truth: str) -> pd.DataFrame:
        world = World.generate(WorldConfig(n_users=400, n_items=120), stream(0, "world"))
        config = SimulationConfig(days=3, truth=truth, truth_sample_rate=0.1)
        return simulate(world, PositionBasedModel(eta=1.0), RandomPolicy(), config).metrics

    exact, sampled = run("exact"), run("sampled")
    others = ~exact.metric.isin(["regret", "oracle_utility"])
    pd.testing.assert_frame_equal(sampled[others], exact[others], check_exact=True)
    assert sampled[~others].value.notna().all()
