"""An experiment as a whole: read from a TOML file with overrides, validated into an
`Experiment`, taken at each sweep point, and written back resolved.

The file's sections, and the dataclass each becomes (where every key's default lives)::

    [experiment]        `experiments.schema.Settings` (seeds, final_window, metrics, ...)
    [experiment.auto]   `experiments.schema.AutoSeeds`: the stopping rule of ``seeds = "auto"``
    [world]             `simulator.WorldConfig` (defaults: the standard world, or with
                        preset = a key of `simulator.presets.PRESETS`, that preset's world,
                        its parameters in [world.preset_params])
    [clicks]            model = a key of `simulator.CLICK_MODELS` ("pbm"), plus that model's
                        constructor arguments (for PBM: eta = 1.0)
    [simulation]        `simulator.SimulationConfig`
    [[variants]]        name (required), policy (a key of `policies.POLICIES`, required),
                        params = {...} for the policy, wrappers = [{name = "...", ...}, ...];
                        or, for several models side by side, models = [{...}, ...] where each
                        model has those keys and the other fields of `simulator.ServedModel`
    [[shifts]]          kind = "covariate" | "label" | "concept", profile = "abrupt" |
                        "gradual" | "periodic", their parameters (see `simulator.shifts`),
                        and an optional name (default: the kind)
    [sweep]             "section.key" = [value, ...]: a grid over any key above except
                        [experiment]; select a variant, model or wrapper by its name, as in
                        "variants.popular.params.window"

An unknown key, a wrong type or an out-of-range value raises `ConfigError`, whose message is one
line naming the file, where in it, and the problem. `--set key=value` overrides use the same
dotted keys as the sweep, with values in TOML syntax (`experiments.overrides`).
"""

from __future__ import annotations

import copy
import itertools
import math
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from experiments.overrides import parse_override, set_key
from experiments.parsing import (
    SECTIONS,
    ConfigError,
    check_document,
    check_keys,
    parse_clicks,
    parse_dataclass,
    parse_settings,
    parse_shifts,
    parse_sweep,
    parse_variants,
    parse_world,
)
from experiments.resources import check_fits, check_run_count
from experiments.schema import ClickSpec, PresetSpec, Settings, ShiftSpec, Variant
from experiments.toml_form import plain, shift_table, variant_table
from simulator import SimulationConfig, WorldConfig
from simulator.simulation import check_setup
from simulator.validation import did_you_mean


@dataclass(frozen=True)
class Experiment:
    """A validated experiment. `document` is the TOML document it was read from, overrides
    applied; `sweep` maps each swept key to its values.
    """

    source: str
    settings: Settings
    world: WorldConfig
    clicks: ClickSpec
    simulation: SimulationConfig
    variants: tuple[Variant, ...]
    sweep: tuple[tuple[str, tuple[Any, ...]], ...]
    document: Mapping[str, Any] = field(repr=False, compare=False)
    shifts: tuple[ShiftSpec, ...] = ()
    preset: PresetSpec | None = None

    @property
    def name(self) -> str:
        """The experiment's name (`Settings.name`, the file's stem by default)."""
        return self.settings.name

    @property
    def swept_keys(self) -> tuple[str, ...]:
        """The dotted keys of the sweep, in the order of the [sweep] table."""
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
            "experiment": plain(self.settings),
            "world": plain(self.world) | _preset_keys(self.preset),
            "clicks": {"model": self.clicks.model, **self.clicks.params},
            "simulation": plain(self.simulation),
            "variants": [variant_table(v) for v in self.variants],
            "shifts": [shift_table(s) for s in self.shifts],
            "sweep": {key: list(values) for key, values in self.sweep},
        }


def _preset_keys(preset: PresetSpec | None) -> dict[str, Any]:
    """The [world] keys that name a preset (none for the standard world)."""
    if preset is None:
        return {}
    return {"preset": preset.name, "preset_params": dict(preset.params)}


def _toml(value: Any) -> str:
    return repr(value) if not isinstance(value, str) else f'"{value}"'


def parse(document: Mapping[str, Any], source: str) -> Experiment:
    """Validate a TOML document (a dict) into an `Experiment`; `source` names it in errors."""
    check_keys(source, "top level", document, SECTIONS)
    check_document(source, document)
    settings = parse_settings(source, document.get("experiment", {}), Path(source).stem)
    world, preset = parse_world(source, document.get("world", {}))
    simulation = parse_dataclass(
        source, "simulation", SimulationConfig, document.get("simulation", {})
    )
    if settings.final_window > simulation.days:
        problem = f"final_window ({settings.final_window}) must not exceed simulation.days"
        raise ConfigError(source, "experiment", f"{problem} ({simulation.days})")
    clicks = parse_clicks(source, document.get("clicks", {}))
    variants = parse_variants(source, document.get("variants"), simulation, clicks, preset)
    names = [v.name for v in variants]
    if settings.baseline and settings.baseline not in names:
        problem = f"baseline must name a variant, got {settings.baseline!r}"
        raise ConfigError(source, "experiment", problem + did_you_mean(settings.baseline, names))
    experiment = Experiment(
        source=source,
        settings=settings,
        world=world,
        clicks=clicks,
        simulation=simulation,
        variants=variants,
        sweep=parse_sweep(source, document.get("sweep", {})),
        document=document,
        shifts=parse_shifts(source, document.get("shifts", [])),
        preset=preset,
    )
    _check_runs(experiment)
    return experiment


def _check_runs(experiment: Experiment) -> None:
    """What the simulator would refuse when a run starts (`simulator.simulation.check_setup`
    and each shift's `check_world`), a run the machine cannot hold, and more runs than a sweep
    may plan: all before any run starts or any file is written.
    """
    source, settings = experiment.source, experiment.settings
    for spec in experiment.shifts:
        try:
            spec.build().check_world(experiment.world)
        except ValueError as error:
            raise ConfigError(source, f"shifts.{spec.name}", str(error)) from None
    for variant in experiment.variants:
        try:
            check_setup(experiment.simulation, experiment.world, variant.models)
        except ValueError as error:
            raise ConfigError(source, f"variants.{variant.name}", str(error)) from None
    n_seeds = settings.auto.max_seeds if settings.seeds == "auto" else int(settings.seeds)
    n_points = math.prod(len(values) for _, values in experiment.sweep)
    try:
        check_run_count(len(experiment.variants) * n_points * n_seeds)
        check_fits(experiment.world, experiment.simulation)
    except ValueError as error:
        raise ConfigError(source, None, str(error)) from None


def load_experiment(
    path: str | Path, overrides: Sequence[str] = (), seeds: int | str | None = None
) -> Experiment:
    """Read, override and validate an experiment file; every sweep point is validated too.

    `overrides` are ``key=value`` strings (the CLI's ``--set``); `seeds` replaces
    ``experiment.seeds`` (the CLI's ``--seeds``).

    Examples
    --------
    The shipped ``quick`` experiment, made smaller still from the command-line language:

    >>> from pathlib import Path
    >>> import experiments
    >>> from experiments import load_experiment
    >>> quick = Path(experiments.__file__).parent / "configs" / "quick.toml"
    >>> experiment = load_experiment(quick, ["simulation.days=3", "world.n_users=100"], seeds=1)
    >>> experiment.name, experiment.simulation.days, experiment.world.n_users
    ('quick', 3, 100)
    >>> [variant.name for variant in experiment.variants]
    ['popularity', 'random', 'oracle']

    A bad value fails at load, in one line naming the field:

    >>> load_experiment(quick, ["simulation.days=0"])
    Traceback (most recent call last):
    ...
    experiments.parsing.ConfigError: ...[simulation] days must be an integer >= 1, got 0
    """
    source = str(path)
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(source, None, f"cannot read: {error.strerror or error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(source, None, f"invalid TOML: {error}") from None
    except RecursionError:
        raise ConfigError(source, None, "invalid TOML: nested too deeply") from None
    experiment = parse(document, source)
    try:
        changes = [parse_override(text) for text in overrides]
    except ValueError as error:
        raise ConfigError(source, "--set", str(error)) from None
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
