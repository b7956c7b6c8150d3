"""Daily metrics: pure functions of one simulated day's data, one vocabulary everywhere.

Each metric in `DAILY_METRICS` maps a :class:`DayData` to a number. The simulator computes them
for the whole population (segment ``"all"``) and for each segment, as a tidy frame with columns
``day, segment, metric, value``. Add a metric by adding a function to the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import sparse, stats

from simulator.diagnostics import LOOP_METRICS
from simulator.records import Impressions


@dataclass(frozen=True)
class DayData:
    """Everything the daily metrics read about one day (sessions with day <= t < day + 1).

    `click_probability` is each shown item's true marginal click probability at its position;
    `utility` and `oracle_utility` are each session's expected clicks under the true click model
    for the slate shown and for the best possible slate; `item_popularity` is each item's
    percentile (0..1) among the live catalog by clicks over the preceding days; `consumed_*` are
    the (user, item) clicks of the trailing homogenisation window; `model_age` is, per session,
    the days since the model that served it was deployed; `score_is_click_probability` marks the
    sessions whose logged scores are the serving model's predicted click probabilities (``None``:
    no session's are); `estimated_examination` is, per session, the examination curve the
    serving model estimated (NaN rows where it estimates none) and `true_examination` the click
    model's (``None`` when it has no examination curve).
    """

    day: int
    impressions: Impressions
    shown_attractiveness: NDArray[np.float64]
    click_probability: NDArray[np.float64]
    utility: NDArray[np.float64]
    oracle_utility: NDArray[np.float64]
    live_items: NDArray[np.int64]
    item_popularity: NDArray[np.float64]
    consumed_user: NDArray[np.int64]
    consumed_item: NDArray[np.int64]
    preferences: NDArray[np.float64]
    model_age: NDArray[np.float64]
    day_end: float
    rng: np.random.Generator
    n_pairs: int = 1000
    score_is_click_probability: NDArray[np.bool_] | None = None
    estimated_examination: NDArray[np.float64] | None = None
    true_examination: NDArray[np.float64] | None = None

    def for_users(self, session_rows: NDArray[np.bool_], users: NDArray[np.bool_]) -> DayData:
        """The same day restricted to some sessions and users (one segment, say)."""
        consumed = users[self.consumed_user]
        return DayData(
            day=self.day,
            impressions=self.impressions.subset(session_rows),
            shown_attractiveness=self.shown_attractiveness[session_rows],
            click_probability=self.click_probability[session_rows],
            utility=self.utility[session_rows],
            oracle_utility=self.oracle_utility[session_rows],
            live_items=self.live_items,
            item_popularity=self.item_popularity,
            consumed_user=self.consumed_user[consumed],
            consumed_item=self.consumed_item[consumed],
            preferences=self.preferences[users],
            model_age=self.model_age[session_rows],
            day_end=self.day_end,
            rng=self.rng,
            n_pairs=self.n_pairs,
            score_is_click_probability=None
            if self.score_is_click_probability is None
            else self.score_is_click_probability[session_rows],
            estimated_examination=None
            if self.estimated_examination is None
            else self.estimated_examination[session_rows],
            true_examination=self.true_examination,
        )


def gini(values: NDArray[np.floating] | NDArray[np.integer]) -> float:
    """Gini coefficient of non-negative values: 0 when equal, -> 1 when one holds everything."""
    x = np.sort(np.asarray(values, dtype=float))
    n, total = len(x), x.sum()
    if n == 0 or total == 0:
        return float("nan")
    ranks = np.arange(1, n + 1)
    return float(2.0 * (ranks * x).sum() / (n * total) - (n + 1) / n)


def mean_pairwise_cosine(vectors: NDArray[np.float64]) -> float:
    """Mean cosine similarity over all distinct pairs, in O(n d): |sum u_i|^2 = n + sum_{i!=j}."""
    n = len(vectors)
    if n < 2:
        return float("nan")
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    total = unit.sum(axis=0)
    return float((total @ total - n) / (n * (n - 1)))


def mean_pairwise_jaccard(
    users: NDArray[np.int64], items: NDArray[np.int64], n_pairs: int, rng: np.random.Generator
) -> float:
    """Mean Jaccard similarity of the item sets of `n_pairs` random pairs of distinct users
    (among users with at least one item). Chaney et al. (2018) measure homogenisation this way."""
    present, user_rows = np.unique(users, return_inverse=True)
    if len(present) < 2:
        return float("nan")
    item_ids, item_cols = np.unique(items, return_inverse=True)
    matrix = sparse.csr_matrix(
        (np.ones(len(users)), (user_rows, item_cols)), shape=(len(present), len(item_ids))
    )
    matrix.data[:] = 1.0  # repeated clicks on one item count once
    a = rng.integers(len(present), size=n_pairs)
    b = (a + rng.integers(1, len(present), size=n_pairs)) % len(present)
    sizes = np.asarray(matrix.sum(axis=1)).ravel()
    shared = np.asarray(matrix[a].multiply(matrix[b]).sum(axis=1)).ravel()
    return float(np.mean(shared / (sizes[a] + sizes[b] - shared)))


def _ctr(d: DayData) -> float:
    return float(d.impressions.click.mean()) if len(d.impressions) else float("nan")


def _mean(values: NDArray[np.float64]) -> float:
    return float(values.mean()) if len(values) else float("nan")


def _coverage(d: DayData) -> float:
    shown = np.unique(d.impressions.item)
    return float(np.isin(d.live_items, shown).mean())


def _exposure_gini(d: DayData) -> float:
    if not len(d.impressions):
        return float("nan")
    counts = np.bincount(d.impressions.item.ravel(), minlength=int(d.live_items.max()) + 1)
    return gini(counts[d.live_items])


def _popularity_bias(d: DayData) -> float:
    return _mean(d.item_popularity[d.impressions.item.ravel()])


DAILY_METRICS: dict[str, Callable[[DayData], float]] = {
    "ctr": _ctr,
    "utility": lambda d: _mean(d.utility),
    "oracle_utility": lambda d: _mean(d.oracle_utility),
    "regret": lambda d: _mean(d.oracle_utility - d.utility),
    "coverage": _coverage,
    "exposure_gini": _exposure_gini,
    "popularity_bias": _popularity_bias,
    "homogenization": lambda d: mean_pairwise_jaccard(
        d.consumed_user, d.consumed_item, d.n_pairs, d.rng
    ),
    "preference_similarity": lambda d: mean_pairwise_cosine(d.preferences),
    "model_staleness": lambda d: _mean(d.model_age),
    "labelled_share": lambda d: _mean((d.impressions.label_time <= d.day_end).astype(float)),
    **LOOP_METRICS,
}
"""Each metric's meaning: docs/metrics.md."""


def popularity_percentile(
    clicked_items: NDArray[np.int64], live_items: NDArray[np.int64], n_items_total: int
) -> NDArray[np.float64]:
    """Each live item's percentile rank (ties share their mean rank) by click count; the
    exposure-weighted mean of it is 0.5 when exposure ignores popularity."""
    counts = np.bincount(clicked_items, minlength=n_items_total)[live_items]
    percentile = np.full(n_items_total, np.nan)
    percentile[live_items] = (stats.rankdata(counts) - 0.5) / len(live_items)
    return percentile


def compute_daily(
    day: DayData,
    user_segment: NDArray[np.int8],
    n_segments: int,
    metrics: dict[str, Callable[[DayData], float]] | None = None,
) -> pd.DataFrame:
    """Every metric for the whole population and each segment, as tidy rows."""
    metrics = DAILY_METRICS if metrics is None else metrics
    scopes: list[tuple[str, DayData]] = [("all", day)]
    for s in range(n_segments):
        users = user_segment == s
        scopes.append((str(s), day.for_users(day.impressions.segment == s, users)))
    rows = [
        (day.day, scope, name, fn(data)) for scope, data in scopes for name, fn in metrics.items()
    ]
    return pd.DataFrame(rows, columns=["day", "segment", "metric", "value"])
