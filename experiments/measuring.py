"""A replication's runs: each simulated, measured at its end as its `Replication` says, and
saved the moment it finishes; a run that raises is recorded and the others go on, then
`RunsFailed` refuses the table in one line naming the failed runs.

Saved measures are reused only when taken by the replication's current measure names and
version (`saved_runs`), so that changing a replication's measures takes them again.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from experiments.interrupts import check
from experiments.progress import SweepProgress, describe
from experiments.resources import Resources
from experiments.run import RunSpec, build_run, simulate_built
from experiments.scheduling import RunPass
from experiments.store import NotResults, RunStore, plain_measures
from policies import Policy
from simulator import SimulationResult
from simulator.records import TrainingData

if TYPE_CHECKING:  # a replication's measure takes a `FinishedRun`: the import goes that way
    from experiments.replication import Replication


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


def finish(spec: RunSpec) -> FinishedRun:
    """Simulate one run, keeping what a replication measures."""
    built = build_run(spec)
    world, _, models = built
    initial = world.preferences.copy()
    result = simulate_built(spec, built)
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
        self.replication.check_measures(measures)
        return measures


MAX_NAMED = 4
"""How many failed runs with the same error the refusal names."""


class MeasuringPass(RunPass[dict[str, Any]]):
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
        saved = saved_runs(self.store, self.replication) if self.store is not None else set()
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
        kept = (
            f"; its {len(self.outcomes)} finished runs are saved in {self.store.root}: run the "
            "same command again to retry only the failed ones"
            if self.store is not None
            else ""
        )
        return RunsFailed(
            f"{name}: {len(self.errors)} of its {len(specs)} runs failed "
            f"({failed_text(specs, self.errors)}), and the published table needs every run, so "
            f"no report was written{kept}",
            self.errors,
        )


def failed_text(specs: list[RunSpec], errors: Mapping[str, str]) -> str:
    """The runs of `specs` that failed, grouped by their error (`errors`, by run id), as the
    one-line refusals of a replication's table name them.
    """
    by_error: dict[str, list[str]] = {}
    for spec in specs:
        if (error := errors.get(spec.run_id)) is not None:
            by_error.setdefault(error, []).append(describe(spec))
    return "; ".join(
        f"{error} in {', '.join(runs[:MAX_NAMED])}"
        + (f" and {len(runs) - MAX_NAMED} more" if len(runs) > MAX_NAMED else "")
        for error, runs in by_error.items()
    )


def saved_runs(store: RunStore, replication: Replication) -> set[str]:
    """The runs of `store` measured by `replication`'s current names and version."""
    return store.finished_measures(replication.names, replication.version)
