"""Benchmark: 1M users x 60 days of popularity with a spilled log, and its real peak memory.

Issue 17's memory criterion: the run completes on this machine (24 GiB, 2 shared cores) with
peak memory under 4 GB. Run it from the repository root inside the project's venv::

    OPENBLAS_NUM_THREADS=1 python benchmarks/million.py [--users N] [--days D]

It runs popularity on ``WorldConfig(n_users=N)`` (every other setting the default: 2k items,
~1 session per user per day, slates of 10, a 7-day training window) for `D` days with
``SimulationConfig(log_spill=True)`` in a fresh child process, and prints one JSON line:
``peak_rss_mb`` (the child's ``ru_maxrss``: the resident peak the machine had to hold, world
generation included, unlike tracemalloc, which sees only Python's own allocations),
``rss_mb_by_day`` (the child's running peak at each day's end), ``seconds`` (the run, world
generation excluded), ``world_seconds``, ``impressions``, ``impressions_per_sec`` and
``bytes_per_impression`` (peak RSS over impressions logged: falls as the run grows once the
window is full, since memory is bounded by the window).

Truth: ``"sampled"`` (the oracle utility behind ``regret`` scored for a Bernoulli 5% of
sessions from its own stream, an unbiased estimate of the day's mean with the interval of
`simulator.truth.sampled_mean_interval`). ``"exact"`` scores the live catalog for every
session: at 1M users a serving tick's ~31k sessions make a (sessions x 2k items) logit matrix,
its negation and `argpartition`'s index matrix, ~1.5 GB of transients on top of the log, and a
1M x 2 day exact run peaked at 2.33 GB with 2 days of log, which extrapolates to ~3.5 GB with
the 8 days a run holds at each day's end: too close to 4 GB, and at ~260 s a day on this shared
machine the 60 days would take ~4 h. Sampled truth cuts that transient 20x and runs ~55 s a
day at 1M users (~1 h for 60 days); ``--truth exact`` runs the exact mode. Progress (day,
running peak, seconds) goes to stderr each day.

Measured on this machine: see docs/design.md, "The impression log".
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from policies import PopularityPolicy
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

STARTED = time.perf_counter()
_reported: set[int] = set()


def _running_peak_mb(day: DayData) -> float:
    """This process's peak resident memory so far (a metric only for its timing: day ends),
    reported on stderr once a day.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if day.day not in _reported:
        _reported.add(day.day)
        seconds = time.perf_counter() - STARTED
        print(f"day {day.day}: peak {peak:.0f} MB, {seconds:.0f} s", file=sys.stderr, flush=True)
    return peak


def child(n_users: int, days: int, truth: str = "sampled", seed: int = 0) -> dict:
    """The run itself, in this process: its figures (peak memory is read by the parent)."""
    started = time.perf_counter()
    world = World.generate(WorldConfig(n_users=n_users), stream(seed, "world"))
    world_seconds = time.perf_counter() - started
    config = SimulationConfig(days=days, log_spill=True, truth=truth)
    metrics = DAILY_METRICS | {"rss_mb": _running_peak_mb}
    started = time.perf_counter()
    result = simulate(
        world, PositionBasedModel(eta=1.0), PopularityPolicy(), config, seed, metrics=metrics
    )
    seconds = time.perf_counter() - started
    impressions = result.log.n_impressions
    return {
        "users": n_users,
        "days": days,
        "truth": truth,
        "sessions": len(result.log),
        "impressions": impressions,
        "seconds": round(seconds, 1),
        "world_seconds": round(world_seconds, 1),
        "impressions_per_sec": round(impressions / seconds),
        "rss_mb_by_day": result.metric("rss_mb").round().astype(int).tolist(),
        "ctr_last_day": round(float(result.metric("ctr").iloc[-1]), 5),
    }


def million(n_users: int = 1_000_000, days: int = 60, truth: str = "sampled") -> dict:
    """Run `child` in a fresh interpreter (its stderr passed through) and add its peak
    resident memory.
    """
    command = [sys.executable, __file__, "--child", f"--users={n_users}", f"--days={days}"]
    done = subprocess.run(
        [*command, f"--truth={truth}"], stdout=subprocess.PIPE, text=True, check=True
    )
    out = json.loads(done.stdout.strip().splitlines()[-1])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # Linux: kilobytes
    return out | {
        "peak_rss_mb": round(peak / 2**20),
        "bytes_per_impression": round(peak / out["impressions"], 2),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--truth", default="sampled", choices=("exact", "cached", "sampled"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        out = child(args.users, args.days, args.truth)
    else:
        out = million(args.users, args.days, args.truth)
    print(json.dumps(out), flush=True)
    return out


if __name__ == "__main__":
    main()
