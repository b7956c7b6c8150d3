"""Exploration and intervention wrappers: stochastic slates around any policy or scorer, each
reporting exact propensities.

Every wrapper reports, for each shown item, the exact probability that it put that item at that
position (marginal over its own randomness), and answers the same question for any item through
``propensities(requests, candidates, items)``, so off-policy estimators and IPS training are
unbiased and the wrappers compose (:class:`RandomTraffic` and :class:`RandomizedSwaps` mix in
their own randomness exactly).

Which one to use:

* :class:`EpsilonGreedy` -- the simplest; explores blindly, so cheap to reason about. ``"slots"``
  spreads exploration over the slate, ``"top"`` shows one exploratory item at the top, where it
  is seen most (fastest learning, highest cost).
* :class:`~policies.PlackettLuce` (in :mod:`policies.plackett_luce`) -- softmax sampling of
  whole rankings: explores near the top of the scorer's ranking, rarely shows bad items, and
  (without `top_m`) gives every item a positive propensity at every position, which off-policy
  evaluation of other rankers needs.
* :class:`RandomTraffic` -- a fixed share of uniformly random sessions: unbiased data for
  evaluation and position-bias estimation, at a known cost.
* :class:`RandomizedSwaps` -- one pair of positions swapped in a share of sessions: the
  intervention from which :func:`policies.estimate_examination` recovers the position bias.

Policies that explore by their own model of click rates are the counting bandits of
:mod:`policies.counting` (UCB) and :mod:`policies.thompson` (Thompson sampling). Ties in scores
are broken the same arbitrary but deterministic way as :func:`policies.top_k`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from policies.base import Wrapper
from policies.params import Params
from policies.slates import (
    allowed_mask,
    as_matrix,
    columns_of,
    greedy_columns,
    logged_slates,
    n_allowed,
    position_marginals,
    position_probabilities,
    scores_of,
    take,
)
from simulator.protocols import Policy, Scorer
from simulator.ranking import best_columns
from simulator.records import Requests, Slates
from simulator.validation import require_choice, require_probability

EPSILON_VARIANTS = ("slots", "top")
SWAP_PAIRS = ("adjacent", "top", "any")


def swap_pairs(kind: str, k: int) -> list[tuple[int, int]]:
    """Position pairs (0-based) an intervention may swap: neighbours, the top with any other
    position, or any two positions.
    """
    if kind == "adjacent":
        return [(r, r + 1) for r in range(k - 1)]
    if kind == "top":
        return [(0, r) for r in range(1, k)]
    return [(a, b) for a in range(k) for b in range(a + 1, k)]


class RandomizedSwaps(Params, Wrapper):
    """Swap one pair of positions of the `inner` policy's slate in a `rate` share of sessions.

    In each session, with probability `rate`, one pair drawn uniformly from the `pairs` scheme
    is swapped: ``"adjacent"`` (r, r+1), in the spirit of FairPairs (Radlinski & Joachims
    2006, "Minimally invasive randomization for collecting unbiased preferences from
    clickthrough logs"); ``"top"`` (1, r), the swap intervention of Joachims, Swaminathan &
    Schnabel (2017, "Unbiased learning-to-rank with biased feedback") and RandPair of Wang et al.
    (2018, "Position bias estimation for unbiased learning to rank in personal search");
    ``"any"`` (r, r'), any two positions. Exact propensities: with P the set of pairs,

        P(x at r) = (1 - rate m_r / |P|) P_policy(x at r)
                    + rate / |P| sum over pairs (r, r') in P of P_policy(x at r'),

    m_r the number of pairs containing r, so `inner` must tell its marginals for any item
    (any exploration wrapper, :class:`RandomPolicy`, or a greedy scorer); that costs
    1 + |P| calls of it per tick. Scores move with their items.
    """

    def __init__(self, inner: Policy, rate: float = 0.1, pairs: str = "adjacent") -> None:
        require_probability("rate", rate)
        require_choice("pairs", pairs, SWAP_PAIRS)
        self.inner = inner
        self.rate = rate
        self.pairs = pairs

    def rank(
        self,
        requests: Requests,
        candidates: NDArray[np.int64],
        k: int,
        rng: np.random.Generator,
    ) -> Slates:
        """The inner slate with, in a `rate` share of sessions, one pair of positions swapped."""
        n = len(requests)
        pairs = np.array(swap_pairs(self.pairs, k), dtype=np.int64).reshape(-1, 2)
        swapped = rng.random(n) < self.rate
        which = rng.integers(max(len(pairs), 1), size=n)
        base = self.inner.rank(requests, candidates, k, rng)
        order = np.broadcast_to(np.arange(k), (n, k)).copy()
        rows = np.flatnonzero(swapped & (len(pairs) > 0))
        if len(rows):
            a, b = pairs[which[rows], 0], pairs[which[rows], 1]
            order[rows, a], order[rows, b] = b, a
        items = np.take_along_axis(base.items, order, axis=1)
        scores = np.take_along_axis(base.scores, order, axis=1)
        propensities = self.propensities(requests, candidates, items)
        return Slates(items=items, propensities=propensities, scores=scores)

    def propensities(
        self, requests: Requests, candidates: NDArray[np.int64], items: NDArray[np.integer]
    ) -> NDArray[np.float64]:
        """P(items[s, r] at position r + 1 for request s): the formula above."""
        k = items.shape[1]
        pairs = swap_pairs(self.pairs, k)
        marginals = position_marginals(self.inner, requests, candidates, k)
        stay = marginals(items)
        if not pairs:
            return stay
        share = self.rate / len(pairs)
        out = stay.copy()
        for a, b in pairs:
            crossed = items.copy()
            crossed[:, [a, b]] = items[:, [b, a]]
            moved = marginals(crossed)
            out[:, a] += share * (moved[:, b] - stay[:, a])
            out[:, b] += share * (moved[:, a] - stay[:, b])
        return out


class EpsilonGreedy(Params, Wrapper):
    """Greedy slate of `inner`, with exploration at rate `epsilon` (Sutton & Barto 2018, 2.2).

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

    def __init__(self, inner: Scorer, epsilon: float = 0.1, variant: str = "slots") -> None:
        require_probability("epsilon", epsilon)
        require_choice("variant", variant, EPSILON_VARIANTS)
        self.inner = inner
        self.epsilon = epsilon
        self.variant = variant

    def score(self, requests: Requests, candidates: NDArray[np.int64]) -> NDArray[np.float64]:
        """The inner scorer's scores, unchanged."""
        return self.inner.score(requests, candidates)

    def rank(
        self,
        requests: Requests,
        candidates: NDArray[np.int64],
        k: int,
        rng: np.random.Generator,
    ) -> Slates:
        """The inner scorer's greedy slate with exploration as the class describes, each item logged
        with its exact propensity.
        """
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
        return logged_slates(candidates, cols, propensities, chosen)

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


class RandomTraffic(Params, Wrapper):
    """Serve a fixed `share` of sessions uniformly at random, the rest by the `inner` policy.

    Each session independently goes to the random bucket with probability `share`; its slate
    is a uniformly random ordered sample of the allowed candidates (Li et al. 2011, "Unbiased
    offline evaluation of contextual-bandit-based news article recommendation algorithms").
    Whichever branch served it, the logged propensity is the exact mixture

        P(x at r) = share / M + (1 - share) P_policy(x at r)

    for an allowed x among M (Agarwal et al. 2017, "Effective evaluation using logged bandit
    feedback from multiple loggers"), so `inner` must tell its marginals for any item: any
    exploration wrapper, :class:`RandomPolicy`, or a (greedy) scorer. Scores of random-bucket
    items are the policy's own scores when it is a scorer, else the mixture propensity.
    """

    def __init__(self, inner: Policy, share: float = 0.05) -> None:
        require_probability("share", share)
        self.inner = inner
        self.share = share

    def rank(
        self,
        requests: Requests,
        candidates: NDArray[np.int64],
        k: int,
        rng: np.random.Generator,
    ) -> Slates:
        """A uniformly random slate for a `share` of sessions, the inner policy's for the rest, each
        item logged with the exact mixture propensity.
        """
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
