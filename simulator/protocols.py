"""The contract the simulator drives: what a policy must do, and what it may optionally declare.

A policy has two verbs, ``fit`` and ``rank`` (:class:`Policy`); a scorer has ``fit`` and
``score`` (:class:`Scorer`). Five optional capabilities are small protocols of their own,
checked with ``isinstance`` (they are runtime-checkable), never by a policy's class:

* :class:`PredictsClicks` -- ``scores_are_click_probabilities``: the logged scores are predicted
  click probabilities, so the calibration metrics read them;
* :class:`EstimatesExamination` -- ``examination_``: an examination curve the fitted policy
  estimated (relative to position 1), which ``position_bias_error`` compares with the truth;
* :class:`ReportsPropensities` -- ``propensities(requests, candidates, items)``: the exact
  probability of each item at each position, for any items, not only the ones drawn; the
  wrappers that mix in their own randomness need it from the policy they wrap;
* :class:`ContinuesTraining` -- ``fit_from(previous, data)``: fit by continuing the fitted copy
  in service on the newly arrived data (stateful retraining) rather than from scratch; every
  wrapper offers it, passing it on to the policy it wraps;
* :class:`MayRankAtRandom` -- ``ranks_greedily``: a scorer whose slates are not, for now, the
  top-k of its scores (a model not yet fitted on data, ranking at random), so that wrappers
  take its propensities as uniform rather than as its greedy slate's.

The simulator owns this contract because it is what the loop calls; ``policies`` re-exports
every name, so users write ``from policies import Policy``.
"""

from __future__ import annotations

from typing import Any, Protocol, Self, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from simulator.records import Requests, Slates, TrainingData


@runtime_checkable
class Policy(Protocol):
    """Decides the slates and learns from the labelled log.

    ``fit`` is first called at t = 0 on an empty log, then at every retrain on the labelled
    log of its window; ``rank`` returns `k` distinct candidates per request, never a blocked
    one while enough unblocked ones remain, with the probability of each at its position.
    """

    def fit(self, data: TrainingData) -> Self:
        """Learn from the labelled log and return self (the log is empty at t = 0)."""

    def rank(
        self,
        requests: Requests,
        candidates: NDArray[np.int64],
        k: int,
        rng: np.random.Generator,
    ) -> Slates:
        """One slate of `k` candidate indices per request, with each item's propensity and score.

        Draws randomness only from `rng` (the exploration stream), so that a run is reproducible
        and the other streams do not depend on the policy.
        """


@runtime_checkable
class Scorer(Protocol):
    """Scores candidates, higher is better; the exploration wrappers turn it into a policy."""

    def fit(self, data: TrainingData) -> Self:
        """Learn from the labelled log and return self (the log is empty at t = 0)."""

    def score(self, requests: Requests, candidates: NDArray[np.int64]) -> NDArray[np.float64]:
        """Scores (n_requests, n_candidates), or one row (n_candidates,) shared by all."""
        ...


@runtime_checkable
class PredictsClicks(Protocol):
    """A policy whose logged scores may be predicted click probabilities (when this is true)."""

    @property
    def scores_are_click_probabilities(self) -> bool:
        """Whether the scores are predicted click probabilities (calibration reads only these)."""


@runtime_checkable
class MayRankAtRandom(Protocol):
    """A scorer that ranks greedily by its scores only once it says so."""

    @property
    def ranks_greedily(self) -> bool:
        """Whether `rank` is now the top-k of `score` (else uniformly random slates)."""


@runtime_checkable
class EstimatesExamination(Protocol):
    """A policy that may have estimated an examination curve (None when it has not)."""

    @property
    def examination_(self) -> Any:
        """The estimated examination curve relative to position 1; None until estimated."""


@runtime_checkable
class ReportsPropensities(Protocol):
    """A policy that tells the exact marginal of any item at any position."""

    def propensities(
        self, requests: Requests, candidates: NDArray[np.int64], items: NDArray[np.integer]
    ) -> NDArray[np.float64]:
        """P(items[s, r] at position r + 1 for request s), (n_requests, k)."""
        ...


@runtime_checkable
class ContinuesTraining(Protocol):
    """A policy that can continue the fitted copy in service (stateful retraining): the
    simulator calls ``fit_from`` instead of ``fit`` on each retrain's fresh copy.

    After ``fit_from``, ``continued_sessions_`` is how many sessions of `data` a continuation
    trained on (the ones labelled since `previous` was fitted), or None after a fit from
    scratch: the training cost the ``trained_sessions`` metric reports. (It is not a member of
    the protocol: an unfitted copy, which ``isinstance`` is asked about, does not have it yet.)
    """

    def fit_from(self, previous: Any, data: TrainingData) -> Self:
        """Fit on `data`, continuing `previous` (None before the first deployment) or not."""
        ...


@runtime_checkable
class ChecksSlateSize(Protocol):
    """Knows before any run whether it can fill slates of `k` items (a sampling pool of
    `top_m`, a serving position), so a bad experiment file fails at load, not mid-run.
    """

    def check_slate_size(self, k: int) -> None:
        """Raise a one-line ValueError if slates of `k` items cannot be served."""


def predicts_clicks(policy: object) -> bool:
    """Whether `policy` logs predicted click probabilities as its scores (the calibration
    metrics read only those).
    """
    return isinstance(policy, PredictsClicks) and bool(policy.scores_are_click_probabilities)


def ranks_greedily(policy: object) -> bool:
    """Whether a scorer's slates are now the top-k of its scores: unless it says otherwise
    (:class:`MayRankAtRandom`), a scorer ranks greedily.
    """
    return not isinstance(policy, MayRankAtRandom) or bool(policy.ranks_greedily)


def estimated_examination(policy: object) -> NDArray[np.float64] | None:
    """The examination curve `policy` estimated (relative to position 1), or None."""
    if not isinstance(policy, EstimatesExamination) or policy.examination_ is None:
        return None
    return np.asarray(policy.examination_, dtype=float)


def continued_sessions(policy: object) -> int | None:
    """Sessions a fitted `policy` trained on by continuing its predecessor, or None if it was
    fitted from scratch (or cannot continue).
    """
    if not isinstance(policy, ContinuesTraining):
        return None
    continued = getattr(policy, "continued_sessions_", None)
    return None if continued is None else int(continued)
