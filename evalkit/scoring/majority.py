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
v, and each other class at exactly v is a tie that divides the credit (j's share is 1 / (1 + t) for t
tied others):

    maj@k = sum_j sum_v P(V_j = v) * E[ 1 / (1 + T) ; every other class X_i <= v  |  V_j = v ]

where, given V_j = v, the other k - v votes are a hypergeometric draw from the other classes and the
non-voting samples. Classes too small to reach v never count and are pooled with the non-voting ones.

Where the work goes. Most vote counts v are not contested: j almost surely loses (the largest other
class outvotes it but with a probability under 1e-18) or almost surely wins (no other class reaches v
but with such a probability); Chernoff-Hoeffding tail bounds find them in a few operations per v, the
first add nothing and the second their probability P(V_j = v) (exact integers at the mode, consecutive
ratios elsewhere). The contested v go to majority_window.py: shallow ones of all problems together
through one dynamic programme, deep ones one at a time through a programme over independent
binomials. maj@k at the default k (1, 4, ..., 1024, 2000) of 500 problems x 2,000 samples takes about
1.6 CPU s where problems have a few answers and 13 s where hard ones have hundreds (168 s before this
programme; benchmarks/bench_majority.py); tests/test_passk.py holds it to 1e-13 of exact rationals.
"""

from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache
from typing import Sequence

import numpy as np

from .majority_window import Contested, from_mode, window_wins


def majority_at_k(sizes: Sequence[int], correct: Sequence[bool], abstain: int, ks: Sequence[int]) -> np.ndarray:
    """maj@k of one problem for each k: class sizes, which classes are correct, non-voting samples."""
    return majority_matrix([(sizes, correct, abstain)], ks)[0]


def majority_matrix(problems: Sequence[tuple[Sequence[int], Sequence[bool], int]], ks: Sequence[int]) -> np.ndarray:
    """maj@k of many problems, shape (problems, len(ks)): the contested vote counts of all of them are
    counted together (majority_window.py), the rest in closed form; equal problems are counted once."""
    out = np.zeros((len(problems), len(ks)))
    pending: dict[tuple, list[tuple[int, int]]] = {}
    for p, (sizes, correct, abstain) in enumerate(problems):
        classes = tuple(sorted(zip((int(m) for m in sizes), (bool(c) for c in correct))))
        for col, k in enumerate(ks):
            key = (classes, int(abstain), int(k))
            if key in _MEMO:
                out[p, col] = _MEMO[key]
            else:
                pending.setdefault(key, []).append((p, col))
    outright, items, owners = {}, [], []
    for key in pending:
        value, parts = _split(*key)
        outright[key] = value
        for item in parts:
            items.append(item)
            owners.append(key)
    contested = window_wins(items)
    for key, extra in zip(owners, contested.tolist()):
        outright[key] += extra
    if len(_MEMO) > 65536:
        _MEMO.clear()
    for key, places in pending.items():
        _MEMO[key] = value = float(min(1.0, outright[key]))
        for p, col in places:
            out[p, col] = value
    return out


_MEMO: dict[tuple, float] = {}  # (classes, abstain, k) -> maj@k: the problems of a copied run cost nothing


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


def _split(classes: tuple[tuple[int, bool], ...], abstain: int, k: int) -> tuple[float, list[Contested]]:
    """maj@k of one problem as (what closed forms and sure vote counts give, the contested rest)."""
    sizes = [m for m, _ in classes]
    n = abstain + sum(sizes)
    if k < 1 or k > n:
        raise ValueError(f"maj@{k} needs 1 <= k <= n = {n}")
    winners = [j for j, (_, ok) in enumerate(classes) if ok]
    if not winners:
        return 0.0, []
    if len(classes) == len(winners):  # every vote is right: only an all-abstaining draw scores 0
        return 1.0 - math.comb(abstain, k) / math.comb(n, k), []
    if k == 1:  # one vote: its class wins
        return sum(m for m, ok in classes if ok) / n, []
    if k == n:
        top = max(sizes)
        tied = [ok for m, ok in classes if m == top]
        return sum(tied) / len(tied), []
    log_cnk = _log_comb(n, k)
    parts = [_class_wins(sizes, j, abstain, k, log_cnk) for j in winners]
    return sum(sure for sure, _ in parts), [item for _, item in parts if item is not None]


NEGLIGIBLE = math.log(1e-18)  # a vote count whose hypergeometric probability is below this adds < 1e-18
FEW_VOTES = 8  # up to this many vote counts of a class are all given to the programme, unbounded


def _class_wins(sizes: list[int], j: int, abstain: int, k: int, log_cnk: float) -> tuple[float, Contested | None]:
    """P(class j wins the vote of a random k-subset), ties counted fractionally, as (the part from vote
    counts that are not contested, the contested vote counts for majority_window.py).

    A vote count v contributes at most its hypergeometric probability C(m_j, v) C(rest, k - v) / C(n, k)
    (the integral is a share of the other subsets), so counts below NEGLIGIBLE are skipped; so are
    counts at which j is outvoted but with a negligible probability (they contribute less than that),
    and a count that no other class reaches but with a negligible probability contributes its whole
    probability (too much by less than that). The integral is computed only where the vote is really
    contested. Each skipped term is below 1e-18: the result moves by less than 1e-15, under double
    precision's own rounding of the sum."""
    m_j = sizes[j]
    others = sorted(sizes[:j] + sizes[j + 1:])
    rest_pool = abstain + sum(others)
    largest = others[-1] if others else 0
    lf = _log_factorials(m_j + rest_pool)
    v = np.arange(max(1, k - rest_pool), min(k, m_j) + 1)
    log_pmf = (lf[m_j] - lf[v] - lf[m_j - v]) + (lf[rest_pool] - lf[k - v] - lf[rest_pool - (k - v)]) - log_cnk
    outright = v > largest  # beyond every other class: j wins
    live = ~outright & (log_pmf >= NEGLIGIBLE)
    v_live, pmf_live = v[live], log_pmf[live]
    if len(v_live) <= FEW_VOTES:  # the programme counts a few rows exactly for less than bounding them
        contested = np.ones(len(v_live), bool)
    else:
        draws = k - v_live
        outvoted = _log_tail_bounds(draws, [largest / rest_pool], v_live, upper=False)[:, 0]  # log P(largest other <= v)
        unreached = pmf_live + _log_reach(rest_pool, Counter(others), draws, v_live) < NEGLIGIBLE
        contested = (pmf_live + outvoted >= NEGLIGIBLE) & ~unreached
        outright[np.flatnonzero(live)[unreached & (pmf_live + outvoted >= NEGLIGIBLE)]] = True
    pmf = _pmf(m_j, rest_pool, k, v)
    votes = v_live[contested]
    item = Contested(others, abstain, k, votes, pmf[live][contested]) if len(votes) else None
    return float(pmf[outright].sum()), item


def _pmf(m: int, rest: int, k: int, v: np.ndarray) -> np.ndarray:
    """P(V = v) for V ~ Hypergeometric(population m + rest, successes m, draws k) at consecutive v:
    the mode's probability from exact integers, the others by products of consecutive ratios (each
    exact to an ulp): about 1e-14 relative near the mode, where differences of lgamma lose 1e-12."""
    if not len(v):
        return np.zeros(0)
    mode = min(max((k + 1) * (m + 1) // (m + rest + 2), int(v[0])), int(v[-1]))
    at = mode - int(v[0])
    anchor = math.comb(m, mode) * math.comb(rest, k - mode) / math.comb(m + rest, k)
    x = v[:-1].astype(np.float64)
    return anchor * from_mode((m - x) * (k - x) / ((x + 1) * (rest - k + x + 1)), at)  # P(v + 1) / P(v)


@lru_cache(maxsize=16)
def _log_factorials(n: int) -> np.ndarray:
    """log(i!) for i = 0..n, each math.lgamma(i + 1): differences of them are _log_comb's values exactly."""
    return np.array([math.lgamma(i + 1) for i in range(n + 1)])


def _log_tail_bounds(draws: np.ndarray, p: np.ndarray, x: np.ndarray, upper: bool) -> np.ndarray:
    """Chernoff's bound on log P(X >= x_r) (upper) or log P(X <= x_r), per row r and class c, for X the
    successes in draws_r draws without replacement from a population with success fraction p_c:
    -draws KL(x/draws || p) beyond the mean, else 0; shape (rows, classes). Hoeffding (1963, section 6)
    proved the binomial bound holds without replacement; it costs a few operations where summing the
    hypergeometric tail costs its length."""
    d = draws.astype(np.float64)[:, None]
    a = np.divide(x[:, None], d, out=np.where(x[:, None] > 0, np.inf, 0.0), where=d > 0)
    p = np.asarray(p, np.float64)[None, :]
    beyond = a > p if upper else a < p
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ac = np.clip(a, 0.0, 1.0)
        kl = np.where(ac > 0, ac * np.log(ac / p), 0.0) + np.where(ac < 1, (1 - ac) * np.log((1 - ac) / (1 - p)), 0.0)
        bound = np.where(a > 1, -np.inf, -d * kl)  # more successes than draws: impossible
    return np.where(beyond, np.nan_to_num(bound, nan=-np.inf, posinf=0.0), 0.0)


def _log_reach(pop: int, classes: Counter, draws: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Per row: log of the union bound on P(some class (size: count) gets >= v_r of draws_r votes)."""
    sizes = [m for m in classes if m >= v.min()]
    if not sizes:
        return np.full(len(v), -np.inf)
    counts = np.log(np.array([classes[m] for m in sizes], np.float64))
    return _logsumexp_rows(_log_tail_bounds(draws, np.array(sizes) / pop, v, upper=True) + counts[None, :])


def _logsumexp_rows(logs: np.ndarray) -> np.ndarray:
    top = logs.max(axis=1)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.where(np.isfinite(top), safe + np.log(np.exp(logs - safe[:, None]).sum(axis=1)), -np.inf)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
