"""The simulated world: segments, users, a churning catalog and the true click propensities.

The model (DESIGN.md section 1):

* Segments s = 0..S-1 (acquisition channels), each with a population share, a mean preference
  ``mu_s``, a preference-drift rate and a mean label delay.
* Users u: segment ``s_u``, latent preference ``p_u`` (unit vector near ``mu_s``) and an
  activity rate ``lambda_u`` (sessions per day, log-normal so a few users are very active).
* Items i: a topic, latent attributes ``q_i`` (unit vector near the topic's centre), quality
  ``b_i``, a birth time, and a retirement time once churned out.
* True attractiveness ``a_ui = sigmoid(affinity * p_u . q_i + b_i + offset)``.
* Optional user dynamics (`simulator.user_dynamics`, all off by default): arrival intensity and
  leaving driven by satisfaction, users joining over time, satiation (which lowers ``a_ui``) and
  item appeal (which raises the perceived attractiveness clicks follow, not ``a_ui``). The
  serving loop calls `acquire`, `sample_arrivals`, `perceived_attractiveness` and
  `after_sessions`; with everything off they cost nothing and draw nothing.

Models never see latent values, only :class:`FeatureView` (segment, activity bucket, noisy
projections of ``p_u`` and ``q_i``, item topic and age).

The module is longer than most (about 640 lines) because the world owns one set of arrays
(users, items, their latent state) that generation, churn, preference dynamics and the user
dynamics all update in place; the rules themselves live elsewhere (`simulator.user_dynamics`,
`simulator.shifts`, `simulator.presets`), so what stays here is state and its bookkeeping.
`World.from_interactions` imports `simulator.calibration` when called: a convenience entry
point for a module that builds on this one, the one import that runs back.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simulator.user_dynamics import (
    DYNAMICS_CONFIGS,
    AcquisitionConfig,
    PerceptionConfig,
    Retention,
    RetentionConfig,
    Satiation,
    SatiationConfig,
    coerce_config,
    consumption_utility,
)
from simulator.validation import (
    require_choice,
    require_int,
    require_non_negative,
    require_number,
    require_per_segment,
    require_positive,
    require_probability,
)

DYNAMICS = ("consumption", "interest")


@dataclass(frozen=True)
class WorldConfig:
    """Parameters of a world; the defaults are DESIGN.md's standard world.

    Where a default is a judgement call it says so: ``affinity`` and ``offset`` put the mean
    attractiveness near 5% and a user's best items near 60-80%, which with PBM(eta=1) gives a
    CTR of a few percent under random ranking and several times that under the oracle, so
    ranking matters. ``preference_drift`` = 0.05 moves a user a noticeable way after a few dozen
    clicks: homogenisation becomes visible within weeks, not days.
    """

    n_users: int = 10_000
    n_items: int = 2_000
    dim: int = 16
    n_segments: int = 5
    segment_shares: tuple[float, ...] | None = None
    """Share of the population in each segment; ``None`` means equal shares."""
    segment_spread: float = 1.0
    """Spread of user preferences around their segment mean (0 = all alike)."""
    mean_sessions_per_day: float = 1.0
    activity_sigma: float = 1.0
    """Log-normal sigma of user activity rates: the heavy tail (0 = everybody alike)."""
    n_topics: int = 20
    topic_spread: float = 0.6
    quality_sd: float = 0.5
    affinity: float = 5.0
    offset: float = -3.5
    churn: float = 0.01
    """Share of the live catalog retired (and replaced by new items) each day."""
    dynamics: str = "consumption"
    """``"consumption"``: a click pulls p_u toward q_i. ``"interest"``: clicks pull and shown
    items left unclicked push away (the degenerate-feedback-loop model of Jiang et al., 2019)."""
    preference_drift: float | tuple[float, ...] = 0.05
    """Step size of preference dynamics per click, per segment or shared; 0 = static users."""
    label_delay: float | tuple[float, ...] = 0.0
    """Mean delay in days (exponential) before the recommender learns a session's outcome."""
    n_user_features: int = 4
    n_item_features: int = 4
    feature_noise: float = 0.5
    activity_buckets: int = 5
    # Additions for the replications (issue 16): all off by default.
    new_items_per_day: int = 0
    """Items added to the catalog each day on top of the churn's replacements: a growing
    catalog when `churn` is 0 (Chaney et al. 2018 add 10 a step and retire none)."""
    normalize_preferences: bool = True
    """Renormalise preferences onto the unit sphere after each update. ``False`` lets them grow:
    under ``"interest"`` dynamics the push away from ignored items then compounds, so the
    degeneracy of Jiang et al. (2019) can grow without bound."""
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    """Satisfaction-driven return intensity and leaving (`simulator.user_dynamics`); off."""
    acquisition: AcquisitionConfig = field(default_factory=AcquisitionConfig)
    """New users joining per segment over time; off."""
    satiation: SatiationConfig = field(default_factory=SatiationConfig)
    """Attraction to a topic dropping with its recent consumption; off."""
    perception: PerceptionConfig = field(default_factory=PerceptionConfig)
    """Item appeal (clickbait) that moves clicks but not true utility; off."""

    def __post_init__(self) -> None:
        require_int("n_users", self.n_users, 1)
        require_int("n_items", self.n_items, 1)
        require_int("dim", self.dim, 1)
        require_int("n_segments", self.n_segments, 1)
        if self.n_segments > 127:
            raise ValueError(f"n_segments must be <= 127, got {self.n_segments!r}")
        if self.segment_shares is not None:
            shares = list(self.segment_shares)
            require_per_segment("segment_shares", shares, self.n_segments, require_probability)
            if not np.isclose(sum(self.segment_shares), 1.0):
                raise ValueError(f"segment_shares must sum to 1, got {self.segment_shares!r}")
        require_non_negative("segment_spread", self.segment_spread)
        require_positive("mean_sessions_per_day", self.mean_sessions_per_day)
        require_non_negative("activity_sigma", self.activity_sigma)
        require_int("n_topics", self.n_topics, 1)
        if self.n_topics > np.iinfo(np.int16).max:  # item topics are stored as int16
            raise ValueError(f"n_topics must be <= 32767, got {self.n_topics!r}")
        require_non_negative("topic_spread", self.topic_spread)
        require_non_negative("quality_sd", self.quality_sd)
        require_number("affinity", self.affinity)
        require_number("offset", self.offset)
        require_probability("churn", self.churn)
        require_choice("dynamics", self.dynamics, DYNAMICS)
        require_per_segment(
            "preference_drift", self.preference_drift, self.n_segments, require_probability
        )
        require_per_segment("label_delay", self.label_delay, self.n_segments, require_non_negative)
        require_int("n_user_features", self.n_user_features, 0)
        require_int("n_item_features", self.n_item_features, 0)
        require_non_negative("feature_noise", self.feature_noise)
        require_int("activity_buckets", self.activity_buckets, 1)
        if self.activity_buckets > np.iinfo(np.int8).max:  # buckets are stored as int8
            raise ValueError(f"activity_buckets must be <= 127, got {self.activity_buckets!r}")
        require_int("new_items_per_day", self.new_items_per_day, 0)
        if not isinstance(self.normalize_preferences, bool):
            raise ValueError(
                f"normalize_preferences must be true or false, got {self.normalize_preferences!r}"
            )
        for name in DYNAMICS_CONFIGS:  # a TOML table arrives as a dict
            object.__setattr__(self, name, coerce_config(name, getattr(self, name)))
        require_per_segment(
            "acquisition.rate", self.acquisition.rate, self.n_segments, require_non_negative
        )

    @property
    def tracks_arrivals(self) -> bool:
        """Whether arrivals depend on user state (return intensity, leaving, joining)."""
        return self.retention.enabled or self.acquisition.enabled

    def replace(self, **changes: Any) -> WorldConfig:
        """A copy with `changes` applied (and validated)."""
        return dataclasses.replace(self, **changes)


def per_segment(value: float | tuple[float, ...], n_segments: int) -> NDArray[np.float64]:
    """Broadcast a shared-or-per-segment setting to one value per segment."""
    return np.broadcast_to(np.asarray(value, dtype=float), (n_segments,)).copy()


def _unit_rows(x: NDArray[np.float64]) -> NDArray[np.float64]:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """The logistic function: attractiveness from a logit."""
    return 1.0 / (1.0 + np.exp(-x))


class World:
    """Mutable state of one simulated world. Build it with :meth:`generate`.

    A simulation mutates its world (preferences drift, the catalog churns): generate a fresh
    world, from the same seed, for every run that should start from the same place.
    """

    segment_means: NDArray[np.float64]
    topic_centres: NDArray[np.float64]
    projection: NDArray[np.float64]
    user_segment: NDArray[np.int8]
    preferences: NDArray[np.float64]
    activity: NDArray[np.float64]
    activity_bucket: NDArray[np.int8]
    user_observed: NDArray[np.float64]
    arrival_shares: NDArray[np.float64]
    """Share of sessions from each segment; covariate-shift schedules move it."""
    drift_rate: NDArray[np.float64]
    mean_label_delay: NDArray[np.float64]
    offset: float
    """The constant c in a_ui."""
    click_scale: float
    """Multiplies every a_ui (clipped at 1); label-shift schedules move it."""
    latent_rotation: NDArray[np.float64] | None
    """Rotation applied to every item's latent attributes; concept-drift schedules set it."""
    item_topic: NDArray[np.int16]
    item_base_latent: NDArray[np.float64]
    item_latent: NDArray[np.float64]
    item_quality: NDArray[np.float64]
    item_observed: NDArray[np.float64]
    item_birth: NDArray[np.float64]
    item_retired: NDArray[np.float64]
    live_items: NDArray[np.int64]
    _live_latent: NDArray[np.float64]
    _live_quality: NDArray[np.float64]
    _user_cumulative: list[tuple[NDArray[np.int64], NDArray[np.float64]]]
    user_joined: NDArray[np.float64]
    """Day each user joined: 0 for the initial population, later for acquired users."""
    user_departed: NDArray[np.float64]
    """Day each user left for good; infinity while they stay."""
    retention: Retention | None = None
    """Satisfaction state (``retention.satisfaction``) when `WorldConfig.retention` is on."""
    satiation: Satiation | None = None
    """Satiation state per user and topic when `WorldConfig.satiation` is on."""
    item_appeal: NDArray[np.float64] | None = None
    """Each item's appeal e_i (perceived minus true logit) when `WorldConfig.perception` is on."""
    _appeal_rng: np.random.Generator | None = None
    _activity_scale: float
    _initial_activity: NDArray[np.float64]
    _natural_shares: NDArray[np.float64]
    _segment_rates: NDArray[np.float64]

    def __init__(self, config: WorldConfig) -> None:
        self.config = config

    @classmethod
    def generate(cls, config: WorldConfig, rng: np.random.Generator) -> World:
        """Draw a world from `config`; every draw comes from `rng`."""
        world = cls(config)
        c = config
        shares = (
            np.full(c.n_segments, 1.0 / c.n_segments)
            if c.segment_shares is None
            else np.asarray(c.segment_shares, dtype=float)
        )
        world.segment_means = _unit_rows(rng.normal(size=(c.n_segments, c.dim)))
        world.topic_centres = _unit_rows(rng.normal(size=(c.n_topics, c.dim)))
        world.projection = rng.normal(size=(c.dim, max(c.n_user_features, c.n_item_features)))

        world.user_segment = rng.choice(c.n_segments, size=c.n_users, p=shares).astype(np.int8)
        world.preferences, raw_rates, world.user_observed = world._draw_users(
            world.user_segment, rng
        )
        world._activity_scale = c.mean_sessions_per_day / raw_rates.mean()
        world.activity = raw_rates * world._activity_scale
        ranks = np.argsort(np.argsort(world.activity))
        world.activity_bucket = (ranks * c.activity_buckets // c.n_users).astype(np.int8)

        natural = np.bincount(world.user_segment, weights=world.activity, minlength=c.n_segments)
        world.arrival_shares = natural / natural.sum()
        world.drift_rate = per_segment(c.preference_drift, c.n_segments)
        world.mean_label_delay = per_segment(c.label_delay, c.n_segments)
        world.offset = float(c.offset)
        world.click_scale = 1.0
        world.latent_rotation = None
        world._user_cumulative = world._segment_cumulative_rates()

        world.item_topic = np.empty(0, dtype=np.int16)
        world.item_base_latent = np.empty((0, c.dim))
        world.item_quality = np.empty(0)
        world.item_observed = np.empty((0, c.n_item_features))
        world.item_birth = np.empty(0)
        world.item_retired = np.empty(0)
        world._add_items(c.n_items, birth=0.0, rng=rng)
        world._start_user_dynamics(rng)
        return world

    def _draw_users(
        self, segments: NDArray[np.int8], rng: np.random.Generator
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Preferences, raw (unscaled) activity rates and observable features of new users."""
        c = self.config
        noise = rng.normal(scale=1.0 / np.sqrt(c.dim), size=(len(segments), c.dim))
        preferences = _unit_rows(self.segment_means[segments] + c.segment_spread * noise)
        raw_rates = rng.lognormal(0.0, c.activity_sigma, size=len(segments))
        observed = preferences @ self.projection[:, : c.n_user_features]
        observed += rng.normal(scale=c.feature_noise, size=observed.shape)
        return preferences, raw_rates, observed

    # ------------------------------------------------------------------ catalog
    @property
    def n_users(self) -> int:
        """Users ever created, present or departed (acquisition adds some over time)."""
        return len(self.user_segment)

    @property
    def n_items_total(self) -> int:
        """Items ever created, live or retired; item ids run from 0 to this minus one."""
        return len(self.item_birth)

    def _add_items(self, n: int, birth: float, rng: np.random.Generator) -> None:
        c = self.config
        topics = rng.integers(c.n_topics, size=n)
        noise = rng.normal(scale=1.0 / np.sqrt(c.dim), size=(n, c.dim))
        latent = _unit_rows(self.topic_centres[topics] + c.topic_spread * noise)
        observed = latent @ self.projection[:, : c.n_item_features]
        observed += rng.normal(scale=c.feature_noise, size=observed.shape)
        self.item_topic = np.concatenate([self.item_topic, topics.astype(np.int16)])
        self.item_base_latent = np.concatenate([self.item_base_latent, latent])
        self.item_quality = np.concatenate([self.item_quality, rng.normal(0, c.quality_sd, n)])
        self.item_observed = np.concatenate([self.item_observed, observed])
        self.item_birth = np.concatenate([self.item_birth, np.full(n, birth)])
        self.item_retired = np.concatenate([self.item_retired, np.full(n, np.inf)])
        self._extend_appeal()
        self.rotate_items(self.latent_rotation)

    def rotate_items(self, rotation: NDArray[np.float64] | None) -> None:
        """Set every item's latent attributes to its base attributes rotated by `rotation`.

        The observable item features stay those of the base attributes: this is how concept
        drift changes P(click | features) while the features keep their distribution.
        """
        self.latent_rotation = rotation
        base = self.item_base_latent
        self.item_latent = base if rotation is None else base @ rotation.T
        self._refresh_live()

    def _refresh_live(self) -> None:
        self.live_items = np.flatnonzero(np.isinf(self.item_retired))
        self._live_latent = np.ascontiguousarray(self.item_latent[self.live_items].T)
        self._live_quality = self.item_quality[self.live_items]

    def churn(self, t: float, rng: np.random.Generator) -> None:
        """Retire a random `churn` share of the live catalog and add as many new items, plus
        `new_items_per_day` more.
        """
        n = int(rng.binomial(len(self.live_items), self.config.churn))
        if n > 0:
            retiring = rng.choice(self.live_items, size=n, replace=False)
            self.item_retired[retiring] = t
        n += self.config.new_items_per_day
        if n > 0:
            self._add_items(n, birth=t, rng=rng)

    # ------------------------------------------------------------------ truth
    def logits(self, users: NDArray[np.integer], items: NDArray[np.integer]) -> NDArray:
        """Matrix (len(users), len(items)) of true click logits; sigmoid gives a_ui."""
        if items is self.live_items:  # the hot path: every serving tick scores the live catalog
            latent, quality = self._live_latent, self._live_quality
        else:
            latent, quality = self.item_latent[items].T, self.item_quality[items]
        # in place: the same operations as affinity * (P @ L) + (q + offset), one matrix alive
        logits = self.preferences[users] @ latent
        logits *= self.config.affinity
        logits += quality + self.offset
        if self.satiation is not None:
            logits -= self.satiation.penalty(users, self.item_topic[items])
        return logits

    def attractiveness(self, users: NDArray[np.integer], items: NDArray[np.integer]) -> NDArray:
        """Matrix of true attractiveness a_ui for every user x item pair."""
        return self.attractiveness_from_logits(self.logits(users, items))

    def attractiveness_from_logits(self, logits: NDArray[np.float64]) -> NDArray[np.float64]:
        """A = min(1, click_scale * sigmoid(logit)); monotone, so ranking by logits is exact."""
        a = sigmoid(logits)
        return a if self.click_scale == 1.0 else np.minimum(1.0, self.click_scale * a)

    def slate_attractiveness(
        self, users: NDArray[np.integer], slates: NDArray[np.integer]
    ) -> NDArray[np.float64]:
        """a_ui of each shown item: `slates` has one row of item ids per user."""
        return self.attractiveness_from_logits(self._slate_logits(users, slates))

    def _slate_logits(
        self, users: NDArray[np.integer], slates: NDArray[np.integer]
    ) -> NDArray[np.float64]:
        affinity = np.einsum("nd,nkd->nk", self.preferences[users], self.item_latent[slates])
        logits = self.config.affinity * affinity + self.item_quality[slates] + self.offset
        if self.satiation is not None:
            logits -= self.satiation.penalty(users, self.item_topic[slates])
        return logits

    # ------------------------------------------------------------------ arrivals
    def _segment_cumulative_rates(self) -> list[tuple[NDArray[np.int64], NDArray[np.float64]]]:
        out = []
        for s in range(self.config.n_segments):
            members = np.flatnonzero(self.user_segment == s)
            cumulative = np.cumsum(self.activity[members])
            out.append((members, cumulative / cumulative[-1] if len(members) else cumulative))
        return out

    @property
    def total_rate(self) -> float:
        """Expected sessions per day over the whole population."""
        return float(self.activity.sum())

    def sample_arrivals(
        self, start: float, stop: float, rng: np.random.Generator
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """Session times in [start, stop) and their users, sorted by time.

        A superposition of Poisson processes: the total count is Poisson, each session's segment
        follows `arrival_shares` (which covariate-shift schedules may move), and within a
        segment a user is drawn in proportion to their activity rate. When arrivals depend on
        user state (`WorldConfig.tracks_arrivals`) they are thinned: see `_thinned_arrivals`.
        """
        if self.config.tracks_arrivals:
            return self._thinned_arrivals(start, stop, rng)
        return self._candidate_arrivals(self.total_rate, self.arrival_shares, start, stop, rng)

    def _candidate_arrivals(
        self,
        total_rate: float,
        shares: NDArray[np.float64],
        start: float,
        stop: float,
        rng: np.random.Generator,
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        n = int(rng.poisson(total_rate * (stop - start)))
        per_segment_count = rng.multinomial(n, shares)
        users = np.empty(n, dtype=np.int64)
        filled = 0
        for (members, cumulative), count in zip(
            self._user_cumulative, per_segment_count, strict=True
        ):
            if count == 0:
                continue
            if len(members) == 0:
                raise ValueError("arrival_shares give weight to a segment with no users")
            picks = np.searchsorted(cumulative, rng.random(count), side="right")
            users[filled : filled + count] = members[np.minimum(picks, len(members) - 1)]
            filled += count
        times = start + (stop - start) * rng.random(n)
        order = np.argsort(times, kind="stable")
        return times[order], users[order]

    # ------------------------------------------------------------------ dynamics
    def update_preferences(
        self, users: NDArray[np.integer], slates: NDArray[np.integer], clicks: NDArray[np.bool_]
    ) -> None:
        """Move preferences after a batch of sessions, then renormalise them (unless the config
        says not to).

        All sessions of a batch read the preferences from before it (a user twice in one serving
        tick moves by the sum of both steps).
        """
        rate = self.drift_rate[self.user_segment[users]][:, None, None]
        if not rate.any():
            return
        toward = self.item_latent[slates] - self.preferences[users][:, None, :]
        if self.config.dynamics == "consumption":
            weight = clicks.astype(float)
        else:
            weight = np.where(clicks, 1.0, -1.0 / slates.shape[1])
        step = (rate * weight[:, :, None] * toward).sum(axis=1)
        np.add.at(self.preferences, users, step)
        if self.config.normalize_preferences:
            touched = np.unique(users)
            self.preferences[touched] = _unit_rows(self.preferences[touched])

    # ------------------------------------------------------------------ user dynamics
    # Return, leaving, joining, satiation and appeal (`simulator.user_dynamics`); each is a
    # no-op when its config is off, and new randomness comes from generators of its own.
    def _start_user_dynamics(self, rng: np.random.Generator) -> None:
        c = self.config
        self.user_joined = np.zeros(self.n_users)
        self.user_departed = np.full(self.n_users, np.inf)
        self._initial_activity = np.sort(self.activity)
        self._natural_shares = self.arrival_shares.copy()
        self._segment_rates = self._natural_shares * self.total_rate
        # Spawning draws nothing from `rng`, so the world's own draws stay as they were, and a
        # fixed number of children keeps each mechanism's draws independent of the others.
        patience_rng, appeal_rng = rng.spawn(2)
        if c.retention.enabled:
            self.retention = Retention(c.retention, self.n_users, patience_rng)
        if c.satiation.enabled:
            self.satiation = Satiation(c.satiation, self.n_users, c.n_topics)
        if c.perception.enabled:
            self._appeal_rng = appeal_rng
            self.item_appeal = np.empty(0)
            self._extend_appeal()

    def _extend_appeal(self) -> None:
        if self._appeal_rng is None or self.item_appeal is None:
            return
        n = self.n_items_total - len(self.item_appeal)
        fresh = self._appeal_rng.exponential(self.config.perception.appeal, size=n)
        self.item_appeal = np.concatenate([self.item_appeal, fresh])

    def perceived_attractiveness(
        self,
        users: NDArray[np.integer],
        slates: NDArray[np.integer],
        shown: NDArray[np.float64],
    ) -> NDArray[np.float64]:
        """a'_ui of each shown item, what clicks follow; `shown` (the true a_ui of the same
        slates) itself when items have no appeal.
        """
        if self.item_appeal is None:
            return shown
        logits = self._slate_logits(users, slates) + self.item_appeal[slates]
        return self.attractiveness_from_logits(logits)

    def _thinned_arrivals(
        self, start: float, stop: float, rng: np.random.Generator
    ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """Arrivals at lambda_u0 f(s_u) for present users, by thinning candidates drawn at
        F lambda_u0 (F the bound of f) times each segment's covariate-shift multiplier.
        """
        bound = self.config.retention.intensity_bound
        natural = self._natural_shares
        multiplier = np.divide(
            self.arrival_shares, natural, out=np.ones_like(natural), where=natural > 0
        )
        weights = multiplier * self._segment_rates
        times, users = self._candidate_arrivals(
            bound * weights.sum(), weights / weights.sum(), start, stop, rng
        )
        factor = 1.0 if self.retention is None else self.retention.return_factor(users)
        keep = rng.random(len(users)) * bound < factor
        keep &= (times >= self.user_joined[users]) & (times < self.user_departed[users])
        return times[keep], users[keep]

    def acquire(self, start: float, stop: float, rng: np.random.Generator) -> None:
        """New users joining during [start, stop): per segment a Poisson number at
        `acquisition.rate` per day, each with a uniform join time, drawn like the initial users
        (activity scaled and bucketed against the initial population).
        """
        c = self.config
        rates = per_segment(c.acquisition.rate, c.n_segments)
        if not rates.any():
            return
        counts = rng.poisson(rates * (stop - start))
        n = int(counts.sum())
        if n == 0:
            return
        segments = np.repeat(np.arange(c.n_segments), counts).astype(np.int8)
        joined = start + (stop - start) * rng.random(n)
        preferences, raw_rates, observed = self._draw_users(segments, rng)
        activity = raw_rates * self._activity_scale
        n_initial = len(self._initial_activity)
        ranks = np.minimum(np.searchsorted(self._initial_activity, activity), n_initial - 1)
        self.user_segment = np.concatenate([self.user_segment, segments])
        self.preferences = np.concatenate([self.preferences, preferences])
        self.activity = np.concatenate([self.activity, activity])
        self.activity_bucket = np.concatenate(
            [self.activity_bucket, (ranks * c.activity_buckets // n_initial).astype(np.int8)]
        )
        self.user_observed = np.concatenate([self.user_observed, observed])
        self.user_joined = np.concatenate([self.user_joined, joined])
        self.user_departed = np.concatenate([self.user_departed, np.full(n, np.inf)])
        if self.retention is not None:
            self.retention.add_users(n, rng)
        if self.satiation is not None:
            self.satiation.add_users(n)
        self._user_cumulative = self._segment_cumulative_rates()
        self._segment_rates = np.bincount(
            self.user_segment, weights=self.activity, minlength=c.n_segments
        ).astype(float)

    def after_sessions(
        self,
        times: NDArray[np.float64],
        users: NDArray[np.int64],
        slates: NDArray[np.integer],
        clicks: NDArray[np.bool_],
        true_attractiveness: NDArray[np.float64],
        perceived: NDArray[np.float64],
    ) -> None:
        """After a batch of sessions (sorted by time): satisfaction from each session's
        consumption utility and who leaves, then satiation from the clicked items' topics.
        Draws nothing; a no-op when retention and satiation are off.
        """
        if self.retention is not None:
            values = consumption_utility(clicks, true_attractiveness, perceived)
            gone, at = self.retention.record(times, users, values)
            self.user_departed[gone] = np.minimum(self.user_departed[gone], at)
        if self.satiation is not None:
            rows, positions = np.nonzero(clicks)
            topics = self.item_topic[slates[rows, positions]]
            self.satiation.consume(times[rows], users[rows], topics)

    # ------------------------------------------------------------------ observables
    @property
    def features(self) -> FeatureView:
        """What a model may observe of this world (never the latent preferences)."""
        return FeatureView(self)

    @classmethod
    def from_interactions(cls, df: Any, config: Any = None, rng: Any = None) -> World:
        """A world fitted to an interaction log: see `simulator.calibration.calibrate`."""
        from simulator.calibration import calibrate_world  # calibration imports this module

        return calibrate_world(df, config, rng)


class FeatureView:
    """What a recommender may know about users and items: never the latent truth.

    User features: segment, activity bucket and ``user_f0..`` (noisy projections of the
    preference at sign-up, so they go stale as preferences drift). Item features: topic,
    ``item_f0..`` (noisy projections of q_i) and age in days.
    """

    def __init__(self, world: World) -> None:
        self._world = world

    @property
    def user_feature_names(self) -> tuple[str, ...]:
        """Columns of `user_features`, in order."""
        n = self._world.config.n_user_features
        return ("segment", "activity_bucket", *(f"user_f{j}" for j in range(n)))

    @property
    def item_feature_names(self) -> tuple[str, ...]:
        """Columns of `item_features`, in order."""
        n = self._world.config.n_item_features
        return ("topic", *(f"item_f{j}" for j in range(n)), "item_age")

    @property
    def n_segments(self) -> int:
        """Number of user segments."""
        return self._world.config.n_segments

    def users(self, users: NDArray[np.integer]) -> NDArray[np.float64]:
        """Feature matrix, one row per user id, columns as in `user_feature_names`."""
        w = self._world
        return np.column_stack(
            [w.user_segment[users], w.activity_bucket[users], w.user_observed[users]]
        ).astype(np.float64)

    def items(self, items: NDArray[np.integer], t: float) -> NDArray[np.float64]:
        """Feature matrix, one row per item id at time `t`, columns as in `item_feature_names`."""
        w = self._world
        return np.column_stack(
            [w.item_topic[items], w.item_observed[items], t - w.item_birth[items]]
        ).astype(np.float64)

    def item_births(self, items: NDArray[np.integer]) -> NDArray[np.float64]:
        """When each item joined the catalog, in days (``item_age`` at time t is t minus this)."""
        return self._world.item_birth[items].astype(np.float64)

    def live_items(self) -> NDArray[np.int64]:
        """Ids of the items in the catalog now."""
        return self._world.live_items
