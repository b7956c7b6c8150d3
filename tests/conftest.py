"""Shared fixtures: a small world that simulates in well under a second per week."""

from __future__ import annotations

import pytest

from simulator import WorldConfig


@pytest.fixture
def small_world() -> WorldConfig:
    return WorldConfig(n_users=400, n_items=120, n_segments=2, n_topics=6)


@pytest.fixture
def static_world(small_world: WorldConfig) -> WorldConfig:
    """No preference dynamics and no churn: sessions are comparable across policies."""
    return small_world.replace(preference_drift=0.0, churn=0.0)
