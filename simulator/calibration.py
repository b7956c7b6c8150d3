"""Worlds calibrated from a real interaction log (`World.from_interactions`).

A log (user, item, optional timestamp and position, a click or a rating per row) becomes a
normal :class:`World` whose true attractiveness ``a_ui = sigmoid(affinity p_u . q_i + b_i + c)``
explains it. Every row is an exposure; a click (or a rating at least `rating_threshold`) is a
positive. The fit has three stages:

1. Logistic matrix factorisation, ``logit = x_u . y_i + b_i + c``, the MAP fit of the
   binomial likelihood of clicks per exposure with Gaussian priors, by L-BFGS
   (`scipy.optimize`). scipy rather than the optional `implicit` package: implicit's ALS treats
   an item shown and not clicked like one never shown, but a log's exposures are exactly what
   tells a low attractiveness from an unseen item; and scipy is already a dependency.
2. The world's form: ``p_u``, ``q_i`` are the unit directions of ``x_u``, ``y_i``; then
   ``affinity``, ``b_i`` and ``c`` are refitted by penalised logistic regression on the cosines.
3. The offset ``c`` is moved (root finding) until the mean simulated click probability over the
   logged exposures, ``theta_r a_ui`` with the position-based examination ``theta_r = r**-eta``
   when the log has positions, equals the log's click rate.

Activity is each user's sessions per day (distinct timestamps over the log's span), or their
row counts scaled to `mean_sessions_per_day` without timestamps; item popularity is carried by
``b_i``. Segments and topics are k-means clusters of the fitted preferences and attributes.
Reading and checking the log is `simulator.interactions`; a guide is docs/calibration.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import optimize, sparse
from scipy.cluster.vq import kmeans2

from simulator.interactions import ExposurePairs, read_interactions
from simulator.seeding import stream
from simulator.validation import require_int, require_non_negative, require_number, require_positive
from simulator.world import World, WorldConfig, sigmoid


@dataclass(frozen=True)
class CalibrationConfig:
    """How a log is read and fitted. Column names first, then the model's size and priors.

    ``prior_sd`` (the Gaussian prior on factors) and ``quality_prior_sd`` are judgement calls:
    with a few clicks per user, weaker priors memorise each user's clicks.
    """

    user: str = "user"
    item: str = "item"
    time: str = "t"
    """Timestamp column, optional in the log; `time_unit` days per unit (1/86400 for Unix
    seconds); datetime columns are converted."""
    time_unit: float = 1.0
    click: str = "click"
    rating: str = "rating"
    """Used when the log has no click column: a rating >= `rating_threshold` is a click."""
    rating_threshold: float = 4.0
    position: str = "position"
    """Optional 1-based slate position: examination r**-eta enters the calibration."""
    eta: float = 1.0
    dim: int = 8
    prior_sd: float = 0.5
    quality_prior_sd: float = 1.0
    n_segments: int = 5
    n_topics: int = 20
    mean_sessions_per_day: float = 1.0
    """Mean activity when the log has no timestamps (counts give only relative activity)."""
    preference_drift: float = 0.0
    """The log cannot tell how preferences move: static users unless told otherwise."""
    churn: float = 0.0
    max_iterations: int = 200

    def __post_init__(self) -> None:
        for name in ("user", "item", "time", "click", "rating", "position"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"{name} must be a column name, got {getattr(self, name)!r}")
        require_positive("time_unit", self.time_unit)
        require_number("rating_threshold", self.rating_threshold)
        require_non_negative("eta", self.eta)
        require_int("dim", self.dim, 1)
        require_positive("prior_sd", self.prior_sd)
        require_positive("quality_prior_sd", self.quality_prior_sd)
        require_int("n_segments", self.n_segments, 1)
        require_int("n_topics", self.n_topics, 1)
        require_positive("mean_sessions_per_day", self.mean_sessions_per_day)
        require_int("max_iterations", self.max_iterations, 1)


@dataclass(frozen=True)
class Calibration:
    """A calibrated world and what its fit says. World user/item k is ``user_ids[k]`` /
    ``item_ids[k]`` of the log.
    """

    world: World
    user_ids: NDArray[np.int64]
    item_ids: NDArray[np.int64]
    log_click_rate: float
    """Clicks per logged exposure."""
    simulated_click_rate: float
    """Mean theta_r * a_ui of the calibrated world over the logged exposures."""
    days: float | None
    """Span of the log's timestamps in days; ``None`` without timestamps."""
    n_exposures: int


def calibrate(
    df: pd.DataFrame,
    config: CalibrationConfig | None = None,
    rng: np.random.Generator | None = None,
) -> Calibration:
    """Fit a world to the interaction log `df` (see the module docstring).

    Every random draw (factor initialisation, clustering, observable features) comes from
    `rng`; ``None`` means `stream(0, "calibration")`, so a fit is reproducible either way.
    """
    config = CalibrationConfig() if config is None else config
    rng = stream(0, "calibration") if rng is None else rng
    log = read_interactions(df, config)
    pairs, activity = log.pairs, log.activity
    n_users, n_items = len(log.user_ids), len(log.item_ids)

    x, y = _factorise(pairs, n_users, n_items, config, rng)
    p, q = _unit(x), _unit(y)
    affinity, quality, offset = _refit(pairs, p, q, config)
    score = affinity * np.sum(p[pairs.user] * q[pairs.item], 1) + quality[pairs.item]
    offset = _calibrated_offset(pairs, score, log.click_rate, offset)

    world_config = WorldConfig(
        n_users=n_users,
        n_items=n_items,
        dim=config.dim,
        n_segments=min(config.n_segments, n_users),
        n_topics=min(config.n_topics, n_items),
        mean_sessions_per_day=float(activity.mean()),
        activity_sigma=float(np.std(np.log(activity))),
        quality_sd=float(np.std(quality)),
        affinity=affinity,
        offset=offset,
        churn=config.churn,
        preference_drift=config.preference_drift,
    )
    world = _assemble(world_config, p, q, quality, activity, rng)
    a = world.slate_attractiveness(pairs.user, pairs.item[:, None])[:, 0]
    simulated = float((pairs.examined * a).sum() / pairs.shown.sum())
    return Calibration(
        world, log.user_ids, log.item_ids, log.click_rate, simulated, log.days, log.n_exposures
    )


def calibrate_world(
    df: pd.DataFrame,
    config: CalibrationConfig | None = None,
    rng: np.random.Generator | None = None,
) -> World:
    """The world of :func:`calibrate`."""
    return calibrate(df, config, rng).world


# ---------------------------------------------------------------------------- fitting
def _factorise(
    pairs: ExposurePairs,
    n_users: int,
    n_items: int,
    config: CalibrationConfig,
    rng: np.random.Generator,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """MAP logistic matrix factorisation logit = x_u . y_i + b_i + c; returns (x, y)."""
    d = config.dim
    sizes = (n_users * d, n_items * d, n_items)
    start = np.concatenate(
        [rng.normal(scale=0.1, size=sizes[0] + sizes[1]), np.zeros(n_items), [_logit_rate(pairs)]]
    )
    ridge = 1.0 / config.prior_sd**2
    ridge_b = 1.0 / config.quality_prior_sd**2

    def split(params: NDArray[np.float64]) -> tuple[NDArray, NDArray, NDArray, float]:
        x = params[: sizes[0]].reshape(n_users, d)
        y = params[sizes[0] : sizes[0] + sizes[1]].reshape(n_items, d)
        return x, y, params[sizes[0] + sizes[1] : -1], float(params[-1])

    def loss(params: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        x, y, b, c = split(params)
        logit = np.sum(x[pairs.user] * y[pairs.item], 1) + b[pairs.item] + c
        nll = np.sum(pairs.shown * np.logaddexp(0.0, logit) - pairs.clicks * logit)
        residual = pairs.shown * sigmoid(logit) - pairs.clicks
        r = sparse.csr_matrix((residual, (pairs.user, pairs.item)), shape=(n_users, n_items))
        grad = np.concatenate(
            [
                (r @ y + ridge * x).ravel(),
                (r.T @ x + ridge * y).ravel(),
                np.bincount(pairs.item, weights=residual, minlength=n_items) + ridge_b * b,
                [residual.sum()],
            ]
        )
        penalty = 0.5 * (ridge * (np.sum(x**2) + np.sum(y**2)) + ridge_b * np.sum(b**2))
        return float(nll + penalty), grad

    fit = optimize.minimize(
        loss, start, jac=True, method="L-BFGS-B", options={"maxiter": config.max_iterations}
    )
    x, y, _, _ = split(fit.x)
    return x, y


def _refit(
    pairs: ExposurePairs, p: NDArray[np.float64], q: NDArray[np.float64], config: CalibrationConfig
) -> tuple[float, NDArray[np.float64], float]:
    """(affinity, b, c) of logit = affinity * p_u . q_i + b_i + c, penalised like stage 1."""
    n_items = len(q)
    cosine = np.sum(p[pairs.user] * q[pairs.item], 1)
    ridge_b = 1.0 / config.quality_prior_sd**2

    def loss(params: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        affinity, b, c = params[0], params[1:-1], params[-1]
        logit = affinity * cosine + b[pairs.item] + c
        nll = np.sum(pairs.shown * np.logaddexp(0.0, logit) - pairs.clicks * logit)
        residual = pairs.shown * sigmoid(logit) - pairs.clicks
        grad = np.concatenate(
            [
                [residual @ cosine],
                np.bincount(pairs.item, weights=residual, minlength=n_items) + ridge_b * b,
                [residual.sum()],
            ]
        )
        return float(nll + 0.5 * ridge_b * np.sum(b**2)), grad

    start = np.concatenate([[1.0], np.zeros(n_items), [_logit_rate(pairs)]])
    fit = optimize.minimize(
        loss, start, jac=True, method="L-BFGS-B", options={"maxiter": config.max_iterations}
    )
    return float(fit.x[0]), fit.x[1:-1].copy(), float(fit.x[-1])


def _calibrated_offset(
    pairs: ExposurePairs, score: NDArray[np.float64], target: float, start: float
) -> float:
    """The c with sum(theta sigmoid(score + c)) over exposures = target * exposures."""
    shown = pairs.shown.sum()
    if target <= 0.0 or target >= pairs.examined.sum() / shown:
        raise ValueError(
            f"click rate must lie strictly between 0 and the examination allows, got {target!r}"
        )

    def excess(c: float) -> float:
        return float(pairs.examined @ sigmoid(score + c) / shown - target)

    low, high = start - 1.0, start + 1.0
    while excess(low) > 0:
        low -= 2.0 * (high - low)
    while excess(high) < 0:
        high += 2.0 * (high - low)
    return float(optimize.brentq(excess, low, high, xtol=1e-12))


def _logit_rate(pairs: ExposurePairs) -> float:
    rate = np.clip(pairs.clicks.sum() / pairs.shown.sum(), 1e-6, 1 - 1e-6)
    return float(np.log(rate / (1.0 - rate)))


def _unit(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


# ---------------------------------------------------------------------------- the world
def _assemble(
    config: WorldConfig,
    preferences: NDArray[np.float64],
    latent: NDArray[np.float64],
    quality: NDArray[np.float64],
    activity: NDArray[np.float64],
    rng: np.random.Generator,
) -> World:
    """A generated world of `config` with its users and items replaced by the fitted ones.

    Generating first gives every attribute a World has (including ones added later), so the
    calibrated world is a normal one; the fitted state then overwrites the drawn state, and the
    derived state (arrival tables, user dynamics) is rebuilt from it.
    """
    world = World.generate(config, rng)
    segment, segment_means = _clusters(preferences, config.n_segments, rng)
    topic, topic_centres = _clusters(latent, config.n_topics, rng)
    world.segment_means, world.topic_centres = segment_means, topic_centres
    world.user_segment = segment.astype(np.int8)
    world.preferences = preferences.copy()
    world.activity = activity.copy()
    ranks = np.argsort(np.argsort(activity, kind="stable"), kind="stable")
    world.activity_bucket = (ranks * config.activity_buckets // config.n_users).astype(np.int8)
    world.user_observed = _observed(
        preferences, world.projection, config.n_user_features, config, rng
    )
    natural = np.bincount(segment, weights=activity, minlength=config.n_segments)
    world.arrival_shares = natural / natural.sum()
    world.item_topic = topic.astype(np.int16)
    world.item_base_latent = latent.copy()
    world.item_quality = quality.copy()
    world.item_observed = _observed(latent, world.projection, config.n_item_features, config, rng)
    world._activity_scale = config.mean_sessions_per_day / np.exp(config.activity_sigma**2 / 2)
    world._user_cumulative = world._segment_cumulative_rates()
    world.rotate_items(None)
    world._start_user_dynamics(rng)
    return world


def _clusters(
    x: NDArray[np.float64], k: int, rng: np.random.Generator
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """k-means labels of the rows of `x` and the unit directions of the centres."""
    centres, labels = kmeans2(x, k, minit="++", seed=rng)
    return labels.astype(np.int64), _unit(centres)


def _observed(
    latent: NDArray[np.float64],
    projection: NDArray[np.float64],
    n: int,
    config: WorldConfig,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """Noisy projections of the latent vectors, as `World.generate` draws them."""
    noise = rng.normal(scale=config.feature_noise, size=(len(latent), n))
    return latent @ projection[:, :n] + noise
