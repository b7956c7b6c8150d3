"""Off-policy evaluation: estimate a target policy's value from an impression log, and check the
estimate against the truth only a simulator knows.

The value of a policy is its expected clicks per session. Every estimator here works on
(item, position) pairs: under any click model where the click at position r depends only on the
context, the item at r and r itself (the position-based model among them), the expected clicks
of a slate policy pi are sum_r sum_i pi(i at r | x) q(x, i, r) with q(x, i, r) = P(click). With
the logging policy's exact propensity pi_0(i at r | x) in the log, weights
w = pi(i at r | x) / pi_0(i at r | x) make logged clicks unbiased for that sum (Li, Kim &
Zitouni, 2018, "Offline evaluation of ranking policies with click models").

Modules, one job each:

- `experiments.offline.logged`: the target's slates and weights on the log (`target_on_log`),
  the exact estimand (`value_on_log`), the log in OBP's layout (`to_obp`);
- `experiments.offline.estimators`: the estimators (`Naive`, `IPS`, `SNIPS`, `DirectMethod`,
  `DoublyRobust`), the record they read (`LoggedFeedback`) and the `ESTIMATORS` table;
- `experiments.offline.reward_model`: the cross-fitted LightGBM click model of DM and DR;
- `experiments.offline.evaluation`: `evaluate_offline`, every estimator with its interval.

Estimators are picked by name from `ESTIMATORS` or given as instances (a subclass of
`OffPolicyEstimator` joins the same way)::

    from experiments.offline import IPS, evaluate_offline, value_on_log
    evaluate_offline(log, world, target, ["naive", IPS(), "dr"], clip=50.0)
    value_on_log(log, world, target, click_model)   # the truth they estimate
"""

from experiments.offline.estimators import (
    ESTIMATORS,
    IPS,
    SNIPS,
    DirectMethod,
    DoublyRobust,
    LoggedFeedback,
    Naive,
    OffPolicyEstimator,
    SessionTerms,
)
from experiments.offline.evaluation import Estimate, as_estimator, evaluate_offline
from experiments.offline.logged import LoggedTargets, live_at, target_on_log, to_obp, value_on_log
from experiments.offline.reward_model import RewardModel, reward_model

__all__ = [
    "ESTIMATORS",
    "IPS",
    "SNIPS",
    "DirectMethod",
    "DoublyRobust",
    "Estimate",
    "LoggedFeedback",
    "LoggedTargets",
    "Naive",
    "OffPolicyEstimator",
    "RewardModel",
    "SessionTerms",
    "as_estimator",
    "evaluate_offline",
    "live_at",
    "reward_model",
    "target_on_log",
    "to_obp",
    "value_on_log",
]
