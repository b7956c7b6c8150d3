"""Is the log consistent with the position-based model? A check before trusting a PBM curve.

Every curve estimator here assumes the position-based model (PBM): each position is examined
independently, so clicks at different positions of a session are independent given the items'
appeal, and a session can have several clicks anywhere. Under the cascade model a user stops
at the first click (never a click below a click); under single-choice models at most one item
is picked. On such logs an estimator still returns a clean-looking curve, of a quantity that
means nothing.

The check: with per-position click rates p_r, independence predicts the share of sessions
with two or more clicks,

    q = 1 - prod_r (1 - p_r) - sum_r p_r prod_{j != r} (1 - p_j),

and the PBM only raises it (users who like more items click more: positive association). A
log with significantly fewer multi-click sessions, z = (observed - n q) / sqrt(n q (1 - q))
below -`z`, contradicts the PBM: :class:`ClickModelWarning`. The share of clicks below an
earlier click in the same session is reported too (0 under the cascade model).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from simulator.records import Impressions
from simulator.validation import require_positive


class ClickModelWarning(UserWarning):
    """The log's clicks do not follow the position-based model the curve estimators assume."""


@dataclass(frozen=True)
class ClickModelCheck:
    """Multi-click sessions observed and expected under independence, and the verdict."""

    n_sessions: int
    multi_click_observed: int
    multi_click_expected: float
    z: float
    clicks_below_a_click: float
    consistent: bool


def check_position_based(impressions: Impressions, z: float = 4.0) -> ClickModelCheck:
    """Test the log against the PBM (see the module docstring); warns when it fails."""
    require_positive("z", z)
    clicks = impressions.click
    n = len(clicks)
    p = clicks.mean(axis=0) if n else np.zeros(impressions.slate_size)
    none = np.prod(1.0 - p)
    one = sum(p[r] * np.prod(np.delete(1.0 - p, r)) for r in range(len(p)))
    q = float(max(1.0 - none - one, 0.0))
    observed = int((clicks.sum(axis=1) >= 2).sum())
    spread = np.sqrt(max(n * q * (1.0 - q), 1e-12))
    score = float((observed - n * q) / spread)
    earlier = np.cumsum(clicks, axis=1) - clicks > 0
    below = float((clicks & earlier).sum() / max(clicks.sum(), 1))
    consistent = score >= -z
    if not consistent:
        warnings.warn(
            f"clicks do not look position-based: {observed} sessions with several clicks "
            f"where independent examination predicts {n * q:.0f} (z = {score:.1f}); clicks "
            f"below a click: {below:.1%} (cascade-like logs have none). A position-based "
            "examination curve estimated from this log is not meaningful.",
            ClickModelWarning,
            stacklevel=2,
        )
    return ClickModelCheck(n, observed, n * q, score, below, consistent)
