"""How far to trust an estimated examination curve: estimators x kinds of log.

Prints the table of docs/fixes.md ("Estimating the examination curve"): for each estimator of
:mod:`policies.examination` and each kind of log, the largest relative error of theta_r /
theta_1 at positions 1-5, the mean width of its 95% bootstrap interval there (users
resampled), and the warnings it raised. Logs come from a small static world (3,000 users, 100
items, click rates near 0.3 at the top) under PBM(eta = 1) unless said otherwise:

* ``random``: uniformly random slates, 4 days;
* ``swaps``: a popularity ranker with one random pair of positions swapped in every session;
* ``successive rankers``: a greedy, personalised LightGBM model retrained daily, days 1-6
  (each day's version ranks a user's items differently: harvestable interventions, though
  chosen by the rankers);
* ``one greedy ranker``: one version of a greedy, personalised LightGBM model (day 1 only);
* ``cascade clicks``: random slates under the cascade model, which is not position-based.

Run: ``python -m experiments.examination_study [--seed N] [--bootstrap B]``.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import pandas as pd

from policies import (
    LightGBMPolicy,
    Policy,
    PopularityPolicy,
    RandomizedSwaps,
    RandomPolicy,
    TwoFactorCurve,
)
from policies.examination import (
    AllPairs,
    ClickModelWarning,
    NotIdentifiableWarning,
    RegressionEM,
    SwapEstimator,
    bootstrap,
    check_position_based,
)
from simulator import (
    CascadeModel,
    PositionBasedModel,
    SimulationConfig,
    TrainingData,
    World,
    WorldConfig,
    simulate,
    stream,
)

ETA = 1.0
WORLD = WorldConfig(
    n_users=3000, n_items=100, n_segments=2, offset=-1.0, preference_drift=0.0, churn=0.0
)
TWO_FACTOR_OPTIONS = {"n_trees": 40}
"""Fewer trees than the default, and a fifth of the replicates (at least 10): each refit of
the two-factor model costs seconds, against milliseconds for the others."""


def log_of(kind: str, seed: int) -> TrainingData:
    """The training data of one kind of log (see the module docstring)."""
    world = World.generate(WORLD, stream(seed, "world"))
    clicks = CascadeModel() if kind == "cascade clicks" else PositionBasedModel(ETA)
    policies: dict[str, Policy] = {
        "random": RandomPolicy(),
        "cascade clicks": RandomPolicy(),
        "swaps": RandomizedSwaps(PopularityPolicy(), rate=1.0, pairs="any"),
        "successive rankers": LightGBMPolicy(n_trees=40),
        "one greedy ranker": LightGBMPolicy(n_trees=40),
    }
    policy = policies[kind]
    days = {"one greedy ranker": 2, "successive rankers": 7}.get(kind, 4)
    config = SimulationConfig(days=days, ticks_per_day=4)
    log = simulate(world, clicks, policy, config, seed=seed).log.sessions()
    if kind in ("one greedy ranker", "successive rankers"):
        log = log.subset(log.model_version >= 1)  # version 0 served at random, before a fit
    if kind == "one greedy ranker":
        log = log.subset(log.model_version == 1)
    return TrainingData(log, world.features, float(days))


def study(seed: int, n_bootstrap: int) -> pd.DataFrame:
    """One row per (log, estimator): error and interval width at positions 1-5, warnings."""
    truth = PositionBasedModel(ETA).examination(10)[:5]
    rows = []
    for kind in ("random", "swaps", "successive rankers", "one greedy ranker", "cascade clicks"):
        data = log_of(kind, seed)
        estimators = [
            SwapEstimator(),
            AllPairs(),
            RegressionEM(),
            TwoFactorCurve(**TWO_FACTOR_OPTIONS),
        ]
        for estimator in estimators:
            replicates = (
                n_bootstrap
                if not isinstance(estimator, TwoFactorCurve)
                else max(n_bootstrap // 5, 10)
            )
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                check_position_based(data.impressions)
                result = bootstrap(estimator, data, np.random.default_rng(seed), replicates)
            raised = sorted(
                {
                    w.category.__name__
                    for w in caught
                    if issubclass(w.category, (NotIdentifiableWarning, ClickModelWarning))
                }
            )
            curve = result.estimate[:5]
            rows.append(
                {
                    "log": kind,
                    "estimator": type(estimator).__name__,
                    "error 1-5": float(np.nanmax(np.abs(curve / truth - 1)))
                    if np.isfinite(curve[1:]).any()
                    else np.nan,
                    "CI width 1-5": _mean_width(result.ci_high[1:5] - result.ci_low[1:5]),
                    "replicates": replicates,
                    "warnings": ", ".join(raised) or "-",
                }
            )
    return pd.DataFrame(rows)


def _mean_width(widths: np.ndarray) -> float:
    return float(np.mean(widths[np.isfinite(widths)])) if np.isfinite(widths).any() else np.nan


def main() -> None:
    """Print the study's table for ``--seed`` and ``--bootstrap`` from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=100)
    args = parser.parse_args()
    table = study(args.seed, args.bootstrap)
    print(markdown(table))


def markdown(table: pd.DataFrame) -> str:
    """A pipe table of `table`, numbers to three decimals."""
    cells = table.map(lambda v: f"{v:.3f}" if isinstance(v, float) else str(v))
    lines = [list(table.columns), ["---"] * table.shape[1], *cells.to_numpy().tolist()]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


if __name__ == "__main__":
    main()
