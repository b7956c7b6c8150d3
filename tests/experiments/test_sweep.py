"""Sweeps: the same numbers on every executor, resume after a kill or Ctrl-C, failed runs kept
apart, and the seeds = "auto" stopping rule."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from experiments import (
    AutoSeeds,
    expand,
    final_window_means,
    half_width,
    load_experiment,
    run_experiment,
)
from experiments.cli import main
from experiments.run import RunTask
from experiments.sweep import needs_more_seeds
from policies import POLICIES, RandomPolicy
from simulator import TrainingData

ROOT = Path(__file__).resolve().parents[2]

TINY = """
[experiment]
seeds = 2
final_window = 2

[world]
n_users = 200
n_items = 60
n_segments = 2

[simulation]
days = {days}

[[variants]]
name = "popular"
policy = "popularity"
params = {{ window = 1.0 }}

[[variants]]
name = "oracle"
policy = "oracle"
"""


def tiny(tmp_path: Path, days: int = 4, extra: str = "", name: str = "tiny") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(TINY.format(days=days) + extra)
    return path


SWEEP = '[sweep]\n"world.n_users" = [200, 300]\n'
SLOW_SWEEP = '[sweep]\n"world.n_users" = [1500, 2000]\n'


@pytest.fixture(scope="module")
def dask_address() -> Iterator[str]:
    """A local Dask cluster of 2 single-threaded worker processes that advertise memory only."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        resources={"MEMORY": 4e9},
    ) as cluster:
        yield "dask://" + cluster.scheduler_address.removeprefix("tcp://")


def test_serial_processes_and_dask_give_identical_metrics(
    tmp_path: Path, dask_address: str
) -> None:
    experiment = load_experiment(tiny(tmp_path, extra=SWEEP))
    results = {
        executor: run_experiment(experiment, executor=executor, workers=2, progress=False)
        for executor in ("serial", "processes", dask_address)
    }
    serial = results.pop("serial")
    assert serial.metrics.run_id.nunique() == 2 * 2 * 2
    assert set(serial.metrics["world.n_users"]) == {200, 300}
    for result in results.values():
        pd.testing.assert_frame_equal(result.metrics, serial.metrics, check_exact=True)
        pd.testing.assert_frame_equal(result.summary, serial.summary, check_exact=True)


def test_dask_asks_only_for_the_resources_its_workers_advertise(dask_address: str) -> None:
    from distributed import Client

    from experiments.dask_executor import DaskExecutor

    executor = DaskExecutor(Client("tcp://" + dask_address.removeprefix("dask://")))
    try:
        spec = expand(load_experiment(ROOT / "experiments/configs/quick.toml"), [0])[0]
        assert spec.resources.cores == 1
        assert executor.placement(RunTask(spec)) == {"MEMORY": float(spec.resources.memory)}
        assert executor.placement(len) is None
    finally:
        executor.shutdown()


def test_a_run_no_dask_worker_can_hold_fails_instead_of_waiting(
    tmp_path: Path, dask_address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The workers offer 4e9 bytes; a 10-million-user world is estimated far above that (and
    above what this machine holds: the load-time bound is lifted to reach the cluster)."""
    monkeypatch.setattr("experiments.resources.machine_memory", lambda: 2**60)
    experiment = load_experiment(tiny(tmp_path), ["world.n_users=10000000"])
    result = run_experiment(experiment, executor=dask_address, progress=False)
    assert len(result.failures) == 4 and len(result.metrics) == 0  # 2 variants x 2 seeds
    assert "the largest worker offers 4e+09" in result.failures.error.iloc[0]


def test_a_bigger_world_is_estimated_to_need_more_memory(tmp_path: Path) -> None:
    small = expand(load_experiment(tiny(tmp_path)), [0])[0]
    big = expand(load_experiment(tiny(tmp_path), ["world.n_users=10000"]), [0])[0]
    assert big.resources.memory > small.resources.memory > 250 * 2**20


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "experiments.cli", *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_runs(out: Path, n: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while len(list((out / "runs").glob("*.parquet"))) < n:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _temporaries(out: Path) -> list[Path]:
    return [p for p in out.rglob(".*.tmp")]


def _assert_no_partial_files(out: Path) -> set[str]:
    """Every run file is complete (a killed writer may leave only a hidden temporary, which
    the next run removes); returns the finished run ids."""
    finished = set()
    for path in (out / "runs").glob("*.parquet"):
        assert pq.read_table(path).num_rows > 0
        finished.add(path.stem)
    return finished


def test_a_sweep_killed_midway_loses_no_finished_run_and_reruns_only_the_rest(
    tmp_path: Path,
) -> None:
    config, out = tiny(tmp_path, days=12, extra=SLOW_SWEEP), tmp_path / "out"
    process = _cli("run", str(config), "--out", str(out), "--executor", "serial", "--quiet")
    _wait_for_runs(out, 2, process)
    process.kill()
    process.wait()

    finished = _assert_no_partial_files(out)
    assert 2 <= len(finished) < 8, "the sweep should have been killed midway"
    resumed = run_experiment(config, out, progress=False)
    assert _temporaries(out) == []
    assert set(resumed.skipped) == finished
    assert len(resumed.computed) == 8 - len(finished)
    assert set(resumed.computed).isdisjoint(finished)
    fresh = run_experiment(config, tmp_path / "fresh", progress=False)
    pd.testing.assert_frame_equal(resumed.metrics, fresh.metrics, check_exact=True)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_stops_the_workers_keeps_finished_runs_and_says_how_to_resume(
    tmp_path: Path, signum: int
) -> None:
    config, out = tiny(tmp_path, days=12, extra=SLOW_SWEEP), tmp_path / "out"
    process = _cli("run", str(config), "--out", str(out), "--executor", "processes", "--quiet")
    _wait_for_runs(out, 1, process)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 130
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        f"recloop: interrupted; finished runs are saved in {out}: "
        "run the same command again to resume"
    )
    finished = _assert_no_partial_files(out)
    assert 1 <= len(finished) < 8, "the signal should have come before the sweep's end"
    assert _temporaries(out) == []


SWALLOWED: list[object] = []
RAISED: list[bool] = []


class _SignalInFinalizer:
    """Raises SIGINT from its finalizer, where Python prints the KeyboardInterrupt and
    swallows it: the moment a real Ctrl-C can land in during garbage collection."""

    def __del__(self) -> None:
        signal.raise_signal(signal.SIGINT)


class InterruptedOnce(RandomPolicy):
    def fit(self, data: TrainingData) -> Self:
        if not RAISED:
            RAISED.append(True)
            _SignalInFinalizer()
        return super().fit(data)


def test_an_interrupt_swallowed_by_a_finalizer_still_stops_the_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(POLICIES, "interrupted_once", lambda world: InterruptedOnce())
    # only this test's swallowed interrupt counts: another finalizer may also complain
    monkeypatch.setattr(sys, "unraisablehook", lambda hook: SWALLOWED.append(hook.exc_type))
    extra = '\n[[variants]]\nname = "interrupted"\npolicy = "interrupted_once"\n'
    config, out = tiny(tmp_path, extra=extra), tmp_path / "out"
    args = ["run", str(config), "--out", str(out), "--executor", "serial", "--quiet"]
    SWALLOWED.clear()
    RAISED.clear()
    before = signal.getsignal(signal.SIGINT)  # another test may have left it ignored

    status = main(args)
    assert KeyboardInterrupt in SWALLOWED, "the interrupt should have been swallowed"
    assert status == 130
    assert capsys.readouterr().err.strip().endswith("run the same command again to resume")
    # the run going when the signal came finishes and is kept; no other run starts
    assert len(_assert_no_partial_files(out)) == 5
    assert not (out / "report.md").exists()
    assert signal.getsignal(signal.SIGINT) is before


FITS: list[float] = []


class Broken(RandomPolicy):
    def fit(self, data: TrainingData) -> Self:
        FITS.append(data.now)
        raise RuntimeError("boom")


def broken_policy(world: Any) -> Broken:
    return Broken()


def test_a_baseline_adds_paired_differences_to_the_report(tmp_path: Path) -> None:
    path = tiny(tmp_path, extra="", name="paired")
    path.write_text(
        path.read_text().replace("final_window = 2", 'final_window = 2\nbaseline = "popular"')
    )
    out = tmp_path / "out"
    result = run_experiment(path, out=out, progress=False)
    saved = pd.read_csv(out / "comparison.csv")
    per_run = final_window_means(result.metrics, 2).pivot_table(
        index=["metric", "seed"], columns="variant", values="value"
    )
    utility = per_run.loc["utility"]
    expected = (utility.oracle - utility.popular).mean()
    row = saved[(saved.variant == "oracle") & (saved.metric == "utility")].iloc[0]
    assert row["mean"] == pytest.approx(expected)
    assert set(saved.variant) == {"oracle"}
    report = (out / "report.md").read_text()
    section = report.split("## Difference from popular")[1].split("\n## ")[0]
    (oracle_row,) = [line for line in section.splitlines() if line.startswith("| oracle |")]
    assert f" {round(expected, 4) + 0.0:+.4f} ± " in oracle_row
    assert (out / "figures" / "difference.png").stat().st_size > 0


def test_a_failing_run_is_recorded_with_its_error_and_the_others_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(POLICIES, "broken", broken_policy)
    extra = '\n[[variants]]\nname = "broken"\npolicy = "broken"\n'
    config, out = tiny(tmp_path, extra=extra), tmp_path / "out"
    result = run_experiment(config, out, progress="lines")

    failed = [line for line in capsys.readouterr().err.splitlines() if "failed" in line]
    assert failed == [
        f"recloop: [{n}/6] broken seed {seed} failed: RuntimeError: boom"
        for n, seed in ((5, 0), (6, 1))
    ]
    assert list(result.failures.variant) == ["broken", "broken"]
    assert set(result.failures.error) == {"RuntimeError: boom"}
    assert set(result.metrics.variant) == {"popular", "oracle"}
    assert len(list((out / "runs").glob("*.failed.json"))) == 2
    assert "## Failed runs" in (out / "report.md").read_text()
    FITS.clear()
    again = run_experiment(config, out, progress=False)
    assert set(again.skipped) == set(result.metrics.run_id), "finished runs are reused"
    assert FITS == [0.0, 0.0], "failed runs are tried again"
    assert set(again.failures.run_id) == set(result.failures.run_id)


@pytest.mark.parametrize(
    ("values", "more"),
    [
        ([0.5], True),  # below min_seeds
        ([0.5, 0.5, 0.5], False),  # no spread: the interval has width 0
        ([0.1, 0.9, 0.5], True),  # wide interval
        ([0.1, 0.9, 0.5, 0.2, 0.8], False),  # max_seeds reached
        ([0.5, 0.5, float("nan")], False),  # an undefined value is left out
        ([float("nan")] * 3, True),  # no defined value: no interval yet
    ],
)
def test_auto_seeds_continue_while_the_interval_is_wider_than_the_tolerance(
    values: list[float], more: bool
) -> None:
    rule = AutoSeeds(tolerance=0.01, min_seeds=3, max_seeds=5)
    assert needs_more_seeds(values, rule) is more


def _auto(tmp_path: Path, tolerance: float) -> pd.DataFrame:
    overrides = [
        "experiment.seeds=auto",
        f"experiment.auto={{ metric = 'utility', tolerance = {tolerance}, min_seeds = 2, "
        "max_seeds = 5, step = 2 }",
    ]
    result = run_experiment(load_experiment(tiny(tmp_path), overrides), progress=False)
    values = final_window_means(result.metrics, final_window=2)
    return values[values.metric == "utility"].sort_values(["variant", "seed"])


def test_auto_seeds_stop_by_their_rule(tmp_path: Path) -> None:
    seeds = _auto(tmp_path, tolerance=1e9).groupby("variant").seed.apply(list)
    assert seeds.to_dict() == {"oracle": [0, 1], "popular": [0, 1]}
    seeds = _auto(tmp_path, tolerance=1e-9).groupby("variant").seed.apply(list)
    assert seeds.to_dict() == {"oracle": [0, 1, 2, 3, 4], "popular": [0, 1, 2, 3, 4]}

    tolerance = 0.05
    for _, group in _auto(tmp_path, tolerance).groupby("variant"):
        values = group.value.to_numpy()
        assert half_width(values) <= tolerance or len(values) == 5
        for n in range(2, len(values), 2):
            assert not half_width(values[:n]) <= tolerance, "stopped too late"
    assert np.isfinite(values).all()
