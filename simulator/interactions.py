"""Reading an interaction log for calibration: checks, exposures per pair, activity.

`read_interactions` turns a user-supplied table into what `simulator.calibration` fits: ids
renumbered 0..n-1, the exposures and clicks of each distinct (user, item) pair with their
examination, and each user's sessions per day. Bad input fails here, on one line naming the
column and the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray


class LogColumns(Protocol):
    """How to read a log: its column names and units (`simulator.calibration.CalibrationConfig`
    is one; the reader needs no more of it).
    """

    @property
    def user(self) -> str: ...  # noqa: D102

    @property
    def item(self) -> str: ...  # noqa: D102

    @property
    def time(self) -> str: ...  # noqa: D102

    @property
    def time_unit(self) -> float: ...  # noqa: D102

    @property
    def click(self) -> str: ...  # noqa: D102

    @property
    def rating(self) -> str: ...  # noqa: D102

    @property
    def rating_threshold(self) -> float: ...  # noqa: D102

    @property
    def position(self) -> str: ...  # noqa: D102

    @property
    def eta(self) -> float: ...  # noqa: D102

    @property
    def mean_sessions_per_day(self) -> float: ...  # noqa: D102


@dataclass(frozen=True)
class ExposurePairs:
    """The log aggregated to distinct (user, item) pairs, in renumbered ids."""

    user: NDArray[np.int64]
    item: NDArray[np.int64]
    shown: NDArray[np.float64]
    clicks: NDArray[np.float64]
    examined: NDArray[np.float64]
    """Sum of theta_r over the pair's exposures."""


@dataclass(frozen=True)
class Interactions:
    """A checked log: log id of renumbered user/item k is ``user_ids[k]`` / ``item_ids[k]``."""

    user_ids: NDArray[np.int64]
    item_ids: NDArray[np.int64]
    pairs: ExposurePairs
    click_rate: float
    """Clicks per exposure (row)."""
    n_exposures: int
    activity: NDArray[np.float64]
    """Sessions per day of each user."""
    days: float | None
    """Span of the timestamps in whole days; ``None`` without timestamps."""


def read_interactions(df: pd.DataFrame, config: LogColumns) -> Interactions:
    """Check `df` and summarise it for fitting; column names come from `config`."""
    users, items, clicks = _validated(df, config)
    user_ids, user = np.unique(users, return_inverse=True)
    item_ids, item = np.unique(items, return_inverse=True)
    pairs = _aggregate(user, item, clicks, _examination(df, config), len(item_ids))
    activity, days = _activity(df, config, user, len(user_ids))
    return Interactions(
        user_ids, item_ids, pairs, float(clicks.mean()), len(clicks), activity, days
    )


def _validated(
    df: pd.DataFrame, config: LogColumns
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """User ids, item ids and 0/1 clicks of a checked log."""
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"interactions must be a pandas DataFrame, got {type(df).__name__}")
    if len(df) == 0:
        raise ValueError("interactions must have at least one row, got an empty table")
    for column in (config.user, config.item):
        if column not in df:
            raise ValueError(f"interactions need a column {column!r}, got {list(df.columns)}")
    outcome = config.click if config.click in df else config.rating
    if outcome not in df:
        raise ValueError(
            f"interactions need a column {config.click!r} or {config.rating!r}, "
            f"got {list(df.columns)}"
        )
    ids = [_ids(df, column) for column in (config.user, config.item)]
    values = _finite(df, outcome)
    if outcome == config.click:
        bad = ~np.isin(values, (0.0, 1.0))
        if bad.any():
            raise ValueError(f"{outcome} must be 0/1 or true/false, got {float(values[bad][0])!r}")
        clicks = values
    else:
        clicks = (values >= config.rating_threshold).astype(float)
    if config.position in df:
        positions = _finite(df, config.position)
        if (positions < 1).any():
            raise ValueError(f"{config.position} must be >= 1, got {float(positions.min())!r}")
    if config.time in df and not pd.api.types.is_datetime64_any_dtype(df[config.time]):
        _finite(df, config.time)
    return ids[0], ids[1], clicks


def _finite(df: pd.DataFrame, column: str) -> NDArray[np.float64]:
    try:
        values = df[column].to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        raise ValueError(f"{column} must be numeric, got dtype {df[column].dtype}") from None
    bad = ~np.isfinite(values)
    if bad.any():
        raise ValueError(
            f"{column} must be finite, got {float(values[bad][0])!r} in row {np.argmax(bad)}"
        )
    return values


def _ids(df: pd.DataFrame, column: str) -> NDArray[np.int64]:
    values = _finite(df, column)
    bad = (values < 0) | (values != np.round(values))
    if bad.any():
        raise ValueError(
            f"{column} must be non-negative integer ids, got {float(values[bad][0])!r}"
        )
    return values.astype(np.int64)


def _examination(df: pd.DataFrame, config: LogColumns) -> NDArray[np.float64]:
    if config.position not in df:
        return np.ones(len(df))
    return _finite(df, config.position) ** -config.eta


def _aggregate(
    user: NDArray[np.int64],
    item: NDArray[np.int64],
    clicks: NDArray[np.float64],
    theta: NDArray[np.float64],
    n_items: int,
) -> ExposurePairs:
    keys, pair = np.unique(user * n_items + item, return_inverse=True)
    count = len(keys)
    return ExposurePairs(
        user=keys // n_items,
        item=keys % n_items,
        shown=np.bincount(pair, minlength=count).astype(float),
        clicks=np.bincount(pair, weights=clicks, minlength=count).astype(float),
        examined=np.bincount(pair, weights=theta, minlength=count).astype(float),
    )


def _activity(
    df: pd.DataFrame, config: LogColumns, user: NDArray[np.int64], n_users: int
) -> tuple[NDArray[np.float64], float | None]:
    """Sessions per day per user: distinct timestamps over the log's span; else counts scaled
    to `mean_sessions_per_day`. Rows sharing a user and a timestamp are one session (a slate).
    """
    if config.time not in df:
        counts = np.bincount(user, minlength=n_users).astype(float)
        return counts * (config.mean_sessions_per_day / counts.mean()), None
    times = df[config.time]
    if pd.api.types.is_datetime64_any_dtype(times):
        t = (times - times.min()).dt.total_seconds().to_numpy() / 86_400.0
    else:
        t = times.to_numpy(dtype=float) * config.time_unit
    sessions = pd.DataFrame({"user": user, "t": t}).drop_duplicates()
    per_user = np.bincount(sessions["user"].to_numpy(), minlength=n_users).astype(float)
    # A log of n days spans slightly under n days from its first session to its last.
    days = max(float(np.ceil(np.ptp(t))), 1.0)
    return per_user / days, days
