"""Append-only columnar storage in fixed-size numpy chunks, that can spill them to Parquet.

Rows are appended in time order into chunks of `chunk_rows`, so memory grows by one chunk at a
time (never a doubling copy) and appending costs no per-row Python. Columns that hold one value
per position are (rows x slate_size) blocks, so a position costs no bytes and row-level values
are stored once per row. A store given a folder can *spill*: :meth:`ColumnStore.spill` writes
whole chunks before a row to one Parquet file each and frees them; reads of spilled rows load
them back, so what a store returns never depends on where its rows live, only how fast. The
impression log (`simulator.log`) and the simulator's ground truth are stores.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import DTypeLike, NDArray

Chunk = dict[str, NDArray]


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

    def _spans(self, start: int, stop: int) -> list[tuple[int, int, int]]:
        """(chunk, first row, end row) within each chunk that rows [start, stop) touch."""
        size = self.chunk_rows
        return [
            (c, max(start - c * size, 0), min(stop - c * size, size))
            for c in range(start // size, (stop - 1) // size + 1)
        ]

    def blocks(self, start: int, stop: int, names: list[str]) -> Iterator[dict[str, NDArray]]:
        """Columns `names` of rows [start, stop), one chunk's rows at a time (views of the chunks
        in memory; a spilled one is read back when reached), for readers that reduce as they go.
        """
        start, stop = max(start, 0), min(stop, self._n_rows)
        for c, a, b in self._spans(start, stop):
            chunk = self._chunk(c, names)
            yield {name: chunk[name][a:b] for name in names}

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
        filled = 0
        for c, a, b in self._spans(start, stop):
            offset = c * self.chunk_rows - start
            mask = None if keep is None else keep[offset + a : offset + b]
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
