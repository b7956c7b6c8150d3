"""Final-window means and t confidence intervals over seeds, checked against hand computation."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from experiments import compare, final_window_means, half_width, summarize


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


def test_compare_subtracts_the_baseline_of_the_same_seed() -> None:
    metrics = frame(
        [
            ("b0", "base", 0, 0, 1.0),
            ("b1", "base", 1, 0, 2.0),
            ("b2", "base", 2, 0, 3.0),
            ("f0", "fix", 0, 0, 1.5),
            ("f1", "fix", 1, 0, 2.4),
            ("f2", "fix", 2, 0, 3.7),
            ("f3", "fix", 3, 0, 9.0),  # no baseline run with seed 3: left out
        ]
    )
    (row,) = compare(metrics, final_window=1, baseline="base").itertuples(index=False)
    # differences 0.5, 0.4, 0.7: mean 0.5333, sd 0.1528
    assert (row.variant, row.n_seeds) == ("fix", 3)
    assert row.mean == pytest.approx(1.6 / 3)
    h = half_width([0.5, 0.4, 0.7])
    assert (row.ci_low, row.ci_high) == pytest.approx((1.6 / 3 - h, 1.6 / 3 + h))
    # pairing removes the seed-to-seed spread that separate intervals carry
    assert h < half_width([1.0, 2.0, 3.0]) / 5


def test_compare_pairs_within_each_sweep_point() -> None:
    metrics = frame(
        [
            ("b0", "base", 0, 0, 1.0),
            ("b1", "base", 0, 0, 10.0),
            ("f0", "fix", 0, 0, 2.0),
            ("f1", "fix", 0, 0, 13.0),
        ]
    ).assign(**{"world.n_users": [100, 200, 100, 200]})
    table = compare(metrics, final_window=1, baseline="base")
    assert list(table["world.n_users"]) == [100, 200]
    assert list(table["mean"]) == [1.0, 3.0]


def test_compare_names_an_unknown_baseline() -> None:
    metrics = frame([("b0", "base", 0, 0, 1.0)])
    with pytest.raises(
        ValueError, match="baseline must be one of the variants \\('base'\\), got 'bse'"
    ):
        compare(metrics, final_window=1, baseline="bse")
