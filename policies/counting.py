"""Counting bandits: click and trial counts per item (or per segment and item) under a Beta
prior, and UCB, which ranks by an upper confidence bound on them.

:class:`ClickCounts` is the shared fit (optionally examination-weighted, see
:func:`policies.examined_counts`); Thompson sampling on the same counts is in
:mod:`policies.thompson`, next to its bootstrap variant for learned scorers.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from policies.base import Greedy
from policies.ips import examined_counts, relative_examination
from policies.params import Params
from simulator.records import Requests, TrainingData
from simulator.validation import require_each, require_non_negative, require_positive


def fit_counts(
    data: TrainingData, by_segment: bool, examination: ArrayLike | None, window: float | None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Clicks and trials per (segment, item), or per item as a single group (1, n_items)."""
    impressions = data.impressions
    if window is not None:
        impressions = impressions.subset(impressions.t >= data.now - window)
    n_items = int(impressions.item.max(initial=-1)) + 1
    n_segments = data.features.n_segments if by_segment else None
    clicks, trials = examined_counts(impressions, n_items, examination, n_segments)
    shape = (n_segments or 1, n_items)
    return clicks.reshape(shape), trials.reshape(shape)


def candidate_counts(
    model: Any, candidates: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A fitted model's clicks and trials (groups, C) of the candidates; 0 for unseen items."""
    clicks = getattr(model, "clicks_", np.zeros((1, 0)))
    trials = getattr(model, "trials_", np.zeros((1, 0)))
    known = candidates < clicks.shape[1]
    c, n = np.zeros((len(clicks), len(candidates))), np.zeros((len(clicks), len(candidates)))
    c[:, known], n[:, known] = clicks[:, candidates[known]], trials[:, candidates[known]]
    return c, n


def groups_of(requests: Requests, by_segment: bool, n_groups: int) -> NDArray[np.int64]:
    """Row of the per-group tables each request uses: its segment, or the single group 0."""
    if not by_segment or n_groups == 1:
        return np.zeros(len(requests), dtype=np.int64)
    return requests.segment.astype(np.int64)


def _check_counting(
    prior: tuple[float, float], examination: ArrayLike | None, window: float | None
) -> None:
    if not isinstance(prior, tuple | list) or len(prior) != 2:
        raise ValueError(f"prior must be a pair (a0, b0), got {prior!r}")
    require_each("prior", prior, require_positive)
    if examination is not None:
        relative_examination(examination)
    if window is not None:
        require_positive("window", window, infinite=True)


class ClickCounts(Params):
    """Base of the counting policies: a Beta(a0, b0) prior and click and trial counts per item
    (or per segment and item) from the last `window` days, examination-weighted when given a
    curve (see :class:`ThompsonSampling`).
    """

    def __init__(
        self,
        prior: tuple[float, float] = (1.0, 1.0),
        by_segment: bool = False,
        examination: ArrayLike | None = None,
        window: float | None = None,
    ) -> None:
        _check_counting(prior, examination, window)
        self.prior = prior
        self.by_segment = by_segment
        self.examination = examination
        self.window = window

    def fit(self, data: TrainingData) -> Self:
        """Count `clicks_` and `trials_` per item (or per segment and item) in the window, trials
        weighted by the examination curve when one is given.
        """
        self.clicks_, self.trials_ = fit_counts(
            data, self.by_segment, self.examination, self.window
        )
        return self


class UCB(ClickCounts, Greedy):
    """Deterministic optimism: rank by an upper confidence bound on each item's click rate.

    score_i = (c_i + a0) / (n_i + a0 + b0) + exploration * sqrt(2 ln(1 + N) / (1 + n_i)),
    with c_i clicks, n_i trials (examination-weighted as in :class:`ThompsonSampling` when a
    curve is given) and N = sum_i n_i, per item or per (segment, item): UCB1 of Auer,
    Cesa-Bianchi & Fischer (2002), "Finite-time analysis of the multiarmed bandit problem",
    with a Beta pseudo-count in the mean and one pseudo-trial in the bonus so that unseen items
    score high but finite. Propensities are 1.

    ``exploration=1`` is UCB1, whose bound is for rewards anywhere in [0, 1] and explores far
    too much at click rates of a few percent; the default 0.1 is an arbitrary, milder choice.
    """

    def __init__(
        self,
        exploration: float = 0.1,
        prior: tuple[float, float] = (1.0, 1.0),
        by_segment: bool = False,
        examination: ArrayLike | None = None,
        window: float | None = None,
    ) -> None:
        require_non_negative("exploration", exploration)
        super().__init__(prior, by_segment, examination, window)
        self.exploration = exploration

    def score(self, requests: Requests, candidates: NDArray[np.int64]) -> NDArray[np.float64]:
        """The upper confidence bound of each candidate, per segment when counted by segment;
        unseen items score the prior mean plus the largest bonus.
        """
        clicks, trials = candidate_counts(self, candidates)
        total = getattr(self, "trials_", np.zeros((1, 0))).sum(axis=1, keepdims=True)
        a0, b0 = self.prior
        bonus = np.sqrt(2.0 * np.log1p(total) / (1.0 + trials))
        bounds = (clicks + a0) / (trials + a0 + b0) + self.exploration * bonus
        return bounds[0] if len(bounds) == 1 else bounds[groups_of(requests, True, len(bounds))]
