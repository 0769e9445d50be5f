"""A run reduced to what is counted: the one place grades (and samples' token statistics) are read for
figures. metrics.json, compare, gate, export, view, audit and plots all start from a `RunTable`.

Per sample it keeps a correct bit, a status code, an answer class (for maj@k) and three token
statistics in flat numpy arrays ordered problem by problem, sample index by sample index: about 30
bytes a sample and no text, so a million samples fit in 30 MB. Problems are in natural id order
(`math500/2` before `math500/10`), the same order wherever a run is read, so the bootstrap (which
resamples problems) gives one interval per run everywhere.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from ..store import GRADES, SAMPLES, RunStore, iter_grade_rows, iter_sample_stats
from ..types import STATUSES, EvalkitError, natural_key

STATUS_CODE = {s: i for i, s in enumerate(STATUSES)}
NO_ANSWER = -1  # hash() of a str is never -1 in CPython


@dataclass
class RunTable:
    """Compact per-sample arrays of one run; `offsets[i]:offsets[i+1]` are problem i's samples."""

    problem_ids: list[str]
    offsets: np.ndarray  # int64, (P + 1,)
    correct: np.ndarray  # bool, (S,)
    status: np.ndarray  # uint8 codes into types.STATUSES, (S,)
    answer: np.ndarray  # int32 answer class within its problem, -1 when the sample has no answer, (S,)
    tokens: np.ndarray  # float64, nan when unknown, (S,)
    entropy: np.ndarray  # float64 nats per token, nan when not recorded, (S,)
    logprob: np.ndarray  # float64 mean log-probability per token, nan when not recorded, (S,)

    @property
    def n(self) -> np.ndarray:
        """Samples per problem."""
        return np.diff(self.offsets)

    @property
    def c(self) -> np.ndarray:
        """Correct samples per problem."""
        return np.add.reduceat(self.correct.astype(np.int64), self.offsets[:-1]) if len(self.problem_ids) else np.zeros(0, np.int64)

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        """Row positions of `ids` (every id must be in the table)."""
        where = {pid: i for i, pid in enumerate(self.problem_ids)}
        return np.array([where[p] for p in ids], dtype=np.int64)

    def head(self, m: int) -> "RunTable":
        """The first m samples of every problem (all of them where a problem has fewer)."""
        n = np.minimum(self.n, m)
        keep = np.concatenate([np.arange(lo, lo + k) for lo, k in zip(self.offsets[:-1], n)]) if len(n) else np.zeros(0, np.int64)
        pick = lambda a: a[keep]  # noqa: E731
        return RunTable(list(self.problem_ids), np.concatenate([[0], np.cumsum(n)]), pick(self.correct), pick(self.status),
                        pick(self.answer), pick(self.tokens), pick(self.entropy), pick(self.logprob))

    def votes(self, row: int) -> tuple[list[int], list[bool], int]:
        """maj@k's input for one problem: answer class sizes, which classes hold a correct sample, and
        how many samples gave no answer."""
        lo, hi = self.offsets[row], self.offsets[row + 1]
        ans, ok = self.answer[lo:hi], self.correct[lo:hi]
        voted = ans >= 0
        if not voted.any():
            return [], [], int(hi - lo)
        sizes = np.bincount(ans[voted])
        right = np.bincount(ans[voted], weights=ok[voted]) > 0
        keep = sizes > 0
        return sizes[keep].tolist(), right[keep].tolist(), int((~voted).sum())


def read_table(store: RunStore, n: int | None = None, expected: Iterable[str] | None = None, stats: bool = True) -> RunTable:
    """The table of a run directory, streamed from grades.jsonl (and samples.jsonl for token statistics).

    `n`: count sample indices 0..n-1 only (None: each problem's graded indices, which must have no gaps).
    `expected`: the problems the run is about; others are left out and a missing one is an error.
    A later grade line for the same sample (a regrade) replaces an earlier one.
    """
    keep = None if expected is None else set(expected)
    cols = _grade_columns(store, n, keep)
    table = _assemble(store, cols, n, keep)
    if stats:
        _fill_stats(store, table)
    return table


def table_from_rows(store: RunStore, rows: Iterable[tuple[str, int, bool, str, bytes | None]], n: int | None = None,
                    expected: Iterable[str] | None = None) -> RunTable:
    """A table from grade rows shaped as store.iter_grade_rows yields them (a budget's column: each
    sample's own grade, or its forced answer's), without token statistics."""
    keep = None if expected is None else set(expected)
    cols = _Columns()
    for pid, i, correct, status, answer in rows:
        if (n is not None and i >= n) or (keep is not None and pid not in keep):
            continue
        cols.add(pid, i, correct, status, answer)
    return _assemble(store, cols, n, keep)


class _Columns:
    """Grade lines as compact columns, in file order."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}
        self.pid, self.index = array("i"), array("q")
        self.status, self.correct, self.answer = array("B"), array("B"), array("q")

    def add(self, pid: str, i: int, correct: bool, status: str, answer: bytes | None) -> None:
        self.pid.append(self.codes.setdefault(pid, len(self.codes)))
        self.index.append(i)
        self.status.append(STATUS_CODE[status])
        self.correct.append(correct)
        self.answer.append(NO_ANSWER if answer is None else hash(answer))


def _grade_columns(store: RunStore, n: int | None, keep: set[str] | None) -> _Columns:
    cols = _Columns()
    try:
        for pid, i, correct, status, answer in iter_grade_rows(store.path / GRADES):
            if (n is not None and i >= n) or (keep is not None and pid not in keep):
                continue
            cols.pid.append(cols.codes.setdefault(pid, len(cols.codes)))
            cols.index.append(i)
            cols.status.append(STATUS_CODE[status])
            cols.correct.append(correct)
            cols.answer.append(NO_ANSWER if answer is None else hash(answer))
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise EvalkitError(f"{store.path / GRADES}: unreadable grade line ({type(e).__name__}: {e}); regrade the run with --regrade") from None
    return cols


def _assemble(store: RunStore, cols: _Columns, n: int | None, keep: set[str] | None) -> RunTable:
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
    _check_complete(store, [names[c] for c in order], rows, idx, counts, n, keep)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    answer = _answer_classes(rows, np.frombuffer(cols.answer, dtype=np.int64)[last])
    size = len(rows)
    return RunTable(
        problem_ids=[names[c] for c in order], offsets=offsets,
        correct=np.frombuffer(cols.correct, dtype=np.uint8)[last].astype(bool),
        status=np.frombuffer(cols.status, dtype=np.uint8)[last].copy(), answer=answer,
        tokens=np.full(size, np.nan, np.float64), entropy=np.full(size, np.nan, np.float64),
        logprob=np.full(size, np.nan, np.float64),
    )


def _last_occurrence(keys: np.ndarray) -> np.ndarray:
    """Positions of the last line of each key (a regrade wins)."""
    rev = keys[::-1]
    _, first_in_rev = np.unique(rev, return_index=True)
    return len(keys) - 1 - first_in_rev


def _check_complete(store: RunStore, ids: list[str], rows: np.ndarray, idx: np.ndarray, counts: np.ndarray,
                    n: int | None, keep: set[str] | None) -> None:
    """Every problem holds indices 0..n-1 (or 0..its largest index), and every expected problem is there."""
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    largest = idx[starts + counts - 1]
    want = np.full(len(ids), n) if n is not None else largest + 1
    short = np.flatnonzero(counts != want)
    if len(short):
        r = int(short[0])
        raise EvalkitError(f"{store.path} is unfinished: problem {ids[r]} has {counts[r]} of {want[r]} samples graded; rerun the command that made it")
    if keep is not None and len(ids) < len(keep):
        missing = sorted(keep - set(ids), key=natural_key)
        raise EvalkitError(f"{store.path} is unfinished: {len(missing)} of {len(keep)} problems have no grades (e.g. {missing[0]}); rerun the command that made it")


def _answer_classes(rows: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Number each problem's distinct answers 0, 1, 2...; -1 stays for samples without an answer."""
    out = np.full(len(rows), -1, dtype=np.int32)
    voted = np.flatnonzero(hashes != NO_ANSWER)
    if not len(voted):
        return out
    order = voted[np.lexsort((hashes[voted], rows[voted]))]
    r, h = rows[order], hashes[order]
    new_class = np.concatenate([[True], (r[1:] != r[:-1]) | (h[1:] != h[:-1])])
    new_row = np.concatenate([[True], r[1:] != r[:-1]])
    global_id = np.cumsum(new_class) - 1
    row_first = np.maximum.accumulate(np.where(new_row, global_id, 0))
    out[order] = (global_id - row_first).astype(np.int32)
    return out


def _fill_stats(store: RunStore, table: RunTable) -> None:
    """Token statistics from samples.jsonl, matched to the table's samples (the first line of a pair wins)."""
    rows_of = {pid: i for i, pid in enumerate(table.problem_ids)}
    n, offsets = table.n.tolist(), table.offsets.tolist()
    positions, values = array("q"), array("d")
    try:
        for pid, i, tokens, entropy, logprob in iter_sample_stats(store.path / SAMPLES):
            r = rows_of.get(pid)
            if r is None or i >= n[r]:
                continue
            positions.append(offsets[r] + i)
            values.extend((_num(tokens), _num(entropy), _num(logprob)))
    except (KeyError, TypeError) as e:
        raise EvalkitError(f"{store.path / SAMPLES}: unreadable sample line ({type(e).__name__}: {e})") from None
    pos = np.frombuffer(positions, dtype=np.int64)
    first = np.unique(pos, return_index=True)[1]  # the first line of a pair wins
    vals = np.frombuffer(values, dtype=np.float64).reshape(-1, 3)[first]
    table.tokens[pos[first]], table.entropy[pos[first]], table.logprob[pos[first]] = vals[:, 0], vals[:, 1], vals[:, 2]


def _num(x: object) -> float:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) else np.nan
