"""One pass over runs, shared by sweeps and replications: a run saved in the output folder is
loaded, any other is submitted to the executor, and each outcome is saved the moment it comes
back, so that a pass interrupted or killed loses only the runs in flight.

A run that raises is recorded as failed (``RUN_ID.failed.json``, `RunStore.save_failure`) and
told as such by the progress, and the other runs go on: what a failed run means for the results
(a row of the sweep's report, a refused replication table) is the caller's decision. Outcomes
are read and written by the subclass (`_read`, `_write`): a sweep keeps daily metrics frames, a
replication end-of-run measures.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Generic, TypeVar

from experiments.interrupts import check, wait_first
from experiments.progress import SweepProgress
from experiments.run import RunSpec
from experiments.store import RunStore, error_line

T = TypeVar("T")


class RunPass(Generic[T]):
    """The runs of one pass in hand: `outcomes` and `errors` by run id, the ids `computed` now
    and `skipped` (found saved), and the futures still `pending`.
    """

    def __init__(self, store: RunStore | None, progress: SweepProgress) -> None:
        self.store = store
        self.progress = progress
        self.outcomes: dict[str, T] = {}
        self.errors: dict[str, str] = {}
        self.computed: list[str] = []
        self.skipped: list[str] = []
        self.pending: dict[Future[T], RunSpec] = {}
        self.in_flight: set[str] = set()

    def _read(self, store: RunStore, run_id: str) -> T:
        """The outcome of run `run_id` saved in `store`."""
        raise NotImplementedError

    def _write(self, store: RunStore, spec: RunSpec, outcome: T) -> None:
        """Save the outcome of `spec`, just computed, in `store`."""
        raise NotImplementedError

    def _received(self, outcome: T) -> T:
        """An outcome as it came back from the executor, as the pass keeps it."""
        return outcome

    def _hand_on(self, spec: RunSpec) -> None:
        """Called with each run in hand, computed or loaded."""

    def _load(self, store: RunStore, spec: RunSpec) -> None:
        """Take the outcome of `spec` saved in `store` instead of computing it."""
        self.outcomes[spec.run_id] = self._read(store, spec.run_id)
        self.skipped.append(spec.run_id)
        self._hand_on(spec)
        self.progress.finished(spec, "skipped")

    def _submit(self, executor: Executor, spec: RunSpec, task: Callable[[], T]) -> None:
        """Submit `task`, the run `spec`; one the executor ran at once is saved at once."""
        check()
        future = executor.submit(task)
        self.pending[future] = spec
        self.in_flight.add(spec.run_id)
        if future.done():  # in-process: save it now, before the next run starts
            self._finish(future)

    def _wait(self) -> None:
        """Wait for at least one pending run, then keep every run that has finished."""
        for future in wait_first(self.pending):
            self._finish(future)

    def _finish(self, future: Future[T]) -> None:
        spec = self.pending.pop(future)
        run_id = spec.run_id
        self.in_flight.discard(run_id)
        try:
            outcome = self._received(future.result())
        except Exception as error:
            self.errors[run_id] = error_line(error)
            if self.store is not None:
                self.store.save_failure(run_id, spec.config, error)
            self.progress.finished(spec, "failed", self.errors[run_id])
            return
        if self.store is not None:
            self._write(self.store, spec, outcome)
        self.outcomes[run_id] = outcome
        self.computed.append(run_id)
        self._hand_on(spec)
        self.progress.finished(spec, "computed")
