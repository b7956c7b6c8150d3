"""How a user reacts to a ranked slate, given the true attractiveness of each shown item.

Every click model is a small object, vectorised over sessions: ``respond(attractiveness, rng)``
samples clicks, and ``click_probabilities(attractiveness)`` gives each position's marginal
click probability, whose row sums are the expected clicks behind the `utility` metric.
`respond` draws exactly one ``rng.random((n_sessions, slate_size))`` per call, so the random
numbers a session gets do not depend on which items were shown: policies are compared on common
random numbers.

For all three models the best slate is the items with the highest attractiveness, sorted in
decreasing order, which is what the oracle shows.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from simulator.validation import require_non_negative, require_positive


class ClickModel(Protocol):
    """Anything that turns slate attractiveness into clicks."""

    def respond(
        self, attractiveness: NDArray[np.float64], rng: np.random.Generator
    ) -> NDArray[np.bool_]:
        """Clicks (sessions x slate_size) for slates of these attractivenesses, top first.

        One draw block per call whatever was shown, so that policies compared on one seed meet
        the same click noise (common random numbers).
        """
        ...

    def click_probabilities(self, attractiveness: NDArray[np.float64]) -> NDArray[np.float64]:
        """P(click) at each position: what `respond` samples, for exact expected clicks."""
        ...


def expected_clicks(model: ClickModel, attractiveness: NDArray[np.float64]) -> NDArray[np.float64]:
    """Expected number of clicks per session: the sum of the positions' click probabilities."""
    return model.click_probabilities(attractiveness).sum(axis=1)


def examination_curve(slate_size: int, eta: float) -> NDArray[np.float64]:
    """theta_r = r ** -eta for positions r = 1..slate_size."""
    return np.arange(1, slate_size + 1, dtype=float) ** -float(eta)


class PositionBasedModel:
    """Position-based model (PBM): P(click at r) = theta_r * a_ui, theta_r = r ** -eta.

    Position r is examined with probability theta_r, independently of the other positions, and
    an examined item is clicked with its attractiveness. Richardson et al. (2007), "Predicting
    clicks"; Chuklin, Markov & de Rijke (2015), "Click Models for Web Search", section 3.3.
    """

    def __init__(self, eta: float = 1.0) -> None:
        require_non_negative("eta", eta)
        self.eta = float(eta)

    def __repr__(self) -> str:
        return f"PositionBasedModel(eta={self.eta})"

    def examination(self, slate_size: int) -> NDArray[np.float64]:
        """The true examination curve theta_r: what position-bias estimators try to recover."""
        return examination_curve(slate_size, self.eta)

    def respond(
        self, attractiveness: NDArray[np.float64], rng: np.random.Generator
    ) -> NDArray[np.bool_]:
        """Each position clicked independently with probability theta_r * a_r."""
        draws = rng.random(attractiveness.shape)
        return draws < attractiveness * self.examination(attractiveness.shape[1])

    def click_probabilities(self, attractiveness: NDArray[np.float64]) -> NDArray[np.float64]:
        """theta_r * a_r at each position."""
        return attractiveness * self.examination(attractiveness.shape[1])


class CascadeModel:
    """Cascade model: scan top-down, click the first attractive item, stop.

    P(click at r) = a_r * prod_{j<r} (1 - a_j); at most one click per session. Craswell et al.
    (2008), "An experimental comparison of click position-bias models".
    """

    def __repr__(self) -> str:
        return "CascadeModel()"

    def respond(
        self, attractiveness: NDArray[np.float64], rng: np.random.Generator
    ) -> NDArray[np.bool_]:
        """A click on the first item found attractive, if any (one draw per position)."""
        attractive = rng.random(attractiveness.shape) < attractiveness
        first = np.argmax(attractive, axis=1)
        clicks = np.zeros_like(attractive)
        rows = np.flatnonzero(attractive.any(axis=1))
        clicks[rows, first[rows]] = True
        return clicks

    def click_probabilities(self, attractiveness: NDArray[np.float64]) -> NDArray[np.float64]:
        """a_r times the probability that no item above r was attractive."""
        not_before = np.cumprod(1.0 - attractiveness, axis=1)
        reached = np.hstack([np.ones((len(attractiveness), 1)), not_before[:, :-1]])
        return attractiveness * reached


class SingleChoiceModel:
    """Pick at most one item, with probability proportional to rank-weighted attractiveness.

    P(pick r) = w_r / (w_0 + sum_j w_j), w_r = theta_r * a_r, theta_r = r ** -eta, and w_0 the
    weight of choosing nothing: a multinomial logit over the slate, as in the homogenisation
    studies of Chaney, Stewart & Engelhardt (2018), "How algorithmic confounding in recommendation
    systems increases homogeneity and decreases utility".
    """

    def __init__(self, eta: float = 1.0, no_click_weight: float = 1.0) -> None:
        require_non_negative("eta", eta)
        require_positive("no_click_weight", no_click_weight)
        self.eta = float(eta)
        self.no_click_weight = float(no_click_weight)

    def __repr__(self) -> str:
        return f"SingleChoiceModel(eta={self.eta}, no_click_weight={self.no_click_weight})"

    def _weights(self, attractiveness: NDArray[np.float64]) -> NDArray[np.float64]:
        return attractiveness * examination_curve(attractiveness.shape[1], self.eta)

    def respond(
        self, attractiveness: NDArray[np.float64], rng: np.random.Generator
    ) -> NDArray[np.bool_]:
        """At most one click, drawn from the multinomial logit over the slate and "none"."""
        weights = self._weights(attractiveness)
        total = self.no_click_weight + weights.sum(axis=1, keepdims=True)
        edges = np.cumsum(weights, axis=1) / total
        draw = rng.random(attractiveness.shape)[:, :1]
        chosen = (draw < edges).argmax(axis=1)
        clicks = np.zeros(attractiveness.shape, dtype=bool)
        picked = np.flatnonzero(draw[:, 0] < edges[:, -1])
        clicks[picked, chosen[picked]] = True
        return clicks

    def click_probabilities(self, attractiveness: NDArray[np.float64]) -> NDArray[np.float64]:
        """w_r / (w_0 + sum_j w_j) at each position."""
        weights = self._weights(attractiveness)
        return weights / (self.no_click_weight + weights.sum(axis=1, keepdims=True))


CLICK_MODELS: dict[str, type] = {
    "pbm": PositionBasedModel,
    "cascade": CascadeModel,
    "single_choice": SingleChoiceModel,
}
