"""The one place a run is read for figures: `read_table` gives the `RunTable` (scoring/run_table.py)
that metrics.json, compare, gate, export, view, audit and plots all count from.

A finished run is read from its table.parquet (scoring/table_file.py) when that is current; otherwise
grades.jsonl (and samples.jsonl for token statistics and finish reasons) are streamed a line at a
time, as they always were, and the table is written for the next reader: once, with a progress bar,
and with one line saying why when an existing table was not current. A run directory that cannot be
written is read from its JSONL files every time, saying so once. Both paths give the same arrays, so
every output is the same with or without the table. EVALKIT_TABLE=off reads the JSONL files only.
"""

from __future__ import annotations

import logging
import os
from array import array
from typing import Callable, Iterable

import numpy as np

from ..store import GRADES, SAMPLES, RunStore, iter_grade_rows, iter_sample_stats
from ..types import EvalkitError, natural_key
from . import table_file
from .run_table import NO_ANSWER, NO_FINISH, NO_VERDICT, STATUS_CODE, GradedSamples, RunTable, SecondVerdicts  # noqa: F401 (re-exported)

log = logging.getLogger(__name__)
_UNWRITABLE: set[str] = set()  # run directories already reported as read-only in this process
SMALL_GRADES = 2 << 20  # bytes of grades.jsonl (about 15,000 samples) below which streaming beats importing pyarrow


def read_table(store: RunStore, n: int | None = None, expected: Iterable[str] | None = None, stats: bool = True,
               persist: bool = True) -> RunTable:
    """The counted table of a run directory.

    `n`: count sample indices 0..n-1 only (None: each problem's graded indices, which must have no gaps).
    `expected`: the problems the run is about; others are left out and a missing one is an error.
    A later grade line for the same sample (a regrade) replaces an earlier one.
    `persist`: use and keep table.parquet (False: stream the JSONL files and write nothing, for a run
    still being drawn; `stats` False then skips samples.jsonl).
    """
    keep = None if expected is None else set(expected)
    graded = load_graded(store) if persist and tables_enabled() else build(store, stats=stats)
    return graded.select(str(store.path), n, keep)


def table_from_rows(store: RunStore, rows: Iterable[tuple], n: int | None = None, expected: Iterable[str] | None = None) -> RunTable:
    """A table from grade rows shaped as store.iter_grade_rows yields them (a budget's column: each
    sample's own grade, or its forced answer's), without token statistics."""
    cols = _Columns()
    for pid, i, correct, status, answer, *_ in rows:
        cols.add(pid, i, correct, status, answer)
    return _assemble(store, cols).select(str(store.path), n, None if expected is None else set(expected))


def tables_enabled() -> bool:
    """EVALKIT_TABLE=off: never read or write table.parquet (the JSONL files only, as before it existed)."""
    return os.environ.get("EVALKIT_TABLE", "on").lower() not in ("off", "0", "false", "no")


def load_graded(store: RunStore) -> GradedSamples:
    """Every graded sample of the run: from table.parquet when current, else from the JSONL files
    (and then written to table.parquet, when the directory is writable)."""
    if small(store) and table_file.current_by_manifest(store):
        return build(store)  # streaming a small run costs less than loading pyarrow
    try:
        graded = table_file.read(store)
        if graded is not None:
            return graded
    except table_file.NotCurrent as e:
        log.warning("%s: %s; rebuilding it from the run's JSONL files", store.path / table_file.TABLE, e)
    built_from = table_file.sources(store)  # stamped before reading: a line appended meanwhile makes it stale
    graded = build(store, stats=True, progress=True)
    graded.built_from = built_from
    save(store, graded)
    return graded


def small(store: RunStore) -> bool:
    """A run whose grades.jsonl is under SMALL_GRADES: streamed, its table kept current but not read."""
    path = store.path / GRADES
    return path.exists() and path.stat().st_size < SMALL_GRADES


def save(store: RunStore, graded: GradedSamples) -> bool:
    """Write `graded` (with the stamps it was read under) as the run's table.parquet. A directory that
    cannot be written is said once per process and costs nothing else: readers use the JSONL files."""
    if not tables_enabled() or graded.built_from is None:
        return False
    try:
        table_file.write(store, graded, graded.built_from)
        return True
    except OSError as e:
        where = str(store.path)
        if where not in _UNWRITABLE:
            _UNWRITABLE.add(where)
            log.warning("note: cannot write %s (%s); reading the run from its JSONL files each time", store.path / table_file.TABLE,
                        e.strerror or e)
        return False


def save_second(store: RunStore, counted: RunTable, second: SecondVerdicts) -> bool:
    """Record the second grader's verdicts on the samples of `counted` (a table read_table gave for
    this run) in its table.parquet, when that is current: `evalkit audit` and the first reader of a
    finished audit call this, so later readers need not parse audit.jsonl."""
    if not tables_enabled():
        return False
    try:
        graded = table_file.read(store, lines=True)
    except table_file.NotCurrent:
        return False
    if graded is None:
        return False
    at = counted_positions(graded, counted)
    if at is None:
        return False  # the grades changed since `counted` was read: the next reader rebuilds
    size = len(graded.index)
    full = SecondVerdicts(np.zeros(size, bool), np.full(size, NO_VERDICT, np.uint8), second.header)
    full.correct[at], full.status[at] = second.correct, second.status
    graded.table.second = full
    return save(store, graded)


def line_offsets(store: RunStore, counted: RunTable) -> tuple[np.ndarray, np.ndarray] | None:
    """Byte offsets of each counted sample's line in samples.jsonl (its first line) and grades.jsonl
    (its last), aligned with `counted`, -1 where there is none: from a current table.parquet, else
    None (the caller scans the files)."""
    if not tables_enabled() or small(store):
        return None
    try:
        graded = table_file.read(store, stats=False, lines=True)
    except table_file.NotCurrent:
        return None
    at = None if graded is None or graded.lines is None else counted_positions(graded, counted)
    return None if at is None else (graded.lines[0][at], graded.lines[1][at])


def counted_positions(graded: GradedSamples, counted: RunTable) -> np.ndarray | None:
    """Where each sample of `counted` (read_table's cut of this run) sits among `graded`'s samples;
    None when `graded` lacks one (the grades changed in between)."""
    where = _Positions(graded)
    firsts = [where(pid, 0) for pid in counted.problem_ids]
    lasts = [where(pid, int(m) - 1) for pid, m in zip(counted.problem_ids, counted.n)]
    if any(a is None or b is None or b - a != m - 1 for a, b, m in zip(firsts, lasts, counted.n.tolist())):
        return None
    return np.repeat(np.array(firsts, np.int64) - counted.offsets[:-1], counted.n) + np.arange(len(counted.correct))


# -- streaming the JSONL files ------------------------------------------------------------------
class _Columns:
    """Grade lines as compact columns, in file order."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.pid, self.index, self.at = array("i"), array("q"), array("q")
        self.status, self.correct, self.answer = array("B"), array("B"), array("q")

    def add(self, pid: str, i: int, correct: bool, status: str, answer: bytes | None, at: int = -1) -> None:
        self.pid.append(self.codes.setdefault(pid, len(self.codes)))
        self.index.append(i)
        self.at.append(at)
        self.status.append(STATUS_CODE[status])
        self.correct.append(correct)
        self.answer.append(NO_ANSWER if answer is None else hash(answer))


def build(store: RunStore, stats: bool = True, progress: bool = False) -> GradedSamples:
    """Every graded sample, streamed from grades.jsonl (and samples.jsonl when `stats`)."""
    with _progress(store, stats and progress) as tick:
        cols = _grade_columns(store, tick)
        graded = _assemble(store, cols)
        if stats:
            _fill_stats(store, graded, tick)
    return graded


class _progress:
    """A byte-count progress bar over the files being read (shown on a terminal only)."""

    def __init__(self, store: RunStore, show: bool):
        self.store, self.show, self.bar = store, show, None

    def __enter__(self) -> Callable[[int], None] | None:
        if not self.show:
            return None
        from tqdm import tqdm

        total = sum(p.stat().st_size for p in (self.store.path / GRADES, self.store.path / SAMPLES) if p.exists())
        self.bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"indexing {self.store.path}", disable=None, leave=False)
        return self.bar.update

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()


def _grade_columns(store: RunStore, tick: Callable[[int], None] | None) -> _Columns:
    cols = _Columns()
    try:
        for row in iter_grade_rows(store.path / GRADES, progress=tick):
            cols.add(*row)
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise EvalkitError(f"{store.path / GRADES}: unreadable grade line ({type(e).__name__}: {e}); regrade the run with --regrade") from None
    return cols


def _assemble(store: RunStore, cols: _Columns) -> GradedSamples:
    if not cols.codes:
        raise EvalkitError(f"{store.path} has no graded samples; finish it by rerunning the command that made it")
    pid = np.frombuffer(cols.pid, dtype=np.int32).astype(np.int64)
    idx = np.frombuffer(cols.index, dtype=np.int64)
    last = _last_occurrence((pid << 32) | idx)
    names = list(cols.codes)
    order = sorted(range(len(names)), key=lambda c: natural_key(names[c]))
    row_of = np.empty(len(names), dtype=np.int64)
    row_of[order] = np.arange(len(names))
    rows, idx = row_of[pid[last]], idx[last]
    sort = np.lexsort((idx, rows))
    rows, idx, last = rows[sort], idx[sort], last[sort]
    counts = np.bincount(rows, minlength=len(names))
    answer = _answer_classes(rows, np.frombuffer(cols.answer, dtype=np.int64)[last])
    size = len(rows)
    table = RunTable(
        problem_ids=[names[c] for c in order], offsets=np.concatenate([[0], np.cumsum(counts)]),
        correct=np.frombuffer(cols.correct, dtype=np.uint8)[last].astype(bool),
        status=np.frombuffer(cols.status, dtype=np.uint8)[last].copy(), answer=answer,
        tokens=np.full(size, np.nan, np.float64), entropy=np.full(size, np.nan, np.float64),
        logprob=np.full(size, np.nan, np.float64),
    )
    grade_at = np.frombuffer(cols.at, dtype=np.int64)[last]
    return GradedSamples(table, idx.astype(np.int32), lines=(np.full(size, -1, np.int64), grade_at))


def _last_occurrence(keys: np.ndarray) -> np.ndarray:
    """Positions of the last line of each key (a regrade wins)."""
    rev = keys[::-1]
    _, first_in_rev = np.unique(rev, return_index=True)
    return len(keys) - 1 - first_in_rev


def _answer_classes(rows: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Number each problem's distinct answers 0, 1, 2... in order of first appearance (by sample
    index: the same numbers however the lines were ordered); -1 for samples without an answer."""
    out = np.full(len(rows), NO_ANSWER, dtype=np.int32)
    voted = np.flatnonzero(hashes != NO_ANSWER)
    if not len(voted):
        return out
    order = voted[np.lexsort((voted, hashes[voted], rows[voted]))]  # by problem, answer, then position
    r, h = rows[order], hashes[order]
    new_class = np.concatenate([[True], (r[1:] != r[:-1]) | (h[1:] != h[:-1])])
    klass = np.cumsum(new_class) - 1  # a global class number per sample in `order`
    first, row = order[new_class], r[new_class]  # each class's first position and its problem
    by_first = np.lexsort((first, row))
    starts = np.concatenate([[True], row[by_first][1:] != row[by_first][:-1]])
    position = np.arange(len(by_first))
    rank = np.empty(len(by_first), np.int64)
    rank[by_first] = position - np.maximum.accumulate(np.where(starts, position, 0))
    out[order] = rank[klass].astype(np.int32)
    return out


def _fill_stats(store: RunStore, graded: GradedSamples, tick: Callable[[int], None] | None) -> None:
    """Token statistics, finish reasons and line offsets from samples.jsonl, matched to the graded
    samples (the first line of a pair wins), written in place: memory is the table's own columns."""
    table, size = graded.table, len(graded.index)
    where = _Positions(graded)
    seen = bytearray(size)
    tokens, entropy, logprob = (array("d", bytes(8 * size)) for _ in range(3))
    finish, line_at = array("h", [NO_FINISH]) * size, array("q", [-1]) * size
    reasons: dict[str, int] = {}
    try:
        for pid, i, n_tokens, ent, lp, reason, at in iter_sample_stats(store.path / SAMPLES, progress=tick):
            pos = where(pid, i)
            if pos is None or seen[pos]:
                continue
            seen[pos] = 1
            tokens[pos], entropy[pos], logprob[pos], line_at[pos] = _num(n_tokens), _num(ent), _num(lp), at
            if isinstance(reason, str):
                finish[pos] = reasons.setdefault(reason, len(reasons))
    except (KeyError, TypeError) as e:
        raise EvalkitError(f"{store.path / SAMPLES}: unreadable sample line ({type(e).__name__}: {e})") from None
    missing = np.frombuffer(seen, dtype=np.uint8) == 0
    for name, values in (("tokens", tokens), ("entropy", entropy), ("logprob", logprob)):
        column = np.frombuffer(values, dtype=np.float64)
        column[missing] = np.nan
        setattr(table, name, column)
    names = sorted(reasons)  # codes in name order: the same table whatever order the lines came in
    recode = np.array([names.index(r) for r in reasons] + [NO_FINISH], np.int16)
    table.finish, table.finish_names = recode[np.frombuffer(finish, dtype=np.int16)], tuple(names)
    if graded.lines is not None:
        graded.lines = (np.frombuffer(line_at, dtype=np.int64), graded.lines[1])


class _Positions:
    """(problem id, sample index) -> position among the graded samples, or None (not graded)."""

    def __init__(self, graded: GradedSamples):
        t = graded.table
        self.row = {pid: r for r, pid in enumerate(t.problem_ids)}
        self.lo, self.hi = t.offsets[:-1].tolist(), t.offsets[1:].tolist()
        index = graded.index
        self.dense = [bool(index[hi - 1] - index[lo] == hi - lo - 1 and index[lo] == 0) if hi > lo else True
                      for lo, hi in zip(self.lo, self.hi)]
        self.index = index

    def __call__(self, pid: str, i: int) -> int | None:
        r = self.row.get(pid)
        if r is None:
            return None
        lo, hi = self.lo[r], self.hi[r]
        if self.dense[r]:
            return lo + i if 0 <= i < hi - lo else None
        at = lo + int(np.searchsorted(self.index[lo:hi], i))
        return at if at < hi and self.index[at] == i else None


def _num(x: object) -> float:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else np.nan
