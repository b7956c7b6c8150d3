"""Argument checks that fail with one line naming the parameter and the offending value.

A number is a Python or NumPy integer or float (not a bool) and finite: NaN and infinity are
refused, because they run to completion with NaN metrics or fail deep inside NumPy. Only a
training window may be infinite (``infinite=True``: train on all history). Values are shown
cut to `SHOWN_CHARS` characters so that a message stays one readable line.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

SHOWN_CHARS = 80
"""Longest shown value in a message; longer ones are cut and end in "..."."""


def cut(text: str) -> str:
    """`text` on one line, cut to `SHOWN_CHARS` characters."""
    text = " ".join(text.split())
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."


def shown(value: Any) -> str:
    """`repr(value)` on one line, cut to `SHOWN_CHARS` characters."""
    try:
        return cut(repr(value))
    except ValueError:  # an integer too long for Python to print (over 4300 digits)
        return f"an integer of {value.bit_length()} bits"


def is_integer(value: Any) -> bool:
    """A Python or NumPy integer, not a bool (a bool is a flag, not a count)."""
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return is_integer(value) or isinstance(value, float | np.floating)


def require_number(name: str, value: Any, *, infinite: bool = False) -> None:
    """`value` is a real number, finite unless `infinite` allows +-infinity; NaN never passes.
    A list is not a number: settings that take one value per segment use
    `require_per_segment`.
    """
    if not _is_real(value):
        raise ValueError(f"{name} must be a number, got {shown(value)}")
    if math.isnan(value) or (math.isinf(value) and not infinite):
        raise ValueError(f"{name} must be a finite number, got {shown(value)}")


def require_int(name: str, value: Any, minimum: int) -> None:
    """`value` is an integer (not a bool or float) of at least `minimum`."""
    if not is_integer(value) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {shown(value)}")


def require_positive(name: str, value: Any, *, infinite: bool = False) -> None:
    """`value` > 0 and finite; `infinite=True` also lets +infinity through (a window that
    spans all history).
    """
    require_number(name, value, infinite=infinite)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {shown(value)}")


def require_non_negative(name: str, value: Any) -> None:
    """`value` is a finite number >= 0."""
    require_number(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {shown(value)}")


def require_probability(name: str, value: Any) -> None:
    """`value` is a finite number in [0, 1]."""
    require_number(name, value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {shown(value)}")


def require_choice(name: str, value: Any, choices: Iterable[str]) -> None:
    """`value` is one of the strings `choices` (the error lists them)."""
    options = tuple(choices)
    if not isinstance(value, str) or value not in options:
        raise ValueError(
            f"{name} must be one of {', '.join(map(repr, options))}, got {shown(value)}"
        )


def require_per_segment(
    name: str, value: Any, n_segments: int, check: Callable[[str, Any], None]
) -> None:
    """A per-segment setting is one value (shared) or a list or tuple of exactly one per
    segment; each passes `check` (item i named ``name[i]``).
    """
    if not isinstance(value, list | tuple):
        check(name, value)
        return
    if len(value) != n_segments:
        raise ValueError(
            f"{name} must be a number or a list of {n_segments} (one per segment), "
            f"got {shown(value)}"
        )
    require_each(name, value, check)


def require_each(name: str, values: Iterable[Any], check: Callable[[str, Any], None]) -> None:
    """Each item of `values` passes `check`, item i named ``name[i]``."""
    for i, item in enumerate(values):
        check(f"{name}[{i}]", item)


def check_simulation_arguments(world: Any, click_model: Any, models: Any, config: Any) -> None:
    """Refuse, before anything runs, arguments of `Simulation` that would otherwise fail with
    an AttributeError from inside the loop: a world that is not a `World`, a click model
    without ``respond``, models that are neither a policy nor a list of `ServedModel`, a
    config that is not a `SimulationConfig` (or None).
    """
    # Imported here: these modules import this one.
    from simulator import ServedModel, SimulationConfig, World

    if not isinstance(world, World):
        raise TypeError(
            f"world must be a World (World(WorldConfig(...), seed)), got {shown(world)}"
        )
    if not callable(getattr(click_model, "respond", None)):
        raise TypeError(
            f"click_model must be a click model such as PositionBasedModel(), "
            f"got {shown(click_model)}"
        )
    if isinstance(models, list | tuple):
        if not models or not all(isinstance(m, ServedModel) for m in models):
            raise TypeError(
                f"models must be a policy or a non-empty list of ServedModel, got {shown(models)}"
            )
    elif not (callable(getattr(models, "fit", None)) and callable(getattr(models, "rank", None))):
        raise TypeError(
            f"models must be a policy (with fit and rank) or a list of ServedModel, "
            f"got {shown(models)}"
        )
    if config is not None and not isinstance(config, SimulationConfig):
        raise TypeError(f"config must be a SimulationConfig or None, got {shown(config)}")


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """A " (did you mean 'x'?)" hint naming the closest option, or "" when none is close."""
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
