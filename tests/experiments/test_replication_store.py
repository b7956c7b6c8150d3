"""Replications keep the promises of sweeps: a replication killed with ``kill -9`` resumes losing
only the runs in flight, to the results of an uninterrupted one; ``recloop report`` rebuilds its
folder, and refuses, in one line and writing nothing, while runs are missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from experiments import REPLICATIONS, load_experiment, replicate
from experiments.cli import config_path, main
from experiments.replication import Outcome

ROOT = Path(__file__).resolve().parents[2]
SMALL = [
    "experiment.seeds=2",
    "world.n_users=60",
    "world.n_items=40",
    "simulation.days=30",
    "simulation.slate_size=20",
]
"""chaney2018 cut to 5 variants x 2 seeds of a small world (under a second a run)."""
N_RUNS = 10


def _saved(out: Path) -> set[str]:
    return {p.name.removesuffix(".measures.npz") for p in (out / "runs").glob("*.measures.npz")}


def _kill_after(out: Path, n: int) -> None:
    """Start ``recloop run chaney2018`` into `out` and kill -9 it once `n` runs are saved."""
    overrides = [arg for override in SMALL for arg in ("--set", override)]
    command = ["run", "chaney2018", "--out", str(out), "--executor", "serial", "--quiet"]
    process = subprocess.Popen(
        [sys.executable, "-m", "experiments.cli", *command, *overrides],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while len(_saved(out)) < n:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()


def _assert_same(resumed: list[Outcome], fresh: list[Outcome]) -> None:
    assert [(o.variant, o.point, o.seed) for o in resumed] == [
        (o.variant, o.point, o.seed) for o in fresh
    ]
    for a, b in zip(resumed, fresh, strict=True):
        assert list(a.values) == list(b.values)
        for name, value in a.values.items():
            assert type(value) is type(b.values[name]), name
            np.testing.assert_array_equal(value, b.values[name], strict=True, err_msg=name)


def test_a_replication_killed_midway_resumes_to_the_results_of_an_uninterrupted_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    _kill_after(out, 2)
    saved = _saved(out)
    assert 2 <= len(saved) < N_RUNS, "the replication should have been killed midway"
    assert not (out / "report.md").exists()

    assert main(["report", str(out)]) == 2
    missing = N_RUNS - len(saved)
    assert capsys.readouterr().err == (
        f"recloop: error: {out}: {missing} of its {N_RUNS} runs never finished and a "
        "replication's table needs them all; run the same command again to finish them; "
        "nothing written\n"
    )
    assert not (out / "report.md").exists()

    experiment = load_experiment(config_path("chaney2018"), SMALL)
    chaney = REPLICATIONS["chaney2018"]
    resumed = replicate(experiment, chaney, out, progress=False)
    assert set(resumed.skipped) == saved
    assert len(resumed.computed) == missing and saved.isdisjoint(resumed.computed)
    assert list(out.rglob(".*.tmp")) == []
    fresh = replicate(experiment, chaney, tmp_path / "fresh", progress=False)
    assert len(fresh.computed) == N_RUNS
    _assert_same(resumed.outcomes, fresh.outcomes)
    outputs = ("report.md", "measures.csv")
    expected = {name: (tmp_path / "fresh" / name).read_bytes() for name in outputs}
    assert {name: (out / name).read_bytes() for name in outputs} == expected

    for name in outputs:
        (out / name).unlink()
    capsys.readouterr()
    assert main(["report", str(out)]) == 0
    assert "ordering of homogenization" in capsys.readouterr().out
    assert {name: (out / name).read_bytes() for name in outputs} == expected


def test_adaptive_seeds_for_a_replication_is_one_line_of_bad_input_writing_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["run", "chaney2018", "--seeds", "auto", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "[experiment] seeds must be a number for a replication, got 'auto'" in err
    assert not out.exists()


def test_tracking_a_replication_is_refused_in_one_line_writing_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("mlflow")
    out = tmp_path / "out"
    assert main(["run", "chaney2018", "--track", "mlflow", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "recloop: error: --track mlflow: replications are not tracked (their outcome is the "
        "table in report.md); run without --track"
    )
    assert not out.exists()
