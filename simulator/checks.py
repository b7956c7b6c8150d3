"""Conformance checks for user-written components, run by the test suite over every shipped one.

Like scikit-learn's estimator checks: call them on your own click model before trusting it.
"""

from __future__ import annotations

import numpy as np

from simulator.click_models import ClickModel, expected_clicks


def check_click_model(model: ClickModel, n_sessions: int = 40_000, seed: int = 0) -> None:
    """Assert that `model` samples clicks consistent with its own click probabilities.

    Checks: clicks are a boolean (sessions x positions) array; the same seed gives the same
    clicks; probabilities lie in [0, 1]; and each position's empirical click rate is within
    4.5 binomial standard errors of the mean stated probability (a per-position false-alarm rate
    below 1e-5, so a correct model essentially never fails).
    """
    rng = np.random.default_rng(seed)
    attractiveness = rng.uniform(0.0, 1.0, size=(n_sessions, 8))
    clicks = model.respond(attractiveness, np.random.default_rng(seed + 1))
    again = model.respond(attractiveness, np.random.default_rng(seed + 1))
    assert clicks.dtype == np.bool_, f"clicks must be boolean, got {clicks.dtype}"
    assert clicks.shape == attractiveness.shape, f"clicks have shape {clicks.shape}"
    assert np.array_equal(clicks, again), "the same seed gave different clicks"
    probabilities = model.click_probabilities(attractiveness)
    assert np.all((probabilities >= 0) & (probabilities <= 1)), "probabilities outside [0, 1]"
    expected = probabilities.mean(axis=0)
    observed = clicks.mean(axis=0)
    standard_error = np.sqrt(np.maximum(expected * (1 - expected), 1e-12) / n_sessions)
    z = np.abs(observed - expected) / standard_error
    assert np.all(z < 4.5), f"click rates {observed} differ from probabilities {expected}"
    total = expected_clicks(model, attractiveness).mean()
    assert np.isclose(total, expected.sum()), "expected_clicks disagrees with probabilities"
