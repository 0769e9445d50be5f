"""A run reduced to what is counted: `RunTable`, the one in-memory form every figure starts from
(metrics.json, compare, gate, export, view, audit, plots), however it was read (scoring/table.py).

Per sample it keeps a correct bit, a status code, an answer class (for maj@k), three token statistics,
the finish reason and, once `evalkit audit` ran, the second grader's verdict, in flat numpy arrays
ordered problem by problem, sample index by sample index: no text, so a million samples fit in about
35 MB. Problems are in natural id order (`math500/2` before `math500/10`), the same order wherever a
run is read, so the bootstrap (which resamples problems) gives one interval per run everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Sequence

import numpy as np

from ..types import STATUSES, EvalkitError, natural_key

STATUS_CODE = {s: i for i, s in enumerate(STATUSES)}
NO_ANSWER = -1  # the answer class of a sample without an answer
NO_FINISH = -1  # the finish code of a sample whose finish reason was not recorded
NO_VERDICT = 255  # the second grader's status code of a sample it has not graded


@dataclass
class SecondVerdicts:
    """The second grader's verdicts (`evalkit audit`) over a table's samples, and the audit.jsonl
    header they were read under (reports/audit_column.py decides whether that header is still valid)."""

    correct: np.ndarray  # bool, (S,)
    status: np.ndarray  # uint8 codes into types.STATUSES, NO_VERDICT where not graded, (S,)
    header: dict

    @property
    def have(self) -> np.ndarray:
        return self.status != NO_VERDICT


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
    finish: np.ndarray | None = None  # int16 codes into finish_names, NO_FINISH when unknown, (S,)
    finish_names: tuple[str, ...] = ()
    second: SecondVerdicts | None = None

    def __post_init__(self) -> None:
        if self.finish is None:
            self.finish = np.full(len(self.correct), NO_FINISH, np.int16)

    @property
    def n(self) -> np.ndarray:
        """Samples per problem."""
        return np.diff(self.offsets)

    @property
    def c(self) -> np.ndarray:
        """Correct samples per problem."""
        return np.add.reduceat(self.correct.astype(np.int64), self.offsets[:-1]) if len(self.problem_ids) else np.zeros(0, np.int64)

    def finished_by(self, reason: str) -> np.ndarray:
        """Which samples ended with `reason` ("stop", "length": cut at the token limit, "error")."""
        if reason not in self.finish_names:
            return np.zeros(len(self.correct), bool)
        return self.finish == self.finish_names.index(reason)

    def rows(self, ids: Sequence[str]) -> np.ndarray:
        """Row positions of `ids` (every id must be in the table)."""
        where = {pid: i for i, pid in enumerate(self.problem_ids)}
        return np.array([where[p] for p in ids], dtype=np.int64)

    def head(self, m: int) -> "RunTable":
        """The first m samples of every problem (all of them where a problem has fewer)."""
        n = np.minimum(self.n, m)
        keep = np.concatenate([np.arange(lo, lo + k) for lo, k in zip(self.offsets[:-1], n)]) if len(n) else np.zeros(0, np.int64)
        return self.take(list(self.problem_ids), np.concatenate([[0], np.cumsum(n)]), keep)

    def take(self, problem_ids: list[str], offsets: np.ndarray, keep: np.ndarray) -> "RunTable":
        """A table of the samples at positions `keep` (grouped by problem as `offsets` says)."""
        per_sample = {f.name: getattr(self, f.name)[keep] for f in fields(self)
                      if isinstance(getattr(self, f.name), np.ndarray) and f.name != "offsets"}
        second = None if self.second is None else replace(self.second, correct=self.second.correct[keep], status=self.second.status[keep])
        return replace(self, problem_ids=problem_ids, offsets=np.asarray(offsets, np.int64), second=second, **per_sample)

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


@dataclass
class GradedSamples:
    """Every graded sample of a run directory (a regrade's later line already won), before it is cut
    to what a reader counts: `index[j]` is the sample index of `table`'s sample j. Problems are in
    natural id order, indices ascending within a problem; a problem's indices may have gaps here.
    This is what table.parquet persists."""

    table: RunTable
    index: np.ndarray  # int32, (S,)
    built_from: dict | None = None  # the stamps of the files it was read from (scoring/table_file.py)
    lines: tuple[np.ndarray, np.ndarray] | None = None  # byte offsets of each sample's line in samples.jsonl, grades.jsonl

    def select(self, where: str, n: int | None, expected: set[str] | None) -> RunTable:
        """The counted table: sample indices 0..n-1 (n None: each problem's graded indices, which must
        have no gaps) of the `expected` problems (None: all); an unfinished run is a one-line error."""
        t, index = self.table, self.index
        keep = np.ones(len(index), bool)
        if n is not None:
            keep &= index < n
        problem = np.repeat(np.arange(len(t.problem_ids)), t.n)
        if expected is not None:
            keep &= np.array([pid in expected for pid in t.problem_ids], bool)[problem]
        counts = np.bincount(problem[keep], minlength=len(t.problem_ids))
        present = counts > 0
        ids = [pid for pid, here in zip(t.problem_ids, present.tolist()) if here]
        if not ids:
            raise EvalkitError(f"{where} has no graded samples; finish it by rerunning the command that made it")
        counts = counts[present]
        if keep.all():  # every graded sample counts (the usual case): no copy
            _check_complete(where, ids, index, counts, n, expected)
            return t
        positions = np.flatnonzero(keep)
        _check_complete(where, ids, index[positions], counts, n, expected)
        return t.take(ids, np.concatenate([[0], np.cumsum(counts)]), positions)


def _check_complete(where: str, ids: list[str], idx: np.ndarray, counts: np.ndarray, n: int | None, keep: set[str] | None) -> None:
    """Every problem holds indices 0..n-1 (or 0..its largest index), and every expected problem is there."""
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    largest = idx[starts + counts - 1]
    want = np.full(len(ids), n) if n is not None else largest + 1
    short = np.flatnonzero(counts != want)
    if len(short):
        r = int(short[0])
        raise EvalkitError(f"{where} is unfinished: problem {ids[r]} has {counts[r]} of {want[r]} samples graded; rerun the command that made it")
    if keep is not None and len(ids) < len(keep):
        missing = sorted(keep - set(ids), key=natural_key)
        raise EvalkitError(f"{where} is unfinished: {len(missing)} of {len(keep)} problems have no grades (e.g. {missing[0]}); rerun the command that made it")
