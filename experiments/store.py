"""An output folder: one writer at a time, each finished run saved atomically the moment it
finishes, and found again.

Layout::

    OUT/experiment.toml            the resolved experiment (every default filled in)
    OUT/runs/RUN_ID.parquet        a finished run's daily metrics (day, segment, metric, value)
    OUT/runs/RUN_ID.failed.json    a failed run's error; the run is tried again next time
    OUT/.recloop.lock              held by the process that has the folder open
    OUT/.recloop.pid               that process's id, for the message refusing a second one

Every file is written to a hidden temporary name in its folder and renamed into place with
`os.replace`, which is atomic: a sweep that is interrupted, even killed, leaves each file
either complete or absent. A folder is opened by one process at a time (`lock_folder`): a
second sweep, or a report rebuilt while a sweep writes, is refused rather than left to mix
files or delete the other's temporaries. Temporaries are named after their writer's process
id; those of a process that no longer runs are removed when the folder is next opened. A run
file that cannot be read (torn by a full disk or a copy cut short) is moved aside to
``RUN_ID.parquet.torn`` with a warning, and its run counts as not finished.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

TEMPORARY = ".*.tmp"
LOCK, HOLDER = ".recloop.lock", ".recloop.pid"


class FolderBusy(Exception):
    """The output folder is open in another process (a sweep or a report is writing it)."""


class TornFileWarning(UserWarning):
    """A saved run could not be read; it was moved aside and its run will be computed again."""


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
    """Write `text` as UTF-8 to `path` atomically, so a reader never sees half a file."""
    write_atomically(path, lambda p: p.write_text(text, encoding="utf-8"))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


def _holder(root: Path) -> str:
    try:
        return f"pid {int((root / HOLDER).read_text(encoding='ascii'))}"
    except (OSError, ValueError):
        return "another process"


def lock_folder(root: Path) -> FileLock:
    """Hold output folder `root` for this process (re-entrant within it), or raise `FolderBusy`
    naming the folder and the holder's process id. Release with ``.release()``.
    """
    root.mkdir(parents=True, exist_ok=True)
    # One lock object per folder per process, shared by its threads, so that a folder opened
    # again by the process holding it (a report rebuilt in a notebook) nests instead of refusing.
    lock = FileLock(root / LOCK, is_singleton=True, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise FolderBusy(
            f"{root}: in use by {_holder(root)} (a sweep or report is writing it); "
            "wait for it to end or use another folder"
        ) from None
    if lock.lock_counter == 1:
        write_text(root / HOLDER, str(os.getpid()))
    return lock


def _stale(temporary: Path) -> bool:
    """A temporary of this process or of one that no longer runs (named ``.NAME.PID.tmp``)."""
    try:
        pid = int(temporary.name.removesuffix(".tmp").rsplit(".", 1)[1])
    except (IndexError, ValueError):
        return False
    return pid == os.getpid() or not _running(pid)


class RunStore:
    """The runs of one output folder, by run id. Opening it holds the folder (`lock_folder`)
    until `close` (or until the store is garbage collected).
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.runs = self.root / "runs"
        self._lock: FileLock | None = None
        self._lock = lock_folder(self.root)
        self.runs.mkdir(parents=True, exist_ok=True)
        for folder in (self.root, self.runs):
            for leftover in folder.glob(TEMPORARY):
                if _stale(leftover):
                    leftover.unlink(missing_ok=True)

    def close(self) -> None:
        """Let other processes open the folder."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def _frame_path(self, run_id: str) -> Path:
        return self.runs / f"{run_id}.parquet"

    def _failure_path(self, run_id: str) -> Path:
        return self.runs / f"{run_id}.failed.json"

    def finished(self) -> set[str]:
        """Ids of the runs saved whole; torn files are set aside (see the module docstring)."""
        return {
            path.name.removesuffix(".parquet")
            for path in sorted(self.runs.glob("*.parquet"))
            if self._readable(path)
        }

    def _readable(self, path: Path) -> bool:
        try:
            pq.read_metadata(path)
        except (OSError, pa.ArrowException) as error:
            torn = path.with_name(path.name + ".torn")
            os.replace(path, torn)
            reason = " ".join(str(error).split())[:80]
            warnings.warn(
                f"{path}: unreadable ({reason}); moved to {torn.name}, the run counts as "
                "not finished",
                TornFileWarning,
                stacklevel=3,
            )
            return False
        return True

    def save(self, run_id: str, frame: pd.DataFrame, config: dict[str, Any]) -> None:
        """Save a finished run with its resolved config (in the Parquet metadata)."""
        table = pa.Table.from_pandas(frame, preserve_index=False)
        metadata = {**(table.schema.metadata or {}), b"recloop.run": json.dumps(config).encode()}
        table = table.replace_schema_metadata(metadata)
        write_atomically(self._frame_path(run_id), lambda p: pq.write_table(table, p))
        self._failure_path(run_id).unlink(missing_ok=True)

    def load(self, run_id: str) -> pd.DataFrame:
        """The metrics frame of the finished run `run_id`."""
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
