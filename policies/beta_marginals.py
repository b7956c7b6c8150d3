"""Exact position marginals of Thompson sampling on Beta posteriors (independent Beta keys,
largest first), on the engine of :mod:`policies.rank_marginals`.

P(i at r) = ∫ f_i(x) PB_{r-1}(x) dx over x in [0, 1], by composite Gauss-Legendre rules on
panels bisected until, across each panel, no item's probability of beating x changes by more
than 0.35 and the expected number of items beating x changes by at most a factor 3 (the second
rule resolves the top order statistics of many similar items); panels where the integrand is
provably below 1e-13 are dropped. The second rule stops where fewer than 0.01 keys are expected
above x when the densities there are analytic at x = 1 (integer b: raw counts), and at 1e-8
where a density (1 - x)^(b - 1) with fractional b (examination-weighted counts) needs the
panels to shrink towards 1; the old floor, 1e-13, halved the panels towards 1 some 40 times,
~300 of ~380 nodes on the standard world.

Items with equal posteriors are one *key*: their beat probabilities and densities are the same
columns, so each key's is evaluated once, and the whole table (:func:`beta_table`) is computed
per key, with a key of m items entering the counts as a Binomial(m, p). Counts show many: a
posterior is two small integers when trials are raw impressions, so on the standard world
2,000 candidates share about 170 keys. The light keys' counts come from power sums by Newton's
identities, and each light key is divided out of the counts only at the nodes inside its
quantile window. Beat probabilities are the regularised incomplete beta function
``betainc(b, a, 1 - x)``, which scipy evaluates about 15 times faster than its complement
``betaincc(a, b, x)``.

On the `fixes` experiment's world (standard world, position-based clicks, eta = 1, daily
refits) a table of 2,000 candidates costs 3-4 ms of CPU instead of 175-210 ms with raw counts
for the engine issue 17 measured (commit 7b5789c) (42-63x over three runs), and 26-30 ms
instead of 250-290 ms with examination-weighted ones (8.8-10.8x over four runs, the lowest on
a loaded machine; every posterior distinct), within 1e-13 of the engine it replaces
(`benchmarks/thompson.py`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import special

from policies.rank_marginals import (
    MAX_STRONG_SHARE,
    TAIL,
    Race,
    _convolve,
    _divide,
    _empty,
    _panels,
    sure_count,
)

Windows = tuple[NDArray[np.float64], NDArray[np.float64]]
SMOOTH_FLOOR = 1e-2
"""Expected number of keys above x below which a panel is not split for its ratio, when every
key whose window reaches the panel has a density analytic at x = 1 (integer b)."""
SINGULAR_FLOOR = 1e-8
"""The same when some are not (b not an integer: examination-weighted trials)."""


def _beta_windows(a: NDArray[np.float64], b: NDArray[np.float64]) -> Windows:
    """Each Beta's [TAIL, 1 - TAIL] quantiles: outside them its key surely beats x or not."""
    return special.betaincinv(a, b, TAIL), special.betaincinv(a, b, 1.0 - TAIL)


def _beta_beat(
    a: NDArray[np.float64], b: NDArray[np.float64], windows: Windows, x: NDArray[np.float64]
) -> NDArray[np.float64]:
    """P(key_j > x) (Q, C), evaluated only inside each item's quantile window."""
    lo, hi = windows
    p = (x[:, None] < lo).astype(float)
    rows, cols = np.nonzero((x[:, None] >= lo) & (x[:, None] <= hi))
    p[rows, cols] = special.betainc(b[cols], a[cols], 1.0 - x[rows])
    return p


def _beta_density(
    a: NDArray[np.float64], b: NDArray[np.float64], windows: Windows, x: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Beta densities (Q, C), zero outside each item's quantile window."""
    lo, hi = windows
    out = np.zeros((len(x), len(a)))
    rows, cols = np.nonzero((x[:, None] >= lo) & (x[:, None] <= hi))
    xs, a, b = x[rows], a[cols], b[cols]
    log_pdf = special.xlogy(a - 1.0, xs) + special.xlog1py(b - 1.0, -xs) - special.betaln(a, b)
    out[rows, cols] = np.exp(log_pdf)
    return out


def beta_nodes(
    a: NDArray[np.float64],
    b: NDArray[np.float64],
    windows: Windows,
    k: int,
    n_blocked: int = 0,
    copies: NDArray[np.int64] | None = None,
    max_change: float = 0.35,
    max_ratio: float = 3.0,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Adaptive composite Gauss-Legendre nodes and weights on [0, 1] for ranks 1..k of items
    with Beta(a, b) keys, largest first, key j standing for `copies[j]` items (1 each if None).

    Panels are bisected until no item's P(key > x) changes by more than `max_change` across
    one, nor the expected number of keys above x by more than a factor `max_ratio`. Levels are
    kept down to where k rivals surely beat x even after `n_blocked` items leave the race.
    """
    weight = np.ones(len(a)) if copies is None else copies.astype(float)
    # With integer b a density and beat probability are analytic at x = 1, so the counts need
    # no resolving in ever smaller panels as the expected number of keys above x goes to 0
    # there. A density (1 - x)^(b - 1) with b not an integer does need them, in the panels its
    # window reaches, but only down to where the keys above x carry too little mass for the
    # quadrature's error on it to matter.
    singular = b != np.round(b)
    reach = float(windows[1][singular].max(initial=-1.0))
    sure = sure_count(k) + 1.0 + n_blocked
    n_sure = int(np.ceil(sure))
    lows = windows[0] if copies is None else np.repeat(windows[0], copies)
    x_lo = float(-np.sort(-lows)[n_sure - 1]) if len(lows) >= n_sure else 0.0
    edges = np.array([x_lo, 1.0])
    beat = _beta_beat(a, b, windows, edges)
    for _ in range(200):
        mean = beat @ weight
        keep = (mean[:-1] > TAIL) & (mean[1:] < sure)
        change = np.abs(np.diff(beat, axis=0)).max(axis=1)
        floor = np.where(edges[:-1] < reach, SINGULAR_FLOOR, SMOOTH_FLOOR)
        ratio = np.log(mean[:-1] + floor) - np.log(mean[1:] + floor)
        split = keep & ((change > max_change) | (ratio > np.log(max_ratio)))
        split &= np.diff(edges) > 1e-14
        if not split.any():
            break
        middles = (edges[:-1][split] + edges[1:][split]) / 2.0
        edges = np.concatenate([edges, middles])
        beat = np.concatenate([beat, _beta_beat(a, b, windows, middles)])
        order = np.argsort(edges)
        edges, beat = edges[order], beat[order]
    mean = beat @ weight
    keep = (mean[:-1] > TAIL) & (mean[1:] < sure)
    return _panels(edges[:-1][keep], edges[1:][keep])


def _keys(
    a: NDArray[np.float64], b: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """Distinct posteriors (a, b), the key of each item and how many items each key holds."""
    order = np.lexsort((b, a))  # np.unique's order, without its slower structured sort
    a_sorted, b_sorted = a[order], b[order]
    new = np.ones(len(a), dtype=bool)
    new[1:] = (a_sorted[1:] != a_sorted[:-1]) | (b_sorted[1:] != b_sorted[:-1])
    key_sorted = np.cumsum(new) - 1
    key_of = np.empty(len(a), dtype=np.int64)
    key_of[order] = key_sorted
    return a_sorted[new], b_sorted[new], key_of, np.bincount(key_sorted)


def beta_race(a: NDArray[np.float64], b: NDArray[np.float64], k: int, n_blocked: int = 0) -> Race:
    """Items with independent Beta(a_j, b_j) keys, largest first (Thompson sampling), on nodes
    that serve requests blocking up to `n_blocked` items (see :meth:`Race.shown`).
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    a_keys, b_keys, key_of, copies = _keys(a, b)
    windows = _beta_windows(a_keys, b_keys)
    x, wx = beta_nodes(a_keys, b_keys, windows, k, n_blocked, copies)
    density = _beta_density(a_keys, b_keys, windows, x) * wx[:, None]
    return Race(density[:, key_of], _beta_beat(a_keys, b_keys, windows, x)[:, key_of], k)


def beta_table(a: NDArray[np.float64], b: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    """P(item j at rank r) (C, k) for items with independent Beta(a_j, b_j) keys, largest
    first: the :meth:`Race.table` of :func:`beta_race`, computed once per distinct posterior
    and, for the light ones, only on the nodes inside each one's quantile window.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    a_keys, b_keys, key_of, copies = _keys(a, b)
    windows = _beta_windows(a_keys, b_keys)
    x, wx = beta_nodes(a_keys, b_keys, windows, k, 0, copies)
    return _keyed_table(a_keys, b_keys, windows, x, wx, copies, k)[key_of]


def _keyed_table(
    a: NDArray[np.float64],
    b: NDArray[np.float64],
    windows: Windows,
    x: NDArray[np.float64],
    wx: NDArray[np.float64],
    copies: NDArray[np.int64],
    k: int,
) -> NDArray[np.float64]:
    """P(an item of key j at rank r) (U, k) for U keys Beta(a_j, b_j), key j holding copies[j]
    items, on nodes x with quadrature weights wx.

    Light keys (p <= 1/2 on every node) are divided out of the counts of all items, as in
    :class:`Race`; a light key beats no level below its window (it would have p = 1 there), so
    it enters only at the nodes inside its window, which are few for a concentrated posterior.
    The few strong keys (typically the never-shown items' uniform posterior, and those surely
    above the lowest node) are left out by prefix and suffix products. Keys that beat no node
    with probability above TAIL have no density on the nodes either: their rows stay 0.
    """
    lo, hi = windows
    n_nodes, n_keys = len(x), len(a)
    # Entries key by key, each key's nodes in increasing order.
    cols, rows = np.nonzero((x >= lo[:, None]) & (x <= hi[:, None]))
    xs, a_in, b_in = x[rows], a[cols], b[cols]
    beat = special.betainc(b_in, a_in, 1.0 - xs)
    log_pdf = special.xlogy(a_in - 1.0, xs) + special.xlog1py(b_in - 1.0, -xs)
    density = np.exp(log_pdf - special.betaln(a, b)[cols]) * wx[rows]
    # A key beats x most at its lowest node: p = 1 below its window, else its first entry.
    top = np.zeros(n_keys)
    first = np.flatnonzero(np.diff(cols, prepend=-1))
    top[cols[first]] = beat[first]
    top[lo > x[0]] = 1.0
    is_light = (top > TAIL) & (top <= MAX_STRONG_SHARE)
    strong = np.flatnonzero(top > MAX_STRONG_SHARE)
    light = is_light[cols]
    light_rows, light_cols, light_beat = rows[light], cols[light], beat[light]
    light_counts = _light_counts(light_rows, light_beat, copies[light_cols], n_nodes, k)
    table = np.zeros((n_keys, k))
    counts = light_counts
    if len(strong):
        column = np.full(n_keys, -1)
        column[strong] = np.arange(len(strong))
        on_strong = column[cols] >= 0
        p_strong = (x[:, None] < lo[strong]).astype(float)
        p_strong[rows[on_strong], column[cols[on_strong]]] = beat[on_strong]
        density_strong = np.zeros((n_nodes, len(strong)))
        density_strong[rows[on_strong], column[cols[on_strong]]] = density[on_strong]
        factors = _binomial(p_strong, copies[strong], k)
        others = _leave_one_out(factors)
        counts = _convolve(light_counts, _convolve(others[..., 0], factors[..., 0]))
        own = _binomial(p_strong, copies[strong] - 1, k)
        rivals = _convolve(_convolve(others, own), light_counts[:, :, None])
        table[strong] = np.einsum("qs,cqs->sc", density_strong, rivals)
    rivals = _divide(counts[:, light_rows], light_beat) * density[light]
    for c in range(k):
        table[:, c] += np.bincount(light_cols, rivals[c], minlength=n_keys)
    return table


def _binomial(p: NDArray[np.float64], copies: NDArray[np.int64], k: int) -> NDArray[np.float64]:
    """Counts (k, Q, S) of copies[s] items each beating x with probability p[:, s] (Q, S),
    truncated at k - 1: Binomial(copies, p) probabilities of 0..k-1.
    """
    c = np.arange(k)[:, None, None]
    choose = special.binom(copies[None, None, :], c)
    failures = np.maximum(copies[None, None, :] - c, 0)
    return choose * np.power(p[None], c) * np.power(1.0 - p[None], failures)


def _leave_one_out(factors: NDArray[np.float64]) -> NDArray[np.float64]:
    """(k, Q, S) -> (k, Q, S): the product (truncated convolution) of all factors but each one,
    by prefix and suffix products.
    """
    k, n_nodes, n_keys = factors.shape
    prefix = np.empty_like(factors)
    state = _empty((n_nodes,), k)
    for s in range(n_keys):
        prefix[:, :, s] = state
        state = _convolve(state, factors[:, :, s])
    out = np.empty_like(factors)
    state = _empty((n_nodes,), k)
    for s in range(n_keys - 1, -1, -1):
        out[:, :, s] = _convolve(prefix[:, :, s], state)
        state = _convolve(state, factors[:, :, s])
    return out


def _light_counts(
    rows: NDArray[np.int64],
    p: NDArray[np.float64],
    copies: NDArray[np.int64],
    n_nodes: int,
    k: int,
) -> NDArray[np.float64]:
    """Counts (k, Q) of items beating x with probability p <= 1/2 each, given as entries:
    p[e] at node rows[e], for copies[e] items; nodes without an entry count nothing.

    They are prod_j (1 - p_j)^m_j times the elementary symmetric polynomials e_c of the odds
    o_j = p_j / (1 - p_j) <= 1 (each counted m_j times), which Newton's identities give from
    the power sums sum_j m_j o_j^i: one pass over the entries per count rather than a loop.
    """
    odds = p / (1.0 - p)
    weight = copies.astype(float)
    sums = np.empty((k, n_nodes))
    power = odds * weight
    for i in range(1, k):
        sums[i] = np.bincount(rows, power, minlength=n_nodes)
        power *= odds
    out = _empty((n_nodes,), k)
    for c in range(1, k):
        signs = (-1.0) ** np.arange(c)
        out[c] = np.einsum("iq,iq->q", out[c - 1 :: -1][:c] * signs[:, None], sums[1 : c + 1]) / c
    out *= np.exp(np.bincount(rows, np.log1p(-p) * weight, minlength=n_nodes))
    return out
