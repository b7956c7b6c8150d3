"""Benchmark: the cost of the user dynamics (issue 14) on the standard world, all on vs all off.

Two measurements, each the standard world for `DAYS` days with every mechanism of
`simulator.user_dynamics` on (return intensity, leaving, acquisition, satiation, appeal) against
the same world with all of them off:

* ``loop_*``: the whole `simulate` run under the popularity policy (as `benchmarks/run.py`).
  Until the loop calls the world's user-dynamics hooks, only the thinned arrivals and the
  satiation term of the oracle's logits run there: ``loop_wired`` says whether satisfaction moved.
* ``world_*``: the world's side of the loop replayed tick by tick with a fixed slate (acquire,
  sample arrivals, true and perceived attractiveness, PBM clicks, preference update,
  `after_sessions`, and the oracle's logits over the live catalog), every hook included.

Ratios are seconds on / seconds off, and per session (the mechanisms change how many sessions
there are). Target (issue 14): the run with all on at most 1.2 times the run with all off. Run
from the repository root: ``OPENBLAS_NUM_THREADS=1 python benchmarks/user_dynamics.py``; the last
line printed is one JSON object.
"""

from __future__ import annotations

import json
import time

import numpy as np

from policies import PopularityPolicy
from simulator import PositionBasedModel, SimulationConfig, World, WorldConfig, simulate, stream
from simulator.ranking import best_columns
from simulator.user_dynamics import (
    AcquisitionConfig,
    PerceptionConfig,
    RetentionConfig,
    SatiationConfig,
)

DAYS = 30
ALL_ON = WorldConfig(
    retention=RetentionConfig(
        return_sensitivity=1.0, leave_probability=0.01, leave_sensitivity=1.0
    ),
    acquisition=AcquisitionConfig(rate=20.0),
    satiation=SatiationConfig(strength=0.5, recovery_rate=1.0),
    perception=PerceptionConfig(appeal=0.5),
)
"""Every mechanism on at moderate settings; the timing hardly depends on the values."""


def _world(on: bool, seed: int) -> World:
    return World.generate(ALL_ON if on else WorldConfig(), stream(seed, "world"))


def loop_run(on: bool, seed: int = 0) -> tuple[float, int, bool]:
    """Seconds and sessions of the popularity run, and whether any satisfaction moved."""
    world = _world(on, seed)
    config = SimulationConfig(days=DAYS, retrain_every=1.0)
    start = time.perf_counter()
    result = simulate(world, PositionBasedModel(eta=1.0), PopularityPolicy(), config, seed)
    seconds = time.perf_counter() - start
    moved = world.retention is not None and bool(
        np.any(world.retention.satisfaction != world.config.retention.satisfaction_reference)
    )
    return seconds, len(result.log), moved


def world_replay(on: bool, seed: int = 0, slate_size: int = 10, ticks_per_day: int = 32):
    """Seconds and sessions of the world's side of `DAYS` days of serving a fixed slate."""
    world = _world(on, seed)
    pbm = PositionBasedModel(eta=1.0)
    rng = stream(seed, "replay")
    tick = 1.0 / ticks_per_day
    n_sessions = 0
    start = time.perf_counter()
    for step in range(DAYS * ticks_per_day):
        now = step * tick
        if step % ticks_per_day == 0:  # a day of newcomers at once: exact, as they join at
            # drawn times and arrivals before a join are thinned away
            world.acquire(now, now + 1.0, rng)
        times, users = world.sample_arrivals(now, now + tick, rng)
        if len(users) == 0:
            continue
        slates = np.broadcast_to(world.live_items[:slate_size], (len(users), slate_size))
        shown = world.slate_attractiveness(users, slates)
        perceived = world.perceived_attractiveness(users, slates, shown)
        clicks = pbm.respond(perceived, rng)
        best_columns(world.logits(users, world.live_items), slate_size)
        world.update_preferences(users, slates, clicks)
        world.after_sessions(times, users, slates, clicks, shown, perceived)
        n_sessions += len(users)
        if (step + 1) % ticks_per_day == 0:
            world.churn(now + tick, rng)
    return time.perf_counter() - start, n_sessions


def main() -> dict[str, float | bool]:
    out: dict[str, float | bool] = {"days": DAYS}
    off_s, off_n = world_replay(False)
    on_s, on_n = world_replay(True)
    out |= {
        "world_seconds_off": round(off_s, 3),
        "world_seconds_on": round(on_s, 3),
        "world_sessions_off": off_n,
        "world_sessions_on": on_n,
        "world_ratio": round(on_s / off_s, 3),
        "world_ratio_per_session": round((on_s / on_n) / (off_s / off_n), 3),
    }
    off_s, off_n, _ = loop_run(False)
    on_s, on_n, wired = loop_run(True)
    out |= {
        "loop_seconds_off": round(off_s, 3),
        "loop_seconds_on": round(on_s, 3),
        "loop_sessions_off": off_n,
        "loop_sessions_on": on_n,
        "loop_ratio": round(on_s / off_s, 3),
        "loop_ratio_per_session": round((on_s / on_n) / (off_s / off_n), 3),
        "loop_wired": wired,
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
