"""Examination-curve estimators: swaps, intervention harvesting, regression EM, two-factor.

Each estimator is an object whose constructor only stores options and whose
``fit(log)`` (a :class:`~simulator.records.TrainingData` or
:class:`~simulator.records.Impressions`) sets ``curve_``, theta_r / theta_1 of the
position-based model (slate_size,), ``support_``, the identifying impressions per position
(:func:`~policies.examination.support.identifying_support`), and ``identified_``, warning
:class:`NotIdentifiableWarning` where the log cannot tell. :func:`~policies.examination.bootstrap`
adds confidence intervals to any of them.
"""

from __future__ import annotations

import copy
from typing import Any, Self

import numpy as np
from numpy.typing import NDArray

from policies.examination.harvesting import group_ids, harvested_curve
from policies.examination.support import identifying_support, warn_if_not_identified
from simulator.records import Impressions, TrainingData
from simulator.validation import require_int

EM_TOLERANCE = 1e-7
"""EM stops when no theta_r / theta_1 moves by more than this in an iteration."""


def impressions_of(log: TrainingData | Impressions) -> Impressions:
    """The impressions of a training log, or `log` itself when it is already impressions."""
    return log.impressions if isinstance(log, TrainingData) else log


class CurveEstimator:
    """Base of the estimators: `fit` checks identifiability, then calls `_curve`."""

    across_versions = True
    """Whether the estimator harvests position changes between model versions."""

    def fit(self, log: TrainingData | Impressions, stacklevel: int = 3) -> Self:
        """Estimate `curve_` from `log`, with the identifying `support_` of each position and
        `identified_`, whether the log can tell each position apart (else a warning, raised at
        `stacklevel` so that it points at the caller).
        """
        self.curve_ = self._curve(log)
        self.support_ = identifying_support(impressions_of(log), self.across_versions)
        self.identified_ = warn_if_not_identified(
            self.support_, self.curve_, type(self).__name__, stacklevel
        )
        return self

    def _curve(self, log: TrainingData | Impressions) -> NDArray[np.float64]:
        raise NotImplementedError

    def __repr__(self) -> str:
        options = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_"))
        return f"{type(self).__name__}({options})"


class SwapEstimator(CurveEstimator):
    """Intervention harvesting within one model version: the swap estimator.

    Groups are (model version, item); the pairwise harvesting of
    :mod:`policies.examination.harvesting` then compares an item with itself at the positions
    the logging randomisation put it (Joachims, Swaminathan & Schnabel 2017, "Unbiased
    learning-to-rank with biased feedback", for swap interventions; Agarwal et al. 2019 for the
    pairwise weighting). Valid when, within a version, the position an item got does not
    depend on the user's taste: random slates, or a non-personalised policy with swaps or
    random traffic. Positions no chain of harvested pairs links to the top are NaN.
    """

    across_versions = False

    def _curve(self, log: TrainingData | Impressions) -> NDArray[np.float64]:
        impressions = impressions_of(log)
        version = np.broadcast_to(impressions.model_version[:, None], impressions.item.shape)
        group = group_ids(version, impressions.item)
        return harvested_curve(group, impressions.click)[0]


class AllPairs(CurveEstimator):
    """Intervention harvesting across ranker versions (Agarwal et al. 2019, "Estimating
    position bias without intrusive interventions", WSDM; its AllPairs estimator).

    Successive rankers show the same (context, item) at different positions: a natural
    intervention, valid when the item's appeal to that context is the same under both
    rankers. Groups are (context, item) over the whole log, context = the user's segment
    (``context="segment"``) or nothing (``"none"``); the counts of all position pairs are
    combined jointly, C(r | r') = sum_g c_g(r) n_g(r') / (n_g(r) + n_g(r')) with theta_r /
    theta_r' = C(r | r') / C(r' | r) and a weighted least squares over every pair (the paper
    fits an extremum estimator with one relevance per pair; this is its moment version).
    Personalised rankers bias it: within a segment, an item is shown higher to the users who
    like it.
    """

    def __init__(self, context: str = "segment") -> None:
        if context not in ("segment", "none"):
            raise ValueError(f"context must be 'segment' or 'none', got {context!r}")
        self.context = context

    def _curve(self, log: TrainingData | Impressions) -> NDArray[np.float64]:
        impressions = impressions_of(log)
        context = impressions.segment if self.context == "segment" else np.zeros(len(impressions))
        group = group_ids(
            np.broadcast_to(context[:, None], impressions.item.shape), impressions.item
        )
        return harvested_curve(group, impressions.click)[0]


class RegressionEM(CurveEstimator):
    """Expectation-maximisation of the position-based model (Wang et al. 2018, "Position bias
    estimation for unbiased learning to rank in personal search", WSDM).

    P(c = 1) = theta_r gamma_g with examination E ~ Bernoulli(theta_r) and relevance
    R ~ Bernoulli(gamma_g), c = E R, g a (segment, item) cell. E-step, for a non-click:
    P(E = 1, R = 0 | c = 0) = theta (1 - gamma) / (1 - theta gamma) and
    P(E = 0, R = 1 | c = 0) = (1 - theta) gamma / (1 - theta gamma). M-step:
    theta_r = mean over impressions at r of [c + (1 - c) P(E = 1 | c = 0)], gamma_g the same
    with P(R = 1 | c = 0). The paper's *regression* fits gamma by a GBDT on features of the
    cell; here the cells are (segment, item), a saturated regression (the GBDT version is
    :class:`~policies.TwoFactorLightGBM`). Both steps read only the (cell, position) table of
    counts, so iterations are cheap; EM moves theta by about a click rate's share of the
    remaining gap per step, so it runs up to `max_iter` iterations.
    """

    def __init__(self, max_iter: int = 2000) -> None:
        require_int("max_iter", max_iter, 1)
        self.max_iter = max_iter

    def _curve(self, log: TrainingData | Impressions) -> NDArray[np.float64]:
        impressions = impressions_of(log)
        k = impressions.slate_size
        segment = np.broadcast_to(impressions.segment[:, None], impressions.item.shape)
        group = group_ids(segment, impressions.item)
        n_groups = int(group.max(initial=-1)) + 1
        cell = (group * k + np.arange(k)).ravel()
        shown = np.bincount(cell, minlength=n_groups * k).reshape(-1, k).astype(float)
        clicks = np.bincount(
            cell, weights=impressions.click.ravel().astype(float), minlength=n_groups * k
        ).reshape(-1, k)
        quiet = shown - clicks
        theta = np.full(k, 0.5)
        gamma = np.full((n_groups, 1), 0.5)
        for _ in range(self.max_iter):
            p = theta * gamma
            unseen = quiet / np.maximum(1.0 - p, 1e-12)
            examined = clicks + unseen * theta * (1.0 - gamma)
            relevant = clicks + unseen * (1.0 - theta) * gamma
            before = theta / theta[0]
            theta = examined.sum(axis=0) / np.maximum(shown.sum(axis=0), 1e-12)
            gamma = (relevant.sum(axis=1) / np.maximum(shown.sum(axis=1), 1e-12))[:, None]
            if np.max(np.abs(theta / theta[0] - before)) < EM_TOLERANCE:
                break
        return theta / theta[0]


def is_estimator(examination: object) -> bool:
    """Whether an `examination` option is an estimator to fit (rather than a fixed curve)."""
    return callable(getattr(examination, "fit", None))


def fitted_curve(estimator: Any, data: TrainingData) -> NDArray[np.float64]:
    """theta_r / theta_1 estimated from the training log by a fresh copy of `estimator`.

    Positions the log cannot tell (NaN; the estimator has warned) take the value of the
    nearest identified position above them, so training can go on; an empty log gives a
    flat curve.
    """
    k = data.impressions.slate_size
    if len(data) == 0:
        return np.ones(k)
    curve = np.array(copy.deepcopy(estimator).fit(data).curve_, dtype=float)
    curve[0] = 1.0
    for r in range(1, k):
        if not (np.isfinite(curve[r]) and curve[r] > 0):
            curve[r] = curve[r - 1]
    return curve
