"""The report's tables: first and last day per variant, the degenerate-loop verdicts, and the
drift detectors' detection delay and false alarms over an experiment's runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from experiments import load_experiment, run_experiment
from experiments.tables import detection_table, loop_verdicts, run_onsets, start_end_table


def run(run_id: str, variant: str, coverage: list[float], gini: list[float]) -> pd.DataFrame:
    days = range(len(coverage))
    rows = [
        (run_id, variant, 0, d, "all", "coverage", c) for d, c in zip(days, coverage, strict=True)
    ]
    rows += [
        (run_id, variant, 0, d, "all", "exposure_gini", g) for d, g in zip(days, gini, strict=True)
    ]
    columns = ["run_id", "variant", "seed", "day", "segment", "metric", "value"]
    return pd.DataFrame(rows, columns=columns)


def test_start_end_table_and_verdicts() -> None:
    collapsing = run("a", "greedy", [1.0] + [0.9] * 3 + [0.2] * 4, [0.1] + [0.2] * 3 + [0.9] * 4)
    steady = run("b", "random", [1.0] * 8, [0.1] * 8)
    metrics = pd.concat([collapsing, steady], ignore_index=True)
    table = start_end_table(metrics, ["coverage", "exposure_gini"])
    assert table.loc["greedy", "coverage"] == "0.900 → 0.200"  # day 1, not the launch day 0
    assert table.loc["random", "exposure_gini"] == "0.100 → 0.100"
    verdicts = loop_verdicts(metrics)
    assert verdicts.loc["greedy", "degenerate loop"] == "1 of 1"
    assert verdicts.loc["random", "degenerate loop"] == "0 of 1"
    assert verdicts.loc["greedy", "coverage drop"] == "78%"


LABEL_SHIFT = """
[experiment]
seeds = 2
final_window = 3

[world]
n_users = 1500
n_items = 100
n_segments = 2
preference_drift = 0.0

[simulation]
days = 16

[[variants]]
name = "random"
policy = "random"

[[shifts]]
kind = "label"
profile = "abrupt"
at = 10
click_rate_factor = 3.0

[sweep]
"shifts.label.at" = [10, 1000]
"""


def test_click_rate_detector_sees_a_tripled_click_rate_on_its_first_day(tmp_path: Path) -> None:
    """~250 clicks a day: the daily click rate's relative noise is ~6%, far below the 20%
    threshold, and tripling it is far above. Features do not move, so PSI and KS stay quiet."""
    path = tmp_path / "shift.toml"
    path.write_text(LABEL_SHIFT)
    experiment = load_experiment(path)
    result = run_experiment(experiment, out=None, progress=False)
    onsets = run_onsets(experiment, result.metrics)
    assert sorted(onsets.values(), key=str) == [10, 10, None, None]
    table = detection_table(experiment, result.metrics).set_index(["label", "detector"])
    shifted, steady = "random, shifts.label.at=10", "random, shifts.label.at=1000"
    assert table.loc[(shifted, "click_rate"), "detected"] == 1.0
    assert table.loc[(shifted, "click_rate"), "mean_delay_days"] == 0.0
    for detector in ("click_rate", "psi"):
        assert table.loc[(steady, detector), "false_alarm_rate"] == 0.0
    assert table.loc[(shifted, "psi"), "detected"] == 0.0
