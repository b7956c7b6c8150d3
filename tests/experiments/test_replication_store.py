"""Replications keep the promises of sweeps: a replication killed with ``kill -9`` resumes losing
only the runs in flight, to the results of an uninterrupted one; ``recloop report`` rebuilds its
folder, and refuses, in one line and writing nothing, while runs are missing. A failed run is
recorded and the others saved; saved measures are reused only by the same measures; a torn
measures file is measured again."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd
import pytest

from experiments import (
    REPLICATIONS,
    NotResults,
    Replication,
    load_experiment,
    rebuild,
    rebuild_replication,
    replicate,
    run_experiment,
)
from experiments.cli import EXIT_FAILED_RUNS, EXIT_INTERNAL, config_path, main
from experiments.replication import FinishedRun, Outcome, RunsFailed
from experiments.store import TornFileWarning, check_measure
from policies import POLICIES, RandomPolicy
from simulator import TrainingData

ROOT = Path(__file__).resolve().parents[2]
SMALL = [
    "experiment.seeds=2",
    "world.n_users=100",
    "world.n_items=40",
    "simulation.days=30",
    "simulation.slate_size=20",
]
"""chaney2018 cut to 5 variants x 2 seeds of a small world (about half a second a run)."""
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
    while len(_saved(out)) < n:  # the other runs, seconds of them, are still to come
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
    _kill_after(out, 1)
    saved = _saved(out)
    assert 1 <= len(saved) < N_RUNS, "the replication should have been killed midway"
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


BROKEN = '\n[[variants]]\nname = "broken"\npolicy = "broken"\n'


def _ctr(run: FinishedRun) -> dict[str, Any]:
    return {"ctr": float(run.result.metric("ctr").mean())}


def _table(outcomes: list[Outcome]) -> pd.DataFrame:
    ctr = np.mean([o.values["ctr"] for o in outcomes])
    return pd.DataFrame([{"quantity": "ctr", "published": "", "recloop": ctr, "holds": ""}])


TINY_REPLICATION = Replication(paper="a test", measure=_ctr, table=_table, names=("ctr",))


class Broken(RandomPolicy):
    def fit(self, data: TrainingData) -> Self:
        raise RuntimeError("boom")


def _ids(out: Path, suffix: str) -> set[str]:
    return {p.name.removesuffix(suffix) for p in (out / "runs").glob(f"*{suffix}")}


def test_a_failed_run_is_recorded_the_others_saved_and_the_table_refused_in_one_line(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tiny_experiment: Callable[[str], Path],
) -> None:
    monkeypatch.setitem(POLICIES, "broken", lambda world: Broken())
    experiment = load_experiment(tiny_experiment(BROKEN))
    out = tmp_path / "out"
    with pytest.raises(RunsFailed) as refused:
        replicate(experiment, TINY_REPLICATION, out, progress="lines")
    message = str(refused.value)
    assert message == (
        "tiny: 2 of its 4 runs failed (RuntimeError: boom in broken seed 0, broken seed 1), and "
        "the published table needs every run, so no report was written; its 2 finished runs "
        f"are saved in {out}: run the same command again to retry only the failed ones"
    )
    failed = [line for line in capsys.readouterr().err.splitlines() if "failed" in line]
    assert failed == [
        f"recloop: [{n}/4] broken seed {seed} failed: RuntimeError: boom"
        for n, seed in ((3, 0), (4, 1))
    ]
    assert set(refused.value.failed.values()) == {"RuntimeError: boom"}
    assert _ids(out, ".failed.json") == set(refused.value.failed)
    record = json.loads(next((out / "runs").glob("*.failed.json")).read_text())
    assert record["error"] == "RuntimeError: boom" and "Traceback" in record["traceback"]
    assert len(_ids(out, ".measures.npz")) == 2
    assert not (out / "report.md").exists()
    with pytest.raises(NotResults) as unfinished:
        rebuild_replication(out, TINY_REPLICATION)
    assert str(unfinished.value).startswith(
        f"{out}: 2 of its 4 runs never finished (2 failed: RuntimeError: boom in broken seed 0, "
        "broken seed 1) and a replication's table needs them all"
    )

    # the CLI says the same in one line, with the failed-runs status, never an internal error
    monkeypatch.setitem(REPLICATIONS, "tiny", TINY_REPLICATION)
    args = ["run", str(tmp_path / "tiny.toml"), "--out", str(out), "--executor", "serial"]
    assert main([*args, "--quiet"]) == EXIT_FAILED_RUNS
    assert capsys.readouterr().err == f"recloop: error: {message}\n"

    monkeypatch.setitem(POLICIES, "broken", lambda world: RandomPolicy())  # the cause fixed
    resumed = replicate(experiment, TINY_REPLICATION, out, progress=False)
    assert set(resumed.skipped) == _ids(out, ".measures.npz") - set(refused.value.failed)
    assert set(resumed.computed) == set(refused.value.failed)
    assert _ids(out, ".failed.json") == set()
    assert (out / "report.md").exists()


def _double(run: FinishedRun) -> dict[str, Any]:
    return {"ctr": 2 * _ctr(run)["ctr"], "n": 1}


def test_saved_measures_are_measured_again_when_the_measures_change(
    tmp_path: Path, tiny_experiment: Callable[[str], Path]
) -> None:
    experiment = load_experiment(tiny_experiment(""))
    out = tmp_path / "out"
    first = replicate(experiment, TINY_REPLICATION, out, progress=False)
    assert len(first.computed) == 2
    again = replicate(experiment, TINY_REPLICATION, out, progress=False)
    assert again.skipped == first.computed and again.computed == ()

    bumped = dataclasses.replace(TINY_REPLICATION, measure=_double, names=("ctr", "n"))
    with pytest.raises(NotResults, match="2 of its 2 runs were measured by other measures"):
        rebuild_replication(out, bumped)
    renamed = replicate(experiment, bumped, out, progress=False)
    assert renamed.computed == first.computed and renamed.skipped == ()
    assert renamed.outcomes[0].values == {"ctr": 2 * first.outcomes[0].values["ctr"], "n": 1}

    versioned = dataclasses.replace(bumped, version=2)
    assert replicate(experiment, versioned, out, progress=False).computed == first.computed
    assert replicate(experiment, versioned, out, progress=False).skipped == first.computed

    misnamed = dataclasses.replace(bumped, measure=_ctr)
    with pytest.raises(RunsFailed, match=r"\(ValueError: the replication's measure returned "):
        replicate(experiment, misnamed, progress=False)


def test_a_torn_measures_file_is_measured_again_on_resume(
    tmp_path: Path, tiny_experiment: Callable[[str], Path]
) -> None:
    experiment = load_experiment(tiny_experiment(""))
    out = tmp_path / "out"
    first = replicate(experiment, TINY_REPLICATION, out, progress=False)
    torn = sorted((out / "runs").glob("*.measures.npz"))[0]
    torn.write_bytes(torn.read_bytes()[: torn.stat().st_size // 2])
    with pytest.warns(TornFileWarning, match=str(torn)):
        resumed = replicate(experiment, TINY_REPLICATION, out, progress=False)
    assert resumed.computed == (torn.name.removesuffix(".measures.npz"),)
    assert torn.with_name(torn.name + ".torn").exists()
    _assert_same(resumed.outcomes, first.outcomes)


def test_rebuild_and_rebuild_replication_name_each_other_on_the_wrong_folder(
    tmp_path: Path, tiny_experiment: Callable[[str], Path]
) -> None:
    experiment = load_experiment(tiny_experiment(""))
    replicated, swept = tmp_path / "replicated", tmp_path / "swept"
    replicate(experiment, TINY_REPLICATION, replicated, progress=False)
    run_experiment(experiment, swept, progress=False)
    with pytest.raises(NotResults) as refused:
        rebuild(replicated)
    assert str(refused.value) == (
        f"{replicated}: a replication's folder (its runs are measures, not metrics); rebuild "
        "it with experiments.rebuild_replication(DIR, REPLICATIONS[NAME]) or recloop report"
    )
    with pytest.raises(NotResults) as refused:
        rebuild_replication(swept, TINY_REPLICATION)
    assert str(refused.value) == (
        f"{swept}: a sweep's folder (its runs are metrics, not measures); rebuild it with "
        "experiments.rebuild(DIR) or recloop report"
    )
    assert not (replicated / "summary.csv").exists() and not (swept / "measures.csv").exists()


TWO_VARIANTS = '\n[[variants]]\nname = "rand"\npolicy = "random"\n'
NOT_A_MEASURE = "measure ctr must be a finite number or an array of them, got "


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("abc", "'abc'"),
        (None, "None"),
        (float("nan"), "nan"),
        (float("-inf"), "-inf"),
        ([1.0, "a"], "[1.0, 'a']"),
        ([1.0, [2.0, 3.0]], "[1.0, [2.0, 3.0]]"),
        (
            np.array([0.5, np.nan, np.inf]),
            "an array of shape (3,) holding 2 NaN or infinite values",
        ),
    ],
    ids=["string", "None", "nan", "inf", "mixed list", "ragged list", "array with nan"],
)
def test_a_measure_that_is_not_a_finite_number_fails_its_runs_in_one_line_naming_it(
    value: Any,
    shown: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tiny_experiment: Callable[[str], Path],
) -> None:
    def measure(run: FinishedRun) -> dict[str, Any]:
        return {"ctr": value} if run.spec.variant.name == "rand" else _ctr(run)

    replication = dataclasses.replace(TINY_REPLICATION, measure=measure)
    path = tiny_experiment(TWO_VARIANTS)
    out = tmp_path / "out"
    with pytest.raises(RunsFailed) as refused:
        replicate(load_experiment(path), replication, out, progress=False)
    message = str(refused.value)
    assert message.startswith(
        f"tiny: 2 of its 4 runs failed (ValueError: {NOT_A_MEASURE}{shown} in rand seed 0, "
        "rand seed 1), and the published table needs every run"
    )
    assert len(_ids(out, ".measures.npz")) == 2 and len(_ids(out, ".failed.json")) == 2

    # the CLI: the same one line with the failed-runs status, no traceback; the popular runs
    # are kept and only the rand ones measured again
    monkeypatch.setitem(REPLICATIONS, "tiny", replication)
    args = ["run", str(path), "--out", str(out), "--executor", "serial", "--quiet"]
    assert main(args) == EXIT_FAILED_RUNS
    assert capsys.readouterr().err == f"recloop: error: {message}\n"
    assert len(_ids(out, ".measures.npz")) == 2 and not (out / "report.md").exists()


@pytest.mark.parametrize(
    "value",
    [3, 2.5, np.float32(0.25), True, np.zeros((2, 3), dtype=bool), np.arange(4.0)],
    ids=["int", "float", "float32", "bool", "mask", "array"],
)
def test_finite_numbers_and_arrays_of_them_are_measures(value: Any) -> None:
    check_measure("ctr", value)


def _not_a_number(run: FinishedRun) -> dict[str, Any]:
    return {"ctr": "abc"}


def _no_table(outcomes: list[Outcome]) -> pd.DataFrame:
    raise RuntimeError("the table's bug")


@pytest.mark.parametrize("cause", ["failed runs", "a table that raises"])
def test_a_refused_table_leaves_no_report_of_earlier_runs(
    cause: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tiny_experiment: Callable[[str], Path],
) -> None:
    path = tiny_experiment("")
    out = tmp_path / "out"
    replicate(load_experiment(path), TINY_REPLICATION, out, progress=False)
    assert (out / "report.md").exists() and (out / "measures.csv").exists()

    changed = (
        dataclasses.replace(TINY_REPLICATION, measure=_not_a_number, version=2)
        if cause == "failed runs"
        else dataclasses.replace(TINY_REPLICATION, table=_no_table)
    )
    monkeypatch.setitem(REPLICATIONS, "tiny", changed)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where an internal error logs
    args = ["run", str(path), "--out", str(out), "--executor", "serial", "--quiet"]
    status = main(args)
    err = capsys.readouterr().err
    if cause == "failed runs":
        assert status == EXIT_FAILED_RUNS and NOT_A_MEASURE in err
    else:
        assert status == EXIT_INTERNAL and "internal error: RuntimeError: the table's bug" in err
    assert err.count("\n") == 1
    assert not (out / "report.md").exists() and not (out / "measures.csv").exists()
    assert len(_ids(out, ".measures.npz")) == 2  # the runs are kept for the rerun
