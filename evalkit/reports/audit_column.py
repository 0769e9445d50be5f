"""The second grader's verdicts on a run, cached in the run directory as audit.jsonl (see audit.py):
what they depend on (the cache header), where each sample sits in the run's table, reading and
resuming the cache, and grading the samples it lacks."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np

from ..scoring.table import STATUS_CODE, RunTable, SecondVerdicts, save_second
from ..scoring.table_file import holds_audit
from ..store import SAMPLES, JsonlAppender, RunStore
from ..types import EvalkitError, Problem
from .runs import RunData

log = logging.getLogger(__name__)

AUDIT = "audit.jsonl"
FORMAT = 1
_HEAD_BYTES = 1 << 16
_MATH_DIR = Path(__file__).resolve().parent.parent / "verify" / "math"
_GRADER_FILES = ("second.py", "second_equiv.py")
# The lines evalkit writes start with their keys in this order: read without decoding all of the JSON.
_KEYS = re.compile(rb'\{"problem_id": "([^"\\]*)", "sample_index": (\d+)')
_VERDICT = re.compile(rb'\{"problem_id": "([^"\\]*)", "sample_index": (\d+), "correct": (true|false), "status": "([a-z_]+)"')
_ANSWER_CHARS = 1000


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
    """A finished audit of `run` (every counted sample graded by the current second grader), or None.
    Read from the run's table.parquet when it holds the verdicts of the current audit.jsonl under a
    header that is still valid (no gold answers then: the figures do not need them); else from
    audit.jsonl, and then recorded in the table for the next reader."""
    store = RunStore(run.path)
    held = run.table.second
    if held is not None and held.have.all() and held.header == cache_header(store, run.manifest, _head_length(held.header)):
        return SecondColumn(held.correct, held.status, held.have, {})
    column = read_cache(store, run, Positions(run.table))
    if column is None or not column.complete:
        return None
    record(store, run, column)
    return column


def record(store: RunStore, run: RunData, column: SecondColumn) -> None:
    """Keep a finished audit's verdicts in the run's table.parquet (scoring/table.py) for later readers."""
    if holds_audit(store):
        return
    header = _header_line(store.path / AUDIT)
    if header is not None and column.complete:
        save_second(store, run.table, SecondVerdicts(column.correct, column.status, header))


def _header_line(path: Path) -> dict | None:
    if not path.exists():
        return None
    with open(path, "rb") as f:
        rec = _decode(path, 1, f.readline())
    return rec.get("header") if isinstance(rec, dict) and isinstance(rec.get("header"), dict) else None


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
    loaded = load(run.benchmark, path, run.manifest.get("selection"))
    if loaded.data_hash != run.data_hash:
        raise EvalkitError(f"{run.benchmark} from {loaded.source} hashes to {loaded.data_hash}, the run was graded on "
                           f"{run.data_hash} ({source or 'unknown source'}); pass --data with the file it was run on")
    by_id = {p.id: p for p in loaded.problems}
    return {pid: by_id[pid] for pid in run.table.problem_ids}
