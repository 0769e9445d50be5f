"""Bootstrap over problems: intervals of one run's means and paired tests between two runs.

The unit of resampling is the problem: problems are what varies between benchmark draws, and the n
samples of a problem are already averaged by the unbiased estimators. Paired statistics resample both
runs with the *same* problem weights, so problem difficulty (the dominant source of variance) cancels
out of the difference: this is what makes a 2-point gap on 500 problems testable at all.

One resampling scheme, one seed and one number of resamples for every view of a run: metrics.json,
compare, gate, export, view and plots show the same interval for the same run.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

NUM_RESAMPLES = 2000
SEED = 0
TEST_NAME = "paired bootstrap over problems"


@dataclass(frozen=True)
class PairedResult:
    """candidate - baseline: the mean difference, its interval and a two-sided p-value."""

    diff: float
    lo: float
    hi: float
    p_value: float
    num_problems: int


def bootstrap_means(per_problem: np.ndarray, num_resamples: int = NUM_RESAMPLES, seed: int = SEED) -> np.ndarray:
    """Means of problem-resampled columns, shape (num_resamples, columns); multinomial weights."""
    per_problem = np.atleast_2d(np.asarray(per_problem, float).T).T  # a vector becomes one column
    num = per_problem.shape[0]
    if num == 0:
        return np.zeros((num_resamples, per_problem.shape[1]))
    weights = _cached_weights(num, num_resamples, seed) if num <= CACHED_MAX_PROBLEMS else _weights(num, num_resamples, seed)
    return weights @ per_problem / num


CACHED_MAX_PROBLEMS = 4096  # weights of up to 2000 x 4096 floats (65 MB) are kept for the next run of that size


def _weights(num: int, num_resamples: int, seed: int) -> np.ndarray:
    """The resampling weights: a function of (problems, resamples, seed) only, the same for every run
    of a benchmark; as float64, the type the matrix product computes in."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(num, np.full(num, 1.0 / num), size=num_resamples).astype(np.float64)


@functools.lru_cache(maxsize=2)
def _cached_weights(num: int, num_resamples: int, seed: int) -> np.ndarray:
    """_weights, drawn once per size: the draw costs more than the product (dynamics, export and compare
    bootstrap many runs of one benchmark)."""
    weights = _weights(num, num_resamples, seed)
    weights.setflags(write=False)
    return weights


def bootstrap_ci(per_problem: np.ndarray, level: float = 0.95) -> np.ndarray:
    """Percentile interval of each column's mean, shape (columns, 2)."""
    boot = bootstrap_means(per_problem)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(boot, [tail, 1.0 - tail], axis=0)
    return np.stack([lo, hi], axis=1)


def p_floor(num_resamples: int = NUM_RESAMPLES) -> float:
    """The smallest p-value the bootstrap can report: 1 / (B + 1)."""
    return 1.0 / (num_resamples + 1)


def paired_bootstrap(
    candidate: np.ndarray, baseline: np.ndarray, level: float = 0.95, num_resamples: int = NUM_RESAMPLES, seed: int = SEED
) -> list[PairedResult]:
    """Per column (one per k): percentile interval of the mean paired difference and its p-value.

    The two-sided p-value is 2 * min(P*(d <= 0), P*(d >= 0)) over the bootstrap distribution, with
    the usual +1 correction so it is never exactly 0 (its floor is `p_floor`); it is below 1 - level
    exactly when the percentile interval excludes 0.
    """
    diffs = np.atleast_2d(np.asarray(candidate, float).T).T - np.atleast_2d(np.asarray(baseline, float).T).T
    num = diffs.shape[0]
    if num == 0:
        raise ValueError("paired_bootstrap needs at least one shared problem")
    boot = bootstrap_means(diffs, num_resamples, seed)
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(boot, [tail, 1.0 - tail], axis=0)
    below = ((boot <= 0).sum(axis=0) + 1) / (num_resamples + 1)
    above = ((boot >= 0).sum(axis=0) + 1) / (num_resamples + 1)
    p = np.minimum(1.0, 2.0 * np.minimum(below, above))
    mean = diffs.mean(axis=0)
    return [PairedResult(float(mean[j]), float(lo[j]), float(hi[j]), float(p[j]), num) for j in range(diffs.shape[1])]


def drop_test(
    candidate: np.ndarray, baseline: np.ndarray, max_drop: float, alpha: float,
    num_resamples: int = NUM_RESAMPLES, seed: int = SEED,
) -> tuple[float, float]:
    """One-sided test of H0: the true drop (baseline - candidate) is at most `max_drop`.

    Returns (p-value, lower bound of the one-sided 1 - alpha interval of the drop). p < alpha
    about when that lower bound exceeds `max_drop`: the candidate is worse by more than the
    allowed drop beyond sampling noise.
    """
    drops = np.asarray(baseline, float) - np.asarray(candidate, float)
    boot = bootstrap_means(drops, num_resamples, seed)[:, 0]
    p = (float((boot <= max_drop).sum()) + 1.0) / (num_resamples + 1.0)
    return min(1.0, p), float(np.quantile(boot, alpha))
