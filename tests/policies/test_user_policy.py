"""A user's own policy, registered from outside recloop, runs from TOML and passes check_policy.

The policy lives in a temporary package that declares it under the ``recloop.policies`` entry
point group, as an installed package would; recloop finds it by name the first time a TOML file
asks for it, with no edit to recloop's registry.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from experiments import run_experiment
from policies import POLICIES, check_policy, make_policy
from simulator import World, WorldConfig, stream

USER_POLICY = '''
import numpy as np
from policies import top_k

class MostClicked:
    """Rank by clicks in the last `window` days; the empty first fit gives no clicks."""
    def __init__(self, window: float = 1.0):
        self.window = window
    def fit(self, data):
        recent = data.impressions.subset(data.impressions.t >= data.now - self.window)
        self.clicked_ = recent.item[recent.click].astype(np.int64)
        return self
    def rank(self, requests, candidates, k, rng):
        clicks = np.bincount(self.clicked_, minlength=int(candidates.max()) + 1)
        scores = clicks[candidates].astype(float)
        return top_k(scores, candidates, k, requests.blocked, len(requests))
'''
WORLD = World.generate(WorldConfig(n_users=20, n_items=30, n_segments=2), stream(0, "world"))
ENTRY_POINTS = "[recloop.policies]\nmost_clicked = user_policy:MostClicked\n"
EXPERIMENT = """
[experiment]
seeds = 1
final_window = 1

[world]
n_users = 100
n_items = 40
n_segments = 2

[simulation]
days = 2

[[variants]]
name = "mine"
policy = "most_clicked"
params = { window = 2.0 }
"""


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A package `user_policy` with its entry point, on sys.path as if pip-installed."""
    site = tmp_path / "site"
    (site / "user_policy").mkdir(parents=True)
    (site / "user_policy" / "__init__.py").write_text(USER_POLICY)
    info = site / "user_policy-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: user-policy\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(site))
    yield
    POLICIES.pop("most_clicked", None)


@pytest.mark.usefixtures("installed")
def test_a_user_policy_runs_from_toml_and_passes_check_policy(tmp_path: Path) -> None:
    assert "most_clicked" not in POLICIES
    config = tmp_path / "mine.toml"
    config.write_text(EXPERIMENT)
    result = run_experiment(config, executor="serial", progress=False)
    assert set(result.metrics.variant) == {"mine"}
    assert len(result.failures) == 0
    assert result.metrics.query("metric == 'ctr'").value.mean() > 0
    check_policy(make_policy("most_clicked", WORLD, window=2.0))


@pytest.mark.usefixtures("installed")
def test_a_misspelt_user_policy_is_still_a_one_line_error() -> None:
    with pytest.raises(ValueError, match=r"^unknown policy 'most_click' \(did you mean"):
        make_policy("most_click", WORLD)
