"""From daily metrics to one number per run and a mean with a 95% confidence interval over seeds.

A run's number for a metric is its mean over the final window (its last `final_window` days),
which smooths day-to-day noise and looks at where the loop has taken the system. Seeds are
independent replications, so the interval is Student's t: mean +- t_{0.975, n-1} * sd / sqrt(n).

`compare` sets each variant against a baseline variant run with the same seeds: the same seed
draws the same world, arrivals and click noise (common random numbers), so the per-seed
difference cancels their variation and its interval is usually narrower than the two separate
intervals combined (a paired t test).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

RUN_COLUMNS = ("run_id", "variant", "seed")
DAILY_COLUMNS = ("day", "segment", "metric", "value")
SUMMARY_STATS = ("mean", "ci_low", "ci_high", "n_seeds")


def swept_columns(frame: pd.DataFrame) -> list[str]:
    """The swept parameters of a metrics or summary frame: the columns that are not fixed ones."""
    fixed = RUN_COLUMNS + DAILY_COLUMNS + SUMMARY_STATS
    return [c for c in frame.columns if c not in fixed]


def half_width(values: Sequence[float] | np.ndarray) -> float:
    """Half-width of the 95% t confidence interval of the mean; NaN with fewer than 2 values."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) < 2:
        return math.nan
    return float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))


def final_window_means(
    metrics: pd.DataFrame, final_window: int, segment: str | None = "all"
) -> pd.DataFrame:
    """One row per run, segment and metric: the mean over the run's last `final_window` days
    (each run's own last day, so sweeps over `simulation.days` work). All segments if None.
    """
    rows = metrics if segment is None else metrics[metrics.segment == segment]
    last_day = rows.groupby("run_id", sort=False)["day"].transform("max")
    window = rows[rows.day > last_day - final_window]
    keys = [*RUN_COLUMNS, *swept_columns(metrics), "segment", "metric"]
    return window.groupby(keys, sort=False, dropna=False)["value"].mean().reset_index()


def _intervals(per_run: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean, 95% t interval and count of the defined `value`s of each group of `keys`."""
    rows = []
    for key, group in per_run.groupby(keys, sort=False, dropna=False):
        values = group["value"].to_numpy(dtype=float)
        values = values[~np.isnan(values)]
        mean = float(values.mean()) if len(values) else math.nan
        h = half_width(values)
        rows.append((*key, mean, mean - h, mean + h, len(values)))
    return pd.DataFrame(rows, columns=[*keys, *SUMMARY_STATS])


def summarize(metrics: pd.DataFrame, final_window: int, segment: str = "all") -> pd.DataFrame:
    """Mean and 95% CI over seeds of each metric's final-window mean, per variant and sweep point.

    Columns: variant, the swept parameters, metric, mean, ci_low, ci_high, n_seeds (seeds whose
    value is defined).
    """
    per_run = final_window_means(metrics, final_window, segment)
    return _intervals(per_run, ["variant", *swept_columns(metrics), "metric"])


def compare(
    metrics: pd.DataFrame, final_window: int, baseline: str, segment: str = "all"
) -> pd.DataFrame:
    """Each other variant's final-window mean minus `baseline`'s, paired by seed and sweep point.

    Same columns as `summarize`, where mean, ci_low and ci_high are of the difference and n_seeds
    counts the seeds both ran with the metric defined.
    """
    if baseline not in set(metrics.variant):
        known = ", ".join(map(repr, dict.fromkeys(metrics.variant)))
        raise ValueError(f"baseline must be one of the variants ({known}), got {baseline!r}")
    per_run = final_window_means(metrics, final_window, segment)
    pairing = ["seed", *swept_columns(metrics), "segment", "metric"]
    base = per_run.loc[per_run.variant == baseline, [*pairing, "value"]]
    others = per_run[per_run.variant != baseline]
    paired = others.merge(base, on=pairing, suffixes=("", "_baseline"))
    paired["value"] -= paired.pop("value_baseline")
    return _intervals(paired, ["variant", *swept_columns(metrics), "metric"])
