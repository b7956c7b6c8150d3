"""Final-window means and t confidence intervals over seeds, checked against hand computation."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from experiments import final_window_means, half_width, summarize


def frame(rows: list[tuple[str, str, int, int, float]]) -> pd.DataFrame:
    """Tidy metrics from (run_id, variant, seed, day, value) rows of one metric, one segment."""
    data = pd.DataFrame(rows, columns=["run_id", "variant", "seed", "day", "value"])
    return data.assign(segment="all", metric="ctr")[
        ["run_id", "variant", "seed", "day", "segment", "metric", "value"]
    ]


def test_the_final_window_is_each_runs_own_last_days() -> None:
    metrics = frame(
        [("a", "v", 0, d, float(d)) for d in range(5)]  # days 0..4: last two are 3, 4
        + [("b", "v", 1, d, 10.0 * d) for d in range(3)]  # days 0..2: last two are 1, 2
    )
    means = final_window_means(metrics, final_window=2)
    assert list(means.value) == [3.5, 15.0]


def test_the_interval_is_students_t_over_seeds() -> None:
    # values 1, 2, 3: mean 2, sd 1, t(0.975, 2) = 4.302652729911275
    assert half_width([1.0, 2.0, 3.0]) == pytest.approx(4.302652729911275 / math.sqrt(3))
    assert math.isnan(half_width([1.0]))
    assert half_width([1.0, 2.0, 3.0, math.nan]) == half_width([1.0, 2.0, 3.0])


def test_summary_has_one_row_per_variant_and_sweep_point_in_order() -> None:
    metrics = frame(
        [
            ("r0", "pop", 0, 0, 1.0),
            ("r1", "pop", 1, 0, 2.0),
            ("r2", "pop", 2, 0, 3.0),
            ("o0", "oracle", 0, 0, 5.0),
        ]
    ).assign(**{"world.n_users": 100})
    summary = summarize(metrics, final_window=1)
    assert list(summary.columns) == [
        "variant",
        "world.n_users",
        "metric",
        "mean",
        "ci_low",
        "ci_high",
        "n_seeds",
    ]
    pop, oracle = summary.itertuples(index=False)
    h = 4.302652729911275 / math.sqrt(3)
    assert (pop.variant, pop.mean, pop.n_seeds) == ("pop", 2.0, 3)
    assert (pop.ci_low, pop.ci_high) == pytest.approx((2.0 - h, 2.0 + h))
    assert (oracle.variant, oracle.mean, oracle.n_seeds) == ("oracle", 5.0, 1)
    assert math.isnan(oracle.ci_low)
