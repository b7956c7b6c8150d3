"""From the sections of a TOML document to validated specs, with a one-line `ConfigError` for
each unknown key, wrong type or out-of-range value, naming where in the file it is.

Values are checked by the classes they become (their `__post_init__`, or the constructor of a
click model, policy or shift, built once here on a tiny probe world), so this module adds only
the position in the file to their messages, and the checks of keys (with a suggestion for a
typo). `experiments.experiment.parse` puts the sections together.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from experiments.schema import (
    AutoSeeds,
    ClickSpec,
    PolicySpec,
    PresetSpec,
    Settings,
    ShiftSpec,
    Variant,
)
from policies.registry import RunContext
from simulator import CLICK_MODELS, ServedModel, SimulationConfig, World, WorldConfig, stream
from simulator.presets import PRESETS
from simulator.serving import check_coverage
from simulator.shifts import check_kinds
from simulator.validation import did_you_mean

SECTIONS = ("experiment", "world", "clicks", "simulation", "variants", "shifts", "sweep")
SWEPT_SECTIONS = ("world", "clicks", "simulation", "variants", "shifts")
MODEL_KEYS = (
    "policy",
    "params",
    "wrappers",
    *(f.name for f in dataclasses.fields(ServedModel) if f.name != "policy"),
)
"""Keys of a served model's table: its policy spec, written flat, and its other fields."""


class ConfigError(ValueError):
    """A bad experiment file or override: `where` is the section or key, `problem` says why."""

    def __init__(self, source: str, where: str | None, problem: str) -> None:
        self.source, self.where, self.problem = source, where, problem
        super().__init__(f"{source}: {self.detail}")

    @property
    def detail(self) -> str:
        """The message without the file name."""
        return f"[{self.where}] {self.problem}" if self.where else self.problem


def check_keys(source: str, where: str, table: Mapping[str, Any], known: Sequence[str]) -> None:
    """Refuse a key of `table` that is not `known`, suggesting the closest known one."""
    for key in table:
        if key not in known:
            raise ConfigError(source, where, f"unknown key {key!r}{did_you_mean(key, known)}")


def _require_table(source: str, where: str, value: Any) -> dict[str, Any]:
    """`value` itself, if it is a TOML table."""
    if not isinstance(value, dict):
        raise ConfigError(source, where, f"must be a table, got {value!r}")
    return value


def parse_dataclass(source: str, where: str, cls: type, table: Any, **fixed: Any) -> Any:
    """Build dataclass `cls` from a TOML table (lists become tuples) and the `fixed` fields."""
    table = _require_table(source, where, table)
    names = [f.name for f in dataclasses.fields(cls) if f.name not in fixed]
    check_keys(source, where, table, names)
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
    try:
        return cls(**values, **fixed)
    except ValueError as error:
        raise ConfigError(source, where, str(error)) from None


def parse_settings(source: str, table: Any, default_name: str) -> Settings:
    """The [experiment] section with its [experiment.auto] table; `name` defaults as given."""
    table = dict(_require_table(source, "experiment", table))
    auto = parse_dataclass(source, "experiment.auto", AutoSeeds, table.pop("auto", {}))
    table.setdefault("name", default_name)
    settings: Settings = parse_dataclass(source, "experiment", Settings, table, auto=auto)
    return settings


def parse_world(source: str, table: Any) -> tuple[WorldConfig, PresetSpec | None]:
    """The [world] section: a `WorldConfig`, started from the preset's when ``preset`` names
    one (its parameters in [world.preset_params]), every other key overriding it."""
    table = dict(_require_table(source, "world", table))
    name = table.pop("preset", None)
    params = _require_table(source, "world.preset_params", table.pop("preset_params", {}))
    if name is None:
        if params:
            raise ConfigError(source, "world", "preset_params needs a preset")
        return parse_dataclass(source, "world", WorldConfig, table), None
    if name not in PRESETS:
        problem = f"preset must be one of {', '.join(map(repr, PRESETS))}, got {name!r}"
        raise ConfigError(source, "world", problem + did_you_mean(str(name), PRESETS))
    check_keys(
        source, "world.preset_params", params, list(inspect.signature(PRESETS[name]).parameters)
    )
    preset = PresetSpec(name, params)
    names = [f.name for f in dataclasses.fields(WorldConfig)]
    check_keys(source, "world", table, ["preset", "preset_params", *names])
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
    try:
        return preset.config().replace(**values), preset
    except ValueError as error:
        raise ConfigError(source, "world", str(error)) from None


def parse_clicks(source: str, table: Any) -> ClickSpec:
    """The [clicks] section: a click model's name and arguments, checked by building it."""
    table = dict(_require_table(source, "clicks", table))
    name = table.pop("model", "pbm")
    if name not in CLICK_MODELS:
        problem = f"model must be one of {', '.join(map(repr, CLICK_MODELS))}, got {name!r}"
        raise ConfigError(source, "clicks", problem + did_you_mean(str(name), CLICK_MODELS))
    signature = inspect.signature(CLICK_MODELS[name])
    check_keys(source, "clicks", table, ["model", *signature.parameters])
    try:
        CLICK_MODELS[name](**table)
    except ValueError as error:
        raise ConfigError(source, "clicks", str(error)) from None
    params = {p.name: p.default for p in signature.parameters.values()} | table
    return ClickSpec(model=name, params=params)


def _wrappers(source: str, where: str, value: Any) -> tuple[tuple[str, dict[str, Any]], ...]:
    if not isinstance(value, list) or not all(isinstance(w, dict) for w in value):
        raise ConfigError(source, where, f"wrappers must be a list of tables, got {value!r}")
    wrappers = []
    for table in value:
        params = dict(table)
        name = params.pop("name", None)
        if not isinstance(name, str):
            raise ConfigError(source, where, f"each wrapper needs a name, got {table!r}")
        wrappers.append((name, params))
    return tuple(wrappers)


@functools.cache
def _probe_world() -> World:
    """A tiny world to build policies on at load time: constructors check their arguments (and
    only store them), so a bad policy parameter is caught before any run starts."""
    config = WorldConfig(n_users=2, n_items=2, n_segments=1, n_topics=1)
    return World.generate(config, stream(0, "probe"))


def _served_model(
    source: str, where: str, table: dict[str, Any], default_name: str, probe: RunContext
) -> ServedModel[PolicySpec]:
    check_keys(source, where, table, MODEL_KEYS)
    if "policy" not in table:
        raise ConfigError(source, where, "policy is required")
    params = _require_table(source, f"{where}.params", table.get("params", {}))
    wrappers = _wrappers(source, where, table.get("wrappers", []))
    policy = PolicySpec(table["policy"], params, wrappers)
    rest = {k: v for k, v in table.items() if k not in ("policy", "params", "wrappers")}
    rest.setdefault("name", default_name)
    if isinstance(rest.get("segments"), list):
        rest["segments"] = tuple(rest["segments"])
    try:
        policy.build(probe)
        return ServedModel(policy=policy, **rest)
    except ValueError as error:
        raise ConfigError(source, where, str(error)) from None


def _variant(source: str, index: int, table: Any, probe: RunContext) -> Variant:
    table = _require_table(source, f"variants[{index}]", table)
    name = table.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(source, f"variants[{index}]", f"name must be a string, got {name!r}")
    where = f"variants.{name}"
    if "models" in table:
        check_keys(source, where, table, ["name", "models"])
        tables = table["models"]
        if not isinstance(tables, list) or not tables:
            raise ConfigError(source, where, f"models must be a list of tables, got {tables!r}")
        models = tuple(
            _served_model(
                source, f"{where}.models[{i}]", _require_table(source, where, t), f"model{i}", probe
            )
            for i, t in enumerate(tables)
        )
    else:
        check_keys(source, where, table, ["name", "models", "policy", "params", "wrappers"])
        rest = {k: v for k, v in table.items() if k != "name"}
        models = (_served_model(source, where, rest, "model", probe),)
    return Variant(name=name, models=models)


@functools.cache
def _probe_preset_world(name: str, params: tuple[tuple[str, Any], ...]) -> World:
    """A tiny world of a preset, for policies that need its kind of world (the ideal one)."""
    preset = PresetSpec(name, dict(params))
    return preset.build(preset.config().replace(n_users=2, n_items=2), stream(0, "probe"))


def parse_variants(
    source: str,
    tables: Any,
    world: WorldConfig,
    simulation: SimulationConfig,
    clicks: ClickSpec,
    preset: PresetSpec | None = None,
) -> tuple[Variant, ...]:
    """The [[variants]] tables: uniquely named, each serving every segment of `world` once."""
    if not isinstance(tables, list) or not tables:
        raise ConfigError(source, "variants", "at least one [[variants]] table is required")
    probe_world = (
        _probe_world()
        if preset is None
        else _probe_preset_world(preset.name, tuple(sorted(preset.params.items())))
    )
    probe = RunContext(probe_world, simulation.slate_size, clicks.build())
    variants = tuple(_variant(source, i, t, probe) for i, t in enumerate(tables))
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ConfigError(source, "variants", f"variant names must be unique, got {names}")
    for variant in variants:
        try:
            check_coverage(variant.models, world.n_segments)
        except ValueError as error:
            raise ConfigError(source, f"variants.{variant.name}", str(error)) from None
    return variants


def parse_shifts(source: str, tables: Any) -> tuple[ShiftSpec, ...]:
    """The [[shifts]] tables, each checked by building its schedule, and their kinds together."""
    if not isinstance(tables, list):
        raise ConfigError(source, "shifts", f"must be a list of tables, got {tables!r}")
    shifts = []
    for index, table in enumerate(tables):
        params = dict(_require_table(source, f"shifts[{index}]", table))
        kind, profile = params.pop("kind", None), params.pop("profile", None)
        name = params.pop("name", kind)
        where = f"shifts.{name}"
        if not isinstance(kind, str) or not isinstance(profile, str):
            raise ConfigError(source, where, "kind and profile are required")
        spec = ShiftSpec(name=str(name), kind=kind, profile=profile, params=params)
        try:
            spec.build()
        except ValueError as error:
            raise ConfigError(source, where, str(error)) from None
        shifts.append(spec)
    try:
        check_kinds([spec.build() for spec in shifts])
    except ValueError as error:
        raise ConfigError(source, "shifts", str(error)) from None
    return tuple(shifts)


def parse_sweep(source: str, table: Any) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """The [sweep] table: each swept key (into a section other than [experiment]) and its
    values; whether the key names something is checked at each sweep point."""
    table = _require_table(source, "sweep", table)
    sweep = []
    for key, values in table.items():
        if key.split(".")[0] not in SWEPT_SECTIONS:
            problem = f"cannot sweep over {key!r}: swept keys start with world., clicks., "
            raise ConfigError(source, "sweep", problem + "simulation., variants. or shifts.")
        if not isinstance(values, list) or not values:
            raise ConfigError(source, "sweep", f"{key} must be a non-empty list, got {values!r}")
        sweep.append((key, tuple(values)))
    return tuple(sweep)
