"""The override language shared by ``--set key=value`` and [sweep]: dotted keys into a TOML
document, values in TOML syntax.

A key is dotted as in TOML (parts may be quoted: ``sweep."world.n_users"``). In an array of
tables (variants, models, wrappers, shifts) the next part names an element, so
``variants.popular.params.window`` reaches the variant named "popular" wherever it stands.
A table value is merged into the table already there, key by key, so a swept ``world`` table
(one sweep point = several world keys at once) keeps the file's and ``--set``'s other keys.
"""

from __future__ import annotations

import tomllib
from typing import Any

from simulator.validation import did_you_mean


def _key_parts(key: str) -> list[str]:
    try:
        node: Any = tomllib.loads(f"{key} = 0")
    except (tomllib.TOMLDecodeError, RecursionError):
        raise KeyError(f"{key!r} is not a dotted key") from None
    parts = []
    while isinstance(node, dict):
        ((part, node),) = node.items()
        parts.append(part)
    return parts


def set_key(document: dict[str, Any], key: str, value: Any) -> None:
    """Set dotted `key` in `document`, creating tables on the way; a `KeyError` says which part
    of the key names nothing.
    """
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
    _merge(node, parts[-1], value)


def _merge(table: dict[str, Any], key: str, value: Any) -> None:
    """Set `key` of `table` to `value`, merging a table value into a table already there."""
    old = table.get(key)
    if isinstance(old, dict) and isinstance(value, dict):
        for inner, inner_value in value.items():
            _merge(old, inner, inner_value)
    else:
        table[key] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` with the value in TOML syntax; a value that is not TOML is a string."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"override must look like key=value, got {text!r}")
    try:
        value = tomllib.loads(f"value = {raw.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()
    except RecursionError:
        raise ValueError(f"the value of {key.strip()} is nested too deeply") from None
    return key.strip(), value
