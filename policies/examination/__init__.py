"""Examination (position-bias) curves: estimators, bootstrap intervals, identifiability and a
check of the click model they assume.
"""

from policies.examination.estimators import (
    AllPairs,
    CurveEstimator,
    RegressionEM,
    SwapEstimator,
)
from policies.examination.model_check import (
    ClickModelCheck,
    ClickModelWarning,
    check_position_based,
)
from policies.examination.result import CurveEstimate, bootstrap
from policies.examination.support import (
    NotIdentifiableWarning,
    identifying_support,
    warn_if_not_identified,
)

__all__ = [
    "AllPairs",
    "ClickModelCheck",
    "ClickModelWarning",
    "CurveEstimate",
    "CurveEstimator",
    "NotIdentifiableWarning",
    "RegressionEM",
    "SwapEstimator",
    "bootstrap",
    "check_position_based",
    "identifying_support",
    "warn_if_not_identified",
]
