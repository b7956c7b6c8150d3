"""The policy protocol, the ranking helper every deterministic policy shares, and the bases of
greedy scorers and wrappers.

A policy has two verbs (:class:`~simulator.protocols.Policy`, re-exported here)::

    policy.fit(data: TrainingData) -> policy          # learn from the labelled log
    policy.rank(requests, candidates, k, rng) -> Slates

`rank` returns, for each request, `k` distinct candidate items with the probability that the
policy put each one at its position. A *scorer* also has two verbs, `fit` and
``score(requests, candidates)`` (a score per request and candidate, higher is better); the
exploration and debiasing fixes are wrappers around any scorer, and every shipped scorer is also
a greedy policy (its `rank` is :func:`top_k` of its scores).

Two things every policy meets, and that trip a first one:

* **The empty first fit.** The simulator fits every policy at t = 0, before anything was
  shown, on a log with no impressions; `fit` must cope (no ``max`` of an empty array) and `rank`
  must still serve.
* **Blocked items.** ``requests.blocked`` (n_requests, n_candidates), when not None, marks
  candidates a request must not see (e.g. already bought); a slate may hold one only when fewer
  than `k` unblocked candidates remain. :func:`top_k` handles both: blocked candidates go last.

Constructors only store their arguments (under their own names, so
:class:`~policies.params.Params` can read them back); `fit` computes learned state in
attributes ending in ``_`` and returns ``self``. The simulator refits a fresh copy of the policy
you give it at every retrain, so `fit` need not undo a previous fit. Optional capabilities
(predicted click probabilities as scores, an estimated examination curve, exact propensities of
any item) are the small protocols of :mod:`simulator.protocols`. Decorate the class with
``@policies.register_policy("most_clicked")`` (or declare it under the ``recloop.policies``
entry point group of your package) to name it in a TOML experiment, and run
:func:`policies.check_policy` on it.

Examples
--------
A ten-line policy (the clicks of the last `window` days, greedily), which passes the checks:

>>> import numpy as np
>>> from policies import check_policy, top_k
>>> class MostClicked:
...     def __init__(self, window: float = 1.0):
...         self.window = window
...
...     def fit(self, data):
...         recent = data.impressions.subset(data.impressions.t >= data.now - self.window)
...         self.clicked_ = recent.item[recent.click].astype(np.int64)
...         return self
...
...     def rank(self, requests, candidates, k, rng):
...         clicks = np.bincount(self.clicked_, minlength=int(candidates.max()) + 1)
...         scores = clicks[candidates].astype(float)
...         return top_k(scores, candidates, k, requests.blocked, len(requests))
>>> check_policy(MostClicked())

Reading the largest logged item id in `fit` fails the first, empty, fit:

>>> class LargestId(MostClicked):
...     def fit(self, data):
...         self.n_items_ = int(data.impressions.item.max()) + 1
...         return super().fit(data)
>>> check_policy(LargestId())
Traceback (most recent call last):
...
AssertionError: check_policy(...) failed:
- fit on an empty log (the simulator's first fit, at t = 0) raised ValueError: zero-size array...
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from numpy.typing import NDArray

from simulator.protocols import (
    ContinuesTraining,
    Policy,
    Scorer,
    continued_sessions,
    estimated_examination,
    predicts_clicks,
)
from simulator.ranking import best_columns
from simulator.records import Requests, Slates, TrainingData

__all__ = ["Greedy", "Policy", "Scorer", "Wrapper", "top_k"]


def top_k(
    scores: NDArray[np.float64],
    candidates: NDArray[np.int64],
    k: int,
    blocked: NDArray[np.bool_] | None = None,
    n_requests: int | None = None,
) -> Slates:
    """Deterministic slates: the `k` best-scoring candidates per request, best first.

    `scores` is (n_requests, n_candidates), or one row shared by all requests (then pass
    `n_requests`). Blocked candidates go last, shown only when fewer than `k` remain.
    Propensities are 1.
    """
    shared = scores.ndim == 1
    if shared and blocked is None:
        best = best_columns(scores[None, :], k)[0]
        n = int(n_requests if n_requests is not None else 1)
        items = np.broadcast_to(candidates[best], (n, k)).copy()
        chosen = np.broadcast_to(scores[best], (n, k)).astype(np.float64)
    else:
        matrix = (
            np.broadcast_to(scores, blocked.shape) if shared and blocked is not None else scores
        )
        if blocked is not None:
            matrix = np.where(blocked, -np.inf, matrix)
        best = best_columns(matrix, k)
        items = candidates[best]
        chosen = np.take_along_axis(np.broadcast_to(scores, matrix.shape), best, axis=1)
    return Slates(items=items, propensities=np.ones(items.shape), scores=chosen.astype(float))


class Greedy:
    """Base of the scorers that rank greedily: `rank` is `top_k` of `score`, propensities 1."""

    def score(self, requests: Requests, candidates: NDArray[np.int64]) -> NDArray[np.float64]:
        """Scores (n_requests, n_candidates) or one shared row, higher ranking higher."""
        raise NotImplementedError

    def rank(
        self,
        requests: Requests,
        candidates: NDArray[np.int64],
        k: int,
        rng: np.random.Generator,
    ) -> Slates:
        """The `k` best-scored allowed candidates per request, via :func:`top_k`: a deterministic
        policy, so every propensity is 1.
        """
        scores = self.score(requests, candidates)
        return top_k(scores, candidates, k, requests.blocked, n_requests=len(requests))


class Wrapper:
    """Base of the fixes that wrap another policy or scorer, stored as `inner` (as in
    Gymnasium's wrappers): fitting fits the inner one, and since the logged scores are the
    inner one's, so is the answer to whether they are click probabilities. An examination
    curve the inner one estimated (``examination_``) shows through, so a wrapped two-factor
    model is still monitored by ``position_bias_error``.

    A wrapper that learns something of its own overrides `fit` and fits its inner policy there
    with `fit_inner`, never ``inner.fit``: that is how stateful retraining (`fit_from`) reaches
    a warm-starting model through any stack of wrappers. Every wrapper therefore offers
    `fit_from`; around a model that cannot continue it is `fit`.
    """

    inner: Any

    def fit(self, data: TrainingData) -> Self:
        """Fit the inner policy on `data`; the wrapper's own settings need no learning."""
        self.fit_inner(data)
        return self

    def fit_from(self, previous: Any, data: TrainingData) -> Self:
        """Fit as `fit` does, with the inner policy continuing `previous`'s inner one when it
        retrains statefully (:class:`~simulator.protocols.ContinuesTraining`): wrapping a model
        in a fix must not silently turn its stateful retraining off.
        """
        self._previous_inner = getattr(previous, "inner", None)
        try:
            return self.fit(data)
        finally:
            del self._previous_inner

    def fit_inner(self, data: TrainingData) -> None:
        """Fit `inner` on `data`: every wrapper's `fit` does it this way, so that `fit_from`
        reaches the inner policy through any stack of wrappers.
        """
        previous = getattr(self, "_previous_inner", None)
        if previous is not None and isinstance(self.inner, ContinuesTraining):
            self.inner.fit_from(previous, data)
        else:
            self.inner.fit(data)

    @property
    def continued_sessions_(self) -> int | None:
        """The inner policy's: how many sessions it trained on by continuing its predecessor."""
        return continued_sessions(self.inner)

    @property
    def scores_are_click_probabilities(self) -> bool:
        """The inner one's answer, since the logged scores are the inner one's."""
        return predicts_clicks(self.inner)

    @property
    def examination_(self) -> NDArray[np.float64] | None:
        """The inner one's estimated examination curve: wrapping does not hide it."""
        return estimated_examination(self.inner)
