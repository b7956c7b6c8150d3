"""A retrieval stage declared in TOML: built around LightGBM and around an exploration wrapper,
run, and refused at load when it could not fill a slate."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from experiments import ConfigError, load_experiment, run_experiment
from experiments.run import build_run, expand
from policies import EpsilonGreedy, LightGBMPolicy, Retrieval

RETRIEVAL = """
[[variants]]
name = "retrieved"
policy = "lightgbm"
params = { n_trees = 10 }
wrappers = [{ name = "retrieval", n_candidates = 15 }]

[[variants]]
name = "retrieved_explored"
policy = "lightgbm"
params = { n_trees = 10 }
wrappers = [
    { name = "epsilon_greedy", epsilon = 0.2 },
    { name = "retrieval", n_candidates = 12, fresh_share = 0.25 },
]
"""


def test_retrieval_variants_build_and_run(tiny_experiment: Callable[[str], Path]) -> None:
    experiment = load_experiment(tiny_experiment(RETRIEVAL), seeds=1)
    specs = {spec.variant.name: spec for spec in expand(experiment, [0])}
    *_, [served] = build_run(specs["retrieved_explored"])
    policy = served.policy
    assert isinstance(policy, Retrieval) and (policy.n_candidates, policy.fresh_share) == (12, 0.25)
    assert isinstance(policy.inner, EpsilonGreedy)
    assert isinstance(policy.inner.inner, LightGBMPolicy)
    result = run_experiment(experiment, progress=False)
    assert result.failures.empty
    ctr = result.summary.query("metric == 'ctr'").set_index("variant")["mean"]
    assert set(ctr.index) == {"popular", "retrieved", "retrieved_explored"}
    assert (ctr > 0).all()


@pytest.mark.parametrize(
    ("wrapper", "message"),
    [
        ("n_candidates = 5", "n_candidates must be at least the slate size 10, got 5"),
        ("fresh_share = 2", "fresh_share must be a probability in \\[0, 1\\], got 2"),
        ("n_candidates = 1.5", "n_candidates must be an integer >= 1, got 1.5"),
    ],
)
def test_bad_retrieval_settings_fail_at_load(
    tiny_experiment: Callable[[str], Path], wrapper: str, message: str
) -> None:
    text = (
        f'[[variants]]\nname = "r"\npolicy = "lightgbm"\n'
        f'wrappers = [{{ name = "retrieval", {wrapper} }}]\n'
    )
    with pytest.raises(ConfigError, match=message) as caught:
        load_experiment(tiny_experiment(text))
    assert "\n" not in str(caught.value)
