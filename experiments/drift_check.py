"""How well each drift detector saw the shifts of an experiment: detection delay and false alarms.

For every run, `simulator.drift.DriftDetector` reads the run's daily ``drift_*`` metrics from
the burn-in day on (before it, the training window is still filling and the first model
replaces the random launch, which any outcome-based detector would flag). An alarm before the
shift's onset, or in a run without a shift, is a false alarm; the first alarm from the onset on
gives the detection delay in days.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from experiments.config import Experiment
from experiments.plots import labels
from experiments.summary import swept_columns
from simulator.detectors import DETECTORS, DriftDetector
from simulator.drift import summary_from_metrics
from simulator.shifts import onset

DEFAULT_BURN_IN = 7
"""Days skipped when the training window is unbounded."""


def run_onsets(experiment: Experiment, metrics: pd.DataFrame) -> dict[str, int | None]:
    """Each run's shift onset day (``None`` without a shift), from its sweep point."""
    swept = swept_columns(metrics)
    onsets: dict[str, int | None] = {}
    runs = metrics.drop_duplicates("run_id")[["run_id", *swept]]
    for values in runs.to_dict("records"):
        at = experiment.at(tuple((str(key), values[key]) for key in swept))
        days = at.simulation.days
        starts = [d for d in (onset(spec.build(), days) for spec in at.shifts) if d is not None]
        onsets[str(values["run_id"])] = min(starts) if starts else None
    return onsets


def detection_table(
    experiment: Experiment,
    metrics: pd.DataFrame,
    detector: DriftDetector | None = None,
    burn_in: int | None = None,
) -> pd.DataFrame:
    """Per variant and sweep point and detector: share of shifted runs detected, mean delay in
    days, and share of runs with a false alarm. `burn_in` defaults to the training window."""
    detector = detector or DriftDetector()
    if burn_in is None:
        window = experiment.simulation.window
        burn_in = math.ceil(window) if math.isfinite(window) else DEFAULT_BURN_IN
    onsets = run_onsets(experiment, metrics)
    rows = []
    for run_id, run in metrics.groupby("run_id", sort=False):
        summary = summary_from_metrics(run)
        first = detector.alarms(summary[summary.index >= burn_in])
        start = onsets[str(run_id)]
        label = labels(run.head(1), swept_columns(metrics)).iloc[0]
        for name in DETECTORS:
            fired = first.day[(first.detector == name) & first.fired].to_numpy()
            early = fired[fired < start] if start is not None else fired
            late = fired[fired >= start] if start is not None else np.array([])
            rows.append(
                (
                    label,
                    name,
                    start is not None,
                    len(late) > 0,
                    float(late.min() - start) if len(late) and start is not None else np.nan,
                    len(early) > 0,
                )
            )
    frame = pd.DataFrame(
        rows, columns=["label", "detector", "shifted", "detected", "delay", "false_alarm"]
    )
    grouped = frame.groupby(["label", "detector"], sort=False)
    return pd.DataFrame(
        {
            "runs": grouped.size(),
            "detected": grouped.apply(
                lambda g: g.detected[g.shifted].mean() if g.shifted.any() else np.nan
            ),
            "mean_delay_days": grouped.delay.mean(),
            "false_alarm_rate": grouped.false_alarm.mean(),
        }
    ).reset_index()
