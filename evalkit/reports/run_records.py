"""A run's samples with their grades, problem by problem, in bounded memory (for the exports).

samples.jsonl is in draw order, not grouped by problem. The problems are cut into chunks whose
samples.jsonl bytes fit a budget; each chunk is one pass over the file that decodes only its own
completions (store.iter_samples filters before decoding), and over grades.jsonl for their verdicts.
So a 1 GB run costs a few passes and at most `budget` bytes of text at a time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterator

from ..store import GRADES, SAMPLES, RunStore, iter_grade_rows, sample_head
from .runs import RunData

BUDGET = 256 << 20  # bytes of samples.jsonl held per pass


@dataclass
class Scored:
    """One counted sample of a problem: what was drawn and how it was graded."""

    index: int
    completion: str
    correct: bool
    status: str
    answer: str | None
    num_tokens: int


def problem_samples(run: RunData, budget: int = BUDGET) -> Iterator[tuple[str, list[Scored]]]:
    """(problem id, its counted samples in index order) for every problem of the run, in table order."""
    store = RunStore(run.path)
    limit = dict(zip(run.problem_ids, (int(x) for x in run.table.n)))
    for chunk in _chunks(run, limit, budget):
        wanted = set(chunk)
        keep = lambda pid, i: pid in wanted and i < limit[pid]  # noqa: E731
        grades = _grades(store, keep)
        drawn: dict[str, list[Scored]] = {pid: [] for pid in chunk}
        for s in store.iter_samples(keep):
            ok, status, answer = grades[(s.problem_id, s.sample_index)]
            drawn[s.problem_id].append(Scored(s.sample_index, s.completion, ok, status, answer, s.num_tokens))
        for pid in chunk:
            yield pid, sorted(drawn[pid], key=lambda x: x.index)


def _chunks(run: RunData, limit: dict[str, int], budget: int) -> list[list[str]]:
    """The problems in table order, cut where their samples' bytes would exceed the budget."""
    size = dict.fromkeys(run.problem_ids, 0)
    path = run.path / SAMPLES
    if path.exists():
        with open(path, "rb") as f:
            for raw in f:
                head = sample_head(raw) or _whole(raw)
                if head is not None and head.get("problem_id") in size and head.get("sample_index", 0) < limit[head["problem_id"]]:
                    size[head["problem_id"]] += len(raw)
    chunks, used = [[]], 0
    for pid in run.problem_ids:
        if chunks[-1] and used + size[pid] > budget:
            chunks.append([])
            used = 0
        chunks[-1].append(pid)
        used += size[pid]
    return [c for c in chunks if c]


def _whole(raw: bytes) -> dict | None:
    try:
        rec = json.loads(raw)
    except ValueError:
        return None  # a torn last line: the readers skip it too
    return rec if isinstance(rec, dict) else None


def _grades(store: RunStore, keep) -> dict[tuple[str, int], tuple[bool, str, str | None]]:
    out = {}
    for pid, i, ok, status, answer, _ in iter_grade_rows(store.path / GRADES):
        if keep(pid, i):
            out[(pid, i)] = (ok, status, None if answer is None else json.loads(answer))
    return out
