"""The sweep: an experiment expanded into runs, the missing ones executed, the results collected.

The sweep is dynamic. Each variant at each sweep point is a *group* with a list of planned
seeds; with ``seeds = "auto"`` a group whose planned runs have all finished decides from their
results whether to plan more (`needs_more_seeds`). Decisions read only the group's own results,
in seed order, so the runs a sweep ends with do not depend on the executor or on timing.

Every run that finishes is saved to the output folder at once; runs already there are loaded
instead of computed (resume); a run that raises is recorded as failed and the others go on
(the scheduling a replication shares, `experiments.scheduling.RunPass`).
Rebuilding a report replays the same procedure with nothing to compute (`collect`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from experiments.executors import SerialExecutor, open_executor
from experiments.experiment import Experiment, load_experiment
from experiments.interrupts import check
from experiments.progress import Progress, SweepProgress, check_progress
from experiments.report import write_outputs
from experiments.results import ExperimentResult
from experiments.run import RunSpec, RunTask, run_spec
from experiments.scheduling import RunPass
from experiments.schema import AutoSeeds
from experiments.store import (
    MEASURES,
    NotResults,
    RunStore,
    check_folder,
    check_saved,
    lock_folder,
    open_store,
)
from experiments.summary import (
    DAILY_COLUMNS,
    RUN_COLUMNS,
    final_window_means,
    half_width,
    summarize,
)
from experiments.tracking import tracking


def needs_more_seeds(values: list[float], rule: AutoSeeds) -> bool:
    """The ``seeds = "auto"`` rule: below `min_seeds`, or under `max_seeds` with a 95% CI
    half-width of the per-seed values above `tolerance` (or undefined).
    """
    if len(values) >= rule.max_seeds:
        return False
    if len(values) < rule.min_seeds:
        return True
    return not half_width(values) <= rule.tolerance


@dataclass
class _Group:
    """A variant at a sweep point, with the seeds planned for it so far."""

    experiment: Experiment
    point: tuple[tuple[str, Any], ...]
    variant: str
    seeds: list[int]
    deciding: bool
    """Whether it may still plan more seeds (``seeds = "auto"``)."""
    specs: dict[int, RunSpec] = field(default_factory=dict)

    def spec(self, seed: int) -> RunSpec:
        """The run with `seed`, made once (its id is hashed once)."""
        if seed not in self.specs:
            self.specs[seed] = run_spec(self.experiment, self.point, self.variant, seed)
        return self.specs[seed]


def _cell(value: Any) -> Any:
    """A swept value as a table cell: lists and tables become their JSON text."""
    return json.dumps(value) if isinstance(value, list | tuple | dict) else value


class _Sweep(RunPass[pd.DataFrame]):
    """The state of one pass over an experiment (`outcomes` are the runs' metrics frames). With
    no `executor`, nothing is computed: finished runs are read from the store and the rest
    reported missing.
    """

    def __init__(
        self,
        experiment: Experiment,
        executor: Executor | None,
        store: RunStore | None,
        progress: Progress,
        on_run: Callable[[RunSpec, pd.DataFrame], None] | None = None,
    ) -> None:
        self.experiment = experiment
        self.on_run = on_run
        """Called with each run in hand, computed or loaded (experiment tracking)."""
        self.executor = executor
        self.finished = store.finished() if store is not None else set()
        self.missing: list[str] = []
        # a run's own bar over its days, only where it is drawn in this process's terminal
        self.days_progress = progress is True and isinstance(executor, SerialExecutor)
        self.groups = self._groups()
        shown = SweepProgress(
            experiment.name,
            sum(len(g.seeds) for g in self.groups),
            progress if executor is not None else False,
        )
        super().__init__(store, shown)

    def _groups(self) -> list[_Group]:
        settings = self.experiment.settings
        auto = settings.seeds == "auto"
        n_seeds = settings.auto.min_seeds if auto else int(settings.seeds)
        seeds = list(range(settings.first_seed, settings.first_seed + n_seeds))
        points = [(point, self.experiment.at(point)) for point in self.experiment.points()]
        return [
            _Group(at, point, variant.name, list(seeds), deciding=auto)
            for variant in self.experiment.variants
            for point, at in points
        ]

    # -------------------------------------------------------------- scheduling
    def _resolved(self, spec: RunSpec) -> bool:
        run_id = spec.run_id
        return run_id in self.outcomes or run_id in self.errors or run_id in self.missing

    def _start(self, spec: RunSpec) -> None:
        """Load the run if it is finished, else submit it (or note it missing)."""
        run_id = spec.run_id
        if self._resolved(spec) or run_id in self.in_flight:
            return
        if run_id in self.finished and self.store is not None:
            self._load(self.store, spec)
        elif self.executor is not None:
            self._submit(self.executor, spec, RunTask(spec, progress=self.days_progress))
        elif self.store is not None and (error := self.store.failure(run_id)) is not None:
            self.errors[run_id] = error
        else:
            self.missing.append(run_id)

    def _decide(self, group: _Group) -> bool:
        """For an auto group whose runs are all in, plan more seeds or stop; True if it planned."""
        specs = [group.spec(seed) for seed in group.seeds]
        if not group.deciding or not all(self._resolved(s) for s in specs):
            return False
        group.deciding = False
        if any(s.run_id not in self.outcomes for s in specs):
            return False
        rule = self.experiment.settings.auto
        values = [self._final_value(s, rule.metric) for s in specs]
        if not needs_more_seeds(values, rule):
            return False
        n_more = min(rule.step, rule.max_seeds - len(group.seeds))
        start = group.seeds[-1] + 1
        group.seeds.extend(range(start, start + n_more))
        group.deciding = True
        self.progress.plan(n_more)
        return True

    def _final_value(self, spec: RunSpec, metric: str) -> float:
        frame = self.outcomes[spec.run_id].assign(run_id=spec.run_id, variant="", seed=spec.seed)
        means = final_window_means(frame, self.experiment.settings.final_window)
        return float(means.loc[means.metric == metric, "value"].iloc[0])

    def _read(self, store: RunStore, run_id: str) -> pd.DataFrame:
        return store.load(run_id)

    def _write(self, store: RunStore, spec: RunSpec, outcome: pd.DataFrame) -> None:
        store.save(spec.run_id, outcome, spec.config)

    def _hand_on(self, spec: RunSpec) -> None:
        if self.on_run is not None:
            self.on_run(spec, self.outcomes[spec.run_id])

    def run(self) -> None:
        """Start every planned run, let auto groups plan more, until nothing is pending."""
        with self.progress:
            while True:
                planned = True
                while planned:
                    for group in self.groups:
                        for seed in group.seeds:
                            self._start(group.spec(seed))
                    planned = any([self._decide(group) for group in self.groups])
                if not self.pending:
                    check()  # a signal whose exception was lost still stops the sweep
                    return
                self._wait()

    # -------------------------------------------------------------- results
    def _tidy(self, group: _Group, seed: int) -> pd.DataFrame:
        spec = group.spec(seed)
        swept = {key: _cell(value) for key, value in group.point}
        frame = self.outcomes[spec.run_id]
        columns = {"run_id": spec.run_id, "variant": group.variant, "seed": seed, **swept}
        return frame[list(DAILY_COLUMNS)].assign(**columns)[[*columns, *DAILY_COLUMNS]]

    def result(self, out: Path | None) -> ExperimentResult:
        """The tidy results of the runs in hand, in group and seed order."""
        keys = [*RUN_COLUMNS, *self.experiment.swept_keys]
        runs = [(g, seed) for g in self.groups for seed in g.seeds]
        frames = [self._tidy(g, seed) for g, seed in runs if g.spec(seed).run_id in self.outcomes]
        metrics = (
            pd.concat(frames, ignore_index=True)
            if frames
            else pd.DataFrame(columns=[*keys, *DAILY_COLUMNS])
        )
        failures = pd.DataFrame(
            [
                (g.spec(seed).run_id, g.variant, seed, *(_cell(v) for _, v in g.point), error)
                for g, seed in runs
                if (error := self.errors.get(g.spec(seed).run_id)) is not None
            ],
            columns=[*keys, "error"],
        )
        return ExperimentResult(
            experiment=self.experiment,
            metrics=metrics,
            summary=summarize(metrics, self.experiment.settings.final_window),
            failures=failures,
            computed=tuple(self.computed),
            skipped=tuple(self.skipped),
            missing=tuple(self.missing),
            out=out,
        )


def run_experiment(
    experiment: Experiment | str | Path,
    out: str | Path | None = None,
    executor: str | Executor = "serial",
    workers: int | None = None,
    progress: Progress = True,
    track: str | None = None,
) -> ExperimentResult:
    """Run every run of `experiment` (an `Experiment` or a path to its TOML file) that `out`
    does not already hold, on `executor` (see `experiments.executors`), and return the results.

    With `out`, each finished run is saved there as it finishes, and the tables, figures and
    report are written at the end; without, nothing is saved. With ``track="mlflow"`` each run
    is also logged to MLflow as it finishes, and the outputs at the end, without duplicating
    runs an earlier sweep logged (`experiments.tracking`). `progress` is a bar (True), a line
    per finished run on stderr (``"lines"``, for logs) or nothing (False).

    Examples
    --------
    The shipped ``quick`` experiment cut to two days of a small world and one seed, run in
    this process with nothing saved; popularity beats random and the oracle beats both:

    >>> from pathlib import Path
    >>> import experiments
    >>> from experiments import load_experiment, run_experiment
    >>> quick = Path(experiments.__file__).parent / "configs" / "quick.toml"
    >>> small = ["simulation.days=2", "world.n_users=100", "world.n_items=40",
    ...          "experiment.final_window=1"]
    >>> result = run_experiment(load_experiment(quick, small, seeds=1), progress=False)
    >>> len(result.computed), len(result.failures)
    (3, 0)
    >>> result.summary.query("metric == 'ctr'").set_index("variant")["mean"].round(3)
    variant
    popularity    0.033
    random        0.014
    oracle        0.080
    Name: mean, dtype: float64
    """
    check_progress(progress)
    if not isinstance(experiment, Experiment):
        experiment = load_experiment(experiment)
    store = open_store(out, experiment) if out is not None else None
    with tracking(track, experiment) as tracker:
        on_run = tracker.log_run if tracker is not None else None
        with open_executor(executor, workers) as pool:
            sweep = _Sweep(experiment, pool, store, progress, on_run)
            sweep.run()
        result = sweep.result(store.root if store is not None else None)
        if store is not None:
            write_outputs(result)
        if tracker is not None:
            tracker.finish(result)
    return result


def collect(out: str | Path) -> ExperimentResult:
    """The results saved in output folder `out`, computing nothing (runs that were never
    finished are reported as missing).
    """
    root = Path(out)
    experiment = load_experiment(root / "experiment.toml")
    sweep = _Sweep(experiment, None, RunStore(root), progress=False)
    sweep.run()
    return sweep.result(root)


def rebuild(out: str | Path) -> ExperimentResult:
    """Rebuild the tables, figures and report of output folder `out` from its saved runs,
    holding the folder's lock as ``recloop report`` does (`FolderBusy` while a sweep writes it).

    A folder that is not a results folder, holds no finished run, only runs of another
    experiment (or another recloop version) or a replication's runs is refused with a one-line
    `NotResults` and left as it was, rather than its report replaced by an empty one.
    """
    root = Path(out)
    check_folder(root)
    if any((root / "runs").glob(f"*{MEASURES}")):
        raise NotResults(
            f"{root}: a replication's folder (its runs are measures, not metrics); rebuild it "
            "with experiments.rebuild_replication(DIR, REPLICATIONS[NAME]) or recloop report"
        )
    lock = lock_folder(root)
    try:
        result = collect(root)
        check_saved(root, len(list((root / "runs").glob("*.parquet"))), len(result.skipped))
        write_outputs(result)
    finally:
        lock.release()
    return result
