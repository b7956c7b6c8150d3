"""Argument checks that fail with one line naming the parameter and the offending value."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import Any


def _values(value: Any) -> Sequence[Any]:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def require_number(name: str, value: Any) -> None:
    for item in _values(value):
        if not _is_number(item):
            raise ValueError(f"{name} must be a number, got {value!r}")


def require_int(name: str, value: Any, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def require_positive(name: str, value: Any) -> None:
    require_number(name, value)
    if any(item <= 0 for item in _values(value)):
        raise ValueError(f"{name} must be > 0, got {value!r}")


def require_non_negative(name: str, value: Any) -> None:
    require_number(name, value)
    if any(item < 0 for item in _values(value)):
        raise ValueError(f"{name} must be >= 0, got {value!r}")


def require_probability(name: str, value: Any) -> None:
    require_number(name, value)
    if any(not 0.0 <= item <= 1.0 for item in _values(value)):
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")


def require_choice(name: str, value: Any, choices: Iterable[str]) -> None:
    options = tuple(choices)
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, got {value!r}")


def require_per_segment(name: str, value: Any, n_segments: int) -> None:
    """A per-segment setting is a scalar (shared) or a sequence of exactly one per segment."""
    if isinstance(value, list | tuple) and len(value) != n_segments:
        raise ValueError(
            f"{name} must be a number or a list of {n_segments} (one per segment), got {value!r}"
        )


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """A " (did you mean 'x'?)" hint naming the closest option, or "" when none is close."""
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
