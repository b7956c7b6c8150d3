"""Replication runs: an experiment whose report puts a published result beside recloop's.

A :class:`Replication` says what to measure at the end of each run (``measure``: numbers, or
arrays such as who consumed what) and how to turn the runs' measures into the report's table
(``table``: one row per published quantity, with the published value, recloop's value over
seeds and whether the paper's claim holds). The measures that compare runs with each other,
such as homogenization relative to the ideal recommender's run, are computed in ``table``,
paired by seed. :data:`REPLICATIONS` (filled by :mod:`experiments.published`) maps an
experiment's name to its replication: ``recloop run chaney2018`` runs every variant, seed and
sweep point of the experiment file with the chosen executor and writes ``report.md`` with the
table and ``measures.csv`` with every run's scalar measures.

Replications keep the promises of sweeps: the output folder is held by one writer at a time,
each run's measures are saved atomically the moment it finishes (`RunStore.save_measures`), and
running the same replication again loads them instead of computing them, so that a replication
interrupted or killed resumes losing only the runs in flight, with results identical to an
uninterrupted one; `rebuild_replication` (``recloop report DIR``) rewrites the report from them.
Saved measures are reused only while the replication's measures keep their names and
`Replication.version`. A run that raises is recorded as failed (``RUN_ID.failed.json``) and the
others go on; as the table needs every run, the replication then ends with `RunsFailed`, one
line naming the failed runs, its finished runs kept for the rerun.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from experiments.executors import open_executor
from experiments.experiment import Experiment, load_experiment
from experiments.interrupts import check
from experiments.parsing import ConfigError
from experiments.progress import Progress, SweepProgress, check_progress, describe
from experiments.report import _markdown
from experiments.resources import Resources
from experiments.run import RunSpec, build_run, expand, point_text
from experiments.scheduling import RunPass
from experiments.store import (
    FRAME,
    MEASURES,
    NotResults,
    RunStore,
    check_folder,
    check_saved,
    open_store,
    plain_measures,
    write_text,
)
from policies import Policy
from simulator import SimulationResult, simulate
from simulator.records import TrainingData


@dataclass
class FinishedRun:
    """What a replication may measure at the end of a run: the result, the (first) served
    policy refit on the whole window (the model of the next step), and the world's preferences
    at the start.
    """

    spec: RunSpec
    result: SimulationResult
    policy: Policy
    initial_preferences: NDArray[np.float64]

    def consumed(self) -> NDArray[np.bool_]:
        """(users x items ever created): whether each user clicked each item at least once."""
        sessions = self.result.log.sessions()
        world = self.result.world
        out = np.zeros((world.n_users, world.n_items_total), dtype=bool)
        rows, positions = np.nonzero(sessions.click)
        out[sessions.user[rows], sessions.item[rows, positions]] = True
        return out


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
        End-of-run measures of one run: name -> float (or an array for `table` to combine).
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

    def check_names(self, measures: Mapping[str, Any]) -> None:
        """Raise a one-line `ValueError` unless `measures` are named as `names` says."""
        if set(measures) != set(self.names):
            raise ValueError(
                f"the replication's measure returned {sorted(measures)}, but its names are "
                f"{sorted(self.names)}"
            )


def finish(spec: RunSpec) -> FinishedRun:
    """Simulate one run, keeping what a replication measures."""
    world, click_model, models = build_run(spec)
    initial = world.preferences.copy()
    result = simulate(
        world,
        click_model,
        models,
        spec.simulation,
        seed=spec.seed,
        shifts=[shift.build() for shift in spec.shifts],
    )
    now = float(spec.simulation.days)
    window = spec.simulation.window
    data = TrainingData(
        impressions=result.log.labelled(now, window),
        features=world.features,
        now=now,
        start=max(now - window, 0.0),
    )
    policy = copy.deepcopy(models[0].policy, memo={id(world): world}).fit(data)
    return FinishedRun(spec, result, policy, initial)


class RunsFailed(NotResults):
    """Runs of a replication failed, so its table cannot be made; `failed` maps their run ids
    to their one-line errors. Finished runs are saved: running it again retries only these.
    """

    def __init__(self, message: str, failed: Mapping[str, str]) -> None:
        super().__init__(message)
        self.failed = dict(failed)


@dataclass(frozen=True)
class MeasuredRun:
    """A run packaged for an executor: calling it simulates and measures."""

    spec: RunSpec
    replication: Replication

    @property
    def resources(self) -> Resources:
        """The run's needs, read by the Dask executor."""
        return self.spec.resources

    def __call__(self) -> dict[str, Any]:
        """Simulate the run, then take the replication's measures of it."""
        measures = self.replication.measure(finish(self.spec))
        self.replication.check_names(measures)
        return measures


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


MAX_NAMED = 4
"""How many failed runs with the same error the refusal names."""


class _Measuring(RunPass[dict[str, Any]]):
    """One pass over a replication's runs (`outcomes` are their measures): those saved in the
    store are loaded, the others computed on the executor and saved as each finishes; a run that
    raises is recorded as failed and the others go on.
    """

    def __init__(
        self, replication: Replication, store: RunStore | None, progress: SweepProgress
    ) -> None:
        super().__init__(store, progress)
        self.replication = replication

    def run(self, specs: list[RunSpec], executor: Executor) -> None:
        """Load or compute the measures of every run in `specs`."""
        saved = _saved(self.store, self.replication) if self.store is not None else set()
        with self.progress:
            for spec in specs:
                if self.store is not None and spec.run_id in saved:
                    self._load(self.store, spec)
                else:
                    self._submit(executor, spec, MeasuredRun(spec, self.replication))
            while self.pending:
                self._wait()
            check()  # a signal whose exception was lost still stops the replication

    def _read(self, store: RunStore, run_id: str) -> dict[str, Any]:
        return store.load_measures(run_id)

    def _received(self, outcome: dict[str, Any]) -> dict[str, Any]:
        # measures as they come back from disk, so a resumed run's table equals a fresh one's
        return plain_measures(outcome)

    def _write(self, store: RunStore, spec: RunSpec, outcome: dict[str, Any]) -> None:
        store.save_measures(spec.run_id, outcome, spec.config, self.replication.version)

    def refusal(self, name: str, specs: list[RunSpec]) -> RunsFailed:
        """The one-line refusal of the table when runs failed, naming them by their error."""
        by_error: dict[str, list[str]] = {}
        for spec in specs:
            if (error := self.errors.get(spec.run_id)) is not None:
                by_error.setdefault(error, []).append(describe(spec))
        shown = "; ".join(
            f"{error} in {', '.join(runs[:MAX_NAMED])}"
            + (f" and {len(runs) - MAX_NAMED} more" if len(runs) > MAX_NAMED else "")
            for error, runs in by_error.items()
        )
        kept = (
            f"; its {len(self.outcomes)} finished runs are saved in {self.store.root}: run the "
            "same command again to retry only the failed ones"
            if self.store is not None
            else ""
        )
        return RunsFailed(
            f"{name}: {len(self.errors)} of its {len(specs)} runs failed ({shown}), and the "
            f"published table needs every run, so no report was written{kept}",
            self.errors,
        )


def _saved(store: RunStore, replication: Replication) -> set[str]:
    """The runs of `store` measured by `replication`'s current names and version."""
    return store.finished_measures(replication.names, replication.version)


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
        measuring = _Measuring(replication, store, shown)
        with open_executor(executor, workers) as pool:
            measuring.run(specs, pool)
        if measuring.errors:
            raise measuring.refusal(experiment.name, specs)
        outcomes = _outcomes(specs, measuring.outcomes)
        result = ReplicationResult(
            experiment.name,
            outcomes,
            replication.table(outcomes),
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
        saved = _saved(store, replication)  # sets torn files aside
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
        if missing:
            raise NotResults(
                f"{root}: {len(missing)} of its {len(specs)} runs never finished and a "
                "replication's table needs them all; run the same command again to finish "
                "them; nothing written"
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
    measures = scalar_frame(result.outcomes)
    write_text(out / "measures.csv", measures.to_csv(index=False))
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
    write_text(out / "report.md", "\n".join(lines))
