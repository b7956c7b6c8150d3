"""Reward models for the direct method and doubly robust: click probabilities q(x, i, r) of the
logged items and of the target's, predicted without peeking at the session being predicted.
"""

from __future__ import annotations

from typing import Protocol

import lightgbm as lgb
import numpy as np
from numpy.typing import NDArray

from simulator.records import Impressions
from simulator.world import World


class RewardModel(Protocol):
    """Predicted click probabilities (sessions x positions) of the logged items and of `items`."""

    def __call__(
        self, log: Impressions, world: World, items: NDArray[np.int64], seed: int
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Predictions for the logged items and for `items`, fitted on `log` from `seed`."""


def reward_model(
    log: Impressions, world: World, items: NDArray[np.int64], seed: int, folds: int = 2
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Cross-fitted LightGBM click model q(x, i, r) on observable features and position.

    Returns predictions for the logged items and for `items` (the target's), each session
    predicted by the model not trained on it, so DR's correction term stays unbiased.
    """
    n, k = log.item.shape
    fold = np.random.default_rng(seed).integers(folds, size=n)
    q_logged, q_target = np.empty((n, k)), np.empty((n, k))
    for f in range(folds):
        train, test = fold != f, fold == f
        booster = lgb.train(
            {
                "objective": "binary",
                "num_leaves": 31,
                "learning_rate": 0.1,
                "min_data_in_leaf": 50,
                "num_threads": 1,
                "deterministic": True,
                "seed": seed,
                "verbose": -1,
            },
            lgb.Dataset(_features(log, world, log.item, train), log.click[train].ravel()),
            num_boost_round=60,
        )
        q_logged[test] = np.asarray(booster.predict(_features(log, world, log.item, test))).reshape(
            -1, k
        )
        q_target[test] = np.asarray(booster.predict(_features(log, world, items, test))).reshape(
            -1, k
        )
    return q_logged, q_target


def _features(
    log: Impressions, world: World, items: NDArray, rows: NDArray[np.bool_]
) -> NDArray[np.float64]:
    k = items.shape[1]
    users = np.repeat(log.user[rows], k)
    t = np.repeat(log.t[rows], k)
    shown = items[rows].ravel()
    item_x = world.features.items(shown, 0.0)
    item_x[:, -1] = t - world.item_birth[shown]
    position = np.tile(np.arange(1, k + 1), int(rows.sum()))
    return np.column_stack([world.features.users(users), item_x, position])
