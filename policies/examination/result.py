"""Bootstrap confidence intervals for an examination curve, and the tidy result they come in.

Clicks of one user are correlated (the same tastes behind every session), and impressions of
one session share a user and a moment, so resampling impressions would understate the
uncertainty. :func:`bootstrap` resamples whole users (or sessions) with replacement (the
cluster bootstrap; Efron & Tibshirani 1993, "An Introduction to the Bootstrap", ch. 8 and
Field & Welsh 2007, "Bootstrapping clustered data"), refits the estimator on each replicate and
reports percentile intervals, in a :class:`CurveEstimate` that prints as a table and plots.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from policies.examination.estimators import CurveEstimator, impressions_of
from policies.examination.support import NotIdentifiableWarning
from simulator.records import Impressions, TrainingData
from simulator.validation import require_choice, require_int, require_probability

RESAMPLING_UNITS = ("user", "session")


@dataclass(frozen=True)
class CurveEstimate:
    """An estimated examination curve theta_r / theta_1 with a confidence interval per position.

    `support` counts the impressions at each position that identify it
    (:func:`~policies.examination.support.identifying_support`); `identified` is False where
    there are none, and the interval there is meaningless (the estimator warned).
    """

    estimator: str
    estimate: NDArray[np.float64]
    ci_low: NDArray[np.float64]
    ci_high: NDArray[np.float64]
    support: NDArray[np.int64]
    identified: NDArray[np.bool_]
    level: float
    n_bootstrap: int

    def __post_init__(self) -> None:
        k = len(self.estimate)
        for name in ("ci_low", "ci_high", "support", "identified"):
            if len(getattr(self, name)) != k:
                raise ValueError(f"{name} has {len(getattr(self, name))} positions, estimate {k}")

    @property
    def position(self) -> NDArray[np.int64]:
        """Positions 1..k, the rows of the estimate."""
        return np.arange(1, len(self.estimate) + 1)

    def to_frame(self) -> pd.DataFrame:
        """One row per position: position, estimate, ci_low, ci_high, support, identified."""
        return pd.DataFrame(
            {
                "position": self.position,
                "estimate": self.estimate,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "support": self.support,
                "identified": self.identified,
            }
        )

    def __str__(self) -> str:
        header = (
            f"{self.estimator}: {self.level:.0%} bootstrap intervals, {self.n_bootstrap} replicates"
        )
        return header + "\n" + self.to_frame().to_string(index=False, float_format="{:.3f}".format)

    def plot(self, ax: Any = None, truth: NDArray[np.float64] | None = None) -> Any:
        """The curve with its interval band (and the true curve, if given); returns the axes."""
        if ax is None:
            import matplotlib.pyplot as plt

            ax = plt.figure(figsize=(5, 3.5)).add_subplot()
        line = ax.plot(self.position, self.estimate, marker="o", label=self.estimator)[0]
        ax.fill_between(
            self.position, self.ci_low, self.ci_high, alpha=0.25, color=line.get_color()
        )
        if truth is not None:
            ax.plot(self.position, truth, "k--", label="truth")
        ax.set_xlabel("position")
        ax.set_ylabel("examination relative to the top")
        ax.legend()
        return ax


def bootstrap(
    estimator: CurveEstimator,
    log: TrainingData | Impressions,
    rng: np.random.Generator,
    n_bootstrap: int = 100,
    level: float = 0.95,
    unit: str = "user",
) -> CurveEstimate:
    """Fit `estimator` on `log` and on `n_bootstrap` resamples of its users (or sessions);
    percentile intervals at `level`. The estimator passed in is fitted on the whole log.
    """
    require_int("n_bootstrap", n_bootstrap, 2)
    require_probability("level", level)
    require_choice("unit", unit, RESAMPLING_UNITS)
    estimator.fit(log)
    impressions = impressions_of(log)
    cluster = impressions.user if unit == "user" else impressions.session
    clusters, members = _members(np.asarray(cluster))
    replicates = np.empty((n_bootstrap, impressions.slate_size))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotIdentifiableWarning)
        for b in range(n_bootstrap):
            drawn = rng.integers(len(clusters), size=len(clusters))
            rows = np.concatenate([members[c] for c in drawn]) if len(drawn) else np.array([], int)
            replicates[b] = copy.deepcopy(estimator).fit(_subset(log, rows)).curve_
    tail = (1.0 - level) / 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        low, high = np.nanquantile(replicates, [tail, 1.0 - tail], axis=0)
    return CurveEstimate(
        estimator=repr(estimator),
        estimate=estimator.curve_,
        ci_low=low,
        ci_high=high,
        support=estimator.support_,
        identified=estimator.identified_,
        level=level,
        n_bootstrap=n_bootstrap,
    )


def _members(cluster: NDArray[np.integer]) -> tuple[NDArray[np.int64], list[NDArray[np.int64]]]:
    """Distinct cluster ids and the session rows of each."""
    order = np.argsort(cluster, kind="stable")
    ids, starts = np.unique(cluster[order], return_index=True)
    return ids, np.split(order, starts[1:])


def _subset(log: TrainingData | Impressions, rows: NDArray[np.int64]) -> TrainingData | Impressions:
    if isinstance(log, TrainingData):
        return TrainingData(log.impressions.subset(rows), log.features, log.now, log.start)
    return log.subset(rows)
