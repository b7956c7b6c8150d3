"""User choice models: the user consumes exactly one shown item, chosen deterministically.

A click model (:mod:`simulator.click_models`) samples clicks from click probabilities; a choice
model is the other family of user models in the feedback-loop literature: every session ends
with the user consuming the item it values most, after discounting by rank. Choice models have
the click models' verbs, ``respond(attractiveness, rng)`` and
``click_probabilities(attractiveness)``, so the loop can use either; here `attractiveness` is
the user's *known* utility of each shown item (see :mod:`simulator.utility`), and both verbs take
an optional ``consumed`` mask of the shown items the user has already consumed, which are never
chosen again.

A deterministic choice draws no random numbers, so it cannot disturb common random numbers.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from simulator.click_models import CLICK_MODELS, examination_curve
from simulator.validation import require_non_negative


class ChoiceModel(Protocol):
    """A click model whose verbs also take the mask of shown items already consumed."""

    def respond(
        self,
        attractiveness: NDArray[np.float64],
        rng: np.random.Generator,
        consumed: NDArray[np.bool_] | None = None,
    ) -> NDArray[np.bool_]:
        """Choices (sessions x slate_size); `consumed` marks shown items never to pick again."""
        ...

    def click_probabilities(
        self, attractiveness: NDArray[np.float64], consumed: NDArray[np.bool_] | None = None
    ) -> NDArray[np.float64]:
        """P(choice) at each position, given the same `consumed` mask."""
        ...


class AttentionArgmax:
    """Consume argmax_r r ** -alpha * v_r over the shown items not consumed before.

    v_r is the user's known utility of the item at rank r (1 = top) and alpha the attention
    exponent: the user's attention decays with rank, so a lower-ranked item must be worth
    r ** alpha times more to be chosen. Chaney, Stewart & Engelhardt (2018), "How algorithmic
    confounding in recommendation systems increases homogeneity and decreases utility",
    section 3 (alpha = 0.8 in their simulations; T-RECS writes the same rule with
    ``attention_exp = -0.8``). Ties go to the higher rank. A session whose shown items are all
    consumed already consumes nothing.

    `click_probabilities` is the indicator of the choice (the choice is deterministic), so the
    expected clicks of a session are 1, or 0 when nothing new was shown.
    """

    def __init__(self, alpha: float = 0.8) -> None:
        require_non_negative("alpha", alpha)
        if not np.isfinite(alpha):
            raise ValueError(f"alpha must be finite, got {alpha!r}")
        self.alpha = float(alpha)

    def __repr__(self) -> str:
        return f"AttentionArgmax(alpha={self.alpha})"

    def examination(self, slate_size: int) -> NDArray[np.float64]:
        """The attention weights r ** -alpha of ranks 1..slate_size."""
        return examination_curve(slate_size, self.alpha)

    def respond(
        self,
        attractiveness: NDArray[np.float64],
        rng: np.random.Generator,
        consumed: NDArray[np.bool_] | None = None,
    ) -> NDArray[np.bool_]:
        """One consumed item per session (a boolean row with a single True, or none)."""
        return self.click_probabilities(attractiveness, consumed) > 0.5

    def click_probabilities(
        self, attractiveness: NDArray[np.float64], consumed: NDArray[np.bool_] | None = None
    ) -> NDArray[np.float64]:
        """1.0 at the chosen rank of each session, 0.0 elsewhere."""
        weighted = attractiveness * self.examination(attractiveness.shape[1])
        if consumed is not None:
            weighted = np.where(consumed, -np.inf, weighted)
        choice = np.argmax(weighted, axis=1)
        chosen = np.zeros(attractiveness.shape)
        rows = np.flatnonzero(np.isfinite(weighted).any(axis=1))
        chosen[rows, choice[rows]] = 1.0
        return chosen


CHOICE_MODELS: dict[str, type] = {"attention_argmax": AttentionArgmax}
"""Choice model name (as in ``[clicks] model = "NAME"``) -> class."""
# Choice models answer the click models' verbs, so experiments pick them from the same table;
# they are added here because they build on simulator.click_models.
CLICK_MODELS.update(CHOICE_MODELS)


def consumed_argument(
    model: object,
    consumed: NDArray[np.bool_] | None,
    users: NDArray[np.integer],
    items: NDArray[np.integer],
) -> dict[str, NDArray[np.bool_]]:
    """``{"consumed": mask}`` of the shown `items` (sessions x positions) that `users` consumed
    before, for a choice model when consumption is tracked; ``{}`` for a click model.
    """
    if consumed is None or not isinstance(model, tuple(CHOICE_MODELS.values())):
        return {}
    return {"consumed": consumed[np.asarray(users)[:, None], items]}
