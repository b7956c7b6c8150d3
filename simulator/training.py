"""Training and deploying: fit a fresh copy of a served model's policy on its window of the log
and put it in service.

Training and deploying are the places the loop reads a policy's optional capabilities
(`simulator.protocols`): a policy that continues training is handed the copy in service
(stateful retraining); deploying notes whether its scores predict clicks, the examination curve
it estimated and the sessions it trained on, per model version for the daily metrics.
"""

from __future__ import annotations

import copy
from typing import Any

from simulator.day_data import ModelVersions
from simulator.log import ImpressionLog
from simulator.protocols import (
    ContinuesTraining,
    Policy,
    continued_sessions,
    estimated_examination,
    predicts_clicks,
)
from simulator.records import TrainingData
from simulator.serving import Server, Slot
from simulator.world import World


class Trainer:
    """Fits and deploys the slots' policies, and keeps the deployment history.

    Parameters
    ----------
    log
        The impression log models train on.
    world
        The world (its features go into the training data; fitted copies share it).
    server
        Where fitted policies go into service.
    versions
        Where each deployed version is noted for the metrics.
    """

    def __init__(
        self, log: ImpressionLog, world: World, server: Server, versions: ModelVersions
    ) -> None:
        self.log = log
        self.world = world
        self.server = server
        self.versions = versions
        self.history: list[dict[str, Any]] = []

    def training_data(self, slot: Slot, now: float) -> TrainingData:
        """The labelled sessions of the slot's segments in its window up to `now` (each column
        read from the log when the policy first uses it: no copy of columns it never reads).
        """
        return TrainingData(
            impressions=self.log.labelled(now, slot.window, slot.model.segments),
            features=self.world.features,
            now=now,
            start=max(now - slot.window, 0.0),
        )

    def fitted(self, slot: Slot, data: TrainingData) -> Policy:
        """A fresh copy of the slot's policy, fitted; it shares (not copies) the world. A policy
        that continues training is given the copy in service (None at the first fit).
        """
        policy = copy.deepcopy(slot.model.policy, memo={id(self.world): self.world})
        if isinstance(policy, ContinuesTraining):
            policy.fit_from(slot.policy, data)
        else:
            policy.fit(data)
        return policy

    def deploy(self, slot: Slot, policy: Policy, now: float, n_sessions: int) -> None:
        """Put a fitted `policy` in service in `slot` as a new version.

        Parameters
        ----------
        slot
            The served model it replaces.
        policy
            The fitted policy.
        now
            Deployment time, days.
        n_sessions
            Sessions it was fitted on (a policy that continued its predecessor reports the
            fewer it trained on).
        """
        continued = continued_sessions(policy)
        if continued is not None:
            n_sessions = continued
        version = self.versions.add(
            now, predicts_clicks(policy), estimated_examination(policy), n_sessions
        )
        self.server.install(slot, policy, version, now)
        self._record(slot, now, n_sessions, kept_previous=False)

    def keep(self, slot: Slot, now: float) -> None:
        """Note that `slot` keeps its model at `now` (its window held no labelled session)."""
        self._record(slot, now, 0, kept_previous=True)

    def _record(self, slot: Slot, now: float, n_sessions: int, kept_previous: bool) -> None:
        self.history.append(
            {
                "t": now,
                "model": slot.model.name,
                "model_version": slot.version,
                "n_sessions_trained": n_sessions,
                "kept_previous": kept_previous,
            }
        )
