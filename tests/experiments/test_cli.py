"""The recloop command: bad input is one line and exit status 2; reports rebuild identically."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from experiments.cli import CONFIGS, main

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
