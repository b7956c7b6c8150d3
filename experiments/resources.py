"""What a run needs and what the machine has: the estimate a cluster places runs by, and the
load-time refusal of an experiment whose runs could never fit.

A world of 10^12 users, 10^15 days or 10^12 seeds is a valid TOML value and an impossible run:
without a bound it would be found only after folders are written and runs started, or never
(a run that swaps for days). `check_fits` refuses, at load time and at every sweep point, a run
whose estimated peak memory exceeds this machine's physical memory, and `check_run_count` a
sweep of more than `MAX_RUNS` runs.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

from simulator import SimulationConfig, WorldConfig

BASE_MEMORY = 250 * 2**20
"""Bytes a worker needs before simulating anything: interpreter, numpy, pandas, SimPy."""
BYTES_PER_IMPRESSION = 64
"""The log takes ~21 bytes per impression and the truth record ~8; the rest covers training
copies and daily metrics. Calibrated on the standard world: 30 days peak at about 420 MB."""
MAX_RUNS = 100_000
"""Most runs one experiment may plan (variants x sweep points x seeds, or x ``max_seeds`` with
``seeds = "auto"``): far above any study the shipped files describe (a few hundred), far below
what would take a sweep's bookkeeping alone past what a machine can hold and finish."""


@dataclass(frozen=True)
class Resources:
    """What one run needs, so a cluster can place it: peak memory in bytes and cores."""

    memory: int
    cores: int = 1


def peak_memory(world: WorldConfig, simulation: SimulationConfig) -> float:
    """Estimated peak bytes of one run, from the size of its world and of the log it writes (a
    float: absurd sizes give huge or infinite estimates, not overflow).
    """
    days = float(simulation.days)
    impressions = float(world.n_users) * world.mean_sessions_per_day * days * simulation.slate_size
    items_total = world.n_items * (1 + world.churn * days) + world.new_items_per_day * days
    arrays = 8.0 * (
        float(world.n_users) * (2 * world.dim + world.n_user_features)
        + items_total * (world.dim + world.n_item_features)
        + world.n_topics * world.dim
        + world.dim * max(world.n_user_features, world.n_item_features)
    )
    consumed = float(world.n_users) * items_total if simulation.exclude_consumed else 0.0
    return BASE_MEMORY + BYTES_PER_IMPRESSION * impressions + arrays + consumed


def estimate_resources(world: WorldConfig, simulation: SimulationConfig) -> Resources:
    """What a run of `world` and `simulation` needs (`peak_memory`, 1 core)."""
    return Resources(memory=int(peak_memory(world, simulation)))


def machine_memory() -> int:
    """The physical memory of this machine in bytes (0 if the system does not say)."""
    try:
        import psutil  # optional: present with Dask, and right on every platform
    except ImportError:
        try:
            return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (AttributeError, ValueError, OSError):
            return 0
    return int(psutil.virtual_memory().total)


def _bytes(n: float) -> str:
    if not math.isfinite(n):
        return "unbounded"
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if n < 1024 or unit == "PB":
            return f"{n:.3g} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def check_fits(world: WorldConfig, simulation: SimulationConfig) -> None:
    """Refuse (a ValueError) a run whose estimated peak memory exceeds this machine's memory."""
    needed, available = peak_memory(world, simulation), machine_memory()
    if available and not needed <= available:
        raise ValueError(
            f"a run needs about {_bytes(needed)} of memory (n_users={world.n_users}, "
            f"n_items={world.n_items}, days={simulation.days}, slate_size="
            f"{simulation.slate_size}), more than this machine's {_bytes(available)}"
        )


def check_run_count(n_runs: int) -> None:
    """Refuse (a ValueError) an experiment that plans more than `MAX_RUNS` runs."""
    if n_runs > MAX_RUNS:
        raise ValueError(
            f"the experiment plans {n_runs} runs (variants x sweep points x seeds), "
            f"more than {MAX_RUNS}"
        )
