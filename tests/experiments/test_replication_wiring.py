"""The replication components reach experiment files: a world preset in [world], a choice
model in [clicks], the new policies and wrappers by name, and the consumed mask in the loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from experiments import ConfigError, expand, load_experiment
from experiments.run import execute_run
from simulator import AttentionArgmax, ChaneyWorld, PositionBasedModel, stream
from simulator.choice_models import consumed_argument

CHANEY = """
[experiment]
final_window = 2

[world]
preset = "chaney2018"
n_users = 20
n_items = 30
preset_params = { known_mean = 0.9 }

[clicks]
model = "attention_argmax"
alpha = 0.5

[simulation]
days = 3
slate_size = 10
ticks_per_day = 1
window = inf
exclude_consumed = true

[[variants]]
name = "ideal"
policy = "ideal"
wrappers = [{ name = "random_startup", steps = 1.0 }, { name = "interleave_new", n_new = 3 }]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.toml"
    path.write_text(text)
    return path


def test_a_preset_world_and_a_choice_model_run_from_toml(tmp_path: Path) -> None:
    experiment = load_experiment(write(tmp_path, CHANEY))
    assert experiment.preset is not None and experiment.preset.params == {"known_mean": 0.9}
    # the preset's configuration, with the file's keys on top
    assert (experiment.world.n_users, experiment.world.new_items_per_day) == (20, 10)
    assert isinstance(experiment.clicks.build(), AttentionArgmax)
    spec = expand(experiment, [0])[0]
    world = spec.preset.build(spec.world, stream(0, "world")) if spec.preset else None
    assert isinstance(world, ChaneyWorld) and world.preset.known_mean == 0.9
    metrics = execute_run(spec)
    ctr = metrics[(metrics.metric == "ctr") & (metrics.segment == "all")].value
    # exactly one consumption per session and slate of 10: a click-through rate of 1/10
    np.testing.assert_allclose(ctr, 0.1)
    resolved = experiment.resolved()["world"]
    assert (resolved["preset"], resolved["preset_params"]) == ("chaney2018", {"known_mean": 0.9})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('preset = "chaney2018"', 'preset = "chaney"'), "preset must be one of 'chaney2018'"),
        (("known_mean = 0.9", "known_men = 0.9"), "unknown key 'known_men'"),
        (("n_items = 30", "n_itemz = 30"), "unknown key 'n_itemz'"),
    ],
)
def test_bad_preset_keys_are_one_line(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    path = write(tmp_path, CHANEY.replace(*change))
    with pytest.raises(ConfigError, match=message):
        load_experiment(path)


def test_the_consumed_mask_reaches_choice_models_only() -> None:
    consumed = np.array([[True, False, True], [False, False, False]])
    items = np.array([[2, 1], [0, 2]])
    users = np.array([0, 1])
    mask = consumed_argument(AttentionArgmax(), consumed, users, items)["consumed"]
    np.testing.assert_array_equal(mask, [[True, False], [False, False]])
    assert consumed_argument(PositionBasedModel(), consumed, users, items) == {}
    assert consumed_argument(AttentionArgmax(), None, users, items) == {}
