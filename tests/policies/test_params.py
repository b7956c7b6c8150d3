"""Constructor parameters read from signatures: get_params, set_params, repr and clone."""

from __future__ import annotations

import numpy as np
import pytest

from policies import (
    UCB,
    BootstrapThompson,
    EpsilonGreedy,
    LightGBMPolicy,
    LightGBMTimings,
    OraclePolicy,
    PlackettLuce,
    PopularityPolicy,
    RandomPolicy,
    ThompsonSampling,
    TwoFactorLightGBM,
    clone,
)
from simulator import World, WorldConfig, stream


def test_get_params_reads_the_constructor_and_follows_forwarded_options() -> None:
    assert PopularityPolicy(window=2.0).get_params() == {"window": 2.0}
    assert UCB(exploration=0.3).get_params() == {
        "exploration": 0.3,
        "prior": (1.0, 1.0),
        "by_segment": False,
        "examination": None,
        "window": None,
    }
    two_factor = TwoFactorLightGBM(n_rounds=3, n_trees=7).get_params()
    assert (two_factor["n_rounds"], two_factor["n_trees"]) == (3, 7)
    assert set(LightGBMPolicy().get_params()) < set(two_factor)


def test_repr_shows_what_differs_from_the_defaults() -> None:
    assert repr(RandomPolicy()) == "RandomPolicy()"
    assert repr(ThompsonSampling(by_segment=True)) == "ThompsonSampling(by_segment=True)"
    wrapped = EpsilonGreedy(LightGBMPolicy(n_trees=30), epsilon=0.2)
    assert repr(wrapped) == "EpsilonGreedy(inner=LightGBMPolicy(n_trees=30), epsilon=0.2)"
    curve = repr(UCB(examination=np.array([1.0, 0.5, 0.25])))
    assert curve == "UCB(examination=array([1, 0.5, 0.25]))"
    world = World.generate(WorldConfig(n_users=5, n_items=5), stream(0, "world"))
    assert repr(OraclePolicy(world)) == "OraclePolicy(world=World(...))"


def test_clone_is_unfitted_shares_plain_values_and_clones_inner_policies() -> None:
    timings = LightGBMTimings()
    model = LightGBMPolicy(n_trees=5, timings=timings)
    model.prior_ = 0.1  # learned state must not travel
    ensemble = BootstrapThompson(model, n_models=2)
    copy = clone(ensemble)
    assert repr(copy) == repr(ensemble)
    assert copy.model is not model and copy.model.timings is timings
    assert not hasattr(copy.model, "prior_")
    with pytest.raises(TypeError, match="cannot clone"):
        clone(object())


def test_set_params_sets_known_names_only() -> None:
    policy = PlackettLuce(PopularityPolicy(), temperature=2.0)
    assert policy.set_params(temperature=3.0) is policy and policy.temperature == 3.0
    with pytest.raises(ValueError, match=r"^PlackettLuce has no parameter 'temp'$"):
        policy.set_params(temp=1.0)
