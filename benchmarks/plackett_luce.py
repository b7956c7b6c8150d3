"""Benchmark: Plackett-Luce propensities at the `fixes` experiment's settings, before and after.

Greedy LightGBM wrapped in ``PlackettLuce(temperature=0.01, top_m=20)`` on the standard world
(10,000 users x 2,000 items, slates of 10, 32 ticks a day) with position-based clicks, eta = 1,
as the ``plackett_luce`` variant of ``experiments/configs/fixes.toml``. The run records the
input of every per-request propensity computation (one a tick: ~300 requests, each racing its
top 20 candidates and their ties); both engines then compute the propensities of every
recorded tick in this one process, alternating, and the script prints one JSON line:

* ``seconds_per_tick_before`` / ``seconds_per_tick_after``: medians over the recorded ticks of
  the CPU seconds (``time.process_time``, so that other work on a shared machine counts less)
  of the engine of commit 7b5789c (copied below, unchanged but for names) and of
  :func:`policies.rank_marginals.plackett_luce_shown`;
* ``speedup``: their ratio;
* ``max_abs_difference``: the largest difference between the two engines' propensities (both
  claim about 1e-10 against exact enumeration).

Run as ``OPENBLAS_NUM_THREADS=1 python benchmarks/plackett_luce.py [days]`` (default 3 days,
about a minute).
"""

from __future__ import annotations

import json
import statistics
import sys

import numpy as np
from engines import compare_engines, record_calls  # the sibling module; benchmarks/ is on sys.path
from numpy.typing import NDArray
from scipy import optimize, special

from policies import LightGBMPolicy, PlackettLuce, rank_marginals
from simulator import PositionBasedModel, SimulationConfig, World, WorldConfig, simulate, stream

Call = tuple[NDArray[np.float64], NDArray[np.int64]]

# ------------------------------------------------ the engine before issue 17 (commit 7b5789c)
TAIL = 1e-13
ORDER = 8
PANEL = 1.0
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(ORDER)


def _sure_count_before(k: int) -> float:
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


def _arrival_beat_before(
    weights: NDArray[np.float64], t: NDArray[np.float64]
) -> NDArray[np.float64]:
    """P(an item of weight w has arrived by t) = 1 - exp(-w t)."""
    return -np.expm1(-weights * t)


def _arrival_density_before(
    weights: NDArray[np.float64], t: NDArray[np.float64], dt: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Quadrature-weighted arrival density w exp(-w t) dt."""
    return weights * np.exp(-weights * t) * dt


def _expm1_power_series_before(k: int, n_terms: int) -> NDArray[np.float64]:
    """Coefficients b[m, p] of (e^x - 1)^m = sum_p b[m, p] x^p, for m = 1..k-1, p < n_terms."""
    base = np.zeros(n_terms)
    base[1:] = 1.0 / special.factorial(np.arange(1, n_terms))
    out = np.zeros((k, n_terms))
    out[0, 0] = 1.0
    for m in range(1, k):
        out[m] = np.convolve(out[m - 1], base)[:n_terms]
    return out[1:]


def _include_before(state: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.float64]:
    """Add one Bernoulli(p) to Poisson-binomial counts `state` (..., k), truncated at k - 1."""
    out = state * (1.0 - p)[..., None]
    out[..., 1:] += state[..., :-1] * p[..., None]
    return out


def _empty_before(shape: tuple[int, ...], k: int) -> NDArray[np.float64]:
    state = np.zeros((*shape, k))
    state[..., 0] = 1.0
    return state


def _with_shown_before(
    state: NDArray[np.float64], shown_beat: NDArray[np.float64], shown_density: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Integrate each shown item (slot r at rank r + 1) against the counts of all other rivals:
    `state` (n, Q, k) holds the rivals that are not shown, the other shown items are added by
    prefix and suffix products over the slots."""
    k = state.shape[-1]
    prefix = [state]
    for r in range(k - 1):
        prefix.append(_include_before(prefix[-1], shown_beat[:, :, r]))
    result = np.empty((state.shape[0], k))
    suffix = _empty_before(state.shape[:2], k)
    for r in range(k - 1, -1, -1):
        counts = np.einsum("nqa,nqa->nq", prefix[r][:, :, : r + 1], suffix[:, :, r::-1])
        result[:, r] = np.einsum("nq,nq->n", shown_density[:, :, r], counts)
        suffix = _include_before(suffix, shown_beat[:, :, r])
    return result


def _panels_before(lo: NDArray[np.float64], hi: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
    """Gauss-Legendre nodes and weights on log-time panels [lo, hi]: (..., P*ORDER)."""
    half, mid = (hi - lo) / 2.0, (hi + lo) / 2.0
    nodes = mid[..., None] + half[..., None] * _NODES
    weights = half[..., None] * _WEIGHTS
    shape = (*lo.shape[:-1], -1)
    return nodes.reshape(shape), weights.reshape(shape)


def _plackett_luce_nodes_before(
    weights: NDArray[np.float64], k: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Log-time nodes per row for weights (n, C) that sum to 1 per row (zeros allowed).

    Returns arrival times t (n, Q) and quadrature weights for dt (n, Q). All rows share the
    number of panels, each row's panels at most PANEL wide.
    """
    n_live = (weights > 0).sum(axis=1)
    kth = min(k + 1, weights.shape[1])
    ordered = -np.sort(-weights, axis=1)
    reference = np.where(
        n_live > k, ordered[:, kth - 1], np.min(np.where(weights > 0, weights, np.inf), axis=1)
    )
    x_lo = np.full(len(weights), np.log(1e-5))
    x_hi = np.log(-np.log(TAIL) / reference)
    target = _sure_count_before(k) + 1.0
    top, bottom = x_hi.copy(), x_lo.copy()
    if (n_live > k + target).any():
        for _ in range(14):
            middle = (top + bottom) / 2.0
            mean = -np.expm1(-weights * np.exp(middle)[:, None]).sum(axis=1)
            enough = mean >= target
            top = np.where(enough, middle, top)
            bottom = np.where(enough, bottom, middle)
        x_hi = np.minimum(x_hi, top)
    n_panels = max(int(np.ceil((x_hi - x_lo).max() / PANEL)), 1)
    edges = x_lo[:, None] + (x_hi - x_lo)[:, None] * np.linspace(0.0, 1.0, n_panels + 1)
    x, wx = _panels_before(edges[:, :-1], edges[:, 1:])
    t = np.exp(x)
    return t, wx * t


def _weak_counts_before(
    scaled: NDArray[np.float64], fraction: NDArray[np.float64], k: int
) -> NDArray[np.float64]:
    """Arrival counts (n, Q, k) of many light items, without a loop over items.

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
    power_sums = moments @ _expm1_power_series_before(k, n_terms).T
    elementary = np.zeros((*fraction.shape, k))
    elementary[..., 0] = 1.0
    for c in range(1, k):
        signs = (-1.0) ** np.arange(c)
        elementary[..., c] = (
            np.einsum(
                "...m,...m->...", elementary[..., c - 1 :: -1][..., :c] * signs, power_sums[..., :c]
            )
            / c
        )
    return np.exp(-fraction * sums[:, None, 1])[..., None] * elementary


def _plackett_luce_shown_before(
    weights: NDArray[np.float64], shown: NDArray[np.int64]
) -> NDArray[np.float64]:
    """P(shown[s, r] at rank r + 1) per row s, for rows of weights (n, C) (zeros: not in the
    rank_marginals) and shown columns (n, k).

    Items light enough never to reach arrival probability 1/2 on the nodes enter through power
    sums (:func:`_weak_counts`); the few heavy ones, and the shown ones, are added one by one.
    Costs O(n C) plus O(n Q k H) for H heavy items, with Q about 8 log(72 / 1e-5) nodes.
    """
    n, k = shown.shape
    w = weights / weights.sum(axis=1, keepdims=True)
    t, dt = _plackett_luce_nodes_before(w, k)
    rows = np.arange(n)[:, None]
    w_shown = w[rows, shown]
    tau = t[:, -1:]
    heavy = w * tau > np.log(2.0)
    heavy[rows, shown] = False
    light = (w > 0) & ~heavy
    light[rows, shown] = False
    if light.any():
        state = _weak_counts_before(np.where(light, w * tau, 0.0), t / tau, k)
    else:
        state = _empty_before(t.shape, k)
    # Each row's heavy rivals packed to the left; a zero weight leaves the counts as they are.
    n_heavy = int(heavy.sum(axis=1).max(initial=0))
    packed = np.argpartition(~heavy, n_heavy - 1, axis=1)[:, :n_heavy] if n_heavy else shown[:, :0]
    w_heavy = np.where(heavy[rows, packed], w[rows, packed], 0.0)
    for h in range(n_heavy):
        state = _include_before(state, _arrival_beat_before(w_heavy[:, h, None], t))
    shown_beat = _arrival_beat_before(w_shown[:, None, :], t[:, :, None])
    shown_density = _arrival_density_before(w_shown[:, None, :], t[:, :, None], dt[:, :, None])
    result = _with_shown_before(state, shown_beat, shown_density)
    result[:, 0] = w_shown[:, 0]
    return result


# ------------------------------------------------------------------------------ the benchmark
def record_ticks(days: int, seed: int = 0) -> tuple[list[Call], float]:
    """Inputs of every per-request propensity computation of a `fixes` Plackett-Luce run, and
    the run's seconds."""
    world = World.generate(WorldConfig(), stream(seed, "world"))
    policy = PlackettLuce(LightGBMPolicy(seed=seed), temperature=0.01, top_m=20)
    config = SimulationConfig(days=days, retrain_every=1.0)
    return record_calls(
        rank_marginals,
        "plackett_luce_shown",
        lambda: simulate(world, PositionBasedModel(eta=1.0), policy, config, seed),
    )


def plackett_luce_benchmark(days: int = 3, seed: int = 0) -> dict[str, float]:
    calls, run_seconds = record_ticks(days, seed)
    if not calls:
        raise ValueError(f"days must be at least 2 (day 0 has no fitted model to race), got {days}")
    out: dict[str, float] = {
        "days": days,
        "ticks": len(calls),
        "requests_per_tick": statistics.median(len(w) for w, _ in calls),
        "racing_per_request": float(np.median([(w > 0).sum(axis=1).mean() for w, _ in calls])),
        "run_seconds_after": round(run_seconds, 2),
    }
    return out | compare_engines(
        _plackett_luce_shown_before, rank_marginals.plackett_luce_shown, calls, "tick"
    )


if __name__ == "__main__":
    print(json.dumps(plackett_luce_benchmark(int(sys.argv[1]) if len(sys.argv) > 1 else 3)))
