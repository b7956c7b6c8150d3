"""From the sections of a TOML document to validated specs, with a one-line `ConfigError` for
each unknown key, wrong type or out-of-range value, naming where in the file it is.

Values are checked by the classes they become (their `__post_init__`, or the constructor of a
click model, policy or shift, built once here on a tiny probe world), so this module adds only
the position in the file to their messages, and the checks of keys (with a suggestion for a
typo). `experiments.experiment.parse` puts the sections together.

What no constructor can be trusted to catch is checked here, once for the whole document
(`check_document`: NaN, infinity outside a window, nesting too deep) and once per built object
(`build`: each value against the type hint of what it fills, see `experiments.hints`), and
every `ConfigError` is one line with long values cut. One parser per section keeps each short;
together they are a little over 350 lines, kept in one module so that every message is made
the same way.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from experiments.hints import misfit
from experiments.schema import (
    AutoSeeds,
    ClickSpec,
    PolicySpec,
    PresetSpec,
    Settings,
    ShiftSpec,
    Variant,
)
from policies.registry import POLICIES, WRAPPERS, Registration, RunContext
from simulator import CLICK_MODELS, ServedModel, SimulationConfig, World, WorldConfig, stream
from simulator.presets import PRESETS
from simulator.shifts import PROFILES, SHIFT_KINDS, check_kinds
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


SHOWN_CHARS = 80
"""Longest value (a quoted string, a bracketed list, a word) a message shows whole."""
LONGEST_MESSAGE = 1000
"""Longest message: what is left of a value nested too deep to cut is cut here."""
_VALUES = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\[[^\[\]]*\]|\([^()]*\)|\S+""")
MAX_DEPTH = 32
"""Deepest nesting of tables and lists a document may have: experiment files nest about 5
deep, and a deeper document would exhaust Python's recursion limit when copied or written."""
INFINITE_KEYS = ("window",)
"""Keys that may be infinite (a training window over all history); no other number may be,
and nothing may be NaN."""


def one_line(text: str) -> str:
    """`text` on one line with every value longer than `SHOWN_CHARS` cut (ending in "...")."""
    text = " ".join(text.split())

    def cut(match: re.Match[str]) -> str:
        value = match.group(0)
        return value if len(value) <= SHOWN_CHARS else value[:SHOWN_CHARS] + "..."

    text = _VALUES.sub(cut, text)
    return text if len(text) <= LONGEST_MESSAGE else text[:LONGEST_MESSAGE] + "..."


class ConfigError(ValueError):
    """A bad experiment file or override: `where` is the section or key, `problem` says why.

    The message is one line, whatever the file's name or the problem's text: control
    characters in the name are escaped, long values in the rest are cut.
    """

    def __init__(self, source: str, where: str | None, problem: str) -> None:
        self.source = "".join(c if c.isprintable() else repr(c)[1:-1] for c in source)
        self.where = None if where is None else one_line(where)
        self.problem = one_line(problem)
        super().__init__(f"{self.source}: {self.detail}")

    @property
    def detail(self) -> str:
        """The message without the file name."""
        return f"[{self.where}] {self.problem}" if self.where else self.problem


def check_keys(source: str, where: str, table: Mapping[str, Any], known: Sequence[str]) -> None:
    """Refuse a key of `table` that is not `known`, suggesting the closest known one."""
    for key in table:
        if key not in known:
            raise ConfigError(source, where, f"unknown key {key!r}{did_you_mean(key, known)}")


def check_document(source: str, document: Mapping[str, Any]) -> None:
    """Refuse a document nested deeper than `MAX_DEPTH`, a NaN anywhere, and an infinity
    anywhere but under `INFINITE_KEYS`: values no constructor may be trusted to catch (a
    policy parameter need not check for NaN, and NaN runs to completion with NaN metrics).
    """
    stack: list[tuple[tuple[str, ...], Any]] = [((), document)]
    while stack:
        path, value = stack.pop()
        if len(path) > MAX_DEPTH:
            where = ".".join(path[:3])
            raise ConfigError(source, path[0], f"{where}... is nested deeper than {MAX_DEPTH}")
        if isinstance(value, dict):
            stack.extend(((*path, str(key)), item) for key, item in value.items())
        elif isinstance(value, list | tuple):
            stack.extend(((*path, _element(item, i)), item) for i, item in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            where, key = _place(path)
            if math.isnan(value) or key.split(".")[-1] not in INFINITE_KEYS:
                raise ConfigError(source, where, f"{key} must be a finite number, got {value}")


def _element(item: Any, index: int) -> str:
    """A list element in a path: a table by its name, anything else by its index."""
    name = item.get("name") if isinstance(item, dict) else None
    return name if isinstance(name, str) and name else f"[{index}]"


def _place(path: tuple[str, ...]) -> tuple[str, str]:
    """Where a value at `path` (keys and list elements) is, as ConfigError's `where` (the
    section, with the variant or shift named) and the start of its problem (the key).
    """
    where, rest = path[0], [part for part in path[1:] if not part.startswith("[")]
    if where in ("variants", "shifts") and len(path) > 1 and not path[1].startswith("["):
        where, rest = f"{where}.{path[1]}", rest[1:]
    return where, ".".join(rest) or path[-1]


T = TypeVar("T")


def build(
    source: str,
    where: str,
    make: Callable[[], T],
    checks: Sequence[tuple[Mapping[str, Any], Callable[..., Any]]],
) -> T:
    """`make()`, which builds an object from a file's values; its `ValueError` becomes a
    `ConfigError`, and every value is held to the type hint of what it fills (each `checks`
    pair: values, and the function or dataclass taking them), so a wrong type is one line
    naming the key, also when the constructor let it through or failed on it otherwise.
    """
    try:
        made = make()
    except ValueError as error:
        raise ConfigError(source, where, str(error)) from None
    except Exception as error:
        problem = next(filter(None, (misfit(values, target) for values, target in checks)), None)
        raise ConfigError(source, where, problem or f"{type(error).__name__}: {error}") from None
    for values, target in checks:
        if (problem := misfit(values, target)) is not None:
            raise ConfigError(source, where, problem)
    return made


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
    return build(source, where, lambda: cls(**values, **fixed), [(values, cls)])


def parse_settings(source: str, table: Any, default_name: str) -> Settings:
    """The [experiment] section with its [experiment.auto] table; `name` defaults as given."""
    table = dict(_require_table(source, "experiment", table))
    auto = parse_dataclass(source, "experiment.auto", AutoSeeds, table.pop("auto", {}))
    table.setdefault("name", default_name)
    settings: Settings = parse_dataclass(source, "experiment", Settings, table, auto=auto)
    return settings


def parse_world(source: str, table: Any) -> tuple[WorldConfig, PresetSpec | None]:
    """The [world] section: a `WorldConfig`, started from the preset's when ``preset`` names
    one (its parameters in [world.preset_params]), every other key overriding it.
    """
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
    if not isinstance(name, str) or name not in CLICK_MODELS:
        problem = f"model must be one of {', '.join(map(repr, CLICK_MODELS))}, got {name!r}"
        raise ConfigError(source, "clicks", problem + did_you_mean(str(name), CLICK_MODELS))
    signature = inspect.signature(CLICK_MODELS[name])
    check_keys(source, "clicks", table, ["model", *signature.parameters])
    build(source, "clicks", lambda: CLICK_MODELS[name](**table), [(table, CLICK_MODELS[name])])
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
            raise ConfigError(source, where, f"each wrapper needs a name (a string), got {table!r}")
        wrappers.append((name, params))
    return tuple(wrappers)


def _hinted(entry: Callable[..., Any]) -> Callable[..., Any]:
    """What carries the type hints of a registry entry's parameters: a registration's class."""
    return entry.cls if isinstance(entry, Registration) else entry


@functools.cache
def _probe_world() -> World:
    """A tiny world to build policies on at load time: constructors check their arguments (and
    only store them), so a bad policy parameter is caught before any run starts.
    """
    config = WorldConfig(n_users=2, n_items=2, n_segments=1, n_topics=1)
    return World.generate(config, stream(0, "probe"))


def _served_model(
    source: str, where: str, table: dict[str, Any], default_name: str, probe: RunContext
) -> ServedModel[PolicySpec]:
    check_keys(source, where, table, MODEL_KEYS)
    if not isinstance(table.get("policy"), str):
        problem = f"policy (the name of a policy) is required, got {table.get('policy')!r}"
        raise ConfigError(source, where, problem)
    params = _require_table(source, f"{where}.params", table.get("params", {}))
    wrappers = _wrappers(source, where, table.get("wrappers", []))
    policy = PolicySpec(table["policy"], params, wrappers)
    rest = {k: v for k, v in table.items() if k not in ("policy", "params", "wrappers")}
    rest.setdefault("name", default_name)
    if isinstance(rest.get("segments"), list):
        rest["segments"] = tuple(rest["segments"])
    checks = [
        (params, _hinted(POLICIES.get(policy.name, _no_hints))),
        *((p, _hinted(WRAPPERS.get(name, _no_hints))) for name, p in wrappers),
        (rest, ServedModel),
    ]
    build(source, where, lambda: policy.build(probe), checks[:-1])
    served: ServedModel[PolicySpec] = build(
        source, where, lambda: ServedModel(policy=policy, **rest), checks[-1:]
    )
    return served


def _no_hints() -> None:
    """Stands for an unknown policy or wrapper, whose build fails with its own message."""


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
    simulation: SimulationConfig,
    clicks: ClickSpec,
    preset: PresetSpec | None = None,
) -> tuple[Variant, ...]:
    """The [[variants]] tables, uniquely named (whether their models serve each segment once
    is `simulator.check_setup`'s to say, with the world).
    """
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
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
        targets = (PROFILES.get(profile, _no_hints), SHIFT_KINDS.get(kind, _no_hints))
        build(source, where, spec.build, [(values, target) for target in targets])
        shifts.append(spec)
    try:
        check_kinds([spec.build() for spec in shifts])
    except ValueError as error:
        raise ConfigError(source, "shifts", str(error)) from None
    return tuple(shifts)


def parse_sweep(source: str, table: Any) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """The [sweep] table: each swept key (into a section other than [experiment]) and its
    values; whether the key names something is checked at each sweep point.
    """
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
