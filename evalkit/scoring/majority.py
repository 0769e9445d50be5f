"""maj@k: the expected accuracy of a majority vote over k samples drawn without replacement from a
problem's n samples, computed exactly from the problem's answer counts.

Harnesses usually vote over the *first* k samples: a single draw of the k-subset, so maj@1 is the first
sample's correctness rather than pass@1, and the other n - k samples are wasted. Averaging over all
C(n, k) subsets uses every sample and estimates majority-vote accuracy with k samples without bias, the
way pass@k's estimator does for "any of k". In particular maj@1 = pass@1 and maj@n is the full vote.

Votes: samples are grouped by extracted answer (class sizes m_i); `abstain` samples gave no answer and
do not vote. The winners are the classes with the most votes; with t tied winners of which w are correct
a subset scores w / t (NeMo-Skills' fractional ties); a subset without any vote scores 0.

Computation. For a correct class j that receives v of the k votes, every other class must get at most
v, and each other class at exactly v is a tie that divides the credit. Give class j a tie-break priority
u ~ Uniform(0, 1): then 1 / (1 + t) = E[u^t], and

    maj@k = sum_j sum_v C(m_j, v) * Int_0^1 [x^(k-v)] (1+x)^(abstain + small_v)
                  * prod_{i != j, m_i >= v} ( sum_{c<v} C(m_i, c) x^c  +  u C(m_i, v) x^v ) du  /  C(n, k)

where small_v pools the classes too small to reach v (their factor is (1+x)^m_i). The integrand is a
polynomial in u of degree at most the number of classes that can tie, so Gauss-Legendre quadrature with
half that many nodes plus one is exact. Classes of equal size share one factor raised to a power.
Coefficients are carried with a log scale, so C(1024, 512) (~1e307) never overflows.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import Counter
from functools import lru_cache
from typing import Sequence

import numpy as np

Poly = tuple[np.ndarray, float]  # coefficients scaled to max 1, and the log of the scale


def majority_at_k(sizes: Sequence[int], correct: Sequence[bool], abstain: int, ks: Sequence[int]) -> np.ndarray:
    """maj@k of one problem for each k: class sizes, which classes are correct, non-voting samples."""
    key = tuple(sorted(zip((int(m) for m in sizes), (bool(c) for c in correct))))
    return np.array([_maj(key, int(abstain), int(k)) for k in ks])


def votes(answers: Sequence[object], correct: Sequence[bool]) -> tuple[list[int], list[bool], int]:
    """majority_at_k's input from one problem's samples: answer class sizes, which classes hold a
    correct sample, and how many samples have no answer (None)."""
    sizes: dict[object, int] = {}
    right: dict[object, bool] = {}
    for a, ok in zip(answers, correct):
        if a is not None:
            sizes[a] = sizes.get(a, 0) + 1
            right[a] = right.get(a, False) or bool(ok)
    return list(sizes.values()), [right[a] for a in sizes], sum(a is None for a in answers)


@lru_cache(maxsize=65536)
def _maj(classes: tuple[tuple[int, bool], ...], abstain: int, k: int) -> float:
    sizes = [m for m, _ in classes]
    n = abstain + sum(sizes)
    if k < 1 or k > n:
        raise ValueError(f"maj@{k} needs 1 <= k <= n = {n}")
    winners = [j for j, (_, ok) in enumerate(classes) if ok]
    if not winners:
        return 0.0
    if len(classes) == len(winners):  # every vote is right: only an all-abstaining draw scores 0
        return 1.0 - math.comb(abstain, k) / math.comb(n, k)
    if k == n:
        top = max(sizes)
        tied = [ok for m, ok in classes if m == top]
        return sum(tied) / len(tied)
    log_cnk = _log_comb(n, k)
    return float(min(1.0, sum(_class_wins(sizes, j, abstain, k, log_cnk) for j in winners)))


NEGLIGIBLE = math.log(1e-18)  # a vote count whose hypergeometric probability is below this adds < 1e-18


def _class_wins(sizes: list[int], j: int, abstain: int, k: int, log_cnk: float) -> float:
    """P(class j wins the vote of a random k-subset), ties counted fractionally.

    A vote count v contributes at most its hypergeometric probability C(m_j, v) C(rest, k - v) / C(n, k)
    (the integral is a share of the other subsets), so counts below NEGLIGIBLE are skipped: the result
    moves by less than 1e-15, under double precision's own rounding of the sum."""
    m_j = sizes[j]
    others = sorted(sizes[:j] + sizes[j + 1:])
    rest_pool = abstain + sum(others)
    below = [0, *itertools.accumulate(others)]  # below[i]: samples in the i smallest other classes
    largest = others[-1] if others else 0
    total = 0.0
    for v in range(max(1, k - rest_pool), min(k, m_j, largest) + 1):  # another class can still match j's votes
        rest = k - v
        log_pmf = _log_comb(m_j, v) + _log_comb(rest_pool, rest) - log_cnk
        if log_pmf < NEGLIGIBLE:
            continue
        cut = bisect.bisect_left(others, v)
        big = Counter(others[cut:])
        log_w = _integral(abstain + below[cut], big, v, rest, min(len(others) - cut, rest // v))
        if log_w is not None:
            total += math.exp(_log_comb(m_j, v) + log_w - log_cnk)
    # v beyond every other class: j wins outright; the hypergeometric tail P(V > largest) in closed form
    v = np.arange(max(largest + 1, k - rest_pool), min(k, m_j) + 1)
    if len(v):
        logs = _log_comb_vec(m_j, v) + _log_comb_vec(rest_pool, k - v) - log_cnk
        total += float(np.exp(logs).sum())
    return total


def _log_comb_vec(n: int, k: np.ndarray) -> np.ndarray:
    from math import lgamma

    return np.array([lgamma(n + 1) - lgamma(x + 1) - lgamma(n - x + 1) for x in k.tolist()])


def _integral(pooled: int, big: Counter, v: int, rest: int, can_tie: int) -> float | None:
    """log of Int_0^1 [x^rest] (1+x)^pooled prod_i f_i(x, u) du, by Gauss-Legendre over u."""
    nodes, weights = _gauss01(can_tie // 2 + 1)
    base = _binomial(pooled, rest)
    logs = []
    for u, w in zip(nodes, weights):
        poly = base
        for m, count in big.items():
            poly = _mul(poly, _power(_factor(m, v, float(u), rest), count, rest), rest)
        if len(poly[0]) > rest and poly[0][rest] > 0:
            logs.append(math.log(w) + math.log(poly[0][rest]) + poly[1])
    if not logs:
        return None
    top = max(logs)
    return top + math.log(sum(math.exp(x - top) for x in logs))


@lru_cache(maxsize=64)
def _gauss01(q: int) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(q)
    return (x + 1) / 2, w / 2


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


@lru_cache(maxsize=4096)
def _log_binomial_row(m: int, top: int) -> np.ndarray:
    """log C(m, c) for c = 0..min(m, top) (cached: callers must not modify it)."""
    c = np.arange(1, min(m, top) + 1, dtype=np.float64)
    return np.concatenate([[0.0], np.cumsum(np.log((m - c + 1) / c))])


def _scaled(logs: np.ndarray) -> Poly:
    top = float(logs.max())
    return np.exp(logs - top), top


@lru_cache(maxsize=4096)
def _binomial(m: int, top: int) -> Poly:
    """(1+x)^m truncated after x^top."""
    return _scaled(_log_binomial_row(m, top))


def _factor(m: int, v: int, u: float, top: int) -> Poly:
    """sum_{c<v} C(m, c) x^c + u C(m, v) x^v, truncated after x^top."""
    logs = _log_binomial_row(m, min(v, top))
    if len(logs) > v:
        logs = logs.copy()
        logs[v] += math.log(u)
    return _scaled(logs)


def _mul(a: Poly, b: Poly, top: int) -> Poly:
    prod = np.convolve(a[0], b[0])[: top + 1]
    peak = prod.max()
    return prod / peak, a[1] + b[1] + math.log(peak)


def _power(p: Poly, e: int, top: int) -> Poly:
    out: Poly = (np.ones(1), 0.0)
    while e:
        if e & 1:
            out = _mul(out, p, top)
        e >>= 1
        if e:
            p = _mul(p, p, top)
    return out
