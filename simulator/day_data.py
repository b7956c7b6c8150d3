"""What the daily metrics read about one day, built from the log by the metrics side.

The loop only appends to the impression log and the ground-truth store and notes each model
version it deploys in a :class:`ModelVersions`; :meth:`DayData.from_log` reads those back into
the one record every metric takes, with the settings in :class:`MetricSettings`. A metric
that needs a new input extends this module, not the loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from simulator.log import ColumnStore, ImpressionLog
from simulator.records import Impressions
from simulator.validation import require_int, require_positive
from simulator.world import World


@dataclass(frozen=True)
class MetricSettings:
    """How the daily metrics look back over the log.

    Parameters
    ----------
    popularity_window
        Days of clicks behind the item popularity used by ``popularity_bias`` and the
        head/tail metrics.
    homogenization_window
        Days of clicks whose (user, item) pairs ``homogenization`` compares.
    homogenization_pairs
        Random user pairs ``homogenization`` averages over.
    """

    popularity_window: float = 7.0
    homogenization_window: float = 7.0
    homogenization_pairs: int = 1000

    def __post_init__(self) -> None:
        require_positive("popularity_window", self.popularity_window)
        require_positive("homogenization_window", self.homogenization_window)
        require_int("homogenization_pairs", self.homogenization_pairs, 1)


@dataclass
class ModelVersions:
    """Each deployed model version, indexed by version: what the metrics need to know of it.

    `deployed_at` is its deployment time, `predicts_clicks` whether its scores are predicted
    click probabilities, `n_sessions_trained` the sessions it was fitted on and `examination`
    the examination curve it estimated (versions that estimate none are absent).
    """

    deployed_at: list[float] = field(default_factory=list)
    predicts_clicks: list[bool] = field(default_factory=list)
    n_sessions_trained: list[int] = field(default_factory=list)
    examination: dict[int, NDArray[np.float64]] = field(default_factory=dict)

    def add(
        self,
        t: float,
        predicts_clicks: bool,
        examination: NDArray[np.float64] | None,
        n_sessions_trained: int,
    ) -> int:
        """Note a deployment at time `t` and return the new version number.

        Parameters
        ----------
        t
            Deployment time, days.
        predicts_clicks
            Whether the version's scores are predicted click probabilities.
        examination
            The examination curve it estimated, or ``None``.
        n_sessions_trained
            Sessions it was fitted on.

        Returns
        -------
        int
            The version, numbered from 0 in deployment order.
        """
        version = len(self.deployed_at)
        self.deployed_at.append(t)
        self.predicts_clicks.append(predicts_clicks)
        self.n_sessions_trained.append(n_sessions_trained)
        if examination is not None:
            self.examination[version] = examination
        return version

    def trained_between(self, start: float, stop: float) -> int:
        """Sessions fitted on by the versions deployed in [start, stop)."""
        return sum(
            n
            for t, n in zip(self.deployed_at, self.n_sessions_trained, strict=True)
            if start <= t < stop
        )

    def examination_by_session(self, impressions: Impressions) -> NDArray[np.float64]:
        """Per session, the examination curve its model estimated, or NaN."""
        out = np.full(impressions.item.shape, np.nan)
        for version in np.unique(impressions.model_version):
            curve = self.examination.get(int(version))
            if curve is not None:
                out[impressions.model_version == version] = curve[: impressions.slate_size]
        return out


def popularity_percentile(
    clicked_items: NDArray[np.int64], live_items: NDArray[np.int64], n_items_total: int
) -> NDArray[np.float64]:
    """Each live item's percentile rank (ties share their mean rank) by click count.

    The exposure-weighted mean of it is 0.5 when exposure ignores popularity.

    Parameters
    ----------
    clicked_items
        One entry per click.
    live_items
        The items to rank.
    n_items_total
        Items ever created; the result has one entry per item, NaN for items not live.

    Returns
    -------
    NDArray[np.float64]
        Percentiles in (0, 1).
    """
    counts = np.bincount(clicked_items, minlength=n_items_total)[live_items]
    percentile = np.full(n_items_total, np.nan)
    percentile[live_items] = (stats.rankdata(counts) - 0.5) / len(live_items)
    return percentile


@dataclass(frozen=True)
class DayData:
    """Everything the daily metrics read about one day (sessions with day <= t < day + 1).

    `click_probability` is each shown item's true marginal click probability at its position;
    `utility` and `oracle_utility` are each session's expected clicks under the true click model
    for the slate shown and for the best possible slate; `item_popularity` is each item's
    percentile (0..1) among the live catalog by clicks over the preceding days; `item_birth` is
    when each item joined the catalog (0 for the launch catalog); `consumed_*` are
    the (user, item) clicks of the trailing homogenisation window; `model_age` is, per session,
    the days since the model that served it was deployed; `score_is_click_probability` marks the
    sessions whose logged scores are the serving model's predicted click probabilities (``None``:
    no session's are); `estimated_examination` is, per session, the examination curve the
    serving model estimated (NaN rows where it estimates none; ``None`` when no model deployed so
    far estimated one) and `true_examination` the click model's (``None`` when it has no
    examination curve).
    """

    day: int
    impressions: Impressions
    shown_attractiveness: NDArray[np.float64]
    click_probability: NDArray[np.float64]
    utility: NDArray[np.float64]
    oracle_utility: NDArray[np.float64]
    live_items: NDArray[np.int64]
    item_popularity: NDArray[np.float64]
    item_birth: NDArray[np.float64]
    consumed_user: NDArray[np.int64]
    consumed_item: NDArray[np.int64]
    preferences: NDArray[np.float64]
    model_age: NDArray[np.float64]
    day_end: float
    rng: np.random.Generator
    n_pairs: int = 1000
    score_is_click_probability: NDArray[np.bool_] | None = None
    estimated_examination: NDArray[np.float64] | None = None
    true_examination: NDArray[np.float64] | None = None

    @classmethod
    def from_log(
        cls,
        day: int,
        log: ImpressionLog,
        truth: ColumnStore,
        world: World,
        versions: ModelVersions,
        settings: MetricSettings,
        rng: np.random.Generator,
        true_examination: NDArray[np.float64] | None = None,
    ) -> DayData:
        """Day `day` as the metrics see it at its end.

        Parameters
        ----------
        day
            The day, from 0.
        log
            The run's impression log.
        truth
            The ground truth logged alongside it, row for row (columns
            ``shown_attractiveness``, ``click_probability``, ``utility``, ``oracle_utility``).
        world
            The world at the end of the day (live catalog, preferences).
        versions
            The model versions deployed so far.
        settings
            The look-back windows and sample sizes.
        rng
            The stream the sampled metrics draw from.
        true_examination
            The click model's examination curve, if it has one.

        Returns
        -------
        DayData
            The day's sessions and everything the metrics compare them with.
        """
        first, stop = log.session_at(day), log.session_at(day + 1.0)
        impressions = log.sessions(first, stop)
        truth_rows = truth.rows(first, stop)
        # Only the clicks of the look-back windows: with a spilled log, memory stays small.
        clicked = log.clicks_between(day - settings.popularity_window, day)[1]
        popularity = popularity_percentile(clicked, world.live_items, world.n_items_total)
        consumed_user, consumed_item = log.clicks_between(
            day + 1.0 - settings.homogenization_window, day + 1.0
        )
        return cls(
            day=day,
            impressions=impressions,
            shown_attractiveness=truth_rows["shown_attractiveness"],
            click_probability=truth_rows["click_probability"],
            utility=truth_rows["utility"],
            oracle_utility=truth_rows["oracle_utility"],
            live_items=world.live_items,
            item_popularity=popularity,
            item_birth=world.item_birth,
            consumed_user=consumed_user,
            consumed_item=consumed_item,
            preferences=world.preferences,
            model_age=impressions.t - np.asarray(versions.deployed_at)[impressions.model_version],
            day_end=day + 1.0,
            rng=rng,
            n_pairs=settings.homogenization_pairs,
            score_is_click_probability=np.asarray(versions.predicts_clicks, dtype=bool)[
                impressions.model_version
            ],
            # A (sessions x slate) block of NaN would say only that no model estimated a curve.
            estimated_examination=versions.examination_by_session(impressions)
            if versions.examination
            else None,
            true_examination=true_examination,
        )

    def for_users(self, session_rows: NDArray[np.bool_], users: NDArray[np.bool_]) -> DayData:
        """The same day restricted to some sessions and users (one segment, say).

        Parameters
        ----------
        session_rows
            Mask over the day's sessions.
        users
            Mask over all users.

        Returns
        -------
        DayData
            The restricted day; catalog-wide fields are shared.
        """
        consumed = users[self.consumed_user]
        return DayData(
            day=self.day,
            impressions=self.impressions.subset(session_rows),
            shown_attractiveness=self.shown_attractiveness[session_rows],
            click_probability=self.click_probability[session_rows],
            utility=self.utility[session_rows],
            oracle_utility=self.oracle_utility[session_rows],
            live_items=self.live_items,
            item_popularity=self.item_popularity,
            item_birth=self.item_birth,
            consumed_user=self.consumed_user[consumed],
            consumed_item=self.consumed_item[consumed],
            preferences=self.preferences[users],
            model_age=self.model_age[session_rows],
            day_end=self.day_end,
            rng=self.rng,
            n_pairs=self.n_pairs,
            score_is_click_probability=None
            if self.score_is_click_probability is None
            else self.score_is_click_probability[session_rows],
            estimated_examination=None
            if self.estimated_examination is None
            else self.estimated_examination[session_rows],
            true_examination=self.true_examination,
        )
