"""Exact position marginals of rankings by independent random keys (Plackett-Luce, Thompson).

Plackett-Luce sampling and Thompson sampling both rank items by independent random keys: an
exponential arrival time for Plackett-Luce (first to arrive is ranked first), a posterior draw
for Thompson sampling (largest is ranked first). Say key j *beats* a level x with probability
p_j(x). The probability that item i lands at rank r is a one-dimensional integral over the level
x of its own key,

    P(i at r) = ∫ f_i(x) · PB_{r-1}(x; {p_j(x)}_{j != i}) dx,

where PB_c is the Poisson-binomial probability that exactly c of the other keys beat x, given
by the length-k recursion over items ``PB_c <- PB_c (1 - p_j) + PB_{c-1} p_j``.

The integral is evaluated by composite Gauss-Legendre rules on panels laid out so that every
item's p_j and the Poisson-binomial counts are smooth within a panel:

* Plackett-Luce (weights normalised to sum to 1): one 8-node panel linear in the arrival time
  t on [0, 3], where the integrand is a smooth function of t itself (a sum of exponentials
  whose rates are at most 1), then 12-node panels in x = log t at most 1.5 wide up to the time
  at which at least k of any item's rivals have surely arrived (:func:`plackett_luce_end`,
  which bounds the chance of the contrary in closed form). Each request gets as many
  panels as its own weights need, so its answer does not depend on the other requests. Rank 1
  is the closed form w_i / sum(w). (Width-1 log-time panels from t = 1e-5 to the sure arrival
  of the (k+1)-th heaviest item, the earlier layout, took ~170 nodes a request at the `fixes`
  experiment's settings where this takes ~45, and were less accurate.)
* Beta posteriors: adaptive panels on [0, 1], in :mod:`policies.beta_marginals`, which uses
  this engine's counts and :class:`Race` (and its own per-posterior table).

Both are deterministic and agree with exact answers to 1e-9 or better (see the tests).

Counts are stored count-first, (k, ...), so that adding an item is k - 1 multiply-adds over
long contiguous rows of nodes, done in place.

The module is longer than most (about 490 lines) because the Plackett-Luce nodes and per-request
counts need the shared engine's internals (the Poisson-binomial state, its leave-one-out
division, the rank table); the Beta half, which needs fewer of them, lives apart.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np
from numpy.polynomial.legendre import leggauss
from numpy.typing import NDArray
from scipy import optimize, special

TAIL = 1e-13
"""Probability mass below which the integrand is dropped."""
ORDER = 8
"""Gauss-Legendre nodes per panel of a Beta race, and on Plackett-Luce's first (linear) panel."""
PL_ORDER = 12
"""Gauss-Legendre nodes per Plackett-Luce log-time panel."""
PL_START = 3.0
"""End of the Plackett-Luce panel that is linear in time (weights summing to 1)."""
PL_PANEL = 1.5
"""Largest Plackett-Luce panel width in log-time beyond PL_START."""
MAX_STRONG_SHARE = 0.5
"""An item whose p_j exceeds this at some node is removed exactly (prefix/suffix products);
below it, dividing it out of the full product is numerically stable."""

_RULES = {order: leggauss(order) for order in (ORDER, PL_ORDER)}


@cache
def sure_count(k: int) -> float:
    """Mean number of rivals beating x beyond which fewer than k do so with probability < TAIL.

    Chernoff's bound for sums of independent Bernoullis, P(X <= a) <= e^-mu (e mu / a)^a for
    a = k - 1 < mu.
    """
    a = k - 1
    if a == 0:
        return float(-np.log(TAIL))

    def excess(mu: float) -> float:
        return -mu + a * (1.0 + np.log(mu / a)) - np.log(TAIL)

    return float(optimize.brentq(excess, a + 1e-9, 10.0 * (a + 50.0)))


def include(state: NDArray[np.float64], p: NDArray[np.float64]) -> None:
    """Add one Bernoulli(p) to Poisson-binomial counts `state` (k, ...) in place, truncated at
    count k - 1; `p` has the shape of one count, (...).
    """
    carried = state[:-1] * p
    state *= 1.0 - p
    state[1:] += carried


def _convolve(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Counts (k, ...) of the union of two independent sets of items, truncated at k - 1."""
    k = a.shape[0]
    out = np.zeros(np.broadcast_shapes(a.shape, b.shape))
    for c in range(k):
        out[c:] += a[c] * b[: k - c]
    return out


def _empty(shape: tuple[int, ...], k: int) -> NDArray[np.float64]:
    """Counts (k, *shape) of no items: zero arrivals surely."""
    state = np.zeros((k, *shape))
    state[0] = 1.0
    return state


def _strong_leave_one_out(p: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    """(Q, S) -> (k, Q, S): counts over all items but each one, by prefix and suffix products."""
    n_nodes, n_items = p.shape
    prefix = np.empty((k, n_nodes, n_items))
    state = _empty((n_nodes,), k)
    for j in range(n_items):
        prefix[:, :, j] = state
        include(state, p[:, j])
    out = np.empty((k, n_nodes, n_items))
    state = _empty((n_nodes,), k)
    for j in range(n_items - 1, -1, -1):
        out[:, :, j] = _convolve(prefix[:, :, j], state)
        include(state, p[:, j])
    return out


def _divide(state: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.float64]:
    """Remove one Bernoulli(p) from counts `state` (k, ...): the inverse of :func:`include`.

    Stable for p <= 1/2: the error carried from one count to the next is multiplied by
    p / (1 - p) <= 1, so it does not grow geometrically as it would for p near 1.
    """
    k = state.shape[0]
    out = np.empty(np.broadcast_shapes(state.shape, (k, *p.shape)))
    keep = 1.0 - p
    np.divide(state[0], keep, out=out[0])
    for c in range(1, k):
        # (state[c] - p * out[c - 1]) / keep, in place: the same operations, so the same bits.
        np.multiply(p, out[c - 1], out=out[c])
        np.subtract(state[c], out[c], out=out[c])
        out[c] /= keep
    return np.maximum(out, 0.0, out=out)


class Race:
    """C items racing on shared quadrature nodes: quadrature-weighted key densities and beat
    probabilities, both (Q, C), with the Poisson-binomial counts over all of them precomputed.

    Items whose beat probability never exceeds 1/2 ("light") are removed from the counts by
    division, which is stable for them; the few others ("strong") by prefix and suffix
    products, or left out. Items never above TAIL take no part.
    """

    def __init__(self, density: NDArray[np.float64], p: NDArray[np.float64], k: int) -> None:
        self.density, self.p, self.k = density, p, k
        top = p.max(axis=0, initial=0.0)
        self.strong = np.flatnonzero(top > MAX_STRONG_SHARE)
        self.light = np.flatnonzero((top > TAIL) & (top <= MAX_STRONG_SHARE))
        self.light_counts = self._counts(self.light)
        self.counts = _convolve(self.light_counts, self._counts(self.strong))
        self._table: NDArray[np.float64] | None = None

    def _counts(self, columns: NDArray[np.int64]) -> NDArray[np.float64]:
        state = _empty((self.p.shape[0],), self.k)
        for j in columns:
            include(state, self.p[:, j])
        return state

    def table(self) -> NDArray[np.float64]:
        """P(item j at rank r) for every item, (C, k), computed once. Costs O(Q C k)."""
        if self._table is None:
            self._table = self._compute_table()
        return self._table

    def _compute_table(self, chunk: int = 256) -> NDArray[np.float64]:
        density, p, k = self.density, self.p, self.k
        table = np.einsum("qs,cq->sc", density, self.counts)
        if len(self.strong):
            others = _strong_leave_one_out(p[:, self.strong], k)
            others = _convolve(others, self.light_counts[:, :, None])
            table[self.strong] = np.einsum("qs,cqs->sc", density[:, self.strong], others)
        for start in range(0, len(self.light), chunk):
            cols = self.light[start : start + chunk]
            others = _divide(self.counts[:, :, None], p[:, cols])
            table[cols] = np.einsum("qs,cqs->sc", density[:, cols], others)
        return table

    def shown(self, blocked: NDArray[np.bool_], shown: NDArray[np.int64]) -> NDArray[np.float64]:
        """P(shown[s, r] at rank r + 1) when request s races only the items it does not block.

        `blocked` (n, C); `shown` (n, k) distinct columns, -1 for an item that is not a
        candidate (probability 0, as for a blocked one). Costs O(n Q k (k + B + S)) for at
        most B blocked and S strong items per request.
        """
        p = self.p
        n = len(shown)
        rows = np.arange(n)[:, None]
        safe = np.maximum(shown, 0)
        racing = (shown >= 0) & ~blocked[rows, safe]
        out = blocked.copy()
        racing_rows, racing_slots = np.nonzero(racing)
        out[racing_rows, shown[racing_rows, racing_slots]] = True
        is_light = np.zeros(p.shape[1], dtype=bool)
        is_light[self.light] = True
        removed = out & is_light
        n_removed = removed.sum(axis=1)
        columns = np.argsort(~removed, axis=1, kind="stable")[:, : n_removed.max(initial=0)]
        state = np.repeat(self.light_counts[:, None, :], n, axis=1)
        for e in range(columns.shape[1]):
            beat = np.where((e < n_removed)[:, None], p[:, columns[:, e]].T, 0.0)
            state = _divide(state, beat)
        for j in self.strong:
            include(state, np.where(out[:, j, None], 0.0, p[None, :, j]))
        racing_first = racing.T[:, :, None]
        # Slot-first in memory as well as in shape: the slots are read one (n, Q) block at a time.
        shown_p = np.where(racing_first, np.transpose(p[:, safe], (2, 1, 0)), 0.0)
        density = np.where(racing_first, np.transpose(self.density[:, safe], (2, 1, 0)), 0.0)
        return _with_shown(state, np.ascontiguousarray(shown_p), np.ascontiguousarray(density))


def _with_shown(
    state: NDArray[np.float64], shown_beat: NDArray[np.float64], shown_density: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Integrate each shown item (slot r at rank r + 1) against the counts of all other rivals.

    `state` (k, n, Q) holds the rivals that are not shown, and is consumed; `shown_beat` and
    `shown_density` are (k, n, Q), slot first. Slot r needs the other shown items' counts only
    up to r: the later slots' (suffix) counts are built backwards truncated to what each slot
    reads, then the earlier slots are added to `state` forwards, in place.
    """
    k = state.shape[0]
    # later[r]: counts 0..r of the shown items after slot r, built from the last slot back.
    later = [_empty(state.shape[1:], k)]
    for r in range(k - 1, 0, -1):
        earlier = later[-1][:r].copy()
        include(earlier, shown_beat[r])
        later.append(earlier)
    later.reverse()
    result = np.empty((state.shape[1], k))
    for r in range(k):
        counts = np.einsum("anq,anq->nq", state[: r + 1], later[r][r::-1])
        result[:, r] = np.einsum("nq,nq->n", shown_density[r], counts)
        if r < k - 1:
            include(state, shown_beat[r])
    return result


def _panels(
    lo: NDArray[np.float64], hi: NDArray[np.float64], order: int = ORDER
) -> tuple[NDArray, NDArray]:
    """Gauss-Legendre nodes and weights on panels [lo, hi] (any leading shape): (..., P*order)."""
    rule_nodes, rule_weights = _RULES[order]
    half, mid = (hi - lo) / 2.0, (hi + lo) / 2.0
    nodes = mid[..., None] + half[..., None] * rule_nodes
    weights = half[..., None] * rule_weights
    shape = (*lo.shape[:-1], -1)
    return nodes.reshape(shape), weights.reshape(shape)


# ---------------------------------------------------------------------- Plackett-Luce
def plackett_luce_end(weights: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    """Log of the arrival time (n,) by which at least k of any item's rivals have surely
    arrived, for weights (n, C) that sum to 1 per row (zeros allowed).

    The smallest of three bounds: the (k + 1)-th heaviest item has surely arrived; Chernoff's
    bound on the number arrived (many light items); and, since fewer than k rivals of any item
    arrived means at most k items did, the chance that at least m - k of the m heaviest have
    not arrived, at most e_{m-k}(s) <= (sum s)^{m-k} / (m-k)! over their chances s_j = e^{-w_j t}
    of not having arrived (elementary symmetric polynomial; Maclaurin), for m = k+1..3k.
    """
    n_live = (weights > 0).sum(axis=1)
    kth = min(k + 1, weights.shape[1])
    n_heaviest = min(3 * k, weights.shape[1])
    ordered = -np.partition(-weights, n_heaviest - 1, axis=1)[:, :n_heaviest]
    ordered = -np.sort(-ordered, axis=1)  # the 3k heaviest, heaviest first
    reference = np.where(
        n_live > k, ordered[:, kth - 1], np.min(np.where(weights > 0, weights, np.inf), axis=1)
    )
    x_hi = np.log(-np.log(TAIL) / reference)
    target = sure_count(k) + 1.0

    excess = np.arange(1, ordered.shape[1] + 1) - k  # m - k for the m heaviest
    usable = excess >= 1
    log_factorials = special.gammaln(excess[usable] + 1.0)

    def at_most_k_unlikely(t: NDArray[np.float64]) -> NDArray[np.bool_]:
        waiting = np.cumsum(np.exp(-ordered[:, :, None] * t[:, None, :]), axis=1)[:, usable]
        with np.errstate(divide="ignore"):  # no chance left: log 0
            log_bound = excess[usable, None] * np.log(waiting) - log_factorials[:, None]
        return log_bound.min(axis=1, initial=np.inf) < np.log(TAIL)

    many = n_live > k + target
    if many.any():
        crowded = weights[many]

        def enough_on_average(t: NDArray[np.float64]) -> NDArray[np.bool_]:
            means = [-np.expm1(-crowded * column[:, None]).sum(axis=1) for column in t.T]
            return np.stack(means, axis=1) >= target

        x_hi[many] = np.minimum(x_hi[many], _first_time(enough_on_average, x_hi[many]))
    return np.minimum(x_hi, _first_time(at_most_k_unlikely, x_hi))


def _first_time(
    holds: Callable[[NDArray[np.float64]], NDArray[np.bool_]],
    x_hi: NDArray[np.float64],
    grid: int = 8,
    rounds: int = 2,
) -> NDArray[np.float64]:
    """Per row, a log-time in [log PL_START, x_hi] from which on `holds` is true, within
    1/grid^rounds of the range (x_hi if it is not true there).

    `holds` maps times (n, G) to (n, G), and stays true once true. Each round evaluates it on
    a grid of the current bracket, all rows and grid points in one call.
    """
    rows = np.arange(len(x_hi))
    bottom, top = np.full(len(x_hi), np.log(PL_START)), x_hi.copy()
    for _ in range(rounds):
        x = bottom[:, None] + (top - bottom)[:, None] * (np.arange(1, grid + 1) / grid)
        ok = holds(np.exp(x))
        found = ok.any(axis=1)
        first = ok.argmax(axis=1)
        below = np.where(first > 0, x[rows, first - 1], bottom)
        bottom = np.where(found, below, top)
        top = np.where(found, x[rows, first], top)
    return top


def plackett_luce_panels(x_hi: NDArray[np.float64]) -> NDArray[np.int64]:
    """Log-time panels (n,) each row needs up to log-time `x_hi`, none wider than PL_PANEL."""
    panels = np.ceil((x_hi - np.log(PL_START)) / PL_PANEL).astype(np.int64)
    return np.maximum(panels, 1)


def plackett_luce_nodes(
    x_hi: NDArray[np.float64], n_panels: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Arrival times t (n, Q) and quadrature weights for dt (n, Q) up to log-time `x_hi` (n,):
    one panel on [0, PL_START], then `n_panels` equal log-time panels per row.
    """
    n = len(x_hi)
    # Rates sum to 1, so below PL_START every arrival probability is smooth in t itself.
    first, first_dt = _panels(np.zeros((n, 1)), np.full((n, 1), PL_START), ORDER)
    x_lo = np.log(PL_START)
    edges = x_lo + (x_hi - x_lo)[:, None] * np.linspace(0.0, 1.0, n_panels + 1)
    x, wx = _panels(edges[:, :-1], edges[:, 1:], PL_ORDER)
    t = np.exp(x)
    return np.hstack([first, t]), np.hstack([first_dt, wx * t])


def arrival_beat(weights: NDArray[np.float64], t: NDArray[np.float64]) -> NDArray[np.float64]:
    """P(an item of weight w has arrived by t) = 1 - exp(-w t)."""
    beat = weights * t
    np.negative(beat, out=beat)
    np.expm1(beat, out=beat)
    return np.negative(beat, out=beat)


def arrivals(
    weights: NDArray[np.float64], t: NDArray[np.float64], dt: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """:func:`arrival_beat` and the quadrature-weighted arrival density w exp(-w t) dt."""
    exponent = weights * t
    np.negative(exponent, out=exponent)
    beat = np.expm1(exponent)
    np.negative(beat, out=beat)
    density = np.exp(exponent, out=exponent)
    density *= weights
    density *= dt
    return beat, density


def plackett_luce_table(weights: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    """P(item at rank r) (C, k) when sampling k of C items by Plackett-Luce with `weights`."""
    w = weights / weights.sum()
    x_hi = plackett_luce_end(w[None, :], k)
    t, dt = plackett_luce_nodes(x_hi, int(plackett_luce_panels(x_hi)[0]))
    t, dt = t[0][:, None], dt[0][:, None]
    beat, density = arrivals(w, t, dt)
    table = Race(density, beat, k).table()
    table[:, 0] = w
    return table


def _expm1_power_series(k: int, n_terms: int) -> NDArray[np.float64]:
    """Coefficients b[m, p] of (e^x - 1)^m = sum_p b[m, p] x^p, for m = 1..k-1, p < n_terms."""
    base = np.zeros(n_terms)
    base[1:] = 1.0 / special.factorial(np.arange(1, n_terms))
    out = np.zeros((k, n_terms))
    out[0, 0] = 1.0
    for m in range(1, k):
        out[m] = np.convolve(out[m - 1], base)[:n_terms]
    return out[1:]


def _weak_counts(
    scaled: NDArray[np.float64], fraction: NDArray[np.float64], k: int
) -> NDArray[np.float64]:
    """Arrival counts (k, n, Q) of many light items, without a loop over items.

    `scaled` (n, C) holds w_j tau for the light items (0 for others), all <= log 2, and
    `fraction` (n, Q) holds t / tau. With odds o_j = e^{w_j t} - 1 <= 1, the counts are
    e^{-sum w_j t} e_c(o) with e_c the elementary symmetric polynomials, which Newton's
    identities give from the power sums sum_j o_j^m = sum_p b[m, p] (t / tau)^p sum_j
    (w_j tau)^p, so the items enter only through sum_j (w_j tau)^p, once per request.
    """
    ratio = (k - 1) * np.log(2.0)
    n_terms = k + 1
    while ratio**n_terms / special.factorial(n_terms) > 1e-18:
        n_terms += 1
    sums = np.empty((len(scaled), n_terms))
    power = np.ones_like(scaled)
    for p in range(n_terms):
        sums[:, p] = power.sum(axis=1)
        power *= scaled
    moments = fraction[:, :, None] ** np.arange(n_terms) * sums[:, None, :]
    # einsum, not BLAS, so that each row's sums do not depend on the other rows.
    power_sums = np.einsum("nqp,mp->mnq", moments, _expm1_power_series(k, n_terms))
    elementary = _empty(fraction.shape, k)
    for c in range(1, k):
        signs = (-1.0) ** np.arange(c)
        previous = elementary[c - 1 :: -1][:c] * signs[:, None, None]
        elementary[c] = np.einsum("mnq,mnq->nq", previous, power_sums[:c]) / c
    elementary *= np.exp(-fraction * sums[:, None, 1])
    return elementary


def plackett_luce_shown(
    weights: NDArray[np.float64], shown: NDArray[np.int64]
) -> NDArray[np.float64]:
    """P(shown[s, r] at rank r + 1) per row s, for rows of weights (n, C) (zeros: not in the
    race) and shown columns (n, k).

    Each row gets the panels its own weights need (rows needing as many are computed
    together), so its result does not depend on the other rows. Items light enough never to
    reach arrival probability 1/2 on the nodes enter through power sums
    (:func:`_weak_counts`); the few heavy ones, and the shown ones, are added one by one.
    Costs O(n C) plus O(n Q k (H + k)) for H heavy items, with Q = 8 + 12 P nodes for P =
    ceil(log(T / 3) / 1.5) panels up to the row's end time T (Q = 44 for most requests at the
    `fixes` experiment's settings).
    """
    n, k = shown.shape
    w = weights / weights.sum(axis=1, keepdims=True)
    x_hi = plackett_luce_end(w, k)
    panels = plackett_luce_panels(x_hi)
    result = np.empty((n, k))
    for n_panels in np.unique(panels):
        rows = np.flatnonzero(panels == n_panels)
        t, dt = plackett_luce_nodes(x_hi[rows], int(n_panels))
        result[rows] = _shown_on_nodes(w[rows], shown[rows], t, dt)
    result[:, 0] = np.take_along_axis(w, shown[:, :1], axis=1)[:, 0]
    return result


def _shown_on_nodes(
    w: NDArray[np.float64],
    shown: NDArray[np.int64],
    t: NDArray[np.float64],
    dt: NDArray[np.float64],
) -> NDArray[np.float64]:
    """:func:`plackett_luce_shown` for rows sharing the number of nodes: times t (n, Q)."""
    n, k = shown.shape
    rows = np.arange(n)[:, None]
    tau = t[:, -1:]
    heavy = w * tau > np.log(2.0)
    heavy[rows, shown] = False
    light = (w > 0) & ~heavy
    light[rows, shown] = False
    # Rows in decreasing number of heavy rivals, so that heavy rival h is added to a prefix.
    n_heavy = heavy.sum(axis=1)
    order = np.argsort(-n_heavy, kind="stable")
    w, shown, t, dt, tau = w[order], shown[order], t[order], dt[order], tau[order]
    heavy, light, n_heavy = heavy[order], light[order], n_heavy[order]
    if light.any():
        state = _weak_counts(np.where(light, w * tau, 0.0), t / tau, k)
    else:
        state = _empty(t.shape, k)
    most = int(n_heavy.max(initial=0))
    packed = np.argpartition(~heavy, most - 1, axis=1)[:, :most] if most else shown[:, :0]
    # Heavy ones first, by column: the same order whatever the other rows, and so the same bits.
    key = np.where(heavy[rows, packed], packed, packed + w.shape[1])
    packed = np.take_along_axis(packed, np.argsort(key, axis=1), axis=1)
    w_heavy = w[rows, packed]
    having = (n_heavy[:, None] > np.arange(most)).sum(axis=0)
    for h in range(most):
        live = slice(0, having[h])
        include(state[:, live], arrival_beat(w_heavy[live, h, None], t[live]))
    w_slots = np.ascontiguousarray(w[rows, shown].T)[:, :, None]  # slot-first in memory too
    out = np.empty((n, k))
    out[order] = _with_shown(state, *arrivals(w_slots, t, dt))
    return out
