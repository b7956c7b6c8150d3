"""Specs back to TOML tables: the inverse of `experiments.parsing`, with every default filled in.

A resolved experiment file (``experiment.toml`` in an output folder) and each run's configuration
(which its run id hashes) are written from these tables, so they read like the file a user
would have written, and parsing one gives the same specs back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from experiments.schema import PolicySpec, ShiftSpec, Variant
from simulator import ServedModel

SHORT_FORM = {"name", "policy", "params", "wrappers"}
"""Keys of a variant with one plain model, written without a models list."""


def plain(value: Any) -> Any:
    """Dataclasses and mappings as dicts, tuples as lists, recursively; None has no TOML form,
    so it goes.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items() if v is not None}
    return value


def model_table(model: ServedModel[PolicySpec]) -> dict[str, Any]:
    """A served model as written in a models list: its policy flat beside its other keys."""
    rest = {f.name: getattr(model, f.name) for f in dataclasses.fields(model) if f.name != "policy"}
    table: dict[str, Any] = {"policy": model.policy.name, **plain(rest)}
    if model.policy.params:
        table["params"] = plain(model.policy.params)
    if model.policy.wrappers:
        table["wrappers"] = [
            {"name": name, **plain(params)} for name, params in model.policy.wrappers
        ]
    return table


def variant_table(variant: Variant) -> dict[str, Any]:
    """The short form (policy, params, wrappers) for one plain model, else a models list."""
    tables = [model_table(model) for model in variant.models]
    if len(tables) == 1 and tables[0]["name"] == "model" and set(tables[0]) <= SHORT_FORM:
        return {"name": variant.name} | {k: v for k, v in tables[0].items() if k != "name"}
    return {"name": variant.name, "models": tables}


def shift_table(shift: ShiftSpec) -> dict[str, Any]:
    """A shift as written in a [[shifts]] table: its parameters flat beside kind and profile."""
    return {
        "name": shift.name,
        "kind": shift.kind,
        "profile": shift.profile,
        **plain(shift.params),
    }
