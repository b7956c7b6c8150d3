"""Exploration that reaches what the log never showed: an exposure-based uncertainty bonus.

A greedy model is confident only where the log has evidence, yet it ranks as if it were
confident everywhere: an item it never showed keeps the score of the cold-start rule (zero by
default) and is never shown, so the model never learns it was wrong. A bootstrap ensemble does
not fix this (:class:`policies.BootstrapThompson`): its members are fitted to resamples of the
same log and agree about everything the log never showed. :class:`UncertaintyBonus` adds to
any scorer's score an optimism bonus that shrinks with the evidence the log holds about the
item, in the spirit of UCB1 (Auer, Cesa-Bianchi & Fischer 2002, "Finite-time analysis of the
multiarmed bandit problem") with the Hoeffding radius of a click rate,

    score'(u, i) = score(u, i) + scale * sqrt(ln(1 + N_u) / (2 (1 + n_ui))),

n_ui the times the training log showed item i to user u and N_u all of u's impressions. The
evidence is counted per (user, item) because that is what the model's prediction is about:
a bonus per item alone would be the same for every user and push one shared set of
under-shown items to everyone. Items the user was never shown (and items the log never
showed anyone) get the largest bonus, so the user's next slates show the best of them by the
model's own score; as impressions accumulate the bonus falls below the differences the model
can tell apart and greedy ranking takes over. The policy
is deterministic given its fit: propensities are exactly 1.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from numpy.typing import NDArray

from policies.base import Wrapper, top_k
from policies.params import Params
from policies.slates import columns_of
from simulator.records import Requests, Slates, TrainingData
from simulator.validation import require_non_negative


class UncertaintyBonus(Params, Wrapper):
    """Rank by `inner`'s score plus an exposure-based optimism bonus (formula above).

    Parameters
    ----------
    inner
        Any scorer (``fit`` and ``score``), e.g. :class:`~policies.LightGBMPolicy`, whose
        scores are click probabilities.
    scale
        Weight of the bonus, in the scorer's units; 1 (the default) is the Hoeffding radius
        itself. For a user with 40 impressions it is 0.96 for an item never shown to them and
        0.68 for one shown once: larger than predicted click rates of a few percent, so each
        user works through the items they have not seen, best predicted first. Smaller values
        explore less (at 0.3 coverage on the test world rose later and less).

    Notes
    -----
    Logged scores are the scorer's own (without the bonus), so calibration metrics still
    read click probabilities. Before its first fit the scorer ranks alone.
    """

    def __init__(self, inner: Any, scale: float = 1.0) -> None:
        require_non_negative("scale", scale)
        self.inner = inner
        self.scale = scale

    def fit(self, data: TrainingData) -> Self:
        """Fit the scorer and count `exposures_`, the impressions of each (user, item) pair, and
        `user_impressions_`, each user's total: the two counts the bonus reads.
        """
        self.fit_inner(data)
        imp = data.impressions
        self.n_items_ = int(imp.item.max(initial=-1)) + 1
        pairs = np.repeat(imp.user.astype(np.int64), imp.slate_size) * max(self.n_items_, 1)
        self.pairs_, self.exposures_ = np.unique(pairs + imp.item.ravel(), return_counts=True)
        users, per_user = np.unique(imp.user.astype(np.int64), return_counts=True)
        self.users_, self.user_impressions_ = users, per_user * imp.slate_size
        return self

    def bonus(
        self, users: NDArray[np.integer], candidates: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        """The optimism bonus of each (user, candidate): (n_users, n_candidates)."""
        users = np.asarray(users, dtype=np.int64)
        shown = _lookup(self.users_, self.user_impressions_, users)
        known = candidates < self.n_items_
        keys = users[:, None] * max(self.n_items_, 1) + np.where(known, candidates, 0)
        seen = np.where(known, _lookup(self.pairs_, self.exposures_, keys), 0)
        return self.scale * np.sqrt(np.log1p(shown)[:, None] / (2.0 * (1.0 + seen)))

    def rank(
        self,
        requests: Requests,
        candidates: NDArray[np.int64],
        k: int,
        rng: np.random.Generator,
    ) -> Slates:
        """The greedy top-k of score plus bonus (propensities 1), logging the scorer's scores alone;
        the scorer ranks alone before the first fit.
        """
        if not hasattr(self, "exposures_") or len(self.exposures_) == 0:
            return self.inner.rank(requests, candidates, k, rng)
        scores = np.asarray(self.inner.score(requests, candidates), dtype=float)
        scores = np.broadcast_to(scores, (len(requests), len(candidates)))
        bonus = self.bonus(requests.user, candidates)
        slates = top_k(scores + bonus, candidates, k, requests.blocked)
        logged = np.take_along_axis(scores, columns_of(candidates, slates.items), axis=1)
        return Slates(items=slates.items, propensities=slates.propensities, scores=logged)


def _lookup(keys: NDArray[np.int64], values: NDArray, wanted: NDArray[np.integer]) -> NDArray:
    """values[keys == wanted] elementwise for sorted unique `keys`, 0 where absent."""
    if len(keys) == 0:
        return np.zeros(wanted.shape)
    spot = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[spot] == wanted, values[spot], 0)
