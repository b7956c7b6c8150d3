"""Typed records passed between the simulator and policies: requests, slates, impressions.

All are frozen dataclasses of numpy columns, one row per session; slate-shaped columns are
(n_sessions, slate_size) with position r at column r - 1.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from simulator.world import FeatureView


@dataclass(frozen=True)
class Requests:
    """Sessions asking for a slate. `blocked` (n_sessions, n_candidates) marks items a session
    must not be shown (already consumed), or is ``None`` when nothing is blocked.
    """

    t: NDArray[np.float64]
    user: NDArray[np.int64]
    segment: NDArray[np.int8]
    features: FeatureView
    blocked: NDArray[np.bool_] | None = None

    def __len__(self) -> int:
        return len(self.user)

    def subset(self, rows: NDArray[np.integer]) -> Requests:
        """The requests at `rows`; the candidate features are shared, not copied."""
        return Requests(
            t=self.t[rows],
            user=self.user[rows],
            segment=self.segment[rows],
            features=self.features,
            blocked=None if self.blocked is None else self.blocked[rows],
        )


@dataclass(frozen=True)
class Slates:
    """A policy's answer: item ids per position, the probability with which the policy put each
    item at its position (1.0 for a deterministic policy), and the policy's score for it (its
    predicted click probability where it has one, else any ranking score).
    """

    items: NDArray[np.int64]
    propensities: NDArray[np.float64]
    scores: NDArray[np.float64]

    def __post_init__(self) -> None:
        if self.items.ndim != 2:
            raise ValueError(
                f"slate items must be 2-D (sessions x positions), got {self.items.shape}"
            )
        for name in ("propensities", "scores"):
            shape = getattr(self, name).shape
            if shape != self.items.shape:
                raise ValueError(f"slate {name} has shape {shape}, items {self.items.shape}")

    def __len__(self) -> int:
        return len(self.items)

    @property
    def slate_size(self) -> int:
        """Positions per slate."""
        return int(self.items.shape[1])


@dataclass(frozen=True)
class Impressions:
    """A block of the impression log: per-session columns and (sessions x positions) columns.

    One logical row per impression (see :meth:`to_pandas`): session, t, user, segment, item,
    position (1 = top), propensity, score, click, label_time, model_version.
    """

    session: NDArray[np.int64]
    t: NDArray[np.float64]
    user: NDArray[np.int32]
    segment: NDArray[np.int8]
    label_time: NDArray[np.float64]
    model_version: NDArray[np.int32]
    item: NDArray[np.int32]
    propensity: NDArray[np.float64]
    score: NDArray[np.float32]
    click: NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.session)

    @property
    def n_impressions(self) -> int:
        """Impressions in the block: sessions times slate size."""
        return int(self.item.size)

    @property
    def slate_size(self) -> int:
        """Positions per slate."""
        return int(self.item.shape[1])

    def subset(self, rows: NDArray[np.integer] | NDArray[np.bool_] | slice) -> Impressions:
        """The sessions at `rows` (indices, a mask or a slice), every column cut alike."""
        return Impressions(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def to_pandas(self) -> pd.DataFrame:
        """One row per impression, in log order."""
        n, k = self.item.shape

        def per_session(column: NDArray) -> NDArray:
            return np.repeat(column, k)

        return pd.DataFrame(
            {
                "session": per_session(self.session),
                "t": per_session(self.t),
                "user": per_session(self.user),
                "segment": per_session(self.segment),
                "item": self.item.ravel(),
                "position": np.tile(np.arange(1, k + 1, dtype=np.int16), n),
                "propensity": self.propensity.ravel(),
                "score": self.score.ravel(),
                "click": self.click.ravel(),
                "label_time": per_session(self.label_time),
                "model_version": per_session(self.model_version),
            }
        )


@dataclass(frozen=True)
class TrainingData:
    """What a policy may learn from at time `now`: the logged impressions of its window
    [`start`, `now`) whose labels have arrived by `now`, and the observable features of users and
    items. `start` tells a policy which span the log covers (nothing happened before time 0).
    """

    impressions: Impressions
    features: FeatureView
    now: float
    start: float = 0.0

    def __len__(self) -> int:
        return len(self.impressions)
