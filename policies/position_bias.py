"""Position bias from interventions: estimating the examination curve.

:func:`estimate_examination` recovers the examination curve theta_r / theta_1 of the
position-based model from logs in which items were shown at several positions (e.g. with the
:class:`policies.RandomizedSwaps` intervention), and warns when the log cannot tell.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from policies.examination.estimators import SwapEstimator

# Re-exported: the warning lived here before the examination package, and callers import it.
from policies.examination.support import NotIdentifiableWarning as NotIdentifiableWarning
from simulator.records import Impressions


def estimate_examination(impressions: Impressions) -> NDArray[np.float64]:
    """Examination curve theta_r / theta_1 (slate_size,) by intervention harvesting within
    each model version: :class:`policies.examination.SwapEstimator` (its docstring has the
    formula), as an array. Positions that no chain of harvested pairs connects to position 1
    are NaN; those and positions whose variation is not randomised (a deterministic ranker's
    log) warn :class:`NotIdentifiableWarning`. For intervals, use
    :func:`policies.examination.bootstrap`.
    """
    return SwapEstimator().fit(impressions, stacklevel=4).curve_
