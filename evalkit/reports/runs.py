"""Read finished run directories back for analysis (compare, gate, export).

Everything is recomputed from grades.jsonl and samples.jsonl; metrics.json is never trusted, so a
comparison cannot disagree with the per-sample records it claims to summarize.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Sequence

import numpy as np

from ..scoring.passk import majority_at_k, pass_at_k_matrix, pass_hat_k_matrix
from ..store import RunStore
from ..types import EvalkitError, Grade, Sample


@dataclass
class RunData:
    """One run: its manifest and, per problem, the grades (and samples) of indices 0..n-1."""

    path: Path
    manifest: dict
    grades: dict[str, list[Grade]]  # problem id -> grades in sample-index order
    samples: dict[tuple[str, int], Sample]
    label: str = ""

    @property
    def model(self) -> str:
        return str(self.manifest.get("model"))

    @property
    def benchmark(self) -> str:
        return str(self.manifest.get("benchmark"))

    @property
    def data_hash(self) -> str | None:
        return self.manifest.get("data_hash")

    @property
    def problem_ids(self) -> list[str]:
        return list(self.grades)

    @cached_property
    def _nc(self) -> dict[str, tuple[int, int]]:
        return {p: (len(row), sum(g.correct for g in row)) for p, row in self.grades.items()}

    def counts(self, ids: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(n, c) per problem, in the order of `ids` (default: all problems of the run)."""
        ids = self.problem_ids if ids is None else ids
        nc = np.array([self._nc[p] for p in ids], dtype=np.int64).reshape(-1, 2)
        return nc[:, 0], nc[:, 1]

    def n_min(self) -> int:
        return int(min(len(v) for v in self.grades.values()))

    def per_problem(self, metric: str, k: int, ids: Sequence[str] | None = None) -> np.ndarray:
        """Per-problem unbiased values of `pass@k`, `pass^k` or `maj@k`, shape (len(ids),)."""
        ids = self.problem_ids if ids is None else ids
        self.check_k(k)
        if metric == "maj":
            return np.array([majority_at_k([g.answer for g in self.grades[p]], [g.correct for g in self.grades[p]], k) for p in ids])
        ns, cs = self.counts(ids)
        fn = pass_at_k_matrix if metric == "pass" else pass_hat_k_matrix
        return fn(ns, cs, [k])[:, 0]

    def check_k(self, k: int) -> None:
        if k > self.n_min():
            raise EvalkitError(f"k={k} exceeds n={self.n_min()} of run {self.path}; drop that k or extend the run with a larger --n")


def load_run(path: str | Path) -> RunData:
    """Load one run directory; an unfinished or foreign directory is a one-line error."""
    store = RunStore(path)
    if not store.path.is_dir():
        raise EvalkitError(f"{store.path}: no such run directory")
    manifest = store.manifest()
    if manifest is None:
        raise EvalkitError(f"{store.path} is not an evalkit run directory (no manifest.json); pass a directory written by `evalkit run` or `evalkit score`")
    try:
        grades = store.grades()
        samples = store.samples()
    except (ValueError, TypeError, KeyError) as e:
        raise EvalkitError(f"{store.path}: unreadable grades or samples ({e}); regrade it with the command that made it")
    table = _grade_table(store.path, manifest, grades)
    return RunData(store.path, manifest, table, samples, label=str(manifest.get("model")))


def _grade_table(path: Path, manifest: dict, grades: dict[tuple[str, int], Grade]) -> dict[str, list[Grade]]:
    """Grades per problem for indices 0..n-1 (n from the manifest when it has one); no gaps allowed."""
    n = manifest.get("n")
    by_problem: dict[str, dict[int, Grade]] = {}
    for (pid, i), g in grades.items():
        if n is None or i < n:
            by_problem.setdefault(pid, {})[i] = g
    if not by_problem:
        raise EvalkitError(f"{path} has no graded samples; finish it by rerunning the command that made it")
    table: dict[str, list[Grade]] = {}
    for pid, row in by_problem.items():
        count = n if n is not None else max(row) + 1
        if len(row) != count:
            raise EvalkitError(f"{path} is unfinished: problem {pid} has {len(row)} of {count} samples graded; rerun the command that made it")
        table[pid] = [row[i] for i in range(count)]
    expected = _expected_problems(manifest)
    if expected is not None and len(table) < expected:
        raise EvalkitError(f"{path} is unfinished: {len(table)} of {expected} problems graded; rerun the command that made it")
    return table


def _expected_problems(manifest: dict) -> int | None:
    total = manifest.get("num_problems_total")
    if total is None or manifest.get("n") is None:  # `evalkit score` runs cover what the file held
        return None
    limit = manifest.get("limit")
    return min(total, limit) if limit else total


def assign_labels(runs: Sequence[RunData]) -> None:
    """Row labels: the model name, made unique with the run directory when two runs share it."""
    names = [r.model for r in runs]
    for r in runs:
        r.label = r.model if names.count(r.model) == 1 else f"{r.model} ({r.path})"
