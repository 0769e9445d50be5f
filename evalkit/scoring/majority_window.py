"""maj@k where the vote is contested: P(a correct class j wins | it got v of the k votes), for the
contested v of every problem of a run at once, by one dynamic programme over the classes that can
match j's v votes.

Given V_j = v, the other k - v votes are a hypergeometric draw from the other classes and the
non-voting samples. Classes with fewer than v samples can never match j: they are pooled with the
non-voting samples into one binomial. For the "big" classes (at least v samples) the programme
carries, per row (a problem, a class j, a v), the number of ways to give them d votes with t of them
tied with j at exactly v and none above; j then wins a 1 / (1 + t) share. Rows of all problems with
the same k are folded together, a class at a time, by batched matrix products (majority.py's per-v
quadrature is the fallback when too many classes can match j).

Precision: binomial rows are built from exact integers at their largest entry and consecutive ratios
(each exact to an ulp), every row is rescaled by its largest value with the log of the scale carried,
and the final ratio to C(rest, k - v) uses exact integers: within 1e-15 of exact rationals.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

MAX_FOLDS = 16  # more classes able to match j (a step each; one per size at v = 1): the quadrature per v
CHUNK_CELLS = 1 << 20  # (row, d, d') entries of one batched step: about 8 MB of kernel at a time


@dataclass
class Contested:
    """The contested vote counts of one correct class j of one problem: P(V_j = v) for each, the other
    classes' sizes (ascending), and the per-v quadrature to fall back on."""

    others: Sequence[int]
    abstain: int
    k: int
    votes: np.ndarray
    pmf: np.ndarray
    fallback: Callable[[int], float]


def window_wins(items: Sequence[Contested]) -> np.ndarray:
    """Per item: sum over its votes of P(V_j = v) x P(j wins | V_j = v)."""
    totals = np.zeros(len(items))
    batch: dict[int, list[tuple[int, int, float, list[int], int, int]]] = {}
    for owner, item in enumerate(items):
        rest_pool = item.abstain + sum(item.others)
        for v, p in zip(item.votes.tolist(), item.pmf.tolist()):
            cut = bisect.bisect_left(item.others, v)  # smaller classes never reach v: pooled
            big = list(item.others[cut:])
            if v > 1 and len(big) <= MAX_FOLDS:
                batch.setdefault(item.k, []).append((owner, v, p, big, item.abstain + sum(item.others[:cut]), rest_pool))
        ones = item.votes == 1  # one vote: every class that votes ties, a fold per size
        if ones.any():
            big = list(item.others)
            if len(set(big)) <= MAX_FOLDS:
                totals[owner] += float(item.pmf[ones][0] * voters_win(big, item.abstain, rest_pool, item.k))
            else:
                totals[owner] += float(item.pmf[ones][0]) * item.fallback(1)
        for v, p in zip(item.votes.tolist(), item.pmf.tolist()):
            if v > 1 and len(item.others) - bisect.bisect_left(item.others, v) > MAX_FOLDS:
                totals[owner] += p * item.fallback(v)
    for k, rows in batch.items():
        rows.sort(key=lambda row: row[1])
        depth = k - rows[0][1] + 1
        step = max(1, CHUNK_CELLS // (depth * depth))
        for lo in range(0, len(rows), step):
            part = rows[lo: lo + step]
            wins = conditional_wins(k, part)
            np.add.at(totals, [row[0] for row in part], np.array([row[2] for row in part]) * wins)
    return totals


def conditional_wins(k: int, rows: Sequence[tuple[int, int, float, list[int], int, int]]) -> np.ndarray:
    """P(j wins | V_j = v) for each row (owner, v, pmf, big classes, pooled samples, other samples):
    in the rows of a larger v, a class smaller than v takes any number of votes up to its size and
    never ties, as if it were pooled; a missing class (padding) has size 0."""
    vs = np.array([row[1] for row in rows], np.int64)
    rests = k - vs
    depth = int(rests.max()) + 1
    folds = max(len(row[3]) for row in rows)
    ties = min(folds, (depth - 1) // int(vs.min()))  # at most rest / v classes can get v votes
    ways = np.zeros((len(rows), depth, ties + 1))
    ways[:, 0, 0] = 1.0
    log_scale = np.zeros(len(rows))
    sizes = np.array([row[3] + [0] * (folds - len(row[3])) for row in rows], np.int64).reshape(len(rows), folds)
    for f in range(folds):
        ways, log_scale = _fold(ways, log_scale, sizes[:, f], vs)
    share = (ways / np.arange(1, ties + 2)).sum(axis=2)  # a tie among t others and j: a 1 / (1 + t) share
    pool, pool_log = _binomial_rows(np.array([row[4] for row in rows], np.int64), depth - 1)
    at = rests[:, None] - np.arange(depth)[None, :]
    fill = np.where(at >= 0, np.take_along_axis(pool, np.clip(at, 0, depth - 1), axis=1), 0.0)
    wins = (share * fill).sum(axis=1)
    total = np.array([_log_comb_exact(row[5], k - row[1]) for row in rows])
    with np.errstate(divide="ignore"):
        return np.exp(log_scale + pool_log + np.log(wins) - total)


def _fold(ways: np.ndarray, log_scale: np.ndarray, m: np.ndarray, vs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fold one class per row (size m[r]) into the programme: it takes c < v votes, or c = v and ties."""
    rows, depth = ways.shape[:2]
    top = max(0, min(int(m.max()), int(vs.max()), depth - 1))
    binom, binom_log = _binomial_rows(m, top)
    at_v = binom[np.arange(rows), np.minimum(vs, top)]
    below = np.where(np.arange(top + 1)[None, :] < vs[:, None], binom, 0.0)  # c < v: no tie
    below = np.concatenate([below, np.zeros((rows, 1))], axis=1)  # a zero column for lags out of range
    lag = np.arange(depth)[:, None] - np.arange(depth)[None, :]  # d - d': the votes this class takes
    out = np.matmul(below[:, np.where((lag >= 0) & (lag <= top), lag, top + 1)], ways)
    shifted = np.arange(depth)[None, :] - vs[:, None]  # c = v: one tie more
    tied = np.take_along_axis(ways, np.clip(shifted, 0, depth - 1)[:, :, None], axis=1)
    weight = np.where((shifted >= 0) & (vs <= np.minimum(m, top))[:, None], at_v[:, None], 0.0)
    out[:, :, 1:] += tied[:, :, :-1] * weight[:, :, None]
    peak = out.max(axis=(1, 2))
    return out / peak[:, None, None], log_scale + binom_log + np.log(peak)


def voters_win(big: Sequence[int], abstain: int, rest_pool: int, k: int) -> float:
    """P(j wins | V_j = 1): every other class that gets a vote gets one and ties, so i classes of
    size m voting is C(count, i) m^i ways, each a tie: ways[t] counts t votes, t ties."""
    ways, log_scale = np.ones(1), 0.0
    for m, count in Counter(big).items():
        exact = [math.comb(count, i) * m**i for i in range(min(count, k - 1) + 1)]
        peak = max(exact)
        out = np.convolve(ways, [w / peak for w in exact])[:k]
        scale = out.max()
        ways, log_scale = out / scale, log_scale + math.log(peak) + math.log(scale)
    share = ways / np.arange(1, len(ways) + 1)
    pool, pool_log = scaled_binomial(abstain, k - 1)
    wins = float(np.dot(share, pool[::-1][:len(share)]))  # t votes to the classes, k - 1 - t to the non-voting samples
    return math.exp(log_scale + pool_log + math.log(wins) - _log_comb_exact(rest_pool, k - 1)) if wins > 0 else 0.0


def _binomial_rows(m: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
    """scaled_binomial(m[r], top) for every row, stacked, and their log scales (each distinct m once)."""
    distinct, inverse = np.unique(m, return_inverse=True)
    rows = [scaled_binomial(int(x), top) for x in distinct.tolist()]
    return np.stack([r[0] for r in rows])[inverse], np.array([r[1] for r in rows])[inverse]


@lru_cache(maxsize=16384)
def scaled_binomial(m: int, top: int) -> tuple[np.ndarray, float]:
    """C(m, c) for c = 0..top (0 beyond m), divided by their largest value, and the log of that value:
    the largest from exact integers, the rest by consecutive ratios. (Cached: do not modify.)"""
    top = max(0, top)
    peak = min(top, m // 2)
    out = np.zeros(top + 1)
    last = min(top, m)
    c = np.arange(1, last + 1, dtype=np.float64)
    ratio = (m - c + 1) / c  # C(m, c) / C(m, c - 1)
    out[peak] = 1.0
    if peak > 0:
        out[:peak] = np.cumprod(1.0 / ratio[:peak][::-1])[::-1]
    if last > peak:
        out[peak + 1: last + 1] = np.cumprod(ratio[peak:last])
    return out, math.log(math.comb(m, peak))


@lru_cache(maxsize=16384)
def _log_comb_exact(n: int, k: int) -> float:
    return math.log(math.comb(n, k))
