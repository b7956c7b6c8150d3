"""The ideal recommender of the homogenization studies: rank by the users' true utility.

Chaney, Stewart & Engelhardt (2018) measure every recommender against one that knows each
user's true utility V_ui and ranks by it, while users still choose by the utility they know.
:class:`policies.OraclePolicy` ranks by what a world calls attractiveness, which in
:class:`simulator.presets.ChaneyWorld` is the *known* utility; this policy ranks by
``world.true_utility``, as T-RECS's replication does.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from numpy.typing import NDArray

from policies.base import Greedy
from policies.params import Params
from simulator.records import Requests, TrainingData


class IdealPolicy(Params, Greedy):
    """Rank by the true utility V_ui of a world that has one (``world.true_utility``).

    Its user representation, for the homogenization metric, is the users' true preferences.
    """

    def __init__(self, world: Any) -> None:
        if not callable(getattr(world, "true_utility", None)):
            raise ValueError(f"world must have a true_utility method, got {type(world).__name__}")
        self.world = world

    def fit(self, data: TrainingData) -> Self:
        """Nothing to learn: the true utility is read from the world."""
        return self

    def score(self, requests: Requests, candidates: NDArray[np.int64]) -> NDArray[np.float64]:
        """The world's true utility V_ui of each request's user for each candidate."""
        return np.asarray(self.world.true_utility(requests.user, candidates), dtype=float)

    def user_representation(self, users: NDArray[np.integer]) -> NDArray[np.float64]:
        """The users' true preferences."""
        return np.asarray(self.world.preferences[users], dtype=float)
