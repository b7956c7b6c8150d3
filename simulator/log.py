"""Append-only columnar storage: the impression log and the simulator's ground-truth record.

Rows are sessions, stored in fixed-size numpy chunks, so memory grows by one chunk at a time
(never a doubling copy) and appending costs no per-row Python. Columns that hold one value per
position are (sessions x slate_size) blocks, so a position costs no bytes and session-level
values (time, user, ...) are stored once per session rather than once per impression.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import DTypeLike, NDArray

from simulator.records import Impressions


class ColumnStore:
    """Rows appended in time order; `schema` maps a column to (dtype, one value per position?)."""

    def __init__(
        self,
        schema: Mapping[str, tuple[DTypeLike, bool]],
        slate_size: int,
        chunk_rows: int = 8192,
    ) -> None:
        self.schema = dict(schema)
        self.slate_size = slate_size
        self.chunk_rows = chunk_rows
        self._chunks: list[dict[str, NDArray]] = []
        self._n_rows = 0

    def __len__(self) -> int:
        return self._n_rows

    @property
    def nbytes(self) -> int:
        """Bytes held by all allocated chunks, including the unfilled tail of the last one."""
        return sum(column.nbytes for chunk in self._chunks for column in chunk.values())

    def _new_chunk(self) -> dict[str, NDArray]:
        return {
            name: np.empty(
                (self.chunk_rows, self.slate_size) if per_position else self.chunk_rows, dtype
            )
            for name, (dtype, per_position) in self.schema.items()
        }

    def append(self, columns: Mapping[str, NDArray]) -> None:
        if set(columns) != set(self.schema):
            raise ValueError(f"columns {sorted(columns)} do not match {sorted(self.schema)}")
        n = len(next(iter(columns.values())))
        done = 0
        while done < n:
            offset = self._n_rows % self.chunk_rows
            if offset == 0:
                self._chunks.append(self._new_chunk())
            take = min(n - done, self.chunk_rows - offset)
            chunk = self._chunks[-1]
            for name, values in columns.items():
                chunk[name][offset : offset + take] = values[done : done + take]
            done += take
            self._n_rows += take

    def _empty(self, name: str) -> NDArray:
        dtype, per_position = self.schema[name]
        return np.empty((0, self.slate_size) if per_position else 0, dtype)

    def rows(self, start: int, stop: int) -> dict[str, NDArray]:
        """Columns of rows [start, stop), concatenated (a copy)."""
        start, stop = max(start, 0), min(stop, self._n_rows)
        size = self.chunk_rows
        spans = (
            [
                (c, max(start - c * size, 0), min(stop - c * size, size))
                for c in range(start // size, (stop - 1) // size + 1)
            ]
            if stop > start
            else []
        )
        return {
            name: np.concatenate([self._chunks[c][name][a:b] for c, a, b in spans])
            if spans
            else self._empty(name)
            for name in self.schema
        }

    def first_row_at_or_after(self, column: str, value: float) -> int:
        """Index of the first row whose (sorted) `column` is >= value."""
        lo = 0
        for c, chunk in enumerate(self._chunks):
            filled = min(self.chunk_rows, self._n_rows - c * self.chunk_rows)
            values = chunk[column][:filled]
            if filled and values[-1] >= value:
                return c * self.chunk_rows + int(np.searchsorted(values, value, side="left"))
            lo = c * self.chunk_rows + filled
        return lo


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

    Sessions are numbered in order of arrival; ``session`` is that number.
    """

    def __init__(self, slate_size: int, chunk_rows: int = 8192) -> None:
        self._store = ColumnStore(IMPRESSION_SCHEMA, slate_size, chunk_rows)

    def __len__(self) -> int:
        """Number of sessions logged."""
        return len(self._store)

    @property
    def slate_size(self) -> int:
        return self._store.slate_size

    @property
    def n_impressions(self) -> int:
        return len(self._store) * self._store.slate_size

    @property
    def nbytes(self) -> int:
        return self._store.nbytes

    def append(self, columns: Mapping[str, NDArray]) -> None:
        self._store.append(columns)

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

    def labelled(self, now: float, window: float | None = None) -> Impressions:
        """Sessions of the last `window` days (all when ``None``) whose labels arrived by `now`."""
        start = -np.inf if window is None else now - window
        block = self.between(start, now)
        return block.subset(block.label_time <= now)

    def to_pandas(self):
        """The whole log, one row per impression."""
        return self.sessions().to_pandas()

    def to_parquet(self, path: str | Path) -> None:
        """Write the whole log, one row per impression, as a Parquet file."""
        pq.write_table(pa.Table.from_pandas(self.to_pandas(), preserve_index=False), path)
