"""Click models against their formulas."""

from __future__ import annotations

import numpy as np
import pytest

from simulator import CascadeModel, PositionBasedModel, SingleChoiceModel, expected_clicks
from simulator.checks import check_click_model

MODELS = [
    PositionBasedModel(eta=1.0),
    PositionBasedModel(eta=2.0),
    CascadeModel(),
    SingleChoiceModel(eta=1.0, no_click_weight=0.5),
]


@pytest.mark.parametrize("model", MODELS, ids=repr)
def test_click_model_conformance(model) -> None:
    check_click_model(model)


def test_pbm_examination_is_power_law() -> None:
    np.testing.assert_allclose(PositionBasedModel(eta=2).examination(3), [1, 1 / 4, 1 / 9])
    np.testing.assert_allclose(PositionBasedModel(eta=0).examination(3), [1, 1, 1])


def test_cascade_never_clicks_twice_and_stops_at_first_attractive() -> None:
    rng = np.random.default_rng(1)
    clicks = CascadeModel().respond(rng.uniform(0.2, 0.9, size=(20_000, 10)), rng)
    assert clicks.sum(axis=1).max() == 1
    certain = CascadeModel().respond(np.array([[0.0, 1.0, 1.0]]), rng)
    assert certain.tolist() == [[False, True, False]]


def test_single_choice_picks_at_most_one() -> None:
    rng = np.random.default_rng(2)
    clicks = SingleChoiceModel().respond(rng.uniform(0, 1, size=(20_000, 10)), rng)
    assert clicks.sum(axis=1).max() == 1


def test_expected_clicks_formulas() -> None:
    a = np.array([[0.5, 0.5]])
    assert expected_clicks(PositionBasedModel(eta=1), a)[0] == pytest.approx(0.5 + 0.25)
    assert expected_clicks(CascadeModel(), a)[0] == pytest.approx(1 - 0.25)
    weights = 0.5 + 0.25
    assert expected_clicks(SingleChoiceModel(eta=1), a)[0] == pytest.approx(weights / (1 + weights))


def test_best_slate_is_sorted_top_items() -> None:
    """The oracle relies on this for every model: sorting the top-k beats any other order."""
    rng = np.random.default_rng(3)
    a = rng.uniform(0, 1, size=(200, 6))
    best = -np.sort(-a, axis=1)
    for model in MODELS:
        assert np.all(expected_clicks(model, best) >= expected_clicks(model, a) - 1e-12)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: PositionBasedModel(eta=-1), "eta must be >= 0, got -1"),
        (lambda: SingleChoiceModel(eta=-0.5), "eta must be >= 0, got -0.5"),
        (lambda: SingleChoiceModel(no_click_weight=0), "no_click_weight must be > 0, got 0"),
    ],
)
def test_bad_click_model_parameters(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()
