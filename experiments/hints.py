"""Does a value from a TOML file fit the type hint of the parameter it is given to?

Constructors check the values they care about (`simulator.validation`), but a checker written
for numbers lets a list of numbers through, and a comparison with a table raises `TypeError`
rather than a message. So the parser also holds each value to the hint of the field or
parameter it fills (a dataclass field, a policy factory's or a click model's parameter): a
value that fits no part of its hint is a one-line error naming the key. Hints this module
does not know (a protocol, a class) accept anything: the constructor has the last word.
"""

from __future__ import annotations

import functools
import numbers
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_SEQUENCES = (list, tuple, Sequence, typing.Sequence)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def fits(value: Any, hint: Any) -> bool:
    """Whether `value` fits `hint` (unknown hints accept anything)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any or isinstance(hint, typing.TypeVar):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, arg) for arg in args)
    if hint is type(None) or hint is None:
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return _is_int(value)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in _SEQUENCES or hint in _SEQUENCES:
        if not isinstance(value, list | tuple):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(map(fits, value, args))
        return not args or all(fits(item, args[0]) for item in value)
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return isinstance(value, dict)
    return True


def describe(hint: Any) -> str:
    """`hint` in words: "an integer", "a number or none", "a list of numbers", ..."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(arg) for arg in args)
    words = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if hint in words:
        return words[hint]
    if hint is type(None) or hint is None:
        return "left out"
    if origin in _SEQUENCES or hint in _SEQUENCES:
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} ({', '.join(describe(arg) for arg in args)})"
        return f"a list of {_plural(describe(args[0]))}" if args else "a list"
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return "a table"
    return getattr(hint, "__name__", str(hint))


def _plural(words: str) -> str:
    return (
        words.replace("an integer", "integers")
        .replace("a number", "numbers")
        .replace("a string", "strings")
    )


@functools.cache
def hints_of(target: Callable[..., Any]) -> Mapping[str, Any]:
    """The resolved type hints of a function, a class's constructor or a dataclass's fields
    ({} when they cannot be resolved).
    """
    try:
        if isinstance(target, type) and "__dataclass_fields__" not in vars(target):
            return typing.get_type_hints(target.__init__)  # type: ignore[misc]
        return typing.get_type_hints(target)
    except (NameError, TypeError):
        return {}


def misfit(values: Mapping[str, Any], target: Callable[..., Any]) -> str | None:
    """A problem naming the first of `values` that does not fit `target`'s hint for it, or None."""
    hints = hints_of(target)
    for key, value in values.items():
        if key in hints and not fits(value, hints[key]):
            return f"{key} must be {describe(hints[key])}, got {value!r}"
    return None
