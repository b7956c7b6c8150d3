"""Conformance checks for policies, as library code (like scikit-learn's estimator checks).

``check_policy(policy)`` checks the contract of :mod:`policies.base` twice: on a copy fitted on
an empty log, as the simulator's first fit at t = 0 is, and on a copy fitted on a small simulated
log. Both must give slates of the right shape, distinct candidate items, no blocked item while
enough unblocked ones remain, propensities in (0, 1], same seed same slates, and a
``propensities`` method (if any) that agrees with what ``rank`` reports; the fitted copy's
reported propensities must also match the empirical frequencies of many draws.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from policies.reference import RandomPolicy
from policies.slates import columns_of, take
from simulator.click_models import PositionBasedModel
from simulator.log import ImpressionLog
from simulator.protocols import ReportsPropensities
from simulator.records import Requests, Slates, TrainingData
from simulator.seeding import stream
from simulator.simulation import SimulationConfig, simulate
from simulator.world import World, WorldConfig

CHECK_WORLD = WorldConfig(n_users=300, n_items=40, n_segments=2, offset=-1.0)
"""A tiny world with high click rates, so two days of random slates give every item clicks."""


def check_policy(
    policy: Any,
    world: World | None = None,
    n_draws: int = 4000,
    alpha: float = 1e-3,
    seed: int = 0,
) -> None:
    """Raise AssertionError listing every contract `policy` violates.

    The slate checks run twice: on a copy fitted on an empty log at t = 0 (the simulator's
    first fit, which a policy must survive and still serve after) and on a copy fitted on two
    days of random slates. `world` is the world the policy belongs to (an
    :class:`OraclePolicy` needs its own; the default is a tiny generated one, which the check
    does not mutate). The frequency check
    draws `n_draws` slates of 3 out of 8 candidates for each of 4 requests (one with 2 items
    blocked) and tests every (request, position, item) cell, plus each position's mass on items
    never drawn, with an exact two-sided binomial test at family-wise level `alpha`
    (Bonferroni over the cells); with the defaults a propensity off by about 0.02 (at 0.1) to
    0.035 (at 0.5) is flagged. Rows of one ``rank`` call are taken as independent draws.

    Examples
    --------
    A shipped policy passes silently:

    >>> import numpy as np
    >>> from policies import RandomPolicy, check_policy
    >>> from simulator import Slates
    >>> check_policy(RandomPolicy())

    A random policy that logs propensity 1, as if it were deterministic, is caught by the sums
    of its propensities and by the frequencies of what it draws:

    >>> class Overconfident(RandomPolicy):
    ...     def rank(self, requests, candidates, k, rng):
    ...         slates = super().rank(requests, candidates, k, rng)
    ...         return Slates(slates.items, np.ones(slates.items.shape), slates.scores)
    >>> check_policy(Overconfident())
    Traceback (most recent call last):
    ...
    AssertionError: check_policy(Overconfident()) failed:
    ...
    - propensities at a position sum to 8.000000 > 1
    - 90 of 102 (request, position, item) cells have empirical frequencies inconsistent ...
    """
    world = world if world is not None else World.generate(CHECK_WORLD, stream(seed, "world"))
    failures: list[str] = []
    empty = TrainingData(ImpressionLog(slate_size=5).sessions(), world.features, now=0.0)
    try:
        first = _fitted(policy, world, empty)
    except Exception as error:
        failures.append(
            f"fit on an empty log (the simulator's first fit, at t = 0) raised "
            f"{type(error).__name__}: {error}"
        )
    else:
        twin = _fitted(policy, world, empty)
        found: list[str] = []
        _check_slates(first, twin, world, 0.0, seed, found)
        failures += [f"after the empty first fit: {f}" for f in found]
    data = _training_data(world, seed)
    fitted = _fitted(policy, world, data)
    _check_slates(fitted, _fitted(policy, world, data), world, data.now, seed, failures)
    _check_frequencies(fitted, world, n_draws, alpha, seed, failures)
    if failures:
        raise AssertionError(
            f"check_policy({policy!r}) failed:\n" + "\n".join(f"- {f}" for f in failures)
        )


def _training_data(world: World, seed: int) -> TrainingData:
    """Two days of uniformly random slates on a copy of `world`."""
    config = SimulationConfig(days=2, slate_size=5, ticks_per_day=4)
    result = simulate(copy.deepcopy(world), PositionBasedModel(), RandomPolicy(), config, seed)
    return TrainingData(impressions=result.log.sessions(), features=world.features, now=2.0)


def _fitted(policy: Any, world: World, data: TrainingData) -> Any:
    """A fitted copy that shares (does not copy) the world, as the simulator does."""
    fresh = copy.deepcopy(policy, memo={id(world): world})
    fitted = fresh.fit(data)
    return fresh if fitted is None else fitted


def _requests(
    world: World, users: NDArray[np.int64], blocked: NDArray[np.bool_] | None, t: float = 2.0
) -> Requests:
    return Requests(
        t=np.full(len(users), t),
        user=users,
        segment=world.user_segment[users],
        features=world.features,
        blocked=blocked,
    )


def _check_slates(
    policy: Any, twin: Any, world: World, t: float, seed: int, failures: list[str]
) -> None:
    """Slates at time `t` for 64 requests: half block nothing, a quarter about 10% of the
    candidates, a quarter all but exactly `k` (so any blocked item shown is a breach).
    """
    candidates = world.live_items
    k, n = 5, 64
    rng = stream(seed, "check-requests")
    users = rng.integers(world.n_users, size=n)
    blocked = rng.random((n, len(candidates))) < 0.1
    blocked[: n // 2] = False
    tight = np.arange(3 * n // 4, n)
    blocked[tight] = True
    keep = np.argsort(rng.random((len(tight), len(candidates))), axis=1)[:, :k]
    blocked[tight[:, None], keep] = False
    requests = _requests(world, users, blocked, t)
    slates = policy.rank(requests, candidates, k, stream(seed, "check-rank"))
    if not isinstance(slates, Slates) or slates.items.shape != (n, k):
        failures.append(f"rank must return Slates of shape {(n, k)}, got {slates!r}")
        return
    items, propensities = slates.items, slates.propensities
    if not np.isin(items, candidates).all():
        failures.append("slates hold items that are not candidates")
    ordered = np.sort(items, axis=1)
    if (ordered[:, 1:] == ordered[:, :-1]).any():
        failures.append("a slate shows the same item twice")
    shown_blocked = take(blocked.astype(float), np.arange(n), columns_of(candidates, items)) > 0
    if shown_blocked.any():
        failures.append(f"{int(shown_blocked.sum())} blocked items shown")
    if not (np.isfinite(propensities) & (propensities > 0) & (propensities <= 1)).all():
        failures.append(
            f"propensities must be in (0, 1], got range "
            f"[{propensities.min():.3g}, {propensities.max():.3g}]"
        )
    if not np.isfinite(slates.scores).all():
        failures.append("scores must be finite")
    again = twin.rank(requests, candidates, k, stream(seed, "check-rank"))
    if not all(
        np.array_equal(getattr(slates, f), getattr(again, f))
        for f in ("items", "propensities", "scores")
    ):
        failures.append("the same seed gave different slates")
    if isinstance(policy, ReportsPropensities):
        told = policy.propensities(requests, candidates, items)
        gap = float(np.abs(told - propensities).max())
        if gap > 1e-9:
            failures.append(f"propensities() differs from rank's propensities by up to {gap:.3g}")


def _check_frequencies(
    policy: Any, world: World, n_draws: int, alpha: float, seed: int, failures: list[str]
) -> None:
    candidates = world.live_items[:8]
    n_base, k, n_cells = 4, 3, 8
    n_segments = world.config.n_segments
    users = np.array(
        [np.flatnonzero(world.user_segment == s % n_segments)[s // n_segments] for s in range(4)]
    )
    base_blocked = np.zeros((n_base, len(candidates)), dtype=bool)
    base_blocked[3, [0, 5]] = True
    shape = (n_base, k, n_cells)
    counts = np.zeros(shape)
    low, high = np.full(shape, np.inf), np.full(shape, -np.inf)
    rng = stream(seed, "check-draws")
    per_call = 500
    drawn = 0
    while drawn < n_draws:
        repeats = min(per_call, n_draws - drawn)
        base = np.tile(np.arange(n_base), repeats)
        requests = _requests(world, users[base], base_blocked[base])
        slates = policy.rank(requests, candidates, k, rng)
        cols = columns_of(candidates, slates.items)
        if (cols < 0).any():
            failures.append("slates hold items that are not candidates")
            return
        cell = (base[:, None] * k + np.arange(k)) * n_cells + cols
        counts += np.bincount(cell.ravel(), minlength=counts.size).reshape(shape)
        np.minimum.at(low.reshape(-1), cell.ravel(), slates.propensities.ravel())
        np.maximum.at(high.reshape(-1), cell.ravel(), slates.propensities.ravel())
        drawn += repeats
    seen = counts > 0
    if (high - low)[seen].max(initial=0.0) > 1e-9:
        failures.append("the same item at the same position got different propensities")
    claimed = np.where(seen, low, 0.0)
    unseen_mass = 1.0 - claimed.sum(axis=2)
    if unseen_mass.min() < -1e-9:
        failures.append(f"propensities at a position sum to {1 - unseen_mass.min():.6f} > 1")
    p = np.concatenate([claimed[seen], np.clip(unseen_mass, 0.0, 1.0).ravel()])
    x = np.concatenate([counts[seen], np.zeros(unseen_mass.size)])
    lower = stats.binom.cdf(x, n_draws, p)
    upper = stats.binom.sf(x - 1, n_draws, p)
    p_values = np.minimum(1.0, 2.0 * np.minimum(lower, upper))
    bad = p_values < alpha / len(p_values)
    if bad.any():
        worst = int(np.argmin(p_values))
        failures.append(
            f"{int(bad.sum())} of {len(p_values)} (request, position, item) cells have empirical "
            f"frequencies inconsistent with the reported propensities over {n_draws} draws "
            f"(Bonferroni, family-wise level {alpha}); worst: reported {p[worst]:.4f}, "
            f"observed {x[worst] / n_draws:.4f}"
        )
