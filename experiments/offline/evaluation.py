"""`evaluate_offline`: every requested estimator on one log and one target, with 95% intervals.

It builds the `LoggedFeedback` once (the target's weights, optionally capped, and reward-model
predictions only when an estimator uses them), asks each estimator for its per-session terms,
and turns terms into a normal interval or a percentile bootstrap over resampled sessions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from experiments.offline.estimators import (
    ESTIMATORS,
    LoggedFeedback,
    OffPolicyEstimator,
    SessionTerms,
)
from experiments.offline.logged import target_on_log
from experiments.offline.reward_model import RewardModel, reward_model
from simulator.records import Impressions
from simulator.validation import did_you_mean, require_choice, require_int, require_positive
from simulator.world import World

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """One estimator's row in `evaluate_offline`'s table: the estimate, its standard error and
    95% interval, the sessions used and the effective sample size of its weights.
    """

    estimator: str
    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    n_sessions: int
    effective_sample_size: float

    @classmethod
    def normal(cls, name: str, terms: SessionTerms) -> Estimate:
        """The asymptotic interval: estimate +- 1.96 standard errors."""
        value, se = terms.value, terms.std_error
        return cls(
            name,
            value,
            se,
            value - Z_95 * se,
            value + Z_95 * se,
            len(terms.terms),
            terms.effective_sample_size,
        )


def as_estimator(spec: str | OffPolicyEstimator) -> OffPolicyEstimator:
    """An estimator instance from a name in `ESTIMATORS` (default settings) or an instance."""
    if isinstance(spec, OffPolicyEstimator):
        return spec
    if isinstance(spec, str) and spec in ESTIMATORS:
        return ESTIMATORS[spec]()
    hint = did_you_mean(spec, ESTIMATORS) if isinstance(spec, str) else ""
    raise ValueError(
        f"estimator must be one of {', '.join(map(repr, ESTIMATORS))} or an "
        f"OffPolicyEstimator, got {spec!r}{hint}"
    )


def evaluate_offline(
    log: Impressions,
    world: World,
    target: object,
    estimators: Sequence[str | OffPolicyEstimator] = tuple(ESTIMATORS),
    clip: float | None = None,
    ci: str = "normal",
    n_bootstrap: int = 200,
    seed: int = 0,
    rewards: RewardModel | None = None,
) -> pd.DataFrame:
    """Estimates of `target`'s expected clicks per session from `log`, with 95% intervals.

    Parameters
    ----------
    log, world : the impression log (with the logging policy's exact propensities) and the
        world it came from (for the target's features and the live catalog).
    target : a deterministic policy (its ``rank`` reports propensities 1).
    estimators : names from `ESTIMATORS` (``naive``, ``ips``, ``snips``, ``dm``, ``dr``) or
        `OffPolicyEstimator` instances; their names must differ, as they label the rows.
    clip : caps the importance weights every estimator sees, trading bias for variance.
    ci : ``"normal"`` (asymptotic) or ``"bootstrap"`` (percentile, resampling sessions).
    n_bootstrap : resamples for ``ci="bootstrap"``.
    seed : seeds the target's ranking, the reward model and the bootstrap.
    rewards : replaces the default cross-fitted LightGBM `reward_model` of the estimators that
        use one (``dm``, ``dr``); fitted once and shared by them.

    Returns
    -------
    pandas.DataFrame
        One row per estimator, in the order given, with the fields of `Estimate`.

    Examples
    --------
    Two days logged by a uniformly random policy, the oracle as target, and the truth that only
    a simulator knows to compare with (every interval holds it):

    >>> import numpy as np
    >>> from simulator import (
    ...     PositionBasedModel, SimulationConfig, World, WorldConfig, simulate)
    >>> from policies import OraclePolicy, RandomPolicy
    >>> from experiments.offline import evaluate_offline, value_on_log
    >>> world = World.generate(
    ...     WorldConfig(n_users=200, n_items=30, dim=4, n_segments=2), np.random.default_rng(0))
    >>> clicks = PositionBasedModel()
    >>> config = SimulationConfig(days=2, slate_size=3, ticks_per_day=4)
    >>> log = simulate(world, clicks, RandomPolicy(), config, seed=0).log.sessions()
    >>> target = OraclePolicy(world)
    >>> estimates = evaluate_offline(log, world, target, ["naive", "ips", "snips"])
    >>> estimates[["estimator", "estimate", "ci_low", "ci_high"]].round(2)
      estimator  estimate  ci_low  ci_high
    0     naive      1.24    0.98     1.49
    1       ips      1.44    0.81     2.08
    2     snips      1.52    1.09     1.94
    >>> round(value_on_log(log, world, target, clicks), 2)
    1.35
    """
    chosen = [as_estimator(spec) for spec in estimators]
    names = [estimator.name for estimator in chosen]
    if len(set(names)) < len(names):
        raise ValueError(f"estimator names must differ (they label the rows), got {names}")
    if clip is not None:
        require_positive("clip", clip)
    require_choice("ci", ci, ("normal", "bootstrap"))
    require_int("n_bootstrap", n_bootstrap, 10)
    targets = target_on_log(log, world, target, np.random.default_rng(seed))
    q_logged = q_target = None
    if any(estimator.uses_rewards for estimator in chosen):
        q_logged, q_target = (rewards or reward_model)(log, world, targets.items, seed)
    in_target = (log.item[:, :, None] == targets.items[:, None, :]).any(axis=2)
    feedback = LoggedFeedback(
        clicks=log.click.astype(float),
        weights=targets.weights if clip is None else np.minimum(targets.weights, clip),
        in_target=in_target.astype(float),
        q_logged=q_logged,
        q_target=q_target,
    )
    rows = []
    for estimator in chosen:
        estimate = Estimate.normal(estimator.name, estimator.estimate(feedback))
        if ci == "bootstrap":
            estimate = _bootstrap(estimate, estimator, feedback, n_bootstrap, seed)
        rows.append(estimate)
    return pd.DataFrame([vars(row) for row in rows])


def _bootstrap(
    estimate: Estimate,
    estimator: OffPolicyEstimator,
    feedback: LoggedFeedback,
    n_bootstrap: int,
    seed: int,
) -> Estimate:
    """`estimate` with the percentile interval and standard error of resampled sessions.

    Every estimator draws the same resamples (one generator per estimator, same seed), so
    their intervals differ only by the estimators.
    """
    rng = np.random.default_rng([seed, 1])
    n = len(feedback)
    draws = [
        estimator.estimate(feedback.subset(rng.integers(n, size=n))).value
        for _ in range(n_bootstrap)
    ]
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
