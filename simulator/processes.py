"""The feedback loop's SimPy processes: plain generator functions on one environment.

Time is in days. Each function is a process started once per run by
:meth:`simulator.simulation.Simulation.run`, in this order (which fixes the order of processes
waking at the same instant):

* :func:`daily`: at the end of each day, record the day's metrics, then churn the catalog;
* :func:`shifting`: at the start of every tick, move the world along its shift schedules;
* :func:`retraining` (one per served model): every `retrain_every` days, start a
  :func:`training_job` on the model's window of the log whose labels have arrived;
* :func:`serving`: every tick (1 / ticks_per_day days), serve the sessions arriving during it.

So at a day boundary the daily process runs first and serving last: a new day is served with
the new catalog and any model deployed at that instant.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

import numpy as np
import simpy
from tqdm.auto import tqdm

from simulator.monitoring import Monitor
from simulator.records import TrainingData
from simulator.serving import Server, Slot
from simulator.shifts import ShiftState
from simulator.training import Trainer
from simulator.world import World

Process = Generator[simpy.Event, Any, None]
"""A SimPy process: a generator of events to wait for."""


def serving(
    env: simpy.Environment,
    world: World,
    server: Server,
    arrivals: np.random.Generator,
    n_ticks: int,
    tick: float,
) -> Process:
    """Serve `n_ticks` ticks: the model in service at a tick's start serves the whole tick.

    With acquisition on, each day's newcomers are drawn at its start (each with a join time in
    the day, before which their arrivals are thinned away), so they can arrive that day.
    """
    acquiring = world.config.acquisition.enabled
    for _ in range(n_ticks):
        if acquiring and env.now == int(env.now):
            world.acquire(env.now, env.now + 1.0, server.streams["acquisition"])
            server.grow_users()
        times, users = world.sample_arrivals(env.now, env.now + tick, arrivals)
        if len(users):
            server.serve(times, users)
        yield env.timeout(tick)


def shifting(
    env: simpy.Environment, states: Sequence[ShiftState], n_ticks: int, tick: float
) -> Process:
    """Move the world along its shift schedules at the start of every tick, before serving."""
    for _ in range(n_ticks):
        for state in states:
            state.update(env.now)
        yield env.timeout(tick)


def retraining(env: simpy.Environment, slot: Slot, trainer: Trainer, days: int) -> Process:
    """Every `slot.retrain_every` days before the end, start training the slot's next model
    (or keep the current one when its window holds no labelled session).
    """
    while env.now + slot.retrain_every < days:
        yield env.timeout(slot.retrain_every)
        data = trainer.training_data(slot, env.now)
        if len(data) == 0:
            trainer.keep(slot, env.now)
            continue
        env.process(training_job(env, slot, data, trainer))
        # The job holds the window while it needs it; kept here, it would stay alive until the
        # next retrain, beside the next day's log and the next window.
        del data


def training_job(
    env: simpy.Environment, slot: Slot, data: TrainingData, trainer: Trainer
) -> Process:
    """Fit now, wait `slot.training_days` while the old model keeps serving, then deploy."""
    policy = trainer.fitted(slot, data)
    if slot.training_days > 0:
        yield env.timeout(slot.training_days)
    trainer.deploy(slot, policy, env.now, n_sessions=len(data))


def daily(
    env: simpy.Environment,
    days: int,
    monitor: Monitor,
    world: World,
    server: Server,
    catalog: np.random.Generator,
    bar: tqdm[Any],
) -> Process:
    """At the end of each day record its metrics; then, unless it was the last, churn the
    catalog (drawing from `catalog`) and make room for the new items.
    """
    for day in range(days):
        yield env.timeout(1.0)
        monitor.record(day)
        bar.update(1)
        if day + 1 < days:
            world.churn(env.now, catalog)
            server.grow_catalog()
