"""Off-policy estimators: each a small frozen dataclass with one `estimate` method, its formula
and the paper it comes from, selected by name from `ESTIMATORS`.

Every estimator reads the same typed record, `LoggedFeedback` (clicks, importance weights and
reward-model predictions per session and position), and returns `SessionTerms`: one term per
session whose mean is the estimate and whose spread gives its standard error, plus the weights
it relied on (for the effective sample size). Terms rather than a bare number let
`experiments.offline.evaluate_offline` build normal and bootstrap intervals the same way for
every estimator, and let a new estimator join by writing one method.

Notation: session s = 1..n with context x_s, positions r = 1..k, logged item a_sr with click
c_sr, logging propensity pi_0(a_sr at r | x_s); the target pi is deterministic, so the
importance weight is w_sr = 1[pi puts a_sr at r] / pi_0(a_sr at r | x_s); q(x, i, r) is a
reward model's click probability.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class LoggedFeedback:
    """What the estimators read: the log seen through the target, (sessions x positions) each.

    Attributes
    ----------
    clicks : c_sr, 1.0 for a click on the logged item at r.
    weights : w_sr, the importance weights (already capped when the evaluation clips).
    in_target : 1.0 where the logged item at r appears anywhere in the target's slate.
    q_logged, q_target : a reward model's click probabilities for the logged items and for the
        target's items at each position; ``None`` when no estimator asked for a reward model.
    """

    clicks: NDArray[np.float64]
    weights: NDArray[np.float64]
    in_target: NDArray[np.float64]
    q_logged: NDArray[np.float64] | None = None
    q_target: NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        shape = self.clicks.shape
        if len(shape) != 2:
            raise ValueError(f"clicks must be 2-D (sessions x positions), got shape {shape}")
        for name in ("clicks", "weights", "in_target", "q_logged", "q_target"):
            column = getattr(self, name)
            if column is None:
                continue
            if column.shape != shape:
                raise ValueError(f"{name} has shape {column.shape}, clicks {shape}")
            if not np.all(np.isfinite(column)):
                raise ValueError(f"{name} must be finite, got {column[~np.isfinite(column)][0]}")
        if np.any(self.weights < 0):
            raise ValueError(f"weights must be >= 0, got {self.weights.min()}")
        if (self.q_logged is None) != (self.q_target is None):
            raise ValueError("q_logged and q_target must be given together (or neither)")

    def __len__(self) -> int:
        return len(self.clicks)

    @property
    def has_rewards(self) -> bool:
        """Whether the reward model's predictions are attached (DM and DR need them)."""
        return self.q_logged is not None

    def subset(self, rows: NDArray[np.integer]) -> LoggedFeedback:
        """The sessions `rows` (repeats allowed: a bootstrap resample)."""
        return LoggedFeedback(
            clicks=self.clicks[rows],
            weights=self.weights[rows],
            in_target=self.in_target[rows],
            q_logged=None if self.q_logged is None else self.q_logged[rows],
            q_target=None if self.q_target is None else self.q_target[rows],
        )


@dataclass(frozen=True)
class SessionTerms:
    """An estimator's answer: one term per session and the weights behind it.

    `value` is the mean of `terms`; `std_error` their standard deviation over sqrt(n) (for the
    self-normalised and ratio estimators the terms are delta-method influence values, so this
    is the delta-method standard error); `effective_sample_size` is Kish's
    (sum w)^2 / sum w^2 over `weights`, 0 when they sum to 0.
    """

    terms: NDArray[np.float64]
    weights: NDArray[np.float64]

    @property
    def value(self) -> float:
        """The estimate: the mean of the terms."""
        return float(self.terms.mean())

    @property
    def std_error(self) -> float:
        """The standard error of the mean of the terms (NaN for fewer than two sessions)."""
        n = len(self.terms)
        return float(self.terms.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")

    @property
    def effective_sample_size(self) -> float:
        """Kish's effective sample size of the weights, 0 when they sum to 0."""
        total = self.weights.sum()
        return float(total**2 / np.sum(self.weights**2)) if total > 0 else 0.0


@dataclass(frozen=True)
class OffPolicyEstimator(ABC):
    """An estimator of a target's expected clicks per session from `LoggedFeedback`.

    `name` labels its row in results, so two instances of one class can be compared in one
    evaluation. Subclasses set `uses_rewards` when they read the reward model's predictions.
    """

    name: str
    uses_rewards: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"estimator name must be a non-empty string, got {self.name!r}")

    @abstractmethod
    def estimate(self, feedback: LoggedFeedback) -> SessionTerms:
        """Per-session terms whose mean estimates the target's expected clicks per session."""

    def _rewards(self, feedback: LoggedFeedback) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        if feedback.q_logged is None or feedback.q_target is None:
            raise ValueError(
                f"estimator {self.name!r} needs reward-model predictions: feedback has no "
                f"q_logged and q_target"
            )
        return feedback.q_logged, feedback.q_target


@dataclass(frozen=True)
class Naive(OffPolicyEstimator):
    r"""Position- and propensity-blind: k times the click rate of the logged items that the
    target also shows, anywhere in its slate.

    .. math:: \hat V = k \frac{\sum_s \sum_r c_{sr} m_{sr}}{\sum_s \sum_r m_{sr}}

    with m_sr = 1 when the target's slate for x_s contains a_sr. The baseline a practitioner
    reaches for first: under uniform logging it is unbiased only without position bias; with
    it, it credits every position with the average examination. Terms are delta-method
    influence values of the ratio; weights are m.
    """

    name: str = "naive"

    def estimate(self, feedback: LoggedFeedback) -> SessionTerms:
        """The delta-method influence terms of the in-target click rate, scaled by k."""
        clicks, shown = feedback.clicks, feedback.in_target
        k = clicks.shape[1]
        mean_in = max(shown.sum(axis=1).mean(), 1e-12)
        rate = (clicks * shown).sum(axis=1).mean() / mean_in
        influence = k * ((clicks - rate) * shown).sum(axis=1) / mean_in
        return SessionTerms(k * rate + influence - influence.mean(), shown)


@dataclass(frozen=True)
class IPS(OffPolicyEstimator):
    r"""Inverse propensity scoring per (item, position) pair (Horvitz & Thompson, 1952, "A
    generalization of sampling without replacement from a finite universe"; Precup, Sutton &
    Singh, 2000, "Eligibility traces for off-policy policy evaluation"; for slates under a
    position-based click model, Li, Kim & Zitouni, 2018).

    .. math:: \hat V = \frac{1}{n} \sum_s \sum_r w_{sr} c_{sr}

    Unbiased whenever the logging policy could have shown every item the target shows at its
    position; its variance grows with the weights. Terms are sum_r w_sr c_sr.
    """

    name: str = "ips"

    def estimate(self, feedback: LoggedFeedback) -> SessionTerms:
        """Terms sum_r w_sr c_sr, one per session."""
        return SessionTerms((feedback.weights * feedback.clicks).sum(axis=1), feedback.weights)


@dataclass(frozen=True)
class SNIPS(OffPolicyEstimator):
    r"""Self-normalised IPS, per position (Swaminathan & Joachims, 2015, "The self-normalized
    estimator for counterfactual learning").

    .. math:: \hat V = \sum_r \frac{\sum_s w_{sr} c_{sr}}{\sum_s w_{sr}}

    Dividing by the realised weight mass instead of n trades a small bias for much less
    variance when weights are large. A position with no weight contributes 0. Terms are the
    delta-method influence values, so their mean is the estimate and their spread its error.
    """

    name: str = "snips"

    def estimate(self, feedback: LoggedFeedback) -> SessionTerms:
        """The delta-method influence terms of the per-position weighted click ratios."""
        weights, clicks = feedback.weights, feedback.clicks
        mean_w = weights.mean(axis=0)
        safe = np.where(mean_w > 0, mean_w, 1.0)
        ratio = np.where(mean_w > 0, (weights * clicks).mean(axis=0) / safe, 0.0)
        influence = (weights * (clicks - ratio) / safe).sum(axis=1)
        return SessionTerms(ratio.sum() + influence - influence.mean(), weights)


@dataclass(frozen=True)
class DirectMethod(OffPolicyEstimator):
    r"""The direct method: the reward model's predicted clicks of the target's slates (as
    named and compared in Dudik, Langford & Li, 2011, "Doubly robust policy evaluation and
    learning").

    .. math:: \hat V = \frac{1}{n} \sum_s \sum_r q(x_s, \pi(x_s)_r, r)

    No weights, so little variance, but biased as far as q is wrong. Terms are
    sum_r q(x_s, pi(x_s)_r, r); weights are the importance weights, reported so the row shows
    how far the target is from the log's support even though DM does not use them.
    """

    name: str = "dm"
    uses_rewards: ClassVar[bool] = True

    def estimate(self, feedback: LoggedFeedback) -> SessionTerms:
        """Terms sum_r q(x_s, pi(x_s)_r, r): the target's predicted clicks per session."""
        _, q_target = self._rewards(feedback)
        return SessionTerms(q_target.sum(axis=1), feedback.weights)


@dataclass(frozen=True)
class DoublyRobust(OffPolicyEstimator):
    r"""Doubly robust, per position (Dudik, Langford & Li, 2011, "Doubly robust policy
    evaluation and learning").

    .. math:: \hat V = \frac{1}{n} \sum_s \sum_r
        \left[ q(x_s, \pi(x_s)_r, r) + w_{sr} \left(c_{sr} - q(x_s, a_{sr}, r)\right) \right]

    The direct method plus an IPS correction of its residuals: unbiased when the weights are
    right, whatever q; with a good q the residuals are small and so is the variance. Terms are
    the bracket summed over positions.
    """

    name: str = "dr"
    uses_rewards: ClassVar[bool] = True

    def estimate(self, feedback: LoggedFeedback) -> SessionTerms:
        """Terms: the target's predicted clicks plus the weighted residuals of the logged ones."""
        q_logged, q_target = self._rewards(feedback)
        residual = feedback.weights * (feedback.clicks - q_logged)
        return SessionTerms((q_target + residual).sum(axis=1), feedback.weights)


ESTIMATORS: dict[str, Callable[[], OffPolicyEstimator]] = {
    "naive": Naive,
    "ips": IPS,
    "snips": SNIPS,
    "dm": DirectMethod,
    "dr": DoublyRobust,
}
"""Estimators by name, as `evaluate_offline` and result tables spell them; each entry is the
class, called without arguments for its default settings."""
