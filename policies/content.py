"""Content filtering: each user's taste regressed on the attributes of the items they clicked.

The content-based recommender of Chaney et al. (2018) as T-RECS implements it
(``ContentFiltering.train``, Lucherini et al. 2021): with A the (items x attributes) matrix of
known item attributes and r_u the vector of user u's clicks on those items, the user profile is
the non-negative least-squares fit

    w_u = argmin_{w >= 0} | A w - r_u |^2,

and the score of (u, i) is w_u . a_i. Items are those live at fit time plus any clicked in the
log; attributes are the ``item_f*`` item features (exact attributes in the ``chaney2018`` world,
noisy projections in the standard one). One NNLS solve per user who clicked: fine for the
hundreds of users of the replications, slow for tens of thousands.
"""

from __future__ import annotations

from typing import Self

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import nnls

from policies.base import Greedy
from policies.matrix_factorization import click_counts, gather
from policies.params import Params
from simulator.records import Requests, TrainingData
from simulator.world import FeatureView


def attribute_columns(features: FeatureView) -> list[int]:
    """Columns of the ``item_f*`` features in :meth:`FeatureView.items`."""
    columns = [j for j, name in enumerate(features.item_feature_names) if name.startswith("item_f")]
    if not columns:
        raise ValueError("content filtering needs item_f* item features, got none")
    return columns


class ContentFiltering(Params, Greedy):
    """Rank by w_u . a_i, with w_u the NNLS regression of u's clicks on item attributes."""

    def fit(self, data: TrainingData) -> Self:
        """Learn `profiles_`, one NNLS profile w_u per user over the item attributes (zeros
        for users without clicks), from the clicks on the items live now or clicked in the log.
        """
        features = data.features
        columns = attribute_columns(features)
        counts = click_counts(data.impressions)
        items = np.union1d(features.live_items(), np.flatnonzero(counts.getnnz(axis=0)))
        attributes = features.items(items, data.now)[:, columns]
        counts = counts.tocsc()
        # clicks on the fitted items only; ids beyond the log's largest are never clicked
        in_log = items[items < counts.shape[1]]
        clicked = np.zeros((counts.shape[0], len(items)))
        clicked[:, : len(in_log)] = counts[:, in_log].toarray()
        self.profiles_ = np.zeros((counts.shape[0], len(columns)))
        for user in np.flatnonzero(clicked.any(axis=1)):
            self.profiles_[user] = nnls(attributes, clicked[user])[0]
        return self

    def user_representation(self, users: NDArray[np.integer]) -> NDArray[np.float64]:
        """w_u of each user (zeros for users without clicks): the homogenization metric's view."""
        return gather(getattr(self, "profiles_", np.zeros((0, 0))), users)

    def score(self, requests: Requests, candidates: NDArray[np.int64]) -> NDArray[np.float64]:
        """w_u . a_i for each request's user and candidate; zeros before the first fit."""
        features = requests.features
        attributes = features.items(candidates, 0.0)[:, attribute_columns(features)]
        profiles = gather(
            getattr(self, "profiles_", np.zeros((0, attributes.shape[1]))), requests.user
        )
        return profiles @ attributes.T
