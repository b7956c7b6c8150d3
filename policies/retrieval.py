"""A candidate-generation stage in front of any policy: the policy ranks only what is retrieved.

Recommenders with catalogs of 10^5 items and more never score the whole catalog for every
request: a cheap retrieval stage hands the ranker a few hundred or thousand candidates
(Covington, Adams & Sargin 2016, "Deep neural networks for YouTube recommendations"). Two things
follow, and :class:`Retrieval` models both.

* **Cost.** The ranker's work per request no longer grows with the catalog: retrieval is one
  O(catalog) pass per serving tick, shared by every request of the tick.
* **A second feedback loop.** Retrieval by past clicks decides which items the ranker may ever
  show, hence which ones can ever be clicked, hence which ones are retrieved next: an item the
  stage does not retrieve has no impressions and no way to earn any, however good the ranker is.
  Reserving a share of the retrieved set for the newest items (`fresh_share`) is the usual fix:
  every item gets a chance to be shown while it is young.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Self

import numpy as np
from numpy.typing import NDArray

from policies.base import Wrapper
from policies.params import Params
from policies.reference import PopularityPolicy
from policies.slates import columns_of, position_probabilities
from simulator.protocols import Policy
from simulator.ranking import best_columns
from simulator.records import Requests, Slates, TrainingData
from simulator.validation import require_int, require_probability


class Retrieval(Params, Wrapper):
    """Let `inner` rank only `n_candidates` items retrieved from the live catalog.

    Retrieval takes the ``round(n_candidates * fresh_share)`` youngest candidates (by when they
    joined the catalog; when a day's arrivals tie for the last fresh slots, the slots take a
    block of them that rotates with the request time, so each is shown while young), and fills
    the rest with the candidates clicked most often in the training data it was fitted on (ties
    broken the arbitrary but deterministic way of :func:`simulator.ranking.best_columns`). The
    set is the same for every request of a call, so the ranker's cost per request does not
    depend on the catalog; the click and age orders are kept until the next fit or a change of
    the catalog, so a call costs O(`n_candidates`) after the first of a day. A request that has
    blocked (consumed) so many retrieved items that fewer than `k` remain allowed also gets the
    most-clicked allowed items outside the set until it has `k`, as a real retrieval stage
    filters consumed items before it truncates.
    With `n_candidates` at least the number of candidates, every call passes through to
    `inner` unchanged.

    Retrieval is deterministic given the fitted click counts and the request time, so the
    propensities `inner` logs are exact: an item not retrieved has propensity 0 and a retrieved
    one the inner policy's.

    Before any click (the simulator's first fit, at t = 0, on an empty log) every item ties at
    0 clicks, so the popularity part is an arbitrary but fixed subset of the catalog (whichever
    items `best_columns` breaks the tie towards: not necessarily the first in catalog order),
    plus the youngest items when `fresh_share` > 0. With ``fresh_share = 0`` items born later
    are retrieved only once they out-click the retrieved ones, which they cannot do without
    being shown: the loop this stage adds, and what `fresh_share` is for.

    Parameters
    ----------
    inner
        The ranking policy (a scorer, or any policy such as an exploration wrapper around one).
        It must tell its propensities for any item (see
        :func:`policies.position_probabilities`) for `propensities` to answer.
    n_candidates
        Items retrieved per call; at least the slate size.
    fresh_share
        Share of `n_candidates` reserved for the youngest items (the fix for the loop above).
    """

    def __init__(self, inner: Policy, n_candidates: int = 1000, fresh_share: float = 0.0) -> None:
        require_int("n_candidates", n_candidates, 1)
        require_probability("fresh_share", fresh_share)
        self.inner = inner
        self.n_candidates = n_candidates
        self.fresh_share = fresh_share

    def check_slate_size(self, k: int) -> None:
        """Refuse slates larger than the retrieved set, which could not be filled."""
        if k > self.n_candidates:
            raise ValueError(
                f"n_candidates must be at least the slate size {k}, got {self.n_candidates}"
            )

    def fit(self, data: TrainingData) -> Self:
        """Fit `inner`, and learn each item's clicks in the whole of `data` (`popularity_`)."""
        self.fit_inner(data)
        self.popularity_ = PopularityPolicy().fit(data)
        self._catalog: _Catalog | None = None
        return self

    def retrieved(self, requests: Requests, candidates: NDArray[np.int64]) -> NDArray[np.int64]:
        """Columns of `candidates` retrieved for these requests, in catalog order (read-only).

        All of them when `n_candidates` covers the catalog; the youngest and most-clicked
        otherwise (see the class docstring), before the per-request top-up for blocked items.
        """
        if self.n_candidates >= len(candidates):
            return np.arange(len(candidates))
        catalog = self._catalog_of(requests, candidates)
        n_fresh = round(self.n_candidates * self.fresh_share)
        fresh = catalog.youngest(n_fresh, float(requests.t[0]))
        popular = catalog.by_clicks[~np.isin(catalog.by_clicks, fresh)]
        retrieved = np.sort(np.concatenate([fresh, popular[: self.n_candidates - n_fresh]]))
        retrieved.flags.writeable = False
        return retrieved

    def _catalog_of(self, requests: Requests, candidates: NDArray[np.int64]) -> _Catalog:
        """The candidates' click and age orders, kept until the next fit or a change of the
        candidates or settings: click counts change only with a fit, and every item ages alike.
        """
        catalog = getattr(self, "_catalog", None)
        settings = (self.n_candidates, self.fresh_share)
        if catalog is None or catalog.settings != settings or not catalog.serves(candidates):
            clicks = self.popularity_.score(requests, candidates)
            births = requests.features.item_births(candidates)
            catalog = _Catalog(candidates.copy(), settings, clicks, births, self.n_candidates)
            self._catalog = catalog
        return catalog

    def rank(
        self, requests: Requests, candidates: NDArray[np.int64], k: int, rng: np.random.Generator
    ) -> Slates:
        """The inner policy's slates over the retrieved candidates (see the class docstring)."""
        self.check_slate_size(k)
        pools = self._pools(requests, candidates, k)
        if pools is None:
            return self.inner.rank(requests, candidates, k, rng)
        items = np.empty((len(requests), k), dtype=np.int64)
        propensities = np.empty((len(requests), k))
        scores = np.empty((len(requests), k))
        for rows, cols in pools:
            slates = self.inner.rank(_restricted(requests, rows, cols), candidates[cols], k, rng)
            items[rows], propensities[rows], scores[rows] = (
                slates.items,
                slates.propensities,
                slates.scores,
            )
        return Slates(items=items, propensities=propensities, scores=scores)

    def propensities(
        self, requests: Requests, candidates: NDArray[np.int64], items: NDArray[np.integer]
    ) -> NDArray[np.float64]:
        """P(items[s, r] at position r + 1 for request s): 0 for an item not retrieved for the
        request, the inner policy's over the retrieved candidates otherwise.
        """
        pools = self._pools(requests, candidates, items.shape[1])
        if pools is None:
            return position_probabilities(self.inner, requests, candidates, items)
        out = np.zeros(items.shape)
        for rows, cols in pools:
            pool = candidates[cols]
            p = position_probabilities(
                self.inner, _restricted(requests, rows, cols), pool, items[rows]
            )
            out[rows] = np.where(columns_of(pool, items[rows]) >= 0, p, 0.0)
        return out

    def _pools(
        self, requests: Requests, candidates: NDArray[np.int64], k: int
    ) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]] | None:
        """(rows, candidate columns) the inner policy ranks: the shared retrieved set for the
        requests with at least `k` allowed items in it, one topped-up set per other request;
        None when everything passes through.
        """
        n = len(requests)
        if n == 0 or self.n_candidates >= len(candidates):
            return None
        shared = self.retrieved(requests, candidates)
        if requests.blocked is None:
            return [(np.arange(n), shared)]
        short = (~requests.blocked[:, shared]).sum(axis=1) < k
        pools = [(np.flatnonzero(~short), shared)] if not short.all() else []
        if short.any():
            outside = np.ones(len(candidates), dtype=bool)
            outside[shared] = False
            clicks = self._catalog_of(requests, candidates).clicks
            for row in np.flatnonzero(short):
                extra = outside & ~requests.blocked[row]
                need = k - int((~requests.blocked[row, shared]).sum())
                ranked = np.where(extra, clicks, -np.inf)
                top = best_columns(ranked[None, :], min(need, int(extra.sum())))[0]
                pools.append((np.array([row]), np.sort(np.concatenate([shared, top]))))
        return pools


def _restricted(requests: Requests, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> Requests:
    """The requests at `rows`, with `blocked` restricted to the candidate columns `cols`."""
    subset = requests.subset(rows)
    if subset.blocked is None:
        return subset
    return dataclasses.replace(subset, blocked=subset.blocked[:, cols])


GOLDEN_RATIO = (np.sqrt(5.0) - 1.0) / 2.0
MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class _Catalog:
    """What retrieval reads of a catalog between fits: each candidate's clicks, the
    `n_candidates` most clicked (in `best_columns` order) and the candidates from youngest to
    oldest (ties in catalog order).
    """

    candidates: NDArray[np.int64]
    settings: tuple[int, float]
    clicks: NDArray[np.float64]
    births: NDArray[np.float64]
    n_candidates: int

    @functools.cached_property
    def by_clicks(self) -> NDArray[np.int64]:
        return best_columns(self.clicks[None, :], self.n_candidates)[0]

    @functools.cached_property
    def by_youth(self) -> NDArray[np.int64]:
        return np.argsort(-self.births, kind="stable")

    def serves(self, candidates: NDArray[np.int64]) -> bool:
        return np.array_equal(self.candidates, candidates)

    def youngest(self, n: int, t: float) -> NDArray[np.int64]:
        """Columns of the `n` youngest candidates at time `t`. Items born together (a day's
        arrivals) tie; when the last slots must choose among tied items, they take a block
        of them that rotates with the minute of `t`, along the golden-ratio sequence, so that
        successive serving ticks at any spacing show different ones and each is shown while
        young. Deterministic given `t`, so propensities stay exact.
        """
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        order = self.by_youth
        births = self.births[order]
        cut = births[n - 1]
        younger = order[births > cut]
        tied = order[births == cut]
        need = n - len(younger)
        minute = int(np.floor(t * MINUTES_PER_DAY))
        start = int((minute * GOLDEN_RATIO) % 1.0 * len(tied))
        return np.concatenate([younger, tied[(start + np.arange(need)) % len(tied)]])
