"""A candidate-generation stage in front of any policy: the policy ranks only what is retrieved.

Recommenders with catalogs of 10^5 items and more never score the whole catalog for every
request: a cheap retrieval stage hands the ranker a few hundred or thousand candidates
(Covington, Adams & Sargin 2016, "Deep neural networks for YouTube recommendations"). Two things
follow, and :class:`Retrieval` models both.

* **Cost.** The ranker's work per request no longer grows with the catalog: retrieval orders
  the catalog once per fit or catalog change, and then serves each hour's requests one set.
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
    block of them that moves through them hour by hour over the day since they joined, so each
    is shown while young), and fills the rest with the candidates clicked most often in the
    training data it was fitted on (ties broken the arbitrary but deterministic way of
    :func:`simulator.ranking.best_columns`). Requests of the same hour share the set, so the
    ranker's cost per request does not depend on the catalog; the click and age orders are kept
    until the next fit or a change of the catalog, so after the first call of a day a call costs
    one comparison of the candidates and O(`n_candidates`) per hour its requests span. A
    request that has blocked (consumed) so many retrieved items that fewer than `k` remain
    allowed also gets the most-clicked allowed items outside the set until it has `k`, as a
    real retrieval stage filters consumed items before it truncates. With `n_candidates` at
    least the number of candidates, every call passes through to `inner` unchanged.

    Retrieval is deterministic given the fitted click counts and each request's own time (its
    hour), so the propensities `inner` logs, and `propensities` for any subset of the requests,
    are exact: an item not retrieved has propensity 0 and a retrieved one the inner policy's.

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
        """Columns of `candidates` retrieved for the first of these requests, in catalog order
        (read-only): all of them when `n_candidates` covers the catalog, the youngest and
        most-clicked otherwise (see the class docstring), before any top-up for blocked items.
        Requests of other hours may differ in the fresh slots.
        """
        if self.n_candidates >= len(candidates):
            return np.arange(len(candidates))
        catalog = self._catalog_of(requests, candidates)
        return catalog.retrieved(catalog.rotation(requests.t[:1])[0])

    def _catalog_of(self, requests: Requests, candidates: NDArray[np.int64]) -> _Catalog:
        """The candidates' click and age orders, kept until the next fit or a change of the
        candidates or settings: click counts change only with a fit, and every item ages alike.
        """
        catalog = getattr(self, "_catalog", None)
        settings = (self.n_candidates, round(self.n_candidates * self.fresh_share))
        if catalog is None or catalog.settings != settings or not catalog.serves(candidates):
            clicks = self.popularity_.score(requests, candidates)
            births = requests.features.item_births(candidates)
            catalog = _Catalog(candidates.copy(), settings, clicks, births)
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
        catalog = self._catalog_of(requests, candidates)
        rotation = catalog.rotation(requests.t)
        pools = []
        for step in np.unique(rotation):
            rows = np.flatnonzero(rotation == step)
            pools += _topped_up(requests, rows, catalog.retrieved(step), catalog.clicks, k)
        return pools


def _topped_up(
    requests: Requests,
    rows: NDArray[np.int64],
    shared: NDArray[np.int64],
    clicks: NDArray[np.float64],
    k: int,
) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """(rows, candidate columns): `shared` for the `rows` with at least `k` allowed items in it,
    and for each other row `shared` plus its most-clicked allowed candidates outside it.
    """
    if requests.blocked is None:
        return [(rows, shared)]
    blocked = requests.blocked[rows]
    short = (~blocked[:, shared]).sum(axis=1) < k
    pools = [(rows[~short], shared)] if not short.all() else []
    outside = np.ones(len(clicks), dtype=bool)
    outside[shared] = False
    for i in np.flatnonzero(short):
        extra = outside & ~blocked[i]
        need = k - int((~blocked[i, shared]).sum())
        ranked = np.where(extra, clicks, -np.inf)
        top = best_columns(ranked[None, :], min(need, int(extra.sum())))[0]
        pools.append((rows[i : i + 1], np.sort(np.concatenate([shared, top]))))
    return pools


def _restricted(requests: Requests, rows: NDArray[np.int64], cols: NDArray[np.int64]) -> Requests:
    """The requests at `rows`, with `blocked` restricted to the candidate columns `cols`."""
    subset = requests.subset(rows)
    if subset.blocked is None:
        return subset
    return dataclasses.replace(subset, blocked=subset.blocked[:, cols])


ROTATIONS_PER_DAY = 24
"""Steps a day by which the fresh slots move through the items tied for the last of them."""


@dataclass(frozen=True, eq=False)
class _Catalog:
    """What retrieval reads of a catalog between fits: each candidate's clicks, the
    `n_candidates` most clicked (in `best_columns` order) and the candidates from youngest to
    oldest (ties in catalog order); `settings` is (n_candidates, fresh slots).
    """

    candidates: NDArray[np.int64]
    settings: tuple[int, int]
    clicks: NDArray[np.float64]
    births: NDArray[np.float64]

    def serves(self, candidates: NDArray[np.int64]) -> bool:
        return np.array_equal(self.candidates, candidates)

    @functools.cached_property
    def by_clicks(self) -> NDArray[np.int64]:
        return best_columns(self.clicks[None, :], self.settings[0])[0]

    @functools.cached_property
    def fresh_split(self) -> tuple[NDArray[np.int64], NDArray[np.int64], float]:
        """The candidates surely in the fresh slots (younger than the last slot's), those tied
        for the remaining slots, and when the tied ones joined.
        """
        n_fresh = self.settings[1]
        if n_fresh == 0:
            none = np.zeros(0, dtype=np.int64)
            return none, none, np.inf
        youngest = np.argsort(-self.births, kind="stable")[:n_fresh]
        cut = float(self.births[youngest[-1]])
        return youngest[self.births[youngest] > cut], np.flatnonzero(self.births == cut), cut

    def rotation(self, t: NDArray[np.float64]) -> NDArray[np.int64]:
        """For requests at times `t`, the step of the fresh slots' rotation: the hour (of
        `ROTATIONS_PER_DAY`) of the day since the tied items joined; 0 when nothing ties.
        """
        younger, tied, cut = self.fresh_split
        if len(younger) + len(tied) <= self.settings[1]:
            return np.zeros(len(t), dtype=np.int64)
        return np.floor(((t - cut) % 1.0) * ROTATIONS_PER_DAY).astype(np.int64)

    def retrieved(self, step: int) -> NDArray[np.int64]:
        """Columns retrieved at rotation `step`, in catalog order (read-only): the youngest,
        the tied ones from the block starting `step` / `ROTATIONS_PER_DAY` of the way through
        them, and the most clicked of the rest.
        """
        n_candidates, n_fresh = self.settings
        younger, tied, _ = self.fresh_split
        need = n_fresh - len(younger)
        fresh = younger
        if need:
            start = step * len(tied) // ROTATIONS_PER_DAY
            fresh = np.concatenate([younger, tied[(start + np.arange(need)) % len(tied)]])
        popular = self.by_clicks[~np.isin(self.by_clicks, fresh)]
        retrieved = np.sort(np.concatenate([fresh, popular[: n_candidates - n_fresh]]))
        retrieved.flags.writeable = False
        return retrieved
