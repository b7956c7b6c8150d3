"""Two measures of what a feedback loop does to users, as the replicated papers define them.

Pure functions from arrays to numbers, for the replications of issue 16 (homogenization has its
own module, :mod:`simulator.homogenization`):

* :func:`degeneracy` -- Jiang, Chiappa, Lattimore, György & Kohli (2019), "Degenerate feedback
  loops in recommender systems": how far users' interests have moved from where they started,
  the mean over users of |p_u(t) - p_u(0)|. It can grow without bound only when preferences are
  not renormalised (``WorldConfig(normalize_preferences=False)``).
* :func:`miscalibration` -- Steck (2018), "Calibrated recommendations", as Mansoury et al. (2020),
  "Feedback loop and bias amplification in recommender systems", use it per user group: the
  Kullback-Leibler divergence KL(p || q~) between the topic distribution p of what a user
  consumed and the distribution q of what they were recommended, smoothed as
  q~ = (1 - a) q + a p with a = 0.01 so that it stays finite.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulator.validation import require_probability

CALIBRATION_SMOOTHING = 0.01
"""Steck's a: the share of p mixed into q, so KL(p || q~) is finite."""


def degeneracy(preferences: NDArray[np.float64], initial: NDArray[np.float64]) -> float:
    """Mean over users of the Euclidean distance between current and initial preferences."""
    if np.shape(preferences) != np.shape(initial):
        raise ValueError(
            f"initial must have the shape of preferences {np.shape(preferences)}, "
            f"got {np.shape(initial)}"
        )
    return float(np.linalg.norm(np.asarray(preferences) - np.asarray(initial), axis=1).mean())


def miscalibration(
    consumed: NDArray[np.float64],
    recommended: NDArray[np.float64],
    smoothing: float = CALIBRATION_SMOOTHING,
) -> NDArray[np.float64]:
    """KL(p_u || q~_u) per user, from (users x topics) counts of consumed and recommended items.

    Rows are normalised to distributions; a user with no consumption or no recommendations gets
    NaN (their calibration is undefined).
    """
    p_counts = np.asarray(consumed, dtype=float)
    q_counts = np.asarray(recommended, dtype=float)
    if p_counts.ndim != 2 or p_counts.shape != q_counts.shape:
        raise ValueError(
            f"recommended must be (users x topics) like consumed {p_counts.shape}, "
            f"got {q_counts.shape}"
        )
    if not (np.isfinite(p_counts).all() and np.isfinite(q_counts).all()):
        raise ValueError("consumed and recommended must be finite counts, got NaN or infinity")
    if (p_counts < 0).any() or (q_counts < 0).any():
        raise ValueError("consumed and recommended must be non-negative counts")
    require_probability("smoothing", smoothing)
    p_total = p_counts.sum(axis=1, keepdims=True)
    q_total = q_counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = p_counts / p_total
        q = (1 - smoothing) * q_counts / q_total + smoothing * p
        terms = np.where(p > 0, p * np.log(p / q), 0.0)
    out = terms.sum(axis=1)
    out[(p_total[:, 0] == 0) | (q_total[:, 0] == 0)] = np.nan
    return out
