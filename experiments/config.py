"""Experiments as TOML files: read, validate and resolve them into frozen, typed objects.

The schema, section by section; every key is optional unless marked, and its default lives in
exactly one place, the dataclass named here::

    [experiment]        fields of `Settings` (seeds, final_window, metrics, ...)
    [experiment.auto]   fields of `AutoSeeds`: the stopping rule of ``seeds = "auto"``
    [world]             fields of `simulator.WorldConfig` (defaults: the standard world)
    [clicks]            model = a key of `simulator.CLICK_MODELS` ("pbm"), plus that model's
                        constructor arguments (for PBM: eta = 1.0)
    [simulation]        fields of `simulator.SimulationConfig`
    [[variants]]        name (required), policy (a key of `policies.POLICIES`, required),
                        params = {...} for the policy, wrappers = [{name = "...", ...}, ...];
                        or, for several models side by side, models = [{...}, ...] where each
                        model has the keys of `ModelSpec`
    [[shifts]]          kind = "covariate" | "label" | "concept", profile = "abrupt" |
                        "gradual" | "periodic", their parameters (see `simulator.shifts`),
                        and an optional name (default: the kind)
    [sweep]             "section.key" = [value, ...]: a grid over any key above except
                        [experiment]; select a variant, model or wrapper by its name, as in
                        "variants.popular.params.window"

An unknown key, a wrong type or an out-of-range value raises `ConfigError`, whose message is one
line naming the file, where in it, and the problem. `--set key=value` overrides use the same
dotted keys as the sweep, with values in TOML syntax.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import itertools
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policies.registry import RunContext, make_policy
from simulator.click_models import CLICK_MODELS, ClickModel
from simulator.metrics import DAILY_METRICS
from simulator.seeding import stream
from simulator.shifts import Shift, check_kinds, make_shift
from simulator.simulation import RECORDED_METRICS, SimulationConfig
from simulator.validation import (
    did_you_mean,
    require_choice,
    require_int,
    require_non_negative,
    require_positive,
)
from simulator.world import World, WorldConfig

SECTIONS = ("experiment", "world", "clicks", "simulation", "variants", "shifts", "sweep")
SHOWN_METRICS = ("ctr", "utility", "regret", "coverage", "exposure_gini", "popularity_bias")


class ConfigError(ValueError):
    """A bad experiment file or override: `where` is the section or key, `problem` says why."""

    def __init__(self, source: str, where: str | None, problem: str) -> None:
        self.source, self.where, self.problem = source, where, problem
        super().__init__(f"{source}: {self.detail}")

    @property
    def detail(self) -> str:
        """The message without the file name."""
        return f"[{self.where}] {self.problem}" if self.where else self.problem


@dataclass(frozen=True)
class AutoSeeds:
    """With ``seeds = "auto"``, each variant (at each sweep point) starts with `min_seeds` seeds
    and gets `step` more at a time until the 95% confidence half-width of `metric` (the final
    window's mean, all segments) is at most `tolerance`, or it has `max_seeds` seeds."""

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

    name: str = ""
    """Defaults to the file's stem."""
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
        if self.seeds != "auto":
            require_int("seeds", self.seeds, 1)
        require_int("first_seed", self.first_seed, 0)
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
        model: ClickModel = CLICK_MODELS[self.model](**self.params)
        return model


@dataclass(frozen=True)
class ModelSpec:
    """One model of a variant: a registered policy, its parameters and wrappers, the segments it
    serves (all when omitted) and its own retraining cadence (the simulation's when omitted)."""

    policy: str
    params: Mapping[str, Any] = field(default_factory=dict)
    wrappers: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    name: str = "model"
    segments: tuple[int, ...] | None = None
    retrain_every: float | None = None
    window: float | None = None
    training_days: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        if self.segments is not None:
            for segment in self.segments:
                require_int("segments", segment, 0)
        for key in ("retrain_every", "window"):
            if getattr(self, key) is not None:
                require_positive(key, getattr(self, key))
        if self.training_days is not None:
            require_non_negative("training_days", self.training_days)


MODEL_KEYS = [f.name for f in dataclasses.fields(ModelSpec)]
SHORT_FORM = {"name", "policy", "params", "wrappers"}
"""Keys of a variant with one plain model, written without a models list."""


@dataclass(frozen=True)
class ShiftSpec:
    """A shift schedule by kind and profile with its parameters (`simulator.shifts.make_shift`)."""

    name: str
    kind: str
    profile: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> Shift:
        return make_shift(self.kind, self.profile, **self.params)


@dataclass(frozen=True)
class Variant:
    """A named way of serving: one model for everybody, or several side by side."""

    name: str
    models: tuple[ModelSpec, ...]


@dataclass(frozen=True)
class Experiment:
    """A validated experiment. `document` is the TOML document it was read from, overrides
    applied; `sweep` maps each swept key to its values."""

    source: str
    settings: Settings
    world: WorldConfig
    clicks: ClickSpec
    simulation: SimulationConfig
    variants: tuple[Variant, ...]
    sweep: tuple[tuple[str, tuple[Any, ...]], ...]
    document: Mapping[str, Any] = field(repr=False, compare=False)
    shifts: tuple[ShiftSpec, ...] = ()

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def swept_keys(self) -> tuple[str, ...]:
        return tuple(key for key, _ in self.sweep)

    def points(self) -> Iterator[tuple[tuple[str, Any], ...]]:
        """Every combination of swept values, as ((key, value), ...); one empty one if none."""
        for values in itertools.product(*(values for _, values in self.sweep)):
            yield tuple(zip(self.swept_keys, values, strict=True))

    def at(self, point: Sequence[tuple[str, Any]]) -> Experiment:
        """The experiment with the swept keys set to one point's values, and no sweep."""
        document = copy.deepcopy(dict(self.document))
        document.pop("sweep", None)
        where = ", ".join(f"{key} = {_toml(value)}" for key, value in point)
        try:
            for key, value in point:
                set_key(document, key, value)
            return parse(document, self.source)
        except KeyError as error:
            raise ConfigError(self.source, "sweep", f"{where}: {error.args[0]}") from None
        except ConfigError as error:
            raise ConfigError(self.source, "sweep", f"{where}: {error.detail}") from None

    def resolved(self) -> dict[str, Any]:
        """The whole experiment as a TOML-ready document with every default filled in."""
        return {
            "experiment": _table(self.settings),
            "world": _table(self.world),
            "clicks": {"model": self.clicks.model, **self.clicks.params},
            "simulation": _table(self.simulation),
            "variants": [variant_table(v) for v in self.variants],
            "shifts": [shift_table(s) for s in self.shifts],
            "sweep": {key: list(values) for key, values in self.sweep},
        }


def _toml(value: Any) -> str:
    return repr(value) if not isinstance(value, str) else f'"{value}"'


def _plain(value: Any) -> Any:
    """Tuples as lists, mappings and nested configs as dicts, recursively; None has no TOML
    form, so it goes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    return value


def _table(obj: Any) -> dict[str, Any]:
    result: dict[str, Any] = _plain({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)})
    if isinstance(obj, Settings):
        result["auto"] = _table(obj.auto)
    return result


def _model_table(model: ModelSpec) -> dict[str, Any]:
    table = {k: v for k, v in _table(model).items() if k not in ("params", "wrappers")}
    if model.params:
        table["params"] = _plain(model.params)
    if model.wrappers:
        table["wrappers"] = [{"name": name, **_plain(params)} for name, params in model.wrappers]
    return table


def variant_table(variant: Variant) -> dict[str, Any]:
    """The short form (policy, params, wrappers) for one plain model, else a models list."""
    tables = [_model_table(model) for model in variant.models]
    if len(tables) == 1 and tables[0]["name"] == "model" and set(tables[0]) <= SHORT_FORM:
        return {"name": variant.name} | {k: v for k, v in tables[0].items() if k != "name"}
    return {"name": variant.name, "models": tables}


def shift_table(shift: ShiftSpec) -> dict[str, Any]:
    return {
        "name": shift.name,
        "kind": shift.kind,
        "profile": shift.profile,
        **_plain(shift.params),
    }


# --------------------------------------------------------------------------- keys
def _key_parts(key: str) -> list[str]:
    try:
        node: Any = tomllib.loads(f"{key} = 0")
    except tomllib.TOMLDecodeError:
        raise KeyError(f"{key!r} is not a dotted key") from None
    parts = []
    while isinstance(node, dict):
        ((part, node),) = node.items()
        parts.append(part)
    return parts


def set_key(document: dict[str, Any], key: str, value: Any) -> None:
    """Set dotted `key` in `document`, creating tables on the way; in an array of tables
    (variants, models, wrappers) the next part of the key is an element's name. Parts may be
    quoted as in TOML: ``sweep."world.n_users"``."""
    parts = _key_parts(key)
    node: Any = document
    for depth, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            # an element is named by its name, or a shift without one by its kind
            names = [str(t.get("name", t.get("kind"))) for t in node if isinstance(t, dict)]
            if part not in names:
                where = ".".join(parts[:depth])
                raise KeyError(f"{where} has no element named {part!r}{did_you_mean(part, names)}")
            node = node[names.index(part)]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            raise KeyError(f"{'.'.join(parts[: depth + 1])} is not a table")
    if not isinstance(node, dict):
        raise KeyError(f"{key} does not name a key of a table")
    node[parts[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` with the value in TOML syntax; a value that is not TOML is a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"override must look like key=value, got {text!r}")
    try:
        value = tomllib.loads(f"value = {raw.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    return key.strip(), value


# --------------------------------------------------------------------------- parsing
def _check_keys(source: str, where: str, table: Mapping[str, Any], known: Sequence[str]) -> None:
    for key in table:
        if key not in known:
            raise ConfigError(source, where, f"unknown key {key!r}{did_you_mean(key, known)}")


def _require_table(source: str, where: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(source, where, f"must be a table, got {value!r}")
    return value


def _dataclass_from(source: str, where: str, cls: type, table: Any, **fixed: Any) -> Any:
    """Build dataclass `cls` from a TOML table: unknown keys and bad values become ConfigError."""
    table = _require_table(source, where, table)
    names = [f.name for f in dataclasses.fields(cls) if f.name not in fixed]
    _check_keys(source, where, table, names)
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in table.items()}
    try:
        return cls(**values, **fixed)
    except ValueError as error:
        raise ConfigError(source, where, str(error)) from None


def _clicks(source: str, table: Any) -> ClickSpec:
    table = dict(_require_table(source, "clicks", table))
    name = table.pop("model", "pbm")
    if name not in CLICK_MODELS:
        problem = f"model must be one of {', '.join(map(repr, CLICK_MODELS))}, got {name!r}"
        raise ConfigError(source, "clicks", problem + did_you_mean(str(name), CLICK_MODELS))
    signature = inspect.signature(CLICK_MODELS[name])
    _check_keys(source, "clicks", table, ["model", *signature.parameters])
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


def _model(
    source: str, where: str, table: dict[str, Any], default_name: str, probe: RunContext
) -> ModelSpec:
    _check_keys(source, where, table, MODEL_KEYS)
    if "policy" not in table:
        raise ConfigError(source, where, "policy is required")
    params = _require_table(source, f"{where}.params", table.get("params", {}))
    wrappers = _wrappers(source, where, table.get("wrappers", []))
    try:
        make_policy(table["policy"], probe, wrappers, **params)
    except ValueError as error:
        raise ConfigError(source, where, str(error)) from None
    rest = {k: v for k, v in table.items() if k not in ("policy", "params", "wrappers")}
    rest.setdefault("name", default_name)
    if isinstance(rest.get("segments"), list):
        rest["segments"] = tuple(rest["segments"])
    try:
        return ModelSpec(policy=table["policy"], params=params, wrappers=wrappers, **rest)
    except ValueError as error:
        raise ConfigError(source, where, str(error)) from None


def _variant(source: str, index: int, table: Any, probe: RunContext) -> Variant:
    table = _require_table(source, f"variants[{index}]", table)
    name = table.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(source, f"variants[{index}]", f"name must be a string, got {name!r}")
    where = f"variants.{name}"
    if "models" in table:
        _check_keys(source, where, table, ["name", "models"])
        tables = table["models"]
        if not isinstance(tables, list) or not tables:
            raise ConfigError(source, where, f"models must be a list of tables, got {tables!r}")
        models = tuple(
            _model(
                source, f"{where}.models[{i}]", _require_table(source, where, t), f"model{i}", probe
            )
            for i, t in enumerate(tables)
        )
    else:
        _check_keys(source, where, table, ["name", "models", "policy", "params", "wrappers"])
        rest = {k: v for k, v in table.items() if k != "name"}
        models = (_model(source, where, rest, "model", probe),)
    return Variant(name=name, models=models)


def _check_models(source: str, variant: Variant, n_segments: int) -> None:
    """Together a variant's models must serve each segment exactly once, with unique names."""
    where = f"variants.{variant.name}"
    names = [m.name for m in variant.models]
    if len(set(names)) != len(names):
        raise ConfigError(source, where, f"model names must be unique, got {names}")
    covered = sorted(s for m in variant.models for s in (m.segments or range(n_segments)))
    if covered != list(range(n_segments)):
        problem = f"models must serve each of the {n_segments} segments exactly once, got {covered}"
        raise ConfigError(source, where, problem)


def _shifts(source: str, tables: Any) -> tuple[ShiftSpec, ...]:
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


def _sweep(source: str, table: Any) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    table = _require_table(source, "sweep", table)
    sweep = []
    for key, values in table.items():
        if key.split(".")[0] not in SECTIONS[1:-1]:
            problem = f"cannot sweep over {key!r}: swept keys start with world., clicks., "
            raise ConfigError(source, "sweep", problem + "simulation., variants. or shifts.")
        if not isinstance(values, list) or not values:
            raise ConfigError(source, "sweep", f"{key} must be a non-empty list, got {values!r}")
        sweep.append((key, tuple(values)))
    return tuple(sweep)


def parse(document: Mapping[str, Any], source: str) -> Experiment:
    """Validate a TOML document (a dict) into an `Experiment`; `source` names it in errors."""
    _check_keys(source, "top level", document, SECTIONS)
    name = Path(source).stem
    settings_table = dict(_require_table(source, "experiment", document.get("experiment", {})))
    auto = _dataclass_from(source, "experiment.auto", AutoSeeds, settings_table.pop("auto", {}))
    settings_table.setdefault("name", name)
    settings = _dataclass_from(source, "experiment", Settings, settings_table, auto=auto)
    world = _dataclass_from(source, "world", WorldConfig, document.get("world", {}))
    simulation = _dataclass_from(
        source, "simulation", SimulationConfig, document.get("simulation", {})
    )
    if settings.final_window > simulation.days:
        problem = f"final_window ({settings.final_window}) must not exceed simulation.days"
        raise ConfigError(source, "experiment", f"{problem} ({simulation.days})")
    tables = document.get("variants")
    if not isinstance(tables, list) or not tables:
        raise ConfigError(source, "variants", "at least one [[variants]] table is required")
    clicks = _clicks(source, document.get("clicks", {}))
    probe = RunContext(_probe_world(), simulation.slate_size, clicks.build())
    variants = tuple(_variant(source, i, t, probe) for i, t in enumerate(tables))
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ConfigError(source, "variants", f"variant names must be unique, got {names}")
    if settings.baseline and settings.baseline not in names:
        problem = f"baseline must name a variant, got {settings.baseline!r}"
        raise ConfigError(source, "experiment", problem + did_you_mean(settings.baseline, names))
    for variant in variants:
        _check_models(source, variant, world.n_segments)
    return Experiment(
        source=source,
        settings=settings,
        world=world,
        clicks=clicks,
        simulation=simulation,
        variants=variants,
        sweep=_sweep(source, document.get("sweep", {})),
        document=document,
        shifts=_shifts(source, document.get("shifts", [])),
    )


def load_experiment(
    path: str | Path, overrides: Sequence[str] = (), seeds: int | str | None = None
) -> Experiment:
    """Read, override and validate an experiment file; every sweep point is validated too.

    `overrides` are ``key=value`` strings (the CLI's ``--set``); `seeds` replaces
    ``experiment.seeds`` (the CLI's ``--seeds``).
    """
    source = str(path)
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(source, None, f"cannot read: {error.strerror or error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(source, None, f"invalid TOML: {error}") from None
    experiment = parse(document, source)
    changes = [parse_override(text) for text in overrides]
    if seeds is not None:
        changes.append(("experiment.seeds", seeds))
    for key, value in changes:
        try:
            set_key(document, key, value)
        except KeyError as error:
            raise ConfigError(source, f"--set {key}", error.args[0]) from None
    if changes:
        try:
            experiment = parse(document, source)
        except ConfigError as error:
            raise ConfigError(source, "--set", error.detail) from None
    for point in experiment.points():
        experiment.at(point)
    return experiment
