"""Policies and wrappers by name, so that experiments can declare them in TOML.

A name maps to a :class:`Registration`: the class to build and what it takes from the run it
is built for, declared rather than computed in a factory. Its parameters are read off the
class's constructor (:func:`policies.params.constructor_parameters`), so a misspelt one is
caught, with a did-you-mean, before any run starts, and no parameter list is typed twice. What a
registration may take from the run (its :class:`RunContext`):

* ``"world"`` -- the run's world (the oracle ranks by its true attractiveness);
* ``"training_seed"`` -- a seed from the run's ``training`` stream, for models that train
  with randomness;
* ``"examination"`` -- the parameter stays the user's, as a choice ``"none"`` (no curve),
  ``"known"`` (the true curve of the run's position-based click model) or the name of a curve
  estimator fitted on each training log (``"swaps"``, ``"all_pairs"``, ``"regression_em"``,
  ``"two_factor"``, see :mod:`policies.examination`); its default is
  ``"none"`` when the constructor's parameter has a default, else ``"known"``.

A variant's wrappers apply in order, the first one innermost; a wrapper's first constructor
parameter receives the policy it wraps::

    make_policy("popularity", world, wrappers=[("epsilon_greedy", {"epsilon": 0.1})], window=1.0)

Your own classes join with the :func:`register_policy` and :func:`register_wrapper`
decorators, or, from an installed package, with an entry point in the group
``recloop.policies`` or ``recloop.wrappers`` (``name = "module:Class"``), loaded the first time
an unknown name is asked for. Names are the only way in: TOML files cannot name import paths.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from policies.content import ContentFiltering
from policies.counting import UCB
from policies.examination.estimators import AllPairs, CurveEstimator, RegressionEM, SwapEstimator
from policies.ideal import IdealPolicy
from policies.ips import IPSPopularity
from policies.lightgbm import LightGBMPolicy
from policies.matrix_factorization import ImplicitMF
from policies.params import constructor_parameters
from policies.plackett_luce import PlackettLuce
from policies.position_aware import TwoFactorCurve, TwoFactorLightGBM
from policies.reference import OraclePolicy, PopularityPolicy, RandomPolicy
from policies.retrieval import Retrieval
from policies.schedules import InterleaveNew, RandomStartup
from policies.thompson import BootstrapThompson, ThompsonSampling
from policies.uncertainty import UncertaintyBonus
from policies.wrappers import EpsilonGreedy, RandomizedSwaps, RandomTraffic
from simulator.click_models import ClickModel, PositionBasedModel
from simulator.protocols import ChecksSlateSize, Policy
from simulator.seeding import stream
from simulator.validation import did_you_mean, require_choice
from simulator.world import World

CURVE_ESTIMATORS: dict[str, type[CurveEstimator]] = {
    "swaps": SwapEstimator,
    "all_pairs": AllPairs,
    "regression_em": RegressionEM,
    "two_factor": TwoFactorCurve,
}
"""Examination-curve estimators (:mod:`policies.examination`) by name, for experiment files."""
EXAMINATION = ("none", "known", *CURVE_ESTIMATORS)
INJECTIONS = ("world", "training_seed", "examination")
"""What a registration may take from the run (see the module docstring)."""
ENTRY_POINT_GROUPS = {"policy": "recloop.policies", "wrapper": "recloop.wrappers"}
T = TypeVar("T")


@dataclass(frozen=True)
class RunContext:
    """What a registration may take from the run it builds a policy for."""

    world: World
    slate_size: int = 10
    click_model: ClickModel | None = None
    seed: int = 0
    """The run's root seed; a policy that trains with randomness seeds from its stream."""

    def training_seed(self) -> int:
        """A seed for model training from the run's ``training`` stream."""
        return int(stream(self.seed, "training").integers(2**31 - 1))

    def examination(self, choice: str) -> NDArray[np.float64] | CurveEstimator | None:
        """The examination curve a position-aware policy uses: ``"none"`` (ignore positions),
        ``"known"`` (the true curve of the run's position-based click model), or the name of
        an estimator of :mod:`policies.examination` (``"swaps"``, ``"all_pairs"``,
        ``"regression_em"``, ``"two_factor"``) that estimates it from each training log.
        """
        require_choice("examination", choice, EXAMINATION)
        if choice == "none":
            return None
        if choice in CURVE_ESTIMATORS:
            return CURVE_ESTIMATORS[choice]()
        if not isinstance(self.click_model, PositionBasedModel):
            raise ValueError(
                f"examination = 'known' needs the position-based click model, got "
                f"{self.click_model!r}"
            )
        return self.click_model.examination(self.slate_size)


@dataclass(frozen=True)
class Registration:
    """How to build `cls` for a run: a callable ``registration(context, **params)``, or
    ``registration(policy, context, **params)`` for a wrapper.

    Parameters
    ----------
    cls
        The class (or any callable with a signature) to build.
    inject
        Constructor parameter -> what it takes from the run, one of `INJECTIONS`.
    defaults
        Defaults that differ from the constructor's for this name.
    member
        ``(parameter, registration)``: the parameter receives a policy built by another
        registration from the parameters `cls` does not take (an ensemble's member model).
    wraps
        Whether the first constructor parameter receives the policy being wrapped.
    """

    cls: Callable[..., Any]
    inject: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    member: tuple[str, Registration] | None = None
    wraps: bool = False

    def __post_init__(self) -> None:
        names = [p.name for p in self._own()]
        for name, what in self.inject.items():
            require_choice(f"inject[{name!r}]", what, INJECTIONS)
            if name not in names:
                raise ValueError(f"{self.cls.__name__} has no parameter {name!r} to inject")

    def _own(self) -> list[inspect.Parameter]:
        """The constructor's parameters, without the wrapped policy's."""
        if isinstance(self.cls, type):
            params = constructor_parameters(self.cls)
        else:
            params = list(inspect.signature(self.cls).parameters.values())
        return params[1:] if self.wraps else params

    def parameters(self) -> list[inspect.Parameter]:
        """The parameters a user sets, with this registration's defaults."""
        hidden = {name for name, what in self.inject.items() if what != "examination"}
        own = [p for p in self._own() if p.name not in hidden]
        if self.member is not None:
            slot, member = self.member
            own = [p for p in own if p.name != slot]
            own += [p for p in member.parameters() if p.name not in {q.name for q in own}]
        return [self._default(p) for p in own]

    def _default(self, p: inspect.Parameter) -> inspect.Parameter:
        kind = inspect.Parameter.KEYWORD_ONLY
        if p.name in self.defaults:
            return p.replace(kind=kind, default=self.defaults[p.name])
        if self.inject.get(p.name) == "examination":
            empty = p.default is inspect.Parameter.empty
            return p.replace(kind=kind, default="known" if empty else "none", annotation=str)
        return p.replace(kind=kind)

    @property
    def __signature__(self) -> inspect.Signature:
        leading = ["policy", "context"] if self.wraps else ["context"]
        positional = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_ONLY) for n in leading]
        return inspect.Signature(positional + self.parameters())

    def __call__(self, *args: Any, **params: Any) -> Any:
        """Build the class for the run in `args[-1]` (after the wrapped policy, for a wrapper):
        the user's `params`, then what the registration injects from the run.
        """
        *wrapped, context = args
        examination = {
            p.name: self._default(p).default
            for p in self._own()
            if self.inject.get(p.name) == "examination"
        }
        values = {**self.defaults, **examination, **params}
        if self.member is not None:
            slot, member = self.member
            own = {p.name for p in self._own()}
            values[slot] = member(context, **{k: v for k, v in values.items() if k not in own})
            values = {k: v for k, v in values.items() if k in own}
        for name, what in self.inject.items():
            if what == "world":
                values[name] = context.world
            elif what == "training_seed":
                values[name] = context.training_seed()
            else:
                values[name] = context.examination(values[name])
                if values[name] is None and self._required(name):
                    raise ValueError(f"{self.cls.__name__} needs examination = 'known'")
        built = self.cls(*wrapped, **values)
        if isinstance(built, ChecksSlateSize):
            built.check_slate_size(context.slate_size)
        return built

    def _required(self, name: str) -> bool:
        return any(p.name == name and p.default is p.empty for p in self._own())


POLICIES: dict[str, Callable[..., Policy]] = {
    "random": Registration(RandomPolicy),
    "popularity": Registration(PopularityPolicy),
    "oracle": Registration(OraclePolicy, inject={"world": "world"}),
    "lightgbm": Registration(
        LightGBMPolicy, inject={"seed": "training_seed", "examination": "examination"}
    ),
    "two_factor": Registration(
        TwoFactorLightGBM, inject={"seed": "training_seed", "examination": "examination"}
    ),
    "lightgbm_thompson": Registration(
        BootstrapThompson,
        member=(
            "model",
            Registration(
                LightGBMPolicy,
                inject={"seed": "training_seed", "examination": "examination"},
                # Smaller members: the ensemble's spread, not one member's accuracy, explores.
                defaults={"n_trees": 30},
            ),
        ),
    ),
    "ips_popularity": Registration(IPSPopularity, inject={"examination": "examination"}),
    "thompson": Registration(ThompsonSampling, inject={"examination": "examination"}),
    "ucb": Registration(UCB, inject={"examination": "examination"}),
    "ideal": Registration(IdealPolicy, inject={"world": "world"}),
    "content_filtering": Registration(ContentFiltering),
    "implicit_mf": Registration(ImplicitMF, inject={"seed": "training_seed"}),
}
"""Policy name -> ``registration(context, **params)`` (a :class:`Registration`, or any
callable with that signature)."""
WRAPPERS: dict[str, Callable[..., Policy]] = {
    "epsilon_greedy": Registration(EpsilonGreedy, wraps=True),
    "plackett_luce": Registration(PlackettLuce, wraps=True),
    "random_traffic": Registration(RandomTraffic, wraps=True),
    "randomized_swaps": Registration(RandomizedSwaps, wraps=True),
    "uncertainty_bonus": Registration(UncertaintyBonus, wraps=True),
    "random_startup": Registration(RandomStartup, wraps=True),
    "interleave_new": Registration(InterleaveNew, wraps=True),
    "retrieval": Registration(Retrieval, wraps=True),
}
"""Wrapper name -> ``registration(policy, context, **params)``."""


def register_policy(
    name: str, inject: Mapping[str, str] | None = None
) -> Callable[[type[T]], type[T]]:
    """Class decorator: make the policy class available to experiments as `name`, taking
    from the run what `inject` declares (constructor parameter -> one of `INJECTIONS`).
    """

    def add(cls: type[T]) -> type[T]:
        _add("policy", POLICIES, name, Registration(cls, inject=dict(inject or {})))
        return cls

    return add


def register_wrapper(
    name: str, inject: Mapping[str, str] | None = None
) -> Callable[[type[T]], type[T]]:
    """Class decorator: make the wrapper class available as `name`; its first constructor
    parameter receives the policy it wraps.
    """

    def add(cls: type[T]) -> type[T]:
        _add("wrapper", WRAPPERS, name, Registration(cls, inject=dict(inject or {}), wraps=True))
        return cls

    return add


def _add(
    kind: str, registry: dict[str, Callable[..., Any]], name: str, registration: Registration
) -> None:
    """Register `name`, refusing a name another class already holds (re-importing the same
    class, e.g. after a module reload, is fine).
    """
    taken = registry.get(name)
    if taken is not None and _qualified(taken) != _qualified(registration):
        raise ValueError(f"{kind} name {name!r} is taken by {_qualified(taken)}")
    registry[name] = registration


def _qualified(entry: Any) -> str:
    built = entry.cls if isinstance(entry, Registration) else entry
    return f"{built.__module__}.{built.__qualname__}"


def _load_entry_point(kind: str, name: str, registry: dict[str, Callable[..., Any]]) -> None:
    """Register `name` from an installed entry point of `kind`'s group, if there is one."""
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUPS[kind], name=name):
        loaded = entry.load()  # a module using the decorator registers itself on import
        if name not in registry:
            registry[name] = (
                loaded
                if isinstance(loaded, Registration)
                else Registration(loaded, wraps=kind == "wrapper")
            )
        return


def _check(
    kind: str, name: str, params: Mapping[str, Any], registry: dict[str, Callable[..., Any]]
) -> Callable[..., Any]:
    if name not in registry:
        _load_entry_point(kind, name, registry)
    if name not in registry:
        installed = {e.name for e in metadata.entry_points(group=ENTRY_POINT_GROUPS[kind])}
        names = sorted(set(registry) | installed)
        known = ", ".join(names) or "none yet"
        raise ValueError(f"unknown {kind} {name!r}{did_you_mean(name, names)}; known: {known}")
    build = registry[name]
    n_positional = 2 if kind == "wrapper" else 1
    accepted = list(inspect.signature(build).parameters.values())[n_positional:]
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted):
        return build
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
    return build


def make_policy(
    name: str,
    context: RunContext | World,
    wrappers: Sequence[tuple[str, Mapping[str, Any]]] = (),
    **params: Any,
) -> Policy:
    """Build policy `name` for a run (a `RunContext`, or just its world), then wrap it in each
    of `wrappers` in order.
    """
    if isinstance(context, World):
        context = RunContext(context)
    policy = _check("policy", name, params, POLICIES)(context, **params)
    for wrapper_name, wrapper_params in wrappers:
        wrap = _check("wrapper", wrapper_name, wrapper_params, WRAPPERS)
        policy = wrap(policy, context, **wrapper_params)
    return policy
