"""The report's loop check: first and last day per variant, and the degenerate-loop verdicts."""

from __future__ import annotations

import pandas as pd

from experiments.loop_check import loop_verdicts, start_end_table


def run(run_id: str, variant: str, coverage: list[float], gini: list[float]) -> pd.DataFrame:
    days = range(len(coverage))
    rows = [
        (run_id, variant, 0, d, "all", "coverage", c) for d, c in zip(days, coverage, strict=True)
    ]
    rows += [
        (run_id, variant, 0, d, "all", "exposure_gini", g) for d, g in zip(days, gini, strict=True)
    ]
    columns = ["run_id", "variant", "seed", "day", "segment", "metric", "value"]
    return pd.DataFrame(rows, columns=columns)


def test_start_end_table_and_verdicts() -> None:
    collapsing = run("a", "greedy", [1.0] + [0.9] * 3 + [0.2] * 4, [0.1] + [0.2] * 3 + [0.9] * 4)
    steady = run("b", "random", [1.0] * 8, [0.1] * 8)
    metrics = pd.concat([collapsing, steady], ignore_index=True)
    table = start_end_table(metrics, ["coverage", "exposure_gini"])
    assert table.loc["greedy", "coverage"] == "0.900 → 0.200"  # day 1, not the launch day 0
    assert table.loc["random", "exposure_gini"] == "0.100 → 0.100"
    verdicts = loop_verdicts(metrics)
    assert verdicts.loc["greedy", "degenerate loop"] == "1 of 1"
    assert verdicts.loc["random", "degenerate loop"] == "0 of 1"
    assert verdicts.loc["greedy", "coverage drop"] == "78%"
