"""A suite's figure: the macro average of several benchmarks' means, and its bootstrap intervals.

Each benchmark's problems are resampled on their own (a stratified bootstrap: the suite is a fixed set of
benchmarks, the problems within each are the draw), with stats.bootstrap_means and its resample count;
benchmark i uses seed SEED + i, so the strata are independent and every view of a suite shows the same
interval. The paired version resamples each benchmark's per-problem differences (run - baseline) with
the same weights for both runs, as stats.paired_bootstrap does for one benchmark.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .stats import NUM_RESAMPLES, SEED, PairedResult, bootstrap_means

TEST_NAME = "paired bootstrap over problems within each benchmark"


def macro_boot(strata: Sequence[np.ndarray]) -> np.ndarray:
    """(NUM_RESAMPLES, columns): the macro average of each benchmark's resampled mean."""
    if not strata:
        raise ValueError("a suite needs at least one benchmark")
    return np.mean([bootstrap_means(v, NUM_RESAMPLES, SEED + i) for i, v in enumerate(strata)], axis=0)


def macro_mean(strata: Sequence[np.ndarray]) -> np.ndarray:
    """The macro average per column: every benchmark weighs the same, whatever its size."""
    return np.mean([np.atleast_2d(np.asarray(v, float).T).T.mean(axis=0) for v in strata], axis=0)


def macro_interval(strata: Sequence[np.ndarray], level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(macro means per column, percentile intervals per column (columns, 2), bootstrap standard errors per column)."""
    tail = (1.0 - level) / 2.0
    boot = macro_boot(strata)
    lo, hi = np.quantile(boot, [tail, 1.0 - tail], axis=0)
    return macro_mean(strata), np.stack([lo, hi], axis=1), boot.std(axis=0, ddof=1)


def paired_macro(candidate: Sequence[np.ndarray], baseline: Sequence[np.ndarray], level: float = 0.95) -> list[PairedResult]:
    """Per column: the macro-averaged paired difference, its percentile interval and two-sided p-value
    (2 * min(P*(d <= 0), P*(d >= 0)) with the +1 correction, as stats.paired_bootstrap)."""
    diffs = [np.atleast_2d(np.asarray(a, float).T).T - np.atleast_2d(np.asarray(b, float).T).T for a, b in zip(candidate, baseline)]
    boot = macro_boot(diffs)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(boot, [tail, 1.0 - tail], axis=0)
    below = ((boot <= 0).sum(axis=0) + 1) / (NUM_RESAMPLES + 1)
    above = ((boot >= 0).sum(axis=0) + 1) / (NUM_RESAMPLES + 1)
    p = np.minimum(1.0, 2.0 * np.minimum(below, above))
    mean = macro_mean(diffs)
    num = sum(d.shape[0] for d in diffs)
    return [PairedResult(float(mean[j]), float(lo[j]), float(hi[j]), float(p[j]), num) for j in range(len(mean))]
