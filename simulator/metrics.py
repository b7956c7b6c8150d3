"""Daily metrics: pure functions of one simulated day's data, one vocabulary everywhere.

Each metric in `DAILY_METRICS` maps a :class:`~simulator.day_data.DayData` to a number. The
simulator computes them for the whole population (segment ``"all"``) and for each segment, as a
tidy frame with columns ``day, segment, metric, value``. Add a metric by adding a function to
the registry. Each metric's meaning: docs/metrics.md. The feedback-loop metrics (in
`LOOP_METRICS`, part of `DAILY_METRICS`) show a model feeding on its own logs:

``calibration_error``
    mean over shown items of (predicted - true click probability), where predicted is the logged
    score and true is the item's marginal click probability at the position it was shown in.
    Signed: > 0 means the model over-estimates what it shows. Only sessions served by a model
    whose scores are click probabilities count (a policy says so with a true
    ``scores_are_click_probabilities`` attribute); NaN when there are none, e.g. for random,
    popularity and oracle, whose scores are propensities, counts and attractiveness.
``calibration_error_p1``, ``_p2``, ``_p3``
    the same at one position (NaN beyond the slate).
``apparent_position_effect``
    1 - (mean predicted click probability at the last position) / (at the first): how much less
    clickable the model believes the bottom of its slates is than the top. Compare
    ``position_effect``, the same ratio of true click probabilities (every policy): a model blind
    to position sees only the part of the drop that its ranking explains.
``position_bias_error``
    mean absolute relative error |theta_hat_r - theta_r| / theta_r of the examination curve
    estimated by the serving model (its ``examination_`` attribute, relative to position 1)
    against the click model's true curve (relative to position 1), over positions 2..k and the
    sessions of models that estimate one. NaN when none does, or when the click model has no
    examination curve (cascade, single choice).
``long_tail_share``
    share of impressions going to the long tail: the bottom 80% of live items by past popularity
    (`DayData.item_popularity` < 0.8). Uniform exposure gives about 0.8.
``hit_rate_head``, ``hit_rate_tail``
    click rate of impressions of head items (the top 20% by past popularity) and of tail items.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import sparse

from simulator.day_data import DayData

COLUMNS = ["day", "segment", "metric", "value"]
"""The columns of every tidy frame of daily metrics."""


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
    (among users with at least one item). Chaney et al. (2018) measure homogenisation this way.
    """
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


def _mean(values: NDArray[np.floating] | NDArray[np.bool_]) -> float:
    return float(values.mean()) if values.size else float("nan")


def _sampled_mean(values: NDArray[np.float64]) -> float:
    """Mean over the sessions whose truth was computed (all but NaN under sampled truth)."""
    missing = np.isnan(values)
    return _mean(values[~missing] if missing.any() else values)


def _coverage(d: DayData) -> float:
    shown = np.unique(d.impressions.item)
    return float(np.isin(d.live_items, shown).mean())


NEW_ITEM_DAYS = 7.0
"""Items that joined the catalog during the run, within this many days before a day's end, are
new that day: a week, the default training window and popularity look-back, fixed so that the
metric means the same in every run whatever its window."""


def _is_new(d: DayData, items: NDArray[np.integer]) -> NDArray[np.bool_]:
    birth = d.item_birth[items]
    return (birth > 0) & (birth < d.day_end) & (d.day_end - birth <= NEW_ITEM_DAYS)


def _new_item_share(d: DayData) -> float:
    return _mean(_is_new(d, d.impressions.item.ravel()))


def _new_item_coverage(d: DayData) -> float:
    new = d.live_items[_is_new(d, d.live_items)]
    return float(np.isin(new, d.impressions.item).mean()) if len(new) else float("nan")


def _exposure_gini(d: DayData) -> float:
    if not len(d.impressions):
        return float("nan")
    counts = np.bincount(d.impressions.item.ravel(), minlength=int(d.live_items.max()) + 1)
    return gini(counts[d.live_items])


def _popularity_bias(d: DayData) -> float:
    return _mean(d.item_popularity[d.impressions.item.ravel()])


HEAD_PERCENTILE = 0.8
"""Items at or above this popularity percentile are the head, the rest the long tail (the
80/20 convention; arbitrary)."""
CALIBRATION_POSITIONS = (1, 2, 3)


def _predicted_and_true(d: DayData) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(predicted, true) click probabilities of the sessions whose scores are predictions."""
    if d.score_is_click_probability is None:
        rows = np.zeros(len(d.impressions), dtype=bool)
    else:
        rows = d.score_is_click_probability
    return d.impressions.score[rows].astype(np.float64), d.click_probability[rows]


def calibration_error(d: DayData) -> float:
    """Mean predicted minus true click probability of the items shown by predicting models."""
    predicted, true = _predicted_and_true(d)
    return _mean(predicted - true)


def calibration_error_at(position: int) -> Callable[[DayData], float]:
    """`calibration_error` restricted to one position (1 = top)."""

    def metric(d: DayData) -> float:
        predicted, true = _predicted_and_true(d)
        if position > predicted.shape[1]:
            return float("nan")
        return _mean(predicted[:, position - 1] - true[:, position - 1])

    return metric


def _top_to_bottom_drop(values: NDArray[np.float64]) -> float:
    if len(values) == 0 or values[:, 0].mean() == 0:
        return float("nan")
    return float(1.0 - values[:, -1].mean() / values[:, 0].mean())


def apparent_position_effect(d: DayData) -> float:
    """1 - predicted click probability at the last position over that at the first."""
    return _top_to_bottom_drop(_predicted_and_true(d)[0])


def position_effect(d: DayData) -> float:
    """1 - true click probability at the last position over that at the first."""
    return _top_to_bottom_drop(d.click_probability)


def position_bias_error(d: DayData) -> float:
    """Mean relative error of the serving models' estimated examination curves."""
    if d.true_examination is None or d.estimated_examination is None:
        return float("nan")
    estimated = d.estimated_examination[~np.isnan(d.estimated_examination[:, 0])]
    k = estimated.shape[1]
    if len(estimated) == 0 or k < 2:
        return float("nan")
    true = d.true_examination[:k] / d.true_examination[0]
    relative = estimated / estimated[:, :1]
    return float(np.mean(np.abs(relative[:, 1:] - true[1:]) / true[1:]))


def _is_head(d: DayData) -> NDArray[np.bool_]:
    return d.item_popularity[d.impressions.item] >= HEAD_PERCENTILE


def long_tail_share(d: DayData) -> float:
    """Share of impressions going to items below the head's popularity percentile."""
    return _mean(~_is_head(d))


def hit_rate_head(d: DayData) -> float:
    """Click rate of impressions of head items."""
    return _mean(d.impressions.click[_is_head(d)])


def hit_rate_tail(d: DayData) -> float:
    """Click rate of impressions of long-tail items."""
    return _mean(d.impressions.click[~_is_head(d)])


LOOP_METRICS: dict[str, Callable[[DayData], float]] = {
    "calibration_error": calibration_error,
    **{f"calibration_error_p{r}": calibration_error_at(r) for r in CALIBRATION_POSITIONS},
    "apparent_position_effect": apparent_position_effect,
    "position_effect": position_effect,
    "position_bias_error": position_bias_error,
    "long_tail_share": long_tail_share,
    "hit_rate_head": hit_rate_head,
    "hit_rate_tail": hit_rate_tail,
}


DAILY_METRICS: dict[str, Callable[[DayData], float]] = {
    "ctr": _ctr,
    "utility": lambda d: _mean(d.utility),
    "oracle_utility": lambda d: _sampled_mean(d.oracle_utility),
    "regret": lambda d: _sampled_mean(d.oracle_utility - d.utility),
    "coverage": _coverage,
    "new_item_share": _new_item_share,
    "new_item_coverage": _new_item_coverage,
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
    return pd.DataFrame(rows, columns=COLUMNS)
