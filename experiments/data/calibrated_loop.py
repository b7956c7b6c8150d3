"""A feedback loop on a world calibrated from `example_interactions.csv` (docs/calibration.md).

Fits a world to the shipped example log, then runs a random and a popularity policy on it and
prints each one's click-through rate next to the log's. Run from the repository root:

    python experiments/data/calibrated_loop.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from policies import PopularityPolicy, RandomPolicy
from simulator import PositionBasedModel, SimulationConfig, World, simulate, stream
from simulator.calibration import CalibrationConfig

EXAMPLE = Path(__file__).with_name("example_interactions.csv")
FIT = CalibrationConfig(time="timestamp", time_unit=1 / 86_400, dim=4, n_segments=2, n_topics=4)


def main(days: int = 7) -> dict[str, float]:
    """Click-through rate of the log and of each policy on the calibrated world."""
    log = pd.read_csv(EXAMPLE)
    ctr = {"log": float(log["click"].mean())}
    for name, policy in (("random", RandomPolicy()), ("popularity", PopularityPolicy())):
        world = World.from_interactions(log, FIT, stream(0, "calibration"))
        config = SimulationConfig(days=days, slate_size=5)
        result = simulate(world, PositionBasedModel(eta=1.0), policy, config, seed=0)
        ctr[name] = float(result.log.to_pandas()["click"].mean())
    return ctr


if __name__ == "__main__":
    for name, value in main().items():
        print(f"{name:>10}: CTR {value:.4f}")
