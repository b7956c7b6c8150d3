"""A two-factor LightGBM click model: examination by position times relevance, learned jointly.

Under the position-based model a click at position r needs the position examined and the item
attractive, P(click | u, i, r) = theta_r * gamma(u, i). A model blind to position credits an
item for where the loop showed it; :class:`TwoFactorLightGBM` fits both factors to the log and
ranks by gamma alone, the appeal of the item wherever it is shown.
"""

from __future__ import annotations

import warnings
from typing import Any, Self

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, logit

from policies.examination.estimators import CurveEstimator, is_estimator
from policies.examination.support import identifying_support, warn_if_not_identified
from policies.lightgbm import LightGBMPolicy
from policies.reference import RandomPolicy
from simulator.records import Impressions, Requests, Slates, TrainingData
from simulator.validation import require_int

BISECTION_STEPS = 60
"""Halvings of the bracket of each theta_r: 2^-60 of its width, far below sampling error."""
SMALLEST_EXAMINATION = 1e-6
"""Floor of theta_r, reached only by a position without a single click."""
CROSS_FIT_STREAM = 1
"""Seeds, with the policy's seed, the split of training rows into two halves for cross-fitting
(a stream of its own, apart from the negative subsampling's)."""
LARGEST_PROBABILITY = 1.0 - 1e-9
"""theta_r * gamma is capped here inside the likelihood, which is undefined at 1."""


class TwoFactorLightGBM(LightGBMPolicy):
    """Greedy ranking by relevance in a jointly fitted P(click) = theta_r * gamma(user, item).

    gamma(u, i) = sigmoid(f(u, i)) is a LightGBM model on the features of
    :class:`~policies.LightGBMPolicy` (position is *not* one of them) and theta_r is one number
    per position. Both maximise the Bernoulli log-likelihood of the log,

        sum over impressions w [c log(theta_r gamma) + (1 - c) log(1 - theta_r gamma)],

    w the negative-subsampling weight, by block coordinate ascent for `n_rounds` rounds:

    * start: theta_r = the click rate at r over the click rate at the top (exact on random
      slates; too steep on a log that puts better items higher, which the rounds correct);
    * gamma given theta: LightGBM with this likelihood as a custom objective (gradient
      -(1 - gamma)(c - p) / (1 - p), Fisher information theta gamma (1 - gamma)^2 / (1 - p) as
      the Hessian, p = theta_r gamma; both reduce to logistic regression at theta_r = 1);
    * theta given gamma: for each position the exact maximiser, the root of
      sum w [c / theta - (1 - c) gamma / (1 - theta gamma)], by bisection, then divided by
      theta_1, so that the next gamma is the click probability at the top.

    Three details make the defaults recover the curve (an earlier version, starting from a flat
    theta, was 10-50% off on random logs). (1) The scale: starting flat, gamma is the click
    rate averaged over positions, so theta_1 must exceed 1 / gamma while theta_1 gamma <= 1
    caps it at 1 / max gamma: one noisy gamma pinned theta_1 to the edge of its range and
    flattened the curve. Anchoring theta_1 = 1 keeps gamma on the top's scale, where the cap
    does not bind. (2) Overfitting: gamma fitted on the same rows absorbs their noise, most of
    it from the click-rich top, which steepens the curve; the theta step therefore reads gamma
    *cross-fitted* (two halves of the rows, each predicted by a model of the other), and the
    served model is refitted on all rows with the final theta. (3) Subsampled non-clicks: the
    theta step weights each kept non-click at r by (non-clicks at r in the log) / (kept at r)
    instead of 1 / `negative_rate`, which removes the binomial noise of how many were kept at
    each position (at 10% it was as large as the click noise at the top).

    This is the regression-EM of Wang et al. (2018, "Position bias estimation for unbiased
    learning to rank in personal search") with each E-step and M-step pair replaced by the exact
    maximisation it converges to (see :class:`policies.examination.RegressionEM` for EM itself).

    The scale is not identifiable (theta c and gamma / c fit equally well), so the learned
    curve is relative to the top, ``examination_`` = theta / theta_1, and scores are gamma
    fitted with that curve, the predicted click probability at the top. A slate logs
    theta_r gamma at position r: the predicted click
    probability where the item was shown, so `calibration_error` stays meaningful. Wrapped in
    an exploration policy, which logs its scorer's scores, it logs the top-position probability
    at every position instead, an overestimate below the top.

    Both factors are identified only when the log shows items at positions the features do not
    predict (random slates, exploration, swaps); on a log of one deterministic personalised
    ranker, gamma can absorb part of the position effect and the curve comes out too flat.
    `fit` then warns :class:`~policies.examination.NotIdentifiableWarning` (the test of
    :func:`~policies.examination.identifying_support`) and sets ``identified_``; for intervals
    on the curve, bootstrap :class:`TwoFactorCurve`.

    Parameters
    ----------
    n_rounds
        Rounds of (gamma given theta, theta given gamma). One suffices on randomised logs,
        where the start is already right up to noise; the default two let the curve move away
        from the start on logs with little randomisation (and match the registry's default).
        Each round costs two fits on half the rows, and the served model one more on all of
        them: `n_rounds` + 1 fits in all.
    **options
        Those of :class:`~policies.LightGBMPolicy`, except `position_feature` and `clip`, which
        this model replaces, and `examination`, which may only be a curve estimator of
        :mod:`policies.examination` (e.g. ``SwapEstimator()`` on a log with swaps): then theta
        is that estimator's curve, fitted afresh on each training log, and only gamma is
        learned (one fit).
    """

    def __init__(self, n_rounds: int = 2, **options: Any) -> None:
        require_int("n_rounds", n_rounds, 1)
        replaced = ["position_feature", "clip"]
        if not is_estimator(options.get("examination")):
            replaced.append("examination")
        for name in replaced:
            value = options.get(name)
            if value is not None and value is not False:
                raise ValueError(
                    f"{name} is not an option of the two-factor model, which learns its own "
                    f"examination curve (or takes a curve estimator); got {name}={options[name]!r}"
                )
        if options.get("warm_start_every") is not None:
            raise ValueError(
                "warm_start_every is not an option of the two-factor model, whose alternating "
                f"fit does not continue a previous one; got {options['warm_start_every']!r}"
            )
        super().__init__(**options)
        self.n_rounds = n_rounds

    def fit(self, data: TrainingData) -> Self:
        """Fit gamma and theta as the class describes; `unclicked_` keeps the log's non-clicks at
        each position for the theta step. Warns when the log cannot identify every position.
        """
        # The theta step post-stratifies the subsampled non-clicks by position (see _train),
        # which needs the log's own count of non-clicks at each position.
        self.unclicked_ = (~data.impressions.click).sum(axis=0).astype(float)
        super().fit(data)
        if self.booster_ is not None and self.curve_ is None:
            support = identifying_support(data.impressions, across_versions=True)
            self.identified_ = warn_if_not_identified(support, self.examination_, repr(self))
        return self

    def _train(
        self,
        x: NDArray[np.float64],
        labels: NDArray[np.float64],
        weights: NDArray[np.float64],
        positions: NDArray[np.int64],
    ) -> lgb.Booster:
        k = self.slate_size_
        self.base_score_ = float(logit(np.clip(np.average(labels, weights=weights), 1e-6, 0.5)))
        if self.curve_ is not None:  # estimated by the given estimator: only gamma is fitted
            self.examination_ = self.curve_
            return self._relevance(x, labels, weights, self.curve_[positions])
        unclicked = labels == 0
        kept = np.bincount(positions[unclicked], minlength=k)
        strata = weights.copy()
        strata[unclicked] = (self.unclicked_ / np.maximum(kept, 1))[positions[unclicked]]
        theta = _positional_click_rates(labels, strata, positions, k)
        halves = np.random.default_rng([self.seed, CROSS_FIT_STREAM]).random(len(labels)) < 0.5
        for _ in range(self.n_rounds):
            gamma = np.empty(len(labels))
            for held_out in (halves, ~halves):
                fitted = ~held_out
                booster = self._relevance(
                    x[fitted], labels[fitted], weights[fitted], theta[positions[fitted]]
                )
                gamma[held_out] = self._relevance_of(booster, x[held_out])
            theta = _examination_given(gamma, labels, strata, positions, k)
            theta = theta / theta[0]
        self.examination_ = theta
        return self._relevance(x, labels, weights, theta[positions])

    def _relevance(
        self,
        x: NDArray[np.float64],
        labels: NDArray[np.float64],
        weights: NDArray[np.float64],
        theta: NDArray[np.float64],
    ) -> lgb.Booster:
        """Gamma given theta (per row): LightGBM with the two-factor likelihood."""
        dataset = self._dataset(x, labels, weights)
        dataset.set_init_score(np.full(len(labels), self.base_score_))
        params = {**self._params(), "objective": _likelihood_objective(theta, labels, weights)}
        return lgb.train(params, dataset, num_boost_round=self.n_trees)

    def _relevance_of(self, booster: lgb.Booster, x: NDArray[np.float64]) -> NDArray[np.float64]:
        raw = np.asarray(booster.predict(x, raw_score=True, num_threads=1), dtype=float)
        return expit(raw + self.base_score_)

    def _probabilities(self, grid: NDArray[np.float64]) -> NDArray[np.float64]:
        """gamma, fitted with theta_1 = 1: the predicted click probability at the top."""
        assert self.booster_ is not None
        return self._relevance_of(self.booster_, grid)

    def rank(
        self,
        requests: Requests,
        candidates: NDArray[np.int64],
        k: int,
        rng: np.random.Generator,
    ) -> Slates:
        """Greedy by relevance; each shown item logs theta_r gamma, its predicted click
        probability at the position it got.
        """
        if self.booster_ is None:
            return RandomPolicy().rank(requests, candidates, k, rng)
        if k > self.slate_size_:
            raise ValueError(
                f"k must be at most the trained slate size {self.slate_size_}, got {k}"
            )
        slates = super().rank(requests, candidates, k, rng)
        return Slates(
            items=slates.items,
            propensities=slates.propensities,
            scores=slates.scores * self.examination_[:k],
        )


def _positional_click_rates(
    labels: NDArray[np.float64],
    weights: NDArray[np.float64],
    positions: NDArray[np.int64],
    k: int,
) -> NDArray[np.float64]:
    """Weighted click rate per position relative to the top's, floored above 0."""
    shown = np.bincount(positions, weights=weights, minlength=k)
    clicks = np.bincount(positions, weights=weights * labels, minlength=k)
    rate = clicks / np.maximum(shown, 1e-12)
    return np.maximum(rate / max(rate[0], 1e-12), SMALLEST_EXAMINATION)


def _likelihood_objective(
    theta: NDArray[np.float64], labels: NDArray[np.float64], weights: NDArray[np.float64]
) -> Any:
    """LightGBM custom objective: the weighted Bernoulli likelihood of p = theta * sigmoid(f)
    with theta fixed per row; gradient and Fisher information with respect to f.
    """

    def objective(
        raw: NDArray[np.float64], dataset: lgb.Dataset
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        gamma = expit(raw)
        p = np.minimum(theta * gamma, LARGEST_PROBABILITY)
        gradient = -(1.0 - gamma) * (labels - p) / (1.0 - p)
        hessian = theta * gamma * (1.0 - gamma) ** 2 / (1.0 - p)
        return weights * gradient, weights * np.maximum(hessian, 1e-12)

    return objective


def _examination_given(
    gamma: NDArray[np.float64],
    labels: NDArray[np.float64],
    weights: NDArray[np.float64],
    positions: NDArray[np.int64],
    k: int,
) -> NDArray[np.float64]:
    """Per position, the theta maximising the weighted likelihood given relevances `gamma`.

    The score sum w [c / theta - (1 - c) gamma / (1 - theta gamma)] falls from +inf (at 0)
    to -inf (at 1 / max gamma) when the position has a click, so it has one root, bracketed
    and bisected for all positions at once.
    """
    clicks = np.bincount(positions, weights=weights * labels, minlength=k)
    unclicked = weights * (1.0 - labels)
    most = np.zeros(k)
    np.maximum.at(most, positions, gamma)
    low = np.zeros(k)
    high = 1.0 / np.maximum(most, 1e-12)
    for _ in range(BISECTION_STEPS):
        middle = (low + high) / 2
        t = middle[positions]
        odds = gamma / np.maximum(1.0 - t * gamma, 1e-12)
        pull = np.bincount(positions, weights=unclicked * odds, minlength=k)
        rising = clicks > middle * pull
        low = np.where(rising, middle, low)
        high = np.where(rising, high, middle)
    return np.maximum((low + high) / 2, SMALLEST_EXAMINATION)


class TwoFactorCurve(CurveEstimator):
    """The curve of a :class:`~policies.TwoFactorLightGBM` fitted to the log (needs
    :class:`~simulator.records.TrainingData`, for the features); `options` go to the model.
    """

    def __init__(self, **options: Any) -> None:
        self.options = options

    def _curve(self, log: TrainingData | Impressions) -> NDArray[np.float64]:
        if not isinstance(log, TrainingData):
            raise ValueError(
                "log must be TrainingData (the two-factor model needs features), "
                f"got {type(log).__name__}"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model = TwoFactorLightGBM(**self.options).fit(log)
        return np.asarray(model.examination_, dtype=float)
