"""The output folder's guarantees: one writer at a time, a live writer's temporaries are left
alone, a torn run file is set aside and its run computed again."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import run_experiment
from experiments.store import FolderBusy, RunStore, TornFileWarning, plain_measures

HOLD = """
import sys
from experiments.store import RunStore
store = RunStore(sys.argv[1])
print("holding", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process that holds `tmp_path / "out"` open until its stdin closes."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "out")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert process.stdout is not None and process.stdout.readline() == "holding\n"
    yield process
    if process.poll() is None:
        process.kill()
    process.wait()


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


FRAME = pd.DataFrame({"day": [0, 1], "segment": "all", "metric": "ctr", "value": [0.1, 0.2]})


def test_a_second_writer_is_refused_naming_the_folder_and_the_holder(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    out = tmp_path / "out"
    with pytest.raises(FolderBusy) as refused:
        RunStore(out)
    message = str(refused.value)
    assert message.startswith(f"{out}: in use by pid {holder.pid} ")
    assert "\n" not in message


def test_the_folder_is_free_again_when_its_holder_ends(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    assert holder.stdin is not None
    holder.stdin.close()
    holder.wait()
    with RunStore(tmp_path / "out") as store:
        store.save("a", FRAME, {})
    RunStore(tmp_path / "out").close()


def test_a_killed_holder_frees_the_folder(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    holder.kill()
    holder.wait()
    RunStore(tmp_path / "out").close()


def test_the_holding_process_may_open_its_folder_again(tmp_path: Path) -> None:
    with RunStore(tmp_path) as first, RunStore(tmp_path) as second:
        second.save("a", FRAME, {})
        assert first.finished() == {"a"}


def test_only_temporaries_of_ended_processes_are_removed(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    live = tmp_path / "runs" / f".a.parquet.{os.getppid()}.tmp"
    dead = tmp_path / "runs" / f".b.parquet.{_dead_pid()}.tmp"
    unnamed = tmp_path / ".notes.tmp"
    for path in (live, dead, unnamed):
        path.write_text("partial")
    RunStore(tmp_path).close()
    assert (live.exists(), dead.exists(), unnamed.exists()) == (True, False, True)


def test_a_torn_run_file_is_set_aside_with_a_warning_naming_it(tmp_path: Path) -> None:
    with RunStore(tmp_path) as store:
        store.save("whole", FRAME, {})
        store.save("torn", FRAME, {})
        path = store.runs / "torn.parquet"
        path.write_bytes(path.read_bytes()[:-20])
        with pytest.warns(
            TornFileWarning, match=f"{path}: unreadable .*moved to torn.parquet.torn"
        ):
            assert store.finished() == {"whole"}
        assert (store.runs / "torn.parquet.torn").exists()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert store.finished() == {"whole"}
        pd.testing.assert_frame_equal(store.load("whole"), FRAME)


MEASURES = {
    "consumed": np.array([[True, False], [False, True]]),
    "representation": np.arange(6.0).reshape(2, 3) / 7,
    "utility": 0.1 + 0.2,
    "n": np.int64(3),
}


def test_measures_come_back_bit_for_bit_and_a_torn_file_is_set_aside(tmp_path: Path) -> None:
    with RunStore(tmp_path) as store:
        store.save_measures("whole", MEASURES, {"seed": 1}, version=1)
        store.save_measures("torn", MEASURES, {"seed": 2}, version=1)
        loaded = store.load_measures("whole")
        assert list(loaded) == list(MEASURES)
        assert (type(loaded["utility"]), type(loaded["n"])) == (float, int)
        for name, value in plain_measures(MEASURES).items():
            np.testing.assert_array_equal(loaded[name], value, strict=True)
        path = store.runs / "torn.measures.npz"
        path.write_bytes(path.read_bytes()[:-20])
        with pytest.warns(TornFileWarning, match=f"{path}: unreadable .*measures.npz.torn"):
            assert store.finished_measures(MEASURES, 1) == {"whole"}
        with pytest.raises(ValueError, match="measure who must be a finite number or an array"):
            store.save_measures("odd", {"who": {"a": 1}}, {}, version=1)
        assert store.finished() == set()


def test_measures_count_as_finished_only_for_the_same_names_and_version(
    tmp_path: Path,
) -> None:
    with RunStore(tmp_path) as store:
        store.save_measures("run", MEASURES, {}, version=2)
        assert store.finished_measures(reversed(list(MEASURES)), 2) == {"run"}
        assert store.finished_measures(MEASURES, 3) == set()
        assert store.finished_measures([*MEASURES, "new"], 2) == set()
        assert store.finished_measures(list(MEASURES)[1:], 2) == set()


def test_a_torn_run_is_computed_again_on_resume(
    tmp_path: Path, tiny_experiment: Callable[[str], Path]
) -> None:
    config, out = tiny_experiment(""), tmp_path / "out"
    first = run_experiment(config, out, progress=False)
    torn = sorted((out / "runs").glob("*.parquet"))[0]
    torn.write_bytes(torn.read_bytes()[: torn.stat().st_size // 2])
    with pytest.warns(TornFileWarning, match=str(torn)):
        resumed = run_experiment(config, out, progress=False)
    assert resumed.computed == (torn.stem,)
    pd.testing.assert_frame_equal(resumed.metrics, first.metrics, check_exact=True)
