"""Policies and wrappers by name: what TOML experiments build their variants from."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pytest

from policies import (
    POLICIES,
    UCB,
    WRAPPERS,
    LightGBMPolicy,
    OraclePolicy,
    PopularityPolicy,
    RandomPolicy,
    ThompsonSampling,
    TwoFactorLightGBM,
    make_policy,
)
from policies.registry import RunContext
from simulator import (
    CascadeModel,
    ImpressionLog,
    PositionBasedModel,
    Requests,
    TrainingData,
    World,
    WorldConfig,
    stream,
)


@pytest.fixture
def world() -> World:
    return World.generate(WorldConfig(n_users=20, n_items=30, n_segments=2), stream(0, "world"))


def test_policies_are_built_by_name_with_keyword_parameters(world: World) -> None:
    assert isinstance(make_policy("random", world), RandomPolicy)
    popularity = make_policy("popularity", world, window=1.5)
    assert isinstance(popularity, PopularityPolicy) and popularity.window == 1.5
    oracle = make_policy("oracle", world)
    assert isinstance(oracle, OraclePolicy) and oracle.world is world


class Tagged:
    """A toy wrapper that records its tag, to see the order wrappers apply in."""

    def __init__(self, inner: Any, tag: str) -> None:
        self.inner, self.tag = inner, tag


def tagged(policy: Any, world: World, tag: str = "x") -> Any:
    return Tagged(policy, tag)


def test_wrappers_apply_in_order_the_first_innermost(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(WRAPPERS, "tagged", tagged)
    policy = make_policy("random", world, [("tagged", {"tag": "inner"}), ("tagged", {})])
    assert (policy.tag, policy.inner.tag) == ("x", "inner")
    assert isinstance(policy.inner.inner, RandomPolicy)


def test_every_registered_policy_and_wrapper_ranks_a_slate(world: World) -> None:
    requests = Requests(
        t=np.zeros(3), user=np.arange(3), segment=world.user_segment[:3], features=world.features
    )
    context = RunContext(world, slate_size=5, click_model=PositionBasedModel())
    empty = ImpressionLog(slate_size=5).sessions()
    nothing_yet = TrainingData(empty, world.features, now=0.0)  # the simulator's first fit
    for name in POLICIES:
        policy = make_policy(name, context).fit(nothing_yet)
        slates = policy.rank(requests, world.live_items, 5, stream(0, "t"))
        assert slates.items.shape == (3, 5), name
    for name in WRAPPERS:
        policy = make_policy("popularity", context, [(name, {})]).fit(nothing_yet)
        slates = policy.rank(requests, world.live_items, 5, stream(0, "t"))
        assert slates.items.shape == (3, 5), name


def test_known_examination_needs_the_position_based_model(world: World) -> None:
    context = RunContext(world, slate_size=5, click_model=CascadeModel())
    with pytest.raises(ValueError, match="examination = 'known' needs the position-based"):
        make_policy("thompson", context, examination="known")
    pbm = RunContext(world, slate_size=4, click_model=PositionBasedModel(eta=2.0))
    policy = make_policy("thompson", pbm, examination="known")
    np.testing.assert_allclose(policy.examination, [1, 1 / 4, 1 / 9, 1 / 16])


BAD = [
    (
        "popularty",
        {},
        "unknown policy 'popularty' (did you mean 'popularity'?); known: "
        + ", ".join(sorted(POLICIES)),
    ),
    (
        "popularity",
        {"windw": 1},
        "policy 'popularity' has no parameter 'windw' (did you mean 'window'?); it takes: window",
    ),
    ("random", {"seed": 1}, "policy 'random' has no parameter 'seed'; it takes: no parameters"),
    ("popularity", {"window": 0}, "window must be > 0, got 0"),
]


@pytest.mark.parametrize(("name", "params", "message"), BAD)
def test_bad_names_and_parameters_fail_with_one_line(
    world: World, name: str, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as caught:
        make_policy(name, world, **params)
    assert str(caught.value) == message


def test_an_unknown_wrapper_and_a_missing_parameter_are_named(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValueError) as caught:
        make_policy("random", world, [("epsilon", {})])
    assert str(caught.value) == (
        "unknown wrapper 'epsilon' (did you mean 'epsilon_greedy'?); known: "
        + ", ".join(sorted(WRAPPERS))
    )
    monkeypatch.setitem(WRAPPERS, "needs", lambda policy, world, rate: policy)
    with pytest.raises(ValueError, match=r"^wrapper 'needs' needs parameter 'rate'$"):
        make_policy("random", world, [("needs", {})])


FACTORY_CLASSES = [
    ("lightgbm", LightGBMPolicy),
    ("two_factor", TwoFactorLightGBM),
    ("lightgbm_thompson", LightGBMPolicy),
    ("thompson", ThompsonSampling),
    ("ucb", UCB),
    ("popularity", PopularityPolicy),
]
FROM_CONTEXT = {"seed", "examination"}
"""Constructor arguments a factory derives from the run: the training seed, and the examination
curve it looks up by name ("none" or "known")."""


def _defaults(function: Any) -> dict[str, Any]:
    return {
        name: p.default
        for name, p in inspect.signature(function).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


@pytest.mark.parametrize(("name", "cls"), FACTORY_CLASSES)
def test_factories_repeat_their_constructors_defaults(name: str, cls: type) -> None:
    # The registry copies constructor parameters so TOML files are validated against them; a
    # default changed in one place only would make a TOML run differ from the same Python run.
    factory, constructor = _defaults(POLICIES[name]), _defaults(cls)
    if cls is TwoFactorLightGBM:
        constructor |= _defaults(LightGBMPolicy)
    shared = (set(factory) & set(constructor)) - FROM_CONTEXT
    assert shared
    differing = {k: (factory[k], constructor[k]) for k in shared if factory[k] != constructor[k]}
    if name == "lightgbm_thompson":  # smaller members by design: n_trees 30 instead of 100
        assert differing == {"n_trees": (30, 100)}
    else:
        assert differing == {}
    if name == "lightgbm":  # every option but the seed and a Python-only timings recorder
        assert set(constructor) - set(factory) == {"seed", "timings"}
