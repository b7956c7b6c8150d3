"""Drift detection: compare each day's serving traffic with the window a model trains on.

`drift_report` computes, for every day, per observable user feature the population stability
index and the two-sample Kolmogorov-Smirnov statistic between the sessions of the preceding
`window` days (what a model retrained that morning learned from) and the sessions of the day; the
relative change of the click rate; and the gap between the serving model's mean predicted click
probability and the observed click rate (rolling calibration). `DriftDetector` turns that report
into alarms and the day each detector first fires.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from simulator.log import ImpressionLog
from simulator.validation import require_int, require_positive, require_probability
from simulator.world import FeatureView

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


def drift_report(log: ImpressionLog, features: FeatureView, window: float = 7.0) -> pd.DataFrame:
    """Tidy drift statistics per day from day 1 on: columns day, statistic, feature, value.

    Statistics: ``psi`` and ``ks_pvalue`` per user feature; ``click_rate_shift`` (the day's
    click rate over the window's, minus 1) and ``calibration_gap`` (mean score of shown items
    minus their click rate, meaningful when scores are predicted click probabilities).
    """
    require_positive("window", window)
    if len(log) == 0:
        return pd.DataFrame(columns=["day", "statistic", "feature", "value"])
    names = features.user_feature_names
    last_day = int(np.floor(log.sessions(len(log) - 1, len(log)).t[0]))
    rows: list[tuple[int, str, str, float]] = []
    for day in range(1, last_day + 1):
        reference = log.between(day - window, day)
        current = log.between(day, day + 1)
        if len(reference) == 0 or len(current) == 0:
            continue
        ref_x, cur_x = features.users(reference.user), features.users(current.user)
        for j, name in enumerate(names):
            rows.append((day, "psi", name, population_stability_index(ref_x[:, j], cur_x[:, j])))
            rows.append((day, "ks_pvalue", name, stats.ks_2samp(ref_x[:, j], cur_x[:, j]).pvalue))
        shift = current.click.mean() / max(reference.click.mean(), 1e-12) - 1.0
        rows.append((day, "click_rate_shift", "click", float(shift)))
        gap = float(current.score.mean() - current.click.mean())
        rows.append((day, "calibration_gap", "click", gap))
    return pd.DataFrame(rows, columns=["day", "statistic", "feature", "value"])


@dataclass(frozen=True)
class DriftDetector:
    """Thresholds that turn a drift report into daily alarms.

    * ``psi``: any feature's PSI above `psi_threshold`;
    * ``ks``: any feature's KS p-value below `ks_alpha` / n_features (Bonferroni);
    * ``click_rate``: |click_rate_shift| above `click_rate_threshold`;
    * ``calibration``: |calibration_gap| above `calibration_threshold`.

    A detector fires on a day after `patience` consecutive days over its threshold. Sessions of
    one user are not independent, so the KS test is anti-conservative on real traffic: measure
    its false-alarm rate on runs without shift before trusting it.
    """

    psi_threshold: float = 0.2
    ks_alpha: float = 0.01
    click_rate_threshold: float = 0.2
    calibration_threshold: float = 0.02
    patience: int = 1

    def __post_init__(self) -> None:
        require_positive("psi_threshold", self.psi_threshold)
        require_probability("ks_alpha", self.ks_alpha)
        require_positive("click_rate_threshold", self.click_rate_threshold)
        require_positive("calibration_threshold", self.calibration_threshold)
        require_int("patience", self.patience, 1)

    def alarms(self, report: pd.DataFrame) -> pd.DataFrame:
        """Columns day, detector, over (threshold crossed that day), fired (after patience)."""
        by = report.groupby(["day", "statistic"]).value
        n_features = max(report[report.statistic == "ks_pvalue"].feature.nunique(), 1)
        over = pd.DataFrame(
            {
                "psi": by.max().xs("psi", level="statistic") > self.psi_threshold,
                "ks": by.min().xs("ks_pvalue", level="statistic") < self.ks_alpha / n_features,
                "click_rate": by.max().xs("click_rate_shift", level="statistic").abs()
                > self.click_rate_threshold,
                "calibration": by.max().xs("calibration_gap", level="statistic").abs()
                > self.calibration_threshold,
            }
        )
        streak = over.astype(int).rolling(self.patience, min_periods=self.patience).sum()
        fired = streak == self.patience
        long_over = over.rename_axis("day").reset_index().melt("day", var_name="detector")
        long_fired = fired.rename_axis("day").reset_index().melt("day", var_name="detector")
        return long_over.rename(columns={"value": "over"}).assign(fired=long_fired["value"])

    def first_alarm(self, report: pd.DataFrame) -> dict[str, int | None]:
        """The first day each detector fires, or ``None``."""
        alarms = self.alarms(report)
        first: dict[str, int | None] = {}
        for detector in ("psi", "ks", "click_rate", "calibration"):
            days = alarms.day[(alarms.detector == detector) & alarms.fired]
            first[detector] = int(days.min()) if len(days) else None
        return first
