"""Schedules around any policy: random startup, a single training, and new items interleaved.

The published homogenization studies (Chaney, Stewart & Engelhardt 2018, as replicated in
T-RECS) run every recommender the same way: N startup steps of random recommendations, then
the recommender trained once on the startup log ("single training") or retrained every step
("repeated training"), and in every slate the newest items interleaved at random ranks, so new
items reach users whatever the recommender thinks of them. Both are wrappers here:

* :class:`RandomStartup` serves uniformly random slates until time `steps`, then its policy,
  fitted on everything (``retrain=True``) or always on the startup log only (``retrain=False``);
* :class:`InterleaveNew` puts `n_new` uniformly chosen new items at uniformly random ranks of
  the policy's slate.

Both log exact propensities.

Exact propensities of :class:`InterleaveNew`. For a request with k slots, let N be its allowed
new items and m the number interleaved. A uniformly random m-subset of the slots gets a uniformly
random ordered m-sample of the new items, so a new item x is at slot r with probability

    P(x at r) = (m / N) * (1 / k).

The other k - m slots, in increasing order, hold the policy's slate of k - m items ranked among
the old ones. The j-th smallest of a uniformly random (k - m)-subset of {1..k} is r with
probability C(r-1, j-1) C(k-r, k-m-j) / C(k, k-m), so an old item y is at slot r with probability

    P(y at r) = sum_j P_policy(y at j) C(r-1, j-1) C(k-r, k-m-j) / C(k, k-m),

where P_policy(y at j) comes from :func:`policies.position_probabilities` at every j (one call
per rank, skipped for a request whose slate the policy chose deterministically).
"""

from __future__ import annotations

from typing import Self

import numpy as np
from numpy.typing import NDArray
from scipy.special import comb

from policies.base import Policy, Wrapper
from policies.params import Params
from policies.reference import RandomPolicy
from policies.slates import allowed_mask, position_marginals, position_probabilities, scores_of
from simulator.ranking import best_columns
from simulator.records import Requests, Slates, TrainingData
from simulator.validation import require_int, require_non_negative, require_positive


class RandomStartup(Params, Wrapper):
    """Uniformly random slates before time `steps` (days), then `policy`.

    With ``retrain=True`` the policy is fitted on whatever training data the simulation gives
    it (repeated training, when the simulation retrains every step). With ``retrain=False`` every
    fit from `steps` on sees only the log of the startup period [0, steps), so the policy the
    simulation refits is always the same model: Chaney et al.'s single training. That needs a
    training window reaching back to time 0 (``window = inf``).
    """

    def __init__(self, inner: Policy, steps: float = 10.0, retrain: bool = True) -> None:
        require_non_negative("steps", steps)
        if not np.isfinite(steps):
            raise ValueError(f"steps must be finite, got {steps!r}")
        if not isinstance(retrain, bool):
            raise ValueError(f"retrain must be true or false, got {retrain!r}")
        self.inner = inner
        self.steps = steps
        self.retrain = retrain

    def fit(self, data: TrainingData) -> Self:
        """Fit the inner policy once `steps` have passed (with ``retrain=False`` only on the startup
        log); `started_` records whether it has been.
        """
        self.started_ = data.now >= self.steps
        if not self.started_:
            return self
        if not self.retrain:
            if data.start > 0:
                raise ValueError(
                    f"window must reach back to time 0 for a single training, "
                    f"got training data from {data.start}"
                )
            startup = data.impressions.subset(data.impressions.t < self.steps)
            data = TrainingData(startup, data.features, now=min(data.now, self.steps), start=0.0)
        self.fit_inner(data)
        return self

    def _active(self) -> Policy:
        return self.inner if getattr(self, "started_", False) else RandomPolicy()

    def rank(
        self, requests: Requests, candidates: NDArray[np.int64], k: int, rng: np.random.Generator
    ) -> Slates:
        """Random slates until the inner policy is started, then the inner policy's."""
        return self._active().rank(requests, candidates, k, rng)

    def propensities(
        self, requests: Requests, candidates: NDArray[np.int64], items: NDArray[np.integer]
    ) -> NDArray[np.float64]:
        """P(items[s, r] at position r + 1): the random policy's, or the policy's once started."""
        return position_probabilities(self._active(), requests, candidates, items)


class InterleaveNew(Params, Wrapper):
    """Interleave `n_new` new items at uniformly random ranks of every slate of `policy`.

    An item is new for a request at time t when it was born after t - `max_age` (the default
    1 day: the items the catalog gained at the last day boundary). Among the allowed new items
    of a request, min(n_new, N) are chosen uniformly and put at uniformly random slots; the
    remaining slots hold, in order, `policy`'s slate ranked among the old items only (new items
    are blocked for it, as T-RECS's replication scores them -inf). When too few old items are
    allowed, more new ones are interleaved to fill the slate. Propensities are exact (see the
    module docstring); scores of interleaved items are `policy`'s when it is a scorer, else
    their propensity.

    It does not answer ``propensities`` for arbitrary items, so wrap `policy`, not this, in
    :class:`policies.RandomTraffic` or :class:`policies.RandomizedSwaps`.
    """

    def __init__(self, inner: Policy, n_new: int = 10, max_age: float = 1.0) -> None:
        require_int("n_new", n_new, 0)
        require_positive("max_age", max_age)
        self.inner = inner
        self.n_new = n_new
        self.max_age = max_age

    def _new(self, requests: Requests, candidates: NDArray[np.int64]) -> NDArray[np.bool_]:
        """(n, C): whether each candidate is new for each request."""
        birth = requests.features.item_births(candidates)
        return requests.t[:, None] - birth[None, :] < self.max_age

    def rank(
        self, requests: Requests, candidates: NDArray[np.int64], k: int, rng: np.random.Generator
    ) -> Slates:
        """The inner slate among the old items with new items interleaved at random slots, each
        logged with its exact propensity.
        """
        n, n_candidates = len(requests), len(candidates)
        allowed = allowed_mask(requests.blocked, k)
        ok = np.ones((n, n_candidates), dtype=bool) if allowed is None else allowed
        new = self._new(requests, candidates)
        new_ok, old_ok = ok & new, ok & ~new
        n_new_ok = new_ok.sum(axis=1)
        m = np.clip(np.maximum(np.minimum(self.n_new, n_new_ok), k - old_ok.sum(axis=1)), 0, k)
        # a uniform ordered sample of m allowed new items, and a uniform m-subset of the slots
        picks = best_columns(-np.where(new_ok, rng.random((n, n_candidates)), np.inf), k)
        slot_order = np.argsort(rng.random((n, k)), axis=1)
        items = np.empty((n, k), dtype=np.int64)
        propensities = np.empty((n, k))
        scores = np.empty((n, k))
        for count in np.unique(m):
            rows = np.flatnonzero(m == count)
            slots = slot_order[rows, :count]
            items[rows[:, None], slots] = candidates[picks[rows, :count]]
            p_new = (count / np.maximum(n_new_ok[rows], 1) / k)[:, None]
            propensities[rows[:, None], slots] = p_new
            subset = requests.subset(rows)
            if count > 0:
                fallback = np.broadcast_to(p_new, (len(rows), int(count)))
                scores[rows[:, None], slots] = scores_of(
                    self.inner, subset, candidates, items[rows[:, None], slots], fallback
                )
            if count == k:
                continue
            free = np.sort(slot_order[rows, count:], axis=1)
            inner_requests = Requests(
                t=subset.t,
                user=subset.user,
                segment=subset.segment,
                features=subset.features,
                blocked=~old_ok[rows],
            )
            slates = self.inner.rank(inner_requests, candidates, k - int(count), rng)
            items[rows[:, None], free] = slates.items
            scores[rows[:, None], free] = slates.scores
            at_slot = self._rank_marginals(
                inner_requests, candidates, slates
            ) @ _slot_probabilities(k, int(count))
            propensities[rows[:, None], free] = np.take_along_axis(
                at_slot, free[:, :, None], axis=2
            )[:, :, 0]
        return Slates(items=items, propensities=propensities, scores=scores)

    def _rank_marginals(
        self, requests: Requests, candidates: NDArray[np.int64], slates: Slates
    ) -> NDArray[np.float64]:
        """(n, K, K): P(the policy puts its i-th slate item at rank j), for every i and j.

        Rolling a slate keeps its items distinct, so K questions to `position_marginals` cover
        every (item, rank) pair; a deterministic slate (all propensities 1) is its own answer.
        """
        n, size = slates.items.shape
        marginals = np.broadcast_to(np.eye(size), (n, size, size)).copy()
        random_rows = np.flatnonzero((slates.propensities != 1.0).any(axis=1))
        if len(random_rows) == 0:
            return marginals
        subset = requests.subset(random_rows)
        slate = slates.items[random_rows]
        index = np.arange(size)
        inner = position_marginals(self.inner, subset, candidates, size)
        for shift in range(size):
            rolled = np.roll(slate, shift, axis=1)
            p = inner(rolled)
            # column c of `rolled` holds slate item (c - shift) mod size at rank c
            marginals[random_rows[:, None], (index - shift) % size, index] = p
        return marginals


def _slot_probabilities(k: int, m: int) -> NDArray[np.float64]:
    """(k - m, k): probability that the j-th smallest of a uniform (k - m)-subset of the k
    slots is slot r (both 0-based here).
    """
    j = np.arange(1, k - m + 1)[:, None]
    r = np.arange(1, k + 1)[None, :]
    return np.asarray(comb(r - 1, j - 1) * comb(k - r, k - m - j) / comb(k, k - m), dtype=float)
