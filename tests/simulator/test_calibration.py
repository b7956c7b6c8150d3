"""Worlds calibrated from a log: a round trip through a random policy's log, and bad input.

The round trip: generate a world, log a random policy on it, fit a world to that log, and
compare. A random policy shows every item to every user alike, so the log is an unbiased sample
of the true a_ui and the fit has nothing to untangle but noise.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from policies import RandomPolicy
from simulator import PositionBasedModel, SimulationConfig, World, WorldConfig, simulate, stream
from simulator.calibration import Calibration, CalibrationConfig, calibrate

# Small enough to fit in seconds, dense enough (about 14 clicks a user) that preferences can
# be recovered at all: with one or two clicks a user no method can rank a user's items.
ROUND_TRIP_WORLD = WorldConfig(
    n_users=100,
    n_items=50,
    n_segments=2,
    n_topics=6,
    mean_sessions_per_day=5.0,
    preference_drift=0.0,
    churn=0.0,
)
DAYS = 20
FIT = CalibrationConfig(dim=4)


@pytest.fixture(scope="module", params=[3, 4, 5])
def round_trip(request: pytest.FixtureRequest) -> tuple[World, pd.DataFrame, Calibration]:
    seed = request.param
    world = World.generate(ROUND_TRIP_WORLD, stream(seed, "world"))
    truth = World.generate(ROUND_TRIP_WORLD, stream(seed, "world"))  # `simulate` mutates its world
    log = simulate(
        world, PositionBasedModel(eta=1.0), RandomPolicy(), SimulationConfig(days=DAYS), seed
    )
    df = log.log.to_pandas()
    return truth, df, calibrate(df, FIT, stream(seed, "calibration"))


def fitted_and_true(
    truth: World, df: pd.DataFrame, fit: Calibration
) -> tuple[np.ndarray, np.ndarray]:
    users, items = df["user"].to_numpy(), df["item"].to_numpy()
    u, i = np.searchsorted(fit.user_ids, users), np.searchsorted(fit.item_ids, items)
    fitted = fit.world.slate_attractiveness(u, i[:, None])[:, 0]
    return fitted, truth.slate_attractiveness(users, items[:, None])[:, 0]


def test_attractiveness_ranks_are_recovered_beyond_item_popularity(round_trip) -> None:
    """Spearman(fitted a_ui, true a_ui) over the logged exposures is above 0.5, and the same
    for logits centred on each item's mean above 0.35: item popularity alone scores exactly 0
    there, so this part is the users' preferences.

    On seeds 0-2 (not these) the two were 0.63-0.74 and 0.52-0.63; the margins leave room for
    seed noise while staying far above chance (|rho| < 0.02 for 1e5 unrelated pairs).
    """
    truth, df, fit = round_trip
    fitted, true = fitted_and_true(truth, df, fit)
    assert spearmanr(fitted, true).statistic > 0.5
    by_item = df.assign(fitted=logit(fitted), true=logit(true)).groupby("item")
    centred = [by_item[c].transform(lambda x: x - x.mean()) for c in ("fitted", "true")]
    assert spearmanr(*centred).statistic > 0.35


def logit(a: np.ndarray) -> np.ndarray:
    return np.log(a / (1.0 - a))


def test_clicks_simulated_under_the_logged_exposure_match_the_log(round_trip) -> None:
    """Clicks drawn from the calibrated world on the logged slates (PBM, eta = 1) number as many
    as the log's, within 4 standard deviations of the difference of two independent sums of
    Bernoulli draws with these probabilities (about 1e-4 two-sided)."""
    truth, df, fit = round_trip
    fitted, _ = fitted_and_true(truth, df, fit)
    p = fitted / df["position"].to_numpy()
    simulated = stream(0, "replay").random(len(p)) < p
    sd = np.sqrt(2.0 * np.sum(p * (1.0 - p)))
    assert abs(int(simulated.sum()) - int(df["click"].sum())) < 4.0 * sd
    assert fit.simulated_click_rate == pytest.approx(fit.log_click_rate, rel=1e-9)


def test_a_calibrated_world_runs_the_loop_with_the_logs_activity_and_popularity(
    round_trip,
) -> None:
    """A random policy on the calibrated world sees the log's click rate (4 sd of the two click
    counts, each roughly Poisson), about the log's sessions per day (4 Poisson sd), and item
    popularity that follows the log's (Spearman of click counts per item above 0.3: with about
    28 clicks an item the counts' own Poisson noise limits what a perfect fit could reach)."""
    _, df, fit = round_trip
    world = fit.world
    result = simulate(
        world, PositionBasedModel(eta=1.0), RandomPolicy(), SimulationConfig(days=DAYS), 9
    )
    replay = result.log.to_pandas()
    log_clicks, sim_clicks = int(df["click"].sum()), int(replay["click"].sum())
    assert abs(sim_clicks - log_clicks) < 4.0 * np.sqrt(log_clicks + sim_clicks)
    log_sessions, sim_sessions = df["session"].nunique(), replay["session"].nunique()
    assert abs(sim_sessions - log_sessions) < 4.0 * np.sqrt(2.0 * log_sessions)
    per_item = pd.DataFrame(
        {
            "log": df.groupby("item")["click"].sum().to_numpy(),
            "sim": np.bincount(replay["item"][replay["click"]], minlength=world.n_items_total),
        }
    )
    assert spearmanr(per_item["log"], per_item["sim"]).statistic > 0.3


def test_activity_follows_the_logs_sessions_per_day() -> None:
    """Three sessions in a two-day log are 1.5 a day; a user's slate rows are one session."""
    df = pd.DataFrame(
        {
            "user": [0, 0, 0, 0, 1, 1],
            "item": [0, 1, 0, 1, 1, 0],
            "t": [0.0, 0.0, 1.0, 2.0, 0.5, 1.5],
            "click": [1, 0, 0, 1, 1, 0],
        }
    )
    fit = calibrate(df, CalibrationConfig(dim=2, n_segments=1, n_topics=1), stream(0, "c"))
    np.testing.assert_allclose(fit.world.activity, [1.5, 1.0])
    assert fit.days == 2.0


def test_ratings_without_timestamps_use_counts_and_a_threshold() -> None:
    df = pd.DataFrame({"user": [5, 5, 5, 9], "item": [7, 8, 7, 8], "rating": [5, 2, 4, 1]})
    fit = calibrate(df, CalibrationConfig(dim=2, n_segments=1, n_topics=1, rating_threshold=4))
    assert fit.log_click_rate == 0.5
    assert fit.days is None
    np.testing.assert_allclose(fit.world.activity, [1.5, 0.5])
    assert list(fit.user_ids) == [5, 9] and list(fit.item_ids) == [7, 8]


def test_the_same_generator_gives_the_same_world() -> None:
    df = pd.read_csv(EXAMPLES / "example_interactions.csv")
    config = CalibrationConfig(time="timestamp", time_unit=1 / 86_400, dim=3, n_topics=4)
    first, second = (calibrate(df, config, stream(1, "calibration")) for _ in range(2))
    np.testing.assert_array_equal(first.world.preferences, second.world.preferences)
    np.testing.assert_array_equal(first.world.user_observed, second.world.user_observed)
    assert first.world.offset == second.world.offset


def test_from_interactions_delegates() -> None:
    df = pd.DataFrame({"user": [0, 1, 1], "item": [0, 0, 1], "click": [True, False, True]})
    config = CalibrationConfig(dim=2, n_segments=1, n_topics=1)
    world = World.from_interactions(df, config, stream(0, "c"))
    assert world.n_users == 2 and world.n_items_total == 2


GOOD = {"user": [0, 1], "item": [0, 1], "click": [1, 0], "t": [0.0, 1.0]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"user": None}, "column 'user'"),
        ({"click": None}, "column 'click' or 'rating'"),
        ({"user": [0, -1]}, "user must be non-negative integer ids, got -1.0"),
        ({"item": [0, 1.5]}, "item must be non-negative integer ids, got 1.5"),
        ({"item": [0, np.nan]}, "item must be finite, got nan"),
        ({"click": [1, 2]}, "click must be 0/1 or true/false, got 2.0"),
        ({"t": [0.0, np.inf]}, "t must be finite, got inf"),
        ({"user": ["a", "b"]}, "user must be numeric"),
    ],
)
def test_bad_logs_fail_naming_the_column_and_value(change: dict, message: str) -> None:
    columns = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    with pytest.raises(ValueError, match=message.replace("(", r"\(")) as error:
        calibrate(pd.DataFrame(columns))
    assert "\n" not in str(error.value)


def test_an_empty_log_fails() -> None:
    with pytest.raises(ValueError, match="empty"):
        calibrate(pd.DataFrame({"user": [], "item": [], "click": []}))


def test_a_log_without_clicks_cannot_be_calibrated() -> None:
    """No click rate above 0 to match: the offset would run to minus infinity."""
    with pytest.raises(ValueError, match="click rate must lie strictly between 0 and"):
        calibrate(pd.DataFrame({"user": [0, 1], "item": [0, 1], "click": [0, 0]}))


def test_bad_config_fails() -> None:
    with pytest.raises(ValueError, match="dim"):
        CalibrationConfig(dim=0)


EXAMPLES = Path(__file__).parents[2] / "experiments" / "data"


def test_the_shipped_example_is_what_its_script_writes() -> None:
    script = runpy.run_path(str(EXAMPLES / "make_example_interactions.py"))
    shipped = pd.read_csv(EXAMPLES / "example_interactions.csv")
    pd.testing.assert_frame_equal(shipped, script["example_interactions"](), check_dtype=False)


def test_the_calibrated_loop_example_runs() -> None:
    """The docs' example: a loop on the world calibrated from the shipped log clicks at all."""
    ctr = runpy.run_path(str(EXAMPLES / "calibrated_loop.py"))["main"](days=2)
    assert set(ctr) == {"log", "random", "popularity"}
    assert all(0.0 < value < 0.2 for value in ctr.values())
