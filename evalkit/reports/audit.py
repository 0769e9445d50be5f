"""`evalkit audit`: re-grade a math run with the second grader, so that the primary verifier's mistakes
show up as disagreements instead of silently moving pass@k.

The second grader (verify/math/second.py) differs from the primary in extraction and equivalence, so
where both say the same they are rarely both wrong, and where they differ one of them is. The audit
reports how often they agree, each disagreement, and pass@k under four readings of every sample:
`primary` (the run's grades), `second`, `both` (correct for both graders) and `any` (for either); an
optional LLM judge (audit_judge.py) settles the disagreements and gives a fifth, `judged`.

    audit.jsonl   in the run directory, append-only: a header (what the verdicts depend on), each
                  problem's gold once, one line per graded sample {problem_id, sample_index,
                  correct, status, answer}. A kill loses at most the line being written; a rerun
                  grades only the samples without a line.
    judge.jsonl   the judge's prompt, model and raw replies (audit_judge.py)

The second grader's verdict on a sample depends on the sample, the gold and the grader's code only,
so the header records those: the grader's version (a digest of its source and of sympy's version),
the run's data hash, creation time and a digest of the start of samples.jsonl (append-only, a
pair's first line wins: an existing sample changes only when the file is rewritten). When any of
them differs the cached verdicts are dropped and the audit starts over. The primary's verdicts are
read from grades.jsonl on every audit, so a `--regrade` changes the report without regrading.

Every figure is counted by scoring/: each reading is a correctness array over the run's RunTable,
given to scoring.metrics.per_problem and scoring.stats.bootstrap_ci, exactly as metrics.json counts.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..scoring.metrics import default_ks, per_problem
from ..scoring.stats import bootstrap_ci
from ..store import GRADES, RunStore, write_json_atomic
from ..types import STATUSES, EvalkitError
from .audit_column import AUDIT, Positions, SecondColumn, answers_of, grade_missing, grader_version, load_audit, load_problems, read_cache, record
from .runs import RunData, load_run

log = logging.getLogger(__name__)

READINGS = ("primary", "second", "both", "any", "judged")
_CLASSES = {True: "primary_correct_second_wrong", False: "second_correct_primary_wrong"}  # keyed by the primary's verdict


# -- readings and their figures ------------------------------------------------------------------
def readings(run: RunData, second: SecondColumn, judge: Any = None) -> dict[str, np.ndarray]:
    """primary / second / both / any (and judged: the judge's verdict where it gave one, else the
    primary's, which is the agreed verdict wherever the judge was not needed)."""
    p, s = run.table.correct, second.correct
    out = {"primary": p, "second": s, "both": p & s, "any": p | s}
    if judge is not None:
        out["judged"] = np.where(judge.verdict >= 0, judge.verdict == 1, p)
    return out


def reading_values(run: RunData, correct: np.ndarray, kind: str, ks: Sequence[int]) -> np.ndarray:
    """Per-problem pass@k ("pass") or pass^k ("hat") of one reading, shape (problems, len(ks)).

    Under an adaptive design, whose stopping rule follows the primary's verdicts, every reading
    counts the first min-n samples of each problem (always drawn: a fixed design), so the readings
    are counted alike and stay comparable (any >= primary >= both per problem).
    """
    table = replace(run.table, correct=correct)
    if run.design is not None:
        table = table.head(run.design.min_n)
    return per_problem(table, kind, ks)


def pass_at_k(run: RunData, columns: dict[str, np.ndarray], ks: Sequence[int]) -> tuple[dict, dict]:
    """({reading: {k: pass@k}}, {reading: {k: [lo, hi]}}) with the runs' usual bootstrap intervals."""
    values, intervals = {}, {}
    for name, correct in columns.items():
        per = reading_values(run, correct, "pass", ks)
        values[name] = {str(k): float(v) for k, v in zip(ks, per.mean(axis=0))}
        intervals[name] = {str(k): [float(lo), float(hi)] for k, (lo, hi) in zip(ks, bootstrap_ci(per))}
    return values, intervals


def audit_ks(run: RunData, ks: Sequence[int] | None) -> list[int]:
    limit = run.design.min_n if run.design is not None else run.n_min()
    if ks:
        for k in ks:
            if k > limit:
                raise EvalkitError(f"k={k} exceeds the {limit} samples every problem of {run.path} has; drop that k")
        return sorted(set(ks))
    return default_ks(limit)


def disagreement_table(run: RunData, second: SecondColumn) -> list[dict]:
    """Counts of each (class, primary status, second status) among the disagreeing samples."""
    p = run.table.correct
    differ = np.flatnonzero(p != second.correct)
    total = len(p)
    pairs = run.table.status[differ].astype(np.int64) * len(STATUSES) + second.status[differ]
    out = []
    for code, count in zip(*np.unique(pairs, return_counts=True)):
        ps, ss = STATUSES[int(code) // len(STATUSES)], STATUSES[int(code) % len(STATUSES)]
        out.append({"class": _CLASSES[ps == "correct"], "primary_status": ps, "second_status": ss,
                    "count": int(count), "fraction": int(count) / total})
    return sorted(out, key=lambda r: (r["class"], -r["count"]))


def disagreements(store: RunStore, run: RunData, second: SecondColumn, judge: Any = None) -> list[dict]:
    """Every disagreeing sample, in the table's order: ids, gold, both verdicts, statuses and answers
    (and the judge's verdict when a judge ran). Answers are streamed from grades.jsonl and
    audit.jsonl for these samples only."""
    where = Positions(run.table)
    differ = np.flatnonzero(run.table.correct != second.correct)
    wanted = {where.key(int(pos)) for pos in differ}
    primary_answer, second_answer = answers_of(store.path / GRADES, wanted), answers_of(store.path / AUDIT, wanted)
    out = []
    for pos in differ:
        key = where.key(int(pos))
        row = {"problem_id": key[0], "sample_index": key[1], "primary": bool(run.table.correct[pos]), "second": bool(second.correct[pos])}
        if judge is not None:
            row["judge"] = None if judge.verdict[pos] < 0 else bool(judge.verdict[pos] == 1)
        row.update({"gold": second.gold.get(key[0]), "primary_answer": primary_answer.get(key), "second_answer": second_answer.get(key),
                    "primary_status": STATUSES[run.table.status[pos]], "second_status": STATUSES[second.status[pos]]})
        out.append(row)
    return out


def report(store: RunStore, run: RunData, second: SecondColumn, judge: Any, ks: Sequence[int], details: bool = True) -> dict:
    """The audit's JSON report (fractions throughout). `details`: list every disagreeing sample."""
    columns = readings(run, second, judge)
    values, intervals = pass_at_k(run, columns, ks)
    total = len(run.table.correct)
    differ = int((run.table.correct != second.correct).sum())
    out: dict[str, Any] = {
        "run_dir": str(run.path), "model": run.model, "label": run.label, "benchmark": run.benchmark,
        "second_grader": grader_version(), "num_problems": len(run.table.problem_ids), "num_problems_total": run.coverage()[1],
        "num_samples": total,
        "agreement": 1 - differ / total, "num_disagreements": differ,
        "disagreement_table": disagreement_table(run, second),
    }
    if details:
        out["disagreements"] = disagreements(store, run, second, judge)
    out.update({"pass_at_k": values, "ci95": intervals})
    if run.design is not None:
        out["counted"] = f"the first {run.design.min_n} samples of every problem (adaptive design: its stopping rule follows the primary's verdicts)"
    if judge is not None:
        out["judge"] = judge.summary(run.table.correct != second.correct)
    return out


# -- entry points ---------------------------------------------------------------------------------
def math_run(run_dir: str | Path) -> RunData:
    """A finished math run; anything else is a one-line error."""
    run = load_run(run_dir, stats=False)
    if run.family != "math":
        raise EvalkitError(f"{run.path} is a {run.benchmark} run ({run.family}): the audit re-grades math answers; pass a math run")
    return run


def audit(run_dir: str | Path, *, data: str | None = None, ks: Sequence[int] | None = None, workers: int | None = None,
          time_limit: float = 5.0, judge: Any = None) -> dict:
    """Grade what the cache lacks, ask the judge (when configured) what it has not answered, report."""
    from .audit_judge import read_judge, run_judge

    run = math_run(run_dir)
    ks = audit_ks(run, ks)
    store = RunStore(run.path)
    column = read_cache(store, run, Positions(run.table))
    fresh = column is None
    if fresh and (store.path / AUDIT).exists():
        log.warning("%s was made for other samples, gold or second-grader version: the audit starts over", store.path / AUDIT)
    problems = None
    if fresh or not column.complete:
        problems = load_problems(run, data)
        column = column or SecondColumn.empty(len(run.table.correct))
        grade_missing(store, run, column, {pid: p.answer or "" for pid, p in problems.items()},
                      workers=workers, time_limit=time_limit, fresh=fresh)
    if problems is not None or run.table.second is None:  # new verdicts, or a table that lacks them
        record(store, run, column)
    if judge is not None:
        verdicts = run_judge(store, run, column, judge, problems or load_problems(run, data))
    else:
        verdicts = read_judge(store, run)
    return report(store, run, column, verdicts, ks)


def audit_summary(run: str | Path | RunData, ks: Sequence[int] | None = None, details: bool = True) -> dict | None:
    """The audit's figures from what the run directory holds, grading nothing: None when the run has
    no finished audit valid for its current samples (never audited, stale, or interrupted)."""
    from .audit_judge import read_judge

    run = run if isinstance(run, RunData) else load_run(run, stats=False)
    if run.family != "math":
        return None
    column = load_audit(run)
    if column is None:
        return None
    store = RunStore(run.path)
    return report(store, run, column, read_judge(store, run), audit_ks(run, ks), details=details)


def audit_figures(run: RunData, ks: Sequence[int]) -> dict | None:
    """What compare and export show of a run's audit: agreement and pass@k per reading with intervals."""
    summary = audit_summary(run, [k for k in ks if k <= (run.design.min_n if run.design else run.n_min())], details=False)
    if summary is None:
        return None
    passk = {name: {k: {"value": v, "ci95": summary["ci95"][name][k]} for k, v in values.items()}
             for name, values in summary["pass_at_k"].items()}
    return {"agreement": summary["agreement"], "num_disagreements": summary["num_disagreements"],
            "second_grader": summary["second_grader"], "pass_at_k": passk,
            **({"judge_model": summary["judge"]["model"]} if "judge" in summary else {})}


def write_report(path: str | Path, audit_report: dict) -> None:
    p = Path(path)
    if not p.parent.is_dir():
        raise EvalkitError(f"--json {p}: directory {p.parent} does not exist")
    write_json_atomic(p, audit_report)
