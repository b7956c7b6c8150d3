"""Homogenization as Chaney, Stewart & Engelhardt (2018) measure it: do users the recommender
thinks alike end up consuming alike, more than under the ideal recommender?

For each user u take their nearest neighbour nn(u) in the recommender's user representation
(largest cosine similarity, u excluded, ties broken uniformly at random), and the Jaccard
similarity of the two users' consumed-item sets,

    J(u) = |C_u & C_nn(u)| / |C_u | C_nn(u)|    (0 when both sets are empty).

Homogenization is the mean of J over users minus the same mean, over the *same pairs*, of the
item sets consumed in a run with the ideal recommender: 0 means the recommender's neighbours
overlap no more than they would have anyway. This is T-RECS's replication measure
(``SimilarUserInteractionSimilarity``, Lucherini et al. 2021). All functions here are pure.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def consumed_sets(
    users: NDArray[np.integer], items: NDArray[np.integer], n_users: int, n_items: int
) -> NDArray[np.bool_]:
    """(n_users, n_items) boolean matrix: whether each user consumed each item at least once."""
    out = np.zeros((n_users, n_items), dtype=bool)
    out[np.asarray(users), np.asarray(items)] = True
    return out


def nearest_neighbours(
    representation: NDArray[np.float64], rng: np.random.Generator
) -> NDArray[np.int64]:
    """Each user's most cosine-similar other user; a zero row is similar (0) to everyone."""
    x = np.asarray(representation, dtype=float)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"representation must be (n_users >= 2, dim), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("representation must be finite, got NaN or infinity")
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    best = similarity.max(axis=1, keepdims=True)
    # ties (up to rounding) broken uniformly: a random key among the tied columns
    tied = similarity >= best - 1e-12
    return np.argmax(np.where(tied, rng.random(similarity.shape), -1.0), axis=1)


def neighbour_jaccard(consumed: NDArray[np.bool_], neighbours: NDArray[np.integer]) -> float:
    """Mean over users of the Jaccard similarity of their and their neighbour's item sets."""
    c = np.asarray(consumed, dtype=bool)
    if c.ndim != 2 or neighbours.shape != (len(c),):
        raise ValueError(
            f"neighbours must have one entry per row of consumed {c.shape}, "
            f"got shape {neighbours.shape}"
        )
    other = c[neighbours]
    common = (c & other).sum(axis=1)
    union = (c | other).sum(axis=1)
    return float(np.mean(np.divide(common, union, out=np.zeros(len(c)), where=union > 0)))


def homogenization(
    representation: NDArray[np.float64],
    consumed: NDArray[np.bool_],
    ideal_consumed: NDArray[np.bool_],
    rng: np.random.Generator,
) -> float:
    """Nearest-neighbour Jaccard of `consumed` minus that of `ideal_consumed`, same pairs.

    `representation` is the recommender's (n_users, dim) view of users (``user_representation``
    of :class:`policies.matrix_factorization.ImplicitMF` or
    :class:`policies.content.ContentFiltering`); both consumed matrices are (n_users, n_items),
    the second from the ideal recommender's run on the same world and seed.
    """
    if np.shape(consumed) != np.shape(ideal_consumed):
        raise ValueError(
            f"ideal_consumed must have the shape of consumed {np.shape(consumed)}, "
            f"got {np.shape(ideal_consumed)}"
        )
    neighbours = nearest_neighbours(representation, rng)
    return neighbour_jaccard(consumed, neighbours) - neighbour_jaccard(ideal_consumed, neighbours)
