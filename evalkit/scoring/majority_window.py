"""maj@k where the vote is contested: P(a correct class j wins | it got v of the k votes), for the
contested v of every problem of a run, by dynamic programmes over the classes that can match j's v.

Given V_j = v, the other k - v votes are a hypergeometric draw from the other classes and the
non-voting samples. Classes with fewer than v samples can never match j: they are pooled with the
non-voting samples. For the "big" classes (at least v samples) a programme carries the chance of
giving them d votes with t of them tied with j at exactly v and none above; j then wins a 1 / (1 + t)
share. Ties past the point where their probability stops mattering (tie_cap) are not carried.

Two programmes, by depth k - v (how many votes the others share):
- shallow rows (k - v <= SHALLOW) of all problems with the same k are folded together, a class at a
  time (conditional_wins): exact counts C(m, c) scaled by their largest entry with the log of the scale
  carried, a class's step a few shifted copies or one batched matrix product;
- deep rows one at a time (tilted_wins): the draw as independent binomials conditioned on their sum,
  whose vectors span a few standard deviations instead of k - v, classes grouped by size, and classes
  that cannot reach v pooled.
v = 1 has a closed form (voters_win). tests/test_passk.py holds both programmes to 1e-13 of exact rationals.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

MAX_FOLDS = 16  # more big classes than this (a step each in the batched programme): tilted_wins, unless v <= SHIFTS
SHIFTS = 24  # a fold that gives a class at most this many vote counts below v: shifted copies, not a matmul
SHALLOW = 96  # the batched programme's work grows as (k - v)^2 per row: deeper rows go to tilted_wins
TINY = 1e-30  # tilted_wins drops states below this probability: < 1e-26 per row in all
POOLED = math.log(1e-22)  # a class reaching v with a probability below this is pooled (tilted_wins)
CHUNK_CELLS = 1 << 20  # (row, d, d') entries of one batched step: about 8 MB of kernel at a time


@dataclass
class Contested:
    """The contested vote counts of one correct class j of one problem: P(V_j = v) for each, and the
    other classes' sizes (ascending)."""

    others: Sequence[int]
    abstain: int
    k: int
    votes: np.ndarray
    pmf: np.ndarray


def window_wins(items: Sequence[Contested]) -> np.ndarray:
    """Per item: sum over its votes of P(V_j = v) x P(j wins | V_j = v)."""
    totals = np.zeros(len(items))
    batch: dict[int, list[tuple[int, int, float, list[int], int, int]]] = {}
    for owner, item in enumerate(items):
        rest_pool = item.abstain + sum(item.others)
        for v, p in zip(item.votes.tolist(), item.pmf.tolist()):
            if v == 1:  # one vote: every class that votes ties, a fold per size
                totals[owner] += p * voters_win(item.others, item.abstain, rest_pool, item.k)
                continue
            cut = bisect.bisect_left(item.others, v)  # smaller classes never reach v: pooled
            big = list(item.others[cut:])
            if item.k - v <= SHALLOW and (len(big) <= MAX_FOLDS or v <= SHIFTS):
                ties = tie_cap(Counter(big), v, item.k - v, rest_pool)
                batch.setdefault(item.k, []).append((owner, v, p, big, item.abstain + sum(item.others[:cut]), rest_pool, ties))
            else:
                totals[owner] += p * tilted_wins(item.others, item.abstain, item.k, v)
    for k, rows in batch.items():
        rows.sort(key=lambda row: (len(row[3]), row[6], row[1]))  # rows of a chunk fold about as many classes
        lo = 0
        while lo < len(rows):
            hi, depth, ties = lo, 1, 0
            while hi < len(rows):  # a chunk: (rows x depth x depth x ties) cells of kernel at most
                depth, ties = max(depth, k - rows[hi][1] + 1), max(ties, rows[hi][6])
                hi += 1
                if (hi - lo) * depth * depth * (ties + 1) > CHUNK_CELLS:
                    break
            part = rows[lo:hi]
            wins = conditional_wins(k, part)
            np.add.at(totals, [row[0] for row in part], np.array([row[2] for row in part]) * wins)
            lo = hi
    return totals


def conditional_wins(k: int, rows: Sequence[tuple[int, int, float, list[int], int, int, int]]) -> np.ndarray:
    """P(j wins | V_j = v) for each row (owner, v, pmf, big classes, pooled samples, other samples,
    most ties that matter (tie_cap)):
    in the rows of a larger v, a class smaller than v takes any number of votes up to its size and
    never ties, as if it were pooled; a missing class (padding) has size 0."""
    vs = np.array([row[1] for row in rows], np.int64)
    rests = k - vs
    depth = int(rests.max()) + 1
    folds = max(len(row[3]) for row in rows)
    ties = max(row[6] for row in rows)
    ways = np.zeros((len(rows), depth, ties + 1))
    ways[:, 0, 0] = 1.0
    log_scale = np.zeros(len(rows))
    sizes = np.array([row[3] + [0] * (folds - len(row[3])) for row in rows], np.int64).reshape(len(rows), folds)
    shifted = np.arange(depth)[None, :] - vs[:, None]  # a tie at v comes from d - v votes
    tie_from = (np.arange(len(rows))[:, None] * depth + np.clip(shifted, 0, depth - 1)).ravel()
    for f in range(folds):
        ways, log_scale = _fold(ways, log_scale, sizes[:, f], vs, tie_from, shifted >= 0)
    share = (ways / np.arange(1, ties + 2)).sum(axis=2)  # a tie among t others and j: a 1 / (1 + t) share
    pool, pool_log = _binomial_rows(np.array([row[4] for row in rows], np.int64), depth - 1)
    at = rests[:, None] - np.arange(depth)[None, :]
    fill = np.where(at >= 0, np.take_along_axis(pool, np.clip(at, 0, depth - 1), axis=1), 0.0)
    wins = (share * fill).sum(axis=1)
    total = np.array([_log_comb_exact(row[5], k - row[1]) for row in rows])
    with np.errstate(divide="ignore"):
        return np.exp(log_scale + pool_log + np.log(wins) - total)


def _fold(ways: np.ndarray, log_scale: np.ndarray, m: np.ndarray, vs: np.ndarray, tie_from: np.ndarray,
          tie_ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fold one class per row (size m[r]) into the programme: it takes c < v votes, or c = v and ties
    (from state d - v: the flat row-major index tie_from, where tie_ok)."""
    rows, depth = ways.shape[:2]
    top = max(0, min(int(m.max()), int(vs.max()), depth - 1))
    binom, binom_log = _binomial_rows(m, top)
    at_v = binom[np.arange(rows), np.minimum(vs, top)]
    below = np.where(np.arange(top + 1)[None, :] < vs[:, None], binom, 0.0)  # c < v: no tie
    below = np.concatenate([below, np.zeros((rows, 1))], axis=1)  # a zero column for lags out of range
    takes = min(top, int(vs.max()) - 1) + 1  # c = 0 .. takes - 1 votes below v
    if takes <= SHIFTS:  # a few shifted copies cost less than the (depth x depth) kernel
        out = np.zeros_like(ways)
        for c in range(takes):
            out[:, c:, :] += below[:, c, None, None] * ways[:, : depth - c, :]
    else:
        lag = np.arange(depth)[:, None] - np.arange(depth)[None, :]  # d - d': the votes this class takes
        out = np.matmul(below[:, np.where((lag >= 0) & (lag <= top), lag, top + 1)], ways)
    tied = ways.reshape(rows * depth, -1)[tie_from].reshape(ways.shape)  # c = v: one tie more
    weight = np.where(tie_ok & (vs <= np.minimum(m, top))[:, None], at_v[:, None], 0.0)
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
    out[: last + 1] = from_mode((m - c + 1) / c, peak)  # C(m, c) / C(m, c - 1)
    return out, math.log(math.comb(m, peak))


def from_mode(ratio: np.ndarray, at: int) -> np.ndarray:
    """A sequence whose entry `at` is 1 and whose consecutive ratios entry[i + 1] / entry[i] are
    ratio[i]: products outward from `at` (the largest entry, so nothing overflows), each step exact to
    an ulp, where differences of lgamma lose 1e-12."""
    up = np.cumprod(ratio[at:])
    down = np.cumprod(1.0 / ratio[:at][::-1])[::-1]
    return np.concatenate([down, [1.0], up])


@lru_cache(maxsize=16384)
def _log_comb_exact(n: int, k: int) -> float:
    return math.log(math.comb(n, k))


def tilted_wins(others: Sequence[int], abstain: int, k: int, v: int) -> float:
    """P(j wins | V_j = v) for a deep row, in time linear in the spread of the votes rather than in
    (k - v)^2: the other classes' k - v votes are a hypergeometric draw, which is the law of
    independent binomials X_i ~ Bin(m_i, q) given sum X_i = k - v, for any q. With q = (k - v) / rest
    that sum sits at its mode and every factor is a probability vector a few standard deviations wide:

        P(win | v) = sum_t E[1 / (1 + t) ; every X_i <= v, t of them = v, sum X = k - v]  /  P(sum X = k - v).

    The programme carries, per number of ties t, the distribution of the votes taken so far; a class
    is a convolution of every t row with its pmf below v (one np.convolve of the rows laid end to
    end) plus a shift into row t + 1 at v. Classes that reach v with probability < e^POOLED (a
    Chernoff bound) are pooled with the non-voting samples: their binomials add up. Each pmf is built
    from consecutive ratios (exact to an ulp) and normalised by its own sum: good to about 1e-15."""
    rest = abstain + sum(others)
    draws = k - v
    if draws <= 0:
        return 1.0
    q = draws / rest
    sizes = Counter(m for m in others if m >= v)
    folds = {m: count for m, count in sizes.items() if _log_upper_tail(m, q, v) + math.log(count) >= POOLED}
    pooled = rest - sum(m * count for m, count in folds.items())
    kernels = {m: binomial_pmf(m, q) for m in folds}
    ties = tie_cap(sizes, v, draws, rest)
    state, offset = np.zeros((ties + 1, 1)), 0  # state[t, i]: P(t ties, offset + i votes so far)
    state[0, 0] = 1.0
    for m, count in folds.items():
        lo, pmf = kernels[m]
        if v < lo:  # this class surely takes more than v votes
            return 0.0
        below, at_v = pmf[: v - lo], (float(pmf[v - lo]) if v - lo < len(pmf) else 0.0)
        for _ in range(count):
            state, offset = _fold_tilted(state, offset, lo, below, at_v)
            if not state.shape[1]:
                return 0.0
    pool_lo, pool = binomial_pmf(pooled, q)  # the pool takes the rest: d votes to the folds, draws - d to it
    at = draws - pool_lo - offset - np.arange(state.shape[1])
    fits = (at >= 0) & (at < len(pool))
    wins = float((state[:, fits] @ pool[at[fits]]) @ (1.0 / np.arange(1, ties + 2)))
    lo, whole = binomial_pmf(rest, q)
    return wins / float(whole[draws - lo])


def _fold_tilted(state: np.ndarray, offset: int, lo: int, below: np.ndarray, at_v: float) -> tuple[np.ndarray, int]:
    """One class into tilted_wins' programme: it takes lo + c votes with probability below[c] (under
    v), or exactly v (a tie more) with probability at_v."""
    rows, width = state.shape
    grow = len(below)
    out = np.zeros((rows, width + grow))
    if grow:
        span = width + grow - 1  # each row, then grow - 1 zeros: one np.convolve of all rows end to end
        laid = np.zeros((rows, span))
        laid[:, :width] = state
        out[:, :span] = np.convolve(laid.ravel(), below)[: rows * span].reshape(rows, span)
    if at_v > 0.0 and rows > 1:
        out[1:, grow: grow + width] += at_v * state[:-1]
    return _trimmed(out, offset + lo)


def tie_cap(sizes: Counter, v: int, draws: int, rest: int) -> int:
    """How many other classes can tie with j at v with a probability that matters: at most
    draws // v of them, and with the draw taken as independent binomials Bin(m, q), q = draws / rest
    (tilted_wins), P(t ties) <= lam^t / t! for lam = sum_i P(X_i = v) (a union bound over t-sets),
    while conditioning on the total divides by P(Bin(rest, q) = draws) >= 1 / (rest + 1). Ties past
    the point where that falls under 1e-24 (and keeps falling by half a step) are dropped."""
    most = min(sum(count for m, count in sizes.items() if m >= v), draws // v)
    q = draws / rest
    if q >= 1.0 or most == 0:
        return most
    lgv = math.lgamma(v + 1)
    lam = sum(count * math.exp(math.lgamma(m + 1) - lgv - math.lgamma(m - v + 1) + v * math.log(q) + (m - v) * math.log1p(-q))
              for m, count in sizes.items() if m >= v)
    bound, t = 1.0, 0
    while t < most and (bound * (rest + 1) >= 1e-24 or lam > (t + 1) / 2):
        t += 1
        bound *= lam / t
    return t


def _trimmed(state: np.ndarray, offset: int) -> tuple[np.ndarray, int]:
    """state without the leading and trailing columns below TINY in every row (probabilities; along
    a row they rise and fall: only the ends are small), and the first kept column's offset."""
    keep = (state > TINY).any(axis=0)
    if not keep.any():
        return state[:, :0], offset
    first, last = int(keep.argmax()), len(keep) - int(keep[::-1].argmax())
    return state[:, first:last], offset + first


def _log_upper_tail(m: int, q: float, v: int) -> float:
    """Chernoff's bound on log P(Bin(m, q) >= v): -m KL(v/m || q) above the mean, else 0."""
    a = v / m
    if a <= q:
        return 0.0
    if a >= 1.0:
        return m * math.log(q)
    return -m * (a * math.log(a / q) + (1 - a) * math.log((1 - a) / (1 - q)))


def binomial_pmf(m: int, q: float) -> tuple[int, np.ndarray]:
    """(lo, P(Bin(m, q) = lo + i) for i = 0, 1, ...) over all but < 1e-26 of the mass: a window of
    Bernstein's width around the mode, by consecutive ratios from the mode, normalised by its sum."""
    if m == 0 or q <= 0.0:
        return 0, np.ones(1)
    if q >= 1.0:
        return m, np.ones(1)
    spread = 20.0 + math.sqrt(400.0 + 120.0 * m * q * (1.0 - q))  # P(|X - mean| > spread) < 2e-26
    mode = min(m, int((m + 1) * q))
    lo, hi = max(0, int(mode - spread)), min(m, int(mode + spread) + 1)
    c = np.arange(lo, hi, dtype=np.float64)
    values = from_mode((m - c) / (c + 1) * (q / (1.0 - q)), mode - lo)  # P(c + 1) / P(c)
    return lo, values / values.sum()
