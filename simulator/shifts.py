"""Distribution shift injected on purpose: covariate shift, label shift and concept drift.

A shift is a *kind* (what changes) times a *profile* (when): abrupt at a day, gradual over a
period, or periodic. The profile gives a weight w(t) in [0, 1]; the shift sets the world to
``baseline + w(t) * (target - baseline)`` at the start of every serving tick. Shifts of different
kinds compose (pass several to the simulation); two shifts of one kind would overwrite each other
and are rejected.

What each kind changes and what it leaves fixed (tests check both):

* :class:`CovariateShift` moves the segments' arrival shares: P(X) changes through the segment
  mix, while every user's and item's attractiveness, hence P(click | features), stays put.
* :class:`LabelShift` multiplies every attractiveness by a factor kappa (clipped at 1): the click
  rate P(Y) scales by kappa while P(X | click) is unchanged, since it is proportional to
  P(X) * kappa * a(X). (P(X | no click), proportional to P(X) (1 - kappa a), moves by O(a): with
  click probabilities of a few percent this is close to pure label shift.)
* :class:`ConceptDrift` rotates the items' latent attributes in a random plane while their
  observable features stay those of the unrotated attributes: P(click | features) changes, the
  distribution of features does not.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from simulator.validation import (
    require_choice,
    require_non_negative,
    require_number,
    require_positive,
)
from simulator.world import World, WorldConfig


class Profile(Protocol):
    """When a shift acts: a weight in [0, 1] for every time, 0 meaning the baseline world."""

    def weight(self, t: float) -> float:
        """The weight at time `t` (days)."""


def onset(shift: Shift, days: int) -> int | None:
    """The first day a shift changes anything within `days`, or ``None`` if it never does."""
    if not shift.changes_anything:
        return None
    return next((day for day in range(days) if shift.profile.weight(day + 1.0 - 1e-9) > 0), None)


@dataclass(frozen=True)
class Abrupt:
    """Weight 0 before day `at`, 1 from then on."""

    at: float

    def __post_init__(self) -> None:
        require_non_negative("at", self.at)

    def weight(self, t: float) -> float:
        """1 from day `at` on, else 0."""
        return 1.0 if t >= self.at else 0.0


@dataclass(frozen=True)
class Gradual:
    """Weight rising linearly from 0 at day `start` to 1 at day `end`."""

    start: float
    end: float

    def __post_init__(self) -> None:
        require_non_negative("start", self.start)
        if not self.end > self.start:
            raise ValueError(f"end must be after start ({self.start}), got {self.end}")

    def weight(self, t: float) -> float:
        """The share of the way from `start` to `end` reached at `t`, clipped to [0, 1]."""
        return min(1.0, max(0.0, (t - self.start) / (self.end - self.start)))


@dataclass(frozen=True)
class Periodic:
    """Seasonal weight (1 - cos(2 pi (t - phase) / period)) / 2: 0 at the phase, 1 half a
    period later.
    """

    period: float
    phase: float = 0.0

    def __post_init__(self) -> None:
        require_positive("period", self.period)
        require_number("phase", self.phase)

    def weight(self, t: float) -> float:
        """The seasonal weight at `t`; it repeats every `period` days."""
        return (1.0 - math.cos(2.0 * math.pi * (t - self.phase) / self.period)) / 2.0


@dataclass(frozen=True)
class CovariateShift:
    """Move the segments' arrival shares toward `arrival_shares`."""

    profile: Profile
    arrival_shares: tuple[float, ...]
    kind = "covariate"
    changes_anything = True

    def __post_init__(self) -> None:
        shares = np.asarray(self.arrival_shares, dtype=float)
        if shares.ndim != 1 or np.any(shares < 0) or not np.isclose(shares.sum(), 1.0):
            raise ValueError(
                f"arrival_shares must be non-negative and sum to 1, got {self.arrival_shares!r}"
            )

    def check_world(self, config: WorldConfig) -> None:
        """Refuse shares that do not give one share per segment of the world."""
        if len(self.arrival_shares) != config.n_segments:
            raise ValueError(
                f"arrival_shares must have one share per segment "
                f"({config.n_segments}), got {self.arrival_shares!r}"
            )

    def attach(self, world: World, rng: np.random.Generator) -> ShiftState:
        """Bind to `world`: each weight mixes its baseline arrival shares with the target ones.

        Only the mix of arriving segments moves, so the users and items themselves are unchanged.
        """
        self.check_world(world.config)
        baseline = world.arrival_shares.copy()
        target = np.asarray(self.arrival_shares, dtype=float)

        def apply(w: float) -> None:
            world.arrival_shares = baseline + w * (target - baseline)

        return ShiftState(self.profile, apply)


@dataclass(frozen=True)
class LabelShift:
    """Scale every click propensity by `click_rate_factor` (at full weight)."""

    profile: Profile
    click_rate_factor: float
    kind = "label"

    @property
    def changes_anything(self) -> bool:
        """False for a factor of 1, which would leave the click rate as it is."""
        return self.click_rate_factor != 1.0

    def __post_init__(self) -> None:
        require_positive("click_rate_factor", self.click_rate_factor)

    def check_world(self, config: WorldConfig) -> None:
        """Any world can take a label shift."""

    def attach(self, world: World, rng: np.random.Generator) -> ShiftState:
        """Bind to `world`: each weight mixes its baseline click scale with `click_rate_factor`."""
        baseline = world.click_scale

        def apply(w: float) -> None:
            world.click_scale = baseline + w * (self.click_rate_factor - baseline)

        return ShiftState(self.profile, apply)


@dataclass(frozen=True)
class ConceptDrift:
    """Rotate item latents by `angle` radians (at full weight) in a random plane."""

    profile: Profile
    angle: float = math.pi / 2
    kind = "concept"

    @property
    def changes_anything(self) -> bool:
        """False for an angle of 0, which would leave the item latents as they are."""
        return self.angle != 0.0

    def __post_init__(self) -> None:
        require_number("angle", self.angle)

    def check_world(self, config: WorldConfig) -> None:
        """Refuse a world of dimension below 2, which has no plane to rotate in."""
        if config.dim < 2:
            raise ValueError(
                f"concept drift rotates in a plane: it needs dim >= 2, got {config.dim}"
            )

    def attach(self, world: World, rng: np.random.Generator) -> ShiftState:
        """Bind to `world`: draw the plane of rotation from `rng` once, then rotate the item latents
        by the weight times `angle`.
        """
        self.check_world(world.config)
        u, v = plane(world.config.dim, rng)

        def apply(w: float) -> None:
            world.rotate_items(None if w == 0 else rotation_in_plane(u, v, w * self.angle))

        return ShiftState(self.profile, apply)


def plane(dim: int, rng: np.random.Generator) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Two orthonormal random directions."""
    q, _ = np.linalg.qr(rng.normal(size=(dim, 2)))
    return q[:, 0], q[:, 1]


def rotation_in_plane(
    u: NDArray[np.float64], v: NDArray[np.float64], angle: float
) -> NDArray[np.float64]:
    """The rotation by `angle` in the plane spanned by orthonormal u, v (identity elsewhere)."""
    outer = np.outer(v, u) - np.outer(u, v)
    projector = np.outer(u, u) + np.outer(v, v)
    return np.eye(len(u)) + math.sin(angle) * outer + (math.cos(angle) - 1.0) * projector


class ShiftState:
    """A shift attached to one world: re-applies itself only when its weight changes."""

    def __init__(self, profile: Profile, apply: _Apply) -> None:
        self.profile = profile
        self._apply = apply
        self._weight: float | None = None

    def update(self, t: float) -> None:
        """Bring the world to the weight at `t`; the world is touched only when the weight changes,
        so a constant profile costs nothing per tick.
        """
        weight = self.profile.weight(t)
        if weight != self._weight:
            self._apply(weight)
            self._weight = weight


class _Apply(Protocol):
    def __call__(self, w: float) -> None: ...


class Shift(Protocol):
    """A change to the world: its `kind` (what changes) and its `profile` (when)."""

    kind: str
    profile: Profile

    @property
    def changes_anything(self) -> bool:
        """Whether the shift at full weight differs from the baseline (else it has no onset)."""

    def check_world(self, config: WorldConfig) -> None:
        """Refuse a world of `config` the shift cannot act on (a ValueError), before any run."""
        ...

    def attach(self, world: World, rng: np.random.Generator) -> ShiftState:
        """Bind the shift to `world` (any randomness from `rng`) as a state updated every tick."""


def check_kinds(shifts: Sequence[Shift]) -> None:
    """Refuse two shifts of one kind: the later would overwrite what the earlier sets."""
    kinds = [shift.kind for shift in shifts]
    if len(set(kinds)) != len(kinds):
        raise ValueError(f"shifts must be of different kinds, got {kinds}")


SHIFT_KINDS: dict[str, type] = {
    "covariate": CovariateShift,
    "label": LabelShift,
    "concept": ConceptDrift,
}
PROFILES: dict[str, type] = {"abrupt": Abrupt, "gradual": Gradual, "periodic": Periodic}


def make_shift(kind: str, profile: str, **params: Any) -> Shift:
    """A shift from plain values, as an experiment file declares it::

    make_shift("covariate", "abrupt", at=30, arrival_shares=[0.6, 0.1, 0.1, 0.1, 0.1])
    """
    require_choice("kind", kind, SHIFT_KINDS)
    require_choice("profile", profile, PROFILES)
    profile_fields = dataclasses.fields(PROFILES[profile])
    kind_fields = [f for f in dataclasses.fields(SHIFT_KINDS[kind]) if f.name != "profile"]
    known = [f.name for f in (*profile_fields, *kind_fields)]
    for key in params:
        if key not in known:
            raise ValueError(
                f"{kind} shift ({profile}) has no parameter {key!r}; it takes: {', '.join(known)}"
            )
    for f in (*profile_fields, *kind_fields):
        if f.default is dataclasses.MISSING and f.name not in params:
            raise ValueError(f"{kind} shift ({profile}) needs parameter {f.name!r}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in params.items()}
    shape = PROFILES[profile](
        **{f.name: values[f.name] for f in profile_fields if f.name in values}
    )
    shift: Shift = SHIFT_KINDS[kind](
        profile=shape, **{f.name: values[f.name] for f in kind_fields if f.name in values}
    )
    return shift
