"""maj@k where the vote is contested: P(a correct class j wins | it got v of the k votes), for every
contested v at once, by one dynamic programme over the few classes that can match j's v votes.

Given V_j = v, the other k - v votes are a hypergeometric draw from the other classes and the
non-voting samples. Classes with fewer than v samples can never match j: they are pooled with the
non-voting samples into one binomial. For the "big" classes (at least v samples) the programme
carries, per v, the number of ways to give them d votes with t of them tied with j at exactly v and
none above; j then wins a 1 / (1 + t) share. The rows of all contested v that share a set of big
classes are computed together with numpy (majority.py's per-v quadrature does the same count one v
at a time, and remains the fallback when many classes are big).

Precision: binomial rows are built from exact integers at their largest entry and consecutive ratios
(each exact to an ulp), every count is scaled by its row's largest value with the log of the scale
carried, and the final ratio to C(rest, k - v) uses exact integers: about 1e-14 relative.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from typing import Callable, Sequence

import numpy as np

MAX_FOLDS = 16  # more programme steps (a step per big class; one per size at v = 1): the quadrature per v
MAX_CELLS = 4_000_000  # (v, d, d') entries of one class's step; beyond it, the quadrature per v


def contested_wins(m_j: int, others: Sequence[int], abstain: int, k: int, votes: np.ndarray, pmf: np.ndarray,
                   fallback: Callable[[int], float]) -> float:
    """sum over v in `votes` of P(V_j = v) (`pmf`) x P(j wins | V_j = v). `others`: the other classes'
    sizes, ascending; `fallback(v)`: the conditional probability by quadrature."""
    total = 0.0
    rest_pool = abstain + sum(others)
    for part in (votes == 1, votes > 1):  # one vote: every class that votes ties (a fold per size)
        vs, p = votes[part], pmf[part]
        if not len(vs):
            continue
        cut = bisect.bisect_left(others, int(vs.min()))  # smaller classes never reach v: pooled
        big = list(others[cut:])
        depth = int(k - vs.min()) + 1
        folds = len(set(big)) if vs.max() == 1 else len(big)
        if folds <= MAX_FOLDS and len(vs) * depth * depth <= MAX_CELLS:
            total += float((p * conditional_wins(big, abstain + sum(others[:cut]), rest_pool, k, vs)).sum())
        else:
            total += sum(float(pi) * fallback(int(v)) for v, pi in zip(vs.tolist(), p.tolist()))
    return total


def conditional_wins(big: Sequence[int], pooled: int, rest_pool: int, k: int, vs: np.ndarray) -> np.ndarray:
    """P(j wins | V_j = v) for each v in `vs`. Every class in `big` has at least min(vs) samples; in the
    rows of a larger v, a class smaller than v takes any number of votes up to its size and never
    ties, as if it were pooled."""
    rests = k - vs
    depth = int(rests.max()) + 1
    ties = min(len(big), (depth - 1) // int(vs.min()))  # at most rest / v classes can get v votes
    ways = np.zeros((len(vs), depth, ties + 1))
    ways[:, 0, 0] = 1.0
    log_scale = np.zeros(len(vs))
    for m, count in Counter(big).items():
        if (vs == 1).all():
            ways, log_scale = _add_voters(ways, log_scale, m, count)
        else:
            for _ in range(count):
                ways, log_scale = _add_class(ways, log_scale, m, vs)
    share = (ways / np.arange(1, ties + 2)).sum(axis=2)  # a tie among t others and j: a 1 / (1 + t) share
    pool, pool_log = scaled_binomial(pooled, depth - 1)
    at = rests[:, None] - np.arange(depth)[None, :]
    fill = np.where((at >= 0) & (at < len(pool)), pool[np.clip(at, 0, len(pool) - 1)], 0.0)
    wins = (share * fill).sum(axis=1)
    total = np.array([math.log(math.comb(rest_pool, int(r))) for r in rests])
    with np.errstate(divide="ignore"):
        return np.exp(log_scale + pool_log + np.log(wins) - total)


def _add_class(ways: np.ndarray, log_scale: np.ndarray, m: int, vs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fold one big class into the programme: it takes c < v votes, or c = v and ties with j."""
    rows, depth = ways.shape[:2]
    top = min(m, int(vs.max()), depth - 1)
    row, row_log = scaled_binomial(m, top)
    lag = np.arange(depth)[:, None] - np.arange(depth)[None, :]  # d - d': the votes this class takes
    take = np.where((lag >= 0) & (lag <= top), lag, 0)
    kernel = np.where((lag[None] >= 0) & (lag[None] < vs[:, None, None]) & (lag[None] <= top), row[take][None], 0.0)
    out = np.matmul(kernel, ways)  # per v: sum over c < v of ways[d - c] C(m, c)
    shifted = np.arange(depth)[None, :] - vs[:, None]  # c = v: one tie more
    tied = np.take_along_axis(ways, np.clip(shifted, 0, depth - 1)[:, :, None], axis=1)
    weight = np.where((shifted >= 0) & (vs[:, None] <= top), row[np.minimum(vs, top)][:, None], 0.0)
    out[:, :, 1:] += tied[:, :, :-1] * weight[:, :, None]
    peak = out.max(axis=(1, 2))
    return out / peak[:, None, None], log_scale + row_log + np.log(peak)


def _add_voters(ways: np.ndarray, log_scale: np.ndarray, m: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Fold `count` classes of m samples into rows where j has one vote: each class that gets a vote
    gets one and ties, so i of them voting is C(count, i) m^i ways, i votes and i ties more."""
    depth, ties = ways.shape[1], ways.shape[2] - 1
    top = min(count, depth - 1, ties)
    exact = [math.comb(count, i) * m**i for i in range(top + 1)]
    peak = max(exact)
    out = np.zeros_like(ways)
    for i, w in enumerate(exact):
        out[:, i:, i:] += ways[:, :depth - i, :ties + 1 - i] * (w / peak)
    scale = out.max(axis=(1, 2))
    return out / scale[:, None, None], log_scale + math.log(peak) + np.log(scale)


def scaled_binomial(m: int, top: int) -> tuple[np.ndarray, float]:
    """C(m, c) for c = 0..top (0 beyond m), divided by their largest value, and the log of that value:
    the largest from exact integers, the rest by consecutive ratios."""
    top = max(0, top)
    peak = min(top, m // 2) if m >= 0 else 0
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
