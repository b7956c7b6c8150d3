"""Exploration: stochastic slates around any scorer, each reporting exact propensities.

Every policy here reports, for each shown item, the exact probability that it put that item
at that position (marginal over its own randomness), and answers the same question for any
item through ``propensities(requests, candidates, items)``, so off-policy estimators and IPS
training are unbiased and the wrappers compose (:class:`RandomTraffic` and
:class:`policies.RandomizedSwaps` mix in their own randomness exactly).

Which one to use:

* :class:`EpsilonGreedy` -- the simplest; explores blindly, so cheap to reason about. ``"slots"``
  spreads exploration over the slate, ``"top"`` shows one exploratory item at the top, where it
  is seen most (fastest learning, highest cost).
* :class:`PlackettLuce` -- softmax sampling of whole rankings: explores near the top of the
  scorer's ranking, rarely shows bad items, and (without `top_m`) gives every item a positive
  propensity at every position, which off-policy evaluation of other rankers needs.
* :class:`ThompsonSampling` -- its own Beta-Bernoulli model of item click rates; explores where
  it is uncertain, so it settles as evidence accumulates. Position-aware via `examination`.
* :class:`UCB` -- deterministic optimism; no propensities to log (all 1), so its logs do not
  support off-policy evaluation.
* :class:`RandomTraffic` -- a fixed share of uniformly random sessions: unbiased data for
  evaluation and position-bias estimation, at a known cost.

Ties in scores are broken the same arbitrary but deterministic way as :func:`policies.top_k`.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from policies import race
from policies.base import Greedy, Policy, Scorer, Wrapper
from policies.ips import examined_counts, relative_examination
from policies.slates import (
    allowed_mask,
    as_matrix,
    columns_of,
    greedy_columns,
    n_allowed,
    position_probabilities,
    scores_of,
    take,
)
from simulator.ranking import best_columns
from simulator.records import Requests, Slates, TrainingData
from simulator.validation import (
    require_choice,
    require_int,
    require_non_negative,
    require_positive,
    require_probability,
)

EPSILON_VARIANTS = ("slots", "top")
MAX_LOG_ODDS = 50.0
"""Plackett-Luce weights are floored at exp(-50) of the best: an item more than 50 temperatures
below the best is drawn as if it were exactly 50 below (a chance of ~2e-22 per draw, sampled and
reported alike). Without the floor, subnormal weights break the propensity quadrature."""
SHARED_PATTERN = 32
"""Requests sharing a blocked pattern this often get one rank table rather than one
computation each (same result, cheaper)."""


def _slates(
    candidates: NDArray[np.int64],
    cols: NDArray[np.int64],
    propensities: NDArray[np.float64],
    scores: NDArray[np.float64],
) -> Slates:
    # A propensity below what the quadrature resolves (~1e-13) is reported as the smallest
    # positive float, so that a logged propensity is never 0.
    return Slates(
        items=candidates[cols],
        propensities=np.maximum(propensities, np.finfo(float).tiny),
        scores=np.asarray(scores, dtype=float),
    )


class EpsilonGreedy(Wrapper):
    """Greedy slate of `scorer`, with exploration at rate `epsilon` (Sutton & Barto 2018, 2.2).

    Let g_1..g_k be the greedy slate among the M allowed candidates.

    ``variant="slots"`` (uniform slot fill): each position independently explores with
    probability eps; positions that do not explore keep their greedy item, and the exploring
    ones are filled, top to bottom, with a uniformly random ordered sample of the allowed
    candidates not kept. With B1 ~ Bin(k-1, eps), B2 ~ Bin(k-2, eps),
    A1 = E[1 / (M-k+1+B1)], A2 = E[1 / (M-k+2+B2)]:

        P(g_r at r)          = (1 - eps) + eps A1
        P(g_j at r), j != r  = eps^2 A2
        P(other item at r)   = eps A1

    ``variant="top"`` (top slot): with probability eps the slate is
    (u, g_1, ..., g_{k-1}), u uniform over the M-k+1 allowed candidates not in g_1..g_{k-1}:

        P(g_1 at 1) = 1 - eps,  P(x at 1) = eps / (M-k+1) for the others eligible,
        P(g_r at r) = 1 - eps,  P(g_{r-1} at r) = eps                  (r >= 2).
    """

    def __init__(self, scorer: Scorer, epsilon: float = 0.1, variant: str = "slots") -> None:
        require_probability("epsilon", epsilon)
        require_choice("variant", variant, EPSILON_VARIANTS)
        self.inner = scorer
        self.epsilon = epsilon
        self.variant = variant

    def __repr__(self) -> str:
        return f"EpsilonGreedy({self.inner!r}, epsilon={self.epsilon}, variant={self.variant!r})"

    def score(self, requests: Requests, candidates: NDArray[np.int64]) -> NDArray[np.float64]:
        return self.inner.score(requests, candidates)

    def rank(
        self,
        requests: Requests,
        candidates: NDArray[np.int64],
        k: int,
        rng: np.random.Generator,
    ) -> Slates:
        n, n_candidates = len(requests), len(candidates)
        scores = self.inner.score(requests, candidates)
        allowed = allowed_mask(requests.blocked, k, scores)
        greedy = greedy_columns(scores, allowed, k, n)
        rows = np.arange(n)[:, None]
        eligible = np.ones((n, n_candidates), dtype=bool) if allowed is None else allowed.copy()
        keys = rng.random((n, n_candidates))
        if self.variant == "slots":
            explore = rng.random((n, k)) < self.epsilon
            eligible[rows, greedy] = explore
            sample = best_columns(np.where(eligible, -keys, -np.inf), k)
            cols = np.where(explore, sample[rows, np.cumsum(explore, axis=1) - 1], greedy)
        else:
            explore = (rng.random(n) < self.epsilon)[:, None]
            eligible[rows, greedy[:, : k - 1]] = False
            first = np.argmax(np.where(eligible, keys, -1.0), axis=1)
            cols = np.where(explore, np.hstack([first[:, None], greedy[:, : k - 1]]), greedy)
        chosen = take(as_matrix(scores, n), np.arange(n), cols)
        propensities = self._marginals(greedy, allowed, n_candidates, cols)
        return _slates(candidates, cols, propensities, chosen)

    def propensities(
        self, requests: Requests, candidates: NDArray[np.int64], items: NDArray[np.integer]
    ) -> NDArray[np.float64]:
        """P(items[s, r] at position r + 1 for request s), from the formulas above."""
        k = items.shape[1]
        scores = self.inner.score(requests, candidates)
        allowed = allowed_mask(requests.blocked, k, scores)
        greedy = greedy_columns(scores, allowed, k, len(requests))
        return self._marginals(greedy, allowed, len(candidates), columns_of(candidates, items))

    def _marginals(
        self,
        greedy: NDArray[np.int64],
        allowed: NDArray[np.bool_] | None,
        n_candidates: int,
        cols: NDArray[np.int64],
    ) -> NDArray[np.float64]:
        n, k = cols.shape
        eps = self.epsilon
        m = n_allowed(allowed, n, n_candidates)[:, None].astype(float)
        ok = cols >= 0
        if allowed is not None:
            ok &= take(allowed.astype(float), np.arange(n), cols) > 0
        same = cols == greedy
        if self.variant == "slots":
            in_greedy = (cols[:, :, None] == greedy[:, None, :]).any(axis=2)
            a1 = _inverse_moment(m - k + 1, k - 1, eps)
            a2 = _inverse_moment(m - k + 2, k - 2, eps) if k >= 2 else np.zeros_like(m)
            p = np.where(same, 1 - eps + eps * a1, np.where(in_greedy, eps**2 * a2, eps * a1))
        else:
            kept = (cols[:, :1, None] == greedy[:, None, : k - 1]).any(axis=2)
            top = np.where(same[:, :1], 1 - eps, 0.0) + np.where(kept, 0.0, eps / (m - k + 1))
            below = np.where(same[:, 1:], 1 - eps, 0.0) + np.where(
                cols[:, 1:] == greedy[:, :-1], eps, 0.0
            )
            p = np.hstack([top, below])
        return np.where(ok, p, 0.0)


def _inverse_moment(offset: NDArray[np.float64], trials: int, eps: float) -> NDArray[np.float64]:
    """E[1 / (offset + B)] with B ~ Binomial(trials, eps), per row of `offset` (n, 1)."""
    b = np.arange(trials + 1)
    return (stats.binom.pmf(b, trials, eps) / (offset + b)).sum(axis=1, keepdims=True)


class PlackettLuce(Wrapper):
    """Sample whole rankings from the softmax of `scorer`'s scores (Plackett-Luce).

    Item i gets weight w_i = exp(s_i / temperature); the slate is drawn without replacement,
    each position picking among the remaining items with probability w_i / sum(remaining)
    (Plackett 1975, "The analysis of permutations"; Luce 1959, "Individual choice behavior"),
    sampled as the top k of log w_i + Gumbel noise (Yellott 1977; Kool et al. 2019, "Stochastic
    beams and where to find them"). The classic stochastic logging policy of unbiased
    learning to rank (Oosterhuis & de Rijke 2020, "Policy-aware unbiased learning to rank for
    top-k rankings"; Oosterhuis 2021, "Computationally efficient optimization of
    Plackett-Luce ranking models").

    Exact propensities: P(i at 1) = w_i / W, and for deeper ranks the exponential-race integral
    of :mod:`policies.race` (arrival times ~ Exp(w_j); P(i at r) = ∫ w_i e^{-w_i t}
    P(exactly r-1 others arrived by t) dt), by fixed Gauss-Legendre quadrature in log t,
    accurate to about 1e-9. A shared score row costs one table per distinct candidate set and
    set of weights (cached until the next fit); per-request scores cost O(n_candidates) per
    request plus O(Q k H) for the H items heavy enough to matter individually (Q ~ 130
    nodes): about 0.2 s for 300 requests x 2,000 candidates. Requests with blocked items are
    computed one by one in the same way.

    The default temperature suits scores that are click probabilities (a few percent to tens of
    percent): a score 0.1 higher is e times as likely to be drawn first. Scale it with your
    scores (popularity counts need temperatures in the tens). `top_m` samples only among each
    request's `top_m` best-scored allowed candidates (propensity 0 elsewhere), so the long
    tail is never shown; it does not change the cost much. Candidates tied with the m-th score
    are all kept: a cut through a tie would favour items by their index, and an unfitted scorer
    (all scores equal) would show the same m items to everyone forever instead of exploring the
    whole catalog.
    """

    def __init__(self, scorer: Scorer, temperature: float = 0.1, top_m: int | None = None) -> None:
        require_positive("temperature", temperature)
        if top_m is not None:
            require_int("top_m", top_m, 1)
        self.inner = scorer
        self.temperature = temperature
        self.top_m = top_m

    def __repr__(self) -> str:
        return f"PlackettLuce({self.inner!r}, temperature={self.temperature}, top_m={self.top_m})"

    def check_slate_size(self, k: int) -> None:
        """Refuse slates of `k` items when sampling among fewer (`top_m`): called on every
        ranking, and by an experiment file's loader with the run's slate size."""
        if self.top_m is not None and self.top_m < k:
            raise ValueError(f"top_m must be at least the slate size {k}, got {self.top_m}")

    def fit(self, data: TrainingData) -> Self:
        super().fit(data)
        self._cache: dict[bytes, NDArray[np.float64]] = {}
        return self

    def score(self, requests: Requests, candidates: NDArray[np.int64]) -> NDArray[np.float64]:
        return self.inner.score(requests, candidates)

    def rank(
        self,
        requests: Requests,
        candidates: NDArray[np.int64],
        k: int,
        rng: np.random.Generator,
    ) -> Slates:
        scores = self.inner.score(requests, candidates)
        shared, weights, own = self._weights(scores, requests.blocked, k, len(requests))
        noise = rng.gumbel(size=(len(requests), len(candidates)))
        with np.errstate(divide="ignore"):
            keys = np.log(weights) + noise
        cols = best_columns(keys, k)
        chosen = take(as_matrix(scores, len(requests)), np.arange(len(requests)), cols)
        propensities = self._marginals(candidates, shared, weights, own, cols)
        return _slates(candidates, cols, propensities, chosen)

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
        requests' weights (n, C), and the requests that need their own propensities."""
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
            cache[key] = race.plackett_luce_table(weights, k)
        return cache[key]


def _plackett_luce_rows(
    weights: NDArray[np.float64], cols: NDArray[np.int64], top_m: int | None
) -> NDArray[np.float64]:
    """Per-request Plackett-Luce propensities of columns `cols` (-1: not a candidate), racing
    only each request's positive weights (gathered to as many columns as the most any request
    has, when `top_m` is given)."""
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
    return race.plackett_luce_shown(padded, spot)


def _fit_counts(
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


def _candidate_counts(
    model: Any, candidates: NDArray[np.int64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A fitted model's clicks and trials (groups, C) of the candidates; 0 for unseen items."""
    clicks = getattr(model, "clicks_", np.zeros((1, 0)))
    trials = getattr(model, "trials_", np.zeros((1, 0)))
    known = candidates < clicks.shape[1]
    c, n = np.zeros((len(clicks), len(candidates))), np.zeros((len(clicks), len(candidates)))
    c[:, known], n[:, known] = clicks[:, candidates[known]], trials[:, candidates[known]]
    return c, n


def _groups(requests: Requests, by_segment: bool, n_groups: int) -> NDArray[np.int64]:
    """Row of the per-group tables each request uses: its segment, or the single group 0."""
    if not by_segment or n_groups == 1:
        return np.zeros(len(requests), dtype=np.int64)
    return requests.segment.astype(np.int64)


def _check_counting(
    prior: tuple[float, float], examination: ArrayLike | None, window: float | None
) -> None:
    if not isinstance(prior, tuple | list) or len(prior) != 2:
        raise ValueError(f"prior must be a pair (a0, b0), got {prior!r}")
    require_positive("prior", list(prior))
    if examination is not None:
        relative_examination(examination)
    if window is not None:
        require_positive("window", window)


class ClickCounts:
    """Base of the counting policies: a Beta(a0, b0) prior and click and trial counts per item
    (or per segment and item) from the last `window` days, examination-weighted when given a
    curve (see :class:`ThompsonSampling`)."""

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

    def _counting_repr(self) -> str:
        return (
            f"prior={self.prior}, by_segment={self.by_segment}, "
            f"examination={'...' if self.examination is not None else None}, "
            f"window={self.window}"
        )

    def fit(self, data: TrainingData) -> Self:
        self.clicks_, self.trials_ = _fit_counts(
            data, self.by_segment, self.examination, self.window
        )
        return self


class ThompsonSampling(ClickCounts):
    """Thompson sampling for slates with a Beta-Bernoulli model of each item's click rate.

    Fit: a_i = a0 + clicks_i, b_i = b0 + max(trials_i - clicks_i, 0), per item or per
    (segment, item) with `by_segment`, from the last `window` days of the log (all when None).
    Trials are raw impressions, or, given an `examination` curve theta, impressions weighted
    by theta_r / theta_1 ("clicks over expected clicks"), so the posterior is about the click
    rate at the top position rather than about where the item happened to be shown. Without
    it, items shown low look worse than they are and the loop keeps them there.

    Rank: draw x_i ~ Beta(a_i, b_i) independently per request and item and show the k
    largest (Thompson 1933; Chapelle & Li 2011, "An empirical evaluation of Thompson
    sampling"). Exact propensities: P(i at r) = ∫ f_i(x) P(exactly r-1 others exceed x) dx,
    by adaptive Gauss-Legendre quadrature on [0, 1] (:func:`policies.race.beta_race`),
    accurate to about 1e-9: one rank table per segment and candidate set, cached until the next
    fit (about 0.3 s each for 2,000 candidates, then ~0.03 s a tick), and a computation per
    request only for requests with blocked items (~0.3 s for 300 of them). Scores are
    posterior means.
    The prior Beta(1, 1) is the uniform default: optimistic for click rates of a few percent,
    so every new item is tried early.
    """

    def __repr__(self) -> str:
        return f"ThompsonSampling({self._counting_repr()})"

    def fit(self, data: TrainingData) -> Self:
        super().fit(data)
        self._cache: dict[bytes, race.Race] = {}
        return self

    def posterior(
        self, candidates: NDArray[np.int64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Beta parameters (groups, C): a = a0 + clicks, b = b0 + max(trials - clicks, 0)."""
        clicks, trials = _candidate_counts(self, candidates)
        return self.prior[0] + clicks, self.prior[1] + np.maximum(trials - clicks, 0.0)

    def score(self, requests: Requests, candidates: NDArray[np.int64]) -> NDArray[np.float64]:
        a, b = self.posterior(candidates)
        means = a / (a + b)
        return means[0] if len(means) == 1 else means[_groups(requests, True, len(means))]

    def rank(
        self,
        requests: Requests,
        candidates: NDArray[np.int64],
        k: int,
        rng: np.random.Generator,
    ) -> Slates:
        n = len(requests)
        a, b = self.posterior(candidates)
        groups = _groups(requests, self.by_segment, len(a))
        means = a / (a + b)
        allowed = allowed_mask(requests.blocked, k, means[groups])
        draws = rng.beta(a[groups], b[groups])
        if allowed is not None:
            draws = np.where(allowed, draws, -1.0)
        cols = best_columns(draws, k)
        chosen = take(means[groups], np.arange(n), cols)
        propensities = self._marginals(candidates, a, b, groups, allowed, cols)
        return _slates(candidates, cols, propensities, chosen)

    def propensities(
        self, requests: Requests, candidates: NDArray[np.int64], items: NDArray[np.integer]
    ) -> NDArray[np.float64]:
        """P(items[s, r] at position r + 1 for request s)."""
        a, b = self.posterior(candidates)
        groups = _groups(requests, self.by_segment, len(a))
        allowed = allowed_mask(requests.blocked, items.shape[1], (a / (a + b))[groups])
        cols = columns_of(candidates, items)
        return self._marginals(candidates, a, b, groups, allowed, cols)

    def _marginals(
        self,
        candidates: NDArray[np.int64],
        a: NDArray[np.float64],
        b: NDArray[np.float64],
        groups: NDArray[np.int64],
        allowed: NDArray[np.bool_] | None,
        cols: NDArray[np.int64],
    ) -> NDArray[np.float64]:
        n, k = cols.shape
        out = np.zeros((n, k))
        everyone = np.ones((1, len(candidates)), dtype=bool)
        for group in np.unique(groups):
            rows = np.flatnonzero(groups == group)
            if allowed is None:
                patterns, which = everyone, np.zeros(len(rows), dtype=np.int64)
                counts = np.array([len(rows)])
            else:
                patterns, which, counts = np.unique(
                    allowed[rows], axis=0, return_inverse=True, return_counts=True
                )
            alone = np.zeros(len(rows), dtype=bool)
            for p, pattern in enumerate(patterns):
                same = rows[which == p]
                if pattern.all() or counts[p] >= SHARED_PATTERN:
                    table = np.zeros((len(candidates), k))
                    table[pattern] = self._race(a[group][pattern], b[group][pattern], k).table()
                    out[same] = take(table, None, cols[same])
                else:
                    alone[which == p] = True
            if alone.any() and allowed is not None:
                lone = rows[alone]
                blocked = ~allowed[lone]
                most = int(blocked.sum(axis=1).max())
                bucket = 1 << most.bit_length()
                out[lone] = self._race(a[group], b[group], k, bucket).shown(blocked, cols[lone])
        return out

    def _race(
        self, a: NDArray[np.float64], b: NDArray[np.float64], k: int, n_blocked: int = 0
    ) -> race.Race:
        """The race of these posteriors, cached until the next fit (which clears the cache).

        Requests that block items share one race per power of two of their largest number of
        blocked items, so a race is rebuilt only when the candidates or that bucket change.
        """
        cache: dict[bytes, race.Race] | None = getattr(self, "_cache", None)
        if cache is None:
            cache = self._cache = {}
        key = b"%d:%d:" % (k, n_blocked) + a.tobytes() + b.tobytes()
        if key not in cache:
            if len(cache) >= 4 * SHARED_PATTERN:
                cache.clear()
            cache[key] = race.beta_race(a, b, k, n_blocked)
        return cache[key]


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

    def __repr__(self) -> str:
        return f"UCB(exploration={self.exploration}, {self._counting_repr()})"

    def score(self, requests: Requests, candidates: NDArray[np.int64]) -> NDArray[np.float64]:
        clicks, trials = _candidate_counts(self, candidates)
        total = getattr(self, "trials_", np.zeros((1, 0))).sum(axis=1, keepdims=True)
        a0, b0 = self.prior
        bonus = np.sqrt(2.0 * np.log1p(total) / (1.0 + trials))
        bounds = (clicks + a0) / (trials + a0 + b0) + self.exploration * bonus
        return bounds[0] if len(bounds) == 1 else bounds[_groups(requests, True, len(bounds))]


class RandomTraffic(Wrapper):
    """Serve a fixed `share` of sessions uniformly at random, the rest by `policy`.

    Each session independently goes to the random bucket with probability `share`; its slate
    is a uniformly random ordered sample of the allowed candidates (Li et al. 2011, "Unbiased
    offline evaluation of contextual-bandit-based news article recommendation algorithms").
    Whichever branch served it, the logged propensity is the exact mixture

        P(x at r) = share / M + (1 - share) P_policy(x at r)

    for an allowed x among M (Agarwal et al. 2017, "Effective evaluation using logged bandit
    feedback from multiple loggers"), so `policy` must tell its marginals for any item: any
    exploration wrapper, :class:`RandomPolicy`, or a (greedy) scorer. Scores of random-bucket
    items are the policy's own scores when it is a scorer, else the mixture propensity.
    """

    def __init__(self, policy: Policy, share: float = 0.05) -> None:
        require_probability("share", share)
        self.inner = policy
        self.share = share

    def __repr__(self) -> str:
        return f"RandomTraffic({self.inner!r}, share={self.share})"

    def rank(
        self,
        requests: Requests,
        candidates: NDArray[np.int64],
        k: int,
        rng: np.random.Generator,
    ) -> Slates:
        n = len(requests)
        uniform = rng.random(n) < self.share
        keys = rng.random((n, len(candidates)))
        allowed = allowed_mask(requests.blocked, k)
        if allowed is not None:
            keys = np.where(allowed, keys, np.inf)
        items = candidates[best_columns(-keys, k)]
        scores = np.empty((n, k))
        policy_p = np.empty((n, k))
        served = np.flatnonzero(~uniform)
        if len(served):
            slates = self.inner.rank(requests.subset(served), candidates, k, rng)
            items[served], scores[served], policy_p[served] = (
                slates.items,
                slates.scores,
                slates.propensities,
            )
        drawn = np.flatnonzero(uniform)
        if len(drawn):
            subset = requests.subset(drawn)
            policy_p[drawn] = position_probabilities(self.inner, subset, candidates, items[drawn])
        propensities = self._mixture(requests, candidates, items, policy_p, allowed)
        if len(drawn):
            scores[drawn] = scores_of(
                self.inner, requests.subset(drawn), candidates, items[drawn], propensities[drawn]
            )
        return Slates(items=items, propensities=propensities, scores=scores)

    def propensities(
        self, requests: Requests, candidates: NDArray[np.int64], items: NDArray[np.integer]
    ) -> NDArray[np.float64]:
        """P(items[s, r] at position r + 1 for request s): the mixture above."""
        allowed = allowed_mask(requests.blocked, items.shape[1])
        policy_p = position_probabilities(self.inner, requests, candidates, items)
        return self._mixture(requests, candidates, items, policy_p, allowed)

    def _mixture(
        self,
        requests: Requests,
        candidates: NDArray[np.int64],
        items: NDArray[np.integer],
        policy_p: NDArray[np.float64],
        allowed: NDArray[np.bool_] | None,
    ) -> NDArray[np.float64]:
        n = len(requests)
        cols = columns_of(candidates, items)
        eligible = np.ones((n, len(candidates))) if allowed is None else allowed.astype(float)
        uniform = (
            take(eligible, np.arange(n), cols) / n_allowed(allowed, n, len(candidates))[:, None]
        )
        return self.share * uniform + (1.0 - self.share) * policy_p
