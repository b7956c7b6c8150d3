"""recloop's policies: what decides the slates, and how it learns from the log."""

from policies.base import Policy, Scorer, top_k
from policies.lightgbm import LightGBMPolicy, LightGBMTimings
from policies.reference import OraclePolicy, PopularityPolicy, RandomPolicy

__all__ = [
    "LightGBMPolicy",
    "LightGBMTimings",
    "OraclePolicy",
    "Policy",
    "PopularityPolicy",
    "RandomPolicy",
    "Scorer",
    "top_k",
]
