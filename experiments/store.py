"""An output folder: one writer at a time, each finished run saved atomically the moment it
finishes, and found again.

Layout::

    OUT/experiment.toml            the resolved experiment (every default filled in)
    OUT/runs/RUN_ID.parquet        a finished run's daily metrics (day, segment, metric, value)
    OUT/runs/RUN_ID.measures.npz   a finished replication run's end-of-run measures, with the
                                   version of the replication's measures that took them
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
``RUN_ID.parquet.torn`` (or ``RUN_ID.measures.npz.torn``) with a warning, and its run counts
as not finished. A replication run's measures count as finished only for the same names and
version of its replication's measures (`finished_measures`): changed measures are taken again.
`check_folder` and `check_saved` refuse, in one line, to rebuild a report from
a folder that is not a results folder or holds no run of its experiment.
"""

from __future__ import annotations

import json
import os
import traceback
import warnings
import zipfile
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import tomli_w
from filelock import FileLock, Timeout

from experiments.experiment import Experiment
from simulator.validation import shown

TEMPORARY = ".*.tmp"
LOCK, HOLDER = ".recloop.lock", ".recloop.pid"
FRAME, MEASURES = ".parquet", ".measures.npz"
UNREADABLE = (OSError, EOFError, ValueError, zipfile.BadZipFile, pa.ArrowException)
"""What reading a torn Parquet or ``.npz`` file raises."""


class FolderBusy(Exception):
    """The output folder is open in another process (a sweep or a report is writing it)."""


class NotResults(ValueError):
    """A folder a report cannot be rebuilt from: not a results folder, or none of its runs."""


def check_folder(root: Path) -> None:
    """Raise `NotResults` unless `root` is a results folder (``experiment.toml`` and ``runs/``)."""
    if not root.is_dir():
        raise NotResults(f"{root}: not a folder")
    if not (root / "experiment.toml").is_file() or not (root / "runs").is_dir():
        raise NotResults(f"{root}: not a results folder (no experiment.toml and runs/)")


def check_saved(root: Path, n_saved: int, n_belonging: int) -> None:
    """Raise `NotResults` when folder `root` holds no saved run (`n_saved`) or none of them
    belongs to its experiment (`n_belonging`): a report of nothing would overwrite a real one.
    """
    if not n_saved:
        raise NotResults(f"{root}: no run has finished yet; nothing written")
    if not n_belonging:
        raise NotResults(
            f"{root}: none of its {n_saved} saved runs belong to the experiment in "
            "experiment.toml (another experiment's runs, or another recloop version's); "
            "nothing written"
        )


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
        return self.runs / f"{run_id}{FRAME}"

    def _measures_path(self, run_id: str) -> Path:
        return self.runs / f"{run_id}{MEASURES}"

    def _failure_path(self, run_id: str) -> Path:
        return self.runs / f"{run_id}.failed.json"

    def finished(self) -> set[str]:
        """Ids of the runs saved whole; torn files are set aside (see the module docstring)."""
        return set(self._whole(FRAME, pq.read_metadata))

    def finished_measures(self, names: Collection[str], version: int) -> set[str]:
        """Ids of the replication runs whose measures are saved whole (torn ones set aside) and
        were taken by the measures `names` at `version`; runs measured otherwise (before the
        replication's measures changed) count as not finished, so they are measured again.
        """
        wanted = (sorted(names), version)
        return {
            run_id
            for run_id, taken in self._whole(MEASURES, _measured_by).items()
            if taken == wanted
        }

    def _whole(self, suffix: str, read: Callable[[Path], Any]) -> dict[str, Any]:
        """What `read` gives of each whole run file with `suffix`, by run id."""
        readings = {}
        for path in sorted(self.runs.glob(f"*{suffix}")):
            try:
                readings[path.name.removesuffix(suffix)] = read(path)
            except UNREADABLE as error:
                self._set_aside(path, error)
        return readings

    def _set_aside(self, path: Path, error: Exception) -> None:
        torn = path.with_name(path.name + ".torn")
        os.replace(path, torn)
        reason = " ".join(str(error).split())[:80]
        warnings.warn(
            f"{path}: unreadable ({reason}); moved to {torn.name}, the run counts as not finished",
            TornFileWarning,
            stacklevel=4,
        )

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

    def save_measures(
        self, run_id: str, measures: Mapping[str, Any], config: dict[str, Any], version: int
    ) -> None:
        """Save a finished replication run's measures (numbers and numeric arrays, by name) with
        its resolved config and the `version` of the measures that took them; `load_measures`
        gives them back bit for bit.
        """
        arrays = {"config": np.asarray(json.dumps(config)), "version": np.asarray(version)}
        for name, value in measures.items():
            check_measure(name, value)
            arrays[f"measure.{name}"] = np.asarray(value)
        write_atomically(self._measures_path(run_id), lambda p: _write_measures(p, arrays))
        self._failure_path(run_id).unlink(missing_ok=True)

    def load_measures(self, run_id: str) -> dict[str, Any]:
        """The measures of the finished replication run `run_id`, in the order they were saved:
        arrays as arrays, numbers as Python numbers (see `plain_measures`).
        """
        measures: dict[str, Any] = {}
        _read_measures(self._measures_path(run_id), measures)
        return measures

    def save_failure(self, run_id: str, config: dict[str, Any], error: Exception) -> None:
        """Record a failed run: its `error` in one line (`error_line`), the traceback, its
        config; `failure` gives the line back.
        """
        details = "".join(traceback.format_exception(error))
        record = {"run_id": run_id, "error": error_line(error), "traceback": details}
        text = json.dumps(record | {"config": config}, indent=2)
        write_text(self._failure_path(run_id), text)

    def failure(self, run_id: str) -> str | None:
        """The recorded error of a run whose last attempt failed, or None."""
        path = self._failure_path(run_id)
        if not path.exists():
            return None
        error: str = json.loads(path.read_text(encoding="utf-8"))["error"]
        return error


def error_line(error: Exception) -> str:
    """A failed run's error as reports and progress lines show it: its type and first line."""
    first_line = next(iter(str(error).splitlines()), "")
    return f"{type(error).__name__}: {first_line}"


def open_store(out: str | Path, experiment: Experiment) -> RunStore:
    """Open output folder `out` for `experiment` (held until closed) and write its resolved
    configuration, every default filled in, to ``experiment.toml``.
    """
    store = RunStore(out)
    try:
        write_text(store.root / "experiment.toml", tomli_w.dumps(experiment.resolved()))
    except BaseException:
        store.close()
        raise
    return store


def check_measure(name: str, value: Any) -> None:
    """Raise a one-line `ValueError` naming measure `name` and `value` unless it is a finite
    number or an array of them (booleans allowed, as masks): a string, None or a ragged list
    cannot be saved or averaged, and a NaN would be dropped silently from the table's means.
    """
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):  # a ragged list
        array = np.asarray(None)
    numeric = array.dtype.kind in "biuf"
    bad = int(np.count_nonzero(~np.isfinite(array))) if numeric else 0
    if not numeric or bad:
        got = (
            f"an array of shape {array.shape} holding {bad} NaN or infinite values"
            if numeric and array.ndim
            else shown(value)
        )
        raise ValueError(f"measure {name} must be a finite number or an array of them, got {got}")


def plain_measures(measures: Mapping[str, Any]) -> dict[str, Any]:
    """`measures` as `RunStore.load_measures` gives them back: numbers as Python numbers, arrays
    as NumPy arrays; so that a run computed now and one loaded from disk are the same values.
    """
    return {name: _plain(np.asarray(value)) for name, value in measures.items()}


def _plain(array: np.ndarray) -> Any:
    return array.item() if array.ndim == 0 else array


def _write_measures(path: Path, arrays: dict[str, np.ndarray]) -> None:
    # a file object: given a path, NumPy would append ".npz" to the temporary's name
    named: dict[str, Any] = dict(arrays)  # NumPy 2.1+ types savez's keywords as allow_pickle's
    with open(path, "wb") as file:
        np.savez(file, **named)


def _read_measures(path: Path, into: dict[str, Any]) -> int:
    """Read every array of `path` (so a torn file fails here) into `into`, by measure name;
    the version of the measures that took them (0 before versions were saved).
    """
    version = 0
    with np.load(path, allow_pickle=False) as data:
        for key in data.files:
            array = data[key]
            if key.startswith("measure."):
                into[key.removeprefix("measure.")] = _plain(array)
            elif key == "version":
                version = int(array)
    return version


def _measured_by(path: Path) -> tuple[list[str], int]:
    """The sorted names and the version of the measures saved in `path` (read whole)."""
    measures: dict[str, Any] = {}
    version = _read_measures(path, measures)
    return sorted(measures), version
