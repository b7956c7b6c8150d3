"""Detection delay and false alarms of the drift detectors over an experiment's runs."""

from __future__ import annotations

from pathlib import Path

from experiments import load_experiment, run_experiment
from experiments.drift_check import detection_table, run_onsets

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
