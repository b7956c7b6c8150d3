"""The degenerate-loop detector's verdicts on hand-made daily metrics."""

import pandas as pd
import pytest

from simulator import detect_degenerate_loop


def frame(coverage: list[float], gini: list[float]) -> pd.DataFrame:
    days = range(len(coverage))
    rows = [(d, "all", "coverage", c) for d, c in zip(days, coverage, strict=True)]
    rows += [(d, "all", "exposure_gini", g) for d, g in zip(days, gini, strict=True)]
    return pd.DataFrame(rows, columns=["day", "segment", "metric", "value"])


def test_detector_fires_on_falling_coverage_and_rising_concentration() -> None:
    verdict = detect_degenerate_loop(
        frame([1.0, 0.9, 0.8, 0.4, 0.3, 0.2], [0.1, 0.2, 0.3, 0.7, 0.8, 0.9]), span=2
    )
    assert verdict.degenerate
    assert (verdict.first_day, verdict.last_day) == (0, 5)
    assert verdict.coverage_before == pytest.approx(0.95)
    assert verdict.coverage_after == pytest.approx(0.25)
    assert verdict.coverage_drop == pytest.approx(1 - 0.25 / 0.95)
    assert verdict.concentration_rise == pytest.approx((0.85 - 0.15) / 0.85)
    assert verdict.coverage_slope < 0 < verdict.gini_slope
    assert list(verdict.daily.columns) == ["day", "coverage", "exposure_gini"]
    assert "degenerate loop over days 0-5" in str(verdict)


@pytest.mark.parametrize(
    ("coverage", "gini"),
    [
        ([1.0] * 6, [0.1] * 6),  # flat: no loop
        ([1.0, 1.0, 1.0, 0.5, 0.5, 0.5], [0.1] * 6),  # coverage falls, exposure as even
        ([1.0] * 6, [0.1, 0.1, 0.1, 0.8, 0.8, 0.8]),  # concentration rises, catalog kept
    ],
)
def test_detector_needs_both_symptoms(coverage: list[float], gini: list[float]) -> None:
    assert not detect_degenerate_loop(frame(coverage, gini), span=3).degenerate


def test_detector_window() -> None:
    metrics = frame([1.0, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2], [0.1] + [0.9] * 6)
    assert detect_degenerate_loop(metrics, span=1).degenerate
    assert not detect_degenerate_loop(metrics, start=1, span=1).degenerate
    assert detect_degenerate_loop(metrics, stop=2, span=1).last_day == 1


@pytest.mark.parametrize(
    ("metrics", "kwargs", "message"),
    [
        (frame([1.0] * 4, [0.1] * 4), {"span": 3}, "at least 2 \\* span = 6 days, got 4"),
        (frame([1.0] * 6, [0.1] * 6), {"span": 0}, "span must be an integer >= 1"),
        (
            pd.concat([frame([1.0] * 6, [0.1] * 6)] * 2),
            {},
            "metrics must hold one run",
        ),
        (frame([1.0] * 6, [0.1] * 6), {"min_coverage_drop": -1}, "min_coverage_drop must be"),
    ],
)
def test_detector_bad_input(metrics: pd.DataFrame, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        detect_degenerate_loop(metrics, **kwargs)
