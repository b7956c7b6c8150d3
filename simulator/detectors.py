"""Detectors: rules that read a finished run's daily metrics and say whether something is wrong.

:func:`detect_degenerate_loop` flags a run whose coverage falls while exposure concentrates (a
model feeding on its own logs); :class:`DriftDetector` turns the daily ``drift_*`` statistics
(`simulator.drift`) into alarms and the day each detector first fires.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from simulator.validation import (
    require_int,
    require_non_negative,
    require_positive,
    require_probability,
)

DETECTORS = ("psi", "ks", "click_rate", "calibration")
"""The names of `DriftDetector`'s detectors."""


@dataclass(frozen=True)
class LoopDiagnosis:
    """The verdict of :func:`detect_degenerate_loop` and the evidence behind it.

    `*_before` and `*_after` are means over the first and last `span` days of the window; the
    slopes are least-squares trends per day over the whole window; `daily` holds the series.
    """

    degenerate: bool
    first_day: int
    last_day: int
    coverage_before: float
    coverage_after: float
    coverage_drop: float
    """Relative fall in coverage: 1 - after / before."""
    gini_before: float
    gini_after: float
    concentration_rise: float
    """Rise in exposure_gini as a share of its headroom: (after - before) / (1 - before)."""
    coverage_slope: float
    gini_slope: float
    daily: pd.DataFrame

    def __str__(self) -> str:
        verdict = "degenerate loop" if self.degenerate else "no degenerate loop"
        return (
            f"{verdict} over days {self.first_day}-{self.last_day}: coverage "
            f"{self.coverage_before:.3f} -> {self.coverage_after:.3f} "
            f"(drop {self.coverage_drop:.0%}), exposure_gini {self.gini_before:.3f} -> "
            f"{self.gini_after:.3f} (rise {self.concentration_rise:.0%} of headroom)"
        )


def detect_degenerate_loop(
    metrics: pd.DataFrame,
    start: int = 0,
    stop: int | None = None,
    segment: str = "all",
    span: int = 3,
    min_coverage_drop: float = 0.25,
    min_concentration_rise: float = 0.25,
) -> LoopDiagnosis:
    """Flag a run whose coverage falls and exposure concentration rises over days [start, stop).

    `metrics` is one run's tidy daily metrics (columns day, segment, metric, value, as in
    :attr:`SimulationResult.metrics`). The run is flagged when, comparing the mean of the first
    `span` days of the window with the mean of the last `span` days, coverage fell by at least
    `min_coverage_drop` of its level and ``exposure_gini`` rose by at least
    `min_concentration_rise` of its headroom (1 - gini): both together, because either alone
    also happens when a policy simply learns (it can stop showing bad items, or favour good
    ones, without collapsing). Relative thresholds keep one rule meaningful for catalogs and
    policies of any size; the defaults (a quarter) sit far above the day-to-day noise of a
    policy without a loop and far below what a collapsing loop does (see the tests).
    """
    require_int("span", span, 1)
    require_non_negative("min_coverage_drop", min_coverage_drop)
    require_non_negative("min_concentration_rise", min_concentration_rise)
    rows = metrics[
        (metrics.segment == segment) & metrics.metric.isin(["coverage", "exposure_gini"])
    ]
    if rows.duplicated(["day", "metric"]).any():
        raise ValueError("metrics must hold one run (a day has several values of a metric)")
    daily = rows.pivot(index="day", columns="metric", values="value").sort_index()
    daily = daily[daily.index >= start]
    if stop is not None:
        daily = daily[daily.index < stop]
    if len(daily) < 2 * span:
        raise ValueError(
            f"the window must hold at least 2 * span = {2 * span} days, got {len(daily)} "
            f"(start={start}, stop={stop})"
        )
    before, after = daily.iloc[:span].mean(), daily.iloc[-span:].mean()
    days = daily.index.to_numpy(dtype=float)
    coverage_drop = 1.0 - after["coverage"] / before["coverage"]
    concentration_rise = (after["exposure_gini"] - before["exposure_gini"]) / (
        1.0 - before["exposure_gini"]
    )
    return LoopDiagnosis(
        degenerate=bool(
            coverage_drop >= min_coverage_drop and concentration_rise >= min_concentration_rise
        ),
        first_day=int(days[0]),
        last_day=int(days[-1]),
        coverage_before=float(before["coverage"]),
        coverage_after=float(after["coverage"]),
        coverage_drop=float(coverage_drop),
        gini_before=float(before["exposure_gini"]),
        gini_after=float(after["exposure_gini"]),
        concentration_rise=float(concentration_rise),
        coverage_slope=float(np.polyfit(days, daily["coverage"].to_numpy(), 1)[0]),
        gini_slope=float(np.polyfit(days, daily["exposure_gini"].to_numpy(), 1)[0]),
        daily=daily.reset_index().rename_axis(columns=None),
    )


@dataclass(frozen=True)
class DriftDetector:
    """Thresholds that turn a drift report into daily alarms.

    * ``psi``: any feature's PSI above `psi_threshold`;
    * ``ks``: the smallest KS p-value, times the number of features (Bonferroni), below
      `ks_alpha`;
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

    def alarms(self, summary: pd.DataFrame) -> pd.DataFrame:
        """Per day and detector: `over` (threshold crossed that day) and `fired` (crossed on
        `patience` consecutive days). `summary` has one row per day (index or ``day`` column)
        and the ``drift_*`` columns of `daily_summary`.
        """
        if "day" in summary.columns:
            summary = summary.set_index("day")
        over = pd.DataFrame(
            {
                "psi": summary.drift_psi > self.psi_threshold,
                "ks": summary.drift_ks_pvalue < self.ks_alpha,
                "click_rate": summary.drift_click_rate_shift.abs() > self.click_rate_threshold,
                "calibration": summary.drift_calibration_gap.abs() > self.calibration_threshold,
            }
        ).rename_axis("day")
        streak = over.astype(int).rolling(self.patience, min_periods=self.patience).sum()
        fired = streak == self.patience
        long_over = over.reset_index().melt("day", var_name="detector", value_name="over")
        long_fired = fired.reset_index().melt("day", var_name="detector", value_name="fired")
        return long_over.assign(fired=long_fired["fired"].to_numpy())

    def first_alarm(self, summary: pd.DataFrame) -> dict[str, int | None]:
        """The first day each detector fires, or ``None``."""
        alarms = self.alarms(summary)
        first: dict[str, int | None] = {}
        for detector in DETECTORS:
            days = alarms.day[(alarms.detector == detector) & alarms.fired]
            first[detector] = int(days.min()) if len(days) else None
        return first
