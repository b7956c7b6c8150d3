"""Examination-curve estimators: recovery, bootstrap intervals and their coverage,
identifiability warnings and the click-model check, on synthetic logs built in a few lines."""

from __future__ import annotations

import warnings

import matplotlib
import numpy as np
import pytest
from scipy.special import expit

from policies import LightGBMPolicy, PopularityPolicy, TwoFactorCurve
from policies.examination import (
    AllPairs,
    ClickModelWarning,
    CurveEstimate,
    NotIdentifiableWarning,
    RegressionEM,
    SwapEstimator,
    bootstrap,
    check_position_based,
    identifying_support,
)
from simulator import (
    CascadeModel,
    Impressions,
    PositionBasedModel,
    SimulationConfig,
    TrainingData,
    World,
    WorldConfig,
    simulate,
    stream,
)

matplotlib.use("Agg")
K = 10
FAST = [SwapEstimator, AllPairs, RegressionEM]


def synthetic_log(
    seed: int,
    eta: float = 1.0,
    n_sessions: int = 20_000,
    n_users: int = 2000,
    n_items: int = 60,
    ranking: str = "random",
    clicks: str = "pbm",
) -> Impressions:
    """Sessions of users with their own taste for each item (attractiveness 0.05-0.9) shown
    `ranking` = ``"random"`` slates (propensity k / n_items... any value below 1) or each
    user's own top ten (``"personal"``, propensity 1), clicks from PBM(eta) or the cascade."""
    rng = np.random.default_rng(seed)
    taste = expit(rng.normal(-1.0, 1.5, size=(n_users, n_items)))
    user = rng.integers(n_users, size=n_sessions)
    if ranking == "random":
        items = np.argsort(rng.random((n_sessions, n_items)), axis=1)[:, :K]
        propensity = np.full((n_sessions, K), 1.0 / n_items)
    else:
        items = np.argsort(-taste, axis=1)[:, :K][user]
        propensity = np.ones((n_sessions, K))
    a = taste[user[:, None], items]
    model = PositionBasedModel(eta) if clicks == "pbm" else CascadeModel()
    return Impressions(
        session=np.arange(n_sessions),
        t=np.zeros(n_sessions),
        user=user.astype(np.int32),
        segment=(user % 2).astype(np.int8),
        label_time=np.zeros(n_sessions),
        model_version=np.zeros(n_sessions, dtype=np.int32),
        item=items.astype(np.int32),
        propensity=propensity,
        score=np.zeros((n_sessions, K), dtype=np.float32),
        click=model.respond(a, rng),
    )


# ---------------------------------------------------------------------- recovery
@pytest.mark.parametrize("estimator", FAST)
@pytest.mark.parametrize(("eta", "seed"), [(0.6, 5), (1.3, 6), (1.9, 7)])
def test_estimators_recover_the_curve_of_random_logs(estimator, eta: float, seed: int) -> None:
    """20,000 random sessions at a mean attractiveness near 0.3: position 5 gets
    20,000 x 0.3 x 5^-eta clicks, >= 280 at eta = 1.9 (about 6% error on the ratio); 15% at
    positions 1-5 is 2.5 standard errors of the worst position at eta = 1.9, more elsewhere."""
    curve = estimator().fit(synthetic_log(seed, eta)).curve_
    true = PositionBasedModel(eta).examination(K)
    np.testing.assert_allclose(curve[:5], true[:5], rtol=0.15 if eta > 1.5 else 0.10)


# ---------------------------------------------------------------------- intervals
def test_bootstrap_result_is_tidy_and_reproducible() -> None:
    log = synthetic_log(1, n_sessions=4000)
    first = bootstrap(SwapEstimator(), log, np.random.default_rng(3), n_bootstrap=20)
    again = bootstrap(SwapEstimator(), log, np.random.default_rng(3), n_bootstrap=20)
    frame = first.to_frame()
    assert list(frame.columns) == [
        "position",
        "estimate",
        "ci_low",
        "ci_high",
        "support",
        "identified",
    ]
    assert frame["position"].tolist() == list(range(1, K + 1))
    assert (frame["ci_low"] <= frame["estimate"] + 1e-12).all()
    assert (frame["estimate"] <= frame["ci_high"] + 1e-12).all()
    assert frame["identified"].all()
    np.testing.assert_array_equal(first.ci_low, again.ci_low)
    assert "ci_high" in str(first) and "SwapEstimator" in str(first)
    assert first.plot(truth=PositionBasedModel().examination(K)).get_xlabel() == "position"


def test_bad_bootstrap_inputs_name_the_field() -> None:
    log = synthetic_log(1, n_sessions=100)
    with pytest.raises(ValueError, match="unit"):
        bootstrap(SwapEstimator(), log, np.random.default_rng(0), unit="impression")
    with pytest.raises(ValueError, match="n_bootstrap"):
        bootstrap(SwapEstimator(), log, np.random.default_rng(0), n_bootstrap=1)
    with pytest.raises(ValueError, match="ci_low"):
        CurveEstimate(
            "x", np.ones(3), np.ones(2), np.ones(3), np.ones(3, int), np.ones(3, bool), 0.95, 2
        )


@pytest.mark.slow
@pytest.mark.parametrize("estimator", [SwapEstimator, RegressionEM])
def test_intervals_cover_the_truth_about_95_percent_of_the_time(estimator) -> None:
    """30 independent logs, positions 2-5 each: 120 intervals, not independent within a log.
    At 95% coverage the count of misses of 30 logs at one position is Binomial(30, 0.05), mean
    1.5, so the share covered over all four positions falls below 0.85 with probability well
    under 1% (and percentile intervals of a ratio are a little conservative, not liberal)."""
    true = PositionBasedModel(1.0).examination(K)[1:5]
    covered = []
    for seed in range(30):
        log = synthetic_log(100 + seed, n_sessions=3000, n_users=600)
        rng = np.random.default_rng(seed)
        result = bootstrap(estimator(), log, rng, n_bootstrap=50)
        covered.append((result.ci_low[1:5] <= true) & (true <= result.ci_high[1:5]))
    share = np.mean(covered)
    assert 0.85 <= share <= 1.0, share


# ---------------------------------------------------------------------- identifiability
@pytest.mark.parametrize("estimator", FAST)
def test_a_personalised_deterministic_log_warns(estimator) -> None:
    log = synthetic_log(2, ranking="personal", n_sessions=5000)
    assert (identifying_support(log, across_versions=True) == 0).all()
    with pytest.warns(NotIdentifiableWarning, match="not identifiable at positions"):
        fitted = estimator().fit(log)
    assert not fitted.identified_[1:].any()


def test_a_randomised_log_does_not_warn() -> None:
    log = synthetic_log(3, n_sessions=3000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NotIdentifiableWarning)
        for estimator in FAST:
            assert estimator().fit(log).identified_.all()


# ---------------------------------------------------------------------- click model check
@pytest.mark.parametrize("seed", [11, 12, 13])
def test_cascade_clicks_fail_the_position_based_check(seed: int) -> None:
    with pytest.warns(ClickModelWarning, match="do not look position-based"):
        check = check_position_based(synthetic_log(seed, n_sessions=5000, clicks="cascade"))
    assert not check.consistent and check.multi_click_observed == 0
    assert check.clicks_below_a_click == 0.0


@pytest.mark.parametrize(("eta", "seed"), [(0.5, 21), (1.0, 22), (2.0, 23)])
def test_position_based_clicks_pass_it(eta: float, seed: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ClickModelWarning)
        check = check_position_based(synthetic_log(seed, eta, n_sessions=5000))
    assert check.consistent and check.clicks_below_a_click > 0


@pytest.fixture(scope="module", params=["popularity", "greedy_lightgbm"])
def one_ranker_log(request) -> TrainingData:
    """One deterministic version's sessions (day 1; day 0 was served at random)."""
    world = World.generate(WorldConfig(n_users=500, n_items=100, n_segments=2), stream(4, "w"))
    policy = PopularityPolicy() if request.param == "popularity" else LightGBMPolicy(n_trees=10)
    result = simulate(
        world, PositionBasedModel(), policy, SimulationConfig(days=2, ticks_per_day=4)
    )
    log = result.log.sessions()
    return TrainingData(log.subset(log.model_version == 1), world.features, 2.0)


@pytest.mark.parametrize("estimator", [*FAST, lambda: TwoFactorCurve(n_trees=10)])
def test_every_estimator_warns_on_one_deterministic_rankers_log(one_ranker_log, estimator):
    with pytest.warns(NotIdentifiableWarning, match="not identifiable at positions"):
        fitted = estimator().fit(one_ranker_log)
    assert not fitted.identified_[1:].any()
