"""Implicit MF and content filtering recover planted structure; both pass check_policy."""

from __future__ import annotations

import numpy as np
import pytest

from policies import check_policy
from policies.content import ContentFiltering
from policies.matrix_factorization import ImplicitMF, click_counts
from simulator import Impressions, Requests, TrainingData, World, WorldConfig, stream
from simulator.presets import Chaney2018


def _impressions(users: np.ndarray, items: np.ndarray, clicks: np.ndarray) -> Impressions:
    """One single-slot session per (user, item, click) triple."""
    n = len(users)
    return Impressions(
        session=np.arange(n),
        t=np.zeros(n),
        user=users.astype(np.int32),
        segment=np.zeros(n, dtype=np.int8),
        label_time=np.zeros(n),
        model_version=np.zeros(n, dtype=np.int32),
        item=items.astype(np.int32)[:, None],
        propensity=np.ones((n, 1)),
        score=np.zeros((n, 1), dtype=np.float32),
        click=clicks.astype(bool)[:, None],
    )


def _requests(world: World, users: np.ndarray) -> Requests:
    return Requests(
        t=np.zeros(len(users)),
        user=users,
        segment=world.user_segment[users],
        features=world.features,
    )


@pytest.mark.parametrize("policy", [ImplicitMF(factors=4), ContentFiltering()], ids=repr)
def test_check_policy(policy) -> None:
    check_policy(policy)


def test_click_counts() -> None:
    log = _impressions(np.array([0, 0, 2, 2]), np.array([1, 1, 3, 0]), np.array([1, 1, 1, 0]))
    assert click_counts(log).toarray().tolist() == [[0, 2, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mf_recovers_planted_blocks(seed: int) -> None:
    """Three groups of users, each clicking a random 40% of its own group's 30 items: MF must
    rank a user's unclicked own-group items above every other group's items."""
    rng = np.random.default_rng(seed)
    n_groups, users_per, items_per = 3, 20, 30
    user_group = np.repeat(np.arange(n_groups), users_per)
    item_group = np.repeat(np.arange(n_groups), items_per)
    clicked = (user_group[:, None] == item_group[None, :]) & (rng.random((60, 90)) < 0.4)
    users, items = np.nonzero(clicked)
    world = World.generate(WorldConfig(n_users=60, n_items=90, n_segments=1), stream(0, "world"))
    data = TrainingData(_impressions(users, items, np.ones(len(users))), world.features, now=1.0)
    model = ImplicitMF(factors=3, regularization=0.1, iterations=20, seed=seed).fit(data)
    scores = model.score(_requests(world, np.arange(60)), np.arange(90))
    for u in range(60):
        own = (item_group == user_group[u]) & ~clicked[u]
        assert scores[u, own].min() > scores[u, item_group != user_group[u]].max()
    assert model.user_representation(np.array([0, 59, 500])).shape == (3, 3)
    assert not model.user_representation(np.array([500])).any()


def test_mf_is_deterministic_and_scores_zero_before_any_click() -> None:
    world = World.generate(WorldConfig(n_users=10, n_items=20, n_segments=1), stream(0, "world"))
    users, items = np.arange(10), np.arange(10) * 2
    data = TrainingData(_impressions(users, items, np.ones(10)), world.features, now=1.0)
    a = ImplicitMF(factors=2).fit(data).item_factors_
    np.testing.assert_array_equal(a, ImplicitMF(factors=2).fit(data).item_factors_)
    empty = TrainingData(_impressions(users, items, np.zeros(10)), world.features, now=1.0)
    assert not ImplicitMF().fit(empty).score(_requests(world, users), np.arange(20)).any()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_content_filtering_recovers_planted_weights(seed: int) -> None:
    """Clicks r_ui ~ Poisson(c a_i . w_u) on the chaney2018 world's exact attributes: the NNLS
    profile estimates c w_u. Items are nearly one-attribute, ~10 an attribute, so a weight
    w > 1 rests on >= c w 10 = 200 clicks: relative sd <= 1 / sqrt(200) = 7%, mean absolute
    relative error ~ 0.8 sd = 5.6%; the bound is 10% (the mean over ~60 weights has sd < 1%).
    The correlation with the truth must exceed 0.95."""
    preset = Chaney2018()
    world = preset.generate(preset.config.replace(n_users=8, n_items=200), stream(seed, "world"))
    rng = np.random.default_rng(seed)
    planted = rng.gamma(1.0, 1.0, size=(8, 20))
    scale = 20.0
    attributes = world.item_base_latent
    counts = rng.poisson(scale * planted @ attributes.T)
    users, items = np.nonzero(counts)
    repeats = counts[users, items]
    log = _impressions(np.repeat(users, repeats), np.repeat(items, repeats), np.ones(repeats.sum()))
    model = ContentFiltering().fit(TrainingData(log, world.features, now=1.0))
    estimate = model.user_representation(np.arange(8)) / scale
    assert np.corrcoef(estimate.ravel(), planted.ravel())[0, 1] > 0.95
    large = planted > 1.0
    assert np.mean(np.abs(estimate[large] / planted[large] - 1)) < 0.1
    scores = model.score(_requests(world, np.arange(8)), np.arange(200))
    np.testing.assert_allclose(scores, model.profiles_ @ attributes.T)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"factors": 0}, "factors"),
        ({"alpha": -1.0}, "alpha"),
        ({"iterations": 0}, "iterations"),
        ({"regularization": float("nan")}, "regularization"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_mf_arguments(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        ImplicitMF(**kwargs)
