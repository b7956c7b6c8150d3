"""Each off-policy estimator on a hand-built log whose answer is known, and the inputs they
refuse.

The tiny log has 4 sessions and 2 positions:

=========  ==========  ===========  =========
session    clicks c    weights w    in target
=========  ==========  ===========  =========
1          1, 0        2, 0         1, 0
2          0, 1        0, 4         1, 1
3          0, 1        2, 4         0, 1
4          0, 0        0, 0         0, 0
=========  ==========  ===========  =========
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from experiments.offline import (
    ESTIMATORS,
    IPS,
    SNIPS,
    DirectMethod,
    DoublyRobust,
    LoggedFeedback,
    Naive,
    OffPolicyEstimator,
    SessionTerms,
    as_estimator,
)

CLICKS = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 0.0]])
WEIGHTS = np.array([[2.0, 0.0], [0.0, 4.0], [2.0, 4.0], [0.0, 0.0]])
IN_TARGET = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [0.0, 0.0]])
Q_LOGGED = np.full((4, 2), 0.5)
Q_TARGET = np.full((4, 2), 0.25)


def tiny(**changes: Any) -> LoggedFeedback:
    columns = {
        "clicks": CLICKS,
        "weights": WEIGHTS,
        "in_target": IN_TARGET,
        "q_logged": Q_LOGGED,
        "q_target": Q_TARGET,
    }
    return LoggedFeedback(**(columns | changes))


@pytest.mark.parametrize(
    ("estimator", "expected"),
    [
        # 1/n sum_s sum_r w c = (2 + 4 + 4 + 0) / 4
        (IPS(), 2.5),
        # sum_r sum_s w c / sum_s w = 2/4 + 8/8
        (SNIPS(), 1.5),
        # k x (clicks on target items / target items shown) = 2 x 3/4
        (Naive(), 1.5),
        # 1/n sum_s sum_r q_target = 2 x 0.25
        (DirectMethod(), 0.5),
        # DM + 1/n sum w (c - q_logged) = 0.5 + (1 + 2 + (-1 + 2) + 0) / 4
        (DoublyRobust(), 1.5),
    ],
    ids=lambda value: getattr(value, "name", ""),
)
def test_estimate_on_a_hand_built_log(estimator: OffPolicyEstimator, expected: float) -> None:
    terms = estimator.estimate(tiny())
    assert terms.value == pytest.approx(expected, abs=1e-12)
    assert terms.terms.shape == (4,)


def test_ips_terms_give_the_standard_error_and_effective_sample_size() -> None:
    terms = IPS().estimate(tiny())
    np.testing.assert_array_equal(terms.terms, [2.0, 4.0, 4.0, 0.0])
    # deviations -0.5, 1.5, 1.5, -2.5 from the mean 2.5: variance 11/3, over n = 4 sessions
    assert terms.std_error == pytest.approx(np.sqrt(11 / 3) / 2)
    # Kish: (2 + 4 + 2 + 4)^2 / (4 + 16 + 4 + 16)
    assert terms.effective_sample_size == pytest.approx(144 / 40)


@pytest.mark.parametrize(
    ("estimator", "expected"),
    [
        # mean weights (1, 2), ratios (0.5, 1): influence sum_r w (c - ratio) / mean w
        (SNIPS(), [2.5, 1.5, 0.5, 1.5]),
        # 1 target item per session on average, rate 3/4: influence k sum_r m (c - rate)
        (Naive(), [2.0, 0.5, 2.0, 1.5]),
    ],
    ids=["snips", "naive"],
)
def test_ratio_estimators_return_delta_method_influence_terms(
    estimator: OffPolicyEstimator, expected: list[float]
) -> None:
    np.testing.assert_allclose(estimator.estimate(tiny()).terms, expected)


def test_snips_position_without_weight_contributes_nothing() -> None:
    weights = WEIGHTS.copy()
    weights[:, 1] = 0.0
    assert SNIPS().estimate(tiny(weights=weights)).value == pytest.approx(0.5)


def test_doubly_robust_is_ips_with_a_zero_reward_model_and_dm_with_a_perfect_one() -> None:
    zero = np.zeros((4, 2))
    without_model = DoublyRobust().estimate(tiny(q_logged=zero, q_target=zero))
    np.testing.assert_allclose(without_model.terms, IPS().estimate(tiny()).terms)
    perfect = DoublyRobust().estimate(tiny(q_logged=CLICKS))
    np.testing.assert_allclose(perfect.terms, DirectMethod().estimate(tiny()).terms)


def test_zero_weights_have_no_effective_sample() -> None:
    terms = SessionTerms(np.zeros(3), np.zeros((3, 2)))
    assert terms.effective_sample_size == 0.0
    assert np.isnan(SessionTerms(np.ones(1), np.ones((1, 2))).std_error)


def test_subset_keeps_rows_in_every_column() -> None:
    part = tiny().subset(np.array([2, 2, 0]))
    assert len(part) == 3
    np.testing.assert_array_equal(part.weights, WEIGHTS[[2, 2, 0]])
    assert part.q_target is not None and part.q_target.shape == (3, 2)
    assert not tiny(q_logged=None, q_target=None).subset(np.array([0])).has_rewards


def test_table_names_match_the_estimators_it_builds() -> None:
    assert list(ESTIMATORS) == ["naive", "ips", "snips", "dm", "dr"]
    for name in ESTIMATORS:
        assert as_estimator(name).name == name
    clipped = IPS(name="ips_mine")
    assert as_estimator(clipped) is clipped


def test_a_user_estimator_subclasses_and_is_accepted() -> None:
    @dataclass(frozen=True)
    class FirstPosition(OffPolicyEstimator):
        """IPS on the top position only."""

        name: str = "first"

        def estimate(self, feedback: LoggedFeedback) -> SessionTerms:
            w = feedback.weights[:, :1]
            return SessionTerms((w * feedback.clicks[:, :1]).sum(axis=1), w)

    assert as_estimator(FirstPosition()).estimate(tiny()).value == pytest.approx(0.5)


NAN_WEIGHTS = WEIGHTS.copy()
NAN_WEIGHTS[1, 1] = np.nan
INF_Q = Q_TARGET.copy()
INF_Q[0, 0] = np.inf


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: IPS(name=""), "estimator name must be a non-empty string, got ''"),
        (lambda: SNIPS(name=3), "estimator name must be a non-empty string, got 3"),
        (lambda: tiny(clicks=CLICKS[:, 0]), r"clicks must be 2-D \(sessions x positions\)"),
        (lambda: tiny(weights=WEIGHTS[:3]), r"weights has shape \(3, 2\), clicks \(4, 2\)"),
        (lambda: tiny(in_target=IN_TARGET.T), r"in_target has shape \(2, 4\), clicks \(4, 2\)"),
        (lambda: tiny(weights=NAN_WEIGHTS), "weights must be finite, got nan"),
        (lambda: tiny(q_target=INF_Q), "q_target must be finite, got inf"),
        (lambda: tiny(weights=-WEIGHTS), "weights must be >= 0, got -4.0"),
        (lambda: tiny(q_target=None), "q_logged and q_target must be given together"),
        (
            lambda: DirectMethod().estimate(tiny(q_logged=None, q_target=None)),
            "estimator 'dm' needs reward-model predictions",
        ),
        (
            lambda: DoublyRobust(name="dr2").estimate(tiny(q_logged=None, q_target=None)),
            "estimator 'dr2' needs reward-model predictions",
        ),
        (
            lambda: as_estimator("ipw"),
            r"estimator must be one of 'naive', 'ips', 'snips', 'dm', 'dr' or an "
            r"OffPolicyEstimator, got 'ipw' \(did you mean 'ips'\?\)",
        ),
        (lambda: as_estimator(IPS), "or an OffPolicyEstimator, got <class"),
    ],
)
def test_invalid_input_is_refused_with_a_message(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()
