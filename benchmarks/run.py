"""Speed and memory of the simulator, each against a plain-numpy ceiling doing the same work.

Run from the repository root inside the project's venv: ``python benchmarks/run.py`` (``make
bench``: ``--quick``, a few minutes) or ``--full`` (the issue-17 sizes: up to 1M users, 100k
items, a 10-day Plackett-Luce run and the 60-day LightGBM loop; tens of minutes). The last
line printed is one JSON object:

* ``policies``: the engine under random, popularity and oracle policies on the standard world,
  each with the impressions/s of a numpy ceiling doing the same per-session work (draw the
  users, build the slate as the policy does, sample PBM clicks, move preferences, compute the
  exact regret truth by scoring the live catalog, write the log columns) with no simulator
  around it, and their ratio;
* ``scaling``: popularity over users and items (a few days each) for each truth mode
  (`SimulationConfig.truth`), with each point's impressions/s relative to 10k x 2k in the same
  mode and in the default ``"exact"`` mode; under ``"lightgbm"`` the same over items for
  `LightGBMPolicy` retrained daily (``"exact"`` and ``"sampled"`` truth), each point also with
  its seconds inside LightGBM's ``train`` and ``predict`` and the score-table rows predicted;
  under ``"lightgbm_retrieval"`` the same behind a retrieval stage of 2,000 candidates
  (`policies.Retrieval`), each point also relative to plain LightGBM at 10k x 2k in the same
  truth mode (``relative_to_plain_lightgbm_smallest``; issue 17's target is >= 0.5 at
  10k x 100k);
* ``memory``: bytes per impression of the log and of the truth, and the running peak of traced
  memory at each day's end (world generation included) of a run in memory and with
  `log_spill`;
* ``plackett_luce``: a Plackett-Luce run over LightGBM at the ``fixes`` settings.

The machine may be shared and noisy: compare ratios measured in one run, not across runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from policies import (
    LightGBMPolicy,
    LightGBMTimings,
    OraclePolicy,
    PlackettLuce,
    PopularityPolicy,
    RandomPolicy,
    Retrieval,
)
from simulator import (
    DAILY_METRICS,
    DayData,
    PositionBasedModel,
    SimulationConfig,
    World,
    WorldConfig,
    simulate,
    stream,
)
from simulator.ranking import best_columns

K = 10
RETRIEVED = 2_000
"""Candidates the retrieval stage hands LightGBM in the ``lightgbm_retrieval`` curve."""
SIZES = {
    "quick": {
        "days": 2,
        "users": (10_000, 50_000),
        "items": (2_000, 20_000),
        "memory_users": 20_000,
        "memory_days": 10,
        "pl_days": 2,
    },
    "full": {
        "days": 3,
        "users": (10_000, 100_000, 1_000_000),
        "items": (2_000, 10_000, 50_000, 100_000),
        "memory_users": 200_000,
        "memory_days": 10,
        "pl_days": 10,
    },
}
POLICIES: dict[str, Callable[[World], Any]] = {
    "random": lambda world: RandomPolicy(),
    "popularity": lambda world: PopularityPolicy(),
    "oracle": OraclePolicy,
}


def engine(
    world: WorldConfig, policy: Callable[[World], Any], days: int, seed: int = 0, **options: Any
) -> dict:
    """One run of the simulator under `policy(world)` (world generation not timed)."""
    built = World.generate(world, stream(seed, "world"))
    metrics = options.pop("metrics", None)
    config = SimulationConfig(days=days, slate_size=K, **options)
    clicks = PositionBasedModel(eta=1.0)
    made = policy(built)
    start = time.perf_counter()
    result = simulate(built, clicks, made, config, seed, metrics=metrics)
    seconds = time.perf_counter() - start
    log, truth = result.log, result.truth
    by_day: dict[str, Any] = (
        {"peak_mb_by_day": result.metric("peak_mb").round(1).tolist()} if metrics else {}
    )
    timings = _lightgbm_timings(made)
    if timings is not None:
        by_day |= {
            "fit_seconds": round(timings.fit_seconds, 2),
            "predict_seconds": round(timings.predict_seconds, 2),
            "predicted_rows": timings.n_predicted_rows,
        }
    return by_day | {
        "sessions": len(log),
        "seconds": round(seconds, 2),
        "impressions_per_sec": round(log.n_impressions / seconds),
        "log_bytes_per_impression": round(log.nbytes / log.n_impressions, 2),
        "truth_bytes_per_impression": round(truth.nbytes / log.n_impressions, 2),
    }


def _lightgbm_timings(policy: Any) -> LightGBMTimings | None:
    """The timings of the LightGBM model in `policy`, looking through its wrappers."""
    while policy is not None:
        timings = getattr(policy, "timings", None)
        if isinstance(timings, LightGBMTimings):
            return timings
        policy = getattr(policy, "inner", None)
    return None


def ceiling(world: WorldConfig, policy: str, n_sessions: int, batch: int, seed: int = 0) -> float:
    """Impressions/s of a tick's work for `policy` as bare vectorised numpy."""
    rng = np.random.default_rng(seed)
    users = rng.normal(size=(world.n_users, world.dim))
    users /= np.linalg.norm(users, axis=1, keepdims=True)
    latent = rng.normal(size=(world.n_items, world.dim))
    latent /= np.linalg.norm(latent, axis=1, keepdims=True)
    latent_t = np.ascontiguousarray(latent.T)
    bias = rng.normal(0.0, world.quality_sd, world.n_items) + world.offset
    theta = PositionBasedModel(eta=1.0).examination(K)
    popular = np.arange(K)
    log = {
        "user": np.empty(n_sessions, np.int32),
        "item": np.empty((n_sessions, K), np.int32),
        "click": np.empty((n_sessions, K), bool),
        "shown": np.empty((n_sessions, K), np.float32),
        "oracle": np.empty(n_sessions),
    }
    start = time.perf_counter()
    done = 0
    while done < n_sessions:
        who = rng.integers(world.n_users, size=min(batch, n_sessions - done))
        if policy == "random":
            keys = rng.random((len(who), world.n_items))
            slate = np.argpartition(keys, K - 1, axis=1)[:, :K]
        elif policy == "popularity":
            slate = np.broadcast_to(popular, (len(who), K))
        else:
            # as OraclePolicy: rank every item by its true attractiveness
            slate = best_columns(
                1.0 / (1.0 + np.exp(-(world.affinity * (users[who] @ latent_t) + bias))), K
            )
        logit = world.affinity * np.einsum("nd,nkd->nk", users[who], latent[slate]) + bias[slate]
        shown = 1.0 / (1.0 + np.exp(-logit))
        clicks = rng.random(slate.shape) < shown * theta
        step = world.preference_drift * (clicks[:, :, None] * (latent[slate] - users[who, None]))
        np.add.at(users, who, step.sum(axis=1))
        users[who] /= np.linalg.norm(users[who], axis=1, keepdims=True)
        logits = world.affinity * (users[who] @ latent_t) + bias
        best = np.take_along_axis(logits, best_columns(logits, K), 1)
        rows = slice(done, done + len(who))
        log["user"][rows], log["item"][rows], log["click"][rows] = who, slate, clicks
        log["shown"][rows] = shown
        log["oracle"][rows] = (theta / (1.0 + np.exp(-best))).sum(axis=1)
        done += len(who)
    return n_sessions * K / (time.perf_counter() - start)


def policies(days: int) -> dict:
    """Each policy on the standard world against its ceiling."""
    world, out = WorldConfig(), {}
    for name, policy in POLICIES.items():
        run = engine(world, policy, days)
        batch = round(run["sessions"] / (days * SimulationConfig().ticks_per_day))
        numpy = ceiling(world, name, run["sessions"], batch)
        out[name] = run | {
            "ceiling_impressions_per_sec": round(numpy),
            "share_of_ceiling": round(run["impressions_per_sec"] / numpy, 3),
        }
    return out


def scaling(users: tuple[int, ...], items: tuple[int, ...], days: int) -> dict:
    """Popularity over users (2k items) and items (10k users) for each truth mode, and LightGBM
    (retrained daily) over items for the exact and sampled truths, plain under ``"lightgbm"``
    and behind a retrieval stage under ``"lightgbm_retrieval"``.
    """
    points = [(u, items[0]) for u in users] + [(users[0], i) for i in items[1:]]
    out = curves("popularity", POLICIES["popularity"], points, ("exact", "cached", "sampled"), days)
    lightgbm_points = [(users[0], i) for i in items]
    out["lightgbm"] = curves("lightgbm", _lightgbm, lightgbm_points, ("exact", "sampled"), days)
    out["lightgbm_retrieval"] = retrieval_curves(out["lightgbm"], lightgbm_points, days)
    return out


def retrieval_curves(
    plain: dict[str, dict], points: list[tuple[int, int]], days: int
) -> dict[str, dict]:
    """LightGBM behind a retrieval stage of `RETRIEVED` candidates at each of `points`, in the
    truth modes of `plain` (plain LightGBM's curves), each point also relative to plain
    LightGBM at its smallest point in the same mode: the ranker's cost no longer grows with
    the catalog, so what is left of the slowdown is retrieval's and the simulator's own.
    """
    out = curves("lightgbm_retrieval", _lightgbm_retrieval, points, tuple(plain), days)
    for truth, rows in out.items():
        base = next(iter(plain[truth].values()))["impressions_per_sec"]
        for run in rows.values():
            run["relative_to_plain_lightgbm_smallest"] = round(run["impressions_per_sec"] / base, 3)
    return out


def _lightgbm(world: World) -> LightGBMPolicy:
    return LightGBMPolicy(timings=LightGBMTimings())


def _lightgbm_retrieval(world: World) -> Retrieval:
    return Retrieval(_lightgbm(world), n_candidates=RETRIEVED)


def curves(
    name: str,
    policy: Callable[[World], Any],
    points: list[tuple[int, int]],
    truths: tuple[str, ...],
    days: int,
) -> dict[str, dict]:
    """`policy` at each (users, items) point for each truth mode, with each point's
    impressions/s relative to the first point in the same mode and in the first mode.
    """
    out: dict[str, dict] = {}
    smallest = f"{points[0][0]}x{points[0][1]}"
    for truth in truths:
        rows = {}
        for n_users, n_items in points:
            world = WorldConfig(n_users=n_users, n_items=n_items)
            # 1% of sessions: at 100k items about the truth cost of 1k items scored per session.
            run = engine(world, policy, days, truth=truth, truth_sample_rate=0.01)
            rows[f"{n_users}x{n_items}"] = run
            print(f"scaling {name} {truth} {n_users}x{n_items}: {run}", file=sys.stderr)
        out[truth] = rows
        for run in rows.values():
            for label, mode in (("relative_to_smallest", truth), ("relative_to_exact", truths[0])):
                run[label] = round(
                    run["impressions_per_sec"] / out[mode][smallest]["impressions_per_sec"], 3
                )
    return out


def _running_peak_mb(day: DayData) -> float:
    """Peak traced memory so far, read at each day's end (a metric only for its timing)."""
    return tracemalloc.get_traced_memory()[1] / 2**20


def traced_peak(world: WorldConfig, days: int, **options: Any) -> dict:
    """A popularity run under tracemalloc: the run's figures and its running peak by day."""
    metrics = DAILY_METRICS | {"peak_mb": _running_peak_mb}
    tracemalloc.start()
    run = engine(world, POLICIES["popularity"], days, metrics=metrics, **options)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return run | {"peak_mb": round(peak / 2**20, 1)}


def memory(n_users: int, days: int) -> dict:
    """Bytes per impression, and the running peak by day in memory vs spilled.

    A spilled run keeps the trailing window (7 days by default) in memory, so its peak stops
    growing after the window; an in-memory one grows by a day's log every day.
    """
    world = WorldConfig(n_users=n_users)
    out = {}
    for label, spill in (("in_memory", False), ("spilled", True)):
        out[label] = traced_peak(world, days, log_spill=spill)
        print(f"memory {label}: {out[label]}", file=sys.stderr)
    return out


def plackett_luce(days: int, seed: int = 0) -> dict:
    """LightGBM under Plackett-Luce at the ``fixes`` settings on the standard world."""
    policy = PlackettLuce(LightGBMPolicy(seed=seed), temperature=0.01, top_m=20)
    return engine(WorldConfig(), lambda world: policy, days, seed) | {"days": days}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_const", dest="size", const="quick")
    size.add_argument("--full", action="store_const", dest="size", const="full")
    parser.add_argument("--only", nargs="*", help="sections to run (default: all)")
    args = parser.parse_args(argv)
    sizes = SIZES[args.size or "quick"]
    sections = {
        "policies": lambda: policies(sizes["days"]),
        "scaling": lambda: scaling(sizes["users"], sizes["items"], sizes["days"]),
        "memory": lambda: memory(sizes["memory_users"], sizes["memory_days"]),
        "plackett_luce": lambda: plackett_luce(sizes["pl_days"]),
    }
    out: dict[str, Any] = {"size": args.size or "quick"}
    for name, section in sections.items():
        if args.only is None or name in args.only:
            out[name] = section()
            print(f"{name}: {json.dumps(out[name])}", file=sys.stderr)
    if args.size == "full" and (args.only is None or "lightgbm" in args.only):
        from lightgbm_run import lightgbm_benchmark  # the sibling script; benchmarks/ on sys.path

        out["lightgbm"] = lightgbm_benchmark()
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
