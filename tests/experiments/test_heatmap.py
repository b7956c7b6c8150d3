"""The map of an experiment swept over worlds (`experiments.heatmap`): a swept [world] table
merges into the file's, the report gains the heatmap and retention curves, and the heatmap's
cells are the paired differences of `compare`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from experiments import load_experiment, run_experiment
from experiments.heatmap import has_map, heatmap_table, point_label

MAP = """
[experiment]
seeds = 2
final_window = 2
metrics = ["utility", "long_term_value"]
baseline = "popular"

[world]
n_users = 200
n_items = 60
n_segments = 2

[simulation]
days = 4
ticks_per_day = 8

[sweep]
world = [{}, { retention = { leave_probability = 0.05, leave_sensitivity = 1.0 } }]

[[variants]]
name = "popular"
policy = "popularity"
params = { window = 1.0 }

[[variants]]
name = "random"
policy = "random"
"""


def test_a_swept_world_table_merges_into_the_file_and_set_world_keys() -> None:
    experiment = load_experiment_text(MAP, ["world.n_users=150"])
    worlds = [experiment.at(point).world for point in experiment.points()]
    assert [w.n_users for w in worlds] == [150, 150]
    assert [w.n_items for w in worlds] == [60, 60]
    assert [w.retention.enabled for w in worlds] == [False, True]
    assert has_map(experiment)


def load_experiment_text(text: str, overrides: list[str], folder: Path | None = None):
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(folder or tmp) / "map.toml"
        path.write_text(text)
        return load_experiment(path, overrides)


@pytest.mark.parametrize(
    ("value", "label"),
    [
        ("{}", "base"),
        ('{"dynamics": "interest"}', "interest"),
        ('{"satiation": {"strength": 0.5}, "perception": {"appeal": 1}}', "satiation+perception"),
        (3, "3"),
    ],
)
def test_point_labels(value, label: str) -> None:
    assert point_label(value) == label


def test_the_report_shows_the_map_of_paired_differences(tmp_path: Path) -> None:
    path = tmp_path / "map.toml"
    path.write_text(MAP)
    out = tmp_path / "out"
    result = run_experiment(path, out=out, progress=False)
    comparison = pd.read_csv(out / "comparison.csv")
    table = heatmap_table(comparison, "utility")
    assert list(table.columns) == ["base", "retention"]
    assert list(table.index) == ["random"]
    row = comparison[(comparison.metric == "utility") & (comparison.world == "{}")].iloc[0]
    significant = row.ci_low > 0 or row.ci_high < 0
    assert table.loc["random", "base"] == f"{row['mean']:+.4f}{'*' if significant else ''}"
    # long-term value is recorded only where a mechanism is on
    assert heatmap_table(comparison, "long_term_value").loc["random", "base"] == "n/a"
    report = (out / "report.md").read_text()
    assert "## The map" in report
    for figure in ("map", "retention_curves"):
        assert (out / "figures" / f"{figure}.png").stat().st_size > 0
        assert f"figures/{figure}.png" in report
    assert len(result.metrics)
