"""Read finished run directories back for analysis (compare, gate, export, view, plots).

Every figure is recomputed from grades.jsonl (and samples.jsonl for token statistics) through
scoring/table.py; metrics.json is never trusted, so a comparison cannot disagree with the per-sample
records it claims to summarize. Reading streams the files: memory follows problems, not samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..scoring.adaptive import check_design
from ..scoring.metrics import per_problem, summarize
from ..scoring.table import RunTable, read_table
from ..store import RunStore
from ..types import EvalkitError


@dataclass
class RunData:
    """One run: its manifest and its table (per problem, the counted facts of samples 0..n-1)."""

    path: Path
    manifest: dict
    table: RunTable
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
    def family(self) -> str:
        """math or code: maj@k is shown only where answers vote (math)."""
        from ..adapters.registry import find_benchmark

        custom = self.manifest.get("custom")
        if isinstance(custom, dict) and custom.get("family"):
            return str(custom["family"])
        bench = find_benchmark(self.benchmark)
        return bench.family if bench is not None else "math"

    @property
    def design(self) -> Any:
        """The adaptive sampling design the run was drawn with, or None (fixed n)."""
        from ..scoring.adaptive import design_from_manifest

        return design_from_manifest(self.manifest)

    @property
    def problem_ids(self) -> list[str]:
        return self.table.problem_ids

    def coverage(self) -> tuple[int, int | None]:
        """(problems graded, problems in the benchmark): `score` of a subset or `--limit` is partial."""
        return len(self.problem_ids), self.manifest.get("num_problems_total")

    def n_min(self) -> int:
        return int(self.table.n.min())

    def check_k(self, k: int) -> None:
        limit = self.design.min_n if self.design is not None else self.n_min()
        if k > limit:
            what = f"--min-n {limit} of run {self.path}'s adaptive design" if self.design is not None else f"n={limit} of run {self.path}"
            raise EvalkitError(f"k={k} exceeds {what}; drop that k or extend the run with a larger --n")

    def per_problem(self, kind: str, k: int, ids: Sequence[str] | None = None) -> np.ndarray:
        """Per-problem unbiased values of pass@k ("pass"), pass^k ("hat") or maj@k ("maj") for `ids`."""
        self.check_k(k)
        values = per_problem(self.table, kind, [k], self.design)[:, 0]
        return values if ids is None else values[self.table.rows(ids)]

    def summary(self, ks: Sequence[int]) -> dict:
        for k in ks:
            self.check_k(k)
        return summarize(self.table, ks, majority=self.family == "math", design=self.design)


def load_run(path: str | Path, stats: bool = True) -> RunData:
    """Load one run directory; an unfinished or foreign directory is a one-line error."""
    store = RunStore(path)
    if not store.path.is_dir():
        raise EvalkitError(f"{store.path}: no such run directory")
    manifest = store.manifest()
    if manifest is None:
        raise EvalkitError(f"{store.path} is not an evalkit run directory (no manifest.json); pass a directory written by `evalkit run` or `evalkit score`")
    from ..adapters.custom import from_manifest

    from_manifest(manifest)  # a custom benchmark's run: its definition, for the readers that load its problems
    adaptive = bool(manifest.get("design"))
    table = read_table(store, n=None if adaptive else manifest.get("n"), stats=stats)
    expected = _expected_problems(manifest)
    if expected is not None and len(table.problem_ids) < expected:
        raise EvalkitError(f"{store.path} is unfinished: {len(table.problem_ids)} of {expected} problems graded; rerun the command that made it")
    run = RunData(store.path, manifest, table, label=str(manifest.get("label") or manifest.get("model")))
    if adaptive:
        check_design(run.design, table, store.path, sampled=manifest.get("seed") is not None)
    return run


def _expected_problems(manifest: dict) -> int | None:
    total = manifest.get("num_problems_total")
    if total is None or manifest.get("n") is None or manifest.get("shard"):  # `score` runs cover what the file held
        return None
    limit = manifest.get("limit")
    return min(total, limit) if limit else total


def assign_labels(runs: Sequence[RunData]) -> None:
    """Row labels: the run's label (default: the model), made unique with the run directory when two
    runs of one benchmark share one (one model's runs on several benchmarks keep its label: a suite row)."""
    names = [(r.benchmark, r.label) for r in runs]
    for r in runs:
        if names.count((r.benchmark, r.label)) > 1:
            r.label = f"{r.label} ({r.path})"


def shared_problems(a: RunData, b: RunData) -> list[str]:
    """Problem ids graded in both runs, in the order of `a`; none shared is an error."""
    theirs = set(b.problem_ids)
    ids = [p for p in a.problem_ids if p in theirs]
    if not ids:
        raise EvalkitError(f"{a.path} and {b.path} share no problems; run both on the same problems (same --limit)")
    return ids
