"""World presets: published simulation setups, selectable by name (``[world] preset = "NAME"``).

A preset is a small frozen dataclass of the published parameters with two verbs: ``config``, the
:class:`~simulator.world.WorldConfig` it implies (which an experiment file may override key by
key), and ``generate(config, rng)``, which draws the world. :data:`PRESETS` maps names to preset
classes.

``chaney2018``: Chaney, Stewart & Engelhardt (2018), "How algorithmic confounding in
recommendation systems increases homogeneity and decreases utility", section 4, with the
parameters of T-RECS's replication (Lucherini et al. 2021). With A attributes:

* hyper-parameters, drawn once per world: mu_rho = 10 * Dirichlet(1_A) for users and
  mu_alpha = 0.1 * Dirichlet(100 * 1_A) for items;
* user preferences rho_u ~ Dirichlet(mu_rho), item attributes alpha_i ~ Dirichlet(mu_alpha)
  (items are nearly one-attribute: mu_alpha sums to 0.1);
* true utility V_ui ~ Beta'(rho_u . alpha_i, 1e-5) (mean and standard deviation, see
  :func:`simulator.utility.beta_parameters`; the mean is clipped into [1e-9, 1 - 1e-9]);
* known utility V*_ui = eta_ui V_ui with eta_ui ~ Beta'(0.98, 0.1) (:mod:`simulator.utility`);
* 100 users, 20 attributes, 10 items at the start and 10 new items a day, none retired; each
  user has exactly one session a day; users' preferences are static.

Why a :class:`~simulator.world.World` subclass rather than a :class:`WorldConfig`: the standard
world's truth is sigmoid(affinity p.q + b + c) with unit-norm p and q, redrawn from p and q
whenever asked, while this one keeps a drawn utility per user-item pair (the Beta noise and the
known fraction are per pair, so they must be stored), has Dirichlet (non-unit) vectors, and
serves every user exactly once a day where the standard world draws Poisson sessions. The
subclass overrides only how items are added, how the truth is read and how sessions arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simulator.utility import beta_parameters, known_fraction
from simulator.validation import did_you_mean, require_positive
from simulator.world import World, WorldConfig

UTILITY_CLIP = 1e-9
"""Mean utilities are clipped into [UTILITY_CLIP, 1 - UTILITY_CLIP], where Beta' is defined."""


class ChaneyWorld(World):
    """A world whose truth is a stored utility per user-item pair (Chaney et al. 2018).

    What the standard world calls attractiveness is here the *known* utility V*_ui, the value
    users choose by (pair it with :class:`simulator.choice_models.AttentionArgmax`); its
    "logits" are the same numbers (``attractiveness_from_logits`` is the identity), so the
    oracle ranks by what users know. :meth:`true_utility` gives V_ui, the welfare measure.
    Utilities are drawn once per pair, so preference drift is refused and a concept-drift
    rotation of item attributes does not move them.
    """

    preset: Chaney2018
    user_hyper: NDArray[np.float64]
    """mu_rho: the Dirichlet parameter of user preferences."""
    item_hyper: NDArray[np.float64]
    """mu_alpha: the Dirichlet parameter of item attributes."""
    true_utility_table: NDArray[np.float64]
    """V_ui for every user (rows) and item ever created (columns)."""
    known_utility_table: NDArray[np.float64]
    """V*_ui = eta_ui V_ui, same shape."""
    _day_offsets: NDArray[np.float64]

    @classmethod
    def generate(cls, config: WorldConfig, rng: np.random.Generator) -> ChaneyWorld:
        """Draw a world with the published parameters (:class:`Chaney2018`)."""
        return Chaney2018().generate(config, rng)

    def true_utility(self, users: NDArray[np.integer], items: NDArray[np.integer]) -> NDArray:
        """V_ui for `users` x `items` (a matrix), or per session when `items` is 2-D (n, k)."""
        if items.ndim == 2:
            return self.true_utility_table[np.asarray(users)[:, None], items]
        return self.true_utility_table[np.ix_(users, items)]

    # ------------------------------------------------------------------ World overrides
    def logits(self, users: NDArray[np.integer], items: NDArray[np.integer]) -> NDArray:
        """Known utility V*_ui of `users` x `items`."""
        return self.known_utility_table[np.ix_(users, items)]

    def attractiveness_from_logits(self, logits: NDArray[np.float64]) -> NDArray[np.float64]:
        """The identity (times `click_scale`, clipped at 1, when a label shift moves it)."""
        return logits if self.click_scale == 1.0 else np.minimum(1.0, self.click_scale * logits)

    def slate_attractiveness(
        self, users: NDArray[np.integer], slates: NDArray[np.integer]
    ) -> NDArray[np.float64]:
        """Known utility of each shown item."""
        known = self.known_utility_table[np.asarray(users)[:, None], slates]
        return self.attractiveness_from_logits(known)

    def sample_arrivals(
        self, start: float, stop: float, rng: np.random.Generator
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """Every user once a day, user u at (u + 0.5) / n_users into the day: Chaney's step.

        Draws nothing; with one serving tick a day every user is served by the same model.
        """
        times, users = [], []
        for day in range(int(np.floor(start)), int(np.ceil(stop))):
            at = day + self._day_offsets
            inside = np.flatnonzero((at >= start) & (at < stop))
            times.append(at[inside])
            users.append(inside)
        return np.concatenate(times), np.concatenate(users).astype(np.int64)

    def _add_items(self, n: int, birth: float, rng: np.random.Generator) -> None:
        attributes = rng.dirichlet(self.item_hyper, size=n)
        mean = np.clip(self.preferences @ attributes.T, UTILITY_CLIP, 1 - UTILITY_CLIP)
        a, b = beta_parameters(mean, self.preset.utility_sd)
        true = rng.beta(a, b)
        known = true * known_fraction(true.shape, rng, self.preset.known_mean, self.preset.known_sd)
        self.true_utility_table = np.hstack([self.true_utility_table, true])
        self.known_utility_table = np.hstack([self.known_utility_table, known])
        self.item_topic = np.concatenate([self.item_topic, attributes.argmax(1).astype(np.int16)])
        self.item_base_latent = np.concatenate([self.item_base_latent, attributes])
        self.item_quality = np.concatenate([self.item_quality, np.zeros(n)])
        self.item_observed = np.concatenate([self.item_observed, attributes])
        self.item_birth = np.concatenate([self.item_birth, np.full(n, birth)])
        self.item_retired = np.concatenate([self.item_retired, np.full(n, np.inf)])
        self.rotate_items(self.latent_rotation)


@dataclass(frozen=True)
class Chaney2018:
    """The published parameters of Chaney et al. (2018); see the module docstring."""

    user_concentration: float = 10.0
    """Scale of mu_rho = user_concentration * Dirichlet(1)."""
    item_concentration: float = 0.1
    """Scale of mu_alpha = item_concentration * Dirichlet(100)."""
    utility_sd: float = 1e-5
    """Standard deviation of V_ui around rho_u . alpha_i."""
    known_mean: float = 0.98
    """Mean share of the true utility a user knows."""
    known_sd: float = 0.1

    def __post_init__(self) -> None:
        require_positive("user_concentration", self.user_concentration)
        require_positive("item_concentration", self.item_concentration)
        beta_parameters(UTILITY_CLIP, self.utility_sd)
        beta_parameters(self.known_mean, self.known_sd)

    @property
    def config(self) -> WorldConfig:
        """The world of the paper: 100 users, 20 attributes, 10 items a day, no churn."""
        return WorldConfig(
            n_users=100,
            n_items=10,
            dim=20,
            n_segments=1,
            activity_sigma=0.0,
            n_topics=20,
            churn=0.0,
            new_items_per_day=10,
            preference_drift=0.0,
            n_user_features=0,
            n_item_features=20,
            feature_noise=0.0,
            activity_buckets=1,
        )

    def generate(self, config: WorldConfig | None, rng: np.random.Generator) -> ChaneyWorld:
        """Draw a world; `config` (default :attr:`config`) sets its sizes.

        Item features are the exact attributes (``n_item_features`` must equal ``dim``), as
        T-RECS's content filtering assumes; there are no user features.
        """
        c = self.config if config is None else config
        if c.n_item_features != c.dim:
            raise ValueError(f"n_item_features must equal dim ({c.dim}), got {c.n_item_features}")
        if c.n_segments != 1:
            raise ValueError(f"n_segments must be 1 in chaney2018, got {c.n_segments}")
        if np.any(np.asarray(c.preference_drift) != 0):
            raise ValueError(
                f"preference_drift must be 0 in chaney2018 (utilities are drawn once), "
                f"got {c.preference_drift!r}"
            )
        world = ChaneyWorld(c)
        world.preset = self
        world.user_hyper = self.user_concentration * rng.dirichlet(np.ones(c.dim))
        world.item_hyper = self.item_concentration * rng.dirichlet(np.full(c.dim, 100.0))
        world.preferences = rng.dirichlet(world.user_hyper, size=c.n_users)
        world.segment_means = world.preferences.mean(axis=0, keepdims=True)
        world.topic_centres = np.eye(c.n_topics, c.dim)
        world.projection = np.eye(c.dim, max(c.n_user_features, c.n_item_features))
        world.user_segment = np.zeros(c.n_users, dtype=np.int8)
        world.activity = np.ones(c.n_users)
        world.activity_bucket = np.zeros(c.n_users, dtype=np.int8)
        world.user_observed = world.preferences @ world.projection[:, : c.n_user_features]
        world.arrival_shares = np.ones(1)
        world.drift_rate = np.zeros(1)
        world.mean_label_delay = np.zeros(1)
        world.offset = 0.0
        world.click_scale = 1.0
        world.latent_rotation = None
        world._user_cumulative = world._segment_cumulative_rates()
        world._day_offsets = (np.arange(c.n_users) + 0.5) / c.n_users
        world.true_utility_table = np.empty((c.n_users, 0))
        world.known_utility_table = np.empty((c.n_users, 0))
        world.item_topic = np.empty(0, dtype=np.int16)
        world.item_base_latent = np.empty((0, c.dim))
        world.item_quality = np.empty(0)
        world.item_observed = np.empty((0, c.n_item_features))
        world.item_birth = np.empty(0)
        world.item_retired = np.empty(0)
        world._add_items(c.n_items, birth=0.0, rng=rng)
        return world


PRESETS: dict[str, type[Chaney2018]] = {"chaney2018": Chaney2018}
"""Preset name (as in ``[world] preset = "NAME"``) -> preset class."""


def preset_world(
    name: str,
    rng: np.random.Generator,
    config_changes: dict[str, Any] | None = None,
    **parameters: Any,
) -> World:
    """The world of preset `name`: its parameters overridden by `parameters`, its
    :class:`WorldConfig` by `config_changes` (what an experiment's ``[world]`` table sets).
    """
    if name not in PRESETS:
        raise ValueError(
            f"preset must be one of {', '.join(map(repr, PRESETS))}, got {name!r}"
            + did_you_mean(name, PRESETS)
        )
    preset = PRESETS[name](**parameters)
    return preset.generate(preset.config.replace(**(config_changes or {})), rng)
