"""Figures of an experiment, as matplotlib `Figure` objects (no pyplot state, so they work the
same in scripts, workers and notebooks, where they display inline).

* `plot_metric`: one metric over simulated days, a line per variant and sweep point with its 95%
  confidence band over seeds.
* `plot_final`: the final-window comparison, a panel per metric with each variant's mean and
  95% interval; given `experiments.summary.compare`'s table, each variant's difference from the
  baseline, with a line at zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from experiments.summary import half_width, swept_columns


def labels(frame: pd.DataFrame, swept: Sequence[str]) -> pd.Series:
    """A legend label per row: the variant, then each swept parameter's value."""
    text = frame["variant"].astype(str)
    for column in swept:
        text = text + ", " + column + "=" + frame[column].astype(str)
    return text


def plot_metric(metrics: pd.DataFrame, metric: str, segment: str = "all") -> Figure:
    """`metric` over days: mean over seeds with a 95% confidence band, per variant."""
    rows = metrics[(metrics.metric == metric) & (metrics.segment == segment)]
    rows = rows.assign(label=labels(rows, swept_columns(metrics)))
    figure = Figure(figsize=(7, 4), layout="constrained")
    axes = figure.add_subplot()
    for label, group in rows.groupby("label", sort=False):
        daily = group.groupby("day")["value"]
        mean = daily.mean()
        h = daily.agg(half_width).fillna(0.0)
        line = axes.plot(mean.index, mean.to_numpy(), label=label)[0]
        axes.fill_between(mean.index, mean - h, mean + h, color=line.get_color(), alpha=0.2)
    axes.set(xlabel="day", ylabel=metric, title=f"{metric} ({segment})")
    axes.legend(fontsize="small")
    return figure


def plot_final(
    summary: pd.DataFrame,
    metrics: Sequence[str],
    final_window: int,
    baseline: str | None = None,
) -> Figure:
    """Each metric's final-window mean per variant, with its 95% interval over seeds; or, with
    `baseline`, the differences from it that `summary` holds (from `compare`).
    """
    rows = summary[summary.metric.isin(metrics)]
    rows = rows.assign(label=labels(rows, swept_columns(summary)))
    n_cols = min(3, len(metrics))
    n_rows = -(-len(metrics) // n_cols)
    figure = Figure(figsize=(4 * n_cols, 0.4 * rows.label.nunique() * n_rows + 2 * n_rows))
    figure.set_layout_engine("constrained")
    for i, metric in enumerate(metrics):
        axes = figure.add_subplot(n_rows, n_cols, i + 1)
        data = rows[rows.metric == metric]
        positions = np.arange(len(data))[::-1]
        error = np.vstack([data["mean"] - data.ci_low, data.ci_high - data["mean"]])
        axes.errorbar(data["mean"], positions, xerr=np.nan_to_num(error), fmt="o", capsize=3)
        axes.set_yticks(positions, data.label, fontsize="small")
        axes.set_title(metric)
        axes.grid(axis="x", alpha=0.3)
        if baseline is not None:
            axes.axvline(0.0, color="grey", linewidth=1)
    what = "" if baseline is None else f" difference from {baseline}, paired by seed;"
    figure.suptitle(f"Final {final_window} days:{what} mean and 95% CI over seeds")
    return figure
