"""Golden results: every shipped experiment (and the off-policy study), shrunk to seconds,
must keep giving the same bits.

Refactors promise identical results; this is the check. `SMALL` shrinks each experiment (a
small world, a few days, one seed, shifts moved early enough to happen) and the tidy metrics of
each are compared, value for value, with the frames recorded in ``tests/golden/*.parquet``.

Record again (only when a change is *meant* to alter results, and say so in the commit)::

    python -m tests.test_golden [NAME ...]   # from the repository root
"""

from __future__ import annotations

import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import tomli_w

from experiments import load_experiment, run_experiment
from experiments.offline_study import Study, run_study
from simulator import WorldConfig

GOLDEN = Path(__file__).parent / "golden"
CONFIGS = Path(__file__).parents[1] / "experiments" / "configs"
SMALL = {"world": {"n_users": 300, "n_items": 120}, "simulation": {"days": 8}}
SHIFT_DAY = 3
"""Shifts (at day 15 in the shipped files) start at this day instead, so they happen."""
KEYS = ["variant", "seed", "day", "segment", "metric"]


def shipped() -> list[str]:
    return sorted(path.stem for path in CONFIGS.glob("*.toml"))


def shrunk(document: dict[str, Any]) -> dict[str, Any]:
    """The experiment file `document` at the golden size: one seed, a small world, 8 days."""
    for section, values in SMALL.items():
        document.setdefault(section, {}).update(values)
    document["experiment"].update(seeds=1, final_window=2)
    for shift in document.get("shifts", []):
        for key in ("at", "start"):
            if key in shift:
                shift[key] = SHIFT_DAY
        if "end" in shift:
            shift["end"] = SHIFT_DAY + 2
    sweep = document.get("sweep", {})
    for key, values in sweep.items():
        if key.endswith((".at", ".start")):
            sweep[key] = [SHIFT_DAY if v == 15 else v for v in values]
    return document


def golden_metrics(name: str) -> pd.DataFrame:
    """The tidy metrics of shipped experiment `name` at its small size, in a fixed order."""
    document = shrunk(tomllib.loads((CONFIGS / f"{name}.toml").read_text(encoding="utf-8")))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.toml"
        path.write_text(tomli_w.dumps(document), encoding="utf-8")
        experiment = load_experiment(path)
    metrics = run_experiment(experiment, progress=False).metrics.drop(columns="run_id")
    swept = [c for c in metrics.columns if c not in [*KEYS, "value"]]
    order = ["variant", *swept, "seed", "day", "segment", "metric"]
    return metrics.sort_values(order).reset_index(drop=True)[[*order, "value"]]


def golden_offline_study() -> pd.DataFrame:
    """Every off-policy estimator on two small seeds of the offline study."""
    world = WorldConfig(n_users=400, n_items=80, n_segments=2, preference_drift=0.0, churn=0.0)
    return run_study(Study(world=world, days=4), seeds=[0, 1], progress=False)


GOLDEN_FRAMES = {name: lambda name=name: golden_metrics(name) for name in shipped()} | {
    "offline_study": golden_offline_study
}


def record(names: list[str]) -> None:
    for name in names:
        GOLDEN_FRAMES[name]().to_parquet(GOLDEN / f"{name}.parquet", index=False)
        print(f"recorded {name}")


@pytest.mark.parametrize("name", sorted(GOLDEN_FRAMES))
def test_gives_its_recorded_results_bit_for_bit(name: str) -> None:
    expected = pd.read_parquet(GOLDEN / f"{name}.parquet")
    pd.testing.assert_frame_equal(GOLDEN_FRAMES[name](), expected, check_exact=True)


if __name__ == "__main__":
    record(sys.argv[1:] or sorted(GOLDEN_FRAMES))
