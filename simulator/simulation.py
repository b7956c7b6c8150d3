"""One run of the feedback loop: configure it, wire its parts on one SimPy clock, collect.

:class:`Simulation` checks its inputs, deploys every served model fitted on the empty log at
t = 0, and starts the processes of `simulator.processes` on one `simpy.Environment`: serving
(`simulator.serving`), retraining (`simulator.training`) and the daily monitoring
(`simulator.monitoring`). It returns a :class:`SimulationResult`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import simpy
from numpy.typing import NDArray
from tqdm.auto import tqdm

from simulator import processes
from simulator.click_models import ClickModel
from simulator.day_data import DayData, MetricSettings, ModelVersions
from simulator.log import ColumnStore, ImpressionLog, spill_folder
from simulator.metrics import DAILY_METRICS
from simulator.monitoring import Monitor
from simulator.protocols import Policy
from simulator.seeding import Streams
from simulator.serving import TRUTH_SCHEMA, ServedModel, Server, Slot, check_coverage
from simulator.shifts import Shift, check_kinds
from simulator.training import Trainer
from simulator.truth import TRUTH_MODES, OracleTruth
from simulator.validation import (
    check_simulation_arguments,
    require_choice,
    require_int,
    require_non_negative,
    require_positive,
    require_probability,
)
from simulator.world import World, WorldConfig, per_segment

SERVING_MODES = ("online", "batch")


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
    truth: str = "exact"
    """How each session's oracle utility (behind ``regret``) is computed: ``"exact"`` scores
    the live catalog per session; ``"cached"`` keeps each user's best true logits (equal up
    to floating-point rounding, much cheaper when users come back unchanged); ``"sampled"``
    scores a `truth_sample_rate` share of sessions, leaving the others NaN, for an unbiased
    estimate (`simulator.truth`)."""
    truth_sample_rate: float = 0.05
    log_spill: bool | str = False
    """Stream the log and the truth to Parquet, keeping in memory only the trailing days the
    training windows and daily metrics read: ``True`` under a temporary folder, a string under
    that folder. Results are the same; memory no longer grows with the run's length: about
    8 days of log (19.5 bytes an impression) plus a day's metrics. Measured with popularity
    (`benchmarks/million.py`): ~0.5 GB peak at 100k users, 3.1-3.4 GB at 1M users with sampled
    truth."""

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
        require_choice("truth", self.truth, TRUTH_MODES)
        require_probability("truth_sample_rate", self.truth_sample_rate)
        require_positive("truth_sample_rate", self.truth_sample_rate)
        if not isinstance(self.log_spill, bool | str) or self.log_spill == "":
            raise ValueError(f"log_spill must be true, false or a folder, got {self.log_spill!r}")

    def replace(self, **changes: Any) -> SimulationConfig:
        """A copy with `changes` applied (and validated)."""
        return dataclasses.replace(self, **changes)


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

    Parameters
    ----------
    world
        The world users live in; the simulation mutates it.
    click_model
        How users respond to slates.
    models
        One policy (serving everyone) or several :class:`ServedModel` side by side, which
        together must serve every segment exactly once.
    config
        How the loop runs.
    seed
        The root seed of every random stream.
    metrics
        Daily metric name -> function of a `DayData` (default `DAILY_METRICS`).
    progress
        Show a progress bar over days.
    shifts
        Schedules that move the world (see `simulator.shifts`).
    metric_settings
        The daily metrics' look-back windows and sample sizes.
    """

    def __init__(
        self,
        world: World,
        click_model: ClickModel,
        models: Policy | Sequence[ServedModel[Policy]],
        config: SimulationConfig | None = None,
        seed: int = 0,
        metrics: dict[str, Callable[[DayData], float]] | None = None,
        progress: bool = False,
        shifts: Sequence[Shift] = (),
        metric_settings: MetricSettings | None = None,
    ) -> None:
        check_simulation_arguments(world, click_model, models, config)
        self.world = world
        self.click_model = click_model
        self.config = config or SimulationConfig()
        self.streams = Streams(seed)
        self.metrics = DAILY_METRICS if metrics is None else metrics
        self.metric_settings = metric_settings or MetricSettings()
        self.progress = progress
        self.shifts = tuple(shifts)
        self.served = [ServedModel(models)] if not isinstance(models, Sequence) else list(models)
        check_setup(
            self.config,
            world.config,
            self.served,
            self.shifts,
            n_live=len(world.live_items),
            mean_label_delay=world.mean_label_delay,
        )

    def _slot(self, m: ServedModel[Policy]) -> Slot:
        c = self.config
        return Slot(
            model=m,
            retrain_every=m.retrain_every if m.retrain_every is not None else c.retrain_every,
            window=m.window if m.window is not None else c.window,
            training_days=m.training_days if m.training_days is not None else c.training_days,
            rng=self.streams[f"policy:{m.name}"],
        )

    def run(self) -> SimulationResult:
        """Run the loop for `config.days` days.

        Returns
        -------
        SimulationResult
            The log, the tidy daily metrics, the deployment history and the (mutated) world.
        """
        c, world, streams = self.config, self.world, self.streams
        env = simpy.Environment()
        folder = spill_folder(c.log_spill)
        log = ImpressionLog(c.slate_size, folder=folder and folder / "log")
        truth = ColumnStore(TRUTH_SCHEMA, c.slate_size, folder=folder and folder / "truth")
        versions = ModelVersions()
        slots = [self._slot(m) for m in self.served]
        settings = self.metric_settings
        # Everything read after a day's end: training windows, the drift reference, the metrics'.
        keep_days = max(
            *(slot.window for slot in slots),
            c.window,
            settings.popularity_window,
            settings.homogenization_window,
        )
        consumed = (
            np.zeros((world.n_users, world.n_items_total), dtype=bool)
            if c.exclude_consumed
            else None
        )
        server = Server(
            world=world,
            click_model=self.click_model,
            slots=slots,
            slate_size=c.slate_size,
            batch=c.serving == "batch",
            log=log,
            truth=truth,
            streams=streams,
            consumed=consumed,
            oracle=OracleTruth(
                world,
                self.click_model,
                c.slate_size,
                c.truth,
                c.truth_sample_rate,
                streams["truth_sample"],
            ),
        )
        trainer = Trainer(log, world, server, versions)
        monitor = Monitor(
            log=log,
            truth=truth,
            world=world,
            versions=versions,
            click_model=self.click_model,
            metrics=self.metrics,
            settings=self.metric_settings,
            drift_window=c.window,
            rng=streams["monitoring"],
            keep_days=None if folder is None else keep_days,
        )
        shift_states = [shift.attach(world, streams["shifts"]) for shift in self.shifts]
        for slot in slots:
            policy = trainer.fitted(slot, trainer.training_data(slot, env.now))
            trainer.deploy(slot, policy, env.now, n_sessions=0)
        n_ticks, tick = c.days * c.ticks_per_day, 1.0 / c.ticks_per_day
        with tqdm(total=c.days, desc="days", unit="day", disable=not self.progress) as bar:
            env.process(
                processes.daily(env, c.days, monitor, world, server, streams["catalog"], bar)
            )
            if shift_states:
                env.process(processes.shifting(env, shift_states, n_ticks, tick))
            for slot in slots:
                env.process(processes.retraining(env, slot, trainer, c.days))
            env.process(processes.serving(env, world, server, streams["arrivals"], n_ticks, tick))
            env.run()
        return SimulationResult(
            log=log,
            metrics=monitor.frame(),
            deployments=pd.DataFrame(trainer.history),
            world=world,
            truth=truth,
        )


def check_setup(
    config: SimulationConfig,
    world: WorldConfig,
    served: Sequence[ServedModel[Any]],
    shifts: Sequence[Shift] = (),
    n_live: int | None = None,
    mean_label_delay: NDArray[np.float64] | None = None,
) -> None:
    """Refuse a run that cannot start, before anything is simulated.

    `Simulation` calls it with its world's live catalog and label delays; an experiment file
    calls it at load time with those a world of config `world` starts with (the defaults), so
    a bad combination is one error before any run, at every sweep point.

    Raises
    ------
    ValueError
        A slate larger than the live catalog, served models that do not cover each segment
        once, a training window shorter than the mean label delay of the segments it trains on,
        shifts of one kind twice or a shift the world cannot take.
    """
    n_live = world.n_items if n_live is None else n_live
    if mean_label_delay is None:
        mean_label_delay = per_segment(world.label_delay, world.n_segments)
    if config.slate_size > n_live:
        raise ValueError(
            f"slate_size must not exceed the live catalog ({n_live} items), got {config.slate_size}"
        )
    n_segments = world.n_segments
    check_coverage(served, n_segments)
    for m in served:
        # A window shorter than the mean label delay trains mostly on sessions without clicks.
        window = m.window if m.window is not None else config.window
        delay = float(mean_label_delay[list(m.segments or range(n_segments))].max())
        if window < delay:
            field = f"{m.name}.window" if m.window is not None else "window"
            raise ValueError(
                f"{field} must be at least the mean label delay of the segments it trains on "
                f"({delay} days), got {window}"
            )
    check_kinds(shifts)
    for shift in shifts:
        shift.check_world(world)


def simulate(
    world: World,
    click_model: ClickModel,
    models: Policy | Sequence[ServedModel[Policy]],
    config: SimulationConfig | None = None,
    seed: int = 0,
    **options: Any,
) -> SimulationResult:
    """Build and run a :class:`Simulation` in one call.

    Parameters
    ----------
    world, click_model, models, config, seed
        As for :class:`Simulation`.
    **options
        The other keyword arguments of :class:`Simulation` (``metrics``, ``metric_settings``,
        ``progress``, ``shifts``).

    Returns
    -------
    SimulationResult
        What the run leaves.

    Examples
    --------
    Two days of a popularity ranker on a tiny world, five items per slate:

    >>> import numpy as np
    >>> from simulator import (
    ...     PositionBasedModel, SimulationConfig, World, WorldConfig, simulate)
    >>> from policies import PopularityPolicy
    >>> world = World.generate(
    ...     WorldConfig(n_users=200, n_items=50, dim=4, n_segments=2), np.random.default_rng(0))
    >>> config = SimulationConfig(days=2, slate_size=5, ticks_per_day=4)
    >>> result = simulate(world, PositionBasedModel(), PopularityPolicy(), config, seed=0)
    >>> len(result.log), result.log.n_impressions
    (395, 1975)
    >>> result.metric("ctr").round(3).tolist()
    [0.085, 0.115]
    """
    return Simulation(world, click_model, models, config, seed, **options).run()
