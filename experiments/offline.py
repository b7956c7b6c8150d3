"""Off-policy evaluation: estimate a target policy's value from an impression log, and check the
estimate against the truth only a simulator knows.

The value of a policy is its expected clicks per session. Every estimator here works on
(item, position) pairs: under any click model where the click at position r depends only on the
context, the item at r and r itself (the position-based model among them), the expected clicks
of a slate policy pi are sum_r sum_i pi(i at r | x) q(x, i, r) with q(x, i, r) = P(click). With
the logging policy's exact propensity pi_0(i at r | x) in the log, weights
w = pi(i at r | x) / pi_0(i at r | x) make logged clicks unbiased for that sum (Li, Kim &
Zitouni, 2018, "Offline evaluation of ranking policies with click models").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import lightgbm as lgb
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from simulator.click_models import ClickModel
from simulator.records import Impressions, Requests
from simulator.validation import require_choice, require_int, require_positive
from simulator.world import World

Z_95 = 1.959963984540054


class RewardModel(Protocol):
    """Predicted click probabilities (sessions x positions) of the logged items and of `items`."""

    def __call__(
        self, log: Impressions, world: World, items: NDArray[np.int64], seed: int
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...


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


@dataclass(frozen=True)
class Estimate:
    estimator: str
    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    n_sessions: int
    effective_sample_size: float


def _normal_ci(
    name: str, contributions: NDArray[np.float64], weights: NDArray[np.float64]
) -> Estimate:
    n = len(contributions)
    mean = float(contributions.mean())
    se = float(contributions.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    total = weights.sum()
    ess = float(total**2 / np.sum(weights**2)) if total > 0 else 0.0
    return Estimate(name, mean, se, mean - Z_95 * se, mean + Z_95 * se, n, ess)


def ips(clicks: NDArray, weights: NDArray) -> tuple[NDArray, NDArray]:
    """IPS: V = 1/n sum_s sum_r w_sr c_sr. Per-session contributions."""
    return (weights * clicks).sum(axis=1), weights


def naive(clicks: NDArray, in_target: NDArray) -> tuple[NDArray, NDArray]:
    """Position- and propensity-blind: k times the click rate of logged items that the target
    also shows (anywhere in its slate). Under uniform logging it is unbiased only without
    position bias; with it, it credits every position with the average examination."""
    k = clicks.shape[1]
    mean_in = max(in_target.sum(axis=1).mean(), 1e-12)
    rate = (clicks * in_target).sum(axis=1).mean() / mean_in
    influence = k * ((clicks - rate) * in_target).sum(axis=1) / mean_in
    return k * rate + influence - influence.mean(), in_target


def snips(clicks: NDArray, weights: NDArray) -> tuple[NDArray, NDArray]:
    """Self-normalised IPS (Swaminathan & Joachims, 2015), per position:
    V = sum_r (sum_s w_sr c_sr / sum_s w_sr). Contributions are the delta-method influence
    values, so their mean is the estimate and their spread gives its standard error."""
    mean_w = weights.mean(axis=0)
    safe = np.where(mean_w > 0, mean_w, 1.0)
    ratio = np.where(mean_w > 0, (weights * clicks).mean(axis=0) / safe, 0.0)
    influence = (weights * (clicks - ratio) / safe).sum(axis=1)
    return ratio.sum() + influence - influence.mean(), weights


def doubly_robust(
    clicks: NDArray, weights: NDArray, q_logged: NDArray, q_target: NDArray
) -> tuple[NDArray, NDArray]:
    """Doubly robust (Dudik, Langford & Li, 2011), per position:
    V = 1/n sum_s sum_r [q(x, target_r, r) + w_sr (c_sr - q(x, logged_r, r))]."""
    return (q_target + weights * (clicks - q_logged)).sum(axis=1), weights


def reward_model(
    log: Impressions, world: World, items: NDArray[np.int64], seed: int, folds: int = 2
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Cross-fitted LightGBM click model q(x, i, r) on observable features and position.

    Returns predictions for the logged items and for `items` (the target's), each session
    predicted by the model not trained on it, so DR's correction term stays unbiased.
    """
    n, k = log.item.shape
    fold = np.random.default_rng(seed).integers(folds, size=n)
    q_logged, q_target = np.empty((n, k)), np.empty((n, k))
    for f in range(folds):
        train, test = fold != f, fold == f
        booster = lgb.train(
            {
                "objective": "binary",
                "num_leaves": 31,
                "learning_rate": 0.1,
                "min_data_in_leaf": 50,
                "num_threads": 1,
                "deterministic": True,
                "seed": seed,
                "verbose": -1,
            },
            lgb.Dataset(_features(log, world, log.item, train), log.click[train].ravel()),
            num_boost_round=60,
        )
        q_logged[test] = np.asarray(booster.predict(_features(log, world, log.item, test))).reshape(
            -1, k
        )
        q_target[test] = np.asarray(booster.predict(_features(log, world, items, test))).reshape(
            -1, k
        )
    return q_logged, q_target


def _features(
    log: Impressions, world: World, items: NDArray, rows: NDArray[np.bool_]
) -> NDArray[np.float64]:
    k = items.shape[1]
    users = np.repeat(log.user[rows], k)
    t = np.repeat(log.t[rows], k)
    shown = items[rows].ravel()
    item_x = world.features.items(shown, 0.0)
    item_x[:, -1] = t - world.item_birth[shown]
    position = np.tile(np.arange(1, k + 1), int(rows.sum()))
    return np.column_stack([world.features.users(users), item_x, position])


ESTIMATORS = ("naive", "ips", "snips", "dm", "dr")


def evaluate_offline(
    log: Impressions,
    world: World,
    target: object,
    estimators: tuple[str, ...] = ESTIMATORS,
    clip: float | None = None,
    ci: str = "normal",
    n_bootstrap: int = 200,
    seed: int = 0,
    rewards: RewardModel | None = None,
) -> pd.DataFrame:
    """Estimates of `target`'s expected clicks per session from `log`, with 95% intervals.

    `clip` caps importance weights (trading bias for variance); `ci` is ``"normal"``
    (asymptotic) or ``"bootstrap"`` (percentile, resampling sessions). Estimators: ``naive``
    (no weights, no positions), ``ips``, ``snips``, ``dm`` (the reward model alone) and ``dr``.
    `rewards` replaces the default cross-fitted LightGBM reward model of ``dm`` and ``dr``.
    """
    for name in estimators:
        require_choice("estimator", name, ESTIMATORS)
    if clip is not None:
        require_positive("clip", clip)
    require_choice("ci", ci, ("normal", "bootstrap"))
    require_int("n_bootstrap", n_bootstrap, 10)
    targets = target_on_log(log, world, target, np.random.default_rng(seed))
    weights = targets.weights if clip is None else np.minimum(targets.weights, clip)
    clicks = log.click.astype(float)
    in_target = (log.item[:, :, None] == targets.items[:, None, :]).any(axis=2).astype(float)
    q: tuple[NDArray, NDArray] | None = None
    if {"dm", "dr"} & set(estimators):
        q = (rewards or reward_model)(log, world, targets.items, seed)

    def contributions(name: str, rows: NDArray[np.int64]) -> tuple[NDArray, NDArray]:
        c, w = clicks[rows], weights[rows]
        if name == "naive":
            return naive(c, in_target[rows])
        if name == "ips":
            return ips(c, w)
        if name == "snips":
            return snips(c, w)
        assert q is not None
        if name == "dm":
            return q[1][rows].sum(axis=1), w
        return doubly_robust(c, w, q[0][rows], q[1][rows])

    everything = np.arange(len(log))
    rows: list[Estimate] = []
    for name in estimators:
        values, w = contributions(name, everything)
        estimate = _normal_ci(name, values, w)
        if ci == "bootstrap":
            estimate = _bootstrap(estimate, contributions, name, len(log), n_bootstrap, seed)
        rows.append(estimate)
    return pd.DataFrame([vars(r) for r in rows])


def _bootstrap(
    estimate: Estimate,
    contributions: Callable[[str, NDArray[np.int64]], tuple[NDArray, NDArray]],
    name: str,
    n: int,
    n_bootstrap: int,
    seed: int,
) -> Estimate:
    rng = np.random.default_rng([seed, 1])
    draws = [contributions(name, rng.integers(n, size=n))[0].mean() for _ in range(n_bootstrap)]
    low, high = np.quantile(draws, [0.025, 0.975])
    return Estimate(
        estimate.estimator,
        estimate.estimate,
        float(np.std(draws, ddof=1)),
        float(low),
        float(high),
        estimate.n_sessions,
        estimate.effective_sample_size,
    )


def value_on_log(log: Impressions, world: World, target: object, click_model: ClickModel) -> float:
    """The exact estimand: `target`'s expected clicks per session on the logged contexts, under
    the world's *current* attractiveness (exact for a world without dynamics or shifts)."""
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
