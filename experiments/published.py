"""The four published results recloop replicates (issue 16; docs/replications.md), as
:class:`experiments.replication.Replication` entries of :data:`REPLICATIONS`, keyed by the
name of the shipped experiment that runs each.

Each entry measures what its paper measures at the end of every run and compares the
ordering, sign or growth the paper reports with recloop's, over seeds. "holds" is a plain
comparison of seed means (the report also shows each value's seed-to-seed spread); the
statistical margins live in tests/experiments/test_replications.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from experiments.replication import FinishedRun, Outcome, Replication, mean_sd
from experiments.run import point_text
from simulator import degeneracy, homogenization, miscalibration, stream

REPLICATIONS: dict[str, Replication] = {}
"""Shipped experiment name -> the published result it replicates."""


def _innermost_representation(run: FinishedRun) -> np.ndarray:
    """The recommender's user representation, through its wrappers; all ones (neighbours
    uniformly at random) for a recommender without one, as T-RECS gives popularity.
    """
    policy: Any = run.policy
    while not hasattr(policy, "user_representation") and hasattr(policy, "inner"):
        policy = policy.inner
    users = np.arange(run.result.world.n_users)
    if hasattr(policy, "user_representation"):
        return np.asarray(policy.user_representation(users), dtype=float)
    return np.ones((len(users), 1))


# --------------------------------------------------------------------------- Chaney 2018
CHANEY_PUBLISHED = {"popularity": 0.22, "content": 0.15, "mf": 0.085, "random": 0.0}
"""Homogenization relative to ideal at t = 100, repeated training (Chaney et al. 2018, fig. 3,
as T-RECS's replication reads it)."""


def _chaney_measure(run: FinishedRun) -> dict[str, Any]:
    sessions = run.result.log.sessions()
    true = run.result.world.true_utility(sessions.user, sessions.item)  # type: ignore[attr-defined]
    return {
        "consumed": run.consumed(),
        "representation": _innermost_representation(run),
        "consumed_utility": float(true[sessions.click].mean()),
    }


def _chaney_table(outcomes: list[Outcome]) -> pd.DataFrame:
    ideal = {o.seed: o for o in outcomes if o.variant == "ideal"}
    rows, means = [], {}
    for variant in dict.fromkeys(o.variant for o in outcomes if o.variant != "ideal"):
        runs = [o for o in outcomes if o.variant == variant and o.seed in ideal]
        values, utility = [], []
        for o in runs:
            rng = stream(o.seed, "homogenization")
            values.append(
                homogenization(
                    o.values["representation"],
                    o.values["consumed"],
                    ideal[o.seed].values["consumed"],
                    rng,
                )
            )
            utility.append(o.values["consumed_utility"] - ideal[o.seed].values["consumed_utility"])
        means[variant] = np.mean(values)
        rows.append(
            {
                "quantity": f"homogenization vs ideal: {variant}",
                "published": f"{CHANEY_PUBLISHED[variant]:+.3f}"
                if variant in CHANEY_PUBLISHED
                else "",
                "recloop": mean_sd(values),
                "holds": "",
            }
        )
        rows.append(
            {
                "quantity": f"consumed true utility vs ideal: {variant}",
                "published": "< 0",
                "recloop": mean_sd(utility),
                "holds": str(bool(np.mean(utility) < 0)),
            }
        )
    published_order = sorted(CHANEY_PUBLISHED, key=lambda v: -CHANEY_PUBLISHED[v])
    present = [v for v in published_order if v in means]
    recloop_order = sorted(present, key=lambda v: -means[v])
    rows.append(
        {
            "quantity": "ordering of homogenization",
            "published": " > ".join(present),
            "recloop": " > ".join(recloop_order),
            "holds": str(recloop_order == present),
        }
    )
    return pd.DataFrame(rows)


REPLICATIONS["chaney2018"] = Replication(
    paper="Chaney, Stewart & Engelhardt (2018), as replicated in T-RECS (Lucherini et al. 2021)",
    measure=_chaney_measure,
    table=_chaney_table,
    names=("consumed", "representation", "consumed_utility"),
    notes=(
        "Homogenization: nearest-neighbour Jaccard of consumed sets (all steps, startup "
        "included) in the recommender's user representation at the end, minus the same pairs' "
        "Jaccard in the ideal recommender's run with the same seed. Utility: mean true utility "
        "of every consumed item, minus the ideal run's."
    ),
)


# --------------------------------------------------------------------------- Jiang 2019
JIANG_ORDER = ("oracle", "greedy", "thompson", "epsilon_greedy", "random")


def _jiang_measure(run: FinishedRun) -> dict[str, Any]:
    return {"degeneracy": degeneracy(run.result.world.preferences, run.initial_preferences)}


def _by(outcomes: list[Outcome], measure: str) -> pd.DataFrame:
    frame = pd.DataFrame(
        [
            {"variant": o.variant, "point": o.point, "seed": o.seed, "value": o.values[measure]}
            for o in outcomes
        ]
    )
    return frame


def _jiang_table(outcomes: list[Outcome]) -> pd.DataFrame:
    frame = _by(outcomes, "degeneracy")
    points = list(dict.fromkeys(frame.point))
    rows = []
    for point in points:
        at = frame[frame.point == point]
        label = point_text(point)
        means = at.groupby("variant").value.mean()
        for variant in [v for v in JIANG_ORDER if v in means.index]:
            rows.append(
                {
                    "quantity": f"degeneracy ({label}): {variant}",
                    "published": "",
                    "recloop": mean_sd(at[at.variant == variant].value),
                    "holds": "",
                }
            )
        present = [v for v in JIANG_ORDER if v in means.index]
        order = sorted(present, key=lambda v: -means[v])
        rows.append(
            {
                "quantity": f"ordering ({label})",
                "published": " >= ".join(present),
                "recloop": " > ".join(order),
                "holds": str(order == present),
            }
        )
    if len(points) > 1:
        first, last = points[0], points[-1]
        growth = {
            v: frame[(frame.point == last) & (frame.variant == v)].value.mean()
            - frame[(frame.point == first) & (frame.variant == v)].value.mean()
            for v in JIANG_ORDER
            if v in set(frame.variant) and v != "random"
        }
        rows.append(
            {
                "quantity": "degeneracy grows with time (all but random)",
                "published": "yes",
                "recloop": ", ".join(f"{v} {g:+.3f}" for v, g in growth.items()),
                "holds": str(all(g > 0 for g in growth.values())),
            }
        )
    return pd.DataFrame(rows)


REPLICATIONS["jiang2019"] = Replication(
    paper="Jiang, Chiappa, Lattimore, György & Kohli (2019)",
    measure=_jiang_measure,
    table=_jiang_table,
    names=("degeneracy",),
    notes=(
        "Degeneracy: mean over users of |p_u(T) - p_u(0)| under interest dynamics without "
        "renormalisation (simulator.loop_measures.degeneracy)."
    ),
)


# --------------------------------------------------------------------------- Mansoury 2020
def _window_mean(run: FinishedRun, metric: str, first: bool, days: int) -> float:
    series = run.result.metric(metric)
    return float(series.iloc[:days].mean() if first else series.iloc[-days:].mean())


def _topic_counts(run: FinishedRun, clicked: bool, start: float, stop: float) -> np.ndarray:
    sessions = run.result.log.between(start, stop)
    world = run.result.world
    counts = np.zeros((world.n_users, world.config.n_topics))
    rows, positions = np.nonzero(sessions.click if clicked else np.ones_like(sessions.click))
    topics = world.item_topic[sessions.item[rows, positions]]
    np.add.at(counts, (sessions.user[rows], topics), 1.0)
    return counts


MANSOURY_WINDOWS = ("early", "late")
MANSOURY_SEGMENTS = (0, 1)
"""The majority and the minority segment, whose miscalibration drifts the table compares."""


def _mansoury_measure(run: FinishedRun) -> dict[str, Any]:
    days, window = run.spec.simulation.days, 3
    profile = _topic_counts(run, True, 0.0, float(days))
    segment = run.result.world.user_segment
    values: dict[str, Any] = {}
    spans = {"early": (1.0, 1.0 + window), "late": (days - window, days)}
    for name in MANSOURY_WINDOWS:
        start, stop = spans[name]
        mis = miscalibration(profile, _topic_counts(run, False, float(start), float(stop)))
        for s in MANSOURY_SEGMENTS:
            values[f"miscalibration_{name}_segment{s}"] = float(np.nanmean(mis[segment == s]))
        for metric in ("popularity_bias", "coverage"):
            values[f"{metric}_{name}"] = _window_mean(run, metric, name == "early", window)
    return values


def _late_minus_early(runs: list[Mapping[str, Any]], key: str) -> list[float]:
    return [v[key.format("late")] - v[key.format("early")] for v in runs]


def _mansoury_table(outcomes: list[Outcome]) -> pd.DataFrame:
    rows = []
    for variant in dict.fromkeys(o.variant for o in outcomes):
        runs = [o.values for o in outcomes if o.variant == variant]
        popularity = _late_minus_early(runs, "popularity_bias_{}")
        coverage = _late_minus_early(runs, "coverage_{}")
        drift = {
            s: _late_minus_early(runs, f"miscalibration_{{}}_segment{s}") for s in MANSOURY_SEGMENTS
        }
        gap = [m - j for m, j in zip(drift[1], drift[0], strict=True)]
        rows += [
            {
                "quantity": f"{variant}: popularity of recommendations, late - early",
                "published": "> 0",
                "recloop": mean_sd(popularity),
                "holds": str(bool(np.mean(popularity) > 0)),
            },
            {
                "quantity": f"{variant}: aggregate diversity (coverage), late - early",
                "published": "< 0",
                "recloop": mean_sd(coverage),
                "holds": str(bool(np.mean(coverage) < 0)),
            },
            {
                "quantity": f"{variant}: miscalibration drift, minority - majority",
                "published": "> 0",
                "recloop": mean_sd(gap),
                "holds": str(bool(np.mean(gap) > 0)),
            },
        ]
    return pd.DataFrame(rows)


REPLICATIONS["mansoury2020"] = Replication(
    paper="Mansoury, Abdollahpouri, Pechenizkiy, Mobasher & Burke (2020)",
    measure=_mansoury_measure,
    table=_mansoury_table,
    names=tuple(
        name
        for window in MANSOURY_WINDOWS
        for name in (
            *(f"miscalibration_{window}_segment{s}" for s in MANSOURY_SEGMENTS),
            f"popularity_bias_{window}",
            f"coverage_{window}",
        )
    ),
    notes=(
        "Early = days 1-3 (after the first retraining), late = the last 3 days. Segment 1 is the "
        "minority (its tastes are niche because fewer users share them). Miscalibration: "
        "KL(p || q~) of the topics a user clicked over the run (p) and the topics shown to them "
        "in the window (q), averaged per segment; drift = late - early."
    ),
)


# --------------------------------------------------------------------------- Joachims 2017
def _joachims_measure(run: FinishedRun) -> dict[str, Any]:
    window = 7
    return {"utility": _window_mean(run, "utility", False, window)}


def _joachims_table(outcomes: list[Outcome]) -> pd.DataFrame:
    frame = _by(outcomes, "utility")
    rows: list[dict[str, str]] = []
    for point in dict.fromkeys(frame.point):
        at = frame[frame.point == point].pivot(index="seed", columns="variant", values="value")
        label = point_text(point)
        if not {"ips", "naive", "oracle"} <= set(at.columns):
            continue  # a reduced experiment without the three learners has no table
        ips = at["ips"] / at["oracle"]
        naive = at["naive"] / at["oracle"]
        rows += [
            {
                "quantity": f"utility / full-information ({label}): propensity-weighted",
                "published": "-> 1",
                "recloop": mean_sd(ips),
                "holds": "",
            },
            {
                "quantity": f"utility / full-information ({label}): naive clicks",
                "published": "< propensity-weighted",
                "recloop": mean_sd(naive),
                "holds": "",
            },
            {
                "quantity": f"gap, propensity-weighted - naive ({label})",
                "published": "> 0, widens with eta",
                "recloop": mean_sd(ips - naive),
                "holds": str(bool((ips - naive).mean() > 0)),
            },
        ]
    return pd.DataFrame(rows)


REPLICATIONS["joachims2017"] = Replication(
    paper="Joachims, Swaminathan & Schnabel (2017)",
    measure=_joachims_measure,
    table=_joachims_table,
    names=("utility",),
    notes=(
        "Utility: the final week's mean expected clicks per session of the served slates "
        "(the `utility` metric), divided by the oracle's (full information) with the same seed."
    ),
)
