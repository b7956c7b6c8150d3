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
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from experiments.executors import open_executor
from experiments.experiment import Experiment
from experiments.report import _markdown
from experiments.run import RunSpec, build_run, expand
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
    """

    paper: str
    measure: Callable[[FinishedRun], dict[str, Any]]
    table: Callable[[list[Outcome]], pd.DataFrame]
    notes: str = ""


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


@dataclass(frozen=True)
class MeasuredRun:
    """A run packaged for an executor: calling it simulates and measures."""

    spec: RunSpec
    measure: Callable[[FinishedRun], dict[str, Any]]

    def __call__(self) -> Outcome:
        """Simulate the run, then take the replication's measures of it."""
        run = finish(self.spec)
        values = self.measure(run)
        return Outcome(self.spec.variant.name, self.spec.point, self.spec.seed, values)


@dataclass
class ReplicationResult:
    """The outcomes of every run and the table they make."""

    name: str
    outcomes: list[Outcome]
    table: pd.DataFrame
    out: Path | None = field(default=None)


def replicate(
    experiment: Experiment,
    replication: Replication,
    out: str | Path | None = None,
    executor: str = "serial",
    workers: int | None = None,
) -> ReplicationResult:
    """Run `experiment`, measure each run as `replication` says and build its table; with
    `out`, write ``report.md`` and ``measures.csv`` there.
    """
    seeds = experiment.settings.seeds
    if not isinstance(seeds, int):
        raise ValueError(f"seeds must be a number for a replication, got {seeds!r}")
    first = experiment.settings.first_seed
    specs = expand(experiment, range(first, first + seeds))
    with open_executor(executor, workers) as pool:
        futures = [pool.submit(MeasuredRun(spec, replication.measure)) for spec in specs]
        outcomes = [future.result() for future in futures]
    result = ReplicationResult(experiment.name, outcomes, replication.table(outcomes))
    if out is not None:
        result.out = Path(out)
        write_report(result.out, result, replication, experiment)
    return result


def scalar_frame(outcomes: list[Outcome]) -> pd.DataFrame:
    """The scalar measures of every run: variant, point, seed, measure, value."""
    rows = [
        {"variant": o.variant, "point": _point(o.point), "seed": o.seed, "measure": k, "value": v}
        for o in outcomes
        for k, v in o.values.items()
        if np.ndim(v) == 0
    ]
    return pd.DataFrame(rows, columns=["variant", "point", "seed", "measure", "value"])


def _point(point: tuple[tuple[str, Any], ...]) -> str:
    return ", ".join(f"{key}={value}" for key, value in point)


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
    out.mkdir(parents=True, exist_ok=True)
    scalar_frame(result.outcomes).to_csv(out / "measures.csv", index=False)
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
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
