"""The optional capabilities the loop reads from a policy when it deploys it.

A policy needs only `fit` and `rank`; these helpers read the two optional capabilities the
daily metrics use, with the same defaults everywhere. (Minimal version: the full set of
capability protocols replaces this module.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray


def predicts_clicks(policy: Any) -> bool:
    """Whether `policy`'s scores are predicted click probabilities.

    Parameters
    ----------
    policy
        Any policy; it says so with a true ``scores_are_click_probabilities`` attribute.

    Returns
    -------
    bool
        ``True`` when calibration metrics may compare its logged scores with true click
        probabilities.
    """
    return bool(getattr(policy, "scores_are_click_probabilities", False))


def estimated_examination(policy: Any) -> NDArray[np.float64] | None:
    """The examination curve `policy` estimated, by position, or ``None``.

    Parameters
    ----------
    policy
        Any policy; a fitted position-bias model exposes its curve as ``examination_``.

    Returns
    -------
    NDArray[np.float64] | None
        The curve as floats, or ``None`` when the policy estimates none.
    """
    curve = getattr(policy, "examination_", None)
    return None if curve is None else np.asarray(curve, dtype=float)
