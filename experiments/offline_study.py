"""Off-policy evaluation checked against the truth, over many seeds.

Each seed builds a frozen world (no preference dynamics, no churn), logs a few days of traffic
from a stochastic policy with full support (popularity with a share of uniformly random
sessions, whose exact propensities are logged), fits the candidate target policies on the
first days, and estimates each target's value on the remaining days with every estimator of
`experiments.offline.ESTIMATORS` (or the study's own list). The truth is the target's exact
expected clicks on the same sessions. The table gives, per target and estimator: mean estimate
and truth, bias with its 95% interval over seeds, how often the 95% confidence interval covered
the truth, and the mean interval width.

Run ``python -m experiments.offline_study [--seeds 20] [--out study.csv]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd
from tqdm.auto import tqdm

from experiments.offline import (
    ESTIMATORS,
    OffPolicyEstimator,
    as_estimator,
    evaluate_offline,
    value_on_log,
)
from experiments.summary import half_width
from policies import LightGBMPolicy, OraclePolicy, PopularityPolicy, RandomTraffic
from simulator import (
    PositionBasedModel,
    SimulationConfig,
    TrainingData,
    World,
    WorldConfig,
    simulate,
    stream,
)


@dataclass(frozen=True)
class Study:
    """The setting of the off-policy study.

    Attributes
    ----------
    world : a frozen world (no drift, no churn), so the truth on the logged contexts is exact.
    days, train_days : days of logging; the first `train_days` fit the targets, the rest are
        the log the estimators read.
    random_share : the logging policy's share of uniformly random sessions (its support).
    eta : the position-based model's examination exponent (position bias).
    estimators : names from `ESTIMATORS` or `OffPolicyEstimator` instances.
    """

    world: WorldConfig = field(
        default_factory=lambda: WorldConfig(
            n_users=1_500, n_items=200, n_segments=3, preference_drift=0.0, churn=0.0
        )
    )
    days: int = 6
    train_days: int = 2
    random_share: float = 0.3
    eta: float = 1.0
    estimators: tuple[str | OffPolicyEstimator, ...] = tuple(ESTIMATORS)

    def __post_init__(self) -> None:
        for spec in self.estimators:
            as_estimator(spec)  # fail at construction, not after a seed of simulation


def one_seed(study: Study, seed: int) -> pd.DataFrame:
    """Every target x estimator on one seed's log, with the truth."""
    world = World.generate(study.world, stream(seed, "world"))
    click_model = PositionBasedModel(eta=study.eta)
    logger = RandomTraffic(PopularityPolicy(window=1.0), share=study.random_share)
    result = simulate(world, click_model, logger, SimulationConfig(days=study.days), seed)
    log = result.log.sessions()
    train = log.subset(log.t < study.train_days)
    test = log.subset(log.t >= study.train_days)
    data = TrainingData(train, world.features, now=float(study.train_days))
    targets = {
        "oracle": OraclePolicy(world),
        "popularity": PopularityPolicy().fit(data),
        "lightgbm": LightGBMPolicy(n_trees=50, seed=seed).fit(data),
    }
    frames = []
    for name, target in targets.items():
        estimates = evaluate_offline(test, world, target, study.estimators, seed=seed)
        truth = value_on_log(test, world, target, click_model)
        frames.append(estimates.assign(target=name, truth=truth, seed=seed))
    return pd.concat(frames, ignore_index=True)


def summarize_study(estimates: pd.DataFrame) -> pd.DataFrame:
    """Per target and estimator: mean estimate and truth, bias and its 95% interval over seeds,
    coverage of the per-seed 95% confidence intervals, and their mean width.
    """
    frame = estimates.assign(
        error=estimates.estimate - estimates.truth,
        covered=(estimates.ci_low <= estimates.truth) & (estimates.truth <= estimates.ci_high),
        width=estimates.ci_high - estimates.ci_low,
    )
    grouped = frame.groupby(["target", "estimator"], sort=False)
    return pd.DataFrame(
        {
            "estimate": grouped.estimate.mean(),
            "truth": grouped.truth.mean(),
            "bias": grouped.error.mean(),
            "bias_ci": grouped.error.agg(half_width),
            "coverage": grouped.covered.mean(),
            "ci_width": grouped.width.mean(),
            "n_seeds": grouped.size(),
        }
    )


def run_study(study: Study, seeds: Sequence[int], progress: bool = True) -> pd.DataFrame:
    """Per-seed estimates of every target by every estimator (tidy)."""
    return pd.concat(
        [one_seed(study, seed) for seed in tqdm(seeds, desc="seeds", disable=not progress)],
        ignore_index=True,
    )


def main(argv: Sequence[str] | None = None) -> pd.DataFrame:
    """Run the study for ``--seeds`` seeds from the command line, optionally writing ``--out``,
    and return the per-seed estimates.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--out", help="CSV file for the per-seed estimates")
    args = parser.parse_args(argv)
    estimates = run_study(Study(), range(args.seeds))
    if args.out:
        estimates.to_csv(args.out, index=False)
    table = summarize_study(estimates)
    with pd.option_context("display.width", 120, "display.max_columns", 20):
        print(table.round(4).to_string())
    return table


if __name__ == "__main__":
    main()
