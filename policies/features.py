"""Features for learned click models: observable features and recent popularity from the log.

A model built on these reads only what a production system could know, never the world's
latent truth:

* user features from :meth:`FeatureView.users`: ``segment``, ``user_f0..`` and, when asked for,
  ``activity_bucket``;
* item features from :meth:`FeatureView.items`: ``topic``, ``item_f0..``, ``item_age``;
* log features (`LOG_FEATURES`): the item's impressions, clicks and smoothed click rate over the
  `popularity_days` days before a *snapshot time*, counting only labels that had arrived by then.

A training row takes the snapshot at the start of its own day, so its own click never feeds its
features (no target leakage); scoring takes the snapshot at fit time. A snapshot that would reach
back before the training window is unknown (NaN), which LightGBM treats as missing.

Continuous features (everything except `DISCRETE_FEATURES`) can be bucketed: ``"quantile"``
(equal-count buckets) or ``"fixed"`` (equal-width buckets over the range seen at fit), with
`n_buckets` buckets (`n_user_buckets` for user features, when given); ``"none"`` keeps raw
values. Coarser buckets give a more stable model and a smaller score table (fewer distinct user
rows); finer ones let it separate more.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from simulator.records import Impressions, TrainingData
from simulator.validation import require_choice, require_int, require_positive
from simulator.world import FeatureView

LOG_FEATURES = ("item_impressions", "item_clicks", "item_ctr")
DISCRETE_FEATURES = frozenset({"segment", "activity_bucket", "topic"})
"""Observable features that are already categories or codes: never bucketed."""
OFF_BY_DEFAULT = frozenset({"activity_bucket"})
"""Available but not used unless asked for: activity says nothing about what a user finds
attractive in this world, and each user feature multiplies the size of a score table."""
CATEGORICAL_FEATURES = frozenset({"segment", "topic"})
"""Features LightGBM splits as unordered categories."""
BUCKETINGS = ("quantile", "fixed", "none")
CTR_PSEUDO_IMPRESSIONS = 10.0
"""Smoothing of `item_ctr`: this many pseudo-impressions at the training data's mean click rate
(an arbitrary choice: a few clicks' worth, so one lucky click does not make an item a star)."""


def check_feature_names(
    field: str,
    names: Sequence[str] | None,
    known: Sequence[str],
    default: Sequence[str] | None = None,
) -> tuple[str, ...]:
    """`names` as a tuple (`default`, or all of `known`, when ``None``); a ValueError naming
    `field` if a name is unknown or repeated.
    """
    if names is None:
        return tuple(known if default is None else default)
    if isinstance(names, str) or not all(isinstance(name, str) for name in names):
        raise ValueError(f"{field} must be a list of feature names, got {names!r}")
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"{field} has unknown feature names {unknown}; known: {list(known)}")
    if len(set(names)) != len(names):
        raise ValueError(f"{field} lists a feature twice: {list(names)}")
    return tuple(names)


def bucket_edges(column: NDArray[np.float64], method: str, n_buckets: int) -> NDArray[np.float64]:
    """Inner bucket edges of one column (NaN ignored).

    ``"quantile"``: the column's inner quantiles, so buckets hold about equal counts (ties merge
    buckets, so a column with few distinct values gets fewer). ``"fixed"``: equal widths over
    [min, max].
    """
    finite = column[np.isfinite(column)]
    if len(finite) == 0:
        return np.empty(0)
    if method == "quantile":
        return np.unique(np.quantile(finite, np.arange(1, n_buckets) / n_buckets))
    low, high = float(finite.min()), float(finite.max())
    if low == high:
        return np.empty(0)
    return np.linspace(low, high, n_buckets + 1)[1:-1]


def bucket_codes(column: NDArray[np.float64], edges: NDArray[np.float64]) -> NDArray[np.float64]:
    """Bucket code 0..len(edges) of each value; a value equal to an edge goes to the upper
    bucket; NaN stays NaN.
    """
    codes = np.searchsorted(edges, column, side="right").astype(float)
    codes[np.isnan(column)] = np.nan
    return codes


def popularity_snapshot(
    impressions: Impressions,
    items: NDArray[np.integer],
    at: float,
    days: float,
    start: float,
    prior: float,
) -> NDArray[np.float64]:
    """`LOG_FEATURES` of `items` as known at time `at`: (len(items), 3).

    Counts sessions with ``at - days <= t < at`` whose labels arrived by `at`. All NaN when the
    span reaches before `start` (the log the model was given does not cover it).
    """
    if at - days < start:
        return np.full((len(items), len(LOG_FEATURES)), np.nan)
    rows = (impressions.t >= at - days) & (impressions.t < at) & (impressions.label_time <= at)
    shown = impressions.item[rows].ravel().astype(np.int64)
    size = max(int(items.max(initial=-1)), int(shown.max(initial=-1))) + 1
    n_shown = np.bincount(shown, minlength=size)[items].astype(float)
    n_clicked = np.bincount(
        shown, weights=impressions.click[rows].ravel().astype(float), minlength=size
    )[items]
    ctr = (n_clicked + CTR_PSEUDO_IMPRESSIONS * prior) / (n_shown + CTR_PSEUDO_IMPRESSIONS)
    return np.column_stack([n_shown, n_clicked, ctr])


class FeatureBuilder:
    """Feature matrices with fixed columns: the chosen user features, then the chosen item and log
    features. Rows of the training matrix are logged impressions; rows of a scoring grid are
    (user, item) pairs. `fit_transform` learns the bucket edges from the training rows.
    """

    def __init__(
        self,
        features: FeatureView,
        user_features: Sequence[str] | None = None,
        item_features: Sequence[str] | None = None,
        log_features: Sequence[str] = LOG_FEATURES,
        bucketing: str = "quantile",
        n_buckets: int = 8,
        popularity_days: float = 1.0,
        n_user_buckets: int | None = 3,
    ) -> None:
        require_choice("bucketing", bucketing, BUCKETINGS)
        require_int("n_buckets", n_buckets, 2)
        if n_user_buckets is not None:
            require_int("n_user_buckets", n_user_buckets, 2)
        require_positive("popularity_days", popularity_days)
        known_user = features.user_feature_names
        self.user_features = check_feature_names(
            "user_features",
            user_features,
            known_user,
            default=[n for n in known_user if n not in OFF_BY_DEFAULT],
        )
        self.item_features = check_feature_names(
            "item_features", item_features, features.item_feature_names
        )
        self.log_features = check_feature_names("log_features", log_features, LOG_FEATURES)
        self.bucketing = bucketing
        self.n_buckets = n_buckets
        self.n_user_buckets = n_user_buckets
        self.popularity_days = popularity_days
        self._user_index = [features.user_feature_names.index(n) for n in self.user_features]
        self._item_index = [features.item_feature_names.index(n) for n in self.item_features]
        self._log_index = [LOG_FEATURES.index(n) for n in self.log_features]
        self._age = (
            self.item_features.index("item_age") if "item_age" in self.item_features else None
        )

    @property
    def names(self) -> tuple[str, ...]:
        """Column names of the feature matrix: user, item, then log features."""
        return self.user_features + self.item_features + self.log_features

    @property
    def n_user_columns(self) -> int:
        """How many leading columns are user features (they key the score table)."""
        return len(self.user_features)

    @property
    def categorical(self) -> list[int]:
        """Indices of the columns LightGBM must treat as categorical."""
        return [j for j, name in enumerate(self.names) if name in CATEGORICAL_FEATURES]

    # ------------------------------------------------------------------ training rows
    def fit_transform(
        self,
        data: TrainingData,
        sessions: NDArray[np.int64],
        positions: NDArray[np.int64],
        prior: float,
    ) -> NDArray[np.float64]:
        """Feature matrix of the impressions (session row, position column) of `data`, bucketed
        with edges learned from these rows; also keeps the log features as of `data.now` for
        scoring. `prior` is the log's mean click rate, which smooths `item_ctr`.
        """
        raw = self._raw(data, sessions, positions, prior)
        self.edges_ = [
            bucket_edges(raw[:, j], self.bucketing, self._buckets(j))
            if self.bucketing != "none" and name not in DISCRETE_FEATURES
            else None
            for j, name in enumerate(self.names)
        ]
        return self._bucketed(raw, first=0)

    def transform(
        self,
        data: TrainingData,
        sessions: NDArray[np.int64],
        positions: NDArray[np.int64],
        prior: float,
    ) -> NDArray[np.float64]:
        """Like `fit_transform`, but bucketed with the edges already learned: a model continued
        on new rows must see them in the buckets its first trees split on.
        """
        return self._bucketed(self._raw(data, sessions, positions, prior), first=0)

    def _raw(
        self,
        data: TrainingData,
        sessions: NDArray[np.int64],
        positions: NDArray[np.int64],
        prior: float,
    ) -> NDArray[np.float64]:
        """Unbucketed rows of the impressions; keeps the log features as of `data.now`."""
        imp, view = data.impressions, data.features
        users, user_rows = np.unique(imp.user[sessions], return_inverse=True)
        user_part = view.users(users)[:, self._user_index][user_rows]

        shown = imp.item[sessions, positions].astype(np.int64)
        t = imp.t[sessions]
        items, item_rows = np.unique(shown, return_inverse=True)
        item_part = view.items(items, 0.0)[:, self._item_index][item_rows]
        if self._age is not None:
            item_part[:, self._age] += t  # age at time 0 is -birth; at time t it is t - birth

        log_part = np.empty((len(shown), len(self.log_features)))
        day = np.floor(t)
        for d in np.unique(day):
            rows = day == d
            snapshot = popularity_snapshot(
                imp, shown[rows], float(d), self.popularity_days, data.start, prior
            )
            log_part[rows] = snapshot[:, self._log_index]
        raw = np.hstack([user_part, item_part, log_part])
        self.now_ = data.now
        self.snapshot_ = popularity_snapshot(
            imp,
            np.arange(int(imp.item.max()) + 2),
            data.now,
            self.popularity_days,
            data.start,
            prior,
        )[:, self._log_index]
        return raw

    def _buckets(self, column: int) -> int:
        if column < self.n_user_columns and self.n_user_buckets is not None:
            return self.n_user_buckets
        return self.n_buckets

    def _bucketed(self, raw: NDArray[np.float64], first: int) -> NDArray[np.float64]:
        """Bucket `raw`, which holds the matrix's columns first, first + 1, ..."""
        out = raw.copy()
        for j in range(raw.shape[1]):
            edges = self.edges_[first + j]
            if edges is not None:
                out[:, j] = bucket_codes(raw[:, j], edges)
        return out

    # ------------------------------------------------------------------ scoring grids
    def user_matrix(self, view: FeatureView, users: NDArray[np.integer]) -> NDArray[np.float64]:
        """Bucketed user columns, one row per user id."""
        raw = view.users(users)[:, self._user_index]
        return self._bucketed(raw, first=0)

    def item_matrix(
        self, view: FeatureView, items: NDArray[np.integer], t: float
    ) -> NDArray[np.float64]:
        """Bucketed item and log columns, one row per item id: item features at time `t`, log
        features as of the fit (an item beyond the training log was never shown).
        """
        unseen = len(self.snapshot_) - 1  # the last snapshot row is an item never shown
        log_part = self.snapshot_[np.minimum(items, unseen)]
        raw = np.hstack([view.items(items, t)[:, self._item_index], log_part])
        return self._bucketed(raw, first=self.n_user_columns)
