"""Intervention harvesting: the examination curve from the same item shown at two positions.

Under the position-based model, P(click | item of group g at r) = theta_r a_g. Count, for
each group g (a comparable unit: an item within one model version, or an item for one context
across versions), impressions n_g(r) and clicks c_g(r) per position. For a pair of positions
(r, r'), groups shown at both give

    C(r | r') = sum_g c_g(r) n_g(r') / (n_g(r) + n_g(r')),

whose expectation is theta_r sum_g a_g n_g(r) n_g(r') / (n_g(r) + n_g(r')): the same sum for
C(r' | r) with theta_r', so C(r | r') / C(r' | r) estimates theta_r / theta_r'. The log-ratios
of all pairs are combined by weighted least squares on log theta with theta_1 = 1, each
weighted by the inverse of its delta-method variance 1 / C(r | r') + 1 / C(r' | r).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def harvested_curve(
    group: NDArray[np.int64], clicks: NDArray[np.bool_]
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """theta_r / theta_1 (NaN where unreachable) and which positions a chain of harvested
    pairs links to position 1, from per-impression group ids and clicks (n_sessions, k).
    """
    k = group.shape[1]
    groups, index = np.unique(group.ravel(), return_inverse=True)
    position = np.tile(np.arange(k), group.shape[0])
    cell = index * k + position
    size = len(groups) * k
    shown = np.bincount(cell, minlength=size).reshape(-1, k).astype(float)
    clicked = np.bincount(cell, weights=clicks.ravel().astype(float), minlength=size)
    both = shown[:, :, None] + shown[:, None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(both > 0, shown[:, None, :] / both, 0.0)
    harvested = np.einsum("gr,grs->rs", clicked.reshape(-1, k), share)
    upper = np.triu(np.ones((k, k), dtype=bool), 1)
    first, second = np.nonzero(upper & (harvested > 0) & (harvested.T > 0))
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
    return theta, reached


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


def group_ids(*columns: NDArray[np.integer]) -> NDArray[np.int64]:
    """One id per distinct combination of equally shaped non-negative integer columns."""
    key = np.zeros(np.shape(columns[0]), dtype=np.int64)
    for column in columns:
        values = np.asarray(column, dtype=np.int64)
        key = key * (int(values.max(initial=0)) + 1) + values
    _, index = np.unique(key.ravel(), return_inverse=True)
    return index.reshape(key.shape)
