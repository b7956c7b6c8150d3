"""The Examples sections of the main entry points run as doctests.

Only these modules, not ``--doctest-modules`` over the tree: each example is small and fast
(tiny worlds, a day or two), and its printed values would change if the behaviour broke.
"""

import doctest
import importlib

import pytest

MODULES = [
    "simulator.simulation",  # simulate
    "policies.base",  # a ten-line custom policy through check_policy
    "policies.checks",  # check_policy
    "experiments.experiment",  # load_experiment
    "experiments.sweep",  # run_experiment
    "experiments.offline.evaluation",  # evaluate_offline
]


@pytest.mark.parametrize("name", MODULES)
def test_examples_of(name: str) -> None:
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    results = doctest.testmod(module, optionflags=flags)
    assert results.attempted > 0, f"{name} has no examples"
    assert results.failed == 0, f"{results.failed} of {results.attempted} examples failed in {name}"
