"""What a sweep leaves: an experiment's tidy metrics, their summary and its failed runs.

Kept apart from the sweep that makes it (`experiments.sweep`) and the report written from it
(`experiments.report`), so that both depend on it and not on each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from experiments.experiment import Experiment
from experiments.plots import plot_metric
from experiments.summary import compare


@dataclass(frozen=True)
class ExperimentResult:
    """What a sweep leaves. `metrics` is tidy (run_id, variant, seed, swept parameters, day,
    segment, metric, value); `summary` has the final-window mean and 95% CI per variant and
    sweep point; `failures` lists failed runs with their error; `computed` and `skipped` are the
    run ids executed now and found already finished; `missing` those neither (when rebuilding
    from an interrupted folder).
    """

    experiment: Experiment
    metrics: pd.DataFrame
    summary: pd.DataFrame
    failures: pd.DataFrame
    computed: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    out: Path | None = None

    def plot(self, metric: str, segment: str = "all") -> Figure:
        """`metric` over days, a line per variant and sweep point: see `plots.plot_metric`."""
        return plot_metric(self.metrics, metric, segment)

    def compare(self, baseline: str | None = None, segment: str = "all") -> pd.DataFrame:
        """Every other variant's final-window difference from `baseline` (by default the
        experiment's), paired by seed, with 95% CIs: see `experiments.summary.compare`.
        """
        baseline = baseline or self.experiment.settings.baseline
        if not baseline:
            raise ValueError("baseline must name a variant: the experiment sets none")
        final_window = self.experiment.settings.final_window
        return compare(self.metrics, final_window, baseline, segment)
