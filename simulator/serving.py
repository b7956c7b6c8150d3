"""Serving: the models in service and one tick's sessions, from request to logged clicks.

A :class:`ServedModel` says which policy serves which segments and how it retrains; a
:class:`Slot` is its state during a run (the fitted policy in service, its version, and in batch
serving its precomputed slates). :class:`Server` serves the sessions of one tick: it asks each
session's model for a slate (one vectorised call per model), samples clicks, appends the
sessions to the impression log and their ground truth to the truth store, and moves user
preferences.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from simulator.choice_models import consumed_argument
from simulator.click_models import ClickModel
from simulator.log import ColumnStore, ImpressionLog
from simulator.protocols import Policy
from simulator.records import Requests, Slates
from simulator.seeding import Streams
from simulator.truth import OracleTruth
from simulator.validation import require_int, require_non_negative, require_positive
from simulator.world import World

PolicyT = TypeVar("PolicyT")
"""What stands for the policy: a built `Policy` in a simulation, a named spec in an experiment."""

TRUTH_SCHEMA = {
    "shown_attractiveness": (np.float32, True),
    "click_probability": (np.float32, True),
    "utility": (np.float64, False),
    "oracle_utility": (np.float64, False),
}
"""Columns of the ground truth logged alongside each session (what no policy may see)."""


@dataclass(frozen=True)
class ServedModel(Generic[PolicyT]):
    """One model in service: its policy, the segments it serves (all when ``None``) and its own
    retraining cadence, window and training duration (the simulation's when ``None``).

    Generic in the policy so that an experiment file describes a served model with this same
    class (holding a policy spec, built per run), and its fields are checked in one place.
    """

    policy: PolicyT
    name: str = "model"
    segments: tuple[int, ...] | None = None
    retrain_every: float | None = None
    window: float | None = None
    training_days: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name must be a non-empty string, got {self.name!r}")
        for segment in self.segments or ():
            require_int(f"{self.name}.segments", segment, 0)
        if self.retrain_every is not None:
            require_positive(f"{self.name}.retrain_every", self.retrain_every)
        if self.window is not None:
            require_positive(f"{self.name}.window", self.window, infinite=True)
        if self.training_days is not None:
            require_non_negative(f"{self.name}.training_days", self.training_days)


def check_coverage(models: Sequence[ServedModel[Any]], n_segments: int) -> None:
    """Served side by side, models must have unique names and serve each segment exactly once."""
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        raise ValueError(f"served model names must be unique, got {names}")
    covered = [s for m in models for s in (m.segments or range(n_segments))]
    if sorted(covered) != list(range(n_segments)):
        raise ValueError(
            f"served models must cover each of the {n_segments} segments exactly once, "
            f"got segments {sorted(covered)}"
        )


@dataclass
class Slot:
    """A served model during a run: its settings resolved against the simulation's, the
    stream its policy draws from, and what is in service (policy, version, batch slates).
    """

    model: ServedModel[Policy]
    retrain_every: float
    window: float
    training_days: float
    rng: np.random.Generator
    policy: Any = None
    version: int = -1
    batch_slates: Slates | None = None
    batch_row_of_user: NDArray[np.int64] | None = None


class Server:
    """Serves sessions with the slots' policies and logs what happened.

    Parameters
    ----------
    world
        The world the users live in (mutated: preferences move with clicks).
    click_model
        How users respond to a slate.
    slots
        The served models; together they serve every segment exactly once.
    slate_size
        Items per slate.
    batch
        Whether slates are precomputed at deployment (``"batch"`` serving).
    log, truth
        Where sessions and their ground truth (`TRUTH_SCHEMA`) are appended.
    streams
        The run's streams (``clicks`` and ``label_delays`` are drawn here).
    consumed
        (users x items) clicks so far, blocked from later slates; ``None`` blocks nothing.
    oracle
        How each session's oracle utility is computed (default: exactly, per session).
    """

    def __init__(
        self,
        world: World,
        click_model: ClickModel,
        slots: list[Slot],
        slate_size: int,
        batch: bool,
        log: ImpressionLog,
        truth: ColumnStore,
        streams: Streams,
        consumed: NDArray[np.bool_] | None,
        oracle: OracleTruth | None = None,
    ) -> None:
        self.world = world
        self.click_model = click_model
        self.slots = slots
        self.slate_size = slate_size
        self.batch = batch
        self.log = log
        self.truth = truth
        self.streams = streams
        self.consumed = consumed
        self.oracle = oracle or OracleTruth(world, click_model, slate_size)
        self.slot_of_segment = np.empty(world.config.n_segments, dtype=np.int64)
        for i, slot in enumerate(slots):
            segments = slot.model.segments or range(world.config.n_segments)
            self.slot_of_segment[list(segments)] = i

    def install(self, slot: Slot, policy: Policy, version: int, now: float) -> None:
        """Put `policy` in service in `slot` as `version`; batch serving ranks everyone now."""
        slot.policy = policy
        slot.version = version
        slot.batch_slates = None
        if self.batch:
            self._precompute(slot, now)

    def grow_catalog(self) -> None:
        """Make room in the consumed matrix for items added to the catalog."""
        if self.consumed is not None:
            grow = self.world.n_items_total - self.consumed.shape[1]
            self.consumed = np.pad(self.consumed, ((0, 0), (0, grow)))

    def grow_users(self) -> None:
        """Make room for users who joined (acquisition): rows of the consumed matrix, and no
        batch slate (a newcomer's first slates are ranked online, as stale ones are).
        """
        n_users = self.world.n_users
        if self.consumed is not None:
            self.consumed = np.pad(self.consumed, ((0, n_users - self.consumed.shape[0]), (0, 0)))
        for slot in self.slots:
            rows = slot.batch_row_of_user
            if rows is not None:
                slot.batch_row_of_user = np.pad(rows, (0, n_users - len(rows)), constant_values=-1)

    def _precompute(self, slot: Slot, now: float) -> None:
        """Rank every user of the slot's segments now, to serve until replaced."""
        index = self.slots.index(slot)
        users = np.flatnonzero(self.slot_of_segment[self.world.user_segment] == index)
        requests = self._requests(np.full(len(users), now), users)
        slot.batch_slates = slot.policy.rank(
            requests, self.world.live_items, self.slate_size, slot.rng
        )
        slot.batch_row_of_user = np.full(self.world.n_users, -1)
        slot.batch_row_of_user[users] = np.arange(len(users))

    def _requests(self, times: NDArray[np.float64], users: NDArray[np.int64]) -> Requests:
        blocked = None
        if self.consumed is not None:
            blocked = self.consumed[users][:, self.world.live_items]
        return Requests(
            t=times,
            user=users,
            segment=self.world.user_segment[users],
            features=self.world.features,
            blocked=blocked,
        )

    def _slates(self, slot: Slot, requests: Requests) -> Slates:
        live, k = self.world.live_items, self.slate_size
        if slot.batch_slates is None or slot.batch_row_of_user is None:
            return slot.policy.rank(requests, live, k, slot.rng)
        rows = slot.batch_row_of_user[requests.user]
        stored = slot.batch_slates
        items = stored.items[rows]
        # A stored slate goes stale when one of its items retires or is consumed.
        stale = ~np.isinf(self.world.item_retired[items]).all(axis=1)
        stale |= rows < 0  # a user who joined after the slates were ranked
        if self.consumed is not None:
            stale |= self.consumed[requests.user[:, None], items].any(axis=1)
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

    def serve(self, times: NDArray[np.float64], users: NDArray[np.int64]) -> None:
        """Serve the sessions of `users` arriving at `times`: slates, clicks, log, preferences.

        Parameters
        ----------
        times
            Arrival times, in order.
        users
            The arriving users, one per session.
        """
        world, k = self.world, self.slate_size
        requests = self._requests(times, users)
        n = len(users)
        items = np.empty((n, k), dtype=np.int64)
        propensities = np.empty((n, k))
        scores = np.empty((n, k))
        versions = np.empty(n, dtype=np.int32)
        slot_of_session = self.slot_of_segment[requests.segment]
        for i, slot in enumerate(self.slots):
            rows = np.flatnonzero(slot_of_session == i)
            if len(rows) == 0:
                continue
            slates = self._slates(slot, requests.subset(rows) if len(self.slots) > 1 else requests)
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
        perceived = world.perceived_attractiveness(users, items, shown)
        # a choice model never picks a shown item the user consumed before
        seen = consumed_argument(self.click_model, self.consumed, users, items)
        click_probability = self.click_model.click_probabilities(perceived, **seen)
        clicks = self.click_model.respond(perceived, self.streams["clicks"], **seen)
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
                "utility": self._true_utility(shown, perceived, click_probability, seen),
                "oracle_utility": self.oracle(users, requests.blocked),
            }
        )
        world.update_preferences(users, items, clicks)
        world.after_sessions(times, users, items, clicks, shown, perceived)
        if self.consumed is not None:
            session_rows, positions = np.nonzero(clicks)
            self.consumed[users[session_rows], items[session_rows, positions]] = True
            self.oracle.forget(users[session_rows])

    def _true_utility(
        self,
        shown: NDArray[np.float64],
        perceived: NDArray[np.float64],
        click_probability: NDArray[np.float64],
        seen: dict[str, Any],
    ) -> NDArray[np.float64]:
        """Expected clicks per session had the user seen each item as it truly is (clicks
        follow `perceived`; with no item appeal the two are one and the same array).
        """
        true = (
            click_probability
            if perceived is shown
            else self.click_model.click_probabilities(shown, **seen)
        )
        return true.sum(axis=1)
