"""Metrics of users who come back, stay or leave: pure functions of sessions and user state.

They read the sessions of the log (time ``t``, ``user``), each session's true ``utility``
(expected clicks under the true click model, the `utility` metric's per-session value) and the
user state a world keeps (``World.user_joined``, ``World.user_departed`` and, with retention on,
``World.retention.satisfaction``). `user_dynamics_daily` gives the daily table, for the whole
population (segment ``all``) and per segment, in the tidy layout of `simulator.metrics`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

USER_DYNAMICS_METRICS = (
    "active_users",
    "sessions_per_active_user",
    "retention",
    "present_users",
    "churned_users",
    "satisfaction",
    "long_term_value",
)
"""The names `user_dynamics_daily` records, in order."""


def _in(t: NDArray[np.float64], start: float, stop: float) -> NDArray[np.bool_]:
    return (t >= start) & (t < stop)


def active_users(
    t: NDArray[np.float64], user: NDArray[np.integer], start: float, stop: float
) -> int:
    """Distinct users with at least one session in [start, stop)."""
    return len(np.unique(user[_in(t, start, stop)]))


def sessions_per_active_user(
    t: NDArray[np.float64], user: NDArray[np.integer], start: float, stop: float
) -> float:
    """Sessions in [start, stop) per active user of that window (NaN when nobody came)."""
    active = active_users(t, user, start, stop)
    return float(_in(t, start, stop).sum() / active) if active else float("nan")


def retention(
    t: NDArray[np.float64], user: NDArray[np.integer], start: float, width: float = 1.0
) -> float:
    """Share of the users active in [start, start + width) who have a session again in the
    next window [start + width, start + 2 width); NaN when nobody was active in the first.
    """
    first = np.unique(user[_in(t, start, start + width)])
    if len(first) == 0:
        return float("nan")
    back = np.unique(user[_in(t, start + width, start + 2 * width)])
    return float(np.isin(first, back).mean())


def present_users(joined: NDArray[np.float64], departed: NDArray[np.float64], at: float) -> int:
    """Users who have joined by `at` and not left by then."""
    return int(((joined <= at) & (departed > at)).sum())


def churned_users(departed: NDArray[np.float64], start: float, stop: float) -> int:
    """Users who left for good during [start, stop)."""
    return int(_in(departed, start, stop).sum())


def mean_satisfaction(
    satisfaction: NDArray[np.float64] | None,
    joined: NDArray[np.float64],
    departed: NDArray[np.float64],
    at: float,
) -> float:
    """Mean satisfaction s_u of the users present at `at` (NaN when it is not tracked)."""
    present = (joined <= at) & (departed > at)
    if satisfaction is None or not present.any():
        return float("nan")
    return float(satisfaction[present].mean())


def accumulated_value(
    user: NDArray[np.integer], utility: NDArray[np.float64], n_users: int
) -> NDArray[np.float64]:
    """Per user, the true utility summed over the given sessions."""
    return np.bincount(user, weights=utility, minlength=n_users).astype(float)


def long_term_value(
    accumulated: NDArray[np.float64], joined: NDArray[np.float64], at: float
) -> float:
    """Mean true utility accumulated per user since the start, over every user who joined by
    `at`: users who left stay in the mean, contributing nothing from their departure on, so a
    platform that loses users loses long-term value even if those who stay are well served.
    """
    members = joined <= at
    return float(accumulated[members].mean()) if members.any() else float("nan")


def user_dynamics_daily(
    day: int,
    t: NDArray[np.float64],
    user: NDArray[np.integer],
    accumulated: NDArray[np.float64],
    user_segment: NDArray[np.integer],
    joined: NDArray[np.float64],
    departed: NDArray[np.float64],
    satisfaction: NDArray[np.float64] | None,
    n_segments: int,
) -> pd.DataFrame:
    """Tidy rows (day, segment, metric, value) of `USER_DYNAMICS_METRICS` for day `day`.

    `t` and `user` are the sessions of days ``day - 1`` and ``day`` (retention is the share of
    day ``day - 1``'s active users who came back on day ``day``, NaN on day 0); `accumulated`
    is each user's true utility summed over all sessions up to the end of the day; user state
    arrays are read at the end of the day.
    """
    end = day + 1.0
    rows = []
    groups: list[tuple[str, NDArray[np.bool_] | None]] = [("all", None)]
    groups += [(str(s), user_segment == s) for s in range(n_segments)]
    for name, members in groups:
        users_kept = np.ones(len(joined), dtype=bool) if members is None else members
        keep = users_kept[user]
        ts, us = t[keep], user[keep]
        values = {
            "active_users": active_users(ts, us, day, end),
            "sessions_per_active_user": sessions_per_active_user(ts, us, day, end),
            "retention": retention(ts, us, day - 1.0) if day > 0 else float("nan"),
            "present_users": present_users(joined[users_kept], departed[users_kept], end),
            "churned_users": churned_users(departed[users_kept], day, end),
            "satisfaction": mean_satisfaction(
                None if satisfaction is None else satisfaction[users_kept],
                joined[users_kept],
                departed[users_kept],
                end,
            ),
            "long_term_value": long_term_value(accumulated[users_kept], joined[users_kept], end),
        }
        rows += [(day, name, metric, float(values[metric])) for metric in USER_DYNAMICS_METRICS]
    return pd.DataFrame(rows, columns=["day", "segment", "metric", "value"])
