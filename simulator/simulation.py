"""The feedback loop as SimPy processes on one clock: serve, click, log, retrain, monitor.

Processes (each a generator function on one `simpy.Environment`, time in days):

* ``serving``: every serving tick (1 / ticks_per_day days) draws the sessions arriving during the
  tick, asks each session's model for a slate, samples clicks, logs them and moves user
  preferences. Requests of one tick are scored in one vectorised call: the model in service at
  the start of a tick serves the whole tick.
* ``retraining`` (one per served model): every `retrain_every` days, fit a fresh copy of the
  model's policy on its window of the log whose labels have arrived, wait `training_days`
  while the old model keeps serving, then deploy.
* ``daily``: at the end of each day, compute the daily metrics (and, from day 1, the ``drift_*``
  statistics of the day's traffic against the training window), then churn the catalog.

At a day boundary the daily process runs first and serving last, so a new day is served with the
new catalog and any model deployed at that instant.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import simpy
from numpy.typing import NDArray
from tqdm.auto import tqdm

from simulator.click_models import ClickModel, expected_clicks
from simulator.drift import DRIFT_METRICS, drift_statistics, summarize_drift
from simulator.log import ColumnStore, ImpressionLog
from simulator.metrics import DAILY_METRICS, DayData, compute_daily, popularity_percentile
from simulator.ranking import best_columns
from simulator.records import Impressions, Requests, Slates, TrainingData
from simulator.seeding import Streams
from simulator.shifts import Shift, ShiftState, check_kinds
from simulator.validation import (
    check_simulation_arguments,
    require_choice,
    require_int,
    require_non_negative,
    require_positive,
)
from simulator.world import World

if TYPE_CHECKING:
    from policies.base import Policy

SERVING_MODES = ("online", "batch")
RECORDED_METRICS = ("trained_sessions", *DRIFT_METRICS)
"""Metrics every run records for the whole population besides `DAILY_METRICS`."""
Process = Generator[simpy.Event, Any, None]
"""A SimPy process: a generator of events to wait for."""


@dataclass(frozen=True)
class SimulationConfig:
    """How the loop runs. `window` = math.inf trains on all history.

    `ticks_per_day` must be a power of two so that serving ticks land exactly on day
    boundaries in floating point (the default 32 is a 45-minute tick).
    """

    days: int = 30
    slate_size: int = 10
    ticks_per_day: int = 32
    retrain_every: float = 1.0
    window: float = 7.0
    training_days: float = 0.0
    serving: str = "online"
    """``"online"`` scores at request time; ``"batch"`` precomputes every user's slate when a
    model is deployed and serves it until the next deployment (re-ranking online only slates
    that became invalid: a retired item, or one the user already consumed)."""
    exclude_consumed: bool = False
    popularity_window: float = 7.0
    """Days of clicks behind the item popularity used by the `popularity_bias` metric."""
    homogenization_window: float = 7.0
    homogenization_pairs: int = 1000

    def __post_init__(self) -> None:
        require_int("days", self.days, 1)
        require_int("slate_size", self.slate_size, 1)
        require_int("ticks_per_day", self.ticks_per_day, 1)
        if self.ticks_per_day & (self.ticks_per_day - 1):
            raise ValueError(f"ticks_per_day must be a power of two, got {self.ticks_per_day}")
        require_positive("retrain_every", self.retrain_every)
        if self.retrain_every < 1.0 / self.ticks_per_day:
            raise ValueError(
                f"retrain_every must be at least one serving tick "
                f"({1.0 / self.ticks_per_day} days), got {self.retrain_every}"
            )
        require_positive("window", self.window, infinite=True)
        require_non_negative("training_days", self.training_days)
        require_choice("serving", self.serving, SERVING_MODES)
        require_positive("popularity_window", self.popularity_window)
        require_positive("homogenization_window", self.homogenization_window)
        require_int("homogenization_pairs", self.homogenization_pairs, 1)

    def replace(self, **changes: Any) -> SimulationConfig:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class ServedModel:
    """One model in service: its policy, the segments it serves (all when ``None``) and its own
    retraining cadence, window and training duration (the simulation's when ``None``)."""

    policy: Policy
    name: str = "model"
    segments: tuple[int, ...] | None = None
    retrain_every: float | None = None
    window: float | None = None
    training_days: float | None = None


@dataclass
class _Slot:
    """Runtime state of a served model."""

    model: ServedModel
    retrain_every: float
    window: float
    training_days: float
    rng: np.random.Generator
    policy: Any = None
    version: int = -1
    batch_slates: Slates | None = None
    batch_row_of_user: NDArray[np.int64] | None = None


TRUTH_SCHEMA = {
    "shown_attractiveness": (np.float32, True),
    "click_probability": (np.float32, True),
    "utility": (np.float64, False),
    "oracle_utility": (np.float64, False),
}


@dataclass
class SimulationResult:
    """What a run leaves: the log, daily metrics (tidy), the deployment history, the world."""

    log: ImpressionLog
    metrics: pd.DataFrame
    deployments: pd.DataFrame
    world: World
    truth: ColumnStore = field(repr=False)

    def metric(self, name: str, segment: str = "all") -> pd.Series:
        """One metric's daily series."""
        rows = self.metrics[(self.metrics.metric == name) & (self.metrics.segment == segment)]
        return rows.set_index("day")["value"]


class Simulation:
    """One run of the loop on a `world`, driven by one root `seed`.

    `models` is one policy (serving everyone) or several :class:`ServedModel` side by side,
    which together must serve every segment exactly once. `shifts` (see `simulator.shifts`)
    move the world along schedules. The simulation mutates `world`.
    """

    def __init__(
        self,
        world: World,
        click_model: ClickModel,
        models: Policy | Sequence[ServedModel],
        config: SimulationConfig | None = None,
        seed: int = 0,
        metrics: dict[str, Callable[[DayData], float]] | None = None,
        progress: bool = False,
        shifts: Sequence[Shift] = (),
    ) -> None:
        check_simulation_arguments(world, click_model, models, config)
        self.world = world
        self.click_model = click_model
        self.config = config or SimulationConfig()
        self.streams = Streams(seed)
        self.metrics = DAILY_METRICS if metrics is None else metrics
        self.progress = progress
        check_kinds(shifts)
        self.shifts = tuple(shifts)
        served = [ServedModel(models)] if not isinstance(models, Sequence) else list(models)
        self._check(served)
        c = self.config
        self._slots = [
            _Slot(
                model=m,
                retrain_every=m.retrain_every if m.retrain_every is not None else c.retrain_every,
                window=m.window if m.window is not None else c.window,
                training_days=m.training_days if m.training_days is not None else c.training_days,
                rng=self.streams[f"policy:{m.name}"],
            )
            for m in served
        ]
        self._slot_of_segment = np.empty(world.config.n_segments, dtype=np.int64)
        for i, m in enumerate(served):
            self._slot_of_segment[list(m.segments or range(world.config.n_segments))] = i

    def _check(self, served: list[ServedModel]) -> None:
        n_live = len(self.world.live_items)
        if self.config.slate_size > n_live:
            raise ValueError(
                f"slate_size must not exceed the live catalog ({n_live} items), "
                f"got {self.config.slate_size}"
            )
        names = [m.name for m in served]
        if len(set(names)) != len(names):
            raise ValueError(f"served model names must be unique, got {names}")
        n_segments = self.world.config.n_segments
        covered = [s for m in served for s in (m.segments or range(n_segments))]
        if sorted(covered) != list(range(n_segments)):
            raise ValueError(
                f"served models must cover each of the {n_segments} segments exactly once, "
                f"got segments {sorted(covered)}"
            )
        for m in served:
            if m.retrain_every is not None:
                require_positive(f"{m.name}.retrain_every", m.retrain_every)
            if m.window is not None:
                require_positive(f"{m.name}.window", m.window, infinite=True)
            if m.training_days is not None:
                require_non_negative(f"{m.name}.training_days", m.training_days)
            # A window shorter than the mean label delay trains mostly on sessions without clicks.
            window = m.window if m.window is not None else self.config.window
            delay = float(self.world.mean_label_delay[list(m.segments or range(n_segments))].max())
            if window < delay:
                field = f"{m.name}.window" if m.window is not None else "window"
                raise ValueError(
                    f"{field} must be at least the mean label delay of the segments it trains on "
                    f"({delay} days), got {window}"
                )

    # ------------------------------------------------------------------ running
    def run(self) -> SimulationResult:
        c = self.config
        self.env = simpy.Environment()
        self.log = ImpressionLog(c.slate_size)
        self.truth = ColumnStore(TRUTH_SCHEMA, c.slate_size)
        self._daily_frames: list[pd.DataFrame] = []
        self._deployments: list[dict[str, Any]] = []
        self._next_version = 0
        self._predicting_versions: list[int] = []
        self._estimated_examination: dict[int, NDArray[np.float64]] = {}
        self._consumed = (
            np.zeros((self.world.n_users, self.world.n_items_total), dtype=bool)
            if c.exclude_consumed
            else None
        )
        self._deployed_at: list[float] = []
        shift_states = [shift.attach(self.world, self.streams["shifts"]) for shift in self.shifts]
        for slot in self._slots:
            self._deploy(slot, self._fitted(slot, self._training_data(slot)), n_sessions=0)
        self.env.process(self._daily())
        if shift_states:
            self.env.process(self._shifting(shift_states))
        for slot in self._slots:
            self.env.process(self._retraining(slot))
        self.env.process(self._serving())
        with tqdm(total=c.days, desc="days", unit="day", disable=not self.progress) as bar:
            self._bar = bar
            self.env.run()
        return SimulationResult(
            log=self.log,
            metrics=pd.concat(self._daily_frames, ignore_index=True),
            deployments=pd.DataFrame(self._deployments),
            world=self.world,
            truth=self.truth,
        )

    def _serving(self) -> Process:
        c = self.config
        tick = 1.0 / c.ticks_per_day
        arrivals = self.streams["arrivals"]
        for _ in range(c.days * c.ticks_per_day):
            times, users = self.world.sample_arrivals(self.env.now, self.env.now + tick, arrivals)
            if len(users):
                self._serve(times, users)
            yield self.env.timeout(tick)

    def _shifting(self, states: list[ShiftState]) -> Process:
        """Move the world along its shift schedules at the start of every tick, before serving."""
        tick = 1.0 / self.config.ticks_per_day
        for _ in range(self.config.days * self.config.ticks_per_day):
            for state in states:
                state.update(self.env.now)
            yield self.env.timeout(tick)

    def _daily(self) -> Process:
        for day in range(self.config.days):
            yield self.env.timeout(1.0)
            self._record_day(day)
            self._bar.update(1)
            if day + 1 < self.config.days:
                self.world.churn(self.env.now, self.streams["catalog"])
                if self._consumed is not None:
                    grow = self.world.n_items_total - self._consumed.shape[1]
                    self._consumed = np.pad(self._consumed, ((0, 0), (0, grow)))

    def _retraining(self, slot: _Slot) -> Process:
        while self.env.now + slot.retrain_every < self.config.days:
            yield self.env.timeout(slot.retrain_every)
            data = self._training_data(slot)
            if len(data) == 0:
                self._record_deployment(slot, n_sessions=0, kept_previous=True)
                continue
            self.env.process(self._training_job(slot, data))

    def _training_job(self, slot: _Slot, data: TrainingData) -> Process:
        policy = self._fitted(slot, data)
        if slot.training_days > 0:
            yield self.env.timeout(slot.training_days)
        self._deploy(slot, policy, n_sessions=len(data))

    # ------------------------------------------------------------------ training and deploying
    def _training_data(self, slot: _Slot) -> TrainingData:
        block = self.log.labelled(self.env.now, slot.window)
        if slot.model.segments is not None:
            block = block.subset(np.isin(block.segment, slot.model.segments))
        return TrainingData(
            impressions=block,
            features=self.world.features,
            now=self.env.now,
            start=max(self.env.now - slot.window, 0.0),
        )

    def _fitted(self, slot: _Slot, data: TrainingData) -> Policy:
        """A fresh copy of the slot's policy, fitted; it shares (not copies) the world."""
        policy = copy.deepcopy(slot.model.policy, memo={id(self.world): self.world})
        policy.fit(data)
        return policy

    def _deploy(self, slot: _Slot, policy: Policy, n_sessions: int) -> None:
        slot.policy = policy
        slot.version = self._next_version
        self._next_version += 1
        self._deployed_at.append(self.env.now)
        if getattr(policy, "scores_are_click_probabilities", False):
            self._predicting_versions.append(slot.version)
        curve = getattr(policy, "examination_", None)
        if curve is not None:
            self._estimated_examination[slot.version] = np.asarray(curve, dtype=float)
        slot.batch_slates = None
        if self.config.serving == "batch":
            self._precompute(slot)
        self._record_deployment(slot, n_sessions=n_sessions, kept_previous=False)

    def _record_deployment(self, slot: _Slot, n_sessions: int, kept_previous: bool) -> None:
        self._deployments.append(
            {
                "t": self.env.now,
                "model": slot.model.name,
                "model_version": slot.version,
                "n_sessions_trained": n_sessions,
                "kept_previous": kept_previous,
            }
        )

    def _precompute(self, slot: _Slot) -> None:
        """Batch serving: rank every user of the slot's segments now, to serve until replaced."""
        users = np.flatnonzero(self._slot_of_segment[self.world.user_segment] == self._index(slot))
        requests = self._requests(np.full(len(users), self.env.now), users)
        slot.batch_slates = slot.policy.rank(
            requests, self.world.live_items, self.config.slate_size, slot.rng
        )
        slot.batch_row_of_user = np.full(self.world.n_users, -1)
        slot.batch_row_of_user[users] = np.arange(len(users))

    def _index(self, slot: _Slot) -> int:
        return self._slots.index(slot)

    # ------------------------------------------------------------------ serving
    def _requests(self, times: NDArray[np.float64], users: NDArray[np.int64]) -> Requests:
        blocked = None
        if self._consumed is not None:
            blocked = self._consumed[users][:, self.world.live_items]
        return Requests(
            t=times,
            user=users,
            segment=self.world.user_segment[users],
            features=self.world.features,
            blocked=blocked,
        )

    def _slates(self, slot: _Slot, requests: Requests) -> Slates:
        live, k = self.world.live_items, self.config.slate_size
        if slot.batch_slates is None or slot.batch_row_of_user is None:
            return slot.policy.rank(requests, live, k, slot.rng)
        rows = slot.batch_row_of_user[requests.user]
        stored = slot.batch_slates
        items = stored.items[rows]
        stale = ~np.isinf(self.world.item_retired[items]).all(axis=1)
        if self._consumed is not None:
            stale |= self._consumed[requests.user[:, None], items].any(axis=1)
        propensities, scores = stored.propensities[rows], stored.scores[rows]
        if stale.any():
            fresh = slot.policy.rank(requests.subset(np.flatnonzero(stale)), live, k, slot.rng)
            items, propensities, scores = items.copy(), propensities.copy(), scores.copy()
            items[stale], propensities[stale], scores[stale] = (
                fresh.items,
                fresh.propensities,
                fresh.scores,
            )
        return Slates(items=items, propensities=propensities, scores=scores)

    def _serve(self, times: NDArray[np.float64], users: NDArray[np.int64]) -> None:
        world, k = self.world, self.config.slate_size
        requests = self._requests(times, users)
        n = len(users)
        items = np.empty((n, k), dtype=np.int64)
        propensities = np.empty((n, k))
        scores = np.empty((n, k))
        versions = np.empty(n, dtype=np.int32)
        slot_of_session = self._slot_of_segment[requests.segment]
        for i, slot in enumerate(self._slots):
            rows = np.flatnonzero(slot_of_session == i)
            if len(rows) == 0:
                continue
            slates = self._slates(slot, requests.subset(rows) if len(self._slots) > 1 else requests)
            if slates.items.shape != (len(rows), k):
                raise ValueError(
                    f"policy {slot.model.name!r} returned slates of shape {slates.items.shape}, "
                    f"expected {(len(rows), k)}"
                )
            items[rows], propensities[rows], scores[rows] = (
                slates.items,
                slates.propensities,
                slates.scores,
            )
            versions[rows] = slot.version

        shown = world.slate_attractiveness(users, items)
        click_probability = self.click_model.click_probabilities(shown)
        clicks = self.click_model.respond(shown, self.streams["clicks"])
        delays = self.streams["label_delays"].exponential(world.mean_label_delay[requests.segment])
        self.log.append(
            {
                "t": times,
                "user": users,
                "segment": requests.segment,
                "label_time": times + delays,
                "model_version": versions,
                "item": items,
                "propensity": propensities,
                "score": scores,
                "click": clicks,
            }
        )
        self.truth.append(
            {
                "shown_attractiveness": shown,
                "click_probability": click_probability,
                "utility": click_probability.sum(axis=1),
                "oracle_utility": self._oracle_utility(requests),
            }
        )
        world.update_preferences(users, items, clicks)
        if self._consumed is not None:
            session_rows, positions = np.nonzero(clicks)
            self._consumed[users[session_rows], items[session_rows, positions]] = True

    def _oracle_utility(self, requests: Requests) -> NDArray[np.float64]:
        """Expected clicks of the best allowed slate: the k most attractive items, best first."""
        logits = self.world.logits(requests.user, self.world.live_items)
        if requests.blocked is not None:
            logits = np.where(requests.blocked, -np.inf, logits)
        best = best_columns(logits, self.config.slate_size)
        best_attractiveness = self.world.attractiveness_from_logits(
            np.take_along_axis(logits, best, 1)
        )
        return expected_clicks(self.click_model, best_attractiveness)

    # ------------------------------------------------------------------ monitoring
    def _record_day(self, day: int) -> None:
        c, world = self.config, self.world
        first, stop = self.log.session_at(day), self.log.session_at(day + 1.0)
        impressions = self.log.sessions(first, stop)
        truth = self.truth.rows(first, stop)
        earlier = self.log.between(day - c.popularity_window, day)
        popularity = popularity_percentile(
            earlier.item[earlier.click].astype(np.int64),
            world.live_items,
            world.n_items_total,
        )
        trailing = self.log.between(day + 1.0 - c.homogenization_window, day + 1.0)
        session_rows, positions = np.nonzero(trailing.click)
        data = DayData(
            day=day,
            impressions=impressions,
            shown_attractiveness=truth["shown_attractiveness"],
            click_probability=truth["click_probability"],
            utility=truth["utility"],
            oracle_utility=truth["oracle_utility"],
            live_items=world.live_items,
            item_popularity=popularity,
            consumed_user=trailing.user[session_rows].astype(np.int64),
            consumed_item=trailing.item[session_rows, positions].astype(np.int64),
            preferences=world.preferences,
            model_age=impressions.t - np.asarray(self._deployed_at)[impressions.model_version],
            day_end=day + 1.0,
            rng=self.streams["monitoring"],
            n_pairs=c.homogenization_pairs,
            score_is_click_probability=np.isin(
                impressions.model_version, self._predicting_versions
            ),
            estimated_examination=self._examination_by_session(impressions),
            true_examination=self._true_examination(),
        )
        self._daily_frames.append(
            compute_daily(data, world.user_segment, world.config.n_segments, self.metrics)
        )
        trained = sum(d["n_sessions_trained"] for d in self._deployments if day <= d["t"] < day + 1)
        self._daily_frames.append(
            pd.DataFrame(
                [(day, "all", "trained_sessions", float(trained))],
                columns=["day", "segment", "metric", "value"],
            )
        )
        reference = self.log.between(day - c.window, day)
        if len(reference) and len(impressions):
            drift = summarize_drift(drift_statistics(reference, impressions, world.features))
            self._daily_frames.append(
                pd.DataFrame(
                    [(day, "all", name, value) for name, value in drift.items()],
                    columns=["day", "segment", "metric", "value"],
                )
            )

    def _examination_by_session(self, impressions: Impressions) -> NDArray[np.float64]:
        """Per session, the examination curve its model estimated (``examination_``), or NaN."""
        out = np.full(impressions.item.shape, np.nan)
        for version in np.unique(impressions.model_version):
            curve = self._estimated_examination.get(int(version))
            if curve is not None:
                out[impressions.model_version == version] = curve[: impressions.slate_size]
        return out

    def _true_examination(self) -> NDArray[np.float64] | None:
        """The click model's examination curve when it has one (the position-based model)."""
        examination = getattr(self.click_model, "examination", None)
        return None if examination is None else np.asarray(examination(self.config.slate_size))


def simulate(
    world: World,
    click_model: ClickModel,
    models: Policy | Sequence[ServedModel],
    config: SimulationConfig | None = None,
    seed: int = 0,
    **options: Any,
) -> SimulationResult:
    """Build and run a :class:`Simulation` in one call."""
    return Simulation(world, click_model, models, config, seed, **options).run()
