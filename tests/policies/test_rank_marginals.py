"""Exact position marginals of Plackett-Luce and Beta races against brute-force enumeration."""

from __future__ import annotations

import itertools
from fractions import Fraction
from math import comb, factorial

import numpy as np
import pytest
from scipy import integrate, special, stats

from policies import beta_marginals, rank_marginals


def enumerate_plackett_luce(weights: np.ndarray, k: int) -> np.ndarray:
    """P(item at rank r) by summing over all ordered k-subsets (weights 0 never drawn)."""
    out = np.zeros((len(weights), k))
    live = [i for i in range(len(weights)) if weights[i] > 0]
    for order in itertools.permutations(live, k):
        probability, remaining = 1.0, list(live)
        for i in order:
            probability *= weights[i] / sum(weights[j] for j in remaining)
            remaining.remove(i)
        out[list(order), np.arange(k)] += probability
    return out


def _times(p: list[Fraction], q: list[Fraction]) -> list[Fraction]:
    out = [Fraction(0)] * (len(p) + len(q) - 1)
    for i, a in enumerate(p):
        for j, b in enumerate(q):
            out[i + j] += a * b
    return out


def _plus(p: list[Fraction], q: list[Fraction]) -> list[Fraction]:
    n = max(len(p), len(q))
    return [(p[i] if i < len(p) else 0) + (q[i] if i < len(q) else 0) for i in range(n)]


def _monomial(m: int, n: int) -> list[Fraction]:
    """x^m (1 - x)^n as polynomial coefficients."""
    return [Fraction(0)] * m + [Fraction(comb(n, j) * (-1) ** j) for j in range(n + 1)]


def enumerate_beta(a: list[int], b: list[int], k: int) -> np.ndarray:
    """P(item at rank r) for integer Beta keys, largest first: exact rational integrals over
    every set of r - 1 rivals above, with polynomial densities and CDFs."""
    n = len(a)
    cdfs = []
    for ai, bi in zip(a, b, strict=True):
        m = ai + bi - 1
        cdf = [Fraction(0)]
        for j in range(ai, m + 1):
            cdf = _plus(cdf, [c * comb(m, j) for c in _monomial(j, m - j)])
        cdfs.append(cdf)
    out = np.zeros((n, k))
    for i in range(n):
        norm = Fraction(factorial(a[i] + b[i] - 1), factorial(a[i] - 1) * factorial(b[i] - 1))
        density = [c * norm for c in _monomial(a[i] - 1, b[i] - 1)]
        others = [j for j in range(n) if j != i]
        for r in range(k):
            poly = [Fraction(0)]
            for above in itertools.combinations(others, r):
                term = [Fraction(1)]
                for j in others:
                    survival = _plus([1], [-c for c in cdfs[j]])
                    term = _times(term, survival if j in above else cdfs[j])
                poly = _plus(poly, term)
            out[i, r] = float(sum(c / (d + 1) for d, c in enumerate(_times(density, poly))))
    return out


@pytest.mark.parametrize("seed", range(12))
def test_plackett_luce_table_matches_enumeration(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 7))
    k = int(rng.integers(1, n + 1))
    weights = np.exp(rng.normal(0.0, [0.3, 1.0, 3.0, 6.0][seed % 4], n))
    exact = enumerate_plackett_luce(weights, k)
    assert np.abs(rank_marginals.plackett_luce_table(weights, k) - exact).max() < 1e-7


@pytest.mark.parametrize("seed", range(6))
def test_plackett_luce_rows_match_enumeration_with_items_out_of_the_race(seed):
    rng = np.random.default_rng(seed)
    n, k, rows = 6, 3, 8
    weights = np.exp(rng.normal(0.0, 2.0, (rows, n)))
    weights[rng.random((rows, n)) < 0.3] = 0.0
    weights[:, :3] += 0.1
    shown = np.array([rng.permutation(n)[:k] for _ in range(rows)])
    tables = [enumerate_plackett_luce(w, k) for w in weights]
    exact = np.array([t[s, np.arange(k)] for t, s in zip(tables, shown, strict=True)])
    assert np.abs(rank_marginals.plackett_luce_shown(weights, shown) - exact).max() < 1e-7


@pytest.mark.parametrize("seed", range(3))
def test_plackett_luce_rows_agree_with_the_shared_table_when_rows_mix_heavy_and_light_items(seed):
    # Rows of 300 items whose weights spread differently: from one heavy item to dozens, so
    # each row splits its rivals into power sums and one-by-one items in its own way.
    rng = np.random.default_rng(seed)
    n_items, k = 300, 5
    spreads = np.array([0.5, 1.5, 3.0, 5.0])
    weights = np.exp(rng.normal(0.0, 1.0, (len(spreads), n_items)) * spreads[:, None])
    shown = np.array([rng.permutation(n_items)[:k] for _ in spreads])
    shown[:, 0] = np.argmax(weights, axis=1)  # a heavy item among the shown ones
    got = rank_marginals.plackett_luce_shown(weights, shown)
    for row, (w, s) in enumerate(zip(weights, shown, strict=True)):
        expected = rank_marginals.plackett_luce_table(w, k)[s, np.arange(k)]
        assert np.abs(got[row] - expected).max() < 1e-9


def grouped_plackett_luce(values: list[float], sizes: list[int], k: int) -> np.ndarray:
    """P(a given item of group g at rank r) (G, k) when group g holds sizes[g] items of weight
    values[g]: exact, by following how many of each group the first r draws took (by symmetry
    a given item of group g is still in the race with probability (left in g) / sizes[g])."""
    out = np.zeros((len(values), k))
    states = {tuple(0 for _ in sizes): 1.0}
    for r in range(k):
        following: dict[tuple[int, ...], float] = {}
        for state, probability in states.items():
            left = [n - s for n, s in zip(sizes, state, strict=True)]
            total = sum(v * m for v, m in zip(values, left, strict=True))
            for g, (v, m) in enumerate(zip(values, left, strict=True)):
                if m == 0:
                    continue
                out[g, r] += probability * v / total * m / sizes[g]
                taken = (*state[:g], state[g] + 1, *state[g + 1 :])
                following[taken] = following.get(taken, 0.0) + probability * m * v / total
        states = following
    return out


@pytest.mark.parametrize(
    ("values", "sizes"),
    [
        ([1.0], [20]),  # every rank is 1/20 for everyone
        ([1.0, 1.1, 1.25, 1.6], [4, 6, 5, 5]),  # near ties, as top_m = 20 at temperature 0.01
        ([1.0, 2.0, 30.0], [12, 7, 3]),
        ([1.0, 7.0, 400.0], [1900, 90, 10]),  # 2,000 candidates: light ones in power sums
        ([1e-3, 1.0], [1990, 10]),
    ],
)
def test_plackett_luce_rows_match_exact_marginals_of_large_races_with_ties(values, sizes):
    # Races far too large to enumerate, but whose items come in a few groups of equal weight,
    # where following how many of each group were drawn is exact.
    k = 10
    exact = grouped_plackett_luce(values, sizes, k)
    group = np.repeat(np.arange(len(sizes)), sizes)
    weights = np.array(values)[group]
    rng = np.random.default_rng(len(group))
    shown = np.array([rng.permutation(len(group))[:k] for _ in range(6)])
    shown[0] = np.argsort(-weights, kind="stable")[:k]
    rows = rank_marginals.plackett_luce_shown(np.tile(weights, (len(shown), 1)), shown)
    assert np.abs(rows - exact[group[shown], np.arange(k)]).max() < 1e-9
    table = rank_marginals.plackett_luce_table(weights, k)
    assert np.abs(table - exact[group]).max() < 1e-9


def test_plackett_luce_rows_do_not_depend_on_the_other_rows():
    # Each row gets the nodes its own weights need, so a row's answer is the same whichever
    # rows it is computed with.
    rng = np.random.default_rng(3)
    n_items, k = 40, 10
    weights = np.exp(rng.normal(0.0, [[0.1], [1.0], [4.0], [8.0]], (4, n_items)))
    shown = np.array([rng.permutation(n_items)[:k] for _ in range(4)])
    together = rank_marginals.plackett_luce_shown(weights, shown)
    for row in range(4):
        alone = rank_marginals.plackett_luce_shown(weights[row : row + 1], shown[row : row + 1])
        np.testing.assert_array_equal(alone[0], together[row])


@pytest.mark.parametrize("spread", [0.05, 0.5, 2.0, 6.0])
def test_plackett_luce_nodes_end_only_once_k_arrivals_are_sure(spread):
    # Beyond the last node fewer than k of an item's rivals may have arrived only with
    # probability below TAIL: then at most k items in all have arrived, counted exactly here.
    rng = np.random.default_rng(int(10 * spread))
    k = 10
    weights = np.exp(rng.normal(0.0, spread, (8, 25)))
    weights /= weights.sum(axis=1, keepdims=True)
    end = np.exp(rank_marginals.plackett_luce_end(weights, k))
    arrived = -np.expm1(-weights * end[:, None])
    for p in arrived:
        counts = np.zeros(k + 1)
        counts[0] = 1.0
        for q in p:
            counts[1:] = counts[1:] * (1.0 - q) + counts[:-1] * q
            counts[0] *= 1.0 - q
        assert counts.sum() < rank_marginals.TAIL


@pytest.mark.parametrize("seed", range(10))
def test_beta_race_matches_exact_integrals(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 5))
    k = int(rng.integers(1, n + 1))
    a, b = rng.integers(1, 8, n), rng.integers(1, 12, n)
    exact = enumerate_beta(a.tolist(), b.tolist(), k)
    beta = beta_marginals.beta_race(a.astype(float), b.astype(float), k)
    assert np.abs(beta.table() - exact).max() < 1e-9
    assert (
        np.abs(beta_marginals.beta_table(a.astype(float), b.astype(float), k) - exact).max() < 1e-9
    )
    shown = np.array([rng.permutation(n)[:k] for _ in range(4)])
    values = beta.shown(np.zeros((4, n), dtype=bool), shown)
    assert np.abs(values - exact[shown, np.arange(k)]).max() < 1e-9


@pytest.mark.parametrize("seed", range(8))
def test_beta_table_of_items_sharing_posteriors_matches_exact_integrals(seed):
    # Items with equal counts are one key, counted as a binomial: a few distinct posteriors
    # shared by up to six items each, the uniform (never shown) one among them for half.
    rng = np.random.default_rng(100 + seed)
    n_keys = int(rng.integers(1, 4))
    a, b = rng.integers(1, 6, n_keys), rng.integers(1, 9, n_keys)
    if seed % 2:
        a[0], b[0] = 1, 1
    copies = rng.integers(1, 7 - n_keys, n_keys)
    a, b = np.repeat(a, copies), np.repeat(b, copies)
    k = int(rng.integers(1, min(len(a), 5) + 1))
    exact = enumerate_beta(a.tolist(), b.tolist(), k)
    got = beta_marginals.beta_table(a.astype(float), b.astype(float), k)
    assert np.abs(got - exact).max() < 1e-9


def test_beta_race_with_blocked_items_races_only_the_rest():
    rng = np.random.default_rng(0)
    a, b = rng.integers(1, 8, 5), rng.integers(1, 12, 5)
    blocked = np.array([[False, True, False, False, False], [False, False, False, True, True]])
    shown = np.array([[3, 0, 2], [1, 2, 0]])
    beta = beta_marginals.beta_race(a.astype(float), b.astype(float), 3, n_blocked=2)
    got = beta.shown(blocked, shown)
    for row in range(2):
        keep = np.flatnonzero(~blocked[row])
        exact = enumerate_beta(a[keep].tolist(), b[keep].tolist(), 3)
        spots = np.searchsorted(keep, shown[row])
        assert np.abs(got[row] - exact[spots, np.arange(3)]).max() < 1e-7


def test_items_that_cannot_race_get_zero_and_do_not_compete():
    a, b = np.array([2.0, 3.0, 1.0, 5.0]), np.array([5.0, 2.0, 1.0, 4.0])
    beta = beta_marginals.beta_race(a, b, 2, n_blocked=1)
    blocked = np.array([[False, False, True, False]])
    with_dummy = beta.shown(blocked, np.array([[2, 1]]))
    exact = enumerate_beta([2, 3, 5], [5, 2, 4], 2)
    assert with_dummy[0, 0] == 0.0
    assert with_dummy[0, 1] == pytest.approx(exact[1, 1], abs=1e-7)
    no_candidate = beta.shown(np.zeros((1, 4), dtype=bool), np.array([[-1, 0]]))
    assert no_candidate[0, 0] == 0.0
    assert no_candidate[0, 1] == pytest.approx(enumerate_beta([2, 3, 1, 5], [5, 2, 1, 4], 2)[0, 1])


def test_tables_of_large_catalogs_are_distributions():
    rng = np.random.default_rng(0)
    k = 10
    plackett_luce = rank_marginals.plackett_luce_table(np.exp(rng.normal(0.0, 1.0, 2000)), k)
    clicks = rng.poisson(20 * rng.uniform(0.2, 2.0, 2000))
    beta = beta_marginals.beta_race(1.0 + clicks, 1.0 + rng.poisson(400, 2000), k).table()
    for table in (plackett_luce, beta):
        assert np.abs(table.sum(axis=0) - 1.0).max() < 1e-8
        assert table.sum(axis=1).max() <= 1.0 + 1e-8
        assert table.min() >= 0.0


def test_sure_count_bounds_the_lower_tail():
    for k in (1, 3, 10, 20):
        assert stats.poisson.cdf(k - 1, rank_marginals.sure_count(k)) <= rank_marginals.TAIL * (
            1 + 1e-9
        )


@pytest.mark.parametrize("examined", [False, True])
def test_beta_table_agrees_with_the_item_by_item_race_on_a_large_catalog(examined):
    # 2,000 candidates as on the standard world: raw counts share few posteriors (integers),
    # examination-weighted ones almost none; never-shown items keep the uniform prior.
    rng = np.random.default_rng(int(examined))
    k = 10
    trials = rng.poisson(rng.uniform(0.0, 40.0, 2000)) * (rng.random(2000) < 0.95)
    clicks = rng.binomial(trials, rng.uniform(0.01, 0.2, 2000))
    failures = (trials - clicks) * (rng.uniform(0.6, 1.0, 2000) if examined else 1.0)
    a, b = 1.0 + clicks, 1.0 + failures
    table = beta_marginals.beta_table(a, b, k)
    race = beta_marginals.beta_race(a, b, k).table()
    assert np.abs(table - race).max() < 1e-12
    # Each rank is someone's: 2,000 entries' quadrature errors (~1e-12 each) add up.
    assert np.abs(table.sum(axis=0) - 1.0).max() < 1e-8


def integrate_beta(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """P(item at rank r) for any Beta keys, largest first, by adaptive quadrature of
    f_i(x) P(exactly r of the others above x) over each item's support."""
    out = np.zeros((len(a), k))
    for i in range(len(a)):
        others = np.delete(np.arange(len(a)), i)

        def integrand(x: float, i: int = i, others: np.ndarray = others) -> np.ndarray:
            counts = np.zeros(k)
            counts[0] = 1.0
            for p in special.betaincc(a[others], b[others], x):
                counts[1:] = counts[1:] * (1.0 - p) + counts[:-1] * p
                counts[0] *= 1.0 - p
            return stats.beta.pdf(x, a[i], b[i]) * counts

        out[i] = integrate.quad_vec(integrand, 0.0, 1.0, epsabs=1e-14, epsrel=1e-12)[0]
    return out


@pytest.mark.parametrize("seed", range(6))
def test_beta_tables_of_examination_weighted_posteriors_match_adaptive_quadrature(seed):
    # Weighted trials make b fractional: densities (1 - x)^(b - 1) are not smooth at x = 1,
    # where sparsely shown items (b near 1) keep their mass; one item is never shown.
    rng = np.random.default_rng(200 + seed)
    n = int(rng.integers(3, 6))
    k = int(rng.integers(1, n + 1))
    a = 1.0 + rng.integers(0, 5, n).astype(float)
    b = 1.0 + rng.integers(0, 6, n) * rng.uniform(0.1, 1.0, n)
    a[0], b[0] = 1.0, 1.0
    exact = integrate_beta(a, b, k)
    assert np.abs(beta_marginals.beta_table(a, b, k) - exact).max() < 1e-9
    assert np.abs(beta_marginals.beta_race(a, b, k).table() - exact).max() < 1e-9
