"""Replication runs: an experiment whose report puts a published result beside recloop's.

A :class:`Replication` says what to measure at the end of each run (``measure``: numbers, or
arrays such as who consumed what) and how to turn the runs' measures into the report's table
(``table``: one row per published quantity, with the published value, recloop's value over
seeds and whether the paper's claim holds). The measures that compare runs with each other,
such as homogenization relative to the ideal recommender's run, are computed in ``table``,
paired by seed. :data:`REPLICATIONS` (filled by :mod:`experiments.published`) maps an
experiment's name to its replication: ``recloop run chaney2018`` runs every variant, seed and
sweep point of the experiment file with the chosen executor and writes ``report.md`` with the
table and ``measures.csv`` with every run's scalar measures. Running and measuring the runs
is :mod:`experiments.measuring`'s job.

Replications keep the promises of sweeps: the output folder is held by one writer at a time,
each run's measures are saved atomically the moment it finishes (`RunStore.save_measures`), and
running the same replication again loads them instead of computing them, so that a replication
interrupted or killed resumes losing only the runs in flight, with results identical to an
uninterrupted one; `rebuild_replication` (``recloop report DIR``) rewrites the report from them.
Saved measures are reused only while the replication's measures keep their names and
`Replication.version`. A run that raises is recorded as failed (``RUN_ID.failed.json``) and the
others go on; as the table needs every run, the replication then ends with `RunsFailed`, one
line naming the failed runs, its finished runs kept for the rerun and the report of earlier
runs (``report.md``, ``measures.csv``) removed, so that the folder never shows a report that
does not match its runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.executors import open_executor
from experiments.experiment import Experiment, load_experiment
from experiments.measuring import (
    FinishedRun,
    MeasuringPass,
    RunsFailed,
    failed_text,
    saved_runs,
)
from experiments.parsing import ConfigError
from experiments.progress import Progress, SweepProgress, check_progress
from experiments.report import _markdown
from experiments.run import RunSpec, expand, point_text
from experiments.store import (
    FRAME,
    MEASURES,
    NotResults,
    RunStore,
    check_folder,
    check_measure,
    check_saved,
    open_store,
    write_text,
)

__all__ = [
    "FinishedRun",
    "Outcome",
    "Replication",
    "ReplicationResult",
    "RunsFailed",
    "mean_sd",
    "rebuild_replication",
    "replicate",
    "scalar_frame",
    "write_report",
]

OUTPUTS = ("report.md", "measures.csv")
"""What a replication writes from its runs (`write_report`); removed when its table is refused."""


@dataclass(frozen=True)
class Outcome:
    """One run's measures, keyed by its variant, sweep point and seed."""

    variant: str
    point: tuple[tuple[str, Any], ...]
    seed: int
    values: Mapping[str, Any]


@dataclass(frozen=True)
class Replication:
    """A published result: what each run measures and the table the runs make.

    Parameters
    ----------
    paper
        The citation, as the report's heading.
    measure
        End-of-run measures of one run: name -> a finite number (or an array of them for
        `table` to combine); anything else (a string, None, NaN) fails the run.
    table
        The runs' outcomes -> the report's table, one row per quantity, with the columns
        ``quantity``, ``published``, ``recloop`` and ``holds``.
    names
        The names `measure` returns (a run returning others fails): saved with each run's
        measures, so that runs saved before the names changed are measured again on resume.
    notes
        Said under the table.
    version
        Raise it when `measure` computes a measure differently under the same name: saved
        measures of another version are measured again on resume.
    """

    paper: str
    measure: Callable[[FinishedRun], dict[str, Any]]
    table: Callable[[list[Outcome]], pd.DataFrame]
    names: tuple[str, ...]
    notes: str = ""
    version: int = 1

    def __post_init__(self) -> None:
        names = self.names
        if not isinstance(names, tuple) or not names or len(set(names)) < len(names):
            raise ValueError(f"names must be a tuple of distinct measure names, got {names!r}")
        if isinstance(self.version, bool) or not isinstance(self.version, int):
            raise ValueError(f"version must be an integer, got {self.version!r}")

    def check_measures(self, measures: Mapping[str, Any]) -> None:
        """Raise a one-line `ValueError` unless `measures` are named as `names` says and each
        is a finite number or an array of them (`check_measure`).
        """
        if set(measures) != set(self.names):
            raise ValueError(
                f"the replication's measure returned {sorted(measures)}, but its names are "
                f"{sorted(self.names)}"
            )
        for name, value in measures.items():
            check_measure(name, value)


@dataclass
class ReplicationResult:
    """The outcomes of every run and the table they make; `computed` and `skipped` are the ids
    of the runs computed now and of those found already done in the output folder.
    """

    name: str
    outcomes: list[Outcome]
    table: pd.DataFrame
    out: Path | None = field(default=None)
    computed: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


def _specs(experiment: Experiment) -> list[RunSpec]:
    seeds = experiment.settings.seeds
    if not isinstance(seeds, int):
        # a replication's table pairs fixed seeds across its variants: no adaptive seeding
        raise ConfigError(
            experiment.source,
            "experiment",
            f"seeds must be a number for a replication, got {seeds!r}",
        )
    first = experiment.settings.first_seed
    return expand(experiment, range(first, first + seeds))


def _outcomes(specs: list[RunSpec], measures: Mapping[str, Mapping[str, Any]]) -> list[Outcome]:
    return [Outcome(s.variant.name, s.point, s.seed, measures[s.run_id]) for s in specs]


def replicate(
    experiment: Experiment,
    replication: Replication,
    out: str | Path | None = None,
    executor: str | Executor = "serial",
    workers: int | None = None,
    progress: Progress = True,
) -> ReplicationResult:
    """Run `experiment`, measure each run as `replication` says and build its table.

    With `out`, the folder is held as a sweep holds it, each run's measures are saved there as
    the run finishes and runs already saved are loaded instead (resume), and ``report.md`` and
    ``measures.csv`` are written at the end. `progress` is as for `run_experiment`. When runs
    fail, the others still finish (and are saved), then `RunsFailed` names the failed ones.
    """
    check_progress(progress)
    specs = _specs(experiment)
    store = open_store(out, experiment) if out is not None else None
    try:
        shown = SweepProgress(experiment.name, len(specs), progress)
        measuring = MeasuringPass(replication, store, shown)
        with open_executor(executor, workers) as pool:
            measuring.run(specs, pool)
        try:
            if measuring.errors:
                raise measuring.refusal(experiment.name, specs)
            outcomes = _outcomes(specs, measuring.outcomes)
            table = replication.table(outcomes)
        except Exception:
            # no table of the folder's runs: a report left by earlier runs would not match them
            if store is not None:
                for name in OUTPUTS:
                    (store.root / name).unlink(missing_ok=True)
            raise
        result = ReplicationResult(
            experiment.name,
            outcomes,
            table,
            computed=tuple(measuring.computed),
            skipped=tuple(measuring.skipped),
        )
        if store is not None:
            result.out = store.root
            write_report(store.root, result, replication, experiment)
    finally:
        if store is not None:
            store.close()
    return result


def rebuild_replication(out: str | Path, replication: Replication) -> ReplicationResult:
    """Rewrite ``report.md`` and ``measures.csv`` of the replication folder `out` from its saved
    runs, computing nothing; `NotResults` (one line) when it is not a results folder, is a
    sweep's, holds no run of its experiment, misses some (the table needs them all) or holds
    some measured by other measures than `replication`'s.
    """
    root = Path(out)
    check_folder(root)
    runs = root / "runs"
    if any(runs.glob(f"*{FRAME}")) and not any(runs.glob(f"*{MEASURES}")):
        raise NotResults(
            f"{root}: a sweep's folder (its runs are metrics, not measures); rebuild it with "
            "experiments.rebuild(DIR) or recloop report"
        )
    experiment = load_experiment(root / "experiment.toml")
    specs = _specs(experiment)
    with RunStore(root) as store:
        saved = saved_runs(store, replication)  # sets torn files aside
        present = {path.name.removesuffix(MEASURES) for path in runs.glob(f"*{MEASURES}")}
        check_saved(root, len(present), sum(s.run_id in present for s in specs))
        stale = [s for s in specs if s.run_id in present and s.run_id not in saved]
        if stale:
            raise NotResults(
                f"{root}: {len(stale)} of its {len(specs)} runs were measured by other measures "
                "than the replication's now (their names or version changed); run the same "
                "command again to measure them again; nothing written"
            )
        missing = [s for s in specs if s.run_id not in saved]
        failed = {s.run_id: e for s in missing if (e := store.failure(s.run_id)) is not None}
        if missing:
            raise NotResults(
                f"{root}: {len(missing)} of its {len(specs)} runs never finished"
                + (f" ({len(failed)} failed: {failed_text(specs, failed)})" if failed else "")
                + " and a replication's table needs them all; run the same command again to "
                "finish them; nothing written"
            )
        outcomes = _outcomes(specs, {s.run_id: store.load_measures(s.run_id) for s in specs})
        result = ReplicationResult(
            experiment.name,
            outcomes,
            replication.table(outcomes),
            out=root,
            skipped=tuple(s.run_id for s in specs),
        )
        write_report(root, result, replication, experiment)
    return result


def scalar_frame(outcomes: list[Outcome]) -> pd.DataFrame:
    """The scalar measures of every run: variant, point, seed, measure, value."""
    rows = [
        {
            "variant": o.variant,
            "point": point_text(o.point),
            "seed": o.seed,
            "measure": k,
            "value": v,
        }
        for o in outcomes
        for k, v in o.values.items()
        if np.ndim(v) == 0
    ]
    return pd.DataFrame(rows, columns=["variant", "point", "seed", "measure", "value"])


def mean_sd(values: Any) -> str:
    """``mean ± sd (n)`` of the seeds' values, for a report cell."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return "n/a"
    sd = x.std(ddof=1) if len(x) > 1 else float("nan")
    return f"{x.mean():+.3f} ± {sd:.3f} (n={len(x)})"


def write_report(
    out: Path, result: ReplicationResult, replication: Replication, experiment: Experiment
) -> None:
    """``report.md`` (the published-vs-recloop table) and ``measures.csv`` in `out`."""
    report, measures_csv = OUTPUTS
    write_text(out / measures_csv, scalar_frame(result.outcomes).to_csv(index=False))
    lines = [
        f"# {experiment.name}: replication of {replication.paper}",
        "",
        experiment.settings.description,
        "",
        "## Published vs recloop",
        "",
        _markdown(result.table.set_index("quantity"), "quantity"),
        "",
    ]
    if replication.notes:
        lines += [replication.notes, ""]
    write_text(out / report, "\n".join(lines))
