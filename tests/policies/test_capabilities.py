"""Optional capabilities are declared (runtime-checkable protocols), not guessed by class."""

from __future__ import annotations

import numpy as np

from policies import (
    EpsilonGreedy,
    EstimatesExamination,
    LightGBMPolicy,
    PopularityPolicy,
    PredictsClicks,
    RandomPolicy,
    RandomTraffic,
    ReportsPropensities,
    estimated_examination,
    position_probabilities,
    predicts_clicks,
)
from simulator import ImpressionLog, TrainingData, World, WorldConfig, stream


class Curved(PopularityPolicy):
    """A scorer that claims an examination curve and click-probability scores."""

    scores_are_click_probabilities = True
    examination_ = (1.0, 0.5)


def test_answers_match_the_attributes_a_policy_declares() -> None:
    assert not predicts_clicks(PopularityPolicy()) and estimated_examination(RandomPolicy()) is None
    assert predicts_clicks(Curved()) and isinstance(Curved(), PredictsClicks)
    np.testing.assert_array_equal(estimated_examination(Curved()), [1.0, 0.5])
    # Wrappers show their inner policy's answers, whatever it is.
    assert predicts_clicks(EpsilonGreedy(Curved())) and not predicts_clicks(
        EpsilonGreedy(RandomPolicy())
    )
    assert isinstance(RandomTraffic(PopularityPolicy()), EstimatesExamination)
    assert estimated_examination(RandomTraffic(PopularityPolicy())) is None
    np.testing.assert_array_equal(estimated_examination(RandomTraffic(Curved())), [1.0, 0.5])


def test_lightgbm_predicts_clicks_only_once_a_model_is_fitted() -> None:
    world = World.generate(WorldConfig(n_users=10, n_items=10), stream(0, "world"))
    empty = TrainingData(ImpressionLog(slate_size=3).sessions(), world.features, now=0.0)
    assert not predicts_clicks(LightGBMPolicy()) and not predicts_clicks(
        LightGBMPolicy().fit(empty)
    )


def test_random_policy_reports_its_marginals(make_requests) -> None:
    requests = make_requests([0, 1], blocked=np.array([[False, True, False, False, False]] * 2))
    candidates = np.arange(5)
    assert isinstance(RandomPolicy(), ReportsPropensities)
    assert not isinstance(PopularityPolicy(), ReportsPropensities)
    items = np.array([[0, 2, 3], [1, 2, 3]])
    p = position_probabilities(RandomPolicy(), requests, candidates, items)
    np.testing.assert_allclose(p, [[0.25] * 3, [0.0, 0.25, 0.25]])
