"""Thompson sampling for any learned scorer by a bootstrap ensemble, with exact propensities.

A LightGBM model has no posterior to sample from. The bootstrap stands in for one (Osband et al.
2016, "Deep exploration via bootstrapped DQN"; Eckles & Kaptein 2014, "Thompson sampling with
the online bootstrap"): fit B copies of the model on Poisson(1)-resampled logs, and serve each
request with one copy drawn uniformly, greedily. Where the copies agree (plenty of evidence)
the slate is the greedy one; where they disagree, the items they disagree about get shown.
"""

from __future__ import annotations

import copy
from typing import Self

import numpy as np
from numpy.typing import NDArray

from policies.lightgbm import LightGBMPolicy
from policies.reference import RandomPolicy
from policies.slates import position_probabilities
from simulator.protocols import predicts_clicks
from simulator.records import Requests, Slates, TrainingData
from simulator.validation import require_int


class BootstrapThompson:
    """Serve each request with the greedy slate of one of `n_models` bootstrapped models.

    Member b is a copy of `model` with seed ``model.seed + b`` fitted on the log with every
    session repeated N_s^b ~ Poisson(1) times (the online, or Poisson, bootstrap of Oza &
    Russell 2001; sessions are resampled whole, since the clicks of one slate are not
    independent). A request draws a member uniformly with the policy's `rng`. The policy is a
    uniform mixture of B deterministic rankings, so its propensities are exact:

        P(x at r) = (1 / B) * #{b : member b's greedy slate puts x at r}.

    Scores are the serving member's (click probabilities once fitted). The default B = 4 keeps
    the cost at four fits and four score tables per retrain; each member defaults to 30 trees
    (see the registry), since the ensemble's spread, not one member's accuracy, drives
    exploration. With few members the propensities are coarse (multiples of 1/B), and an item
    no member ranks in the top k is never shown.
    """

    def __init__(self, model: LightGBMPolicy, n_models: int = 4) -> None:
        require_int("n_models", n_models, 1)
        self.model = model
        self.n_models = n_models

    def __repr__(self) -> str:
        return f"BootstrapThompson({self.model!r}, n_models={self.n_models})"

    @property
    def scores_are_click_probabilities(self) -> bool:
        members = getattr(self, "members_", [])
        return bool(members) and all(predicts_clicks(m) for m in members)

    def fit(self, data: TrainingData) -> Self:
        rng = np.random.default_rng(self.model.seed)
        self.members_: list[LightGBMPolicy] = []
        for b in range(self.n_models):
            counts = rng.poisson(1.0, size=len(data))
            resampled = TrainingData(
                impressions=data.impressions.subset(np.repeat(np.arange(len(data)), counts)),
                features=data.features,
                now=data.now,
                start=data.start,
            )
            member = copy.deepcopy(self.model)
            member.seed = self.model.seed + b
            self.members_.append(member.fit(resampled))
        return self

    def rank(
        self,
        requests: Requests,
        candidates: NDArray[np.int64],
        k: int,
        rng: np.random.Generator,
    ) -> Slates:
        serving = rng.integers(self.n_models, size=len(requests))
        members = [m.rank(requests, candidates, k, rng) for m in self.members_]
        rows = np.arange(len(requests))
        items = np.stack([m.items for m in members])[serving, rows]
        scores = np.stack([m.scores for m in members])[serving, rows]
        propensities = self._mixture(requests, candidates, items, members)
        return Slates(items=items, propensities=propensities, scores=scores)

    def propensities(
        self, requests: Requests, candidates: NDArray[np.int64], items: NDArray[np.integer]
    ) -> NDArray[np.float64]:
        """P(items[s, r] at position r + 1 for request s): the share of members putting it
        there."""
        return self._mixture(requests, candidates, items, None)

    def _mixture(
        self,
        requests: Requests,
        candidates: NDArray[np.int64],
        items: NDArray[np.integer],
        slates: list[Slates] | None,
    ) -> NDArray[np.float64]:
        fitted = [m.booster_ is not None for m in self.members_]
        if slates is not None and all(fitted):
            return np.mean([s.items == items for s in slates], axis=0)
        # Members fitted on no data rank at random, as LightGBMPolicy does before its first fit.
        shares = [
            position_probabilities(m if ok else RandomPolicy(), requests, candidates, items)
            for m, ok in zip(self.members_, fitted, strict=True)
        ]
        return np.mean(shares, axis=0)
