"""Benchmark: the standard world under the LightGBM policy retrained daily for 60 days.

:func:`lightgbm_benchmark` returns

* ``lightgbm_impressions_per_sec``: impressions logged per second of the whole run;
* ``lightgbm_fit_seconds`` and ``lightgbm_predict_seconds``: time inside lightgbm's own
  ``train`` (dataset construction included) and ``predict`` calls, over all retrains;
* ``lightgbm_run_seconds``: the whole run (``simulate``), LightGBM included;
* ``lightgbm_run_cpu_seconds``: the process's CPU time over the run, steadier than the wall
  clock on a shared machine;
* ``lightgbm_training_rows``: rows all retrains fitted on (after subsampling the non-clicks);
* ``lightgbm_utility``: mean daily utility over the last week.

``--warm-start-every N`` runs it stateful (issue 17: each retrain continues the model in
service on the newly labelled sessions, a full refit every N deployments); ``--days`` shortens
the run. Target (issue 17): stateful at least 3x cheaper in fit seconds than stateless.

Targets (issue 3): one seed in under 180 s on one core, and the simulator's own work
(run - fit - predict) under 25% of the run. For one core, run it as
``OPENBLAS_NUM_THREADS=1 python benchmarks/lightgbm_run.py``; it prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

from policies import LightGBMPolicy, LightGBMTimings
from simulator import PositionBasedModel, SimulationConfig, World, WorldConfig, simulate, stream


def lightgbm_benchmark(
    days: int = 60, seed: int = 0, warm_start_every: int | None = None
) -> dict[str, float]:
    world = World.generate(WorldConfig(), stream(seed, "world"))
    timings = LightGBMTimings()
    policy = LightGBMPolicy(seed=seed, timings=timings, warm_start_every=warm_start_every)
    config = SimulationConfig(days=days, retrain_every=1.0)
    started, cpu_started = time.perf_counter(), time.process_time()
    result = simulate(world, PositionBasedModel(eta=1.0), policy, config, seed)
    run_seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    metrics = result.metrics
    utility = metrics[(metrics.metric == "utility") & (metrics.segment == "all")]
    return {
        "lightgbm_impressions_per_sec": round(result.log.n_impressions / run_seconds, 1),
        "lightgbm_fit_seconds": round(timings.fit_seconds, 3),
        "lightgbm_predict_seconds": round(timings.predict_seconds, 3),
        "lightgbm_run_seconds": round(run_seconds, 3),
        "lightgbm_run_cpu_seconds": round(cpu_seconds, 3),
        "lightgbm_training_rows": timings.n_training_rows,
        "lightgbm_utility": round(float(utility[utility.day >= days - 7].value.mean()), 4),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--warm-start-every", type=int, default=None)
    args = parser.parse_args()
    print(json.dumps(lightgbm_benchmark(args.days, args.seed, args.warm_start_every)))
