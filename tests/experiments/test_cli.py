"""The recloop command: bad input is one line and exit status 2; reports rebuild identically."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from experiments import NotResults, cli, rebuild
from experiments.cli import CONFIGS, main
from experiments.cluster_lost import ClusterLost

QUICK = str(CONFIGS / "quick.toml")


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


BAD_INPUT = [
    (
        ["run", "missing.toml"],
        "recloop: error: missing.toml: cannot read: No such file or directory",
    ),
    (
        ["run", QUICK, "--set", "world.n_user=5"],
        f"recloop: error: {QUICK}: [--set] [world] unknown key 'n_user' (did you mean 'n_users'?)",
    ),
    (
        ["run", QUICK, "--set", "world.n_users=many"],
        f"recloop: error: {QUICK}: [--set] [world] n_users must be an integer >= 1, got 'many'",
    ),
    (
        ["run", QUICK, "--set", "world.churn=2"],
        f"recloop: error: {QUICK}: [--set] [world] churn must be a probability in [0, 1], got 2",
    ),
    (
        ["run", QUICK, "--set", 'sweep."world.n_item"=[40, 80]'],
        f"recloop: error: {QUICK}: [sweep] world.n_item = 40: [world] unknown key 'n_item' "
        "(did you mean 'n_items'?)",
    ),
    (
        ["run", QUICK, "--seeds", "none"],
        f"recloop: error: {QUICK}: [--set] [experiment] seeds must be an integer >= 1, got 'none'",
    ),
    (
        ["run", QUICK, "--set", "experiment.first_seed=99999999999999999999"],
        f"recloop: error: {QUICK}: [--set] [experiment] first_seed must be at most 2**62 (seeds "
        "are saved as 64-bit integers), got 99999999999999999999",
    ),
    (
        ["run", QUICK, "--executor", "threads"],
        "recloop: error: executor must be one of serial, processes, dask, dask://HOST:PORT, "
        "got 'threads'",
    ),
    (["report", "no/such/folder"], "recloop: error: no/such/folder: not a folder"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT)
def test_bad_input_prints_one_line_and_exits_2(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    status, out, err = run_cli(capsys, *args)
    assert (status, out, err) == (2, "", message + "\n")


def test_an_unreadable_config_is_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "binary.toml"
    path.write_bytes(b"\xff\xfe")
    status, _, err = run_cli(capsys, "run", str(path))
    assert status == 2
    assert err.startswith(f"recloop: error: {path}: invalid TOML: ") and err.count("\n") == 1


def test_list_names_each_shipped_experiment_on_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run_cli(capsys, "list")
    lines = out.splitlines()
    assert status == 0
    assert [line.split()[0] for line in lines] == sorted(p.stem for p in CONFIGS.glob("*.toml"))
    assert any(line.startswith("degenerate_loop ") and "oracle" in line for line in lines)


def test_run_prints_the_summary_and_report_rebuilds_identical_tables(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "quick"
    args = ["run", QUICK, "--out", str(out), "--executor", "serial", "--quiet"]
    status, printed, _ = run_cli(capsys, *args, "--seeds", "2")
    assert status == 0
    assert "quick: 6 runs computed, 0 already done, 0 failed" in printed
    assert printed.rstrip().endswith(f"report: {out / 'report.md'}")
    table = printed.split("over seeds:\n")[1]
    assert table.splitlines()[0].split() == [
        "ctr",
        "utility",
        "regret",
        "coverage",
        "exposure_gini",
        "popularity_bias",
    ]
    assert [line.split()[0] for line in table.splitlines()[1:4]] == [
        "popularity",
        "random",
        "oracle",
    ]
    differences = printed.split("Difference from random, paired by seed")[1].splitlines()
    assert [line.split()[0] for line in differences[2:4]] == ["popularity", "oracle"]

    tables = ("summary.csv", "comparison.csv", "report.md")
    saved = {name: (out / name).read_bytes() for name in tables}
    metrics = pd.read_parquet(out / "metrics.parquet")
    for name in (*tables, "metrics.parquet"):
        (out / name).unlink()
    shutil.rmtree(out / "figures")

    status, printed, _ = run_cli(capsys, "report", str(out))
    assert status == 0
    assert {name: (out / name).read_bytes() for name in saved} == saved
    pd.testing.assert_frame_equal(pd.read_parquet(out / "metrics.parquet"), metrics)
    assert sorted(p.name for p in (out / "figures").iterdir()) == sorted(
        [
            "final_window.png",
            "difference.png",
            "ctr.png",
            "utility.png",
            "regret.png",
            "coverage.png",
            "exposure_gini.png",
            "popularity_bias.png",
        ]
    )

    status, printed, _ = run_cli(capsys, *args, "--seeds", "2")
    assert "quick: 0 runs computed, 6 already done" in printed


def _bad_command_lines(out: str) -> list[tuple[list[str], str]]:
    """Bad command lines, each writing to `out`, with the start of their one-line error."""
    run = ["run", QUICK, "--out", out, "--executor", "serial"]
    return [
        ([*run, "--set", "world.n_users"], f"{QUICK}: --set 'world.n_users': expected KEY=VALUE"),
        ([*run, "--set", "=5"], f"{QUICK}: --set '=5': expected KEY=VALUE"),
        (
            [*run, "--set", "world.affinity=nan"],
            "[world] affinity must be a finite number, got nan",
        ),
        ([*run, "--set", "simulation.retrain_every=nan"], "retrain_every must be a finite number"),
        ([*run, "--set", "world.mean_sessions_per_day=inf"], "mean_sessions_per_day must be a fin"),
        ([*run, "--set", "world.n_users='" + "9" * 5_000_000 + "'"], "n_users must be an"),
        ([*run, "--set", "world.dynamics='" + "x" * 5_000_000 + "'"], "dynamics must be one of"),
        ([*run, "--workers", "0"], "--workers must be at least 1, got 0"),
        ([*run, "--workers", "two"], "argument --workers: invalid int value: 'two'"),
        ([*run, "--unknown"], "unrecognized arguments: --unknown"),
        ([*run, "--executor", "dask://localhost:notaport"], "executor must be dask://HOST:PORT"),
        (["run", "b\udcff.toml", "--out", out], r"b'b\xff.toml': path is not valid UTF-8"),
        (["run", QUICK, "--out", out + "\udcff"], "path is not valid UTF-8"),
        (["report", out], f"{out}: not a folder"),
        (["run", QUICK, "--out", "", "--executor", "serial"], "--out: must name a folder, got ''"),
        (["report", ""], "argument dir: must name a folder, got ''"),
        (["frobnicate"], "argument command: invalid choice: 'frobnicate'"),
    ]


@pytest.mark.parametrize("case", range(len(_bad_command_lines(""))))
def test_a_bad_command_line_is_one_line_exit_2_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: int
) -> None:
    monkeypatch.chdir(tmp_path)  # an empty --out would mean the current folder
    out = tmp_path / "out"
    args, start = _bad_command_lines(str(out))[case]
    try:
        status = main(args)
    except SystemExit as stopped:  # argparse's own errors
        status = stopped.code
    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and len(captured.err) < 400
    assert captured.err.startswith("recloop: error: ")
    assert start in captured.err
    assert "Traceback" not in captured.err
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_dask_scheduler_is_one_line_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dask_executor = pytest.importorskip("experiments.dask_executor")
    monkeypatch.setattr(dask_executor, "CONNECT_TIMEOUT", 1.0)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    out = tmp_path / "out"
    status, _, err = run_cli(
        capsys, "run", QUICK, "--out", str(out), "--executor", f"dask://127.0.0.1:{port}"
    )
    assert status == 2
    assert err == (
        f"recloop: error: no Dask scheduler answers at tcp://127.0.0.1:{port}: "
        "nothing accepted a connection within 1 s\n"
    )
    assert not out.exists()


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A results folder of a 4-day quick experiment with one seed."""
    out = tmp_path_factory.mktemp("finished") / "quick"
    args = ["run", QUICK, "--out", str(out), "--executor", "serial", "--seeds", "1"]
    assert main([*args, "--set", "simulation.days=4", "--set", "experiment.final_window=2"]) == 0
    return out


def _files(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.name.startswith(".recloop")
    }


def test_report_on_another_experiments_folder_refuses_and_loses_nothing(
    capsys: pytest.CaptureFixture[str], finished: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(finished, folder)
    toml = folder / "experiment.toml"
    toml.write_text(toml.read_text().replace("first_seed = 0", "first_seed = 7"))
    before = _files(folder)
    capsys.readouterr()
    status, out, err = run_cli(capsys, "report", str(folder))
    assert (status, out) == (2, "")
    assert err == (
        f"recloop: error: {folder}: none of its 3 saved runs belong to the experiment in "
        "experiment.toml (another experiment's runs, or another recloop version's); "
        "nothing written\n"
    )
    assert _files(folder) == before


@pytest.mark.parametrize("emptied", [False, True], ids=["another experiment's", "no runs"])
def test_python_rebuild_refuses_as_the_report_command_does(
    finished: Path, tmp_path: Path, emptied: bool
) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(finished, folder)
    if emptied:
        for path in (folder / "runs").iterdir():
            path.unlink()
        message = f"{folder}: no run has finished yet; nothing written"
    else:
        toml = folder / "experiment.toml"
        toml.write_text(toml.read_text().replace("first_seed = 0", "first_seed = 7"))
        message = f"{folder}: none of its 3 saved runs belong to the experiment in"
    before = _files(folder)
    with pytest.raises(NotResults, match=f"^{re.escape(message)}"):
        rebuild(folder)
    assert _files(folder) == before
    with pytest.raises(NotResults, match="not a results folder"):
        rebuild(tmp_path)


def test_ctrl_c_during_a_report_is_one_line_and_exit_130_leaving_the_folder_as_it_was(
    capsys: pytest.CaptureFixture[str],
    finished: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(finished, folder)
    before = _files(folder)

    def interrupted(out: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "rebuild", interrupted)
    capsys.readouterr()
    status, out, err = run_cli(capsys, "report", str(folder))
    assert (status, out) == (130, "")
    assert err == "\nrecloop: interrupted; nothing was left half-written\n"
    assert _files(folder) == before


def test_report_on_a_folder_that_is_not_a_results_folder_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    status, _, err = run_cli(capsys, "report", str(tmp_path))
    assert status == 2
    assert (
        err == f"recloop: error: {tmp_path}: not a results folder (no experiment.toml and runs/)\n"
    )
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


HOLD = """
import sys
from experiments.store import RunStore
store = RunStore(sys.argv[1])
print("holding", flush=True)
sys.stdin.read()
"""


def test_report_during_a_sweep_is_refused_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], finished: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "busy"
    shutil.copytree(finished, folder)
    before = _files(folder)
    sweep = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    try:
        assert sweep.stdout is not None and sweep.stdout.readline() == "holding\n"
        capsys.readouterr()
        status, _, err = run_cli(capsys, "report", str(folder))
        assert status == 2
        assert err.startswith(f"recloop: error: {folder}: in use by pid {sweep.pid} ")
        assert err.count("\n") == 1
        run = ["run", QUICK, "--out", str(folder), "--executor", "serial", "--seeds", "2"]
        status, _, err = run_cli(capsys, *run)
        assert status == 2
        assert err.startswith(f"recloop: error: {folder}: in use by pid {sweep.pid} ")
        assert _files(folder) == before
    finally:
        sweep.kill()
        sweep.wait()
    capsys.readouterr()
    assert run_cli(capsys, "report", str(folder))[0] == 0


def test_an_internal_error_is_one_line_pointing_to_its_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug\nwith a second line")

    monkeypatch.setattr(cli, "run_experiment", broken)
    status, _, err = run_cli(
        capsys, "run", QUICK, "--out", str(tmp_path / "out"), "--executor", "serial"
    )
    assert status == cli.EXIT_INTERNAL
    match = re.fullmatch(
        r"recloop: internal error: RuntimeError: a bug; traceback in (\S+) \(please report it\)\n",
        err,
    )
    assert match is not None
    log = Path(match.group(1))
    assert "in broken" in log.read_text() and "RuntimeError: a bug" in log.read_text()
    log.unlink()


def test_a_lost_cluster_is_one_line_saying_how_to_resume(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def lost(*args: object, **kwargs: object) -> None:
        raise ClusterLost("the Dask scheduler at tcp://h:1 went away; run the same command")

    monkeypatch.setattr(cli, "run_experiment", lost)
    out = tmp_path / "out"
    status, _, err = run_cli(capsys, "run", QUICK, "--out", str(out), "--executor", "serial")
    assert (status, err) == (
        cli.EXIT_CLUSTER_LOST,
        "recloop: error: the Dask scheduler at tcp://h:1 went away; run the same command "
        f"(in {out})\n",
    )


def test_progress_bars_are_drawn_only_on_a_terminal(
    capsys: pytest.CaptureFixture[str], finished: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "again"
    shutil.copytree(finished, folder)
    for path in (folder / "runs").glob("*.parquet"):
        path.unlink()
    capsys.readouterr()
    args = ["run", QUICK, "--out", str(folder), "--executor", "serial", "--seeds", "1"]
    status = main([*args, "--set", "simulation.days=4", "--set", "experiment.final_window=2"])
    assert status == 0
    assert "\r" not in capsys.readouterr().err


PROGRESS_LINE = re.compile(
    r"recloop: \[(\d)/3\] (popularity|random|oracle) seed 0 "
    r"(done \(\d+ s elapsed\)|already done)"
)


def test_a_pipe_gets_a_plain_line_per_finished_run(tmp_path: Path) -> None:
    small = ["--set", "simulation.days=3", "--set", "experiment.final_window=1"]
    args = [*small, "--set", "world.n_users=100", "--seeds", "1", "--executor", "serial"]
    command = [sys.executable, "-m", "experiments.cli", "run", QUICK, "--out", str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    for outcome in ("done", "already done"):
        process = subprocess.run(
            [*command, *args], env=env, capture_output=True, text=True, check=True
        )
        assert "\r" not in process.stderr
        lines = process.stderr.splitlines()
        matches = [PROGRESS_LINE.fullmatch(line) for line in lines]
        assert all(matches), lines
        assert [m.group(1) for m in matches if m] == ["1", "2", "3"]
        assert {m.group(3).split(" (")[0] for m in matches if m} == {outcome}
    quiet = subprocess.run(
        [*command, *args, "--quiet"], env=env, capture_output=True, text=True, check=True
    )
    assert quiet.stderr == ""
