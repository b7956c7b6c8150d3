"""Reference policies: uniform random (no loop at all), popularity (the simplest loop) and the
oracle that ranks by true attractiveness (the upper bound that regret is measured against).
"""

from __future__ import annotations

from typing import Self

import numpy as np
from numpy.typing import NDArray

from policies.base import Greedy
from policies.params import Params
from policies.slates import uniform_propensities
from simulator.records import Requests, Slates, TrainingData
from simulator.validation import require_positive
from simulator.world import World


class RandomPolicy(Params):
    """Each slate is a uniformly random ordered sample of the allowed candidates.

    Every allowed item is at any given position with probability 1 / n_allowed, which is its
    reported propensity. This is the logging policy of choice for unbiased data.
    """

    def fit(self, data: TrainingData) -> Self:
        """Nothing to learn: the policy ignores the log."""
        return self

    def rank(
        self,
        requests: Requests,
        candidates: NDArray[np.int64],
        k: int,
        rng: np.random.Generator,
    ) -> Slates:
        """A uniformly random ordered sample of the allowed candidates per request, each logged with
        its exact propensity (`uniform_propensities`); blocked items only when fewer than `k` are
        allowed, after the allowed ones.
        """
        keys = rng.random((len(requests), len(candidates)))
        if requests.blocked is not None:
            keys = np.where(requests.blocked, 2.0 + keys, keys)
        picks = np.argpartition(keys, k - 1, axis=1)[:, :k]
        picks = np.take_along_axis(picks, np.argsort(np.take_along_axis(keys, picks, 1), 1), 1)
        items = candidates[picks]
        propensity = uniform_propensities(requests, candidates, items)
        return Slates(items=items, propensities=propensity, scores=propensity.copy())

    def propensities(
        self, requests: Requests, candidates: NDArray[np.int64], items: NDArray[np.integer]
    ) -> NDArray[np.float64]:
        """P(items[s, r] at position r + 1 for request s): `uniform_propensities`."""
        return uniform_propensities(requests, candidates, items)


class PopularityPolicy(Params, Greedy):
    """Rank by clicks received in the last `window` days of the training data (all of it when
    ``None`` or infinite); the same slate for everyone. Ties, such as items never clicked, are
    broken the same arbitrary but deterministic way every time, so a cold catalog starts
    concentrated.
    """

    def __init__(self, window: float | None = None) -> None:
        if window is not None:
            require_positive("window", window, infinite=True)
        self.window = window

    def fit(self, data: TrainingData) -> Self:
        """Learn `clicks_`, the click count of each item in the window."""
        impressions = data.impressions
        if self.window is not None:
            impressions = impressions.subset(impressions.t >= data.now - self.window)
        self.clicks_ = np.bincount(
            impressions.item[impressions.click].astype(np.int64), minlength=0
        ).astype(float)
        return self

    def score(self, requests: Requests, candidates: NDArray[np.int64]) -> NDArray[np.float64]:
        """The click count of each candidate (0 for items never clicked), one row shared by all."""
        clicks = getattr(self, "clicks_", np.zeros(0))
        known = candidates < len(clicks)
        scores = np.zeros(len(candidates))
        scores[known] = clicks[candidates[known]]
        return scores


class OraclePolicy(Params, Greedy):
    """Rank by the true attractiveness a_ui of the world it is given: the best any policy can do
    (for PBM, cascade and single-choice clicks alike). Scores are the true a_ui.
    """

    def __init__(self, world: World) -> None:
        self.world = world

    def fit(self, data: TrainingData) -> Self:
        """Nothing to learn: the true attractiveness is read from the world."""
        return self

    def score(self, requests: Requests, candidates: NDArray[np.int64]) -> NDArray[np.float64]:
        """The world's true attractiveness a_ui of each request's user for each candidate."""
        return self.world.attractiveness(requests.user, candidates)
