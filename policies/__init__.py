"""recloop's policies: what decides the slates, and how it learns from the log.

Modules: ``base`` (the protocol, `top_k`, the greedy and wrapper bases), ``params``
(get_params, repr and clone from constructor signatures), ``reference`` (random, popularity,
oracle), ``lightgbm`` and ``position_aware`` (the LightGBM click models), ``ips`` (examination
weights), ``wrappers`` and ``plackett_luce`` (exploration and interventions around any policy),
``counting`` and ``thompson`` (counting bandits and Thompson sampling), ``rank_marginals`` (the
exact-propensity quadrature) and ``beta_marginals`` (its Beta-posterior tables), ``slates``
(slate mechanics and any policy's position marginals),
``examination`` (examination-curve estimators, intervals and checks), ``position_bias``
(the swap estimator as a function), ``uncertainty`` (an exploration bonus for any scorer),
``schedules`` (random startup, interleaving new items), ``retrieval`` (a candidate-generation
stage in front of any policy), ``matrix_factorization``, ``content``
and ``ideal`` (the recommenders of the replications), ``registry`` (names for TOML) and
``checks`` (`check_policy`). The protocols themselves live in :mod:`simulator.protocols`.
"""

from policies.base import Greedy, Wrapper, top_k
from policies.checks import check_policy
from policies.content import ContentFiltering
from policies.counting import UCB, ClickCounts
from policies.examination import (
    AllPairs,
    ClickModelWarning,
    CurveEstimate,
    RegressionEM,
    SwapEstimator,
    bootstrap,
    check_position_based,
)
from policies.ideal import IdealPolicy
from policies.ips import IPSPopularity, examined_counts, ips_weights
from policies.lightgbm import LightGBMPolicy, LightGBMTimings
from policies.matrix_factorization import ImplicitMF
from policies.params import Params, clone
from policies.plackett_luce import PlackettLuce
from policies.position_aware import TwoFactorCurve, TwoFactorLightGBM
from policies.position_bias import NotIdentifiableWarning, estimate_examination
from policies.reference import OraclePolicy, PopularityPolicy, RandomPolicy
from policies.registry import (
    POLICIES,
    WRAPPERS,
    Registration,
    RunContext,
    make_policy,
    register_policy,
    register_wrapper,
)
from policies.retrieval import Retrieval
from policies.schedules import InterleaveNew, RandomStartup
from policies.slates import position_marginals, position_probabilities
from policies.thompson import BootstrapThompson, ThompsonSampling
from policies.uncertainty import UncertaintyBonus
from policies.wrappers import EpsilonGreedy, RandomizedSwaps, RandomTraffic
from simulator.protocols import (
    ChecksSlateSize,
    ContinuesTraining,
    EstimatesExamination,
    MayRankAtRandom,
    Policy,
    PredictsClicks,
    ReportsPropensities,
    Scorer,
    estimated_examination,
    predicts_clicks,
    ranks_greedily,
)

__all__ = [
    "POLICIES",
    "UCB",
    "WRAPPERS",
    "AllPairs",
    "BootstrapThompson",
    "ChecksSlateSize",
    "ClickCounts",
    "ClickModelWarning",
    "ContentFiltering",
    "ContinuesTraining",
    "CurveEstimate",
    "EpsilonGreedy",
    "EstimatesExamination",
    "Greedy",
    "IPSPopularity",
    "IdealPolicy",
    "ImplicitMF",
    "InterleaveNew",
    "LightGBMPolicy",
    "LightGBMTimings",
    "MayRankAtRandom",
    "NotIdentifiableWarning",
    "OraclePolicy",
    "Params",
    "PlackettLuce",
    "Policy",
    "PopularityPolicy",
    "PredictsClicks",
    "RandomPolicy",
    "RandomStartup",
    "RandomTraffic",
    "RandomizedSwaps",
    "Registration",
    "RegressionEM",
    "ReportsPropensities",
    "Retrieval",
    "RunContext",
    "Scorer",
    "SwapEstimator",
    "ThompsonSampling",
    "TwoFactorCurve",
    "TwoFactorLightGBM",
    "UncertaintyBonus",
    "Wrapper",
    "bootstrap",
    "check_policy",
    "check_position_based",
    "clone",
    "estimate_examination",
    "estimated_examination",
    "examined_counts",
    "ips_weights",
    "make_policy",
    "position_marginals",
    "position_probabilities",
    "predicts_clicks",
    "ranks_greedily",
    "register_policy",
    "register_wrapper",
    "top_k",
]
