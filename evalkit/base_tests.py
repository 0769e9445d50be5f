"""EvalPlus's two figures from one run of `humanevalplus` / `mbppplus`: base tests, and base + plus tests.

EvalPlus grades each sample on the benchmark's original (base) inputs and on its added (plus) inputs,
and reports "humaneval" / "mbpp" as pass@k over samples that pass the base inputs, "humaneval+" /
"mbpp+" over samples that pass both (evalplus/evaluate.py: `base_status == PASS` and, for plus, also
`plus_status == PASS`). evalkit's run grades base + plus together (grades.jsonl: the plus figure). A
sample that passes them all passes the base ones; every other sample is graded again on the base
inputs alone (adapters/code.base_tests_problem: the `mbpp` benchmark's tests, calibrated once), into
grades_base.jsonl beside grades.jsonl. Resumable like grading: pairs already there are skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .adapters.code import EVALPLUS_BASE, base_tests_problem
from .store import GRADES, JsonlAppender, PairSet, RunStore, iter_grade_rows
from .types import Grade, Problem

BASE_GRADES = "grades_base.jsonl"


def base_problems(bench: str, problems: Sequence[Problem]) -> dict[str, Problem]:
    """problem id -> the problem with base tests only, for the EvalPlus benchmarks (empty otherwise)."""
    if bench not in EVALPLUS_BASE:
        return {}
    out = {p.id: q for p in problems if (q := base_tests_problem(p)) is not None}
    return out if len(out) == len(problems) else {}  # hub copies (assert-style tests) have no separate base inputs


def grade_base(store: RunStore, bench: str, problems: Sequence[Problem], n_of: Callable[[str], int], regrade: bool = False) -> int:
    """Write the base verdict of every graded sample that has none yet; returns how many samples were run."""
    base = base_problems(bench, problems)
    if not base:
        return 0
    path = store.path / BASE_GRADES
    if regrade:
        path.unlink(missing_ok=True)
    done = PairSet()
    for pid, i, *_ in iter_grade_rows(path):
        done.add(pid, i)
    same = {p.id for p in problems if base.get(p.id) is p}  # every input is a base one: base verdict = plus verdict
    with JsonlAppender(path) as out:
        failed = _copy_known(store, out, base, same, n_of, done)
        return _run_base(store, base, failed, out) if failed.size else 0


def _copy_known(store: RunStore, out: JsonlAppender, base: dict[str, Problem], same: set[str], n_of: Callable[[str], int],
                done: PairSet) -> PairSet:
    """Write the base verdicts grades.jsonl already gives (passed base + plus, or no plus inputs); return
    the samples that failed base + plus, to run on the base inputs."""
    failed = PairSet()
    for pid, i, ok, status, *_ in iter_grade_rows(store.path / GRADES):
        if pid not in base or i >= n_of(pid) or not done.add(pid, i):  # done, or a later line of the pair
            continue
        if ok or pid in same:
            out.write(Grade(pid, i, ok, status, detail="base verdict = base + plus verdict").to_json())
        else:
            failed.add(pid, i)
    return failed


def _run_base(store: RunStore, base: dict[str, Problem], failed: PairSet, out: JsonlAppender) -> int:
    from .verify import make_verifier

    verifier = make_verifier("code")
    count = 0
    try:
        items = ((base[s.problem_id], s) for s in store.iter_samples(lambda pid, i: (pid, i) in failed))
        for g in verifier.grade(items):
            out.write(g.to_json())
            count += 1
    finally:
        verifier.close()
    return count


def base_counts(path: Path, problem_ids: Sequence[str], n: np.ndarray) -> np.ndarray | None:
    """Per problem, how many of its first n samples pass the base tests; None unless every one has a base verdict."""
    row = {pid: r for r, pid in enumerate(problem_ids)}
    seen = [PairSet(), PairSet()]  # all verdicts, correct ones
    for pid, i, ok, *_ in iter_grade_rows(path):
        r = row.get(pid)
        if r is not None and i < n[r] and seen[0].add(pid, i) and ok:
            seen[1].add(pid, i)
    if any(seen[0].count(pid) < n[r] for pid, r in row.items()):
        return None
    return np.array([seen[1].count(pid) for pid in problem_ids], dtype=np.int64)


def base_figures(run_dir: Path, bench: str, problem_ids: Sequence[str], n: np.ndarray, ks: Sequence[int], design: object = None) -> dict | None:
    """EvalPlus's base figure of a humanevalplus / mbppplus run: pass@k with 95% intervals over samples that
    pass the base tests (the run's own pass@k is the base + plus one). None when the run has no complete
    base verdicts (another benchmark, a hub copy without base inputs, an adaptive design)."""
    from .scoring.passk import pass_at_k_matrix
    from .scoring.stats import bootstrap_ci

    if bench not in EVALPLUS_BASE or design is not None or not len(problem_ids):
        return None
    c = base_counts(run_dir / BASE_GRADES, problem_ids, n)
    if c is None:
        return None
    ks = sorted(set(ks))
    values = pass_at_k_matrix(n, c, ks)
    ci = bootstrap_ci(values)
    return {"benchmark": EVALPLUS_BASE[bench], "tests": "base (the original benchmark's tests)",
            "pass_at_k": {str(k): {"value": float(values[:, j].mean()), "ci95": [float(ci[j, 0]), float(ci[j, 1])]} for j, k in enumerate(ks)},
            "num_correct": int(c.sum())}
