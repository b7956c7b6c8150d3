"""Implicit-feedback matrix factorisation: the collaborative filter of the homogenization studies.

Hu, Koren & Volinsky (2008), "Collaborative filtering for implicit feedback datasets": with
r_ui the clicks of user u on item i, preference p_ui = [r_ui > 0] and confidence
c_ui = 1 + alpha r_ui, find user factors x_u and item factors y_i minimising

    sum_{u,i} c_ui (p_ui - x_u . y_i) ** 2 + lambda (sum_u |x_u|^2 + sum_i |y_i|^2)

by alternating least squares; the score of (u, i) is x_u . y_i. Chaney et al. (2018) and T-RECS
(Lucherini et al. 2021) use this model as their matrix-factorisation recommender.

The fitting is the maintained `implicit` library's CPU ALS (``pip install recloop[mf]``): it
fits the loop as it is (a sparse users x items matrix in, two factor matrices out), is
deterministic for a given `seed`, and runs single-threaded here so that two engineers' runs on
one machine do not fight over cores. Users and items the log never shows get zero factors
(score 0).
"""

from __future__ import annotations

from typing import Self

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from policies.base import Greedy
from policies.params import Params
from simulator.records import Impressions, Requests, TrainingData
from simulator.validation import require_int, require_non_negative


def click_counts(impressions: Impressions) -> sp.csr_matrix:
    """(max user + 1) x (max item + 1) sparse matrix of click counts per user and item."""
    rows, positions = np.nonzero(impressions.click)
    users = impressions.user[rows].astype(np.int64)
    items = impressions.item[rows, positions].astype(np.int64)
    shape = (int(impressions.user.max(initial=-1)) + 1, int(impressions.item.max(initial=-1)) + 1)
    return sp.csr_matrix((np.ones(len(users)), (users, items)), shape=shape)


def gather(table: NDArray[np.float64], ids: NDArray[np.integer]) -> NDArray[np.float64]:
    """Rows `ids` of `table`, zero rows for ids beyond it (users or items the fit never saw)."""
    out = np.zeros((len(ids), table.shape[1]))
    known = np.asarray(ids) < len(table)
    out[known] = table[np.asarray(ids)[known]]
    return out


class ImplicitMF(Params, Greedy):
    """Rank by x_u . y_i of an implicit-feedback ALS fit on the clicks of the training data.

    Parameters
    ----------
    factors
        Dimension of the user and item factors (T-RECS uses the number of attributes).
    regularization
        lambda, the L2 penalty on the factors.
    alpha
        Confidence per click: c_ui = 1 + alpha r_ui.
    iterations
        ALS sweeps.
    seed
        Seed of the initial factors, so a refit on the same log gives the same model.
    """

    def __init__(
        self,
        factors: int = 20,
        regularization: float = 0.01,
        alpha: float = 1.0,
        iterations: int = 15,
        seed: int = 0,
    ) -> None:
        require_int("factors", factors, 1)
        require_non_negative("regularization", regularization)
        require_non_negative("alpha", alpha)
        for name, value in (("regularization", regularization), ("alpha", alpha)):
            if not np.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")
        require_int("iterations", iterations, 1)
        require_int("seed", seed, 0)
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.seed = seed

    def fit(self, data: TrainingData) -> Self:
        """Learn `user_factors_` and `item_factors_` by implicit ALS on the click counts (empty
        factors when the log has no clicks).
        """
        counts = click_counts(data.impressions)
        if counts.nnz == 0:
            self.user_factors_ = np.zeros((0, self.factors))
            self.item_factors_ = np.zeros((0, self.factors))
            return self
        try:
            from implicit.cpu.als import AlternatingLeastSquares
            from threadpoolctl import threadpool_limits
        except ImportError as error:  # pragma: no cover - depends on the installation
            raise ImportError(
                "ImplicitMF needs the implicit package: pip install recloop[mf]"
            ) from error
        # implicit warns (and slows down) when BLAS runs its own thread pool inside ALS
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=self.factors,
                regularization=self.regularization,
                alpha=self.alpha,
                iterations=self.iterations,
                dtype=np.float64,
                num_threads=1,
                random_state=self.seed,
            )
            model.fit(counts.astype(np.float64), show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=float)
        self.item_factors_ = np.asarray(model.item_factors, dtype=float)
        return self

    def user_representation(self, users: NDArray[np.integer]) -> NDArray[np.float64]:
        """x_u of each user: the recommender's view of who is alike (homogenization)."""
        return gather(self.user_factors_, users)

    def score(self, requests: Requests, candidates: NDArray[np.int64]) -> NDArray[np.float64]:
        """x_u . y_i for each request's user and candidate; zeros for unseen users or items
        and before the first fit.
        """
        if not hasattr(self, "user_factors_"):
            return np.zeros(len(candidates))
        return self.user_representation(requests.user) @ gather(self.item_factors_, candidates).T
