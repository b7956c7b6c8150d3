"""Position bias from interventions: randomised swaps, and estimating the examination curve.

:class:`RandomizedSwaps` wraps any policy and, at a configurable rate, swaps one pair of
positions of its slate, reporting exact propensities. :func:`estimate_examination` recovers the
examination curve theta_r / theta_1 of the position-based model from logs in which items were
shown at several positions, and warns when the log cannot tell.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from policies.base import Policy, Wrapper
from policies.examination.estimators import SwapEstimator

# Re-exported: the warning lived here before the examination package, and callers import it.
from policies.examination.support import NotIdentifiableWarning as NotIdentifiableWarning
from policies.slates import position_probabilities
from simulator.records import Impressions, Requests, Slates
from simulator.validation import require_choice, require_probability

SWAP_PAIRS = ("adjacent", "top", "any")


def swap_pairs(kind: str, k: int) -> list[tuple[int, int]]:
    """Position pairs (0-based) an intervention may swap: neighbours, the top with any other
    position, or any two positions."""
    if kind == "adjacent":
        return [(r, r + 1) for r in range(k - 1)]
    if kind == "top":
        return [(0, r) for r in range(1, k)]
    return [(a, b) for a in range(k) for b in range(a + 1, k)]


class RandomizedSwaps(Wrapper):
    """Swap one pair of positions of `policy`'s slate in a `rate` share of sessions.

    In each session, with probability `rate`, one pair drawn uniformly from the `pairs` scheme
    is swapped: ``"adjacent"`` (r, r+1), in the spirit of FairPairs (Radlinski & Joachims
    2006, "Minimally invasive randomization for collecting unbiased preferences from
    clickthrough logs"); ``"top"`` (1, r), the swap intervention of Joachims, Swaminathan &
    Schnabel (2017, "Unbiased learning-to-rank with biased feedback") and RandPair of Wang et al.
    (2018, "Position bias estimation for unbiased learning to rank in personal search");
    ``"any"`` (r, r'), any two positions. Exact propensities: with P the set of pairs,

        P(x at r) = (1 - rate m_r / |P|) P_policy(x at r)
                    + rate / |P| sum over pairs (r, r') in P of P_policy(x at r'),

    m_r the number of pairs containing r, so `policy` must tell its marginals for any item
    (any exploration wrapper, :class:`RandomPolicy`, or a greedy scorer); that costs
    1 + |P| calls of it per tick. Scores move with their items.
    """

    def __init__(self, policy: Policy, rate: float = 0.1, pairs: str = "adjacent") -> None:
        require_probability("rate", rate)
        require_choice("pairs", pairs, SWAP_PAIRS)
        self.inner = policy
        self.rate = rate
        self.pairs = pairs

    def __repr__(self) -> str:
        return f"RandomizedSwaps({self.inner!r}, rate={self.rate}, pairs={self.pairs!r})"

    def rank(
        self,
        requests: Requests,
        candidates: NDArray[np.int64],
        k: int,
        rng: np.random.Generator,
    ) -> Slates:
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
        stay = position_probabilities(self.inner, requests, candidates, items)
        if not pairs:
            return stay
        share = self.rate / len(pairs)
        out = stay.copy()
        for a, b in pairs:
            crossed = items.copy()
            crossed[:, [a, b]] = items[:, [b, a]]
            moved = position_probabilities(self.inner, requests, candidates, crossed)
            out[:, a] += share * (moved[:, b] - stay[:, a])
            out[:, b] += share * (moved[:, a] - stay[:, b])
        return out


def estimate_examination(impressions: Impressions) -> NDArray[np.float64]:
    """Examination curve theta_r / theta_1 (slate_size,) by intervention harvesting within
    each model version: :class:`policies.examination.SwapEstimator` (its docstring has the
    formula), as an array. Positions that no chain of harvested pairs connects to position 1
    are NaN; those and positions whose variation is not randomised (a deterministic ranker's
    log) warn :class:`NotIdentifiableWarning`. For intervals, use
    :func:`policies.examination.bootstrap`.
    """
    return SwapEstimator().fit(impressions, stacklevel=4).curve_
