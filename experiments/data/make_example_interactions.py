"""Write `example_interactions.csv`: a small synthetic log shaped like a company's.

A random policy's log on a small recloop world (so the truth behind it is known), rewritten the
way real logs look: Unix-second timestamps, user and item ids that are not 0..n-1, one row per
impression with its slate position and a 0/1 click. Run from the repository root:

    python experiments/data/make_example_interactions.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from policies import RandomPolicy
from simulator import PositionBasedModel, SimulationConfig, World, WorldConfig, simulate, stream

SEED = 2024
START = pd.Timestamp("2024-01-01").timestamp()
CONFIG = WorldConfig(
    n_users=60,
    n_items=40,
    n_segments=2,
    n_topics=4,
    mean_sessions_per_day=2.0,
    preference_drift=0.0,
    churn=0.0,
)


def example_interactions() -> pd.DataFrame:
    """The example log: user, item, timestamp (Unix seconds), position, click."""
    world = World.generate(CONFIG, stream(SEED, "world"))
    log = simulate(
        world,
        PositionBasedModel(eta=1.0),
        RandomPolicy(),
        SimulationConfig(days=10, slate_size=5),
        SEED,
    ).log.to_pandas()
    return pd.DataFrame(
        {
            "user": log["user"] + 1000,
            "item": log["item"] + 500,
            "timestamp": (START + log["t"] * 86_400).round().astype("int64"),
            "position": log["position"],
            "click": log["click"].astype(int),
        }
    )


if __name__ == "__main__":
    example_interactions().to_csv(Path(__file__).with_name("example_interactions.csv"), index=False)
