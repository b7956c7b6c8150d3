"""Stateful retraining of the LightGBM policy: a continuation trains only on the newly labelled
sessions with the first window's bucket edges, a full refit comes every `warm_start_every`
fits, runs stay deterministic, and the simulator hands the copy in service to `fit_from`."""

import numpy as np
import pytest

from policies import (
    WRAPPERS,
    ContinuesTraining,
    EpsilonGreedy,
    LightGBMPolicy,
    LightGBMTimings,
    PopularityPolicy,
    RandomPolicy,
    RandomTraffic,
    Retrieval,
    TwoFactorLightGBM,
    make_policy,
)
from policies.checks import check_policy
from simulator import (
    PositionBasedModel,
    Requests,
    SimulationConfig,
    TrainingData,
    World,
    WorldConfig,
    simulate,
    stream,
)

TINY = WorldConfig(n_users=500, n_items=150, n_segments=2)
FAST = SimulationConfig(days=4, ticks_per_day=4)
SMALL = {"n_trees": 20, "min_data_in_leaf": 20}


@pytest.fixture(scope="module")
def logged() -> list[TrainingData]:
    """Training data as of the ends of days 2, 3 and 4 of a randomly logged tiny world."""
    world = World.generate(TINY, stream(0, "world"))
    log = simulate(world, PositionBasedModel(), RandomPolicy(), FAST, seed=0).log
    return [TrainingData(log.labelled(t, t), world.features, t, 0.0) for t in (2.0, 3.0, 4.0)]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"warm_start_every": 0}, "warm_start_every must be an integer >= 1, got 0"),
        ({"warm_start_every": 2.5}, "warm_start_every must be an integer >= 1, got 2.5"),
        ({"warm_start_trees": 0}, "warm_start_trees must be an integer >= 1, got 0"),
    ],
)
def test_bad_parameters(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LightGBMPolicy(**options)


def test_two_factor_model_refuses_warm_starts() -> None:
    with pytest.raises(ValueError, match="warm_start_every is not an option of the two-factor"):
        TwoFactorLightGBM(warm_start_every=3)


def test_continuation_trains_only_on_newly_labelled_sessions(logged) -> None:
    _, day3, day4 = logged
    timings = LightGBMTimings()
    first = LightGBMPolicy(warm_start_every=5, timings=timings, **SMALL).fit_from(None, day3)
    rows_of_refit = timings.n_training_rows
    second = LightGBMPolicy(warm_start_every=5, timings=timings, **SMALL).fit_from(first, day4)
    new = day4.impressions.label_time > 3.0
    assert 0 < new.sum() < len(day4)
    assert first.continued_sessions_ is None
    assert second.continued_sessions_ == new.sum()
    # every kept row is an impression of a new session: at most k per new session
    continued_rows = timings.n_training_rows - rows_of_refit
    assert 0 < continued_rows <= new.sum() * day4.impressions.slate_size
    assert continued_rows < rows_of_refit
    assert second.booster_.num_trees() == SMALL["n_trees"] + 10
    assert second.builder_.edges_ is first.builder_.edges_
    assert first.booster_.num_trees() == SMALL["n_trees"]  # the one in service is untouched


def test_full_refit_every_n_fits(logged) -> None:
    days = logged
    previous = None
    continued, trees = [], []
    for data in [*days, *days]:
        policy = LightGBMPolicy(warm_start_every=3, warm_start_trees=4, **SMALL)
        previous = policy.fit_from(previous, data)
        continued.append(previous.n_continued_)
        trees.append(previous.booster_.num_trees())
    assert continued == [0, 1, 2, 0, 1, 2]
    assert trees == [20, 24, 28, 20, 24, 28]


def test_off_by_default_fit_from_is_fit(logged) -> None:
    _, day3, day4 = logged
    first = LightGBMPolicy(**SMALL).fit(day3)
    assert isinstance(first, ContinuesTraining)
    assert LightGBMPolicy(**SMALL).fit_from(first, day4).continued_sessions_ is None
    np.testing.assert_array_equal(
        scored(LightGBMPolicy(**SMALL).fit_from(first, day4), day4),
        scored(LightGBMPolicy(**SMALL).fit(day4), day4),
    )


def scored(policy: LightGBMPolicy, data: TrainingData) -> np.ndarray:
    """The policy's scores of every live item for the data's first 50 users (fills its table)."""
    users = np.unique(data.impressions.user)[:50].astype(np.int64)
    requests = Requests(
        t=np.full(len(users), data.now),
        user=users,
        segment=np.zeros(len(users), dtype=np.int64),
        features=data.features,
    )
    scores = policy.score(requests, data.features.live_items())
    assert len(policy.table_) > 0
    return scores


def test_continuation_with_an_examination_curve_predicts_probabilities(logged) -> None:
    _, day3, day4 = logged
    curve = 1.0 / np.arange(1, day3.impressions.slate_size + 1)
    options = {"warm_start_every": 2, "examination": curve, **SMALL}
    first = LightGBMPolicy(**options).fit(day3)
    second = LightGBMPolicy(**options).fit_from(first, day4)
    assert second.base_score_ == first.base_score_
    scores = scored(second, day4)
    assert np.all((scores >= 0) & (scores <= 1))


def test_check_policy_passes() -> None:
    check_policy(LightGBMPolicy(warm_start_every=2, **SMALL))


def test_continuation_reaches_through_wrappers(logged) -> None:
    """A fix wrapped around a stateful model keeps it stateful, through any stack of wrappers;
    around a model that cannot continue, `fit_from` is `fit`."""
    _, day3, day4 = logged

    def stack(model):
        return Retrieval(RandomTraffic(EpsilonGreedy(model, 0.1), 0.05), n_candidates=100)

    first = stack(LightGBMPolicy(warm_start_every=5, **SMALL)).fit_from(None, day3)
    second = stack(LightGBMPolicy(warm_start_every=5, **SMALL)).fit_from(first, day4)
    assert first.continued_sessions_ is None
    assert second.continued_sessions_ == (day4.impressions.label_time > 3.0).sum()
    assert second.inner.inner.inner.booster_.num_trees() == SMALL["n_trees"] + 10
    popularity = stack(PopularityPolicy()).fit_from(stack(PopularityPolicy()).fit(day3), day4)
    assert popularity.continued_sessions_ is None
    np.testing.assert_array_equal(
        popularity.inner.inner.inner.clicks_, PopularityPolicy().fit(day4).clicks_
    )


@pytest.mark.parametrize("name", sorted(WRAPPERS))
def test_every_registered_wrapper_passes_continuation_through(logged, name: str) -> None:
    """Each wrapper's own `fit` must fit its inner policy with `fit_inner`: one that called
    `inner.fit` would silently refit a stateful model from scratch."""
    _, day3, day4 = logged
    world = World.generate(TINY, stream(0, "world"))
    params = {"steps": 0.0} if name == "random_startup" else {}

    def make():
        options = {"warm_start_every": 5, **SMALL}
        return make_policy("lightgbm", world, wrappers=[(name, params)], **options)

    second = make().fit_from(make().fit_from(None, day3), day4)
    assert second.continued_sessions_ == (day4.impressions.label_time > 3.0).sum()
    assert second.inner.booster_.num_trees() == SMALL["n_trees"] + 10


def run(every: int | None, seed: int, wrap=lambda model: model):
    world = World.generate(TINY, stream(seed, "world"))
    policy = wrap(LightGBMPolicy(warm_start_every=every, seed=seed, **SMALL))
    return simulate(world, PositionBasedModel(), policy, FAST, seed=seed)


def trained(result) -> np.ndarray:
    m = result.metrics
    return m[m.metric == "trained_sessions"].value.to_numpy()


@pytest.mark.parametrize("seed", [0, 1])
def test_loop_is_deterministic_and_trains_on_fewer_sessions(seed: int) -> None:
    stateful, again = run(4, seed), run(4, seed)
    np.testing.assert_array_equal(stateful.log.sessions().item, again.log.sessions().item)
    stateless = trained(run(None, seed))
    # day 1's model is a refit on the whole (one-day) log; later days continue on one day
    assert trained(stateful)[1] == stateless[1]
    assert (trained(stateful)[2:] < stateless[2:]).all()


def test_a_wrapped_stateful_model_trains_statefully_in_the_loop() -> None:
    wrapped = run(4, 0, lambda model: EpsilonGreedy(model, 0.1))
    stateless = run(None, 0, lambda model: EpsilonGreedy(model, 0.1))
    assert (trained(wrapped)[2:] < trained(stateless)[2:]).all()
