"""Math verifier: extract the final answer, settle what strings can settle, check the rest symbolically.

    response --extract--> answer --normalize--> key (gold, canonical answer)
        key seen before      -> the cached verdict
        strings settle it    -> correct / wrong at once (extract.fast_verdict)
        otherwise            -> one symbolic check per key on a worker pool (pool.py), hard time limit

At n=64 most samples of a problem repeat a handful of answers, so grading costs one check per
distinct (problem, answer), spread over all cores. Grades stream out as verdicts arrive; the
number of keys in flight is capped, so memory does not grow with the number of samples.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import OrderedDict
from typing import Iterable, Iterator

from ...types import Grade, Problem, Sample
from .boxes import answer_shape, gold_answer
from .extract import Extraction, check_text, extract_answer, fast_verdict, normalize
from .pool import CheckPool

Key = tuple[str, str, tuple[str, ...]]
_CACHE_SIZE = 100_000
_CACHED_KEY_CHARS = 4096
_ANSWER_CHARS = 1000
_SHAPED_GOLD = 4096  # a longer gold (a whole solution without a box) is read as one part


class MathVerifier:
    """Grades math samples; yields grades in completion order of their checks, not input order.

    time_limit: seconds one symbolic check may take before its worker is killed (status timeout).
    workers: processes for symbolic checks (default: all usable cores).
    """

    def __init__(self, time_limit: float = 5.0, workers: int | None = None, max_in_flight: int = 512):
        self.pool = CheckPool(workers=workers, time_limit=time_limit)
        self.max_in_flight = max_in_flight
        self._verdicts: OrderedDict[Key, tuple[str, str]] = OrderedDict()
        self._waiting: dict[Key, list[tuple[str, int]]] = {}
        self._gold_norm: dict[Key, str] = {}
        self._tickets = itertools.count()
        self._ticket_key: dict[int, Key] = {}

    def grade(self, items: Iterable[tuple[Problem, Sample]], extract: bool = True) -> Iterator[Grade]:
        for count, (problem, sample) in enumerate(items):
            yield from self._admit(problem, sample, extract)
            while self.pool.pending() >= self.max_in_flight:
                yield from self._drain(block=True)
            if count % 32 == 0:
                yield from self._drain(block=False)
        while self.pool.pending():
            yield from self._drain(block=True)

    def check(self, pairs: Iterable[tuple[str, str]]) -> Iterator[tuple[int, Grade]]:
        """Grade already-extracted answers: (gold, answer) pairs -> (pair index, Grade), any order."""
        answers = ((Problem(id=str(i), prompt="", answer=gold), Sample(str(i), 0, None, ans)) for i, (gold, ans) in enumerate(pairs))
        for g in self.grade(answers, extract=False):
            yield int(g.problem_id), g

    def close(self) -> None:
        self.pool.close()

    def _admit(self, problem: Problem, sample: Sample, extract: bool) -> Iterator[Grade]:
        """Grade at once when possible; otherwise park the sample on its key's pending check."""
        ids = (sample.problem_id, sample.sample_index)
        gold = gold_answer(problem.answer or "")
        answer, unanswered = _answer_of(ids, sample, extract, gold)
        if answer is None:
            yield unanswered  # type: ignore[misc]
            return
        gold_norm, pred_norm = normalize(gold), normalize(answer)
        key: Key = (gold, pred_norm, _choice_letters(problem))
        if key in self._verdicts:
            self._verdicts.move_to_end(key)
            yield _grade(ids, gold_norm, pred_norm, *self._verdicts[key])
            return
        if key in self._waiting:
            self._waiting[key].append(ids)
            return
        verdict = fast_verdict(gold, gold_norm, answer, pred_norm)
        if verdict is not None:
            status = "correct" if verdict else "wrong"
            detail = "same canonical string" if verdict else "different numbers or choices"
            self._remember(key, (status, detail))
            yield _grade(ids, gold_norm, pred_norm, status, detail)
            return
        self._waiting[key] = [ids]
        self._gold_norm[key] = gold_norm
        ticket = next(self._tickets)  # a small id travels to the worker, not the (maybe huge) key
        self._ticket_key[ticket] = key
        self.pool.submit(ticket, gold, check_text(answer), key[2])

    def _drain(self, block: bool) -> Iterator[Grade]:
        for ticket, status, detail in self.pool.results(block):
            key = self._ticket_key.pop(ticket)  # type: ignore[arg-type]
            self._remember(key, (status, detail))
            gold_norm = self._gold_norm.pop(key)
            for ids in self._waiting.pop(key):
                yield _grade(ids, gold_norm, key[1], status, detail)

    def _remember(self, key: Key, verdict: tuple[str, str]) -> None:
        if len(key[0]) + len(key[1]) > _CACHED_KEY_CHARS:  # a pathological answer is not kept around
            return
        self._verdicts[key] = verdict
        if len(self._verdicts) > _CACHE_SIZE:
            self._verdicts.popitem(last=False)


def _answer_of(ids: tuple[str, int], sample: Sample, extract: bool, gold: str) -> tuple[str | None, Grade | None]:
    """The sample's answer text (several final boxes form one against a gold of several parts), or
    the grade of a sample that has none (error / truncated / no_answer)."""
    if sample.finish_reason == "error":  # the backend failed, not the model: never a wrong answer
        return None, Grade(*ids, correct=False, status="error", answer=None, detail="sampling backend error")
    if not extract:
        found = Extraction(sample.completion, "ok")
    else:
        found = extract_answer(sample.completion, sample.finish_reason, answer_shape(gold) if len(gold) <= _SHAPED_GOLD else answer_shape(""))
    if found.answer is not None:
        return found.answer, None
    detail = "token limit or unclosed <think>" if found.status == "truncated" else "no final answer found"
    return None, Grade(*ids, correct=False, status=found.status, answer=None, detail=detail)


def _grade(ids: tuple[str, int], gold_norm: str, pred_norm: str, status: str, detail: str) -> Grade:
    """Correct answers vote as the gold's canonical string, so \\frac12 and 0.5 form one group."""
    answer = gold_norm if status == "correct" else _short(pred_norm)
    return Grade(ids[0], ids[1], correct=status == "correct", status=status, answer=answer, detail=detail)


def _short(answer: str) -> str:
    """A megabyte answer is recorded by its head and a digest: still one vote per distinct answer."""
    if len(answer) <= _ANSWER_CHARS:
        return answer
    return f"{answer[:200]}...[{len(answer)} chars, sha1 {hashlib.sha1(answer.encode()).hexdigest()[:12]}]"


def _choice_letters(problem: Problem) -> tuple[str, ...]:
    choices = problem.metadata.get("choices") if problem.metadata else None
    return tuple("ABCDEFGHIJ"[: len(choices)]) if choices else ()
