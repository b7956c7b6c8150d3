"""A two-factor LightGBM click model: examination by position times relevance, learned jointly.

Under the position-based model a click at position r needs the position examined and the item
attractive, P(click | u, i, r) = theta_r * gamma(u, i). A model blind to position credits an
item for where the loop showed it; :class:`TwoFactorLightGBM` fits both factors to the log and
ranks by gamma alone, the appeal of the item wherever it is shown.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray
from scipy.special import expit, logit

from policies.lightgbm import LightGBMPolicy
from policies.reference import RandomPolicy
from simulator.records import Requests, Slates
from simulator.validation import require_int

BISECTION_STEPS = 60
"""Halvings of the bracket of each theta_r: 2^-60 of its width, far below sampling error."""
SMALLEST_EXAMINATION = 1e-6
"""Floor of theta_r, reached only by a position without a single click."""
LARGEST_PROBABILITY = 1.0 - 1e-9
"""theta_r * gamma is capped here inside the likelihood, which is undefined at 1."""


class TwoFactorLightGBM(LightGBMPolicy):
    """Greedy ranking by relevance in a jointly fitted P(click) = theta_r * gamma(user, item).

    gamma(u, i) = sigmoid(f(u, i)) is a LightGBM model on the features of
    :class:`~policies.LightGBMPolicy` (position is *not* one of them) and theta_r is one number
    per position. Both maximise the Bernoulli log-likelihood of the log,

        sum over impressions w [c log(theta_r gamma) + (1 - c) log(1 - theta_r gamma)],

    w the negative-subsampling weight, by block coordinate ascent for `n_rounds` rounds, from
    theta = 1 (no belief about position: the first gamma is the position-blind model):

    * gamma given theta: LightGBM with this likelihood as a custom objective (gradient
      -(1 - gamma)(c - p) / (1 - p), Fisher information theta gamma (1 - gamma)^2 / (1 - p) as
      the Hessian, p = theta_r gamma; both reduce to logistic regression at theta_r = 1);
    * theta given gamma: for each position the exact maximiser, the root of
      sum w [c / theta - (1 - c) gamma / (1 - theta gamma)], by bisection.

    This is the regression-EM of Wang et al. (2018, "Position bias estimation for unbiased
    learning to rank in personal search") with each E-step and M-step pair replaced by the exact
    maximisation it converges to: EM's update of theta moves by about a click rate's share of
    the remaining gap per iteration (slow at click rates of a few percent, with a LightGBM refit
    each time), while the direct step reaches the maximiser given gamma at once.

    The scale is not identifiable (theta c and gamma / c fit equally well), so the learned
    curve is reported relative to the top, ``examination_`` = theta / theta_1, and scores are
    theta_1 gamma, the predicted click probability at the top, which ranks like gamma. A slate
    logs theta_r theta_1 gamma / theta_1 = theta_r gamma at position r: the predicted click
    probability where the item was shown, so `calibration_error` stays meaningful. Wrapped in
    an exploration policy, which logs its scorer's scores, it logs the top-position probability
    at every position instead, an overestimate below the top.

    Both factors are identified only when the log shows items at positions the features do not
    predict (random slates, exploration, swaps); on a log of one deterministic personalised
    ranker, gamma can absorb part of the position effect and the curve comes out too flat.

    Parameters
    ----------
    n_rounds
        Rounds of (gamma given theta, theta given gamma). One round suffices on randomised logs;
        each round refits LightGBM, so the cost is `n_rounds` fits.
    **options
        Those of :class:`~policies.LightGBMPolicy`, except `position_feature`, `examination` and
        `clip`, which this model replaces.
    """

    def __init__(self, n_rounds: int = 2, **options: Any) -> None:
        require_int("n_rounds", n_rounds, 1)
        for name in ("position_feature", "examination", "clip"):
            if options.get(name) not in (None, False):
                raise ValueError(
                    f"{name} is not an option of the two-factor model, which learns its own "
                    f"examination curve; got {name}={options[name]!r}"
                )
        super().__init__(**options)
        self.n_rounds = n_rounds

    def _train(
        self,
        x: NDArray[np.float64],
        labels: NDArray[np.float64],
        weights: NDArray[np.float64],
        positions: NDArray[np.int64],
    ) -> lgb.Booster:
        theta = np.ones(self.slate_size_)
        self.base_score_ = float(logit(np.clip(np.average(labels, weights=weights), 1e-6, 0.5)))
        dataset = self._dataset(x, labels, weights)
        dataset.set_init_score(np.full(len(labels), self.base_score_))
        for _ in range(self.n_rounds):
            objective = _likelihood_objective(theta[positions], labels, weights)
            booster = lgb.train(
                {**self._params(), "objective": objective}, dataset, num_boost_round=self.n_trees
            )
            raw = np.asarray(booster.predict(x, raw_score=True, num_threads=1), dtype=float)
            gamma = expit(raw + self.base_score_)
            theta = _examination_given(gamma, labels, weights, positions, self.slate_size_)
        self.theta_ = theta
        self.examination_ = theta / theta[0]
        return booster

    def _probabilities(self, grid: NDArray[np.float64]) -> NDArray[np.float64]:
        """theta_1 gamma: the predicted click probability at the top."""
        assert self.booster_ is not None
        raw = self.booster_.predict(grid, raw_score=True, num_threads=1)
        return self.theta_[0] * expit(np.asarray(raw, dtype=float) + self.base_score_)

    def rank(
        self,
        requests: Requests,
        candidates: NDArray[np.int64],
        k: int,
        rng: np.random.Generator,
    ) -> Slates:
        """Greedy by relevance; each shown item logs theta_r gamma, its predicted click
        probability at the position it got."""
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


def _likelihood_objective(
    theta: NDArray[np.float64], labels: NDArray[np.float64], weights: NDArray[np.float64]
) -> Any:
    """LightGBM custom objective: the weighted Bernoulli likelihood of p = theta * sigmoid(f)
    with theta fixed per row; gradient and Fisher information with respect to f."""

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
