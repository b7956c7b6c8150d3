"""Position bias from interventions: estimating the examination curve.

:func:`estimate_examination` recovers the examination curve theta_r / theta_1 of the
position-based model from logs in which items were shown at several positions (e.g. with the
:class:`policies.RandomizedSwaps` intervention), and warns when the log cannot tell.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import NDArray

from simulator.records import Impressions


class NotIdentifiableWarning(UserWarning):
    """The log cannot tell the examination probability of some positions."""


def estimate_examination(impressions: Impressions) -> NDArray[np.float64]:
    """Examination curve theta_r / theta_1 (slate_size,) by intervention harvesting.

    Under the position-based model, P(click | item i at r) = theta_r a_i. Group impressions by
    (model version, item) and count impressions n_g(r) and clicks c_g(r) per position. For a
    pair of positions (r, r'), groups shown at both give

        C(r | r') = sum_g c_g(r) n_g(r') / (n_g(r) + n_g(r')),

    whose expectation is theta_r sum_g a_g n_g(r) n_g(r') / (n_g(r) + n_g(r')), so
    C(r | r') / C(r' | r) estimates theta_r / theta_r' (Agarwal et al. 2019, "Estimating
    position bias without intrusive interventions"; with swap interventions this is the
    estimator of Joachims et al. 2017). The log-ratios of all pairs are combined by weighted
    least squares on log theta with theta_1 = 1, each weighted by the inverse of its delta-method
    variance 1 / C(r | r') + 1 / C(r' | r).

    Valid when, within a group, the position an item is shown at does not depend on the user's
    taste for it: logs of random slates, or of a non-personalised policy (e.g. popularity) with
    randomised swaps or random traffic. A personalised policy puts items high for users who
    like them, which biases the curve downwards. Positions that no chain of harvested pairs
    connects to position 1 are not identifiable: they are NaN, with a warning.
    """
    k = impressions.slate_size
    version = impressions.model_version.astype(np.int64)
    item = impressions.item.astype(np.int64)
    key = (version[:, None] * (int(item.max(initial=0)) + 1) + item).ravel()
    groups, index = np.unique(key, return_inverse=True)
    position = np.tile(np.arange(k), len(impressions))
    cell = index * k + position
    shown = np.bincount(cell, minlength=len(groups) * k).reshape(-1, k).astype(float)
    clicks = np.bincount(
        cell, weights=impressions.click.ravel().astype(float), minlength=len(groups) * k
    ).reshape(-1, k)
    both = shown[:, :, None] + shown[:, None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(both > 0, shown[:, None, :] / both, 0.0)
    harvested = np.einsum("gr,grs->rs", clicks, share)
    upper = np.triu(np.ones((k, k), dtype=bool), 1)
    usable = upper & (harvested > 0) & (harvested.T > 0)
    first, second = np.nonzero(usable)
    theta = np.full(k, np.nan)
    theta[0] = 1.0
    reached = _connected_to_top(k, first, second)
    if reached.sum() > 1:
        log_ratio = np.log(harvested[first, second]) - np.log(harvested[second, first])
        weight = 1.0 / (1.0 / harvested[first, second] + 1.0 / harvested[second, first])
        design = np.zeros((len(first), k))
        design[np.arange(len(first)), first] = 1.0
        design[np.arange(len(first)), second] = -1.0
        keep = reached[first] & reached[second]
        columns = np.flatnonzero(reached)[1:]
        root = np.sqrt(weight[keep])[:, None]
        solution, *_ = np.linalg.lstsq(
            design[keep][:, columns] * root, log_ratio[keep] * root[:, 0], rcond=None
        )
        theta[columns] = np.exp(solution)
    missing = np.flatnonzero(~reached) + 1
    if len(missing):
        warnings.warn(
            f"examination curve not identifiable at positions {missing.tolist()}: no item was "
            "shown, within one model version, at both ends of a chain of positions linking them "
            "to position 1 (a log from one deterministic ranker shows every item at a single "
            "position). Log with an intervention such as RandomizedSwaps or RandomTraffic.",
            NotIdentifiableWarning,
            stacklevel=2,
        )
    return theta


def _connected_to_top(
    k: int, first: NDArray[np.int64], second: NDArray[np.int64]
) -> NDArray[np.bool_]:
    """Positions linked to position 1 through pairs (first, second)."""
    reached = np.zeros(k, dtype=bool)
    reached[0] = True
    for _ in range(k):
        grow = reached.copy()
        grow[second[reached[first]]] = True
        grow[first[reached[second]]] = True
        if (grow == reached).all():
            break
        reached = grow
    return reached
