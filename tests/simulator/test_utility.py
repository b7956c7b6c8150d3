"""Known versus true utility: Chaney's mean-and-sd Beta and the consumed-utility metric."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.utility import beta_parameters, consumed_utility, known_fraction


@pytest.mark.parametrize(("mean", "sd"), [(0.98, 0.1), (0.3, 0.2), (0.05, 1e-3)])
def test_beta_parameters_give_the_mean_and_sd(mean: float, sd: float) -> None:
    a, b = beta_parameters(mean, sd)
    assert np.isclose(a / (a + b), mean)
    assert np.isclose(np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))), sd)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_known_fraction_matches_its_parameters(seed: int) -> None:
    eta = known_fraction((400, 250), np.random.default_rng(seed))
    n = eta.size
    assert ((eta >= 0) & (eta <= 1)).all()
    # standard error of the mean is sd / sqrt(n) = 0.1 / 316; 4.5 of them
    assert abs(eta.mean() - 0.98) < 4.5 * 0.1 / np.sqrt(n)
    # the sd of a sample sd is ~ sd * sqrt(kurtosis excess + 2) / (2 sqrt(n)); this Beta is
    # very skewed (excess kurtosis ~ 60), so allow 5% of 0.1 (over 5 such errors)
    assert abs(eta.std() - 0.1) < 0.005


def test_consumed_utility_averages_the_consumed_items() -> None:
    true = np.array([[0.2, 0.9, 0.4], [0.5, 0.1, 0.3]])
    consumed = np.array([[False, True, False], [True, False, True]])
    assert np.isclose(consumed_utility(true, consumed), (0.9 + 0.5 + 0.3) / 3)
    assert np.isnan(consumed_utility(true, np.zeros_like(consumed)))


@pytest.mark.parametrize(
    ("mean", "sd", "field"),
    [
        (0.0, 0.1, "mean"),
        (1.0, 0.1, "mean"),
        (float("nan"), 0.1, "mean"),
        (0.5, 0.6, "sd"),
        (0.5, 0.0, "sd"),
        (0.5, float("inf"), "sd"),
    ],
)
def test_bad_beta_parameters(mean: float, sd: float, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        beta_parameters(mean, sd)


def test_consumed_utility_needs_matching_shapes() -> None:
    with pytest.raises(ValueError, match="consumed"):
        consumed_utility(np.zeros((2, 3)), np.zeros((2, 2), dtype=bool))
