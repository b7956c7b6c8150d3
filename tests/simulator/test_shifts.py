"""Each shift changes what it claims and leaves fixed what it claims."""

from __future__ import annotations

import math

import numpy as np
import pytest

from policies import RandomPolicy
from simulator import (
    PositionBasedModel,
    ServedModel,
    Simulation,
    SimulationConfig,
    World,
    simulate,
    stream,
)
from simulator.shifts import (
    Abrupt,
    ConceptDrift,
    CovariateShift,
    Gradual,
    LabelShift,
    Periodic,
    onset,
    rotation_in_plane,
)
from simulator.simulation import check_setup


def test_profiles() -> None:
    assert [Abrupt(at=2).weight(t) for t in (0, 1.99, 2, 5)] == [0, 0, 1, 1]
    assert [Gradual(2, 4).weight(t) for t in (1, 2, 3, 4, 9)] == [0, 0, 0.5, 1, 1]
    seasonal = Periodic(period=7)
    assert seasonal.weight(0) == pytest.approx(0) and seasonal.weight(3.5) == pytest.approx(1)
    assert seasonal.weight(7) == pytest.approx(0)


def test_rotation_is_orthogonal_and_moves_only_its_plane() -> None:
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(6, 3)))
    u, v, other = q.T
    r = rotation_in_plane(u, v, math.pi / 2)
    np.testing.assert_allclose(r @ r.T, np.eye(6), atol=1e-12)
    np.testing.assert_allclose(r @ u, v, atol=1e-12)
    np.testing.assert_allclose(r @ other, other, atol=1e-12)


def run(config, shifts, days: int = 6):
    world = World.generate(config, stream(0, "world"))
    before = {
        "users": world.features.users(np.arange(config.n_users)),
        "items": world.features.items(world.live_items, 0.0),
        "attractiveness": world.attractiveness(np.arange(50), world.live_items),
        "shares": world.arrival_shares.copy(),
    }
    result = simulate(
        world,
        PositionBasedModel(),
        RandomPolicy(),
        SimulationConfig(days=days),
        seed=0,
        shifts=shifts,
    )
    return before, result


def test_covariate_shift_moves_arrivals_not_click_propensities(static_world) -> None:
    shift = CovariateShift(Abrupt(at=3), arrival_shares=(0.9, 0.1))
    before, result = run(static_world, [shift])
    sessions = result.log.sessions()
    late = sessions.segment[sessions.t >= 3]
    early = sessions.segment[sessions.t < 3]
    assert abs(np.mean(late == 0) - 0.9) < 0.03  # ~1,200 sessions: 4 standard errors
    assert abs(np.mean(early == 0) - before["shares"][0]) < 0.04
    world = result.world
    np.testing.assert_array_equal(
        world.attractiveness(np.arange(50), world.live_items), before["attractiveness"]
    )


def test_label_shift_scales_click_rate_and_keeps_which_pairs_click(static_world) -> None:
    shift = LabelShift(Gradual(1, 2), click_rate_factor=2.0)
    before, result = run(static_world, [shift])
    world = result.world
    after = world.attractiveness(np.arange(50), world.live_items)
    unclipped = after < 1
    np.testing.assert_allclose(after[unclipped], 2.0 * before["attractiveness"][unclipped])
    ctr = result.metric("ctr")
    assert ctr[3:].mean() > 1.7 * ctr[:1].mean()


def test_concept_drift_changes_propensities_not_features(static_world) -> None:
    shift = ConceptDrift(Abrupt(at=2), angle=math.pi / 2)
    before, result = run(static_world, [shift])
    world = result.world
    np.testing.assert_array_equal(
        world.features.users(np.arange(static_world.n_users)), before["users"]
    )
    np.testing.assert_array_equal(world.features.items(world.live_items, 0.0), before["items"])
    np.testing.assert_array_equal(world.arrival_shares, before["shares"])
    after = world.attractiveness(np.arange(50), world.live_items)
    change = np.abs(after - before["attractiveness"])
    assert change.mean() > 0.01
    np.testing.assert_allclose(np.linalg.norm(world.item_latent, axis=1), 1.0)


def test_periodic_shift_returns_to_baseline(static_world) -> None:
    shift = LabelShift(Periodic(period=2), click_rate_factor=3.0)
    _, result = run(static_world, [shift], days=4)
    # the last tick starts at t = 4 - 1/32: weight (1 - cos(pi / 16)) / 2 = 0.0024
    assert result.world.click_scale == pytest.approx(1.0 + 2.0 * 0.0024, abs=1e-4)


def test_shifts_of_one_kind_are_rejected(static_world) -> None:
    twice = [LabelShift(Abrupt(1), 2.0), LabelShift(Abrupt(2), 0.5)]
    with pytest.raises(ValueError, match="shifts must be of different kinds"):
        run(static_world, twice)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Gradual(3, 2), "end must be after start"),
        (lambda: Periodic(period=0), "period must be > 0, got 0"),
        (lambda: Abrupt(at=-1), "at must be >= 0, got -1"),
        (lambda: LabelShift(Abrupt(1), click_rate_factor=-2), "click_rate_factor must be > 0"),
        (lambda: CovariateShift(Abrupt(1), (0.5, 0.6)), "arrival_shares must be non-negative"),
    ],
)
def test_bad_shift_parameters(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_covariate_shift_needs_one_share_per_segment(static_world) -> None:
    with pytest.raises(ValueError, match="one share per segment"):
        run(static_world, [CovariateShift(Abrupt(1), (0.2, 0.3, 0.5))])


def test_a_shift_the_world_cannot_take_is_refused_before_the_run(static_world) -> None:
    world = World.generate(static_world, stream(0, "world"))
    flat = World.generate(static_world.replace(dim=1), stream(0, "world"))
    with pytest.raises(ValueError, match="one share per segment"):
        Simulation(
            world, PositionBasedModel(), RandomPolicy(), shifts=[CovariateShift(Abrupt(1), (1.0,))]
        )
    with pytest.raises(ValueError, match="needs dim >= 2, got 1"):
        Simulation(flat, PositionBasedModel(), RandomPolicy(), shifts=[ConceptDrift(Abrupt(1))])
    with pytest.raises(ValueError, match="needs dim >= 2, got 1"):
        check_setup(SimulationConfig(), flat.config, [ServedModel(None)], [ConceptDrift(Abrupt(1))])


def test_onset_is_the_first_day_a_shift_changes_anything() -> None:
    assert onset(LabelShift(Abrupt(15), 2.0), days=35) == 15
    assert onset(ConceptDrift(Gradual(15, 20)), days=35) == 15
    assert onset(CovariateShift(Periodic(7), (0.5, 0.5)), days=35) == 0
    assert onset(LabelShift(Abrupt(1000), 2.0), days=35) is None
    assert onset(LabelShift(Abrupt(5), 1.0), days=35) is None
    assert onset(ConceptDrift(Abrupt(5), angle=0.0), days=35) is None
