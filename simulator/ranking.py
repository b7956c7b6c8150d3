"""Selecting the best k columns of a score matrix, shared by the simulator's oracle and policies,
and the best k values when only the values matter (the regret truth).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def best_columns(matrix: NDArray[np.float64], k: int) -> NDArray[np.int64]:
    """Column indices of each row's `k` largest values, in decreasing order of value.

    O(n_columns) per row with `argpartition`, then a sort of only the k winners.
    """
    if k < matrix.shape[1]:
        part = np.argpartition(-matrix, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(matrix.shape[1]), matrix.shape).copy()
    order = np.argsort(-np.take_along_axis(matrix, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def best_values(
    matrix: NDArray[np.float64], k: int, overwrite: bool = False
) -> NDArray[np.float64]:
    """Each row's `k` largest values, in decreasing order: the values of `best_columns`.

    Equal to ``take_along_axis(matrix, best_columns(matrix, k), 1)`` bit for bit (ties have
    equal values, whichever column wins them; only a tie of 0.0 with -0.0 could show which),
    and about twice as fast: `partition` moves values only, with no index array to gather
    through and no negated copy. For 1 <= `k` and a `matrix` without NaN, as the truth's
    logits are (`partition` ranks NaN highest, `best_columns` lowest). With `overwrite` the
    matrix is partitioned in place (its rows reordered) rather than copied: a tick's truth at a
    million users is a matrix of a gigabyte.
    """
    n_columns = matrix.shape[1]
    if k >= n_columns:
        return np.sort(matrix, axis=1)[:, ::-1]
    if overwrite:
        matrix.partition(n_columns - k, axis=1)
    else:
        matrix = np.partition(matrix, n_columns - k, axis=1)
    return np.sort(matrix[:, n_columns - k :], axis=1)[:, ::-1]
