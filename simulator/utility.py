"""Known versus true utility: what users believe an item is worth, and what it is worth.

Chaney, Stewart & Engelhardt (2018) give every user-item pair a true utility V_ui in [0, 1] and
let users act on a *known* utility that is only a fraction of it,

    V*_ui = eta_ui * V_ui,    eta_ui ~ Beta'(mu_eta, sigma_eta),

with one fraction per user-item pair and the published mu_eta = 0.98, sigma_eta = 0.1 (so most
users know most of an item's worth and a few badly underrate it). Beta'(mu, sigma) is their Beta
distribution parameterised by its mean and standard deviation (footnote 3):

    a = ((1 - mu) / sigma ** 2 - 1 / mu) * mu ** 2,    b = a * (1 / mu - 1).

The formula and parameters are those of the Chaney et al. simulation as ported by T-RECS
(Lucherini et al. 2021, the ``mu_n`` setting and ``mu_sigma_to_alpha_beta`` of its replication
code). Users choose by known utility; the welfare that matters is the true utility of what they
consumed, which :func:`consumed_utility` averages.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulator.validation import require_positive


def beta_parameters(mean: float | NDArray, sd: float) -> tuple[NDArray, NDArray]:
    """Shape parameters (a, b) of the Beta distribution with this mean and standard deviation.

    Chaney et al. (2018), footnote 3. A Beta with mean mu has variance below mu (1 - mu), so
    `sd` must satisfy sd ** 2 < mean * (1 - mean) for every mean (else a <= 0).
    """
    mu = np.asarray(mean, dtype=float)
    if not (np.isfinite(mu).all() and ((mu > 0) & (mu < 1)).all()):
        raise ValueError(f"mean must lie in (0, 1), got {mean!r}")
    require_positive("sd", sd)
    if not np.isfinite(sd) or (sd**2 >= mu * (1 - mu)).any():
        raise ValueError(f"sd must be finite with sd ** 2 < mean * (1 - mean), got {sd!r}")
    a = ((1 - mu) / sd**2 - 1 / mu) * mu**2
    return a, a * (1 / mu - 1)


def known_fraction(
    shape: tuple[int, ...], rng: np.random.Generator, mean: float = 0.98, sd: float = 0.1
) -> NDArray[np.float64]:
    """Draw eta_ui ~ Beta'(mean, sd): the fraction of each pair's true utility a user knows."""
    a, b = beta_parameters(mean, sd)
    return rng.beta(a, b, size=shape)


def consumed_utility(true_utility: NDArray[np.float64], consumed: NDArray[np.bool_]) -> float:
    """Mean true utility of the consumed items, NaN when nothing was consumed.

    `true_utility` holds V_ui of each shown item (sessions x positions) and `consumed` marks the
    ones consumed. This is Chaney et al.'s welfare measure: a recommender can raise what users
    pick by known utility while lowering what they get.
    """
    if true_utility.shape != consumed.shape:
        raise ValueError(
            f"consumed must have the shape of true_utility {true_utility.shape}, "
            f"got {consumed.shape}"
        )
    if not consumed.any():
        return float("nan")
    return float(true_utility[consumed].mean())
