"""The attention-weighted argmax choice model against its definition (Chaney et al. 2018)."""

from __future__ import annotations

import numpy as np
import pytest

from simulator import ClickModel
from simulator.checks import check_click_model
from simulator.choice_models import AttentionArgmax, ChoiceModel


def test_conformance() -> None:
    check_click_model(AttentionArgmax(alpha=0.8))


def test_picks_the_attention_weighted_argmax() -> None:
    # weights r ** -1: 0.5 * 1 = 0.5, 0.9 / 2 = 0.45, 1.2 / 3 = 0.4 -> rank 1;
    # 0.3, 0.9 / 2 = 0.45, 1.5 / 3 = 0.5 -> rank 3
    utility = np.array([[0.5, 0.9, 1.2], [0.3, 0.9, 1.5]])
    chosen = AttentionArgmax(alpha=1.0).respond(utility, np.random.default_rng(0))
    assert chosen.tolist() == [[True, False, False], [False, False, True]]


def test_without_attention_it_picks_the_most_useful_item() -> None:
    rng = np.random.default_rng(3)
    utility = rng.random((500, 7))
    chosen = AttentionArgmax(alpha=0.0).respond(utility, rng)
    assert (chosen.argmax(axis=1) == utility.argmax(axis=1)).all()
    assert (chosen.sum(axis=1) == 1).all()


def test_matches_brute_force_and_ties_go_to_the_top() -> None:
    rng = np.random.default_rng(4)
    utility = rng.integers(0, 4, size=(300, 5)).astype(float)  # many ties
    chosen = AttentionArgmax(alpha=0.0).respond(utility, rng)
    for row, pick in zip(utility, chosen, strict=True):
        assert np.flatnonzero(pick).tolist() == [int(np.flatnonzero(row == row.max())[0])]


def test_never_repeats_a_consumed_item() -> None:
    utility = np.array([[0.9, 0.8, 0.1], [0.9, 0.8, 0.1], [0.9, 0.8, 0.1]])
    consumed = np.array([[True, False, False], [True, True, False], [True, True, True]])
    model = AttentionArgmax(alpha=0.8)
    chosen = model.respond(utility, np.random.default_rng(0), consumed=consumed)
    assert chosen.tolist() == [[False, True, False], [False, False, True], [False, False, False]]
    assert model.click_probabilities(utility, consumed).sum(axis=1).tolist() == [1.0, 1.0, 0.0]


def test_repeated_sessions_consume_distinct_items() -> None:
    """Feeding each choice back as consumed, a user works down the slate without repeats."""
    model = AttentionArgmax(alpha=0.8)
    utility = np.random.default_rng(5).random((50, 6))
    consumed = np.zeros(utility.shape, dtype=bool)
    for _ in range(6):
        chosen = model.respond(utility, np.random.default_rng(0), consumed=consumed)
        assert not (chosen & consumed).any()
        consumed |= chosen
    assert consumed.all()


def test_draws_no_random_numbers() -> None:
    rng = np.random.default_rng(6)
    AttentionArgmax().respond(np.ones((4, 3)), rng)
    assert rng.random() == np.random.default_rng(6).random()


@pytest.mark.parametrize("alpha", [-0.1, float("nan"), "1"])
def test_bad_alpha(alpha: object) -> None:
    with pytest.raises(ValueError, match="alpha"):
        AttentionArgmax(alpha=alpha)  # type: ignore[arg-type]


def test_is_both_a_click_model_and_a_choice_model() -> None:
    click_model: ClickModel = AttentionArgmax()
    choice_model: ChoiceModel = AttentionArgmax()
    assert click_model.respond(np.ones((1, 2)), np.random.default_rng(0)).sum() == 1
    assert (
        choice_model.respond(np.ones((1, 2)), np.random.default_rng(0), np.ones((1, 2), bool)).sum()
        == 0
    )
