"""Feedback-loop diagnostics: daily metrics that show a model feeding on its own logs, and a
detector that flags a degenerate loop in a run's daily metrics.

Daily metrics (in `LOOP_METRICS`, part of `simulator.metrics.DAILY_METRICS`), each a pure function
of a :class:`~simulator.metrics.DayData`:

``calibration_error``
    mean over shown items of (predicted - true click probability), where predicted is the logged
    score and true is the item's marginal click probability at the position it was shown in.
    Signed: > 0 means the model over-estimates what it shows. Only sessions served by a model
    whose scores are click probabilities count (a policy says so with a true
    ``scores_are_click_probabilities`` attribute); NaN when there are none, e.g. for random,
    popularity and oracle, whose scores are propensities, counts and attractiveness.
``calibration_error_p1``, ``_p2``, ``_p3``
    the same at one position (NaN beyond the slate).
``apparent_position_effect``
    1 - (mean predicted click probability at the last position) / (at the first): how much less
    clickable the model believes the bottom of its slates is than the top. Compare
    ``position_effect``, the same ratio of true click probabilities (every policy): a model blind
    to position sees only the part of the drop that its ranking explains.
``position_bias_error``
    mean absolute relative error |theta_hat_r - theta_r| / theta_r of the examination curve
    estimated by the serving model (its ``examination_`` attribute, relative to position 1)
    against the click model's true curve (relative to position 1), over positions 2..k and the
    sessions of models that estimate one. NaN when none does, or when the click model has no
    examination curve (cascade, single choice).
``long_tail_share``
    share of impressions going to the long tail: the bottom 80% of live items by past popularity
    (`DayData.item_popularity` < 0.8). Uniform exposure gives about 0.8.
``hit_rate_head``, ``hit_rate_tail``
    click rate of impressions of head items (the top 20% by past popularity) and of tail items.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from simulator.validation import require_int, require_non_negative

if TYPE_CHECKING:
    from simulator.metrics import DayData

HEAD_PERCENTILE = 0.8
"""Items at or above this popularity percentile are the head, the rest the long tail (the
80/20 convention; arbitrary)."""
CALIBRATION_POSITIONS = (1, 2, 3)


def _nan_mean(values: NDArray[np.floating] | NDArray[np.bool_]) -> float:
    return float(values.mean()) if values.size else float("nan")


def _predicted_and_true(d: DayData) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(predicted, true) click probabilities of the sessions whose scores are predictions."""
    if d.score_is_click_probability is None:
        rows = np.zeros(len(d.impressions), dtype=bool)
    else:
        rows = d.score_is_click_probability
    return d.impressions.score[rows].astype(np.float64), d.click_probability[rows]


def calibration_error(d: DayData) -> float:
    predicted, true = _predicted_and_true(d)
    return _nan_mean(predicted - true)


def calibration_error_at(position: int) -> Callable[[DayData], float]:
    """`calibration_error` restricted to one position (1 = top)."""

    def metric(d: DayData) -> float:
        predicted, true = _predicted_and_true(d)
        if position > predicted.shape[1]:
            return float("nan")
        return _nan_mean(predicted[:, position - 1] - true[:, position - 1])

    return metric


def _top_to_bottom_drop(values: NDArray[np.float64]) -> float:
    if len(values) == 0 or values[:, 0].mean() == 0:
        return float("nan")
    return float(1.0 - values[:, -1].mean() / values[:, 0].mean())


def apparent_position_effect(d: DayData) -> float:
    return _top_to_bottom_drop(_predicted_and_true(d)[0])


def position_effect(d: DayData) -> float:
    return _top_to_bottom_drop(d.click_probability)


def position_bias_error(d: DayData) -> float:
    if d.true_examination is None or d.estimated_examination is None:
        return float("nan")
    estimated = d.estimated_examination[~np.isnan(d.estimated_examination[:, 0])]
    k = estimated.shape[1]
    if len(estimated) == 0 or k < 2:
        return float("nan")
    true = d.true_examination[:k] / d.true_examination[0]
    relative = estimated / estimated[:, :1]
    return float(np.mean(np.abs(relative[:, 1:] - true[1:]) / true[1:]))


def _is_head(d: DayData) -> NDArray[np.bool_]:
    return d.item_popularity[d.impressions.item] >= HEAD_PERCENTILE


def long_tail_share(d: DayData) -> float:
    return _nan_mean(~_is_head(d))


def hit_rate_head(d: DayData) -> float:
    return _nan_mean(d.impressions.click[_is_head(d)])


def hit_rate_tail(d: DayData) -> float:
    return _nan_mean(d.impressions.click[~_is_head(d)])


LOOP_METRICS: dict[str, Callable[[DayData], float]] = {
    "calibration_error": calibration_error,
    **{f"calibration_error_p{r}": calibration_error_at(r) for r in CALIBRATION_POSITIONS},
    "apparent_position_effect": apparent_position_effect,
    "position_effect": position_effect,
    "position_bias_error": position_bias_error,
    "long_tail_share": long_tail_share,
    "hit_rate_head": hit_rate_head,
    "hit_rate_tail": hit_rate_tail,
}


# ---------------------------------------------------------------------- the detector
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
