"""recloop's policies: what decides the slates, and how it learns from the log."""

from policies.base import Policy, Scorer, top_k
from policies.reference import OraclePolicy, PopularityPolicy, RandomPolicy
from policies.registry import POLICIES, WRAPPERS, make_policy

__all__ = [
    "POLICIES",
    "WRAPPERS",
    "OraclePolicy",
    "Policy",
    "PopularityPolicy",
    "RandomPolicy",
    "Scorer",
    "make_policy",
    "top_k",
]
