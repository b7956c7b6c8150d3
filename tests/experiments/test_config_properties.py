"""Property: whatever value any key of an experiment file holds, `load_experiment` returns a
valid experiment (whose resolved document reloads to it) or raises a one-line `ConfigError`
naming the key; never another exception.

The keys come from the schema: the fields of the dataclasses each section becomes, the
parameters of click models, policy and wrapper factories, shift profiles and kinds, and the
swept form of every world and simulation key. The values are wrong types, NaN and infinity,
and extreme and boundary numbers.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiments import AutoSeeds, ConfigError, Settings, load_experiment
from experiments.experiment import parse
from policies import POLICIES, WRAPPERS
from simulator import CLICK_MODELS, ServedModel, SimulationConfig, WorldConfig
from simulator.shifts import PROFILES, SHIFT_KINDS

BASE: dict[str, Any] = {
    "experiment": {"seeds": 2, "final_window": 2, "auto": {}},
    "world": {"n_users": 60, "n_items": 30, "n_segments": 2},
    "clicks": {"model": "pbm"},
    "simulation": {"days": 4},
    "variants": [
        {"name": "pop", "policy": "popularity", "params": {"window": 2.0}},
        {
            "name": "split",
            "models": [
                {
                    "name": "a",
                    "policy": "ucb",
                    "params": {},
                    "wrappers": [{"name": "epsilon_greedy", "epsilon": 0.1}],
                    "segments": [0],
                    "retrain_every": 1.0,
                },
                {"name": "b", "policy": "random", "segments": [1], "window": 3.0},
            ],
        },
    ],
    "shifts": [
        {"kind": "covariate", "profile": "abrupt", "at": 2, "arrival_shares": [0.5, 0.5]},
        {"kind": "label", "profile": "gradual", "start": 1, "end": 3, "click_rate_factor": 2.0},
        {"kind": "concept", "profile": "periodic", "period": 2.0},
    ],
    "sweep": {},
}


def _fields(cls: type, *skip: str) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.name not in skip]


def _parameters(function: Callable[..., Any], n_positional: int) -> list[str]:
    return list(inspect.signature(function).parameters)[n_positional:]


def _keys() -> list[tuple[Any, ...]]:
    """Every place a value can go in `BASE`, derived from the schema."""
    keys: list[tuple[Any, ...]] = [("experiment", k) for k in _fields(Settings, "auto")]
    keys += [("experiment", "auto", k) for k in _fields(AutoSeeds)]
    keys += [("world", k) for k in _fields(WorldConfig)]
    keys += [("simulation", k) for k in _fields(SimulationConfig)]
    keys += [("clicks", "model")]
    keys += [("clicks", k) for model in CLICK_MODELS.values() for k in _parameters(model, 0)]
    keys += [("variants", 0, k) for k in ("name", "policy", "params", "wrappers")]
    keys += [("variants", 0, "params", k) for k in _parameters(POLICIES["popularity"], 1)]
    keys += [("variants", 1, "models")]
    for i, model in enumerate(BASE["variants"][1]["models"]):
        where = ("variants", 1, "models", i)
        keys += [(*where, k) for k in ("policy", "params", "wrappers", *_fields(ServedModel))]
        keys += [(*where, "params", k) for k in _parameters(POLICIES[model["policy"]], 1)]
        for j, wrapper in enumerate(model.get("wrappers", [])):
            wrap = WRAPPERS[wrapper["name"]]
            keys += [(*where, "wrappers", j, k) for k in ("name", *_parameters(wrap, 2))]
    for i, shift in enumerate(BASE["shifts"]):
        kind, profile = SHIFT_KINDS[shift["kind"]], PROFILES[shift["profile"]]
        names = ("kind", "profile", "name", *_fields(profile), *_fields(kind, "profile"))
        keys += [("shifts", i, k) for k in names]
    keys += [("sweep", f"world.{k}") for k in _fields(WorldConfig)]
    keys += [("sweep", f"simulation.{k}") for k in _fields(SimulationConfig)]
    return keys


KEYS = _keys()
SCALARS = st.one_of(
    st.sampled_from(
        [
            math.nan,
            math.inf,
            -math.inf,
            0,
            1,
            -1,
            2,
            0.0,
            -0.0,
            0.5,
            1e-300,
            1e300,
            2**63 - 1,
            -(2**63),
            2**31,
            True,
            False,
            "",
            "auto",
            "pbm",
            "random",
            "../x",
            "x" * 200,
        ]
    ),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
VALUES = st.one_of(
    SCALARS,
    st.lists(SCALARS, max_size=6),
    st.dictionaries(st.text(min_size=1, max_size=6), SCALARS, max_size=3),
    st.lists(st.lists(SCALARS, max_size=2), max_size=2),
)
CROSS_KEY = (
    "live catalog",
    "mean label delay",
    "exactly once",
    "a run needs about",
    "runs (variants x sweep points x seeds)",
    "must not exceed simulation.days",
    "one share per segment",
    "concept drift",
    "one per segment",
    "serving tick",
    "baseline",
    "has no element named",
    "needs examination",
)
"""Checks of one key against another: their message names the key they blame, which need not
be the one changed."""


def _place(document: dict[str, Any], key: tuple[Any, ...], value: Any) -> None:
    if key[0] == "sweep" and not isinstance(value, list) and len(str(value)) % 2:
        value = [value]  # half the swept values as a one-point list: reach the sweep point
    node: Any = document
    try:
        for part in key[:-1]:
            node = node[part]
        node[key[-1]] = value
    except (KeyError, IndexError, TypeError):
        pass  # an earlier change replaced a table on the way


def _names(message: str, key: tuple[Any, ...], value: Any) -> bool:
    """Whether `message` names `key` (or, for a wrapper's name, the wrapper), or a key of the
    table `value` put there, or is a check of one key against another."""
    table = value if isinstance(value, dict) else {}
    parent = next(str(part) for part in reversed(key[:-1]) if isinstance(part, str))
    names = [str(key[-1]).split(".")[-1], parent.rstrip("s"), *map(repr, table)]
    return any(name in message for name in names) or any(part in message for part in CROSS_KEY)


def test_the_base_document_is_valid_and_every_key_is_reached() -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "exp.toml"
        path.write_text(tomli_w.dumps(BASE), encoding="utf-8")
        experiment = load_experiment(path)
    assert [v.name for v in experiment.variants] == ["pop", "split"]
    assert len(KEYS) > 100


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(st.tuples(st.sampled_from(KEYS), VALUES), min_size=1, max_size=2))
def test_any_value_of_any_key_loads_or_is_one_line_naming_it(
    changes: list[tuple[tuple[Any, ...], Any]],
) -> None:
    document = copy.deepcopy(BASE)
    for key, value in changes:
        _place(document, key, value)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "exp.toml"
        path.write_text(tomli_w.dumps(document), encoding="utf-8")
        try:
            experiment = load_experiment(path)
        except ConfigError as error:
            message = str(error)
            assert "\n" not in message and message.startswith(f"{path}: ")
            assert len(message) < 1200
            assert any(_names(message, key, value) for key, value in changes), message
            return
    assert parse(experiment.resolved(), experiment.source) == experiment
    tomli_w.dumps(experiment.resolved())


def _dotted(key: tuple[Any, ...]) -> str:
    """`key` as a ``--set`` key: list elements by name (a shift without one by its kind)."""
    parts, node = [], BASE
    for part in key:
        if isinstance(part, int):
            element = node[part]
            parts.append(element.get("name", element.get("kind")))
        else:
            parts.append(f'"{part}"' if "." in part else part)
        node = node[part] if isinstance(part, int) else node.get(part, {})
    return ".".join(parts)


def _toml(value: Any) -> str:
    return tomli_w.dumps({"v": value}).partition("=")[2].strip()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    key=st.sampled_from([k for k in KEYS if k[0] != "sweep"]),
    text=st.one_of(VALUES.map(_toml), st.text(max_size=20)),
)
def test_any_override_loads_or_is_one_line_naming_it(key: tuple[Any, ...], text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "exp.toml"
        path.write_text(tomli_w.dumps(BASE), encoding="utf-8")
        override = f"{_dotted(key)}={text}"
        try:
            load_experiment(path, [override])
        except ConfigError as error:
            message = str(error)
            assert "\n" not in message and message.startswith(f"{path}: ")
            assert _names(message, key, None), message
