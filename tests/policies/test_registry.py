"""Policies and wrappers by name: what TOML experiments build their variants from."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from policies import (
    POLICIES,
    WRAPPERS,
    BootstrapThompson,
    LightGBMPolicy,
    OraclePolicy,
    PopularityPolicy,
    RandomPolicy,
    Registration,
    RunContext,
    TwoFactorLightGBM,
    make_policy,
    register_policy,
    register_wrapper,
)
from simulator import (
    CascadeModel,
    ImpressionLog,
    PositionBasedModel,
    Requests,
    TrainingData,
    World,
    WorldConfig,
    preset_world,
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

    def __init__(self, inner: Any, tag: str = "x") -> None:
        self.inner, self.tag = inner, tag


def test_wrappers_apply_in_order_the_first_innermost(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(WRAPPERS, "tagged", Registration(Tagged, wraps=True))
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
        if name == "ideal":  # needs a world with a true utility, checked below
            continue
        policy = make_policy(name, context).fit(nothing_yet)
        slates = policy.rank(requests, world.live_items, 5, stream(0, "t"))
        assert slates.items.shape == (3, 5), name
    chaney = preset_world("chaney2018", stream(0, "w"), {"n_users": 3})
    chaney_requests = Requests(
        t=np.zeros(3), user=np.arange(3), segment=chaney.user_segment, features=chaney.features
    )
    ideal = make_policy("ideal", chaney).fit(TrainingData(empty, chaney.features, now=0.0))
    assert ideal.rank(chaney_requests, chaney.live_items, 5, stream(0, "t")).items.shape == (3, 5)
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


def test_parameters_are_read_from_the_constructors(world: World) -> None:
    pbm = RunContext(world, slate_size=5, click_model=PositionBasedModel(), seed=3)
    lightgbm = make_policy("lightgbm", pbm, n_leaves=7, examination="known")
    assert isinstance(lightgbm, LightGBMPolicy) and lightgbm.n_leaves == 7
    assert lightgbm.seed == pbm.training_seed()
    np.testing.assert_allclose(lightgbm.examination, PositionBasedModel().examination(5))
    two_factor = make_policy("two_factor", pbm, learning_rate=0.2)
    assert isinstance(two_factor, TwoFactorLightGBM) and two_factor.learning_rate == 0.2
    ensemble = make_policy("lightgbm_thompson", pbm, n_models=2)
    assert isinstance(ensemble, BootstrapThompson) and ensemble.n_models == 2
    assert ensemble.model.n_trees == 30  # smaller members than a lone model's 100
    assert ensemble.model.seed == pbm.training_seed()


def test_a_required_curve_and_python_only_parameters_are_refused(world: World) -> None:
    with pytest.raises(ValueError, match=r"^IPSPopularity needs examination = 'known'$"):
        make_policy("ips_popularity", world, examination="none")
    with pytest.raises(ValueError, match=r"^timings must be a LightGBMTimings recorder, got 1$"):
        make_policy("lightgbm", world, timings=1)
    with pytest.raises(ValueError, match=r"^examination is not an option of the two-factor"):
        TwoFactorLightGBM(examination=[1.0, 0.5])
    with pytest.raises(ValueError, match=r"^examination must be one of 'none', 'known', 'swaps'"):
        make_policy("two_factor", world, examination=[1.0, 0.5])


def test_registered_classes_are_built_by_name(world: World) -> None:
    @register_policy("test_only_oracle", inject={"world": "world"})
    class Mine(OraclePolicy):
        pass

    @register_wrapper("test_only_tag")
    class Tag(Tagged):
        pass

    try:
        policy = make_policy("test_only_oracle", world, [("test_only_tag", {"tag": "t"})])
        assert isinstance(policy, Tag) and policy.tag == "t"
        assert isinstance(policy.inner, Mine) and policy.inner.world is world
    finally:
        del POLICIES["test_only_oracle"], WRAPPERS["test_only_tag"]
    with pytest.raises(ValueError, match=r"^RandomPolicy has no parameter 'seed' to inject$"):
        Registration(RandomPolicy, inject={"seed": "training_seed"})
    with pytest.raises(ValueError, match=r"^policy name 'popularity' is taken by policies\.ref"):
        register_policy("popularity")(Mine)
