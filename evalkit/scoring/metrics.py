"""Aggregate grades into metrics.json: pass@k with bootstrap intervals, pass^k, maj@k, statuses."""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np

from .passk import bootstrap_ci, majority_at_k, pass_at_k_matrix, pass_hat_k_matrix
from ..types import STATUSES, EvalkitError, Grade, Problem, Sample


def graded_table(
    problems: Sequence[Problem], grades: dict[tuple[str, int], Grade], n: int | dict[str, int]
) -> dict[str, list[Grade]]:
    """Each problem's grades for sample indices 0..n-1, in index order; every one must exist."""
    table: dict[str, list[Grade]] = {}
    for p in problems:
        count = n if isinstance(n, int) else n[p.id]
        row = [grades.get((p.id, i)) for i in range(count)]
        missing = sum(g is None for g in row)
        if missing:
            raise EvalkitError(f"{missing} of {count} samples of {p.id} are not graded; rerun the same command to finish")
        table[p.id] = row  # type: ignore[assignment]
    return table


def compute_metrics(
    problems: Sequence[Problem],
    grades: dict[tuple[str, int], Grade],
    samples: dict[tuple[str, int], Sample],
    n: int | dict[str, int],
    ks: Sequence[int],
    *,
    benchmark: str,
    model: str,
    seed: int = 0,
) -> dict:
    table = graded_table(problems, grades, n)
    ns = [len(row) for row in table.values()]
    cs = [sum(g.correct for g in row) for row in table.values()]
    ks = sorted(set(ks))
    per_problem = pass_at_k_matrix(ns, cs, ks)
    ci = bootstrap_ci(per_problem, seed=seed)
    hat = pass_hat_k_matrix(ns, cs, ks).mean(axis=0)
    maj = [np.mean([majority_at_k([g.answer for g in row], [g.correct for g in row], k) for row in table.values()]) for k in ks]
    statuses = Counter(g.status for row in table.values() for g in row)
    tokens = [samples[(pid, g.sample_index)].num_tokens for pid, row in table.items() for g in row if (pid, g.sample_index) in samples]
    key = [str(k) for k in ks]
    return {
        "benchmark": benchmark,
        "model": model,
        "n": min(ns),
        **({"n_max": max(ns)} if max(ns) != min(ns) else {}),
        "num_problems": len(problems),
        "num_samples": sum(ns),
        "pass_at_k": dict(zip(key, map(float, per_problem.mean(axis=0)))),
        "ci95": {k: [float(lo), float(hi)] for k, (lo, hi) in zip(key, ci)},
        "pass_hat_k": dict(zip(key, map(float, hat))),
        "maj_at_k": dict(zip(key, map(float, maj))),
        "status_counts": {s: statuses.get(s, 0) for s in STATUSES},
        "mean_tokens": float(np.mean(tokens)) if tokens else None,
    }
