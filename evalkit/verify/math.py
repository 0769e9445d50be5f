"""Math verifier: extract the final answer from a response, then check equivalence with the gold answer."""

from __future__ import annotations

import re
from typing import Iterable, Iterator

from ..types import Grade, Problem, Sample


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} / \\fbox{...}, with nested braces."""
    idx = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if idx < 0:
        return None
    i = text.find("{", idx)
    if i < 0:
        return None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j].strip()
    return None


def normalize(ans: str) -> str:
    return re.sub(r"\s+", "", ans).rstrip(".").replace("\\!", "")


class MathVerifier:
    def __init__(self, **_: object):
        pass

    def grade(self, items: Iterable[tuple[Problem, Sample]]) -> Iterator[Grade]:
        for problem, sample in items:
            yield grade_one(problem, sample)


def grade_one(problem: Problem, sample: Sample) -> Grade:
    answer = last_boxed(sample.completion)
    base = dict(problem_id=sample.problem_id, sample_index=sample.sample_index)
    if answer is None:
        status = "truncated" if sample.finish_reason == "length" else "no_answer"
        return Grade(**base, correct=False, status=status, answer=None)
    ok = normalize(answer) == normalize(problem.answer or "")
    return Grade(**base, correct=ok, status="correct" if ok else "wrong", answer=answer)
