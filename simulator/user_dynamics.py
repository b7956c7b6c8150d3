"""Users who get bored, lose trust and leave: return and retention, satiation, perceived utility.

Every mechanism is off by default, so a world without them draws exactly as before. The maths:

**True vs perceived utility.** The true click logit is the world's
``z_ui = affinity * p_u . q_i + b_i + c - kappa * h_u,topic(i)`` (the last term is satiation,
below); the true attractiveness ``a_ui = sigmoid(z_ui)`` is what the item is worth to the user.
The *perceived* logit adds an item appeal (clickbait) unrelated to value,
``z'_ui = z_ui + e_i`` with ``e_i ~ Exponential(mean = appeal)`` drawn independently of every
quantity that sets value, so ``a'_ui = sigmoid(z'_ui) >= a_ui``. Clicks follow ``a'``; the
``utility``, ``oracle_utility`` and ``regret`` metrics stay on ``a`` (expected clicks had the user
seen every item as it truly is); ``ctr`` stays on the clicks actually made.

**Consumption utility of a session.** ``x = sum over clicked positions of a_ui / a'_ui``: each
click counts as the probability that it would also have happened under true attractiveness
(1 without appeal, so ``x`` is then the number of clicks). Under the position-based model
``E[x] = sum_r theta_r a_r``, the session's true utility, whatever the appeal: clickbait raises
clicks, not ``x``.

**Satisfaction.** ``s_u`` starts at the reference ``s_ref`` and after each of the user's sessions
(in time order) becomes ``(1 - w) s_u + w x``: an exponentially weighted mean of consumption
utility with weight ``w`` (``satisfaction_weight``).

**Return.** The arrival intensity is ``lambda_u(t) = lambda_u0 * f(s_u(t))`` with the
generalised logistic ``f(s) = F / (1 + (F - 1) exp(-beta (s - s_ref)))``: ``f(s_ref) = 1``,
``f -> F`` (``max_return_factor``) for very satisfied users and ``-> 0`` for very dissatisfied
ones; ``beta`` is ``return_sensitivity`` (0: f = 1). Satisfaction changes only between serving
ticks (a tick's sessions are served in one batch from the state at its start), so intensities are
piecewise constant and arrivals are drawn exactly by thinning: candidates at rate
``F * lambda_u0`` (times the segment's covariate-shift multiplier), each kept with probability
``f(s_u) / F`` if the user has joined and not left.

**Leaving.** After each session the user leaves for good with probability
``min(1, d0 * exp(gamma (s_ref - s_u)))``, ``s_u`` read after that session: ``d0``
(``leave_probability``) at the reference, each unit of satisfaction below it multiplying the
hazard by ``exp(gamma)`` (``leave_sensitivity``), a proportional-hazards form. It is drawn by
inversion with one exponential patience per user (`Retention`), so who leaves under which
service is coupled across policies. A user who leaves during a tick is recorded as departed at
their last session of that tick.

**Acquisition.** New users of segment s join as a Poisson process of ``rate_s`` users per day,
drawn like the initial population (preferences around the segment mean, log-normal activity,
noisy observable features).

**Satiation.** ``h_ut`` (per user and topic) decays as ``dh/dt = -r h`` (``recovery_rate``) and
jumps by 1 per clicked item of topic t; it lowers the true logit by ``kappa h_ut``
(``strength``). Jumps are applied, exactly decayed, at the end of each serving batch, and
sessions read h as of the end of the previous batch.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simulator.validation import did_you_mean, require_number


def _require_finite(name: str, value: Any, minimum: float = 0.0, maximum: float = math.inf) -> None:
    """A finite number (or each of a tuple) in [minimum, maximum]; NaN and infinity are bad."""
    for item in value if isinstance(value, tuple | list) else (value,):
        require_number(name, item)  # refuses NaN and infinity
        if not minimum <= item <= maximum:
            bounds = f"in [{minimum}, {maximum}]" if math.isfinite(maximum) else f">= {minimum}"
            raise ValueError(f"{name} must be a finite number {bounds}, got {value!r}")


@dataclass(frozen=True)
class RetentionConfig:
    """Satisfaction, return intensity and leaving (module docstring); off unless
    `return_sensitivity` or `leave_probability` is positive.

    The reference ``satisfaction_reference`` = 1 genuine click per session is a judgement call:
    in the standard world uniformly random slates give about 0.2 and the oracle about 2.6, so
    both satisfied and dissatisfied users are reachable.
    """

    satisfaction_weight: float = 0.1
    satisfaction_reference: float = 1.0
    return_sensitivity: float = 0.0
    max_return_factor: float = 2.0
    leave_probability: float = 0.0
    leave_sensitivity: float = 0.0

    def __post_init__(self) -> None:
        _require_finite("retention.satisfaction_weight", self.satisfaction_weight, 0.0, 1.0)
        _require_finite("retention.satisfaction_reference", self.satisfaction_reference)
        _require_finite("retention.return_sensitivity", self.return_sensitivity)
        _require_finite("retention.max_return_factor", self.max_return_factor, 1.0)
        _require_finite("retention.leave_probability", self.leave_probability, 0.0, 1.0)
        _require_finite("retention.leave_sensitivity", self.leave_sensitivity)

    @property
    def enabled(self) -> bool:
        """Whether return rates or leaving depend on satisfaction at all (off: no draws)."""
        return self.return_sensitivity > 0 or self.leave_probability > 0

    @property
    def intensity_bound(self) -> float:
        """The thinning bound F (1 when the return rate does not respond to satisfaction)."""
        return self.max_return_factor if self.return_sensitivity > 0 else 1.0

    def return_factor(self, satisfaction: NDArray[np.float64]) -> NDArray[np.float64]:
        """f(s) = F / (1 + (F - 1) exp(-beta (s - s_ref)))."""
        f_max, beta = self.max_return_factor, self.return_sensitivity
        gap = np.asarray(satisfaction, dtype=float) - self.satisfaction_reference
        return f_max / (1.0 + (f_max - 1.0) * np.exp(-beta * gap))

    def leave_chance(self, satisfaction: NDArray[np.float64]) -> NDArray[np.float64]:
        """min(1, d0 exp(gamma (s_ref - s))): the chance of leaving after a session."""
        gap = self.satisfaction_reference - np.asarray(satisfaction, dtype=float)
        # Far below the reference the hazard is 1 anyway; the clip keeps exp from overflowing.
        exponent = np.minimum(self.leave_sensitivity * gap, 700.0)
        return np.minimum(1.0, self.leave_probability * np.exp(exponent))


@dataclass(frozen=True)
class AcquisitionConfig:
    """New users per day, per segment (a list) or shared by every segment; 0 = off."""

    rate: float | tuple[float, ...] = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.rate, list):
            object.__setattr__(self, "rate", tuple(self.rate))
        _require_finite("acquisition.rate", self.rate)

    @property
    def enabled(self) -> bool:
        """Whether any segment acquires users (off: no draws)."""
        return any(r > 0 for r in np.atleast_1d(self.rate))


@dataclass(frozen=True)
class SatiationConfig:
    """Logit drop ``strength`` per unit of satiation and its ``recovery_rate`` per day; off
    while `strength` is 0.
    """

    strength: float = 0.0
    recovery_rate: float = 1.0

    def __post_init__(self) -> None:
        _require_finite("satiation.strength", self.strength)
        _require_finite("satiation.recovery_rate", self.recovery_rate)

    @property
    def enabled(self) -> bool:
        """Whether consumption lowers attraction at all."""
        return self.strength > 0


@dataclass(frozen=True)
class PerceptionConfig:
    """Mean item appeal (clickbait logit boost, exponential); 0 = clicks follow true utility."""

    appeal: float = 0.0

    def __post_init__(self) -> None:
        _require_finite("perception.appeal", self.appeal)

    @property
    def enabled(self) -> bool:
        """Whether items carry any appeal beyond their value."""
        return self.appeal > 0


DYNAMICS_CONFIGS: dict[str, type] = {
    "retention": RetentionConfig,
    "acquisition": AcquisitionConfig,
    "satiation": SatiationConfig,
    "perception": PerceptionConfig,
}
"""WorldConfig field -> its config class."""


def coerce_config(name: str, value: Any) -> Any:
    """The config object for WorldConfig field `name`, built from a mapping (a TOML table) when
    given one; unknown keys are a one-line ValueError.
    """
    cls = DYNAMICS_CONFIGS[name]
    if isinstance(value, cls):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a {cls.__name__} or a table, got {value!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(value) - known)
    if unknown:
        hint = did_you_mean(unknown[0], known)
        raise ValueError(f"{name} has no setting {unknown[0]!r}{hint}")
    return cls(**value)


def consumption_utility(
    clicks: NDArray[np.bool_],
    true_attractiveness: NDArray[np.float64],
    perceived: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Per session, x = sum over clicked positions of a / a' (module docstring)."""
    if perceived is true_attractiveness:
        return clicks.sum(axis=1).astype(float)
    ratio = true_attractiveness / np.maximum(perceived, 1e-300)
    return np.where(clicks, ratio, 0.0).sum(axis=1)


class Satiation:
    """Satiation h (users x topics), exact between updates: h(t) = h(clock) exp(-r (t - clock))."""

    def __init__(self, config: SatiationConfig, n_users: int, n_topics: int) -> None:
        self.config = config
        self.level = np.zeros((n_users, n_topics))
        self.clock = 0.0

    def add_users(self, n: int) -> None:
        """Rows for `n` newcomers, who have consumed nothing yet."""
        self.level = np.vstack([self.level, np.zeros((n, self.level.shape[1]))])

    def at(self, users: NDArray[np.integer], t: float) -> NDArray[np.float64]:
        """h_u. at time t >= clock, one row per user."""
        return self.level[users] * math.exp(-self.config.recovery_rate * (t - self.clock))

    def penalty(self, users: NDArray[np.integer], topics: NDArray[np.integer]) -> NDArray:
        """Kappa h_ut as of the clock: (len(users), len(topics)) for 1-d topics, or elementwise
        for a topics matrix with one row per user.
        """
        if topics.ndim == 1:  # take along one axis is several times faster than fancy indexing
            return np.take(self.config.strength * self.level[users], topics, axis=1)
        return self.config.strength * self.level[users[:, None], topics]

    def consume(
        self, times: NDArray[np.float64], users: NDArray[np.integer], topics: NDArray[np.integer]
    ) -> None:
        """Advance the clock to the last of `times` and add each consumption's decayed jump."""
        if len(times) == 0:
            return
        now = max(self.clock, float(times.max()))
        self.level *= math.exp(-self.config.recovery_rate * (now - self.clock))
        np.add.at(self.level, (users, topics), np.exp(-self.config.recovery_rate * (now - times)))
        self.clock = now


class Retention:
    """Per-user satisfaction and leaving (module docstring).

    Leaving is drawn by inversion, so that it is common across policies: each user gets a
    patience ``E_u ~ Exponential(1)`` from `rng` when created, and leaves after the first session
    at which the hazard spent, ``sum_j -log(1 - p_j)`` over their sessions so far, reaches it.
    The chance of staying through sessions 1..j is ``prod_j (1 - p_j)``, as with a fresh coin per
    session, but a user's patience is the same under every policy (common random numbers).
    """

    def __init__(self, config: RetentionConfig, n_users: int, rng: np.random.Generator) -> None:
        self.config = config
        self.satisfaction = np.full(n_users, config.satisfaction_reference)
        self.patience = rng.exponential(size=n_users)
        self.spent = np.zeros(n_users)

    def add_users(self, n: int, rng: np.random.Generator) -> None:
        """State for `n` newcomers: reference satisfaction and their own patience draws."""
        fresh = np.full(n, self.config.satisfaction_reference)
        self.satisfaction = np.concatenate([self.satisfaction, fresh])
        self.patience = np.concatenate([self.patience, rng.exponential(size=n)])
        self.spent = np.concatenate([self.spent, np.zeros(n)])

    def return_factor(self, users: NDArray[np.int64]) -> NDArray[np.float64]:
        """f(s_u) of each user, the multiplier of their base arrival rate."""
        return self.config.return_factor(self.satisfaction[users])

    def record(
        self,
        times: NDArray[np.float64],
        users: NDArray[np.int64],
        values: NDArray[np.float64],
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Update satisfaction and spent hazard session by session (sessions sorted by time);
        return the users who leave and their departure times (their last session here).
        """
        w = self.config.satisfaction_weight
        order = np.argsort(users, kind="stable")
        ordered = users[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
        rank = np.arange(len(users)) - np.repeat(starts, np.diff(np.r_[starts, len(users)]))
        leaving = np.zeros(len(users), dtype=bool)
        # One pass per repeat: a user's k-th session of the batch sees the state after the
        # (k-1)-th; within a pass every user appears once, so the update is vectorised.
        for k in range(int(rank.max()) + 1 if len(users) else 0):
            rows = order[rank == k]
            who = users[rows]
            self.satisfaction[who] = (1 - w) * self.satisfaction[who] + w * values[rows]
            with np.errstate(divide="ignore"):  # a hazard of 1 spends infinite patience
                self.spent[who] -= np.log1p(-self.config.leave_chance(self.satisfaction[who]))
            leaving[rows] = self.spent[who] >= self.patience[who]
        gone = np.unique(users[leaving])
        last = np.full(len(self.satisfaction), -np.inf)
        np.maximum.at(last, users, times)
        return gone, last[gone]
