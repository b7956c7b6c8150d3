"""A small built-in run: popularity vs random vs oracle on the standard world, daily metrics."""

from __future__ import annotations

import pandas as pd

from policies import OraclePolicy, Policy, PopularityPolicy, RandomPolicy
from simulator import PositionBasedModel, SimulationConfig, World, WorldConfig, simulate, stream

SHOWN = ["ctr", "utility", "regret", "coverage", "exposure_gini", "popularity_bias"]


def main(days: int = 14, seed: int = 0) -> pd.DataFrame:
    frames = []
    for name in ("random", "popularity", "oracle"):
        world = World.generate(WorldConfig(), stream(seed, "world"))
        policies: dict[str, Policy] = {
            "random": RandomPolicy(),
            "popularity": PopularityPolicy(window=1.0),
            "oracle": OraclePolicy(world),
        }
        policy = policies[name]
        result = simulate(world, PositionBasedModel(), policy, SimulationConfig(days=days), seed)
        frames.append(result.metrics.assign(policy=name))
    metrics = pd.concat(frames)
    table = metrics[(metrics.segment == "all") & metrics.metric.isin(SHOWN)].pivot_table(
        index=["policy", "day"], columns="metric", values="value"
    )[SHOWN]
    print(table.round(3).to_string())
    return metrics


if __name__ == "__main__":
    main()
