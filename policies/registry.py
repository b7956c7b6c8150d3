"""Policies and wrappers by name, so that experiments can declare them in TOML.

A *policy factory* builds a policy for one run from the run's context (its world, slate size
and click model) and keyword parameters, ``factory(context, **params) -> Policy``. A *wrapper
factory* wraps a built policy (the exploration and debiasing fixes of DESIGN.md section 5),
``wrapper(policy, context, **params) -> Policy``. A variant's wrappers apply in order, the
first one innermost::

    make_policy("popularity", world, wrappers=[("epsilon_greedy", {"epsilon": 0.1})], window=1.0)

Add a policy or a wrapper by adding its factory to `POLICIES` or `WRAPPERS`. Parameters are read
off the factory's signature, so a misspelt one is caught before any run starts.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from policies.base import Policy
from policies.bootstrap import BootstrapThompson
from policies.exploration import UCB, EpsilonGreedy, PlackettLuce, RandomTraffic, ThompsonSampling
from policies.features import LOG_FEATURES
from policies.ips import IPSPopularity
from policies.lightgbm import LightGBMPolicy
from policies.position_aware import TwoFactorLightGBM
from policies.position_bias import RandomizedSwaps
from policies.reference import OraclePolicy, PopularityPolicy, RandomPolicy
from simulator.click_models import ClickModel, PositionBasedModel
from simulator.seeding import stream
from simulator.validation import did_you_mean, require_choice
from simulator.world import World

PolicyFactory = Callable[..., Policy]
"""``factory(context, **params) -> Policy``."""
WrapperFactory = Callable[..., Policy]
"""``wrapper(policy, context, **params) -> Policy``."""
EXAMINATION = ("none", "known")


@dataclass(frozen=True)
class RunContext:
    """What a factory may know about the run it builds a policy for."""

    world: World
    slate_size: int = 10
    click_model: ClickModel | None = None
    seed: int = 0
    """The run's root seed; a policy that trains with randomness seeds from its stream."""

    def training_seed(self) -> int:
        """A seed for model training from the run's ``training`` stream."""
        return int(stream(self.seed, "training").integers(2**31 - 1))

    def examination(self, choice: str) -> NDArray[np.float64] | None:
        """The examination curve a position-aware policy uses: ``"none"`` (ignore positions)
        or ``"known"`` (the true curve of the run's position-based click model)."""
        require_choice("examination", choice, EXAMINATION)
        if choice == "none":
            return None
        if not isinstance(self.click_model, PositionBasedModel):
            raise ValueError(
                f"examination = 'known' needs the position-based click model, got "
                f"{self.click_model!r}"
            )
        return self.click_model.examination(self.slate_size)


def random_policy(context: RunContext) -> RandomPolicy:
    """Uniformly random slates: no feedback loop at all."""
    return RandomPolicy()


def popularity_policy(context: RunContext, window: float | None = None) -> PopularityPolicy:
    """Most-clicked items of the last `window` days (all history when not given)."""
    return PopularityPolicy(window=window)


def oracle_policy(context: RunContext) -> OraclePolicy:
    """True attractiveness of the run's own world: the upper bound behind `regret`."""
    return OraclePolicy(context.world)


def lightgbm_policy(
    context: RunContext,
    user_features: Sequence[str] | None = None,
    item_features: Sequence[str] | None = None,
    log_features: Sequence[str] = LOG_FEATURES,
    bucketing: str = "quantile",
    n_buckets: int = 8,
    n_user_buckets: int | None = 3,
    cold_start: str = "zero",
    popularity_days: float = 1.0,
    negative_rate: float = 0.1,
    n_trees: int = 100,
    n_leaves: int = 15,
    learning_rate: float = 0.1,
    min_data_in_leaf: int = 100,
    position_feature: bool = False,
    serve_position: int = 1,
    examination: str = "none",
    clip: float | None = None,
) -> LightGBMPolicy:
    """Greedy LightGBM click model retrained on its own logs, seeded from the run; optionally
    with position as a feature or IPS-weighted by the run's true examination curve."""
    policy = LightGBMPolicy(
        user_features=user_features,
        item_features=item_features,
        log_features=tuple(log_features),
        bucketing=bucketing,
        n_buckets=n_buckets,
        n_user_buckets=n_user_buckets,
        cold_start=cold_start,
        popularity_days=popularity_days,
        negative_rate=negative_rate,
        n_trees=n_trees,
        n_leaves=n_leaves,
        learning_rate=learning_rate,
        min_data_in_leaf=min_data_in_leaf,
        position_feature=position_feature,
        serve_position=serve_position,
        examination=context.examination(examination),
        clip=clip,
        seed=context.training_seed(),
    )
    policy.check_slate_size(context.slate_size)
    return policy


def two_factor_policy(
    context: RunContext,
    n_rounds: int = 2,
    cold_start: str = "zero",
    negative_rate: float = 0.1,
    n_trees: int = 100,
    n_leaves: int = 15,
    min_data_in_leaf: int = 100,
) -> TwoFactorLightGBM:
    """LightGBM relevance times a learned examination curve, ranked by relevance."""
    return TwoFactorLightGBM(
        n_rounds=n_rounds,
        cold_start=cold_start,
        negative_rate=negative_rate,
        n_trees=n_trees,
        n_leaves=n_leaves,
        min_data_in_leaf=min_data_in_leaf,
        seed=context.training_seed(),
    )


def lightgbm_thompson_policy(
    context: RunContext,
    n_models: int = 4,
    cold_start: str = "zero",
    negative_rate: float = 0.1,
    n_trees: int = 30,
    n_leaves: int = 15,
    min_data_in_leaf: int = 100,
    examination: str = "none",
    clip: float | None = None,
) -> BootstrapThompson:
    """Thompson sampling by a bootstrap ensemble of `n_models` LightGBM models of `n_trees`."""
    member = LightGBMPolicy(
        cold_start=cold_start,
        negative_rate=negative_rate,
        n_trees=n_trees,
        n_leaves=n_leaves,
        min_data_in_leaf=min_data_in_leaf,
        examination=context.examination(examination),
        clip=clip,
        seed=context.training_seed(),
    )
    return BootstrapThompson(member, n_models=n_models)


def ips_popularity_policy(
    context: RunContext,
    examination: str = "known",
    clip: float | None = None,
    window: float | None = None,
) -> IPSPopularity:
    """Popularity by inverse-examination-weighted clicks."""
    curve = context.examination(examination)
    if curve is None:
        raise ValueError("ips_popularity needs examination = 'known'")
    return IPSPopularity(curve, clip=clip, window=window)


def thompson_policy(
    context: RunContext,
    by_segment: bool = False,
    examination: str = "none",
    prior: tuple[float, float] = (1.0, 1.0),
    window: float | None = None,
) -> ThompsonSampling:
    """Beta-Bernoulli Thompson sampling per item (or per segment and item)."""
    return ThompsonSampling(
        prior=tuple(prior),  # type: ignore[arg-type]
        by_segment=by_segment,
        examination=context.examination(examination),
        window=window,
    )


def ucb_policy(
    context: RunContext,
    exploration: float = 0.1,
    by_segment: bool = False,
    examination: str = "none",
    window: float | None = None,
) -> UCB:
    """Rank by an upper confidence bound on each item's click rate."""
    return UCB(
        exploration=exploration,
        by_segment=by_segment,
        examination=context.examination(examination),
        window=window,
    )


def epsilon_greedy(
    policy: Policy, context: RunContext, epsilon: float = 0.1, variant: str = "slots"
) -> EpsilonGreedy:
    return EpsilonGreedy(policy, epsilon=epsilon, variant=variant)  # type: ignore[arg-type]


def plackett_luce(
    policy: Policy, context: RunContext, temperature: float = 0.1, top_m: int | None = None
) -> PlackettLuce:
    wrapped = PlackettLuce(policy, temperature=temperature, top_m=top_m)  # type: ignore[arg-type]
    wrapped.check_slate_size(context.slate_size)
    return wrapped


def random_traffic(policy: Policy, context: RunContext, share: float = 0.05) -> RandomTraffic:
    return RandomTraffic(policy, share=share)


def randomized_swaps(
    policy: Policy, context: RunContext, rate: float = 0.1, pairs: str = "adjacent"
) -> RandomizedSwaps:
    return RandomizedSwaps(policy, rate=rate, pairs=pairs)


POLICIES: dict[str, PolicyFactory] = {
    "random": random_policy,
    "popularity": popularity_policy,
    "oracle": oracle_policy,
    "lightgbm": lightgbm_policy,
    "two_factor": two_factor_policy,
    "lightgbm_thompson": lightgbm_thompson_policy,
    "ips_popularity": ips_popularity_policy,
    "thompson": thompson_policy,
    "ucb": ucb_policy,
}
WRAPPERS: dict[str, WrapperFactory] = {
    "epsilon_greedy": epsilon_greedy,
    "plackett_luce": plackett_luce,
    "random_traffic": random_traffic,
    "randomized_swaps": randomized_swaps,
}


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
    context: RunContext | World,
    wrappers: Sequence[tuple[str, Mapping[str, Any]]] = (),
    **params: Any,
) -> Policy:
    """Build policy `name` for a run (a `RunContext`, or just its world), then wrap it in each
    of `wrappers` in order."""
    if isinstance(context, World):
        context = RunContext(context)
    policy = _check("policy", name, params, POLICIES, n_positional=1)(context, **params)
    for wrapper_name, wrapper_params in wrappers:
        wrap = _check("wrapper", wrapper_name, wrapper_params, WRAPPERS, n_positional=2)
        policy = wrap(policy, context, **wrapper_params)
    return policy
