"""A LightGBM click model retrained on its own logs and served greedily: the production-style
recommender whose feedback loop the toolkit exists to show.

The model predicts P(click | user, item) from the features of :mod:`policies.features`
(observable features and recent item popularity only), trained with ``lightgbm.train`` on the
labelled log of its window, non-clicks subsampled and reweighted. It is blind to position: a
click at the top counts the same as one at the bottom, as in a naive production pipeline.

Scoring stays fast because the model's prediction for a user depends only on which side of each
of its split thresholds the user's features fall: users with the same side everywhere (a *user
key*) get identical scores. After each fit the policy fills a score table, one row per user key
met and one column per item asked about, in large vectorised ``predict`` calls; serving a tick
is then a gather and a top-k, with no LightGBM call unless a new user key or a new item turns
up. Bucketing the user features keeps the number of keys small (at most the product of bucket
counts), and a retrieval stage in front (:class:`~policies.Retrieval`) keeps the columns to its
candidates. The table is a cache of the fitted model: item features are snapshotted as of the
fit (items born since are not in its training log, so they take the cold-start score).

Items never shown in the training log have no log features; `cold_start` decides their score:
``"zero"`` (never shown, never chosen: the pure greedy baseline, and the default), ``"prior"``
(the log's mean click rate) or ``"popularity"`` (the smoothed click rate of the item's topic in
the log: back-off to its neighbours' popularity). The last two give many items one shared score,
so top-k's deterministic tie-break (catalog order) decides which of them fill the slots they win:
a blunt, arbitrary exploration. Under a greedy log the prior itself is inflated (it is the click
rate of what the model chose to show, mostly at the top), so on the standard world those ties
take most slates' lower positions, and since they are logged as predictions they dominate
`calibration_error`.

Two position-bias fixes are options (DESIGN.md section 5): `position_feature` makes the position
a training feature, set to one fixed `serve_position` at serving, so the score table stays one
table; `examination` turns each click at position r into a target of theta_1 / theta_r
(clipped at `clip`, :func:`policies.ips_weights`) in the log loss, so the model learns the click
probability at the top. The two-factor model of
:mod:`policies.position_aware` and the bootstrap ensemble of :mod:`policies.thompson` build on
this class.

The module is longer than most (about 710 lines, with stateful retraining): one class whose
score table is a cache of its fitted model, filled from the same feature builder and booster;
apart, the two would have to share all of that state.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from typing import Any, Self

import lightgbm as lgb
import numpy as np
from numpy.typing import ArrayLike, NDArray

from policies.base import top_k
from policies.examination.estimators import fitted_curve, is_estimator
from policies.features import (
    BUCKETINGS,
    CTR_PSEUDO_IMPRESSIONS,
    LOG_FEATURES,
    FeatureBuilder,
    check_feature_names,
)
from policies.ips import check_clip, relative_examination
from policies.params import Params
from policies.reference import RandomPolicy
from simulator.records import Impressions, Requests, Slates, TrainingData
from simulator.validation import (
    require_choice,
    require_int,
    require_positive,
    require_probability,
)
from simulator.world import FeatureView

COLD_START_RULES = ("zero", "prior", "popularity")
CHUNK_CELLS = 262_144
"""(user, item) cells handled at once: the rows of one ``predict`` call, or the scores ranked at
once when items are blocked. Large enough that per-call overhead vanishes, small enough to keep
a feature matrix near 30 MB."""


class LightGBMTimings:
    """Seconds spent inside lightgbm's own ``train`` and ``predict`` calls.

    One object is shared by a policy and every copy of it (a deep copy returns the same object),
    so the simulator's refitted copies all add to the timings of the policy you passed in.
    """

    def __init__(self) -> None:
        self.fit_seconds = 0.0
        self.predict_seconds = 0.0
        self.n_fits = 0
        self.n_predicted_rows = 0
        self.n_training_rows = 0

    def __repr__(self) -> str:
        return (
            f"LightGBMTimings(fit_seconds={self.fit_seconds:.3f}, "
            f"predict_seconds={self.predict_seconds:.3f}, n_fits={self.n_fits}, "
            f"n_predicted_rows={self.n_predicted_rows}, n_training_rows={self.n_training_rows})"
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> LightGBMTimings:
        return self


class LightGBMPolicy(Params):
    """Greedy ranking by a LightGBM click model's predicted click probability.

    Parameters
    ----------
    user_features, item_features
        Observable feature names (see :class:`simulator.world.FeatureView`); ``None`` = all but
        ``activity_bucket`` (`policies.features.OFF_BY_DEFAULT`).
    log_features
        Recent-popularity features from the log (`policies.features.LOG_FEATURES`).
    bucketing, n_buckets, n_user_buckets
        ``"quantile"``, ``"fixed"`` (equal width) or ``"none"``, applied to every continuous
        feature, with `n_buckets` >= 2 buckets (`n_user_buckets` for user features, when given:
        they set the size of the score table).
    cold_start
        Score of items never shown in the training log: ``"zero"``, ``"prior"``, ``"popularity"``.
    popularity_days
        Days of log behind the log features.
    negative_rate
        Share of non-clicked impressions kept for training (each weighted 1 / rate, so predicted
        probabilities stay calibrated); clicks are all kept.
    n_trees, n_leaves, learning_rate, min_data_in_leaf
        LightGBM's boosting rounds, ``num_leaves``, ``learning_rate``, ``min_data_in_leaf``.
    position_feature, serve_position
        Whether the position (1 = top) of each training impression is a feature, and the
        position every candidate is scored at when serving (1..slate size; the top by default).
        With an additive model (log-odds = f(position) + g(user, item)) the serving position
        would shift every score by the same amount and never change a ranking. Trees are not
        additive: a split on position can sit under splits on item or log features, so the
        model learns how an item's appeal depends on where it was shown (e.g. popular items
        shown deep, with few clicks there), and scoring at position 10 rather than 1 reorders
        candidates, not just rescales them. The top is the natural choice: it asks "how often
        would this be clicked where it is seen most", the quantity a ranking should sort by
        under the position-based model. Scores are then click probabilities *at that position*.
    examination, clip
        An examination curve theta (slate size long; only ratios to theta_1 matter), a curve
        estimator of :mod:`policies.examination` (e.g. ``SwapEstimator()``, fitted afresh on
        each training log: the curve a production system would have), or None. Given one,
        the model minimises the inverse-propensity-scored log loss
        -sum v [y log p + (1 - y) log(1 - p)] with target y = c min(theta_1 / theta_r, clip)
        (:func:`policies.ips_weights`) and v the negative-subsampling weight: since
        E[c theta_1 / theta_r] = theta_1 a_ui, the unclipped loss is unbiased for the full-
        information loss at the top (Joachims, Swaminathan & Schnabel 2017; pointwise, as in
        Saito et al. 2020, "Unbiased recommender learning from missing-not-at-random implicit
        feedback"). The loss stays convex in the log-odds (its Hessian p (1 - p) does not depend
        on y), so it is a LightGBM custom objective. Weighting whole rows by theta_1 / theta_r
        would instead re-weight the mix of positions, pulling predictions towards the click
        rate of the bottom of the slate.
    warm_start_every, warm_start_trees
        Stateful retraining (off when `warm_start_every` is None). When the simulator hands
        over the fitted copy in service (`fit_from`), the new copy keeps its bucket edges and
        booster and adds `warm_start_trees` boosting rounds fitted on the newly arrived rows
        only (sessions labelled since that copy's fit), as LightGBM's ``init_model`` does; every
        `warm_start_every`-th fit is a full refit on the whole window, which bounds the model's
        size (at most `n_trees` + (`warm_start_every` - 1) x `warm_start_trees` trees) and lets
        it forget. The log features, prior and cold-start scores still come from the whole
        window, exactly as in a refit.
    seed
        Seeds the negative subsampling and LightGBM: same data and seed, same model.
    timings
        Optional :class:`LightGBMTimings` accumulating time inside LightGBM's calls.

    Notes
    -----
    The defaults are sized for the standard world retrained daily (about 100k impressions a day,
    2,000 items): 100 trees of 15 leaves on a week's log with 10% of the non-clicks (about 130k
    rows) fit in about 0.75 s of CPU; 8 quantile buckets for item and log features, and 3 for
    user features, bound the score table by segments x 3^4 user keys (about 400 rows), filled in
    about half a second. Two exact economies keep it there (issue 17): row-wise histograms build
    the same trees as column-wise ones about 1.4x faster on these few-bin features, and the
    table predicts each distinct item row once (at 2,000 items 15-40% of the modelled items
    share a row; at 100,000 items after a day of random logging, 17k distinct rows for 63k
    modelled items). Otherwise the values are a judgement call: on this much click noise, more
    trees, more leaves, more negatives or finer buckets moved the Spearman correlation of scores
    with the true attractiveness (randomly logged standard world, a week) by less than 0.03.

    Before its first fit (no labelled data yet) there is no model: the policy ranks uniformly at
    random, like :class:`~policies.reference.RandomPolicy` with its propensities, and scores every
    item 0; a launch bootstrapped on randomly logged data.
    """

    def __init__(
        self,
        user_features: Sequence[str] | None = None,
        item_features: Sequence[str] | None = None,
        log_features: Sequence[str] = LOG_FEATURES,
        bucketing: str = "quantile",
        n_buckets: int = 8,
        n_user_buckets: int | None = 3,
        cold_start: str = "zero",
        popularity_days: float = 1.0,
        negative_rate: float = 0.1,
        n_trees: int = 100,
        n_leaves: int = 15,
        learning_rate: float = 0.1,
        min_data_in_leaf: int = 100,
        position_feature: bool = False,
        serve_position: int = 1,
        examination: ArrayLike | None = None,
        clip: float | None = None,
        warm_start_every: int | None = None,
        warm_start_trees: int = 10,
        seed: int = 0,
        timings: LightGBMTimings | None = None,
    ) -> None:
        check_feature_names("log_features", log_features, LOG_FEATURES)
        require_choice("bucketing", bucketing, BUCKETINGS)
        require_int("n_buckets", n_buckets, 2)
        if n_user_buckets is not None:
            require_int("n_user_buckets", n_user_buckets, 2)
        require_choice("cold_start", cold_start, COLD_START_RULES)
        require_positive("popularity_days", popularity_days)
        require_probability("negative_rate", negative_rate)
        require_positive("negative_rate", negative_rate)
        require_int("n_trees", n_trees, 1)
        require_int("n_leaves", n_leaves, 2)
        require_positive("learning_rate", learning_rate)
        require_int("min_data_in_leaf", min_data_in_leaf, 1)
        if not isinstance(position_feature, bool):
            raise ValueError(f"position_feature must be true or false, got {position_feature!r}")
        require_int("serve_position", serve_position, 1)
        if examination is not None and not is_estimator(examination):
            relative_examination(examination)
        check_clip(clip)
        if clip is not None and examination is None:
            raise ValueError(f"clip needs an examination curve to clip, got clip={clip}")
        if warm_start_every is not None:
            require_int("warm_start_every", warm_start_every, 1)
        require_int("warm_start_trees", warm_start_trees, 1)
        require_int("seed", seed, 0)
        if timings is not None and not isinstance(timings, LightGBMTimings):
            raise ValueError(f"timings must be a LightGBMTimings recorder, got {timings!r}")
        self.user_features = user_features
        self.item_features = item_features
        self.log_features = log_features
        self.bucketing = bucketing
        self.n_buckets = n_buckets
        self.n_user_buckets = n_user_buckets
        self.cold_start = cold_start
        self.popularity_days = popularity_days
        self.negative_rate = negative_rate
        self.n_trees = n_trees
        self.n_leaves = n_leaves
        self.learning_rate = learning_rate
        self.min_data_in_leaf = min_data_in_leaf
        self.position_feature = position_feature
        self.serve_position = serve_position
        self.examination = examination
        self.clip = clip
        self.warm_start_every = warm_start_every
        self.warm_start_trees = warm_start_trees
        self.seed = seed
        self.timings = timings

    @property
    def scores_are_click_probabilities(self) -> bool:
        """Whether `score` returns predicted click probabilities (once a model is fitted)."""
        return getattr(self, "booster_", None) is not None

    @property
    def ranks_greedily(self) -> bool:
        """Whether `rank` is the greedy top-k of `score`: not before the first fit on data,
        when the policy ranks at random (so wrappers take its propensities as uniform).
        """
        return getattr(self, "booster_", None) is not None

    # ------------------------------------------------------------------ fitting
    def check_slate_size(self, k: int) -> None:
        """Refuse logs of slates of `k` items that `serve_position` lies outside: called on
        every fit, and by an experiment file's loader with the run's slate size.
        """
        if self.serve_position > k:
            raise ValueError(
                f"serve_position must be a position of the log's slates (1..{k}), "
                f"got {self.serve_position}"
            )

    def fit(self, data: TrainingData) -> Self:
        """Train `booster_`, a LightGBM click model, on the clicks and a `negative_rate`
        sample of the non-clicks of `data`, and start the score table.

        On an empty log (the fit at t = 0) `booster_` is None and the policy ranks at random
        until the first fit on data. The subsample is drawn from `seed`, so a refit on the same
        log gives the same model.
        """
        return self._fit(data, None)

    def fit_from(self, previous: Any, data: TrainingData) -> Self:
        """Fit on `data`, continuing `previous` (the fitted copy in service) on the sessions
        labelled since it was fitted when `warm_start_every` asks for it; otherwise `fit`.
        """
        n_continued = getattr(previous, "n_continued_", None)
        if (
            self.warm_start_every is None
            or getattr(previous, "booster_", None) is None
            or n_continued is None
            or n_continued + 1 >= self.warm_start_every
            or len(data) == 0
        ):
            return self.fit(data)
        return self._fit(data, previous)

    def _fit(self, data: TrainingData, previous: Any) -> Self:
        """A refit (`previous` None) or a continuation of `previous` on the newly labelled rows."""
        if previous is None:
            self.builder_ = FeatureBuilder(
                data.features,
                self.user_features,
                self.item_features,
                self.log_features,
                self.bucketing,
                self.n_buckets,
                self.popularity_days,
                self.n_user_buckets,
            )
        else:  # the same bucket edges: the booster's splits are on their codes
            self.builder_ = copy.copy(previous.builder_)
        self.booster_: lgb.Booster | None = None
        self.n_continued_ = 0 if previous is None else previous.n_continued_ + 1
        self.continued_sessions_: int | None = None
        if len(data) == 0:
            return self
        imp = data.impressions
        self.slate_size_ = imp.slate_size
        self.curve_ = self._training_curve(data)
        self.check_slate_size(imp.slate_size)
        rng = np.random.default_rng(self.seed)
        keep = imp.click | (rng.random(imp.click.shape) < self.negative_rate)
        if previous is not None:
            new = imp.label_time > previous.now_
            keep &= new[:, None]
            self.continued_sessions_ = int(new.sum())
        sessions, positions = np.nonzero(keep)
        labels = imp.click[sessions, positions].astype(float)
        weights = np.where(labels > 0, 1.0, 1.0 / self.negative_rate)
        self.prior_ = float(imp.click.mean())
        if previous is None:
            x = self.builder_.fit_transform(data, sessions, positions, self.prior_)
        else:
            x = self.builder_.transform(data, sessions, positions, self.prior_)
        if self.position_feature:
            x = np.column_stack([x, positions + 1.0])

        started = time.perf_counter()
        if previous is None:
            self.booster_ = self._train(x, labels, weights, positions)
        else:
            self.booster_ = self._continue(previous, x, labels, weights, positions)
        if self.timings is not None:
            self.timings.fit_seconds += time.perf_counter() - started
            self.timings.n_fits += 1
            self.timings.n_training_rows += len(labels)

        self.now_ = data.now
        self.known_ = np.zeros(int(imp.item.max()) + 1, dtype=bool)
        self.known_[imp.item.ravel()] = True
        self.topic_scores_ = self._topic_scores(imp, data.features)
        self.key_splits_ = _split_thresholds(self.booster_, self.builder_.n_user_columns)
        self._start_table()
        return self

    @property
    def feature_names_(self) -> tuple[str, ...]:
        """Columns of the model: the feature builder's, then ``position`` if it is a feature."""
        return self.builder_.names + (("position",) if self.position_feature else ())

    def _params(self) -> dict[str, Any]:
        """LightGBM parameters (single-threaded and deterministic, so runs are reproducible).

        Row-wise histograms give the same trees as column-wise ones (each bin still sums its
        rows' gradients in row order, in double), and on these few-bin features they build
        about 1.4x faster.
        """
        return {
            "objective": "binary",
            "num_leaves": self.n_leaves,
            "learning_rate": self.learning_rate,
            "min_data_in_leaf": self.min_data_in_leaf,
            "max_bin": 63,
            "num_threads": 1,
            "deterministic": True,
            "force_row_wise": True,
            "seed": self.seed,
            "verbose": -1,
        }

    def _dataset(
        self, x: NDArray[np.float64], labels: NDArray[np.float64], weights: NDArray[np.float64]
    ) -> lgb.Dataset:
        return lgb.Dataset(
            x,
            label=labels,
            weight=weights,
            feature_name=list(self.feature_names_),
            categorical_feature=self.builder_.categorical,
            free_raw_data=True,
        )

    def _train(
        self,
        x: NDArray[np.float64],
        labels: NDArray[np.float64],
        weights: NDArray[np.float64],
        positions: NDArray[np.int64],
    ) -> lgb.Booster:
        """The fitted booster on training rows `x` (shown at 0-based `positions`)."""
        dataset = self._dataset(x, labels, weights)
        if self.curve_ is None:
            return lgb.train(self._params(), dataset, num_boost_round=self.n_trees)
        inverse = 1.0 / self.curve_
        targets = labels * np.minimum(inverse, self.clip or np.inf)[positions]
        mean = np.average(targets, weights=weights)
        self.base_score_ = float(np.log(np.clip(mean, 1e-6, 0.5) / (1 - np.clip(mean, 1e-6, 0.5))))
        dataset.set_init_score(np.full(len(labels), self.base_score_))
        params = {**self._params(), "objective": _ips_log_loss(targets, weights)}
        return lgb.train(params, dataset, num_boost_round=self.n_trees)

    def _continue(
        self,
        previous: Any,
        x: NDArray[np.float64],
        labels: NDArray[np.float64],
        weights: NDArray[np.float64],
        positions: NDArray[np.int64],
    ) -> lgb.Booster:
        """`previous`'s booster with `warm_start_trees` more rounds fitted on rows `x` (its own
        predictions are their starting scores), or unchanged when no new row arrived.
        """
        if len(labels) == 0:
            assert previous.booster_ is not None
            return previous.booster_
        dataset = self._dataset(x, labels, weights)
        params = self._params()
        if self.curve_ is not None:
            # The booster's raw scores exclude the base score a refit starts from: add it back.
            self.base_score_ = previous.base_score_
            targets = labels * np.minimum(1.0 / self.curve_, self.clip or np.inf)[positions]
            params["objective"] = _ips_log_loss(targets, weights, self.base_score_)
        return lgb.train(
            params, dataset, num_boost_round=self.warm_start_trees, init_model=previous.booster_
        )

    def _training_curve(self, data: TrainingData) -> NDArray[np.float64] | None:
        """The curve training uses: the given one, or one the given estimator fits to `data`
        (then also ``examination_``, so the simulation monitors it).
        """
        if self.examination is None:
            return None
        if not is_estimator(self.examination):
            return relative_examination(self.examination, data.impressions.slate_size)
        self.examination_ = fitted_curve(self.examination, data)
        return self.examination_

    def _item_matrix(
        self, view: FeatureView, items: NDArray[np.int64], t: float
    ) -> NDArray[np.float64]:
        """Model columns after the user ones for `items`: item and log features, and the serving
        position when position is a feature (constant, so one table serves every request).
        """
        rows = self.builder_.item_matrix(view, items, t)
        if self.position_feature:
            rows = np.column_stack([rows, np.full(len(rows), float(self.serve_position))])
        return rows

    def _probabilities(self, grid: NDArray[np.float64]) -> NDArray[np.float64]:
        """The model's score of each row of a full feature `grid`."""
        assert self.booster_ is not None
        if self.examination is None:
            return np.asarray(self.booster_.predict(grid, num_threads=1), dtype=float)
        raw = np.asarray(self.booster_.predict(grid, raw_score=True, num_threads=1), dtype=float)
        return 1.0 / (1.0 + np.exp(-(raw + self.base_score_)))

    def _topic_scores(self, imp: Impressions, view: FeatureView) -> NDArray[np.float64]:
        """Under the ``"popularity"`` rule, the smoothed click rate of each topic in the log."""
        shown = _topics(view, np.arange(len(self.known_)), self.now_)[imp.item.ravel()]
        n_topics = int(shown.max()) + 1
        n_shown = np.bincount(shown, minlength=n_topics)
        n_clicked = np.bincount(shown, weights=imp.click.ravel().astype(float), minlength=n_topics)
        return (n_clicked + CTR_PSEUDO_IMPRESSIONS * self.prior_) / (
            n_shown + CTR_PSEUDO_IMPRESSIONS
        )

    def _cold_scores(self, view: FeatureView, items: NDArray[np.int64]) -> NDArray[np.float64]:
        """The `cold_start` rule's score of each item (a topic never shown scores the prior)."""
        if self.cold_start == "zero":
            return np.zeros(len(items))
        scores = np.full(len(items), self.prior_)
        if self.cold_start == "popularity":
            topics = _topics(view, items, self.now_)
            seen = topics < len(self.topic_scores_)
            scores[seen] = self.topic_scores_[topics[seen]]
        return scores

    # ------------------------------------------------------------------ the score table
    def _start_table(self) -> None:
        """An empty table: no user keys and no columns yet. Columns are filled for the items
        ranking asks about, so a retrieval stage in front keeps the table to its candidates.
        """
        self._table = np.empty((0, 0))  # rows beyond n_keys_ are spare capacity
        self.n_keys_ = 0
        self._row_of_key: dict[bytes, int] = {}
        self._user_rows = np.empty((0, self.builder_.n_user_columns))
        self._column_of_item = np.full(0, -1, dtype=np.int64)
        self._cold_row = np.empty(0)  # per column: the cold-start score, NaN where modelled
        self._modelled = np.empty(0, dtype=np.int64)
        self._item_rows = np.empty((0, len(self.feature_names_) - self.builder_.n_user_columns))
        self._slate_candidates: NDArray[np.int64] | None = None

    @property
    def table_(self) -> NDArray[np.float64]:
        """Predicted click probability (or cold-start score) per (user key met, item column)."""
        return self._table[: self.n_keys_]

    def _add_columns(self, view: FeatureView, items: NDArray[np.int64]) -> None:
        """Score new items for every user key met so far: cold items by rule, others by model."""
        first = len(self._cold_row)
        columns = np.arange(first, first + len(items))
        grow = int(items.max(initial=-1)) + 1 - len(self._column_of_item)
        if grow > 0:
            self._column_of_item = np.concatenate([self._column_of_item, np.full(grow, -1)])
        self._column_of_item[items] = columns
        inside = items < len(self.known_)
        known = np.zeros(len(items), dtype=bool)
        known[inside] = self.known_[items[inside]]
        cold = self._cold_scores(view, items)
        cold[known] = np.nan
        item_rows = self._item_matrix(view, items[known], self.now_)
        block = np.broadcast_to(cold, (len(self._table), len(items))).copy()
        block[: self.n_keys_, known] = self._predict(self._user_rows, item_rows)
        self._table = np.hstack([self._table, block])
        self._cold_row = np.concatenate([self._cold_row, cold])
        self._modelled = np.concatenate([self._modelled, columns[known]])
        self._item_rows = np.vstack([self._item_rows, item_rows])

    def _add_rows(self, user_rows: NDArray[np.float64]) -> None:
        """Score new user keys (one representative bucketed user row each) for every column."""
        n, stop = self.n_keys_, self.n_keys_ + len(user_rows)
        if stop > len(self._table):  # grow by doubling: amortised O(1) per key
            spare = np.empty((max(stop, 2 * len(self._table), 64), len(self._cold_row)))
            spare[:n] = self._table[:n]
            self._table = spare
        self._table[n:stop] = self._cold_row
        self._table[n:stop, self._modelled] = self._predict(user_rows, self._item_rows)
        self._user_rows = np.vstack([self._user_rows, user_rows])
        self.n_keys_ = stop

    def _predict(
        self, user_rows: NDArray[np.float64], item_rows: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Predicted click probability of every (user row, item row) pair: (users, items).

        Each distinct item row is predicted once and its scores copied to the items sharing it
        (bucketed codes make many items alike): the same input row gives the same output bits,
        so this is the full grid's prediction at the cost of the distinct rows.
        """
        n_users = len(user_rows)
        out = np.empty((n_users, len(item_rows)))
        if n_users == 0 or len(item_rows) == 0 or self.booster_ is None:
            return out
        distinct, inverse = _distinct_rows(item_rows)
        n_items = len(distinct)
        step = max(1, CHUNK_CELLS // n_items)
        for first in range(0, n_users, step):
            users = user_rows[first : first + step]
            grid = np.hstack(
                [np.repeat(users, n_items, axis=0), np.tile(distinct, (len(users), 1))]
            )
            started = time.perf_counter()
            scores = self._probabilities(grid)
            if self.timings is not None:
                self.timings.predict_seconds += time.perf_counter() - started
                self.timings.n_predicted_rows += len(grid)
            out[first : first + len(users)] = scores.reshape(len(users), n_items)[:, inverse]
        return out

    def _rows(self, requests: Requests) -> NDArray[np.int64]:
        """Table row of each request's user key, filling rows for keys not met before."""
        user_rows = self.builder_.user_matrix(requests.features, requests.user)
        keys = _user_keys(user_rows, self.key_splits_)
        unique, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        found = np.array([self._row_of_key.get(key.tobytes(), -1) for key in unique], dtype=int)
        new = np.flatnonzero(found < 0)
        if len(new):
            found[new] = self.n_keys_ + np.arange(len(new))
            for i in new:
                self._row_of_key[unique[i].tobytes()] = int(found[i])
            self._add_rows(user_rows[first[new]])
        return found[inverse.ravel()]

    def _columns(self, view: FeatureView, candidates: NDArray[np.int64]) -> NDArray[np.int64]:
        """Table column of each candidate, filling columns for items not scored before (with
        their features as of the fit: the model's snapshot).
        """
        inside = candidates < len(self._column_of_item)
        columns = np.full(len(candidates), -1)
        columns[inside] = self._column_of_item[candidates[inside]]
        if (columns < 0).any():
            self._add_columns(view, candidates[columns < 0])
            columns = self._column_of_item[candidates]
        return columns

    # ------------------------------------------------------------------ scoring and ranking
    def score(self, requests: Requests, candidates: NDArray[np.int64]) -> NDArray[np.float64]:
        """Predicted click probability of each (request, candidate): (n_requests, n_candidates),
        or shared zeros (n_candidates,) before the first fit.
        """
        if self.booster_ is None:
            return np.zeros(len(candidates))
        columns = self._columns(requests.features, candidates)
        rows = self._rows(requests)
        return self._table[rows][:, columns]

    def rank(
        self,
        requests: Requests,
        candidates: NDArray[np.int64],
        k: int,
        rng: np.random.Generator,
    ) -> Slates:
        """The greedy top-k of the predicted click probabilities (propensities 1); uniformly random
        slates before the first fit on data, when there is no model to rank by.
        """
        if self.booster_ is None:
            return RandomPolicy().rank(requests, candidates, k, rng)
        columns = self._columns(requests.features, candidates)
        rows = self._rows(requests)
        if requests.blocked is None:
            items, scores = self._key_slates(rows, candidates, columns, k)
            return Slates(items=items, propensities=np.ones(items.shape), scores=scores)
        step = max(1, CHUNK_CELLS // max(len(candidates), 1))
        parts = [
            top_k(
                self._table[rows[first : first + step]][:, columns],
                candidates,
                k,
                requests.blocked[first : first + step],
            )
            for first in range(0, len(rows), step)
        ]
        return Slates(
            items=np.vstack([p.items for p in parts]),
            propensities=np.vstack([p.propensities for p in parts]),
            scores=np.vstack([p.scores for p in parts]),
        )

    def _key_slates(
        self,
        rows: NDArray[np.int64],
        candidates: NDArray[np.int64],
        columns: NDArray[np.int64],
        k: int,
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Items and scores of each row's top-k, ranked once per user key and kept while the
        candidates stay the same (the live catalog changes once a day).
        """
        same = self._slate_candidates
        if same is None or not np.array_equal(same, candidates):
            self._slate_candidates = candidates.copy()
            self._slate_items = np.zeros((0, k), dtype=np.int64)
            self._slate_scores = np.zeros((0, k))
        if len(self._slate_items) < self.n_keys_ or self._slate_items.shape[1] != k:
            have = len(self._slate_items) if self._slate_items.shape[1] == k else 0
            fresh = top_k(self._table[have : self.n_keys_][:, columns], candidates, k)
            self._slate_items = np.vstack([self._slate_items[:have], fresh.items])
            self._slate_scores = np.vstack([self._slate_scores[:have], fresh.scores])
        return self._slate_items[rows], self._slate_scores[rows]


def _ips_log_loss(
    targets: NDArray[np.float64], weights: NDArray[np.float64], offset: float = 0.0
) -> Any:
    """LightGBM custom objective: weighted log loss with targets that may exceed 1; gradient
    p - y and Hessian p (1 - p) with respect to the log-odds (the raw score plus `offset`).
    """

    def objective(
        raw: NDArray[np.float64], dataset: lgb.Dataset
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        p = 1.0 / (1.0 + np.exp(-(raw + offset)))
        return weights * (p - targets), weights * np.maximum(p * (1.0 - p), 1e-12)

    return objective


def _split_thresholds(booster: lgb.Booster, n_columns: int) -> list[NDArray[np.float64] | None]:
    """For each of the first `n_columns` features: the sorted thresholds of the model's numeric
    splits on it (empty if never split on), or ``None`` if it has categorical splits (then the
    value itself is part of the key).
    """
    thresholds: list[set[float]] = [set() for _ in range(n_columns)]
    categorical = [False] * n_columns
    stack = [tree["tree_structure"] for tree in booster.dump_model()["tree_info"]]
    while stack:
        node = stack.pop()
        if "split_feature" not in node:
            continue
        j = node["split_feature"]
        if j < n_columns:
            if node["decision_type"] == "==":
                categorical[j] = True
            else:
                thresholds[j].add(float(node["threshold"]))
        stack.extend([node["left_child"], node["right_child"]])
    return [
        None if is_categorical else np.array(sorted(values))
        for values, is_categorical in zip(thresholds, categorical, strict=True)
    ]


def _user_keys(
    user_rows: NDArray[np.float64], splits: list[NDArray[np.float64] | None]
) -> NDArray[np.float64]:
    """Per user row, which side of every split threshold each feature falls on (numeric splits
    send ``value <= threshold`` left), or the category itself: equal keys, equal predictions.
    """
    keys = np.zeros(user_rows.shape)
    for j, thresholds in enumerate(splits):
        if thresholds is None:
            keys[:, j] = user_rows[:, j]
        elif len(thresholds):
            keys[:, j] = np.searchsorted(thresholds, user_rows[:, j], side="left")
    return keys


def _distinct_rows(
    rows: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """The distinct rows of `rows` (equal bytes, so NaN codes match NaN codes) and, for each
    row, the index of its distinct row: ``distinct[inverse]`` equals `rows` bit for bit.
    """
    packed = np.ascontiguousarray(rows)
    keys = packed.view(np.dtype((np.void, packed.dtype.itemsize * packed.shape[1]))).ravel()
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return packed[first], inverse.ravel()


def _topics(view: FeatureView, items: NDArray[np.integer], t: float) -> NDArray[np.int64]:
    return view.items(items, t)[:, view.item_feature_names.index("topic")].astype(np.int64)
