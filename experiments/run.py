"""One run: a simulation of one variant at one sweep point with one seed, its id, the
resources it needs, and its execution.

A `RunSpec` holds everything a run depends on, so it can execute in any process or on any Dask
worker and give the same numbers: every random draw derives from its seed (the world from the
``"world"`` stream, the loop from the seed itself), never from the order runs execute in. Its
`run_id` hashes the resolved configuration and the code version, which is what lets a sweep
that is run again skip the runs it has already finished.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

import pandas as pd

from experiments.experiment import Experiment
from experiments.resources import Resources, estimate_resources
from experiments.schema import ClickSpec, PolicySpec, PresetSpec, ShiftSpec, Variant
from experiments.toml_form import shift_table, variant_table
from policies import Policy
from policies.registry import RunContext
from simulator import (
    ClickModel,
    ServedModel,
    SimulationConfig,
    SimulationResult,
    World,
    WorldConfig,
    simulate,
    stream,
)


def code_version() -> str:
    """The installed recloop version: part of every run id, so new code means new runs."""
    try:
        return importlib.metadata.version("recloop")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class RunSpec:
    """One run: a variant at a sweep point (`point`, the swept keys and values) with a seed."""

    variant: Variant
    seed: int
    point: tuple[tuple[str, Any], ...]
    world: WorldConfig
    clicks: ClickSpec
    simulation: SimulationConfig
    shifts: tuple[ShiftSpec, ...] = ()
    preset: PresetSpec | None = None

    @cached_property
    def config(self) -> dict[str, Any]:
        """The resolved configuration, as plain JSON-ready data (the preset, when there is one,
        is added so that the standard world's run ids stay as they were).
        """
        preset = {} if self.preset is None else {"preset": asdict(self.preset)}
        return preset | {
            "code": code_version(),
            "variant": variant_table(self.variant),
            "seed": self.seed,
            "world": asdict(self.world),
            "clicks": {"model": self.clicks.model, **self.clicks.params},
            "simulation": asdict(self.simulation),
            "shifts": [shift_table(s) for s in self.shifts],
        }

    @cached_property
    def run_id(self) -> str:
        """A hash of `config`: equal for the same run, whichever sweep or folder asks."""
        canonical = json.dumps(self.config, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]

    @property
    def resources(self) -> Resources:
        """What the run needs, estimated from its world and simulation (`estimate_resources`)."""
        return estimate_resources(self.world, self.simulation)


def point_text(point: tuple[tuple[str, Any], ...]) -> str:
    """A sweep point as reports and progress lines write it: ``key=value, key=value``."""
    return ", ".join(f"{key}={value}" for key, value in point)


def run_spec(
    experiment: Experiment, point: tuple[tuple[str, Any], ...], variant: str, seed: int
) -> RunSpec:
    """The run of the variant named `variant` with `seed`, in `experiment` already set to the
    sweep point `point` (see `Experiment.at`).
    """
    return RunSpec(
        variant=next(v for v in experiment.variants if v.name == variant),
        seed=seed,
        point=point,
        world=experiment.world,
        clicks=experiment.clicks,
        simulation=experiment.simulation,
        shifts=experiment.shifts,
        preset=experiment.preset,
    )


def expand(experiment: Experiment, seeds: Sequence[int]) -> list[RunSpec]:
    """Every run of `experiment` with `seeds`: variant by variant, sweep point by sweep point."""
    points = [(point, experiment.at(point)) for point in experiment.points()]
    return [
        run_spec(at, point, variant.name, seed)
        for variant in experiment.variants
        for point, at in points
        for seed in seeds
    ]


def _built(model: ServedModel[PolicySpec], context: RunContext) -> ServedModel[Policy]:
    """The served model of an experiment file with its policy built for a run."""
    any_policy: ServedModel[Any] = model  # typed replace would keep PolicySpec as the policy
    return dataclasses.replace(any_policy, policy=model.policy.build(context))


def build_run(spec: RunSpec) -> tuple[World, ClickModel, list[ServedModel[Policy]]]:
    """A run's fresh world (from the ``"world"`` stream, or its preset's), click model and
    served models with their policies built: what `simulator.simulate` takes.
    """
    rng = stream(spec.seed, "world")
    preset = spec.preset
    world = World.generate(spec.world, rng) if preset is None else preset.build(spec.world, rng)
    click_model = spec.clicks.build()
    context = RunContext(world, spec.simulation.slate_size, click_model, seed=spec.seed)
    return world, click_model, [_built(model, context) for model in spec.variant.models]


def simulate_built(
    spec: RunSpec,
    built: tuple[World, ClickModel, list[ServedModel[Policy]]],
    progress: bool = False,
) -> SimulationResult:
    """Simulate a run's parts (`build_run`) with its simulation settings, seed and shifts."""
    world, click_model, models = built
    return simulate(
        world,
        click_model,
        models,
        spec.simulation,
        seed=spec.seed,
        progress=progress,
        shifts=[shift.build() for shift in spec.shifts],
    )


def execute_run(spec: RunSpec, progress: bool = False) -> pd.DataFrame:
    """Simulate one run on a fresh world; its daily metrics (day, segment, metric, value)."""
    return simulate_built(spec, build_run(spec), progress).metrics


@dataclass(frozen=True)
class RunTask:
    """A run packaged for an executor: calling it simulates; `resources` tells a cluster what it
    needs (the Dask executor reads that attribute off whatever it is given).
    """

    spec: RunSpec
    progress: bool = False

    @property
    def resources(self) -> Resources:
        """The run's needs, read by the Dask executor."""
        return self.spec.resources

    def __call__(self) -> pd.DataFrame:
        """Simulate the run in the worker and return its metrics frame."""
        return execute_run(self.spec, self.progress)
