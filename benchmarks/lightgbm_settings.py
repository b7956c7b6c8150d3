"""Benchmark: what cheaper LightGBM settings cost in model quality, against what they save.

Issue 17: the 60-day LightGBM loop and the ``fixes`` sweep are dominated by the model's own
cost, linear in boosting rounds (fit and predict) and in training rows (`negative_rate`). The
defaults (100 trees, learning rate 0.1, 10% of non-clicks) were a judgement call; this measures,
for each setting ``n_trees:learning_rate:negative_rate`` (``--settings``, the first is the
baseline), on each world (``--worlds``) and seed (``--seeds``):

* ``loop``: greedy :class:`~policies.LightGBMPolicy` retrained daily for ``--days`` days with
  the world's shipped simulation settings: daily ``utility``, ``coverage`` and ``regret`` over
  the last 7 days, ``consumed_utility`` where the world has a true utility apart from what
  users choose by (chaney2018, whose one click per session makes ``utility`` 1 and ``regret`` 0
  by construction), CPU seconds of the run and the wall-clock seconds inside LightGBM's fit
  and predict (:class:`~policies.LightGBMTimings`: on a shared machine, the CPU ratio is steadier);
* ``heldout``: each setting fitted on the first 7 days of a log served by
  :class:`~policies.RandomPolicy` (unbiased: no loop), scored on the 8th day's impressions of
  items it saw in training (never-shown items score 0 whatever the setting): log loss and AUC
  of the predicted click probability against clicks, Spearman correlation of the scores with
  the true attractiveness of the shown (user, item) pairs, and the fit's CPU seconds.

Worlds are those of shipped experiments (world, click model and simulation settings):
``standard`` is ``lightgbm_loop`` (``WorldConfig()``, PBM eta = 1, 32 ticks a day, a 7-day
window), ``chaney2018`` the preset of that name (100 users, one argmax choice a day from 50-item
slates, consumed items blocked, all history trained on). A run's world, clicks, subsampling and
model draw from its one seed. ``comparison`` gives, per world and setting, the mean over seeds of
the paired difference from the baseline (same world, same seed) with its 95% t interval, and the
same for the ratio of CPU seconds (loop run, and held-out fit).

Run from the repository root inside the project's venv, one core::

    OPENBLAS_NUM_THREADS=1 python benchmarks/lightgbm_settings.py
    OPENBLAS_NUM_THREADS=1 python benchmarks/lightgbm_settings.py --days 14 --worlds standard

Progress goes to stderr, one line per run; the last line printed is one JSON object. The default
grid (4 settings x 2 worlds x 3 seeds, 21 days) took 6 CPU-minutes (8 minutes of wall clock on
a shared two-core machine), nearly all of it the standard world's loops.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from experiments import load_experiment
from experiments.run import build_run, run_spec
from experiments.summary import half_width
from policies import LightGBMPolicy, LightGBMTimings, RandomPolicy
from simulator import (
    ClickModel,
    FeatureView,
    Impressions,
    Requests,
    SimulationConfig,
    TrainingData,
    World,
    simulate,
)
from simulator.utility import consumed_utility

CONFIGS = Path(__file__).resolve().parents[1] / "experiments" / "configs"
WORLDS = {"standard": "lightgbm_loop", "chaney2018": "chaney2018"}
"""World name -> the shipped experiment whose world, click model and simulation it uses."""
SETTINGS = ("100:0.1:0.1", "50:0.2:0.1", "100:0.1:0.05", "50:0.2:0.05")
FINAL_WINDOW = 7
TRAIN_DAYS = 7
SCORED_SESSIONS = 1000
"""Held-out sessions scored per ``score`` call: a (sessions x items) block stays near 16 MB."""


@dataclass(frozen=True)
class Setting:
    """The LightGBM options compared: boosting rounds, learning rate, share of non-clicks."""

    n_trees: int
    learning_rate: float
    negative_rate: float

    @classmethod
    def parse(cls, text: str) -> Setting:
        """``"n_trees:learning_rate:negative_rate"``, e.g. ``"50:0.2:0.1"``."""
        parts = text.split(":")
        try:
            setting = cls(int(parts[0]), float(parts[1]), float(parts[2]))
        except (ValueError, IndexError):
            setting = None
        if setting is None or len(parts) != 3:
            raise ValueError(f"settings must be n_trees:learning_rate:negative_rate, got {text!r}")
        setting.policy(0)  # the policy's own checks name the bad field
        return setting

    @property
    def name(self) -> str:
        return f"{self.n_trees}:{self.learning_rate:g}:{self.negative_rate:g}"

    def policy(self, seed: int, timings: LightGBMTimings | None = None) -> LightGBMPolicy:
        return LightGBMPolicy(**asdict(self), seed=seed, timings=timings)


def world_of(world: str, seed: int, days: int) -> tuple[World, ClickModel, SimulationConfig]:
    """A fresh world, click model and `days`-day simulation settings of world `world`."""
    experiment = load_experiment(CONFIGS / f"{WORLDS[world]}.toml", [f"simulation.days={days}"])
    built, clicks, _ = build_run(run_spec(experiment, (), experiment.variants[0].name, seed))
    return built, clicks, experiment.simulation


def loop_run(world: str, setting: Setting, seed: int, days: int) -> dict[str, float]:
    """One greedy loop retrained daily: last-week metrics and where its CPU time went."""
    built, clicks, config = world_of(world, seed, days)
    timings = LightGBMTimings()
    started = time.process_time()
    result = simulate(built, clicks, setting.policy(seed, timings), config, seed)
    cpu_seconds = time.process_time() - started
    metrics = result.metrics
    final = metrics[(metrics.segment == "all") & (metrics.day >= days - FINAL_WINDOW)]
    row = {
        m: float(final[final.metric == m].value.mean()) for m in ("utility", "coverage", "regret")
    }
    if hasattr(built, "true_utility"):
        sessions = result.log.between(days - FINAL_WINDOW, days)
        true = built.true_utility(sessions.user, sessions.item)
        row["consumed_utility"] = consumed_utility(true, sessions.click)
    return row | {
        "cpu_seconds": cpu_seconds,
        "fit_seconds": timings.fit_seconds,
        "predict_seconds": timings.predict_seconds,
    }


def heldout_runs(world: str, settings: Sequence[Setting], seed: int) -> list[dict[str, float]]:
    """Each setting fitted on a randomly logged week and scored on the randomly logged day after
    (the impressions of items shown in the week): log loss, AUC, Spearman with the truth.
    """
    built, clicks, config = world_of(world, seed, TRAIN_DAYS + 1)
    result = simulate(built, clicks, RandomPolicy(), config, seed)
    log, now = result.log, float(TRAIN_DAYS)
    data = TrainingData(log.labelled(now, now), built.features, now)
    first, stop = log.session_at(now), log.session_at(now + 1.0)
    held = log.sessions(first, stop)
    attractiveness = result.truth.rows(first, stop, ["shown_attractiveness"])
    seen = np.isin(held.item, data.impressions.item)
    rows = []
    for setting in settings:
        started = time.process_time()
        policy = setting.policy(seed).fit(data)
        fit_seconds = time.process_time() - started
        scores = impression_scores(policy, held, built.features)
        clicked = held.click[seen]
        rows.append(
            {
                "log_loss": log_loss(scores[seen], clicked),
                "auc": auc(scores[seen], clicked),
                "spearman": float(
                    stats.spearmanr(
                        scores[seen], attractiveness["shown_attractiveness"][seen]
                    ).statistic
                ),
                "fit_cpu_seconds": fit_seconds,
                "heldout_impressions": int(seen.sum()),
            }
        )
    return rows


def impression_scores(
    policy: LightGBMPolicy, sessions: Impressions, features: FeatureView
) -> NDArray[np.float64]:
    """The policy's score of every shown (session, position), through its serving path."""
    candidates = np.unique(sessions.item).astype(np.int64)
    columns = np.searchsorted(candidates, sessions.item)
    out = np.empty(sessions.item.shape)
    for first in range(0, len(sessions), SCORED_SESSIONS):
        block = slice(first, first + SCORED_SESSIONS)
        requests = Requests(
            t=sessions.t[block],
            user=sessions.user[block].astype(np.int64),
            segment=sessions.segment[block],
            features=features,
        )
        out[block] = np.take_along_axis(policy.score(requests, candidates), columns[block], axis=1)
    return out


def log_loss(p: NDArray[np.float64], y: NDArray[np.bool_]) -> float:
    """Mean binary cross-entropy, probabilities clipped into [1e-15, 1 - 1e-15]."""
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(np.where(y, np.log(p), np.log1p(-p))))


def auc(scores: NDArray[np.float64], y: NDArray[np.bool_]) -> float:
    """Area under the ROC curve (Mann-Whitney U / n_pos n_neg; ties count a half)."""
    ranks = stats.rankdata(scores)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def interval(values: Sequence[float]) -> dict[str, float]:
    """Mean and 95% t interval over seeds."""
    mean, h = float(np.mean(values)), half_width(values)
    return {"mean": round(mean, 4), "ci_low": round(mean - h, 4), "ci_high": round(mean + h, 4)}


def paired(runs: list[dict[str, Any]], baseline: str) -> dict[str, dict[str, Any]]:
    """Per world, setting and measure: the paired difference from `baseline` (same world and
    seed) over seeds, and for CPU seconds the paired ratio.
    """
    base = {(r["world"], r["seed"], r["part"]): r for r in runs if r["setting"] == baseline}
    out: dict[str, dict[str, Any]] = {}
    for run in runs:
        if run["setting"] == baseline:
            continue
        ref = base[(run["world"], run["seed"], run["part"])]
        where = out.setdefault(run["world"], {}).setdefault(run["setting"], {})
        for measure, value in run.items():
            if measure in ("world", "setting", "seed", "part", "heldout_impressions"):
                continue
            ratio = measure.endswith("seconds")
            key = f"{run['part']}_{measure}" + ("_ratio" if ratio else "_difference")
            where.setdefault(key, []).append(
                value / ref[measure] if ratio else value - ref[measure]
            )
    return {
        world: {
            setting: {k: interval(v) for k, v in measures.items()}
            for setting, measures in s.items()
        }
        for world, s in out.items()
    }


def lightgbm_settings(
    settings: Sequence[Setting], worlds: Sequence[str], seeds: Sequence[int], days: int
) -> dict[str, Any]:
    """Every run of the grid and the paired comparison with the first setting."""
    runs: list[dict[str, Any]] = []
    for world in worlds:
        for seed in seeds:
            key = {"world": world, "seed": seed}
            for setting in settings:
                row = loop_run(world, setting, seed, days)
                runs.append({**key, "setting": setting.name, "part": "loop", **row})
                print(f"loop {world} seed {seed} {setting.name}: {row}", file=sys.stderr)
            for setting, row in zip(settings, heldout_runs(world, settings, seed), strict=True):
                runs.append({**key, "setting": setting.name, "part": "heldout", **row})
                print(f"heldout {world} seed {seed} {setting.name}: {row}", file=sys.stderr)
    rounded = [{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()} for r in runs]
    return {
        "days": days,
        "seeds": list(seeds),
        "baseline": settings[0].name,
        "settings": [asdict(s) | {"name": s.name} for s in settings],
        "comparison": paired(runs, settings[0].name),
        "runs": rounded,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS))
    parser.add_argument("--worlds", nargs="+", choices=list(WORLDS), default=list(WORLDS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--days", type=int, default=21)
    args = parser.parse_args()
    if args.days <= FINAL_WINDOW:
        parser.error(f"--days must exceed the final window ({FINAL_WINDOW}), got {args.days}")
    try:
        grid = [Setting.parse(text) for text in args.settings]
    except ValueError as error:
        parser.error(str(error))
    print(json.dumps(lightgbm_settings(grid, args.worlds, args.seeds, args.days)))
