"""recloop's experiments: TOML files swept over policies x parameters x seeds, executed locally
or on Dask, with resume, tidy tables, figures and a report (docs/design.md, "Experiments and
monitoring", maps the modules).

From Python (a notebook, say)::

    from experiments import run_experiment
    result = run_experiment("experiments/configs/quick.toml")   # in-process, nothing saved
    result.summary                     # mean and 95% CI per variant and metric
    result.plot("utility")             # a matplotlib Figure

From the shell: ``recloop run CONFIG``, ``recloop report DIR``, ``recloop list``. The shipped
replications of published results (``chaney2018``, ``jiang2019``, ``mansoury2020``,
``joachims2017``; docs/replications.md) run through `replicate` with their entry of
`REPLICATIONS`, and resume like sweeps; `rebuild_replication` rewrites their report.
"""

from experiments.executors import make_executor
from experiments.experiment import Experiment, load_experiment
from experiments.parsing import ConfigError
from experiments.plots import plot_final, plot_metric
from experiments.published import REPLICATIONS
from experiments.replication import (
    Replication,
    ReplicationResult,
    RunsFailed,
    rebuild_replication,
    replicate,
)
from experiments.resources import Resources
from experiments.results import ExperimentResult
from experiments.run import RunSpec, execute_run, expand
from experiments.schema import (
    AutoSeeds,
    ClickSpec,
    PolicySpec,
    PresetSpec,
    Settings,
    ShiftSpec,
    Variant,
)
from experiments.store import NotResults
from experiments.summary import compare, final_window_means, half_width, summarize
from experiments.sweep import collect, rebuild, run_experiment
from experiments.tables import summary_table

__all__ = [
    "REPLICATIONS",
    "AutoSeeds",
    "ClickSpec",
    "ConfigError",
    "Experiment",
    "ExperimentResult",
    "NotResults",
    "PolicySpec",
    "PresetSpec",
    "Replication",
    "ReplicationResult",
    "Resources",
    "RunSpec",
    "RunsFailed",
    "Settings",
    "ShiftSpec",
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
    "rebuild_replication",
    "replicate",
    "run_experiment",
    "summarize",
    "summary_table",
]
