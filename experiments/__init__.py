"""recloop's experiments: TOML files swept over policies x parameters x seeds, executed locally
or on Dask, with resume, tidy tables, figures and a report (DESIGN.md section 7).

From Python (a notebook, say)::

    from experiments import run_experiment
    result = run_experiment("experiments/configs/quick.toml")   # in-process, nothing saved
    result.summary                     # mean and 95% CI per variant and metric
    result.plot("utility")             # a matplotlib Figure

From the shell: ``recloop run CONFIG``, ``recloop report DIR``, ``recloop list``.
"""

from experiments.config import (
    AutoSeeds,
    ClickSpec,
    ConfigError,
    Experiment,
    ModelSpec,
    Settings,
    Variant,
    load_experiment,
)
from experiments.executors import make_executor
from experiments.plots import plot_final, plot_metric
from experiments.report import summary_table
from experiments.runner import ExperimentResult, collect, rebuild, run_experiment
from experiments.runs import Resources, RunSpec, execute_run, expand
from experiments.summary import compare, final_window_means, half_width, summarize

__all__ = [
    "AutoSeeds",
    "ClickSpec",
    "ConfigError",
    "Experiment",
    "ExperimentResult",
    "ModelSpec",
    "Resources",
    "RunSpec",
    "Settings",
    "Variant",
    "collect",
    "compare",
    "execute_run",
    "expand",
    "final_window_means",
    "half_width",
    "load_experiment",
    "make_executor",
    "plot_final",
    "plot_metric",
    "rebuild",
    "run_experiment",
    "summarize",
    "summary_table",
]
