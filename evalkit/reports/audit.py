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

import hashlib
import json
import logging
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from ..scoring.metrics import default_ks, per_problem
from ..scoring.stats import bootstrap_ci
from ..scoring.table import STATUS_CODE, RunTable
from ..store import GRADES, SAMPLES, JsonlAppender, RunStore, write_json_atomic
from ..types import STATUSES, EvalkitError, Problem
from .runs import RunData, load_run

log = logging.getLogger(__name__)

AUDIT = "audit.jsonl"
FORMAT = 1
READINGS = ("primary", "second", "both", "any", "judged")
_HEAD_BYTES = 1 << 16
_MATH_DIR = Path(__file__).resolve().parent.parent / "verify" / "math"
_GRADER_FILES = ("second.py", "second_equiv.py")
# The lines evalkit writes start with their keys in this order: read without decoding all of the JSON.
_KEYS = re.compile(rb'\{"problem_id": "([^"\\]*)", "sample_index": (\d+)')
_VERDICT = re.compile(rb'\{"problem_id": "([^"\\]*)", "sample_index": (\d+), "correct": (true|false), "status": "([a-z_]+)"')
_ANSWER_CHARS = 1000
_CLASSES = {True: "primary_correct_second_wrong", False: "second_correct_primary_wrong"}  # keyed by the primary's verdict


# -- what the cached verdicts depend on ----------------------------------------------------------
@lru_cache(maxsize=1)
def grader_version() -> str:
    """A digest of the second grader's source files and sympy's version: any change re-grades.
    Read as files, not imported, so a cached audit never pays for importing sympy."""
    from importlib.metadata import version

    h = hashlib.sha256()
    for name in _GRADER_FILES:
        h.update((_MATH_DIR / name).read_bytes())
    h.update(version("sympy").encode())
    return "sha256:" + h.hexdigest()[:16]


def cache_header(store: RunStore, manifest: dict, head_bytes: int | None = None) -> dict:
    """The header a valid audit.jsonl of this run carries. `head_bytes`: digest that many bytes of
    samples.jsonl (a cache's own header says how many it covered; a new cache covers up to 64 KiB)."""
    path = store.path / SAMPLES
    size = path.stat().st_size if path.exists() else 0
    length = min(size, _HEAD_BYTES) if head_bytes is None else head_bytes
    digest = hashlib.sha256()
    if 0 < length <= size:
        with open(path, "rb") as f:
            digest.update(f.read(length))
    return {"format": FORMAT, "second_grader": grader_version(), "data_hash": manifest.get("data_hash"),
            "created": manifest.get("created"), "samples_head": [length, digest.hexdigest()[:32] if length <= size else None]}


# -- the run's samples as positions in its table ------------------------------------------------
class Positions:
    """(problem id, sample index) -> position in the RunTable's flat arrays, or None when the run
    does not count that sample (another problem, an index past n)."""

    def __init__(self, table: RunTable):
        self.table = table
        self.row = {pid: r for r, pid in enumerate(table.problem_ids)}
        self.n, self.offsets = table.n.tolist(), table.offsets.tolist()  # Python ints: looked up once per sample

    def __call__(self, pid: str, index: int) -> int | None:
        r = self.row.get(pid)
        if r is None or not 0 <= index < self.n[r]:
            return None
        return self.offsets[r] + index

    def key(self, pos: int) -> tuple[str, int]:
        r = int(np.searchsorted(self.table.offsets, pos, side="right")) - 1
        return self.table.problem_ids[r], pos - int(self.table.offsets[r])


@dataclass
class SecondColumn:
    """The second grader's verdicts over a run's table; `have` marks the samples graded so far."""

    correct: np.ndarray
    status: np.ndarray
    have: np.ndarray
    gold: dict[str, str]

    @classmethod
    def empty(cls, size: int) -> "SecondColumn":
        return cls(np.zeros(size, bool), np.zeros(size, np.uint8), np.zeros(size, bool), {})

    @property
    def complete(self) -> bool:
        return bool(self.have.all())


def read_cache(store: RunStore, run: RunData, where: Positions) -> SecondColumn | None:
    """The cached verdicts of `run`'s samples; None when audit.jsonl is absent or was made for other
    samples, gold or grader version (then it must not be used)."""
    path = store.path / AUDIT
    if not path.exists():
        return None
    column = SecondColumn.empty(len(run.table.correct))
    with open(path, "rb") as f:
        lines = ((i, raw) for i, raw in enumerate(f, start=1) if raw.strip())
        first = next(lines, None)
        rec = _decode(path, *first) if first is not None else None
        header = rec.get("header") if rec is not None else None
        if not isinstance(header, dict) or header != cache_header(store, run.manifest, _head_length(header)):
            return None
        try:
            for lineno, raw in lines:
                found = _verdict(path, lineno, raw, column)
                if found is None:
                    break  # a line torn by a kill: the rest of the file is being written by no one
                pos = where(found[0], found[1]) if found[0] is not None else None
                if pos is not None:
                    column.correct[pos], column.status[pos], column.have[pos] = found[2], STATUS_CODE[found[3]], True
        except (KeyError, TypeError) as e:
            raise EvalkitError(f"{path}: unreadable line ({type(e).__name__}: {e}); delete it and rerun `evalkit audit`") from None
    return column


def _verdict(path: Path, lineno: int, raw: bytes, column: SecondColumn) -> tuple | None:
    """(problem id, index, correct, status) of a verdict line, (None,) * 4 for a gold line (recorded
    into `column`), None for a torn last line. Lines as evalkit writes them are matched, not decoded."""
    m = _VERDICT.match(raw) if raw.endswith(b"\n") else None
    if m is not None:
        return m.group(1).decode(), int(m.group(2)), m.group(3) == b"true", m.group(4).decode()
    rec = _decode(path, lineno, raw)
    if rec is None:
        return None
    if "gold" in rec:
        column.gold[rec["problem_id"]] = rec["gold"]
        return None, None, None, None
    return rec["problem_id"], rec["sample_index"], bool(rec["correct"]), rec["status"]


def _decode(path: Path, lineno: int, raw: bytes) -> dict | None:
    """One JSON object; None for a torn last line (no newline), an error for a malformed one elsewhere."""
    try:
        rec = json.loads(raw)
    except ValueError:
        if not raw.endswith(b"\n"):
            return None
        raise EvalkitError(f"{path}:{lineno}: malformed JSON line; delete {path.name} and rerun `evalkit audit`") from None
    if not isinstance(rec, dict):
        raise EvalkitError(f"{path}:{lineno}: expected a JSON object per line; delete {path.name} and rerun `evalkit audit`")
    return rec


def answers_of(path: Path, wanted: set[tuple[str, int]]) -> dict[tuple[str, int], str | None]:
    """The `answer` field of the lines of `wanted` samples (a later line wins); other lines are skipped
    by their leading keys, compared as bytes, without decoding."""
    out: dict[tuple[str, int], str | None] = {}
    if not path.exists():
        return out
    prefixes = {f'{{"problem_id": {json.dumps(pid, ensure_ascii=False)}, "sample_index": {i}'.encode() for pid, i in wanted}
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            m = _KEYS.match(raw)
            if not raw.strip() or m is not None and m.group(0) not in prefixes:
                continue
            rec = _decode(path, lineno, raw)
            if rec is not None and "sample_index" in rec and (rec["problem_id"], rec["sample_index"]) in wanted:
                out[rec["problem_id"], rec["sample_index"]] = rec.get("answer")
    return out


def _head_length(header: dict) -> int | None:
    head = header.get("samples_head")
    return head[0] if isinstance(head, list) and head and isinstance(head[0], int) else None


def load_audit(run: RunData) -> SecondColumn | None:
    """A finished audit of `run` (every counted sample graded by the current second grader), or None."""
    column = read_cache(RunStore(run.path), run, Positions(run.table))
    return column if column is not None and column.complete else None


# -- grading what is missing --------------------------------------------------------------------
def grade_missing(store: RunStore, run: RunData, column: SecondColumn, gold: dict[str, str], *,
                  workers: int | None = None, time_limit: float = 5.0, fresh: bool = False) -> int:
    """Grade every counted sample without a cached verdict, appending each verdict as it comes."""
    from collections import deque

    from tqdm import tqdm

    from ..verify.math.second import SecondGrader

    where = Positions(run.table)
    todo = int((~column.have).sum())
    if not todo:
        return 0
    wanted = lambda pid, i: (pos := where(pid, i)) is not None and not column.have[pos]  # noqa: E731
    keys: deque[int] = deque()

    def rows() -> Iterator[tuple[str, str, str]]:
        for s in store.iter_samples(wanted):
            keys.append(where(s.problem_id, s.sample_index))
            yield gold[s.problem_id], s.completion, s.finish_reason

    if fresh:
        (store.path / AUDIT).unlink(missing_ok=True)
    done = 0
    with JsonlAppender(store.path / AUDIT) as out, SecondGrader(time_limit=time_limit, workers=workers, chunk=1024) as grader, \
            tqdm(total=todo, desc="audit", unit="sample", disable=None) as bar:
        if fresh:
            out.write({"header": cache_header(store, run.manifest)})
        for pid in run.table.problem_ids:
            if pid not in column.gold:
                column.gold[pid] = gold[pid]
                out.write({"problem_id": pid, "gold": gold[pid]})
        for g in grader.grade_iter(rows()):
            pos = keys.popleft()
            pid, index = where.key(pos)
            out.write({"problem_id": pid, "sample_index": index, "correct": g.correct, "status": g.status, "answer": _short(g.answer)})
            column.correct[pos], column.status[pos], column.have[pos] = g.correct, STATUS_CODE[g.status], True
            done += 1
            bar.update(1)
    if not column.complete:
        missing = where.key(int(np.flatnonzero(~column.have)[0]))
        raise EvalkitError(f"{store.path / SAMPLES} has no sample for graded pair {missing[0]} #{missing[1]}; regrade the run (--regrade)")
    return done


def _short(answer: str | None) -> str | None:
    if answer is None or len(answer) <= _ANSWER_CHARS:
        return answer
    return f"{answer[:200]}...[{len(answer)} chars, sha1 {hashlib.sha1(answer.encode()).hexdigest()[:12]}]"


def load_problems(run: RunData, data: str | None) -> dict[str, Problem]:
    """The run's counted problems, read from the benchmark file it was graded on (checked by hash)."""
    from ..adapters.loading import load

    source = run.manifest.get("data_source") or ""
    path = data if data is not None else (source if source and Path(source).exists() else None)
    loaded = load(run.benchmark, path)
    if loaded.data_hash != run.data_hash:
        raise EvalkitError(f"{run.benchmark} from {loaded.source} hashes to {loaded.data_hash}, the run was graded on "
                           f"{run.data_hash} ({source or 'unknown source'}); pass --data with the file it was run on")
    by_id = {p.id: p for p in loaded.problems}
    return {pid: by_id[pid] for pid in run.table.problem_ids}


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
        "second_grader": grader_version(), "num_problems": len(run.table.problem_ids), "num_samples": total,
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
