"""The off-policy study's table: one row per target and estimator, truth shared by estimators."""

from __future__ import annotations

import pytest

from experiments.offline_study import Study, run_study, summarize_study
from simulator import WorldConfig


def test_study_table_compares_every_estimator_with_one_truth_per_target() -> None:
    tiny = Study(
        world=WorldConfig(n_users=300, n_items=60, n_segments=2, preference_drift=0.0, churn=0.0),
        days=3,
        train_days=1,
    )
    estimates = run_study(tiny, seeds=[0, 1], progress=False)
    table = summarize_study(estimates)
    assert set(table.index.get_level_values("target")) == {"oracle", "popularity", "lightgbm"}
    assert set(table.index.get_level_values("estimator")) == {"naive", "ips", "snips", "dm", "dr"}
    assert (table.n_seeds == 2).all()
    truths = table.groupby("target").truth.nunique()
    assert (truths == 1).all()  # every estimator is judged against the same truth
    oracle = table.loc["oracle"]
    assert (oracle.truth > table.loc["popularity"].truth.iloc[0]).all()
    assert ((table.coverage >= 0) & (table.coverage <= 1)).all()


def test_study_refuses_an_unknown_estimator_before_simulating() -> None:
    with pytest.raises(ValueError, match=r"got 'drr' \(did you mean 'dr'\?\)"):
        Study(estimators=("ips", "drr"))
