"""Degeneracy (Jiang et al. 2019) and miscalibration (Steck 2018) on hand-built cases."""

from __future__ import annotations

import numpy as np
import pytest

from simulator.loop_measures import degeneracy, miscalibration


def test_degeneracy_is_the_mean_distance_from_the_start() -> None:
    initial = np.array([[0.0, 0.0], [1.0, 1.0]])
    now = np.array([[3.0, 4.0], [1.0, 1.0]])
    assert degeneracy(now, initial) == 2.5
    assert degeneracy(initial, initial) == 0.0


def test_miscalibration_against_the_formula() -> None:
    consumed = np.array([[1.0, 1.0], [2.0, 0.0], [3.0, 1.0]])
    recommended = np.array([[5.0, 5.0], [0.0, 4.0], [3.0, 1.0]])
    kl = miscalibration(consumed, recommended)
    assert kl[0] == pytest.approx(0.0) and kl[2] == pytest.approx(0.0)
    # p = (1, 0), q = (0, 1): q~ = (0.01, 0.99); KL = log(1 / 0.01)
    assert kl[1] == pytest.approx(np.log(100.0))


def test_miscalibration_is_undefined_without_data() -> None:
    kl = miscalibration(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 0.0]]))
    assert np.isnan(kl).all()


@pytest.mark.parametrize(
    ("consumed", "recommended", "message"),
    [
        (np.ones((2, 3)), np.ones((2, 2)), "recommended"),
        (np.array([[np.nan, 1.0]]), np.ones((1, 2)), "finite"),
        (np.array([[-1.0, 1.0]]), np.ones((1, 2)), "non-negative"),
    ],
)
def test_bad_counts(consumed: np.ndarray, recommended: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        miscalibration(consumed, recommended)


def test_bad_shapes_and_smoothing() -> None:
    with pytest.raises(ValueError, match="initial"):
        degeneracy(np.ones((2, 2)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="smoothing"):
        miscalibration(np.ones((1, 2)), np.ones((1, 2)), smoothing=1.5)
