"""Each session's oracle utility, the truth behind ``regret``, computed three ways.

The oracle utility of a session is the expected clicks of the best allowed slate: the
`slate_size` live, unblocked items with the largest true logits, best first. Scoring the whole
catalog for every session makes every policy's cost linear in the catalog, so
:class:`OracleTruth` offers (docs/design.md, "Truth at scale"):

* ``"exact"`` (the default): score the live catalog for every session, as always;
* ``"cached"``: keep each user's best true logits over the live catalog and rescore a user only
  when their preference moved (checked row by row, whatever moved it), their consumed items
  grew, or the catalog changed in a way an update cannot follow (a rotation, a new offset);
  churn is followed incrementally. Exact in value, but not in the last bit: BLAS rounds a
  user's 16-term dot products differently in batches of different sizes;
* ``"sampled"``: score the catalog for a Bernoulli(`sample_rate`) sample of sessions (from its
  own stream) and leave the others NaN; the day's mean over sampled sessions is then an
  unbiased estimate of the day's mean (given at least one sampled session), with the interval
  of :func:`sampled_mean_interval`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulator.click_models import ClickModel, expected_clicks
from simulator.ranking import best_columns, best_values
from simulator.world import World

TRUTH_MODES = ("exact", "cached", "sampled")


def sampled_mean_interval(
    values: NDArray[np.float64], z: float = 1.96
) -> tuple[float, float, float]:
    """Mean over the sampled (non-NaN) sessions and its normal-approximation interval.

    Under Bernoulli sampling the sampled sessions, given their number m, are a simple random
    sample of the n sessions, so their mean is unbiased for the mean of all n and its standard
    error is ``sd / sqrt(m) * sqrt(1 - m / n)`` (finite-population correction).

    Returns
    -------
    tuple[float, float, float]
        (estimate, low, high); NaN when fewer than two sessions were sampled.
    """
    sampled = values[~np.isnan(values)]
    m, n = len(sampled), len(values)
    if m < 2:
        return float("nan"), float("nan"), float("nan")
    mean = float(sampled.mean())
    half = z * float(sampled.std(ddof=1)) / np.sqrt(m) * np.sqrt(1.0 - m / n)
    return mean, mean - half, mean + half


class OracleTruth:
    """The oracle utility of each session, exactly, from a per-user cache, or sampled.

    Parameters
    ----------
    world
        The world whose true logits define the best slate (read, never written).
    click_model
        The true click model the best slate's expected clicks are taken under.
    slate_size
        Items per slate.
    mode
        One of `TRUTH_MODES`.
    sample_rate
        Share of sessions scored in ``"sampled"`` mode.
    rng
        The stream the sample is drawn from (``"sampled"`` mode only).
    """

    def __init__(
        self,
        world: World,
        click_model: ClickModel,
        slate_size: int,
        mode: str = "exact",
        sample_rate: float = 1.0,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.world = world
        self.click_model = click_model
        self.slate_size = slate_size
        self.mode = mode
        self.sample_rate = sample_rate
        self.rng = rng
        self._cache: _BestLogits | None = None

    def __call__(
        self, users: NDArray[np.int64], blocked: NDArray[np.bool_] | None
    ) -> NDArray[np.float64]:
        """Oracle utility of the sessions of `users` (`blocked`: their blocked live items)."""
        if self.mode == "sampled":
            if self.rng is None:
                raise ValueError("sampled truth needs an rng")
            out = np.full(len(users), np.nan)
            rows = np.flatnonzero(self.rng.random(len(users)) < self.sample_rate)
            if len(rows):
                out[rows] = self._value(
                    self._best_logits(users[rows], None if blocked is None else blocked[rows])
                )
            return out
        if self.mode == "cached":
            if self._cache is None:
                self._cache = _BestLogits(self.world, 2 * self.slate_size)
            return self._value(self._cache.best(users, blocked, self.slate_size))
        return self._value(self._best_logits(users, blocked))

    def forget(self, users: NDArray[np.int64]) -> None:
        """Drop cached entries of `users` (their blocked items changed)."""
        if self._cache is not None:
            self._cache.count[users] = 0

    def _best_logits(
        self, users: NDArray[np.int64], blocked: NDArray[np.bool_] | None
    ) -> NDArray[np.float64]:
        logits = self.world.logits(users, self.world.live_items)
        if blocked is not None:
            np.putmask(logits, blocked, -np.inf)
        return best_values(logits, self.slate_size, overwrite=True)

    def _value(self, best_logits: NDArray[np.float64]) -> NDArray[np.float64]:
        best_attractiveness = self.world.attractiveness_from_logits(best_logits)
        return expected_clicks(self.click_model, best_attractiveness)


class _BestLogits:
    """Each user's `depth` best true logits over the live catalog (minus blocked items), best
    first, with the preference and catalog they were computed for.

    A user's entry holds the exact top ``count[u]`` of the current catalog; 0 means none. Churn
    keeps entries: retired items are dropped, new items merged in, and the entry shortened to
    the values no unlisted old item could beat.
    """

    def __init__(self, world: World, depth: int) -> None:
        self.world = world
        self.depth = depth
        n = world.n_users
        self.values = np.full((n, depth), -np.inf)
        self.items = np.zeros((n, depth), dtype=np.int64)
        self.count = np.zeros(n, dtype=np.int64)
        self.preferences = np.full_like(world.preferences, np.nan)
        self._catalog = self._fingerprint()

    def _fingerprint(self) -> tuple[object, ...]:
        w = self.world
        return (w.live_items, w.latent_rotation, w.offset, w.config.affinity)

    def best(
        self, users: NDArray[np.int64], blocked: NDArray[np.bool_] | None, k: int
    ) -> NDArray[np.float64]:
        """The `k` best logits of each session's user, refreshing stale entries first."""
        self._follow_catalog()
        w = self.world
        fresh = (self.count[users] >= min(k, len(w.live_items))) & (
            self.preferences[users] == w.preferences[users]
        ).all(axis=1)
        stale = np.flatnonzero(~fresh)
        if len(stale):
            # A user twice in one batch has the same preference and blocked items both times.
            _, first = np.unique(users[stale], return_index=True)
            rows = stale[first]
            self._score(users[rows], None if blocked is None else blocked[rows])
        return self.values[users, :k]

    def _score(self, users: NDArray[np.int64], blocked: NDArray[np.bool_] | None) -> None:
        w = self.world
        logits = w.logits(users, w.live_items)
        if blocked is not None:
            logits = np.where(blocked, -np.inf, logits)
        depth = min(self.depth, logits.shape[1])
        best = best_columns(logits, depth)
        self.values[users] = -np.inf
        self.values[users, :depth] = np.take_along_axis(logits, best, 1)
        self.items[users, :depth] = w.live_items[best]
        self.count[users] = depth
        self.preferences[users] = w.preferences[users]

    def _follow_catalog(self) -> None:
        now = self._fingerprint()
        before, self._catalog = self._catalog, now
        if now[0] is before[0]:
            return
        # A new rotation or offset moves every logit: no entry survives.
        if now[1] is not before[1] or now[2:] != before[2:]:
            self.count[:] = 0
            return
        cached = np.flatnonzero(self.count > 0)
        if len(cached) == 0:
            return
        old, new = before[0], now[0]
        assert isinstance(old, np.ndarray) and isinstance(new, np.ndarray)
        self._drop(cached, np.setdiff1d(old, new))
        self._merge(cached[self.count[cached] > 0], np.setdiff1d(new, old))

    def _drop(self, users: NDArray[np.int64], retired: NDArray[np.int64]) -> None:
        """Remove retired items from entries; what remains is still the exact top."""
        if len(retired) == 0:
            return
        listed = np.arange(self.depth) < self.count[users, None]
        keep = listed & ~np.isin(self.items[users], retired)
        order = np.argsort(~keep, axis=1, kind="stable")
        self.values[users] = np.where(
            np.take_along_axis(keep, order, 1),
            np.take_along_axis(self.values[users], order, 1),
            -np.inf,
        )
        self.items[users] = np.take_along_axis(self.items[users], order, 1)
        self.count[users] = keep.sum(axis=1)

    def _merge(self, users: NDArray[np.int64], added: NDArray[np.int64]) -> None:
        """Merge new items into entries, keeping only values no unlisted old item can beat."""
        if len(added) == 0 or len(users) == 0:
            return
        # New items are never consumed yet, so blocking cannot apply to them.
        values = np.concatenate([self.values[users], self.world.logits(users, added)], axis=1)
        items = np.concatenate(
            [self.items[users], np.broadcast_to(added, (len(users), len(added)))], 1
        )
        best = best_columns(values, self.depth)
        cutoff = self.values[users, self.count[users] - 1]
        merged = np.take_along_axis(values, best, 1)
        self.values[users] = merged
        self.items[users] = np.take_along_axis(items, best, 1)
        self.count[users] = (merged >= cutoff[:, None]).sum(axis=1)
