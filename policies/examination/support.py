"""Whether a log can identify the examination curve: the positions its randomness reaches.

Every curve estimator compares clicks on the same (context, item) at different positions. That
comparison measures position only if *where* the item was shown did not follow from how much
this user likes it. Two sources of position variation qualify, and this module counts them on
the data's actual support, impression by impression:

* **randomisation**: the logging policy reported a propensity below 1 (random slates,
  exploration, swaps), so it could have shown the item elsewhere;
* **interventions across ranker versions** (when the estimator harvests them): the same
  (user, item) was shown at two or more positions in the log, by different model versions.

A deterministic ranker's log of one version has neither: a personalised greedy model shows each
user each item at one position (chosen *because* of the user's taste), a popularity ranker
shows everyone the same slate. An estimator then returns a curve that only reflects which items
the ranker put where; :func:`warn_if_not_identified` says so with a
:class:`NotIdentifiableWarning`.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import NDArray

from simulator.records import Impressions


class NotIdentifiableWarning(UserWarning):
    """The log cannot tell the examination probability of some positions."""


def identifying_support(impressions: Impressions, across_versions: bool) -> NDArray[np.int64]:
    """Impressions per position (slate_size,) whose position varied for a reason other than
    the user's taste: a propensity below 1, or (with `across_versions`) a (user, item) pair the
    log shows at more than one position.
    """
    n, k = impressions.item.shape
    randomised = impressions.propensity < 1.0
    if across_versions and n:
        user = np.repeat(impressions.user.astype(np.int64), k)
        item = impressions.item.astype(np.int64).ravel()
        pair = user * (int(item.max()) + 1) + item
        groups, index = np.unique(pair, return_inverse=True)
        position = np.tile(np.arange(k), n)
        lowest = np.full(len(groups), k)
        highest = np.full(len(groups), -1)
        np.minimum.at(lowest, index, position)
        np.maximum.at(highest, index, position)
        moved = (lowest != highest)[index].reshape(n, k)
        randomised = randomised | moved
    return randomised.sum(axis=0).astype(np.int64)


def warn_if_not_identified(
    support: NDArray[np.int64],
    curve: NDArray[np.float64],
    estimator: str,
    stacklevel: int = 3,
) -> NDArray[np.bool_]:
    """Positions identified (the top always is, as the reference); warns naming the others.

    A position is identified when it and the top both have identifying support and the
    estimator could compare it with the top (its `curve` value is not NaN).
    """
    identified = (support > 0) & (support[0] > 0) & np.isfinite(curve)
    identified[0] = True
    missing = np.flatnonzero(~identified) + 1
    if len(missing):
        warnings.warn(
            f"{estimator}: examination curve not identifiable at positions {missing.tolist()}: "
            "no impression there was randomised or moved between positions for the same "
            "(user, item), so the position an item got follows from the ranker's choice "
            "(a deterministic ranker's log). Log with an intervention such as RandomizedSwaps "
            "or RandomTraffic.",
            NotIdentifiableWarning,
            stacklevel=stacklevel,
        )
    return identified
