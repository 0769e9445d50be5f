"""pass@k at each thinking budget: every budget is a graded column of the run.

At budget B a sample counts with its forced answer (budgets.jsonl, evalkit/forcing.py) when it thought
longer than B, else with its own grade (grades.jsonl). That column is read into a `RunTable` like the
run's own grades and goes through the same `summarize`, so pass@k, its interval and maj@k at a budget
are computed exactly as the run's are, and a budget under which no sample is forced reproduces them.

A budget is reported only when the sweep that forced it covered the run's current samples (the
manifest's `think_budgets`: an `--n` extension or a killed sweep leaves it pending) and budgets.jsonl
holds every answer that sweep forced.
"""

from __future__ import annotations

import json
from typing import Any, Iterator, Sequence

from ..store import GRADES, RunStore, iter_grade_rows
from .metrics import summarize
from .table import RunTable, table_from_rows

FIELDS = ("pass_at_k", "ci95", "maj_at_k")


def forced_grades(store: RunStore, budget: int) -> dict[tuple[str, int], tuple[bool, str, bytes | None]]:
    """(pid, index) -> (correct, status, answer as JSON bytes) of the forced answers at `budget`; a later
    line (a regrade) wins. Answers are encoded as grades.jsonl's are, so equal answers vote together."""
    out = {}
    for rec in store.iter_budgets():
        if int(rec["budget"]) == budget:
            answer = rec.get("answer")
            out[(rec["problem_id"], rec["sample_index"])] = (bool(rec["correct"]), rec["status"],
                                                             None if answer is None else json.dumps(answer, ensure_ascii=False).encode())
    return out


def budget_table(store: RunStore, budget: int, n: int | None = None, expected: Sequence[str] | None = None) -> tuple[RunTable, int]:
    """The run's table at `budget`, and how many of its samples were forced."""
    forced = forced_grades(store, budget)

    def rows() -> Iterator[tuple[str, int, bool, str, bytes | None]]:
        for pid, i, correct, status, answer, _ in iter_grade_rows(store.path / GRADES):
            got = forced.get((pid, i))
            yield (pid, i, correct, status, answer) if got is None else (pid, i, *got)

    table = table_from_rows(store, rows(), n=n, expected=expected)
    size = dict(zip(table.problem_ids, table.n.tolist()))
    return table, sum(1 for pid, i in forced if i < size.get(pid, 0))


def complete_budgets(manifest: dict, num_samples: int) -> dict[int, dict]:
    """budget -> its sweep record, for the budgets whose sweep covered `num_samples` samples."""
    sweep = (manifest.get("think_budgets") or {}).get("budgets") or {}
    return {int(b): rec for b, rec in sweep.items() if rec.get("samples") == num_samples}


def budget_figures(store: RunStore, manifest: dict, base: RunTable, ks: Sequence[int], *, majority: bool, design: Any = None,
                   n: int | None = None, expected: Sequence[str] | None = None) -> dict[str, dict]:
    """metrics.json's `budgets`: per complete budget, pass@k with intervals, maj@k, the samples forced and
    the mean thinking tokens a sample spent under the budget."""
    out = {}
    for budget, rec in sorted(complete_budgets(manifest, int(base.n.sum())).items()):
        table, forced = budget_table(store, budget, n=n, expected=expected if expected is not None else base.problem_ids)
        if forced != rec.get("forced"):
            continue  # budgets.jsonl lacks answers its sweep forced: pending, not reported
        s = summarize(table, ks, majority=majority, design=design)
        out[str(budget)] = {**{k: s[k] for k in FIELDS if k in s}, "forced": forced,
                            "mean_think_tokens": rec["think_tokens"] / rec["samples"] if rec["samples"] else None}
    return out
