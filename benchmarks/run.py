"""Speed and memory of the simulator on the standard world, against a plain-numpy ceiling.

Run from the repository root inside the project's venv: ``python benchmarks/run.py`` (or
``make bench``). The last line printed is one JSON object. It also runs the LightGBM benchmark
(`benchmarks/lightgbm_run.py`: the standard world under LightGBM retrained daily for 60 days,
about 1.5 minutes). The ceiling does the same per-session work as one serving tick
(score every live item for a batch of users, take the top 10, sample PBM clicks) as bare
vectorised numpy with no simulator around it; the simulator should reach a good share of it.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from policies import PopularityPolicy
from simulator import PositionBasedModel, SimulationConfig, World, WorldConfig, simulate, stream
from simulator.ranking import best_columns

DAYS = 30


def simulator_figures(seed: int = 0) -> dict[str, float]:
    world = World.generate(WorldConfig(), stream(seed, "world"))
    config = SimulationConfig(days=DAYS, retrain_every=1.0)
    start = time.perf_counter()
    result = simulate(world, PositionBasedModel(eta=1.0), PopularityPolicy(), config, seed)
    seconds = time.perf_counter() - start
    log = result.log
    return {
        "sessions": len(log),
        "seconds": seconds,
        "impressions_per_sec": log.n_impressions / seconds,
        "sessions_per_sec": len(log) / seconds,
        "bytes_per_impression": log.nbytes / log.n_impressions,
    }


def numpy_ceiling(n_sessions: int, batch: int, seed: int = 0) -> float:
    """Impressions per second of score-all-items, top-10 and PBM clicks in plain numpy."""
    rng = np.random.default_rng(seed)
    config = WorldConfig()
    users = rng.normal(size=(config.n_users, config.dim))
    items = rng.normal(size=(config.n_items, config.dim))
    theta = PositionBasedModel(eta=1.0).examination(10)
    start = time.perf_counter()
    done = n_clicks = 0
    while done < n_sessions:
        who = rng.integers(config.n_users, size=min(batch, n_sessions - done))
        scores = users[who] @ items.T
        top = best_columns(scores, 10)
        attractiveness = 1.0 / (1.0 + np.exp(-np.take_along_axis(scores, top, axis=1)))
        clicks = rng.random(top.shape) < attractiveness * theta
        done += len(who)
        n_clicks += int(clicks.sum())
    return n_sessions * 10 / (time.perf_counter() - start)


def main() -> dict[str, float]:
    from lightgbm_run import lightgbm_benchmark  # the sibling script; benchmarks/ is on sys.path

    figures = simulator_figures()
    batch = round(figures["sessions"] / (DAYS * SimulationConfig().ticks_per_day))
    ceiling = numpy_ceiling(int(figures["sessions"]), batch)
    out = {
        "impressions_per_sec": round(figures["impressions_per_sec"]),
        "sessions_per_sec": round(figures["sessions_per_sec"]),
        "bytes_per_impression": round(figures["bytes_per_impression"], 2),
        "numpy_ceiling_impressions_per_sec": round(ceiling),
        "share_of_ceiling": round(figures["impressions_per_sec"] / ceiling, 3),
        "simulated_days": DAYS,
        "sessions": int(figures["sessions"]),
        "run_seconds": round(figures["seconds"], 2),
    }
    out |= lightgbm_benchmark()
    out["lightgbm_simulator_share"] = round(
        1
        - (out["lightgbm_fit_seconds"] + out["lightgbm_predict_seconds"])
        / out["lightgbm_run_seconds"],
        3,
    )
    print(f"standard world, popularity, {DAYS} days: {out['sessions']} sessions", file=sys.stderr)
    print("then LightGBM retrained daily, 60 days", file=sys.stderr)
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
