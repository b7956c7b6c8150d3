"""Daily monitoring: at the end of each day, every metric of that day as tidy rows.

:class:`Monitor` builds the day's :class:`~simulator.day_data.DayData` from the log, computes
the daily metrics for the whole population and each segment, and adds the metrics every run
records for the whole population (`RECORDED_METRICS`): the sessions models were fitted on that
day and the ``drift_*`` summary of the day's traffic against the training window. When a
mechanism of `simulator.user_dynamics` is on it also records, overall and per segment, the
metrics of users who come back, stay or leave (`USER_DYNAMICS_METRICS`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from simulator.click_models import ClickModel
from simulator.day_data import DayData, MetricSettings, ModelVersions
from simulator.drift import DRIFT_METRICS, drift_statistics, summarize_drift
from simulator.log import ColumnStore, ImpressionLog
from simulator.metrics import COLUMNS, compute_daily
from simulator.retention_metrics import USER_DYNAMICS_METRICS, user_dynamics_daily
from simulator.user_dynamics import DYNAMICS_CONFIGS
from simulator.world import World

RECORDED_METRICS = ("trained_sessions", *DRIFT_METRICS, *USER_DYNAMICS_METRICS)
"""Metrics a run records besides `DAILY_METRICS`: ``trained_sessions`` and ``drift_*`` for the
whole population, and `USER_DYNAMICS_METRICS` (overall and per segment) when a user-dynamics
mechanism is on."""


class Monitor:
    """Computes each day's metrics from what the run logged.

    Parameters
    ----------
    log, truth
        The impression log and the ground truth logged alongside it.
    world
        The world (read at the end of each day).
    versions
        The deployed model versions.
    click_model
        The true click model (its examination curve, if any, is the truth position-bias
        estimates are compared with).
    metrics
        Metric name -> function of a `DayData`.
    settings
        The metrics' look-back windows and sample sizes.
    drift_window
        Days of traffic before each day that its drift statistics compare it with.
    rng
        The stream the sampled metrics draw from.
    keep_days
        With spilling stores: at each day's end, spill the log's sessions older than this many
        days before it (what no training window reads again) and, once the day is recorded,
        its truth; ``None`` spills nothing.
    """

    def __init__(
        self,
        log: ImpressionLog,
        truth: ColumnStore,
        world: World,
        versions: ModelVersions,
        click_model: ClickModel,
        metrics: dict[str, Callable[[DayData], float]],
        settings: MetricSettings,
        drift_window: float,
        rng: np.random.Generator,
        keep_days: float | None = None,
    ) -> None:
        self.log = log
        self.truth = truth
        self.world = world
        self.versions = versions
        self.click_model = click_model
        self.metrics = metrics
        self.settings = settings
        self.drift_window = drift_window
        self.rng = rng
        self.keep_days = keep_days
        self.frames: list[pd.DataFrame] = []
        self.user_dynamics = any(getattr(world.config, name).enabled for name in DYNAMICS_CONFIGS)
        self.accumulated = np.zeros(0)
        """Per user, the true utility of all their sessions so far (long-term value)."""

    def record(self, day: int) -> None:
        """Compute day `day`'s metrics (at its end) and keep them."""
        world = self.world
        if self.keep_days is not None:
            # Spill first: the oldest day, which only the metrics' look-backs and the drift
            # reference still read (a few columns), then comes back from disk, and the day's
            # metrics run beside one day of log fewer.
            self.log.spill_before(day + 1.0 - self.keep_days)
        data = DayData.from_log(
            day,
            self.log,
            self.truth,
            world,
            self.versions,
            self.settings,
            self.rng,
            self._true_examination(),
        )
        self.frames.append(
            compute_daily(data, world.user_segment, world.config.n_segments, self.metrics)
        )
        trained = self.versions.trained_between(day, day + 1)
        self.frames.append(
            pd.DataFrame([(day, "all", "trained_sessions", float(trained))], columns=COLUMNS)
        )
        reference = self.log.traffic_between(day - self.drift_window, day)
        if len(reference) and len(data.impressions):
            drift = summarize_drift(drift_statistics(reference, data.impressions, world.features))
            self.frames.append(
                pd.DataFrame(
                    [(day, "all", name, value) for name, value in drift.items()], columns=COLUMNS
                )
            )
        if self.user_dynamics:
            self.frames.append(self._user_dynamics(day, data))
        if self.keep_days is not None:
            self.truth.spill(self.log.session_at(day + 1.0))

    def _user_dynamics(self, day: int, data: DayData) -> pd.DataFrame:
        """Day `day`'s `USER_DYNAMICS_METRICS`, after adding its sessions' true utility to each
        user's running sum (grown as users join).
        """
        world = self.world
        self.accumulated = np.pad(self.accumulated, (0, world.n_users - len(self.accumulated)))
        np.add.at(self.accumulated, data.impressions.user, data.utility)
        recent = self.log.traffic_between(day - 1.0, day + 1.0)
        return user_dynamics_daily(
            day,
            recent.t,
            recent.user,
            self.accumulated,
            world.user_segment,
            world.user_joined,
            world.user_departed,
            None if world.retention is None else world.retention.satisfaction,
            world.config.n_segments,
        )

    def frame(self) -> pd.DataFrame:
        """Every recorded day's metrics in one tidy frame."""
        return pd.concat(self.frames, ignore_index=True)

    def _true_examination(self) -> NDArray[np.float64] | None:
        """The click model's examination curve when it has one (the position-based model)."""
        examination = getattr(self.click_model, "examination", None)
        return None if examination is None else np.asarray(examination(self.log.slate_size))
