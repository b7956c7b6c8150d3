"""Drift statistics on samples with known answers, and detectors on injected shifts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from policies import RandomPolicy
from simulator import (
    DriftDetector,
    PositionBasedModel,
    SimulationConfig,
    World,
    drift_report,
    population_stability_index,
    simulate,
    stream,
)
from simulator.drift import daily_summary, drift_statistics, summary_from_metrics
from simulator.shifts import Abrupt, CovariateShift, LabelShift


def test_psi_is_near_zero_for_one_distribution_and_large_for_a_moved_one() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(size=20_000)
    # same distribution: E[PSI] ~ (bins - 1) (1/n_ref + 1/n_cur) = 9 * 1.5e-4
    assert population_stability_index(reference, rng.normal(size=10_000)) < 0.01
    assert population_stability_index(reference, rng.normal(0.5, 1, size=10_000)) > 0.2


def test_psi_matches_hand_computation_on_categories() -> None:
    reference = np.array([0] * 50 + [1] * 50)
    current = np.array([0] * 80 + [1] * 20)
    expected = (0.8 - 0.5) * np.log(0.8 / 0.5) + (0.2 - 0.5) * np.log(0.2 / 0.5)
    assert population_stability_index(reference, current) == pytest.approx(expected)


def synthetic_summary(psi_by_day: list[float]) -> pd.DataFrame:
    days = range(1, len(psi_by_day) + 1)
    return pd.DataFrame(
        {
            "drift_psi": psi_by_day,
            "drift_ks_pvalue": 0.5,
            "drift_click_rate_shift": 0.0,
            "drift_calibration_gap": 0.0,
        },
        index=pd.Index(days, name="day"),
    )


def test_detector_fires_on_the_first_day_over_threshold_after_patience() -> None:
    report = synthetic_summary([0.01, 0.3, 0.02, 0.3, 0.4, 0.5])
    assert DriftDetector().first_alarm(report)["psi"] == 2
    assert DriftDetector(patience=2).first_alarm(report)["psi"] == 5
    assert DriftDetector().first_alarm(report)["ks"] is None


def run_report(config, shifts, days: int = 8) -> pd.DataFrame:
    """The daily drift summary a run records, checked against the post-hoc report."""
    world = World.generate(config, stream(0, "world"))
    sim = SimulationConfig(days=days, window=3.0)
    result = simulate(world, PositionBasedModel(), RandomPolicy(), sim, seed=0, shifts=shifts)
    recorded = summary_from_metrics(result.metrics)
    posthoc = daily_summary(drift_report(result.log, result.world.features, window=3.0))
    pd.testing.assert_frame_equal(recorded, posthoc, check_names=False, check_like=True)
    return recorded


def test_covariate_shift_is_detected_on_features_and_label_shift_on_click_rate(
    static_world,
) -> None:
    detector = DriftDetector(click_rate_threshold=0.3)
    covariate = run_report(static_world, [CovariateShift(Abrupt(5), (0.95, 0.05))])
    first = detector.first_alarm(covariate)
    assert first["psi"] == 5 and first["ks"] == 5
    label = run_report(static_world, [LabelShift(Abrupt(5), click_rate_factor=2.0)])
    first = detector.first_alarm(label)
    assert first["click_rate"] == 5
    assert first["psi"] is None


def test_no_shift_raises_no_psi_or_click_rate_alarm(static_world) -> None:
    first = DriftDetector(click_rate_threshold=0.3).first_alarm(run_report(static_world, []))
    assert first["psi"] is None and first["click_rate"] is None


def test_drift_from_a_windows_traffic_equals_drift_from_its_whole_copy(static_world) -> None:
    # Drift reads only the reference's users and clicks, and one feature at a time; the rows
    # must be the very numbers of the whole copy and of the (sessions x features) computation.
    world = World.generate(static_world, stream(1, "world"))
    sim = SimulationConfig(days=4, window=2.0)
    result = simulate(world, PositionBasedModel(), RandomPolicy(), sim, seed=1)
    log, features = result.log, result.world.features
    reference, current = log.between(1.0, 3.0), log.between(3.0, 4.0)
    whole = drift_statistics(reference, current, features)
    assert drift_statistics(log.traffic_between(1.0, 3.0), current, features) == whole
    ref_x, cur_x = features.users(reference.user), features.users(current.user)
    for j, name in enumerate(features.user_feature_names):
        psi = population_stability_index(ref_x[:, j], cur_x[:, j])
        ks = float(stats.ks_2samp(ref_x[:, j], cur_x[:, j]).pvalue)
        assert ("psi", name, psi) in whole and ("ks_pvalue", name, ks) in whole
