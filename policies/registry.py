"""Policies and wrappers by name, so that experiments can declare them in TOML.

A *policy factory* builds a policy for one run from the run's world and keyword parameters,
``factory(world, **params) -> Policy``. A *wrapper factory* wraps a built policy (the
exploration and debiasing fixes of DESIGN.md section 5), ``wrapper(policy, world, **params) ->
Policy``. A variant's wrappers apply in order, the first one innermost::

    make_policy("popularity", world, wrappers=[("epsilon_greedy", {"epsilon": 0.1})], window=1.0)

Add a policy or a wrapper by adding its factory to `POLICIES` or `WRAPPERS`. Parameters are read
off the factory's signature, so a misspelt one is caught before any run starts.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from policies.base import Policy
from policies.reference import OraclePolicy, PopularityPolicy, RandomPolicy
from simulator.validation import did_you_mean
from simulator.world import World

PolicyFactory = Callable[..., Policy]
"""``factory(world, **params) -> Policy``."""
WrapperFactory = Callable[..., Policy]
"""``wrapper(policy, world, **params) -> Policy``."""


def random_policy(world: World) -> RandomPolicy:
    """Uniformly random slates: no feedback loop at all."""
    return RandomPolicy()


def popularity_policy(world: World, window: float | None = None) -> PopularityPolicy:
    """Most-clicked items of the last `window` days (all history when not given)."""
    return PopularityPolicy(window=window)


def oracle_policy(world: World) -> OraclePolicy:
    """True attractiveness of the run's own world: the upper bound behind `regret`."""
    return OraclePolicy(world)


POLICIES: dict[str, PolicyFactory] = {
    "random": random_policy,
    "popularity": popularity_policy,
    "oracle": oracle_policy,
}
WRAPPERS: dict[str, WrapperFactory] = {}


def _parameters(factory: Callable[..., Any], n_positional: int) -> list[inspect.Parameter] | None:
    """The keyword parameters a factory takes after its positional ones; None if it takes any."""
    params = list(inspect.signature(factory).parameters.values())[n_positional:]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return params


def _check(
    kind: str,
    name: str,
    params: Mapping[str, Any],
    registry: Mapping[str, Callable[..., Any]],
    n_positional: int,
) -> Callable[..., Any]:
    if name not in registry:
        known = ", ".join(sorted(registry)) or "none yet"
        raise ValueError(f"unknown {kind} {name!r}{did_you_mean(name, registry)}; known: {known}")
    factory = registry[name]
    accepted = _parameters(factory, n_positional)
    if accepted is None:
        return factory
    names = [p.name for p in accepted]
    for key in params:
        if key not in names:
            takes = ", ".join(names) or "no parameters"
            raise ValueError(
                f"{kind} {name!r} has no parameter {key!r}{did_you_mean(key, names)}; "
                f"it takes: {takes}"
            )
    for p in accepted:
        if p.default is inspect.Parameter.empty and p.name not in params:
            raise ValueError(f"{kind} {name!r} needs parameter {p.name!r}")
    return factory


def make_policy(
    name: str,
    world: World,
    wrappers: Sequence[tuple[str, Mapping[str, Any]]] = (),
    **params: Any,
) -> Policy:
    """Build policy `name` for a run on `world`, then wrap it in each of `wrappers` in order."""
    policy = _check("policy", name, params, POLICIES, n_positional=1)(world, **params)
    for wrapper_name, wrapper_params in wrappers:
        wrap = _check("wrapper", wrapper_name, wrapper_params, WRAPPERS, n_positional=2)
        policy = wrap(policy, world, **wrapper_params)
    return policy
