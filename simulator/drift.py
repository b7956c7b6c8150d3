"""Drift statistics: compare each day's serving traffic with the window a model trains on.

`drift_statistics` compares one day's sessions with those of the preceding window (what a model
retrained that morning learned from): per observable user feature the population stability
index and the two-sample Kolmogorov-Smirnov p-value, the relative change of the click rate, and
the gap between the serving model's mean predicted click probability and the observed click rate
(rolling calibration). The simulation records their daily summary as ``drift_*`` metrics;
`drift_report` gives the per-feature detail of a finished run. `simulator.detectors.DriftDetector`
turns the daily summary into alarms and the day each detector first fires.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from simulator.log import ImpressionLog, Traffic
from simulator.records import Impressions
from simulator.validation import require_int, require_positive
from simulator.world import FeatureView

DRIFT_METRICS = ("drift_psi", "drift_ks_pvalue", "drift_click_rate_shift", "drift_calibration_gap")
"""The daily drift summary's names, as the simulation records them (segment ``all``)."""
PSI_FLOOR = 1e-4
"""Bin shares are floored here so an empty bin gives a large but finite PSI."""


def population_stability_index(
    reference: NDArray[np.float64], current: NDArray[np.float64], bins: int = 10
) -> float:
    """PSI = sum_b (c_b - r_b) ln(c_b / r_b) over bins of the reference distribution.

    Bins are reference deciles (fewer when values repeat, so a categorical feature gets one bin
    per category). Rule of thumb (Siddiqi, 2006, "Credit Risk Scorecards"): < 0.1 stable,
    0.1-0.25 moderate shift, > 0.25 major shift.
    """
    require_int("bins", bins, 2)
    values = np.unique(reference)
    if len(values) <= bins:
        edges = np.concatenate([[-np.inf], (values[1:] + values[:-1]) / 2, [np.inf]])
    else:
        inner = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))
        edges = np.concatenate([[-np.inf], inner, [np.inf]])
    r = np.maximum(np.histogram(reference, edges)[0] / len(reference), PSI_FLOOR)
    c = np.maximum(np.histogram(current, edges)[0] / len(current), PSI_FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def drift_statistics(
    reference: Impressions | Traffic, current: Impressions, features: FeatureView
) -> list[tuple[str, str, float]]:
    """(statistic, feature, value) rows comparing `current` sessions with `reference` ones.

    Statistics: ``psi`` and ``ks_pvalue`` per user feature; ``click_rate_shift`` (the current
    click rate over the reference's, minus 1) and ``calibration_gap`` (mean score of shown items
    minus their click rate, meaningful when scores are predicted click probabilities). Of the
    reference only its users and clicks are read, so a whole window can be passed as its
    `Traffic`; features are looked up one at a time, never as a (sessions x features) matrix.
    """
    n_users = int(max(reference.user.max(initial=-1), current.user.max(initial=-1))) + 1
    by_feature = np.ascontiguousarray(features.users(np.arange(n_users)).T)
    rows = []
    for name, values in zip(features.user_feature_names, by_feature, strict=True):
        ref_x, cur_x = values[reference.user], values[current.user]
        rows.append(("psi", name, population_stability_index(ref_x, cur_x)))
        rows.append(("ks_pvalue", name, float(stats.ks_2samp(ref_x, cur_x).pvalue)))
    shift = current.click.mean() / max(reference.click.mean(), 1e-12) - 1.0
    rows.append(("click_rate_shift", "click", float(shift)))
    rows.append(("calibration_gap", "click", float(current.score.mean() - current.click.mean())))
    return rows


def summarize_drift(rows: list[tuple[str, str, float]]) -> dict[str, float]:
    """One number per detector: the largest PSI, the smallest KS p-value Bonferroni-adjusted
    for the number of features, the click-rate shift and the calibration gap.
    """
    psi = [v for stat, _, v in rows if stat == "psi"]
    pvalues = [v for stat, _, v in rows if stat == "ks_pvalue"]
    single = {stat: v for stat, _, v in rows if stat in ("click_rate_shift", "calibration_gap")}
    return {
        "drift_psi": max(psi),
        "drift_ks_pvalue": min(1.0, min(pvalues) * len(pvalues)),
        "drift_click_rate_shift": single["click_rate_shift"],
        "drift_calibration_gap": single["calibration_gap"],
    }


def drift_report(log: ImpressionLog, features: FeatureView, window: float = 7.0) -> pd.DataFrame:
    """Tidy `drift_statistics` of every day from day 1 on against its preceding `window` days:
    columns day, statistic, feature, value.
    """
    require_positive("window", window)
    frames = []
    last_day = int(np.floor(log.sessions(len(log) - 1, len(log)).t[0])) if len(log) else 0
    for day in range(1, last_day + 1):
        reference, current = log.traffic_between(day - window, day), log.between(day, day + 1)
        if len(reference) and len(current):
            rows = drift_statistics(reference, current, features)
            frames.append(pd.DataFrame(rows, columns=["statistic", "feature", "value"]))
            frames[-1].insert(0, "day", day)
    if not frames:
        return pd.DataFrame(columns=["day", "statistic", "feature", "value"])
    return pd.concat(frames, ignore_index=True)


def daily_summary(report: pd.DataFrame) -> pd.DataFrame:
    """`summarize_drift` of each day of a `drift_report`: one row per day, one column per
    detector statistic (the same numbers the simulation records as ``drift_*`` metrics).
    """
    summaries = {
        day: summarize_drift(list(rows[["statistic", "feature", "value"]].itertuples(False)))
        for day, rows in report.groupby("day")
    }
    return pd.DataFrame.from_dict(summaries, orient="index").rename_axis("day")


def summary_from_metrics(metrics: pd.DataFrame) -> pd.DataFrame:
    """The ``drift_*`` daily metrics of a run (segment ``all``), shaped like `daily_summary`."""
    rows = metrics[(metrics.segment == "all") & metrics.metric.str.startswith("drift_")]
    return rows.pivot(index="day", columns="metric", values="value")
