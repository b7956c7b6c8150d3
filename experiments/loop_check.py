"""Where each run started and where the loop took it: the first and last day of the shown
metrics, and `detect_degenerate_loop`'s verdict on every run, summarised per variant.

Day 0 of a learned policy is served before any fit (LightGBM ranks at random then), so the
check looks from day 1: any collapse it finds happened under retraining alone.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from experiments.plots import labels
from experiments.summary import swept_columns
from simulator import detect_degenerate_loop

CHECK_FROM_DAY = 1


def start_end_table(metrics: pd.DataFrame, shown: Sequence[str]) -> pd.DataFrame:
    """Mean over seeds of each shown metric on day 1 and on the last day, per variant."""
    rows = metrics[(metrics.segment == "all") & metrics.metric.isin(shown)]
    last = rows.groupby("run_id")["day"].transform("max")
    ends = rows[(rows.day == CHECK_FROM_DAY) | (rows.day == last)]
    ends = ends.assign(when=["first" if d == CHECK_FROM_DAY else "last" for d in ends.day])
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
    the mean relative coverage drop and concentration rise behind the verdicts."""
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
