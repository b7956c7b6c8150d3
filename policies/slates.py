"""Slate mechanics shared by the exploration wrappers, and the position marginals of any policy.

A wrapper needs to know, for a request, which candidates it may show, where the greedy slate of
a scorer puts them, and with what probability *another* policy would put a given item at a
given position: :func:`position_probabilities` answers that for every shipped policy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from policies.base import top_k
from simulator.protocols import ReportsPropensities, Scorer, ranks_greedily
from simulator.ranking import best_columns
from simulator.records import Requests, Slates


def as_matrix(scores: NDArray[np.float64], n_requests: int) -> NDArray[np.float64]:
    """A scorer's answer as (n_requests, n_candidates): a shared row is broadcast (read-only)."""
    return np.broadcast_to(scores, (n_requests, scores.shape[-1])) if scores.ndim == 1 else scores


def allowed_mask(
    blocked: NDArray[np.bool_] | None, k: int, scores: NDArray[np.float64] | None = None
) -> NDArray[np.bool_] | None:
    """Candidates each request may be shown (``None``: all of them).

    The unblocked ones; a request with fewer than `k` of them gets its best-scored blocked
    candidates back (the first ones by column when there are no `scores`) until it has `k`, so
    every wrapper can fill a slate and still report exact propensities.
    """
    if blocked is None:
        return None
    allowed = ~blocked
    short = np.flatnonzero(allowed.sum(axis=1) < k)
    if len(short):
        if scores is None:
            order = np.broadcast_to(-np.arange(blocked.shape[1], dtype=float), blocked.shape)
        else:
            order = as_matrix(scores, len(blocked))
        fill = np.where(allowed[short], np.inf, order[short])
        allowed[short[:, None], best_columns(fill, k)] = True
    return allowed


def n_allowed(allowed: NDArray[np.bool_] | None, n_requests: int, n_candidates: int) -> NDArray:
    """Number of candidates each request may be shown."""
    if allowed is None:
        return np.full(n_requests, n_candidates)
    return allowed.sum(axis=1)


def greedy_columns(
    scores: NDArray[np.float64], allowed: NDArray[np.bool_] | None, k: int, n_requests: int
) -> NDArray[np.int64]:
    """Columns of each request's `k` best-scored allowed candidates, best first (n, k)."""
    if allowed is None and scores.ndim == 1:
        return np.broadcast_to(best_columns(scores[None, :], k), (n_requests, k))
    matrix = as_matrix(scores, n_requests)
    if allowed is not None:
        matrix = np.where(allowed, matrix, -np.inf)
    return best_columns(matrix, k)


def columns_of(candidates: NDArray[np.int64], items: NDArray[np.integer]) -> NDArray[np.int64]:
    """Column of each item among `candidates` (same shape as `items`), -1 where it is not one."""
    order = np.argsort(candidates, kind="stable")
    ordered = candidates[order]
    spot = np.minimum(np.searchsorted(ordered, items), len(candidates) - 1)
    return np.where(ordered[spot] == items, order[spot], -1)


def take(table: NDArray, rows: NDArray[np.int64] | None, cols: NDArray[np.int64]) -> NDArray:
    """Values at (request, slot), 0 where the column is -1: ``table[col, slot]`` of a rank table
    (C, k) shared by all requests when `rows` is None, else ``table[row, col]`` of (n, C).
    """
    safe = np.maximum(cols, 0)
    values = table[safe, np.arange(cols.shape[1])] if rows is None else table[rows[:, None], safe]
    return np.where(cols >= 0, values, 0.0)


def logged_slates(
    candidates: NDArray[np.int64],
    cols: NDArray[np.int64],
    propensities: NDArray[np.float64],
    scores: NDArray[np.float64],
) -> Slates:
    """Slates of the candidates at columns `cols`, with their exact propensities and scores."""
    # A propensity below what the quadrature resolves (~1e-13) is reported as the smallest
    # positive float, so that a logged propensity is never 0.
    return Slates(
        items=candidates[cols],
        propensities=np.maximum(propensities, np.finfo(float).tiny),
        scores=np.asarray(scores, dtype=float),
    )


def position_marginals(
    policy: Any, requests: Requests, candidates: NDArray[np.int64], k: int
) -> Callable[[NDArray[np.integer]], NDArray[np.float64]]:
    """`position_probabilities` of `policy` for these requests, as a function of the items,
    for callers that ask about many arrangements of the same requests' slates.

    A greedy scorer's slate does not depend on the items asked about, so it is ranked once
    here rather than once per question: the randomized-swaps wrapper asks 1 + |pairs| times
    per tick, and ranking the whole catalog each time was most of its run.
    """
    if isinstance(policy, ReportsPropensities):
        return lambda items: np.asarray(
            policy.propensities(requests, candidates, items), dtype=float
        )
    if isinstance(policy, Scorer) and not ranks_greedily(policy):
        return lambda items: uniform_propensities(requests, candidates, items)
    if isinstance(policy, Scorer):
        n = len(requests)
        greedy = top_k(
            policy.score(requests, candidates), candidates, k, requests.blocked, n_requests=n
        ).items
        return lambda items: (greedy == items).astype(float)
    raise TypeError(
        f"cannot tell where {policy!r} puts items: give it a propensities(requests, candidates, "
        "items) method or make it a scorer"
    )


def uniform_propensities(
    requests: Requests, candidates: NDArray[np.int64], items: NDArray[np.integer]
) -> NDArray[np.float64]:
    """P(items[s, r] at position r + 1) under uniformly random ordered slates of the allowed
    candidates: 1 / n_allowed for an allowed item. A request with fewer than k allowed (say
    m) gets them, in random order, at the first m positions, and a random ordered sample of
    its blocked items after them: 1 / m there, 1 / (n_candidates - m) for a blocked item below.
    """
    n, k = items.shape
    cols = columns_of(candidates, items)
    if requests.blocked is None:
        return np.where(cols >= 0, 1.0 / len(candidates), 0.0)
    allowed = ~requests.blocked
    count = allowed.sum(axis=1, keepdims=True)
    item_allowed = take(allowed.astype(float), np.arange(n), cols) > 0
    top = np.arange(k) < count  # positions the allowed items take
    p_allowed = np.where(item_allowed & top, 1.0 / np.maximum(count, 1), 0.0)
    p_blocked = np.where(~item_allowed & ~top, 1.0 / np.maximum(len(candidates) - count, 1), 0.0)
    return np.where(cols >= 0, p_allowed + p_blocked, 0.0)


def position_probabilities(
    policy: Any,
    requests: Requests,
    candidates: NDArray[np.int64],
    items: NDArray[np.integer],
) -> NDArray[np.float64]:
    """P(`policy` puts items[s, r] at position r + 1 for request s), each (n, k) cell on its own.

    Items of a row must be distinct. Works for any policy that reports its propensities
    (:class:`~simulator.protocols.ReportsPropensities`: the exploration wrappers and
    :class:`~policies.RandomPolicy`), and for any scorer, taken to be greedy (its slate is
    :func:`top_k` of its scores, as for every shipped scorer) unless its ``ranks_greedily``
    says it ranks at random for now (:class:`~policies.LightGBMPolicy` before its first fit on
    data).
    """
    return position_marginals(policy, requests, candidates, items.shape[1])(items)


def scores_of(
    policy: Any,
    requests: Requests,
    candidates: NDArray[np.int64],
    items: NDArray[np.integer],
    fallback: NDArray[np.float64],
) -> NDArray[np.float64]:
    """The policy's scores of the given items when it is a scorer, else `fallback`."""
    if not isinstance(policy, Scorer):
        return fallback
    scores = as_matrix(policy.score(requests, candidates), len(requests))
    return take(scores, np.arange(len(requests)), columns_of(candidates, items)).astype(float)
