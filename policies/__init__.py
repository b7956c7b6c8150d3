"""recloop's policies: what decides the slates, and how it learns from the log."""

from policies.base import Policy, Scorer, top_k
from policies.bootstrap import BootstrapThompson
from policies.checks import check_policy
from policies.exploration import (
    UCB,
    EpsilonGreedy,
    PlackettLuce,
    RandomTraffic,
    ThompsonSampling,
)
from policies.ips import IPSPopularity, examined_counts, ips_weights
from policies.lightgbm import LightGBMPolicy, LightGBMTimings
from policies.position_aware import TwoFactorLightGBM
from policies.position_bias import (
    NotIdentifiableWarning,
    RandomizedSwaps,
    estimate_examination,
)
from policies.reference import OraclePolicy, PopularityPolicy, RandomPolicy
from policies.registry import POLICIES, WRAPPERS, make_policy
from policies.slates import position_probabilities

__all__ = [
    "POLICIES",
    "UCB",
    "WRAPPERS",
    "BootstrapThompson",
    "EpsilonGreedy",
    "IPSPopularity",
    "LightGBMPolicy",
    "LightGBMTimings",
    "NotIdentifiableWarning",
    "OraclePolicy",
    "PlackettLuce",
    "Policy",
    "PopularityPolicy",
    "RandomPolicy",
    "RandomTraffic",
    "RandomizedSwaps",
    "Scorer",
    "ThompsonSampling",
    "TwoFactorLightGBM",
    "check_policy",
    "estimate_examination",
    "examined_counts",
    "ips_weights",
    "make_policy",
    "position_probabilities",
    "top_k",
]
