"""The impression log: what the recommender system logged, one row per session.

An :class:`ImpressionLog` is a `simulator.column_store.ColumnStore` of `IMPRESSION_SCHEMA`
with the time queries the loop asks: the sessions of a span, the labelled window a model trains
on (its columns read only as a policy uses them), and narrow reads for readers that need a few
columns of a long span (:class:`Traffic`, `ImpressionLog.clicks_between`). A log given a folder
spills old sessions to Parquet; the simulation spills what no training window or daily metric
will read again, so memory is bounded by the window, not the run's length.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import DTypeLike, NDArray

from simulator.column_store import ColumnStore
from simulator.records import Impressions


def spill_folder(where: bool | str | Path) -> Path | None:
    """A fresh folder to spill into: under `where` when a path, a temporary one when ``True``
    (removed when the process exits), none when ``False``.
    """
    if where is False:
        return None
    if where is True:
        folder = tempfile.mkdtemp(prefix="recloop-")
        atexit.register(shutil.rmtree, folder, True)
        return Path(folder)
    Path(where).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="run-", dir=where))


IMPRESSION_SCHEMA: dict[str, tuple[DTypeLike, bool]] = {
    "t": (np.float64, False),
    "user": (np.int32, False),
    "segment": (np.int8, False),
    "label_time": (np.float64, False),
    "model_version": (np.int32, False),
    "item": (np.int32, True),
    "propensity": (np.float64, True),
    "score": (np.float32, True),
    "click": (np.bool_, True),
}


class ImpressionLog:
    """What the recommender system logged: one logical row per impression.

    Sessions are numbered in order of arrival; ``session`` is that number. With a `folder`,
    :meth:`spill_before` moves old sessions to Parquet files there (see :class:`ColumnStore`).
    """

    def __init__(self, slate_size: int, chunk_rows: int = 8192, folder: Path | None = None) -> None:
        self._store = ColumnStore(IMPRESSION_SCHEMA, slate_size, chunk_rows, folder)

    def __len__(self) -> int:
        """Number of sessions logged."""
        return len(self._store)

    @property
    def slate_size(self) -> int:
        """Positions per logged slate."""
        return self._store.slate_size

    @property
    def n_impressions(self) -> int:
        """Impressions logged: sessions times slate size (every slate is full)."""
        return len(self._store) * self._store.slate_size

    @property
    def nbytes(self) -> int:
        """Bytes the log holds in memory (spilled chunks count nothing)."""
        return self._store.nbytes

    def append(self, columns: Mapping[str, NDArray]) -> None:
        """Log a block of sessions, one column per :data:`IMPRESSION_SCHEMA` field."""
        self._store.append(columns)

    @property
    def n_spilled(self) -> int:
        """Sessions that live on disk."""
        return self._store.n_spilled_rows

    def spill_before(self, t: float) -> int:
        """Spill the whole chunks of sessions before time `t`; return the first session at `t`."""
        row = self.session_at(t)
        self._store.spill(row)
        return row

    def sessions(self, start: int = 0, stop: int | None = None) -> Impressions:
        """Sessions [start, stop) by session number."""
        stop = len(self) if stop is None else stop
        columns = self._store.rows(start, stop)
        first = max(start, 0)
        return Impressions(session=np.arange(first, first + len(columns["t"])), **columns)

    def session_at(self, t: float) -> int:
        """Number of the first session at or after time `t`."""
        return self._store.first_row_at_or_after("t", t)

    def between(self, start: float, stop: float) -> Impressions:
        """Sessions with start <= t < stop."""
        return self.sessions(self.session_at(start), self.session_at(stop))

    def clicks_between(
        self, start: float, stop: float
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """(user, item) of every click in sessions with start <= t < stop, in log order.

        Reads only those columns, a chunk at a time: the daily metrics' look-back windows need
        no more, and hold only the clicks.
        """
        users, items = [np.empty(0, np.int32)], [np.empty(0, np.int32)]
        names = ["user", "item", "click"]
        for block in self._store.blocks(self.session_at(start), self.session_at(stop), names):
            rows, positions = np.nonzero(block["click"])
            users.append(block["user"][rows])
            items.append(block["item"][rows, positions])
        return np.concatenate(users).astype(np.int64), np.concatenate(items).astype(np.int64)

    def traffic_between(self, start: float, stop: float) -> Traffic:
        """Times, users and clicks of the sessions with start <= t < stop, and nothing else.

        Readers of a whole window that need no more (the drift statistics, the user-dynamics
        metrics) load 22 bytes a session of 10 slots instead of 195.
        """
        columns = self._store.rows(self.session_at(start), self.session_at(stop), list(TRAFFIC))
        return Traffic(**columns)

    def labelled(
        self, now: float, window: float | None = None, segments: Sequence[int] | None = None
    ) -> Impressions:
        """Sessions of the last `window` days (all when ``None``) whose labels arrived by `now`,
        of users in `segments` (all when ``None``).

        Each column is read from the log when first accessed and kept, so a policy that reads
        only some columns (popularity: items and clicks) never holds a copy of the others.
        """
        first, stop = (
            self.session_at(-np.inf if window is None else now - window),
            self.session_at(now),
        )
        keep = self._store.rows(first, stop, ["label_time"])["label_time"] <= now
        if segments is not None:
            keep &= np.isin(self._store.rows(first, stop, ["segment"])["segment"], segments)
        return _Window(self._store, first, stop, keep)

    def to_pandas(self):
        """The whole log, one row per impression."""
        return self.sessions().to_pandas()

    def to_parquet(self, path: str | Path) -> None:
        """Write the whole log, one row per impression, as a Parquet file."""
        pq.write_table(pa.Table.from_pandas(self.to_pandas(), preserve_index=False), path)


TRAFFIC = ("t", "user", "click")
"""The columns of a :class:`Traffic` block."""


@dataclass(frozen=True)
class Traffic:
    """Who came when and what they clicked: the `t`, `user` and (sessions x positions) `click`
    columns of a span of the log, as `Impressions` has them (see
    :meth:`ImpressionLog.traffic_between`).
    """

    t: NDArray[np.float64]
    user: NDArray[np.int32]
    click: NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.t)


class _Window(Impressions):
    """The kept rows (mask `keep`) of rows [first, stop) of an impression store, as
    `Impressions` whose columns are read on first access and then kept.

    The rows of a store never change once appended (spilling moves them, reading them back
    gives the same values), so when a column is read does not change what it holds.
    """

    def __new__(cls, *args: Any, **fields: Any) -> Impressions:  # type: ignore[misc]
        # `dataclasses.replace` calls the class with every field (each column read by then):
        # what it builds is an ordinary record of those columns.
        if fields:
            return Impressions(**fields)
        return super().__new__(cls)

    def __init__(self, store: ColumnStore, first: int, stop: int, keep: NDArray[np.bool_]):
        object.__setattr__(self, "_source", (store, first, stop, keep))

    def __getattr__(self, name: str) -> NDArray:
        # Called only for attributes not set yet, that is columns not read so far.
        if name != "session" and name not in IMPRESSION_SCHEMA:
            raise AttributeError(name)
        store, first, stop, keep = self.__dict__["_source"]
        if name == "session":
            values = np.arange(first, max(first, stop))[keep]
        else:
            values = store.rows(first, stop, [name], keep)[name]
        object.__setattr__(self, name, values)
        return values
