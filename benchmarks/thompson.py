"""Benchmark: Thompson-sampling propensities at the `fixes` experiment's settings, before and
after.

:class:`policies.ThompsonSampling` (Beta posteriors, the registry's ``thompson``) on the world
of ``experiments/configs/fixes.toml``: the standard world (10,000 users x 2,000 items, slates of
10, 32 ticks a day) with position-based clicks, eta = 1, retrained daily. Nothing is blocked
there, so every request reads one rank table of the 2,000 candidates, computed once per fit and
cached (a tick then costs a lookup): the table is the cost. The run records the posteriors of
every table computed; both engines then compute every recorded table in this one process,
alternating which goes first, and the script prints one JSON line per way of counting trials
(``raw``: impressions, the registry's default; ``examined``: weighted by the true examination
curve, ``examination = "known"``), each with

* ``seconds_per_table_before`` / ``seconds_per_table_after``: medians over the recorded tables
  of the CPU seconds (``time.process_time``) of the engine of commit 7b5789c (copied below,
  unchanged but for names) and of :func:`policies.beta_marginals.beta_table`;
* ``speedup``: their ratio;
* ``distinct_posteriors``: the median number of distinct (a, b) among the 2,000 candidates;
* ``max_abs_difference``: the largest difference between the two engines' tables.

A last line measures the ``thompson`` variant that `fixes` does run, bootstrap Thompson
(:class:`policies.BootstrapThompson`, four LightGBM members of 30 trees), whose propensities
need no quadrature: the CPU seconds of its mixture propensities per tick and their share of the
run's CPU seconds.

Run as ``OPENBLAS_NUM_THREADS=1 python benchmarks/thompson.py [days]`` (default 4 days, about
three minutes).
"""

from __future__ import annotations

import json
import statistics
import sys
import time

import numpy as np
from engines import compare_engines, record_calls  # the sibling module; benchmarks/ is on sys.path
from numpy.typing import NDArray
from scipy import special

from policies import BootstrapThompson, LightGBMPolicy, ThompsonSampling, beta_marginals
from policies.rank_marginals import MAX_STRONG_SHARE, TAIL, sure_count
from simulator import PositionBasedModel, SimulationConfig, World, WorldConfig, simulate, stream

Posteriors = tuple[NDArray[np.float64], NDArray[np.float64], int]

# ------------------------------------------------ the engine before issue 17 (commit 7b5789c)
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(8)


def _include_before(state: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.float64]:
    """Add one Bernoulli(p) to Poisson-binomial counts `state` (..., k), truncated at k - 1."""
    out = state * (1.0 - p)[..., None]
    out[..., 1:] += state[..., :-1] * p[..., None]
    return out


def _convolve_before(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Counts of the union of two independent sets of items, truncated at k - 1."""
    k = a.shape[-1]
    out = np.zeros(np.broadcast_shapes(a.shape, b.shape))
    for c in range(k):
        out[..., c:] += a[..., c : c + 1] * b[..., : k - c]
    return out


def _empty_before(shape: tuple[int, ...], k: int) -> NDArray[np.float64]:
    state = np.zeros((*shape, k))
    state[..., 0] = 1.0
    return state


def _strong_leave_one_out_before(p: NDArray[np.float64], k: int) -> NDArray[np.float64]:
    """(Q, S) -> (Q, S, k): counts over all items but each one, by prefix and suffix products."""
    n_nodes, n_items = p.shape
    prefix = np.empty((n_nodes, n_items, k))
    state = _empty_before((n_nodes,), k)
    for j in range(n_items):
        prefix[:, j] = state
        state = _include_before(state, p[:, j])
    out = np.empty((n_nodes, n_items, k))
    state = _empty_before((n_nodes,), k)
    for j in range(n_items - 1, -1, -1):
        out[:, j] = _convolve_before(prefix[:, j], state)
        state = _include_before(state, p[:, j])
    return out


def _divide_before(state: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.float64]:
    """Remove one Bernoulli(p) from counts `state` (..., k): the inverse of including it."""
    k = state.shape[-1]
    out = np.empty(np.broadcast_shapes(state.shape, (*p.shape, k)))
    keep = 1.0 - p
    out[..., 0] = state[..., 0] / keep
    for c in range(1, k):
        out[..., c] = (state[..., c] - p * out[..., c - 1]) / keep
    return np.maximum(out, 0.0)


def _table_before(
    density: NDArray[np.float64], p: NDArray[np.float64], k: int, chunk: int = 256
) -> NDArray[np.float64]:
    """P(item j at rank r) (C, k) for items with quadrature-weighted densities and beat
    probabilities (Q, C): the old ``Race(density, p, k).table()``."""
    top = p.max(axis=0, initial=0.0)
    strong = np.flatnonzero(top > MAX_STRONG_SHARE)
    light = np.flatnonzero((top > TAIL) & (top <= MAX_STRONG_SHARE))
    light_counts = _empty_before((p.shape[0],), k)
    for j in light:
        light_counts = _include_before(light_counts, p[:, j])
    strong_counts = _empty_before((p.shape[0],), k)
    for j in strong:
        strong_counts = _include_before(strong_counts, p[:, j])
    counts = _convolve_before(light_counts, strong_counts)
    table = np.einsum("qs,qc->sc", density, counts)
    if len(strong):
        others = _strong_leave_one_out_before(p[:, strong], k)
        others = _convolve_before(others, light_counts[:, None])
        table[strong] = np.einsum("qs,qsc->sc", density[:, strong], others)
    for start in range(0, len(light), chunk):
        cols = light[start : start + chunk]
        others = _divide_before(counts[:, None, :], p[:, cols])
        table[cols] = np.einsum("qs,qsc->sc", density[:, cols], others)
    return table


def _beta_beat_before(
    a: NDArray[np.float64], b: NDArray[np.float64], windows: tuple, x: NDArray[np.float64]
) -> NDArray[np.float64]:
    """P(key_j > x) (Q, C), evaluated only inside each item's quantile window."""
    lo, hi = windows
    p = (x[:, None] < lo).astype(float)
    rows, cols = np.nonzero((x[:, None] >= lo) & (x[:, None] <= hi))
    p[rows, cols] = special.betaincc(a[cols], b[cols], x[rows])
    return p


def _beta_density_before(
    a: NDArray[np.float64], b: NDArray[np.float64], windows: tuple, x: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Beta densities (Q, C), zero outside each item's quantile window."""
    lo, hi = windows
    out = np.zeros((len(x), len(a)))
    rows, cols = np.nonzero((x[:, None] >= lo) & (x[:, None] <= hi))
    xs, a, b = x[rows], a[cols], b[cols]
    log_pdf = special.xlogy(a - 1.0, xs) + special.xlog1py(b - 1.0, -xs) - special.betaln(a, b)
    out[rows, cols] = np.exp(log_pdf)
    return out


def _beta_nodes_before(
    a: NDArray[np.float64], b: NDArray[np.float64], windows: tuple, k: int
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Adaptive composite Gauss-Legendre nodes and weights on [0, 1] (see beta_marginals)."""
    sure = sure_count(k) + 1.0
    n_sure = int(np.ceil(sure))
    x_lo = float(-np.sort(-windows[0])[n_sure - 1]) if len(a) >= n_sure else 0.0
    edges = np.array([x_lo, 1.0])
    beat = _beta_beat_before(a, b, windows, edges)
    for _ in range(200):
        mean = beat.sum(axis=1)
        keep = (mean[:-1] > TAIL) & (mean[1:] < sure)
        change = np.abs(np.diff(beat, axis=0)).max(axis=1)
        ratio = np.log(mean[:-1] + TAIL) - np.log(mean[1:] + TAIL)
        split = keep & ((change > 0.35) | (ratio > np.log(3.0)))
        split &= np.diff(edges) > 1e-14
        if not split.any():
            break
        middles = (edges[:-1][split] + edges[1:][split]) / 2.0
        edges = np.concatenate([edges, middles])
        beat = np.concatenate([beat, _beta_beat_before(a, b, windows, middles)])
        order = np.argsort(edges)
        edges, beat = edges[order], beat[order]
    mean = beat.sum(axis=1)
    keep = (mean[:-1] > TAIL) & (mean[1:] < sure)
    lo, hi = edges[:-1][keep], edges[1:][keep]
    half, mid = (hi - lo) / 2.0, (hi + lo) / 2.0
    return (mid[:, None] + half[:, None] * _NODES).ravel(), (half[:, None] * _WEIGHTS).ravel()


def beta_table_before(a: NDArray[np.float64], b: NDArray[np.float64], k: int) -> NDArray:
    """The old ``beta_race(a, b, k).table()``."""
    windows = (special.betaincinv(a, b, TAIL), special.betaincinv(a, b, 1.0 - TAIL))
    x, wx = _beta_nodes_before(a, b, windows, k)
    density = _beta_density_before(a, b, windows, x) * wx[:, None]
    return _table_before(density, _beta_beat_before(a, b, windows, x), k)


# ------------------------------------------------------------------------------ the benchmark
def record_tables(days: int, examined: bool, seed: int = 0) -> tuple[list[Posteriors], float]:
    """Posteriors of every rank table of a `fixes`-world Thompson run, and the run's seconds."""
    world = World.generate(WorldConfig(), stream(seed, "world"))
    clicks = PositionBasedModel(eta=1.0)
    config = SimulationConfig(days=days, retrain_every=1.0)
    policy = ThompsonSampling(examination=clicks.examination(10) if examined else None)
    return record_calls(
        beta_marginals, "beta_table", lambda: simulate(world, clicks, policy, config, seed)
    )


def thompson_benchmark(days: int = 4, examined: bool = False, seed: int = 0) -> dict:
    calls, run_seconds = record_tables(days, examined, seed)
    distinct = [np.unique(np.stack([a, b]), axis=1).shape[1] for a, b, _ in calls]
    out = {
        "trials": "examined" if examined else "raw",
        "days": days,
        "tables": len(calls),
        "candidates": len(calls[0][0]),
        "distinct_posteriors": statistics.median(distinct),
        "run_seconds_after": round(run_seconds, 2),
    }
    return out | compare_engines(beta_table_before, beta_marginals.beta_table, calls, "table")


def bootstrap_benchmark(days: int = 4, seed: int = 0) -> dict:
    """CPU seconds of :class:`BootstrapThompson`'s mixture propensities in a `fixes`-world run."""
    world = World.generate(WorldConfig(), stream(seed, "world"))
    policy = BootstrapThompson(LightGBMPolicy(seed=seed, n_trees=30), n_models=4)
    mixture = BootstrapThompson._mixture
    spent: list[float] = []

    def timed(self: BootstrapThompson, *args: object) -> NDArray[np.float64]:
        started = time.process_time()
        out = mixture(self, *args)  # type: ignore[arg-type]
        spent.append(time.process_time() - started)
        return out

    BootstrapThompson._mixture = timed  # type: ignore[method-assign, assignment]
    try:
        started = time.process_time()
        config = SimulationConfig(days=days, retrain_every=1.0)
        simulate(world, PositionBasedModel(eta=1.0), policy, config, seed)
        run = time.process_time() - started
    finally:
        BootstrapThompson._mixture = mixture  # type: ignore[method-assign]
    return {
        "policy": "lightgbm_thompson",
        "days": days,
        "ticks": len(spent),
        "seconds_per_tick": round(statistics.median(spent), 6),
        "share_of_run": round(sum(spent) / run, 4),
    }


if __name__ == "__main__":
    n_days = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    for weighted in (False, True):
        print(json.dumps(thompson_benchmark(n_days, weighted)))
    print(json.dumps(bootstrap_benchmark(n_days)))
