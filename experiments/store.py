"""An output folder: each finished run saved atomically the moment it finishes, and found again.

Layout::

    OUT/experiment.toml            the resolved experiment (every default filled in)
    OUT/runs/RUN_ID.parquet        a finished run's daily metrics (day, segment, metric, value)
    OUT/runs/RUN_ID.failed.json    a failed run's error; the run is tried again next time

Every file is written to a hidden temporary name in its folder and renamed into place with
`os.replace`, which is atomic: a sweep that is interrupted, even killed, leaves each file
either complete or absent. Temporaries left by a killed writer are removed when the folder is
next opened, so a folder must have one writer at a time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

TEMPORARY = ".*.tmp"


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Call `write` on a temporary path next to `path`, flush it to disk, then rename it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    write_atomically(path, lambda p: p.write_text(text, encoding="utf-8"))


class RunStore:
    """The runs of one output folder, by run id."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.runs = self.root / "runs"
        self.runs.mkdir(parents=True, exist_ok=True)
        for folder in (self.root, self.runs):
            for leftover in folder.glob(TEMPORARY):
                leftover.unlink(missing_ok=True)

    def _frame_path(self, run_id: str) -> Path:
        return self.runs / f"{run_id}.parquet"

    def _failure_path(self, run_id: str) -> Path:
        return self.runs / f"{run_id}.failed.json"

    def finished(self) -> set[str]:
        return {path.name.removesuffix(".parquet") for path in self.runs.glob("*.parquet")}

    def save(self, run_id: str, frame: pd.DataFrame, config: dict[str, Any]) -> None:
        """Save a finished run with its resolved config (in the Parquet metadata)."""
        table = pa.Table.from_pandas(frame, preserve_index=False)
        metadata = {**(table.schema.metadata or {}), b"recloop.run": json.dumps(config).encode()}
        table = table.replace_schema_metadata(metadata)
        write_atomically(self._frame_path(run_id), lambda p: pq.write_table(table, p))
        self._failure_path(run_id).unlink(missing_ok=True)

    def load(self, run_id: str) -> pd.DataFrame:
        return pd.read_parquet(self._frame_path(run_id))

    def save_failure(self, run_id: str, config: dict[str, Any], error: str, details: str) -> None:
        """Record a failed run: its one-line `error`, the traceback `details`, its config."""
        record = {"run_id": run_id, "error": error, "traceback": details, "config": config}
        text = json.dumps(record, indent=2)
        write_text(self._failure_path(run_id), text)

    def failure(self, run_id: str) -> str | None:
        """The recorded error of a run whose last attempt failed, or None."""
        path = self._failure_path(run_id)
        if not path.exists():
            return None
        error: str = json.loads(path.read_text(encoding="utf-8"))["error"]
        return error
