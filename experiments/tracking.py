"""Experiment tracking in MLflow (the optional extra ``recloop[mlflow]``): ``recloop run ...
--track mlflow``, or ``run_experiment(..., track="mlflow")``.

An experiment is one *parent* MLflow run, in the MLflow experiment named after it; each
simulation run is a *child* run with the run's resolved configuration as flattened parameters
(``variant.*``, ``seed``, ``world.*``, ``clicks.*``, ``simulation.*``, ``shifts``, and
``sweep.KEY`` for each swept value), its daily metrics as steps (the step is the day; segment
``S`` as ``segment_S/METRIC``) and its final-window means as ``final/METRIC``. When the sweep
writes its outputs, the parent gets the report, the figures, ``summary.csv`` and the resolved
``experiment.toml`` as artifacts.

Resuming is idempotent. The parent is found again by a hash of the resolved experiment and the
code version (the same things run ids hash), and each child is tagged ``recloop.run_id``: a run
whose finished child is already there is not logged again, and children left unfinished by a
killed sweep are deleted and logged anew.

The tracking URI is MLflow's usual ``MLFLOW_TRACKING_URI``; unset, a file store in ``mlruns/``
under the working folder. MLflow 3 refuses file stores unless ``MLFLOW_ALLOW_FILE_STORE`` is
true, so for a file store that variable is set to true when it is not set at all.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pandas as pd

from experiments.experiment import Experiment
from experiments.results import ExperimentResult
from experiments.run import RunSpec, code_version
from experiments.summary import final_window_means

if TYPE_CHECKING:
    from mlflow import MlflowClient

TRACKERS = ("mlflow",)
"""The values of ``track``."""

RUN_ID_TAG = "recloop.run_id"
EXPERIMENT_KEY_TAG = "recloop.experiment_key"
PARENT_TAG = "mlflow.parentRunId"
"""MLflow's own tag for nesting: its UI shows children under their parent."""

PARENT_ARTIFACTS = ("experiment.toml", "report.md", "summary.csv", "comparison.csv")
"""The files of an output folder logged on the parent, beside ``figures/``."""


def check_tracker(track: str | None) -> None:
    """Raise a one-line ValueError unless `track` is None or a tracker that can be used here
    (so a sweep does not start only to fail at its first run).
    """
    if track is None:
        return
    if track not in TRACKERS:
        raise ValueError(f"track must be one of {', '.join(TRACKERS)}, got {track!r}")
    try:
        import mlflow  # noqa: F401
    except ModuleNotFoundError:
        raise ValueError("track='mlflow' needs MLflow: pip install 'recloop[mlflow]'") from None


def tracking_uri() -> str:
    """``MLFLOW_TRACKING_URI``, or a file store in ``./mlruns`` (allowed for MLflow 3)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or (Path.cwd() / "mlruns").as_uri()
    if urlparse(uri).scheme in ("", "file"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return uri


def flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested tables as dotted keys; lists as their JSON text (MLflow parameters are strings)."""
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat |= flatten(value, f"{name}.")
        elif value is not None:
            flat[name] = _text(value)
    return flat


def _text(value: Any) -> str:
    """A parameter value as MLflow shows it: lists as JSON."""
    return json.dumps(value) if isinstance(value, list | tuple) else str(value)


def experiment_key(experiment: Experiment) -> str:
    """What finds an experiment's parent run again: its resolved form and the code version."""
    canonical = json.dumps(
        {"code": code_version(), "experiment": experiment.resolved()},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def _metric_name(metric: str, segment: str) -> str:
    return metric if segment == "all" else f"segment_{segment}/{metric}"


class MlflowTracker:
    """One experiment's parent run in MLflow and the children already logged under it."""

    def __init__(
        self,
        client: MlflowClient,
        experiment_id: str,
        parent_id: str,
        tracked: set[str],
        final_window: int,
    ) -> None:
        self.client = client
        self.experiment_id = experiment_id
        self.parent_id = parent_id
        self.tracked = tracked
        """recloop run ids with a finished child."""
        self.final_window = final_window

    @classmethod
    def open(cls, experiment: Experiment) -> MlflowTracker:
        """The parent run of `experiment` (found again on resume, else created), running."""
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri())
        found = client.get_experiment_by_name(experiment.name)
        experiment_id = (
            found.experiment_id if found is not None else client.create_experiment(experiment.name)
        )
        key = experiment_key(experiment)
        parents = client.search_runs(
            [experiment_id],
            filter_string=f"tags.`{EXPERIMENT_KEY_TAG}` = '{key}'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if parents:
            parent_id = parents[0].info.run_id
            client.update_run(parent_id, status="RUNNING")
        else:
            parent = client.create_run(
                experiment_id, run_name=experiment.name, tags={EXPERIMENT_KEY_TAG: key}
            )
            parent_id = parent.info.run_id
            resolved = experiment.resolved()
            params = flatten({"experiment": resolved["experiment"]})
            params["sweep"] = json.dumps(resolved["sweep"])
            params["code"] = code_version()
            client.log_batch(parent_id, params=_params(params))
        tracked = _finished_children(client, experiment_id, parent_id)
        return cls(client, experiment_id, parent_id, tracked, experiment.settings.final_window)

    def log_run(self, spec: RunSpec, frame: pd.DataFrame) -> None:
        """Log one finished simulation run as a child, unless it already has one."""
        from mlflow.entities import Metric

        if spec.run_id in self.tracked:
            return
        point = " ".join(f"{key}={value}" for key, value in spec.point)
        child = self.client.create_run(
            self.experiment_id,
            run_name=f"{spec.variant.name} seed {spec.seed} {point}".strip(),
            tags={PARENT_TAG: self.parent_id, RUN_ID_TAG: spec.run_id},
        )
        params = flatten({k: v for k, v in spec.config.items() if k != "code"})
        params |= {f"sweep.{key}": _text(value) for key, value in spec.point}
        now = int(time.time() * 1000)
        daily = frame.dropna(subset=["value"])
        names = [
            _metric_name(metric, segment)
            for metric, segment in zip(daily.metric, daily.segment, strict=True)
        ]
        tidy = frame.assign(run_id=spec.run_id, variant=spec.variant.name, seed=spec.seed)
        final = final_window_means(tidy, self.final_window).dropna(subset=["value"])
        metrics = [
            Metric(name, value, now, day)
            for name, value, day in zip(
                names, daily.value.tolist(), daily.day.tolist(), strict=True
            )
        ] + [
            Metric(f"final/{metric}", value, now, 0)
            for metric, value in zip(final.metric, final.value.tolist(), strict=True)
        ]
        run_id = child.info.run_id
        self.client.log_batch(run_id, metrics=metrics, params=_params(params))
        self.client.set_terminated(run_id, "FINISHED")
        self.tracked.add(spec.run_id)

    def finish(self, result: ExperimentResult) -> None:
        """Log the output folder's report, figures, tables and resolved experiment (if the
        sweep saved them) on the parent run and end it: FAILED if some runs failed.
        """
        if result.out is not None:
            self._log_outputs(result.out)
        self.client.set_terminated(self.parent_id, "FAILED" if len(result.failures) else "FINISHED")

    def _log_outputs(self, out: Path) -> None:
        for name in PARENT_ARTIFACTS:
            if (out / name).exists():
                self.client.log_artifact(self.parent_id, str(out / name))
        if (out / "figures").is_dir():
            self.client.log_artifacts(self.parent_id, str(out / "figures"), "figures")


def _params(params: Mapping[str, str]) -> list[Any]:
    from mlflow.entities import Param

    return [Param(key, value) for key, value in params.items()]


def _finished_children(client: MlflowClient, experiment_id: str, parent_id: str) -> set[str]:
    """The recloop run ids logged under `parent_id` by a child that finished; children left
    unfinished by a killed sweep are deleted, so that their run is logged again whole.
    """
    tracked: set[str] = set()
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], filter_string=f"tags.`{PARENT_TAG}` = '{parent_id}'", page_token=token
        )
        for run in page:
            if run.info.status == "FINISHED" and RUN_ID_TAG in run.data.tags:
                tracked.add(run.data.tags[RUN_ID_TAG])
            else:
                client.delete_run(run.info.run_id)
        token = page.token
        if not token:
            return tracked


@contextmanager
def tracking(track: str | None, experiment: Experiment) -> Iterator[MlflowTracker | None]:
    """The tracker named `track` (None: no tracking) for the length of a sweep, which ends it
    with `MlflowTracker.finish`; if the sweep is interrupted or raises, its parent run ends
    KILLED.
    """
    check_tracker(track)
    if track is None:
        yield None
        return
    tracker = MlflowTracker.open(experiment)
    try:
        yield tracker
    except BaseException:
        tracker.client.set_terminated(tracker.parent_id, "KILLED")
        raise
