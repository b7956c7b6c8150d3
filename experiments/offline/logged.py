"""The log seen through a target policy: the target's slates and importance weights on the
logged contexts, the exact value the estimators aim at, and the log in OBP's layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulator.click_models import ClickModel
from simulator.records import Impressions, Requests
from simulator.world import World


@dataclass(frozen=True)
class LoggedTargets:
    """The target policy's slates on the logged contexts, aligned with the log's sessions."""

    items: NDArray[np.int64]
    weights: NDArray[np.float64]
    """w[s, r] = pi_target(logged item at r) / pi_log(logged item at r), before clipping."""


def live_at(world: World, t: float) -> NDArray[np.int64]:
    """Item ids live at time `t` (the catalog only changes at day boundaries)."""
    return np.flatnonzero((world.item_birth <= t) & (world.item_retired > t))


def target_on_log(
    log: Impressions, world: World, target: object, rng: np.random.Generator
) -> LoggedTargets:
    """Ask a deterministic `target` for its slate on every logged context, day by day.

    Raises ValueError for a log without usable propensities, a target that is stochastic (its
    reported propensities are not 1), a slate of another size, or a support violation: the target
    puts an item at a position where the logging policy could have shown no other item (logged
    propensity 1 for a different item), so no logged data can speak for it.
    """
    if not np.all(np.isfinite(log.propensity)) or np.any(log.propensity <= 0):
        raise ValueError(
            "log propensities must be finite and > 0: the logging policy did not report the "
            "probability of what it showed"
        )
    k = log.slate_size
    items = np.empty_like(log.item, dtype=np.int64)
    days = np.floor(log.t).astype(int)
    for day in np.unique(days):
        rows = np.flatnonzero(days == day)
        requests = Requests(
            t=log.t[rows],
            user=log.user[rows].astype(np.int64),
            segment=log.segment[rows],
            features=world.features,
        )
        slates = target.rank(requests, live_at(world, float(day)), k, rng)  # type: ignore[attr-defined]
        if slates.items.shape != (len(rows), k):
            raise ValueError(
                f"target slates have shape {slates.items.shape[1:]} per session, the log has "
                f"slates of {k}: evaluate a target with the logged slate size"
            )
        if not np.allclose(slates.propensities, 1.0):
            raise ValueError(
                "target must be deterministic (propensities 1); evaluate the greedy part of a "
                "stochastic policy, or compare its online value with ground_truth"
            )
        items[rows] = slates.items
    matches = items == log.item
    certain = log.propensity >= 1.0 - 1e-12
    violations = int(np.sum(certain & ~matches))
    if violations:
        raise ValueError(
            f"support violation: at {violations} (session, position) pairs the target shows an "
            f"item the logging policy could not have shown there (it logged another item with "
            f"propensity 1)"
        )
    return LoggedTargets(items=items, weights=matches / log.propensity)


def value_on_log(log: Impressions, world: World, target: object, click_model: ClickModel) -> float:
    """The exact estimand: `target`'s expected clicks per session on the logged contexts, under
    the world's *current* attractiveness (exact for a world without dynamics or shifts).
    """
    items = target_on_log(log, world, target, np.random.default_rng(0)).items
    attractiveness = world.slate_attractiveness(log.user.astype(np.int64), items)
    return float(click_model.click_probabilities(attractiveness).sum(axis=1).mean())


def to_obp(log: Impressions, world: World) -> dict[str, object]:
    """The log in the Open Bandit Pipeline's logged-bandit-feedback layout.

    Keys as in ``obp.dataset``: ``n_rounds``, ``n_actions``, ``action``, ``position`` (0-based),
    ``reward``, ``pscore``, ``context`` (observable user features) and ``action_context``
    (observable item features at birth); one round per impression.
    """
    n, k = log.item.shape
    users = np.repeat(log.user, k)
    return {
        "n_rounds": n * k,
        "n_actions": world.n_items_total,
        "action": log.item.ravel().astype(np.int64),
        "position": np.tile(np.arange(k), n),
        "reward": log.click.ravel().astype(int),
        "pscore": log.propensity.ravel(),
        "context": world.features.users(users.astype(np.int64)),
        "action_context": world.features.items(np.arange(world.n_items_total), 0.0),
    }
