"""What a shipped experiment's sweep costs in CPU time, measured on one seed of every variant.

A sweep's cost is the sum of its runs' CPU time, whatever executor spreads them over cores, and
seeds of one variant cost alike (same world size, same policy). So one seed of each variant,
run one after another in this process, measures it: the projection multiplies each variant's
CPU seconds by the experiment's seed count. Issue 17's target: the ``fixes`` sweep (every
variant x 5 seeds x 60 days) under 1 CPU-hour.

Run from the repository root inside the project's venv, single-threaded as sweep workers are::

    OPENBLAS_NUM_THREADS=1 python benchmarks/sweep_cost.py fixes
    OPENBLAS_NUM_THREADS=1 python benchmarks/sweep_cost.py fixes --days 7 --variants lightgbm

Progress goes to stderr, one line per run; the last line printed is one JSON object:
``cpu_seconds`` per variant, ``cpu_seconds_per_seed`` (their sum), ``seeds``, and
``projected_cpu_hours`` (that sum x seeds / 3600).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from experiments import load_experiment
from experiments.run import execute_run, run_spec

CONFIGS = Path(__file__).resolve().parents[1] / "experiments" / "configs"


def sweep_cost(name: str, days: int | None = None, variants: list[str] | None = None) -> dict:
    """CPU seconds of the first seed of each variant of the shipped experiment `name`, and the
    sweep's projected CPU-hours.
    """
    overrides = [] if days is None else [f"simulation.days={days}"]
    experiment = load_experiment(CONFIGS / f"{name}.toml", overrides)
    if experiment.sweep:
        raise SystemExit(f"{name} has a [sweep] grid; this benchmark measures variants only")
    known = [v.name for v in experiment.variants]
    unknown = sorted(set(variants or ()) - set(known))
    if unknown:
        raise SystemExit(f"--variants: {name} has no variant {', '.join(unknown)}")
    names = [v for v in known if variants is None or v in variants]
    seed = experiment.settings.first_seed
    cpu_seconds = {}
    for variant in names:
        started = time.process_time()
        execute_run(run_spec(experiment, (), variant, seed))
        cpu_seconds[variant] = round(time.process_time() - started, 1)
        print(f"{name} {variant}: {cpu_seconds[variant]} CPU-s", file=sys.stderr)
    per_seed = sum(cpu_seconds.values())
    seeds = experiment.settings.seeds
    return {
        "experiment": name,
        "days": experiment.simulation.days,
        "cpu_seconds": cpu_seconds,
        "cpu_seconds_per_seed": round(per_seed, 1),
        "seeds": seeds,
        "projected_cpu_hours": round(per_seed * seeds / 3600, 3) if seeds != "auto" else None,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("experiment", nargs="?", default="fixes")
    parser.add_argument("--days", type=int, default=None, help="override simulation.days")
    parser.add_argument("--variants", nargs="*", default=None, help="only these variants")
    args = parser.parse_args()
    print(json.dumps(sweep_cost(args.experiment, args.days, args.variants)))
