"""Constructor parameters read from signatures, in the manner of scikit-learn's ``BaseEstimator``.

A class whose constructor stores each argument under its own name gets, from :class:`Params`,
``get_params``, ``set_params`` and a ``repr`` showing the arguments that differ from their
defaults, and :func:`clone` builds an unfitted copy from them. The registry reads the same
signatures, so no parameter list is ever typed twice. A constructor that forwards ``**options``
to its base class's constructor takes the base class's parameters too.
"""

from __future__ import annotations

import inspect
from typing import Any, Self, TypeVar

import numpy as np

T = TypeVar("T")
SHOWN_VALUES = 6
"""Values of an array a repr shows before eliding the rest."""


def constructor_parameters(cls: type) -> list[inspect.Parameter]:
    """The named parameters of `cls`'s constructor, following ``**options`` up the base classes.

    A parameter named by a subclass comes first and keeps the subclass's default.
    """
    found: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if "__init__" not in vars(klass) or klass is object:
            continue
        forwards = False
        for p in list(inspect.signature(vars(klass)["__init__"]).parameters.values())[1:]:
            if p.kind is inspect.Parameter.VAR_KEYWORD:
                forwards = True
            elif p.kind is not inspect.Parameter.VAR_POSITIONAL:
                found.setdefault(p.name, p)
        if not forwards:
            break
    return list(found.values())


class Params:
    """``get_params``, ``set_params`` and ``repr`` from the constructor's signature."""

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, by name, as stored on the object."""
        return {p.name: getattr(self, p.name) for p in constructor_parameters(type(self))}

    def set_params(self, **params: Any) -> Self:
        """Set constructor arguments by name (no checks: build a new object to validate them)."""
        names = {p.name for p in constructor_parameters(type(self))}
        for name, value in params.items():
            if name not in names:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        shown = [
            f"{p.name}={_short(getattr(self, p.name))}"
            for p in constructor_parameters(type(self))
            if _differs(getattr(self, p.name), p.default)
        ]
        return f"{type(self).__name__}({', '.join(shown)})"


def clone(policy: T) -> T:
    """An unfitted copy of `policy` built from its parameters; policies among them are cloned,
    anything else (a world, a timings recorder, a curve) is shared, as constructors only
    store it.
    """
    if not isinstance(policy, Params):
        raise TypeError(f"cannot clone {policy!r}: it has no get_params")
    params = {
        name: clone(value) if isinstance(value, Params) else value
        for name, value in policy.get_params().items()
    }
    return type(policy)(**params)


def _differs(value: Any, default: Any) -> bool:
    if default is inspect.Parameter.empty or isinstance(value, np.ndarray):
        return True
    try:
        return bool(value != default) or type(value) is not type(default)
    except (TypeError, ValueError):
        return True


def _short(value: Any) -> str:
    """A one-line repr: arrays abbreviated, objects that are neither policies nor plain values
    by their type alone.
    """
    if isinstance(value, np.ndarray):
        shown = ", ".join(f"{x:.3g}" for x in value.ravel()[:SHOWN_VALUES])
        return f"array([{shown}{', ...' if value.size > SHOWN_VALUES else ''}])"
    if isinstance(value, Params | str | int | float | bool | tuple | list | type(None)):
        return repr(value)
    return f"{type(value).__name__}(...)"
