"""An experiment's output folder, written from its results (the tables: `experiments.tables`):

* ``metrics.parquet``: every run's daily metrics, tidy;
* ``summary.csv``: final-window mean and 95% CI over seeds per variant, sweep point and metric;
* ``comparison.csv`` and ``figures/difference.png``, when the experiment names a baseline: each
  variant's difference from it, paired by seed, with 95% CIs;
* ``figures/METRIC.png`` (each shown metric over time) and ``figures/final_window.png``;
* ``figures/map.png`` and ``figures/retention_curves.png``, for a baseline and a sweep over the
  world (`experiments.heatmap`): the paired differences as a variant x sweep point heatmap, and
  present users over days;
* ``report.md``: the tables, the figures, failed runs and the resolved configuration.

Everything here is a function of the saved runs and the saved experiment, so
``recloop report DIR`` (`experiments.sweep.rebuild`) rebuilds the same tables at any time.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import pandas as pd
import tomli_w

from experiments.heatmap import (
    HEATMAP_METRICS,
    has_map,
    heatmap_figure,
    heatmap_table,
    retention_figure,
)
from experiments.plots import plot_final, plot_metric
from experiments.results import ExperimentResult
from experiments.store import write_atomically, write_text
from experiments.tables import (
    CHECK_FROM_DAY,
    detection_table,
    loop_verdicts,
    start_end_table,
    summary_table,
)


def _markdown(table: pd.DataFrame, index: str) -> str:
    header = [index, *map(str, table.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, row in table.iterrows():
        cells = [str(label), *(str(v).replace("|", "\\|") for v in row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def baseline_comparison(result: ExperimentResult) -> pd.DataFrame | None:
    """The differences from the experiment's baseline, or None without one (or its runs)."""
    baseline = result.experiment.settings.baseline
    if not baseline or not len(result.metrics) or baseline not in set(result.metrics.variant):
        return None
    return result.compare()


def _report(
    result: ExperimentResult, figures: Sequence[str], comparison: pd.DataFrame | None
) -> str:
    experiment, settings = result.experiment, result.experiment.settings
    n_runs = result.metrics.run_id.nunique() if len(result.metrics) else 0
    parts = [f"# {experiment.name}", ""]
    if settings.description:
        parts += [settings.description.strip(), ""]
    seeds = "auto" if settings.seeds == "auto" else f"{settings.seeds} per variant"
    parts += [
        f"{n_runs} finished runs, {len(result.failures)} failed, {len(result.missing)} missing. "
        f"Seeds: {seeds}. Numbers are means over the final {settings.final_window} days of each "
        "run (all users), then mean ± 95% CI half-width over seeds.",
        "",
        "## Summary",
        "",
        _markdown(summary_table(result.summary, settings.metrics), "variant"),
        "",
        "All metrics, with interval bounds and seed counts: `summary.csv`. Daily values of every "
        "run, per segment: `metrics.parquet`.",
        "",
    ]
    if settings.baseline:
        parts += [f"## Difference from {settings.baseline}", ""]
        if comparison is None:
            parts += [f"No finished run of {settings.baseline} to compare with.", ""]
        else:
            parts += [
                "Each variant's final-window mean minus the baseline's on the same seed (same "
                "world, arrivals and click noise), then mean ± 95% CI half-width over seeds: an "
                "interval that excludes 0 is a difference the seeds agree on. All metrics: "
                "`comparison.csv`.",
                "",
                _markdown(summary_table(comparison, settings.metrics, signed=True), "variant"),
                "",
            ]
            parts += _map_section(result, comparison)
    if len(result.metrics):
        verdicts = loop_verdicts(result.metrics)
        parts += [
            "## Where the loop went",
            "",
            f"Day {CHECK_FROM_DAY} → last day, mean over seeds:",
            "",
            _markdown(start_end_table(result.metrics, settings.metrics), "variant"),
            "",
        ]
        if len(verdicts):
            parts += [
                "Degenerate-loop check from day 1 (`simulator.detectors.detect_degenerate_loop`:"
                " coverage falls and exposure concentrates, each by at least a quarter):",
                "",
                _markdown(verdicts, "variant"),
                "",
            ]
    if experiment.shifts and len(result.metrics):
        detection = detection_table(experiment, result.metrics)
        detection[["detected", "false_alarm_rate"]] = detection[
            ["detected", "false_alarm_rate"]
        ].map(lambda v: "n/a" if pd.isna(v) else f"{v:.0%}")
        detection["mean_delay_days"] = detection.mean_delay_days.map(
            lambda v: "n/a" if pd.isna(v) else f"{v:.1f}"
        )
        parts += [
            "## Drift detection",
            "",
            "Default `DriftDetector` thresholds, from the end of the first training window; a "
            "run's shift starts on its onset day (n/a: the run has no shift).",
            "",
            _markdown(detection.set_index(["label"]), "variant"),
            "",
        ]
    parts += [
        "## Figures",
        "",
    ]
    parts += [f"![{name}](figures/{name}.png)\n" for name in figures]
    if len(result.failures):
        table = result.failures.set_index("run_id")
        parts += ["## Failed runs", "", _markdown(table, "run_id"), ""]
    resolved = tomli_w.dumps(experiment.resolved())
    parts += ["## Configuration", "", "```toml", resolved.strip(), "```", ""]
    return "\n".join(parts)


def _map_metrics(result: ExperimentResult) -> list[str]:
    shown = result.experiment.settings.metrics
    return [m for m in HEATMAP_METRICS if m in shown] if has_map(result.experiment) else []


def _map_section(result: ExperimentResult, comparison: pd.DataFrame) -> list[str]:
    """The map's tables: a variant x sweep point grid of differences per map metric."""
    metrics = _map_metrics(result)
    if not metrics:
        return []
    parts = [
        "## The map",
        "",
        "Final-window difference from the baseline, paired by seed, per sweep point; `*`: the "
        "95% CI over seeds excludes 0 (figures `map` and `retention_curves`).",
        "",
    ]
    for metric in metrics:
        parts += [f"**{metric}**", "", _markdown(heatmap_table(comparison, metric), "variant"), ""]
    return parts


def write_outputs(result: ExperimentResult) -> None:
    """Write the tables, figures and report of `result` into its output folder."""
    if result.out is None:
        raise ValueError("result has no output folder")
    out, settings = result.out, result.experiment.settings
    metrics = result.metrics.reset_index(drop=True)
    write_atomically(out / "metrics.parquet", lambda p: metrics.to_parquet(p, index=False))
    write_atomically(out / "summary.csv", lambda p: result.summary.to_csv(p, index=False))
    (out / "figures").mkdir(exist_ok=True)
    comparison = baseline_comparison(result)
    if comparison is not None:
        write_atomically(out / "comparison.csv", lambda p: comparison.to_csv(p, index=False))
    figures = []
    if len(metrics):
        named = {
            "final_window": plot_final(result.summary, settings.metrics, settings.final_window)
        }
        if comparison is not None:
            named["difference"] = plot_final(
                comparison, settings.metrics, settings.final_window, settings.baseline
            )
        named |= {m: plot_metric(metrics, m) for m in settings.metrics}
        if comparison is not None and _map_metrics(result):
            baseline = str(settings.baseline)
            named["map"] = heatmap_figure(
                comparison, _map_metrics(result), baseline, settings.final_window
            )
            curves = retention_figure(metrics)
            if curves is not None:
                named["retention_curves"] = curves
        for name, figure in named.items():
            write_atomically(out / "figures" / f"{name}.png", partial(figure.savefig, format="png"))
            figures.append(name)
    write_text(out / "report.md", _report(result, figures, comparison))
