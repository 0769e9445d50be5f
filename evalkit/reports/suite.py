"""The suite row of `compare` and `export`: runs of one model on several benchmarks, macro-averaged.

A suite is the benchmarks a comparison (or export) holds; its rows are the run labels found on every one
of them. pass@k is each benchmark's mean over its problems (the figure of that benchmark's own table),
averaged with equal weight per benchmark; the interval and the paired difference against the baseline
resample problems within each benchmark (scoring/suite.py).
"""

from __future__ import annotations

import hashlib
import json
from typing import Sequence

import numpy as np

from ..scoring.stats import NUM_RESAMPLES
from ..scoring.suite import TEST_NAME, macro_interval, paired_macro
from .runs import shared_problems


def suite_name(benchmarks: Sequence[str]) -> str:
    return "suite:" + "+".join(benchmarks)


def members(groups: Sequence) -> list[str]:
    """Labels with exactly one run on every benchmark, in the first benchmark's order (groups: compare.Group)."""
    if len(groups) < 2:
        return []
    once = [{lab for lab in (x.label for x in g.runs) if [y.label for y in g.runs].count(lab) == 1} for g in groups]
    return [r.label for r in groups[0].runs if all(r.label in labels for labels in once)]


def suite_report(groups: Sequence, ks: Sequence[int] | None = None) -> dict | None:
    """The suite's figures per member label, or None when fewer than two benchmarks share a label."""
    labels = members(groups)
    ks = sorted(set(ks) if ks else set.intersection(*(set(g.ks) for g in groups))) if labels else []
    if not labels or not ks:
        return None
    runs = {label: [next(x for x in g.runs if x.label == label) for g in groups] for label in labels}
    baseline = groups[0].baseline.label if groups[0].baseline.label in runs else labels[0]
    rows = [_row(label, runs[label], runs[baseline], ks, label != baseline) for label in labels]
    return {"name": suite_name([g.benchmark for g in groups]), "benchmarks": [g.benchmark for g in groups],
            "data_hashes": {g.benchmark: g.data_hash for g in groups}, "ks": ks, "baseline": baseline,
            "average": "macro: the mean over benchmarks of each benchmark's pass@k",
            "test": f"{TEST_NAME}, {NUM_RESAMPLES} resamples, two-sided", "runs": rows}


def _row(label: str, runs: list, base: list, ks: list[int], paired: bool) -> dict:
    values = [np.stack([r.per_problem("pass", k) for k in ks], axis=1) for r in runs]
    mean, ci, se = macro_interval(values)
    row = {"label": label, "model": runs[0].model, "run_dirs": [str(r.path) for r in runs],
           "num_problems": {r.benchmark: len(r.problem_ids) for r in runs},
           "per_benchmark": {r.benchmark: {str(k): float(v.mean(axis=0)[j]) for j, k in enumerate(ks)} for r, v in zip(runs, values)},
           "pass_at_k": {str(k): {"value": float(mean[j]), "ci95": [float(ci[j, 0]), float(ci[j, 1])]} for j, k in enumerate(ks)},
           "stderr": {str(k): float(se[j]) for j, k in enumerate(ks)},
           "vs_baseline": None}
    if paired:
        ids = [shared_problems(r, b) for r, b in zip(runs, base)]
        a = [np.stack([r.per_problem("pass", k, i) for k in ks], axis=1) for r, i in zip(runs, ids)]
        b = [np.stack([x.per_problem("pass", k, i) for k in ks], axis=1) for x, i in zip(base, ids)]
        row["vs_baseline"] = {str(k): {"diff": d.diff, "ci95": [d.lo, d.hi], "p_value": d.p_value} for k, d in zip(ks, paired_macro(a, b))}
    return row


def suite_id(entry_ids: Sequence[str]) -> str:
    """A suite entry's merge key: its member entries, in any order."""
    return hashlib.sha256(json.dumps(sorted(entry_ids)).encode()).hexdigest()[:16]
