"""Append-only columnar storage: the impression log and the simulator's ground-truth record.

Rows are sessions, stored in fixed-size numpy chunks, so memory grows by one chunk at a time
(never a doubling copy) and appending costs no per-row Python. Columns that hold one value per
position are (sessions x slate_size) blocks, so a position costs no bytes and session-level
values (time, user, ...) are stored once per session rather than once per impression.

A store given a folder can *spill*: :meth:`ColumnStore.spill` writes whole chunks before a row
to one Parquet file each and frees them; reads of spilled rows load them back, so what a store
returns never depends on where its rows live, only how fast. The simulation spills what no
training window or daily metric will read again, so memory is bounded by the window.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import DTypeLike, NDArray

from simulator.records import Impressions

Chunk = dict[str, NDArray]


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


class ColumnStore:
    """Rows appended in time order; `schema` maps a column to (dtype, one value per position?).

    With a `folder`, :meth:`spill` moves whole chunks there as Parquet files.
    """

    def __init__(
        self,
        schema: Mapping[str, tuple[DTypeLike, bool]],
        slate_size: int,
        chunk_rows: int = 8192,
        folder: Path | None = None,
    ) -> None:
        self.schema = dict(schema)
        self.slate_size = slate_size
        self.chunk_rows = chunk_rows
        self.folder = folder
        self._chunks: list[Chunk | None] = []
        self._last: list[dict[str, object]] = []
        """Per spilled chunk, its last value of each session-level column (for searches)."""
        self._n_rows = 0

    def __len__(self) -> int:
        return self._n_rows

    @property
    def nbytes(self) -> int:
        """Bytes held in memory by allocated chunks, including the unfilled tail of the last."""
        return sum(
            column.nbytes
            for chunk in self._chunks
            if chunk is not None
            for column in chunk.values()
        )

    @property
    def n_spilled_rows(self) -> int:
        """Rows that live on disk."""
        return len(self._last) * self.chunk_rows

    def spill(self, before_row: int) -> None:
        """Write every full chunk wholly before `before_row` to the folder and free it."""
        if self.folder is None:
            raise ValueError("spill needs a store with a folder")
        self.folder.mkdir(parents=True, exist_ok=True)
        for c in range(len(self._last), min(before_row, self._n_rows) // self.chunk_rows):
            chunk = self._chunks[c]
            assert chunk is not None  # chunks spill in order, each once
            pq.write_table(self._to_arrow(chunk), self._path(c))
            self._last.append({n: chunk[n][-1] for n, (_, each) in self.schema.items() if not each})
            self._chunks[c] = None

    def _path(self, c: int) -> Path:
        assert self.folder is not None
        return self.folder / f"chunk-{c:07d}.parquet"

    def _to_arrow(self, chunk: Chunk) -> pa.Table:
        columns = {
            name: pa.FixedSizeListArray.from_arrays(pa.array(chunk[name].ravel()), self.slate_size)
            if per_position
            else pa.array(chunk[name])
            for name, (_, per_position) in self.schema.items()
        }
        return pa.table(columns)

    def _chunk(self, c: int, names: list[str] | None = None) -> Chunk:
        """Chunk `c`, read back from disk (only columns `names`) when spilled."""
        chunk = self._chunks[c]
        if chunk is not None:
            return chunk
        table = pq.read_table(self._path(c), columns=names)
        out = {}
        for name in table.column_names:
            dtype, per_position = self.schema[name]
            column = table.column(name).combine_chunks()
            if per_position:
                column = column.flatten()
            values = column.to_numpy(zero_copy_only=False).astype(dtype, copy=False)
            out[name] = values.reshape(-1, self.slate_size) if per_position else values
        return out

    def _new_chunk(self) -> dict[str, NDArray]:
        return {
            name: np.empty(
                (self.chunk_rows, self.slate_size) if per_position else self.chunk_rows, dtype
            )
            for name, (dtype, per_position) in self.schema.items()
        }

    def append(self, columns: Mapping[str, NDArray]) -> None:
        """Add rows: `columns` holds every schema column, per-position ones shaped (n, slate_size).

        Rows fill the open chunk first and spill into fresh chunks of `chunk_rows`, so appending
        never copies rows already stored.
        """
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
            assert chunk is not None  # only full chunks spill, and a new one follows them
            for name, values in columns.items():
                chunk[name][offset : offset + take] = values[done : done + take]
            done += take
            self._n_rows += take

    def _empty(self, name: str, n_rows: int = 0) -> NDArray:
        dtype, per_position = self.schema[name]
        return np.empty((n_rows, self.slate_size) if per_position else n_rows, dtype)

    def rows(
        self,
        start: int,
        stop: int,
        names: list[str] | None = None,
        keep: NDArray[np.bool_] | None = None,
    ) -> dict[str, NDArray]:
        """Columns (`names`, all when ``None``) of rows [start, stop), in one array each (a copy);
        with `keep` (a mask over those rows) only the kept rows.

        Rows are copied chunk by chunk into arrays of the final size, and a spilled chunk is read
        back only when reached, so besides the result at most one chunk is held.
        """
        names = list(self.schema) if names is None else names
        start, stop = max(start, 0), min(stop, self._n_rows)
        n_rows = max(stop - start, 0) if keep is None else int(np.count_nonzero(keep))
        out = {name: self._empty(name, n_rows) for name in names}
        size, filled = self.chunk_rows, 0
        for c in range(start // size, (stop - 1) // size + 1) if stop > start else ():
            a, b = max(start - c * size, 0), min(stop - c * size, size)
            mask = None if keep is None else keep[c * size + a - start : c * size + b - start]
            n = b - a if mask is None else int(np.count_nonzero(mask))
            if n == 0:
                continue
            chunk = self._chunk(c, names)
            for name in names:
                values = chunk[name][a:b]
                out[name][filled : filled + n] = values if mask is None else values[mask]
            filled += n
        return out

    def first_row_at_or_after(self, column: str, value: float) -> int:
        """Index of the first row whose (sorted) `column` is >= value."""
        lo = 0
        for c, chunk in enumerate(self._chunks):
            if chunk is None and self._last[c][column] < value:  # type: ignore[operator]
                lo = (c + 1) * self.chunk_rows
                continue
            filled = min(self.chunk_rows, self._n_rows - c * self.chunk_rows)
            values = self._chunk(c, [column])[column][:filled]
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

        Reads only those columns: the daily metrics' look-back windows need no more.
        """
        columns = self._store.rows(
            self.session_at(start), self.session_at(stop), ["user", "item", "click"]
        )
        rows, positions = np.nonzero(columns["click"])
        return (
            columns["user"][rows].astype(np.int64),
            columns["item"][rows, positions].astype(np.int64),
        )

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
