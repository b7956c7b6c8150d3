"""The parts of an experiment file as frozen, validated specs: one dataclass per section.

Each key's default lives here, once: [experiment] is `Settings` (with `AutoSeeds` under
[experiment.auto]), [clicks] a `ClickSpec`, each [[variants]] table a `Variant` of served
models (`simulator.ServedModel` holding a `PolicySpec`), each [[shifts]] table a `ShiftSpec`.
[world] and [simulation] are `simulator.WorldConfig` and `simulator.SimulationConfig`
themselves. Specs hold names and parameters, not built objects, so an experiment can be
compared, hashed into run ids and written back to TOML; `build` makes the object for a run.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PureWindowsPath
from typing import Any

from policies import Policy, make_policy
from policies.registry import RunContext
from simulator import CLICK_MODELS, DAILY_METRICS, ClickModel, ServedModel, World, WorldConfig
from simulator.monitoring import RECORDED_METRICS
from simulator.presets import PRESETS
from simulator.shifts import Shift, make_shift
from simulator.validation import require_choice, require_int, require_positive, shown

LARGEST_FIRST_SEED = 2**62
"""Seeds are saved as 64-bit integers: this leaves room for any number of seeds after it."""
SHOWN_METRICS = ("ctr", "utility", "regret", "coverage", "exposure_gini", "popularity_bias")


def is_plain_name(name: str) -> bool:
    """Whether `name` can only name a folder inside another: outputs default to results/NAME,
    so a name with a separator, ``..`` or an absolute path would write outside the results
    root (and a control character would make an unreadable folder name).
    """
    separators = {"/", "\\", os.sep, *(os.altsep or "")}
    return (
        bool(name)
        and name not in (".", "..")
        and not any(c in separators for c in name)
        and not any(unicodedata.category(c) == "Cc" for c in name)
        and not PureWindowsPath(name).drive
    )


@dataclass(frozen=True)
class AutoSeeds:
    """With ``seeds = "auto"``, each variant (at each sweep point) starts with `min_seeds` seeds
    and gets `step` more at a time until the 95% confidence half-width of `metric` (the final
    window's mean, all segments) is at most `tolerance`, or it has `max_seeds` seeds.
    """

    metric: str = "utility"
    tolerance: float = 0.01
    min_seeds: int = 3
    max_seeds: int = 20
    step: int = 2

    def __post_init__(self) -> None:
        require_choice("metric", self.metric, (*DAILY_METRICS, *RECORDED_METRICS))
        require_positive("tolerance", self.tolerance)
        require_int("min_seeds", self.min_seeds, 2)
        require_int("max_seeds", self.max_seeds, self.min_seeds)
        require_int("step", self.step, 1)


@dataclass(frozen=True)
class Settings:
    """The [experiment] section: what to run besides the simulation itself, and what to show."""

    name: str = "experiment"
    """A plain name (the file's stem in an experiment file): the CLI writes to results/NAME."""
    description: str = ""
    seeds: int | str = 3
    """Seeds per variant (and sweep point), or ``"auto"`` (see `AutoSeeds`)."""
    first_seed: int = 0
    """Seeds are first_seed, first_seed + 1, ...: change it for fresh draws."""
    final_window: int = 7
    """Trailing days averaged into one number per run for `summary.csv`."""
    metrics: tuple[str, ...] = SHOWN_METRICS
    """Metrics shown in figures and printed tables; `summary.csv` holds all of them."""
    baseline: str = ""
    """A variant's name: the report then adds every other variant's difference from it, paired
    by seed, with 95% CIs (`experiments.summary.compare`). Empty: no comparison."""
    auto: AutoSeeds = AutoSeeds()

    def __post_init__(self) -> None:
        for key in ("name", "description", "baseline"):
            if not isinstance(getattr(self, key), str):
                raise ValueError(f"{key} must be a string, got {getattr(self, key)!r}")
        if not is_plain_name(self.name):
            raise ValueError(
                "name must be a plain name (not empty, no path separators, not '.' or '..', "
                f"no control characters), got {self.name!r}"
            )
        if self.seeds != "auto":
            require_int("seeds", self.seeds, 1)
        require_int("first_seed", self.first_seed, 0)
        if self.first_seed > LARGEST_FIRST_SEED:
            raise ValueError(
                "first_seed must be at most 2**62 (seeds are saved as 64-bit integers), got "
                f"{shown(self.first_seed)}"
            )
        require_int("final_window", self.final_window, 1)
        if not isinstance(self.metrics, tuple) or not self.metrics:
            raise ValueError(f"metrics must be a non-empty list, got {self.metrics!r}")
        for metric in self.metrics:
            require_choice("metrics", metric, (*DAILY_METRICS, *RECORDED_METRICS))


@dataclass(frozen=True)
class ClickSpec:
    """A click model by name with its constructor arguments, all defaults filled in."""

    model: str = "pbm"
    params: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> ClickModel:
        """A fresh click model for a run."""
        model: ClickModel = CLICK_MODELS[self.model](**self.params)
        return model


@dataclass(frozen=True)
class PresetSpec:
    """A world preset by name (a key of `simulator.presets.PRESETS`) with its parameters:
    ``[world] preset = "NAME"`` and ``[world.preset_params]``.
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def config(self) -> WorldConfig:
        """The preset's world configuration, before the [world] table's other keys."""
        return PRESETS[self.name](**self.params).config

    def build(self, config: WorldConfig, rng: Any) -> World:
        """Draw the preset's world with sizes `config`."""
        return PRESETS[self.name](**self.params).generate(config, rng)


@dataclass(frozen=True)
class PolicySpec:
    """A registered policy by name (a key of `policies.POLICIES`), its parameters and the
    wrappers around it, innermost first: the policy of a served model in an experiment file.
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    wrappers: tuple[tuple[str, Mapping[str, Any]], ...] = ()

    def build(self, context: RunContext) -> Policy:
        """The policy for the run `context` describes (`policies.make_policy`)."""
        return make_policy(self.name, context, self.wrappers, **self.params)


@dataclass(frozen=True)
class ShiftSpec:
    """A shift schedule by kind and profile with its parameters (`simulator.shifts.make_shift`)."""

    name: str
    kind: str
    profile: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> Shift:
        """The shift schedule for a run."""
        return make_shift(self.kind, self.profile, **self.params)


@dataclass(frozen=True)
class Variant:
    """A named way of serving: one model for everybody, or several side by side."""

    name: str
    models: tuple[ServedModel[PolicySpec], ...]
