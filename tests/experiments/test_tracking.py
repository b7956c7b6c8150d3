"""Experiment tracking against a real MLflow file store in tmp_path, read back with MlflowClient:
what a sweep logs, and that resuming an interrupted sweep logs each run exactly once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from experiments import final_window_means, load_experiment, run_experiment
from experiments.cli import main
from experiments.tracking import PARENT_TAG, RUN_ID_TAG, check_tracker, experiment_key

mlflow = pytest.importorskip("mlflow")

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "world.n_users=60",
    "world.n_items=30",
    "simulation.days=3",
    'experiment.metrics=["utility"]',
]
N_RUNS = 6  # quick: 3 variants x 2 seeds


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return mlflow.MlflowClient(uri)


def _runs(client: Any) -> tuple[Any, list[Any]]:
    """The parent run of experiment "quick" and its children, by recloop run id."""
    experiment = client.get_experiment_by_name("quick")
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if PARENT_TAG not in r.data.tags]
    assert len(parents) == 1
    children = [r for r in runs if r.data.tags.get(PARENT_TAG) == parents[0].info.run_id]
    return parents[0], sorted(children, key=lambda r: r.data.tags[RUN_ID_TAG])


def test_a_sweep_logs_a_parent_and_a_child_per_run(client: Any, tmp_path: Path) -> None:
    config = load_experiment(ROOT / "experiments/configs/quick.toml", TINY)
    result = run_experiment(config, tmp_path / "out", progress=False, track="mlflow")

    parent, children = _runs(client)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["recloop.experiment_key"] == experiment_key(config)
    assert parent.data.params["experiment.name"] == "quick"
    assert parent.data.params["experiment.seeds"] == "2"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"experiment.toml", "report.md", "summary.csv", "figures"} <= artifacts
    figures = {a.path for a in client.list_artifacts(parent.info.run_id, "figures")}
    assert "figures/utility.png" in figures

    assert len(children) == N_RUNS
    assert {c.data.tags[RUN_ID_TAG] for c in children} == set(result.metrics.run_id)
    finals = final_window_means(result.metrics, config.settings.final_window)
    for child in children:
        run_id, params = child.data.tags[RUN_ID_TAG], child.data.params
        assert child.info.status == "FINISHED"
        rows = result.metrics[result.metrics.run_id == run_id]
        assert params["variant.name"] == rows.variant.iloc[0]
        assert params["seed"] == str(rows.seed.iloc[0])
        assert params["world.n_users"] == "60"
        assert params["simulation.days"] == "3"
        assert params["clicks.model"] == "pbm"
        daily = rows[(rows.metric == "utility") & (rows.segment == "all")]
        history = client.get_metric_history(child.info.run_id, "utility")
        assert [(m.step, m.value) for m in history] == list(
            zip(daily.day, daily.value, strict=True)
        )
        assert len(client.get_metric_history(child.info.run_id, "segment_0/utility")) == 3
        final = finals[(finals.run_id == run_id) & (finals.metric == "utility")].value.item()
        assert child.data.metrics["final/utility"] == pytest.approx(final)


def test_swept_values_are_parameters(client: Any, tmp_path: Path) -> None:
    path = tmp_path / "quick.toml"
    quick = (ROOT / "experiments/configs/quick.toml").read_text(encoding="utf-8")
    path.write_text(quick + '\n[sweep]\n"clicks.eta" = [0.5, 1.0]\n', encoding="utf-8")
    config = load_experiment(path, [*TINY, "experiment.seeds=1"])
    run_experiment(config, progress=False, track="mlflow")  # nothing saved, still tracked
    _, children = _runs(client)
    assert len(children) == 6  # 3 variants x 2 values x 1 seed
    assert sorted(c.data.params["sweep.clicks.eta"] for c in children) == ["0.5"] * 3 + ["1.0"] * 3
    assert all(c.data.params["clicks.eta"] == c.data.params["sweep.clicks.eta"] for c in children)


def test_resuming_an_interrupted_sweep_logs_each_run_once(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import experiments.run

    config = load_experiment(ROOT / "experiments/configs/quick.toml", TINY)
    execute_run = experiments.run.execute_run
    calls = []

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return execute_run(*args, **kwargs)

    monkeypatch.setattr(experiments.run, "execute_run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config, tmp_path / "out", progress=False, track="mlflow")
    parent, children = _runs(client)
    assert parent.info.status == "KILLED"
    assert len(children) == 3
    # a child a killed sweep left half-logged: deleted on resume, its run logged again whole
    half_logged = children[0].data.tags[RUN_ID_TAG]
    client.delete_run(children[0].info.run_id)
    client.create_run(
        parent.info.experiment_id,
        tags={PARENT_TAG: parent.info.run_id, RUN_ID_TAG: half_logged},
    )

    monkeypatch.setattr(experiments.run, "execute_run", execute_run)
    result = run_experiment(config, tmp_path / "out", progress=False, track="mlflow")
    assert (len(result.computed), len(result.skipped)) == (3, 3)
    resumed, children = _runs(client)
    assert resumed.info.run_id == parent.info.run_id
    assert resumed.info.status == "FINISHED"
    assert [c.data.tags[RUN_ID_TAG] for c in children] == sorted(set(result.metrics.run_id))
    assert all(c.info.status == "FINISHED" for c in children)

    run_experiment(config, tmp_path / "out", progress=False, track="mlflow")
    assert len(_runs(client)[1]) == N_RUNS


def test_failed_runs_get_no_child_and_fail_the_parent(
    client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import experiments.run

    execute_run = experiments.run.execute_run

    def oracle_breaks(spec: Any, *args: Any, **kwargs: Any) -> Any:
        if spec.variant.name == "oracle":
            raise RuntimeError("boom")
        return execute_run(spec, *args, **kwargs)

    monkeypatch.setattr(experiments.run, "execute_run", oracle_breaks)
    config = load_experiment(ROOT / "experiments/configs/quick.toml", TINY)
    result = run_experiment(config, progress=False, track="mlflow")
    parent, children = _runs(client)
    assert len(result.failures) == 2
    assert parent.info.status == "FAILED"
    assert (
        sorted(c.data.params["variant.name"] for c in children)
        == ["popularity"] * 2 + ["random"] * 2
    )


def test_cli_tracks_to_mlruns_in_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "")
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")
    monkeypatch.chdir(tmp_path)
    sets = [arg for key in [*TINY, "experiment.seeds=1"] for arg in ("--set", key)]
    argv = ["run", "quick", "--out", "out", "--executor", "serial", "--quiet", *sets]
    assert main([*argv, "--track", "mlflow"]) == 0
    _, children = _runs(mlflow.MlflowClient((tmp_path / "mlruns").as_uri()))
    assert len(children) == 3


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out.strip().startswith("recloop ")


def test_bad_tracker(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="track must be one of mlflow, got 'wandb'"):
        check_tracker("wandb")
    with pytest.raises(SystemExit):
        main(["run", "quick", "--track", "wandb"])
    monkeypatch.setitem(__import__("sys").modules, "mlflow", None)
    with pytest.raises(ValueError, match=r"pip install 'recloop\[mlflow\]'"):
        check_tracker("mlflow")
