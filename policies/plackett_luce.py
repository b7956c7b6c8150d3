"""Plackett-Luce sampling around any scorer: whole rankings drawn from the softmax of its scores,
with exact propensities from :mod:`policies.rank_marginals`.

The exploration wrapper of choice for off-policy evaluation (see :mod:`policies.wrappers` for
the others and when to use which); its own module because its exact marginals need a shared
rank table per candidate set and a computation per request with blocked items.
"""

from __future__ import annotations

from typing import Self

import numpy as np
from numpy.typing import NDArray

from policies import rank_marginals
from policies.base import Wrapper
from policies.params import Params
from policies.slates import allowed_mask, as_matrix, columns_of, logged_slates, take
from simulator.protocols import Scorer
from simulator.ranking import best_columns
from simulator.records import Requests, Slates, TrainingData
from simulator.validation import require_int, require_positive

MAX_LOG_ODDS = 50.0
"""Plackett-Luce weights are floored at exp(-50) of the best: an item more than 50 temperatures
below the best is drawn as if it were exactly 50 below (a chance of ~2e-22 per draw, sampled and
reported alike). Without the floor, subnormal weights break the propensity quadrature."""


class PlackettLuce(Params, Wrapper):
    """Sample whole rankings from the softmax of `inner`'s scores (Plackett-Luce).

    Item i gets weight w_i = exp(s_i / temperature); the slate is drawn without replacement,
    each position picking among the remaining items with probability w_i / sum(remaining)
    (Plackett 1975, "The analysis of permutations"; Luce 1959, "Individual choice behavior"),
    sampled as the top k of log w_i + Gumbel noise (Yellott 1977; Kool et al. 2019, "Stochastic
    beams and where to find them"). The classic stochastic logging policy of unbiased
    learning to rank (Oosterhuis & de Rijke 2020, "Policy-aware unbiased learning to rank for
    top-k rankings"; Oosterhuis 2021, "Computationally efficient optimization of
    Plackett-Luce ranking models").

    Exact propensities: P(i at 1) = w_i / W, and for deeper ranks the exponential-race integral
    of :mod:`policies.rank_marginals` (arrival times ~ Exp(w_j); P(i at r) = ∫ w_i e^{-w_i t}
    P(exactly r-1 others arrived by t) dt), by fixed Gauss-Legendre quadrature in log t,
    accurate to about 1e-9. A shared score row costs one table per distinct candidate set and
    set of weights (cached until the next fit); per-request scores cost O(n_candidates) per
    request plus O(Q k H) for the H items heavy enough to matter individually (Q ~ 44
    nodes on average): about 9 ms of CPU per tick at the `fixes` settings. Requests with
    blocked items are computed one by one in the same way.

    The default temperature suits scores that are click probabilities (a few percent to tens of
    percent): a score 0.1 higher is e times as likely to be drawn first. Scale it with your
    scores (popularity counts need temperatures in the tens). `top_m` samples only among each
    request's `top_m` best-scored allowed candidates (propensity 0 elsewhere), so the long
    tail is never shown; it does not change the cost much. Candidates tied with the m-th score
    are all kept: a cut through a tie would favour items by their index, and an unfitted scorer
    (all scores equal) would show the same m items to everyone forever instead of exploring the
    whole catalog.
    """

    def __init__(self, inner: Scorer, temperature: float = 0.1, top_m: int | None = None) -> None:
        require_positive("temperature", temperature)
        if top_m is not None:
            require_int("top_m", top_m, 1)
        self.inner = inner
        self.temperature = temperature
        self.top_m = top_m

    def check_slate_size(self, k: int) -> None:
        """Refuse slates of `k` items when sampling among fewer (`top_m`): called on every
        ranking, and by an experiment file's loader with the run's slate size.
        """
        if self.top_m is not None and self.top_m < k:
            raise ValueError(f"top_m must be at least the slate size {k}, got {self.top_m}")

    def fit(self, data: TrainingData) -> Self:
        """Fit the inner scorer and drop the propensity tables cached for the previous model."""
        super().fit(data)
        self._cache: dict[bytes, NDArray[np.float64]] = {}
        return self

    def score(self, requests: Requests, candidates: NDArray[np.int64]) -> NDArray[np.float64]:
        """The inner scorer's scores, unchanged (the temperature only shapes the sampling)."""
        return self.inner.score(requests, candidates)

    def rank(
        self,
        requests: Requests,
        candidates: NDArray[np.int64],
        k: int,
        rng: np.random.Generator,
    ) -> Slates:
        """Sample each slate by the Gumbel-max trick (a draw from the Plackett-Luce model) and log
        the exact marginal of each item at its position.
        """
        scores = self.inner.score(requests, candidates)
        shared, weights, own = self._weights(scores, requests.blocked, k, len(requests))
        noise = rng.gumbel(size=(len(requests), len(candidates)))
        with np.errstate(divide="ignore"):
            keys = np.log(weights) + noise
        cols = best_columns(keys, k)
        chosen = take(as_matrix(scores, len(requests)), np.arange(len(requests)), cols)
        propensities = self._marginals(candidates, shared, weights, own, cols)
        return logged_slates(candidates, cols, propensities, chosen)

    def propensities(
        self, requests: Requests, candidates: NDArray[np.int64], items: NDArray[np.integer]
    ) -> NDArray[np.float64]:
        """P(items[s, r] at position r + 1 for request s)."""
        k = items.shape[1]
        scores = self.inner.score(requests, candidates)
        shared, weights, own = self._weights(scores, requests.blocked, k, len(requests))
        return self._marginals(candidates, shared, weights, own, columns_of(candidates, items))

    def _weights(
        self,
        scores: NDArray[np.float64],
        blocked: NDArray[np.bool_] | None,
        k: int,
        n: int,
    ) -> tuple[NDArray[np.float64] | None, NDArray[np.float64], NDArray[np.int64]]:
        """Weights shared by requests with nothing excluded (None for per-request scores), all
        requests' weights (n, C), and the requests that need their own propensities.
        """
        if not np.all(np.isfinite(scores)):
            raise ValueError("PlackettLuce needs finite scores from its scorer")
        self.check_slate_size(k)
        allowed = allowed_mask(blocked, k, scores)
        weights = np.empty((n, scores.shape[-1]))
        shared = None
        own = np.arange(n)
        if scores.ndim == 1:
            shared = self._restricted(scores[None, :], None)[0]
            weights[:] = shared
            own = np.arange(0) if allowed is None else np.flatnonzero(~allowed.all(axis=1))
        if len(own):
            rows_allowed = None if allowed is None else allowed[own]
            weights[own] = self._restricted(as_matrix(scores, n)[own], rows_allowed)
        return shared, weights, own

    def _restricted(
        self, scores: NDArray[np.float64], allowed: NDArray[np.bool_] | None
    ) -> NDArray[np.float64]:
        """exp((s - max) / temperature) over allowed top-m candidates, 0 elsewhere (n, C)."""
        live = np.ones(scores.shape, dtype=bool) if allowed is None else allowed
        if self.top_m is not None and self.top_m < scores.shape[1]:
            masked = np.where(live, scores, -np.inf)
            cutoff = -np.partition(-masked, self.top_m - 1, axis=1)[:, self.top_m - 1 : self.top_m]
            live = live & (masked >= cutoff)
        top = np.max(np.where(live, scores, -np.inf), axis=1, keepdims=True)
        log_weights = (np.where(live, scores, top) - top) / self.temperature
        return np.where(live, np.exp(np.maximum(log_weights, -MAX_LOG_ODDS)), 0.0)

    def _marginals(
        self,
        candidates: NDArray[np.int64],
        shared: NDArray[np.float64] | None,
        weights: NDArray[np.float64],
        own: NDArray[np.int64],
        cols: NDArray[np.int64],
    ) -> NDArray[np.float64]:
        n, k = cols.shape
        out = np.zeros((n, k))
        if shared is not None:
            out = take(self._table(candidates, shared, k), None, cols)
        if len(own):
            out[own] = _plackett_luce_rows(weights[own], cols[own], self.top_m)
        return out

    def _table(
        self, candidates: NDArray[np.int64], weights: NDArray[np.float64], k: int
    ) -> NDArray[np.float64]:
        cache = getattr(self, "_cache", None)
        if cache is None:
            cache = self._cache = {}
        key = b"%d:" % k + candidates.tobytes() + weights.tobytes()
        if key not in cache:
            cache.clear()
            cache[key] = rank_marginals.plackett_luce_table(weights, k)
        return cache[key]


def _plackett_luce_rows(
    weights: NDArray[np.float64], cols: NDArray[np.int64], top_m: int | None
) -> NDArray[np.float64]:
    """Per-request Plackett-Luce propensities of columns `cols` (-1: not a candidate), racing
    only each request's positive weights (gathered to as many columns as the most any request
    has, when `top_m` is given).
    """
    n = len(cols)
    rows = np.arange(n)[:, None]
    width = weights.shape[1] if top_m is None else int((weights > 0).sum(axis=1).max())
    live = best_columns(weights, width) if top_m is not None else None
    racing = weights if live is None else weights[rows, live]
    padded = np.hstack([racing, np.zeros((n, 1))])
    if live is None:
        spot = np.where(cols >= 0, cols, width)
    else:
        match = live[:, None, :] == cols[:, :, None]
        spot = np.where(match.any(axis=2), match.argmax(axis=2), width)
    # The dummy column holds every shown item that cannot be drawn: a zero-weight rival.
    return rank_marginals.plackett_luce_shown(padded, spot)
