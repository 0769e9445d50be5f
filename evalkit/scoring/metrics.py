"""The one way to count: a `RunTable` (scoring/table.py) -> per-problem estimates -> a run's figures.

`summarize` is what metrics.json, compare, gate, export, view and plots show; `per_problem` is what
paired tests resample. Nothing else computes a pass@k, so a figure never differs between two views of
the same run.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..types import STATUSES
from .majority import majority_matrix
from .passk import check_ks, pass_at_k_matrix, pass_hat_k_matrix
from .stats import NUM_RESAMPLES, SEED, bootstrap_ci
from .run_table import RunTable

METRICS = {"pass": "pass@", "hat": "pass^", "maj": "maj@"}  # kind -> display prefix
STAT_FIELDS = ("tokens", "entropy", "logprob")


def default_ks(n: int) -> list[int]:
    """The k values shown when none are asked for: powers of 4 up to n, and n itself."""
    out = [4**i for i in range(16) if 4**i <= n]
    return out + ([n] if out[-1] != n else [])


def per_problem(table: RunTable, kind: str, ks: Sequence[int], design: Any = None) -> np.ndarray:
    """Per-problem unbiased estimates, shape (problems, len(ks)): kind "pass" (pass@k), "hat"
    (pass^k: all k correct) or "maj" (majority vote of k, exact over all k-subsets).
    `design`: an adaptive sampling design (scoring/adaptive.py): pass@k uses its exactly unbiased
    estimator; pass^k and maj@k, which have none there, count the first min-n samples of every problem
    (always drawn, so a fixed design of n = min-n)."""
    ks = list(ks)
    if design is not None and kind != "pass":
        values = per_problem(table.head(design.min_n), kind, ks)
        if 1 in ks:  # a vote of one sample, all of one sample: both are pass@1, so use its better estimator
            values[:, ks.index(1)] = per_problem(table, "pass", [1], design)[:, 0]
        return values
    n, c = table.n, table.c
    check_ks(n, ks)
    if kind == "pass" and design is not None:
        from .adaptive import pass_at_k_adaptive

        return pass_at_k_adaptive(design, n, c, ks)
    if kind == "pass":
        return pass_at_k_matrix(n, c, ks)
    if kind == "hat":
        return pass_hat_k_matrix(n, c, ks)
    if kind == "maj":
        return majority_matrix([table.votes(r) for r in range(len(n))], ks) if len(n) else np.zeros((0, len(ks)))
    raise ValueError(f"unknown metric kind {kind!r}")


def summarize(table: RunTable, ks: Sequence[int], *, majority: bool = True, design: Any = None) -> dict:
    """A run's figures: pass@k with 95% intervals, pass^k, maj@k (when answers vote: math), status
    counts, and token statistics over all / correct / wrong samples."""
    ks = sorted(set(ks))
    key = [str(k) for k in ks]
    passk = per_problem(table, "pass", ks, design)
    n = table.n
    out: dict[str, Any] = {
        "n": int(n.min()),
        **({"n_max": int(n.max())} if n.max() != n.min() else {}),
        "num_problems": len(n),
        "num_samples": int(n.sum()),
        "pass_at_k": dict(zip(key, map(float, passk.mean(axis=0)))),
        "ci95": {k: [float(lo), float(hi)] for k, (lo, hi) in zip(key, bootstrap_ci(passk))},
        "pass_hat_k": dict(zip(key, map(float, per_problem(table, "hat", ks, design).mean(axis=0)))),
    }
    if majority:
        out["maj_at_k"] = dict(zip(key, map(float, per_problem(table, "maj", ks, design).mean(axis=0))))
    counts = np.bincount(table.status, minlength=len(STATUSES))
    out["status_counts"] = {s: int(counts[i]) for i, s in enumerate(STATUSES)}
    out.update(token_stats(table))
    out["mean_tokens"] = out["tokens"]["all"]
    out["bootstrap"] = {"unit": "problem", "resamples": NUM_RESAMPLES, "seed": SEED, "interval": "percentile 95%"}
    return out


def token_stats(table: RunTable) -> dict[str, dict[str, float | None]]:
    """Mean tokens, entropy and log-prob per sample: over all, correct and wrong samples. A statistic no
    sample recorded is None, as is length when every sample reports 0 tokens (scored from a file)."""
    out = {}
    for name in STAT_FIELDS:
        values = getattr(table, name)
        known = ~np.isnan(values)
        if name == "tokens" and not (values[known] > 0).any():
            known = np.zeros_like(known)
        parts = {"all": known, "correct": known & table.correct, "wrong": known & ~table.correct}
        out[name] = {part: (float(values[mask].astype(np.float64).mean()) if mask.any() else None) for part, mask in parts.items()}
    return out
