"""The report's tables, from tidy metrics to readable frames, a row per variant and sweep point.

* `summary_table`: each shown metric's final-window mean ± 95% CI half-width over seeds (or,
  from `experiments.summary.compare`, each variant's difference from the baseline).
* `start_end_table` and `loop_verdicts`: where each run started and where the loop took it,
  the first and last day of the shown metrics, and `detect_degenerate_loop`'s verdict on every
  run. Day 0 of a learned policy is served before any fit (LightGBM ranks at random then), so
  they look from day 1: any collapse found happened under retraining alone.
* `detection_table`: how well each drift detector saw the shifts of an experiment. For every
  run, `simulator.detectors.DriftDetector` reads the run's daily ``drift_*`` metrics from the
  burn-in day on (before it, the training window is still filling and the first model replaces
  the random launch, which any outcome-based detector would flag). An alarm before the shift's
  onset, or in a run without a shift, is a false alarm; the first alarm from the onset on gives
  the detection delay in days.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from experiments.experiment import Experiment
from experiments.plots import labels
from experiments.summary import swept_columns
from simulator import detect_degenerate_loop
from simulator.detectors import DETECTORS, DriftDetector
from simulator.drift import summary_from_metrics
from simulator.shifts import onset

CHECK_FROM_DAY = 1
"""First day of the loop tables: the first served by a fitted model."""
DEFAULT_BURN_IN = 7
"""Days the drift table skips when the training window is unbounded."""
NO_ALARMS = pd.DataFrame({"day": [], "detector": [], "over": [], "fired": []})


def _format(mean: float, low: float, high: float, sign: str = "") -> str:
    if math.isnan(mean):
        return "n/a"
    mean = round(mean, 4) + 0.0  # no "-0.0000" for a zero that rounding errors made negative
    if math.isnan(low):
        return f"{mean:{sign}.4f}"
    return f"{mean:{sign}.4f} ± {(high - low) / 2:.4f}"


def summary_table(
    summary: pd.DataFrame, metrics: Sequence[str], signed: bool = False
) -> pd.DataFrame:
    """A readable summary: a row per variant and sweep point, a column per metric, cells
    "mean ± 95% CI half-width" (with a sign when `signed`, for `compare`'s differences).
    """
    rows = summary[summary.metric.isin(metrics)]
    sign = "+" if signed else ""
    rows = rows.assign(
        label=labels(rows, swept_columns(summary)),
        cell=[
            _format(mean, low, high, sign)
            for mean, low, high in rows[["mean", "ci_low", "ci_high"]].itertuples(index=False)
        ],
    )
    table = rows.pivot(index="label", columns="metric", values="cell")
    order = list(dict.fromkeys(rows.label))
    return table.loc[order, [m for m in metrics if m in table.columns]].rename_axis(
        index=None, columns=None
    )


def start_end_table(metrics: pd.DataFrame, shown: Sequence[str]) -> pd.DataFrame:
    """Mean over seeds of each shown metric on day 1 and on the last day, per variant (a
    one-day run has only day 0: it is then both).
    """
    rows = metrics[(metrics.segment == "all") & metrics.metric.isin(shown)]
    last = rows.groupby("run_id")["day"].transform("max")
    first = last.clip(upper=CHECK_FROM_DAY)
    ends = pd.concat(
        [rows[rows.day == first].assign(when="first"), rows[rows.day == last].assign(when="last")]
    )
    keys = ["variant", *swept_columns(metrics)]
    table = ends.groupby([*keys, "metric", "when"], sort=False)["value"].mean().unstack("when")
    table = table.reset_index()
    table["label"] = labels(table, swept_columns(metrics))
    cells = table.assign(
        cell=[
            f"{round(a, 3) + 0.0:.3f} → {round(b, 3) + 0.0:.3f}"
            for a, b in table[["first", "last"]].itertuples(index=False)
        ]
    )
    out = cells.pivot(index="label", columns="metric", values="cell")
    order = list(dict.fromkeys(cells.label))
    return out.loc[order, [m for m in shown if m in out.columns]].rename_axis(
        index=None, columns=None
    )


def loop_verdicts(metrics: pd.DataFrame) -> pd.DataFrame:
    """Per variant (and sweep point): runs flagged as degenerate loops out of runs checked, and
    the mean relative coverage drop and concentration rise behind the verdicts.
    """
    keys = ["variant", *swept_columns(metrics)]
    rows = []
    for key, run in metrics.groupby([*keys, "run_id"], sort=False, dropna=False):
        last_day = int(run.day.max())
        if last_day - CHECK_FROM_DAY + 1 < 6:
            continue
        diagnosis = detect_degenerate_loop(run, start=CHECK_FROM_DAY)
        rows.append(
            (*key[:-1], diagnosis.degenerate, diagnosis.coverage_drop, diagnosis.concentration_rise)
        )
    frame = pd.DataFrame(rows, columns=[*keys, "degenerate", "coverage_drop", "rise"])
    if frame.empty:
        return frame
    frame["label"] = labels(frame, swept_columns(metrics))
    grouped = frame.groupby("label", sort=False)
    return pd.DataFrame(
        {
            "degenerate loop": grouped.degenerate.sum().astype(int).astype(str)
            + " of "
            + grouped.size().astype(str),
            "coverage drop": grouped.coverage_drop.mean().map("{:.0%}".format),
            "concentration rise": grouped.rise.mean().map("{:.0%}".format),
        }
    ).rename_axis(index=None)


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
    days, and share of runs with a false alarm. `burn_in` defaults to the training window.
    """
    detector = detector or DriftDetector()
    if burn_in is None:
        window = experiment.simulation.window
        burn_in = math.ceil(window) if math.isfinite(window) else DEFAULT_BURN_IN
    onsets = run_onsets(experiment, metrics)
    rows = []
    for run_id, run in metrics.groupby("run_id", sort=False):
        summary = summary_from_metrics(run)
        checked = summary[summary.index >= burn_in]
        # a run too short to reach the burn-in (one day, say) has nothing to alarm on
        first = detector.alarms(checked) if len(checked) else NO_ALARMS
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
