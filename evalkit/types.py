"""evalkit's whole vocabulary: the records that flow down the pipeline and the two callable protocols.

    Problem --(prompt rendering, Sampler)--> Sample --(Verifier)--> Grade --(passk)--> metrics

Everything else in the package is plain functions over these.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Protocol, Sequence

# Why a sample failed, not only that it did. `correct` is the only passing status.
# math: wrong / no_answer / truncated / timeout / error; code adds oom and syntax_error.
STATUSES = ("correct", "wrong", "no_answer", "truncated", "timeout", "error", "oom", "syntax_error")


class EvalkitError(Exception):
    """A user-facing failure: the message is one line naming the problem and the fix.

    The CLI prints it as `error: <message>` and exits non-zero, without a traceback.
    """

    exit_code = 1


@dataclass(frozen=True)
class Problem:
    """One benchmark item. `answer` is set for math, `tests` for code (adapter-specific dict)."""

    id: str
    prompt: str
    answer: str | None = None
    tests: dict[str, Any] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Sample:
    """One completion drawn for (problem_id, sample_index) with its own derived seed."""

    problem_id: str
    sample_index: int
    seed: int | None  # None only for completions scored from a file (`evalkit score`)
    completion: str
    finish_reason: str = "stop"  # "stop" | "length" | "error" (backend failure, not the model's)
    num_tokens: int = 0
    mean_entropy: float | None = None  # nats per generated token, see samplers/entropy.py
    mean_logprob: float | None = None  # mean log-probability of the sampled tokens
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if not d["extra"]:
            del d["extra"]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Sample":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class Grade:
    """The verdict on one sample. `answer` is what the verifier extracted (None when nothing was)."""

    problem_id: str
    sample_index: int
    correct: bool
    status: str
    answer: str | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown grade status {self.status!r}; expected one of {STATUSES}")
        if self.correct != (self.status == "correct"):
            raise ValueError(f"grade correct={self.correct} contradicts status={self.status!r}")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Grade":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class SampleRequest:
    """One completion to draw. `prompt` is the fully rendered text (chat template already applied)."""

    problem_id: str
    sample_index: int
    seed: int
    prompt: str


class Sampler(Protocol):
    """A backend (transformers, vLLM, an OpenAI-compatible server) that draws completions.

    `sample` yields each Sample as soon as it is complete, in any order, so the caller can
    append it to the store immediately: a crash loses at most what was in flight.
    """

    def sample(self, requests: Sequence[SampleRequest]) -> Iterator[Sample]: ...

    def close(self) -> None: ...


class Verifier(Protocol):
    """Grades samples of one benchmark family. Yields grades in any order (it may fan out)."""

    def grade(self, items: Iterable[tuple[Problem, Sample]]) -> Iterator[Grade]: ...

    def close(self) -> None: ...  # stops worker processes (math pool, code fork servers)
