"""Propensity-weighted training: inverse-examination weights and position-debiased click counts.

Under the position-based model a click at position r happens with probability
theta_r * a_ui, so raw click counts credit items for where they were shown. Two corrections,
both from an examination curve theta (known from the click model, e.g.
``PositionBasedModel(eta).examination(k)``, or estimated with
:func:`policies.estimate_examination`), always taken relative to theta_1:

* **Inverse propensity weights** (:func:`ips_weights`): weight each impression by
  theta_1 / theta_r, so that a weighted click count is unbiased for the clicks the item would
  have had at the top (Joachims, Swaminathan & Schnabel 2017, "Unbiased learning-to-rank with
  biased feedback"; Wang et al. 2016, "Learning to rank with selection bias in personal
  search"). Clipping the weights at `clip` trades that bias for variance (Strehl et al. 2010,
  "Learning from logged implicit exploration data"). Any model can pass them as sample weights.
* **Examination-weighted trials** (:func:`examined_counts`): count an impression at position r
  as theta_r / theta_1 of a trial, so clicks / trials estimates the top-position click rate
  ("clicks over expected clicks", Zhang & Jones 2007). This keeps click and trial counts on one
  scale, which is what Beta posteriors and confidence bounds need.
"""

from __future__ import annotations

from typing import Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from policies.reference import PopularityPolicy
from simulator.records import Impressions, TrainingData
from simulator.validation import require_number


def relative_examination(examination: ArrayLike, slate_size: int | None = None) -> NDArray:
    """Validated examination curve divided by its first value; `slate_size` checks its length."""
    theta = np.asarray(examination, dtype=float)
    if theta.ndim != 1 or len(theta) == 0 or not np.all(np.isfinite(theta) & (theta > 0)):
        raise ValueError(
            f"examination must be a 1-D array of positive finite values, got {examination!r}"
        )
    if slate_size is not None and len(theta) != slate_size:
        raise ValueError(
            f"examination has {len(theta)} positions but the log's slates have {slate_size}"
        )
    return theta / theta[0]


def check_clip(clip: float | None) -> None:
    """`clip` caps weights theta_1 / theta_r, so it is None or a number >= 1."""
    if clip is not None:
        require_number("clip", clip)
        if clip < 1:
            raise ValueError(f"clip must be >= 1 (a cap on weights theta_1 / theta_r), got {clip}")


def ips_weights(
    impressions: Impressions, examination: ArrayLike, clip: float | None = None
) -> NDArray[np.float64]:
    """Inverse-examination weights (n_sessions, slate_size), aligned with ``impressions.item``.

    w_{s,r} = min(theta_1 / theta_r, clip) (no clipping when `clip` is None). The weighted
    click count sum_s w_{s,r} c_{s,r} of an item is unbiased for its clicks at position 1 when
    unclipped; `clip` (>= 1) caps the weight of deep positions.
    """
    check_clip(clip)
    theta = relative_examination(examination, impressions.slate_size)
    weights = 1.0 / theta
    if clip is not None:
        weights = np.minimum(weights, clip)
    return np.broadcast_to(weights, impressions.item.shape).copy()


def examined_counts(
    impressions: Impressions,
    n_items: int,
    examination: ArrayLike | None = None,
    n_segments: int | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Clicks and trials per item, (n_items,) or per segment and item (n_segments, n_items).

    A trial is one impression, or theta_r / theta_1 of one at position r when `examination` is
    given, so that clicks / trials estimates the click rate at the top position.
    """
    k = impressions.slate_size
    per_impression = np.ones(k) if examination is None else relative_examination(examination, k)
    items = impressions.item.astype(np.int64)
    if n_segments is not None:
        items = items + n_items * impressions.segment.astype(np.int64)[:, None]
    size = n_items * (n_segments or 1)
    clicks = np.bincount(items[impressions.click], minlength=size).astype(float)
    per_item = np.broadcast_to(per_impression, items.shape).ravel()
    trials = np.bincount(items.ravel(), weights=per_item, minlength=size).astype(float)
    shape = (n_segments, n_items) if n_segments is not None else (n_items,)
    return clicks[:size].reshape(shape), trials[:size].reshape(shape)


class IPSPopularity(PopularityPolicy):
    """Rank by inverse-examination-weighted clicks of the last `window` days (all when None).

    score_i = sum over impressions of i of w_{s,r} c_{s,r}, with w from :func:`ips_weights`:
    an estimate of the clicks item i would have had at the top, so an item is no longer
    rewarded for having been shown high. The same slate for everyone, like
    :class:`PopularityPolicy`, whose scores it reproduces when theta is flat.
    """

    def __init__(
        self, examination: ArrayLike, clip: float | None = None, window: float | None = None
    ) -> None:
        relative_examination(examination)
        check_clip(clip)
        super().__init__(window=window)
        self.examination = examination
        self.clip = clip

    def fit(self, data: TrainingData) -> Self:
        """Learn `clicks_`, the examination-weighted click total of each item in the window: the
        clicks each item would have had at the top.
        """
        impressions = data.impressions
        if self.window is not None:
            impressions = impressions.subset(impressions.t >= data.now - self.window)
        weights = ips_weights(impressions, self.examination, self.clip)
        clicked = impressions.click
        self.clicks_ = np.bincount(
            impressions.item[clicked].astype(np.int64), weights=weights[clicked], minlength=0
        )
        return self
