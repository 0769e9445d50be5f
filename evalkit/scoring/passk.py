"""Unbiased estimators over per-problem (n, c) counts (maj@k, which needs answer counts, is in majority.py).

pass@k  = 1 - C(n-c, k) / C(n, k)     (Chen et al. 2021): P(at least one of k draws is correct)
pass^k  =     C(c, k)   / C(n, k)                          P(all k draws are correct)

The ratios are built as running products of factors in [0, 1], so the whole curve k = 1..n comes
from one cumprod per problem: no factorials, no overflow, no cancellation. k > n is an error:
the reference implementation returns 1.0 there, which silently inflates results.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..types import EvalkitError


def check_ks(ns: np.ndarray, ks: Sequence[int]) -> None:
    """Every k must be >= 1 and at most the smallest n: never a silent 1.0 for k > n."""
    for k in ks:
        if k <= 0:
            raise EvalkitError(f"k={k} is not a positive integer; pass k values >= 1, e.g. --k 1,8,64")
    if len(ns) and max(ks, default=0) > ns.min():
        raise EvalkitError(
            f"k={max(ks)} exceeds the {int(ns.min())} samples of some problem; "
            f"raise --n to at least {max(ks)} or drop that k"
        )


def _ratio_curves(ns: np.ndarray, top: np.ndarray, kmax: int) -> np.ndarray:
    """R[i, k-1] = prod_{j<k} (top_i - j) / (n_i - j), for k = 1..kmax (0 once top_i - j hits 0)."""
    j = np.arange(kmax, dtype=np.float64)
    num = np.clip(top[:, None].astype(np.float64) - j[None, :], 0.0, None)
    den = ns[:, None].astype(np.float64) - j[None, :]
    factors = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return np.cumprod(factors, axis=1)


def pass_at_k_matrix(ns: Sequence[int], cs: Sequence[int], ks: Sequence[int]) -> np.ndarray:
    """Per-problem unbiased pass@k, shape (num_problems, len(ks)). Problems may differ in n."""
    ns_a, cs_a = np.asarray(ns, dtype=np.int64), np.asarray(cs, dtype=np.int64)
    _check_counts(ns_a, cs_a)
    check_ks(ns_a, ks)
    if not len(ns_a):
        return np.zeros((0, len(ks)))
    curves = 1.0 - _ratio_curves(ns_a, ns_a - cs_a, max(ks))
    return curves[:, np.asarray(ks) - 1]


def pass_hat_k_matrix(ns: Sequence[int], cs: Sequence[int], ks: Sequence[int]) -> np.ndarray:
    """Per-problem unbiased pass^k (all k correct), shape (num_problems, len(ks))."""
    ns_a, cs_a = np.asarray(ns, dtype=np.int64), np.asarray(cs, dtype=np.int64)
    _check_counts(ns_a, cs_a)
    check_ks(ns_a, ks)
    if not len(ns_a):
        return np.zeros((0, len(ks)))
    return _ratio_curves(ns_a, cs_a, max(ks))[:, np.asarray(ks) - 1]


def pass_at_k_curve(ns: Sequence[int], cs: Sequence[int]) -> np.ndarray:
    """Mean pass@k over problems for every k = 1..min(n): index k-1."""
    ns_a = np.asarray(ns, dtype=np.int64)
    if not len(ns_a):
        return np.zeros(0)
    ks = list(range(1, int(ns_a.min()) + 1))
    return pass_at_k_matrix(ns, cs, ks).mean(axis=0)


def _check_counts(ns: np.ndarray, cs: np.ndarray) -> None:
    if ns.shape != cs.shape:
        raise ValueError("ns and cs must have the same length")
    if (ns <= 0).any() or (cs < 0).any() or (cs > ns).any():
        raise ValueError("need 0 <= c <= n and n >= 1 for every problem")
