"""The map of an experiment swept over worlds: where does each variant beat the baseline?

For an experiment with a baseline and a sweep over ``world`` keys (``experiments/configs/
long_term.toml`` sweeps whole user-dynamics settings), the report adds

* `heatmap_figure`: per metric, a variant x sweep point grid of the paired final-window
  difference from the baseline (`experiments.summary.compare`), coloured on a scale centred at
  zero, each cell marked ``*`` when its 95% interval over seeds excludes zero;
* `heatmap_table`: the same numbers as a markdown-ready frame;
* `retention_figure`: present users over days (the retention curves), a panel per sweep point
  where they were recorded, a line per variant (mean over seeds).

Sweep points are labelled by `point_label`, short enough for an axis.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from experiments.experiment import Experiment
from experiments.summary import swept_columns

HEATMAP_METRICS = ("utility", "long_term_value")
"""The shown metrics the map is drawn for (those of them the experiment shows)."""


def has_map(experiment: Experiment) -> bool:
    """Whether the report draws the map: a baseline and a sweep over the world."""
    swept_world = any(key == "world" or key.startswith("world.") for key in experiment.swept_keys)
    return bool(experiment.settings.baseline) and swept_world


def point_label(value: Any) -> str:
    """A short label of a swept value: a table's keys joined with "+" (a text value in place
    of its key, so ``{dynamics = "interest"}`` is "interest"), "base" for the empty table.
    """
    if isinstance(value, str) and value.startswith("{"):
        value = json.loads(value)
    if isinstance(value, dict):
        parts = [v if isinstance(v, str) else k for k, v in value.items()]
        return "+".join(parts) if parts else "base"
    return str(value)


def _points(frame: pd.DataFrame) -> pd.Series:
    columns = swept_columns(frame)
    text = pd.Series("", index=frame.index)
    for i, column in enumerate(columns):
        text = text + ("" if i == 0 else ", ") + frame[column].map(point_label)
    return text


def _cells(comparison: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows of `metric`: variant, point label, mean difference, significant (CI excludes 0)."""
    rows = comparison[comparison.metric == metric]
    return pd.DataFrame(
        {
            "variant": rows.variant,
            "point": _points(rows),
            "mean": rows["mean"],
            "significant": (rows.ci_low > 0) | (rows.ci_high < 0),
        }
    )


def heatmap_table(comparison: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Variant x sweep point: the paired difference from the baseline, ``*`` when significant."""
    cells = _cells(comparison, metric)
    text = [
        "n/a" if math.isnan(m) else f"{m:+.4f}{'*' if s else ''}"
        for m, s in cells[["mean", "significant"]].itertuples(index=False)
    ]
    table = cells.assign(text=text).pivot(index="variant", columns="point", values="text")
    return (
        table.reindex(index=_variants(comparison), columns=_point_order(comparison))
        .astype(object)
        .fillna("n/a")
    )


def heatmap_figure(
    comparison: pd.DataFrame, metrics: Sequence[str], baseline: str, final_window: int
) -> Figure:
    """A panel per metric: the paired difference from `baseline`, variant x sweep point."""
    height = 1.0 + (1.0 + 0.35 * len(_variants(comparison))) * len(metrics)
    figure = Figure(figsize=(2.5 + 1.3 * _n_points(comparison), height))
    figure.set_layout_engine("constrained")
    for i, metric in enumerate(metrics):
        cells = _cells(comparison, metric)
        grid = cells.pivot(index="variant", columns="point", values="mean")
        marks = cells.pivot(index="variant", columns="point", values="significant")
        variants, points = _variants(comparison), _point_order(comparison)
        grid, marks = (
            grid.reindex(variants, columns=points),
            marks.reindex(variants, columns=points),
        )
        values = grid.to_numpy(dtype=float)
        scale = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 1.0
        axes = figure.add_subplot(len(metrics), 1, i + 1)
        image = axes.imshow(values, cmap="RdBu", vmin=-scale, vmax=scale, aspect="auto")
        for (r, c), value in np.ndenumerate(values):
            if not math.isnan(value):
                star = "*" if marks.iat[r, c] else ""
                axes.text(c, r, f"{value:+.3g}{star}", ha="center", va="center", fontsize=7)
        axes.set_xticks(range(len(points)), points, fontsize="small", rotation=20)
        axes.set_yticks(range(len(variants)), variants, fontsize="small")
        axes.set_title(f"{metric}: difference from {baseline} (* 95% CI excludes 0)")
        figure.colorbar(image, ax=axes, shrink=0.8)
    figure.suptitle(f"Final {final_window} days, paired by seed, mean over seeds")
    return figure


def _n_points(comparison: pd.DataFrame) -> int:
    return max(1, len(_point_order(comparison)))


def _point_order(comparison: pd.DataFrame) -> list[str]:
    """Every sweep point of the comparison, in sweep order (a metric may miss some)."""
    return list(dict.fromkeys(_points(comparison)))


def _variants(comparison: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(comparison.variant))


def retention_figure(metrics: pd.DataFrame, metric: str = "present_users") -> Figure | None:
    """`metric` (present users by default) over days, a panel per sweep point where it moved,
    a line per variant (mean over seeds); None when it moved in no run.
    """
    rows = metrics[(metrics.metric == metric) & (metrics.segment == "all")]
    rows = rows.assign(point=_points(rows))
    # Points where nobody joins or leaves would only add flat lines.
    moving = rows.groupby("point")["value"].transform("nunique") > 1
    rows = rows[moving]
    if not len(rows):
        return None
    points = list(dict.fromkeys(rows.point))
    figure = Figure(figsize=(4 * len(points), 3.5), layout="constrained")
    for i, (point, group) in enumerate(rows.groupby("point", sort=False)):
        axes = figure.add_subplot(1, len(points), i + 1)
        for variant, runs in group.groupby("variant", sort=False):
            daily = runs.groupby("day")["value"].mean()
            axes.plot(daily.index, daily.to_numpy(), label=variant)
        axes.set(xlabel="day", ylabel=metric, title=point)
    figure.axes[0].legend(fontsize="small")
    return figure
