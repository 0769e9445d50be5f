"""evalkit's whole vocabulary: the records that flow down the pipeline and the two callable protocols.

    Problem --(prompt rendering, Sampler)--> Sample --(Verifier)--> Grade --(passk)--> metrics

Everything else in the package is plain functions over these.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Iterator, Protocol, Sequence

# Why a sample failed, not only that it did. `correct` is the only passing status.
# math: wrong / no_answer / truncated / timeout / error; code adds oom and syntax_error.
STATUSES = ("correct", "wrong", "no_answer", "truncated", "timeout", "error", "oom", "syntax_error")


def natural_key(text: str) -> list:
    """The order of problem ids and checkpoint paths: `x/2` before `x/10` (digit runs compare as numbers)."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text)]


class EvalkitError(Exception):
    """A user-facing failure: the message is one line naming the problem and the fix.

    The CLI prints it as `error: <message>` and exits non-zero, without a traceback.
    """

    exit_code = 1


# How a code problem's tests run (evalkit/verify/code/procs/judge.py): assert-style test code that calls
# check(candidate); inputs whose outputs are compared with the reference's; LiveCodeBench's tests.
CODE_MODES = ("check", "io", "lcb")
# Named comparison rules for io mode, each generic: the adapter picks them per problem, the judge applies
# them to plain values and knows no benchmark. See judge.compare().
IO_RULES = {
    "set_eq": "outputs are equal as sets (order and repetition ignored)",
    "not_none": "a bool output must equal the expected one; any other output counts as True unless it is None",
    "any_output": "every output that comes back is accepted",
    "zero_ok": "0 is accepted besides the expected output",
    "or_alternative": "alternatives[i] (within atol) is accepted besides the expected output",
    "polynomial_root": "the output is a root, within atol, of the polynomial whose coefficients are argument 0",
}


@dataclass(frozen=True, eq=False)
class CodeTests:
    """What a code problem is graded against: built by the adapter, read by the code verifier, sent as
    plain data to the judge. Benchmark quirks are resolved by the adapter into this record: inputs are
    already the Python values the tests call with, and comparison quirks are named `rules`.

    `identity()` is what data_hash and the calibration cache cover: by default the fields that differ
    from their defaults (for check-mode tests that is exactly the form those hashes have always had).
    Where the record holds derived values (io: decoded inputs and rules; lcb: an empty starter the old
    form kept), the adapter passes that old form as `hashed_as`, so runs made before this record existed
    stay comparable and calibrations stay valid. It must change whenever the tests do.
    """

    mode: str  # one of CODE_MODES
    entry_point: str  # the function (check, io), the `Solution` method (lcb "method"), "" (lcb "stdin")
    canonical: str = ""  # the reference program (check, io); LiveCodeBench has none
    test: str = ""  # check: the test code
    check_fn: str | None = "check"  # check: the function the test code defines; None: its asserts run bare
    inputs: Sequence[Any] = ()  # io: argument lists; lcb: LCB's input strings
    outputs: Sequence[Any] = ()  # lcb: LCB's expected output strings (io collects its own from `canonical`)
    num_base: int = 0  # io: inputs[:num_base] are the original benchmark's, the rest EvalPlus's additions
    atol: float = 0.0  # io: absolute tolerance for float outputs (EvalPlus's per-task atol)
    rules: tuple[str, ...] = ()  # io: names from IO_RULES
    alternatives: Sequence[Any] | None = None  # io, rule "or_alternative": one accepted value per input
    kind: str = ""  # lcb: "stdin" (a whole program per test) | "method" (Solution().entry_point)
    starter: str = ""  # lcb: the starter code the prompt shows
    hashed_as: dict[str, Any] | None = None  # see above

    def __post_init__(self) -> None:
        if self.mode not in CODE_MODES:
            raise ValueError(f"unknown code test mode {self.mode!r}; expected one of {CODE_MODES}")
        unknown = [r for r in self.rules if r not in IO_RULES]
        if unknown:
            raise ValueError(f"unknown io rule(s) {unknown}; known: {sorted(IO_RULES)}")
        if "or_alternative" in self.rules and (self.alternatives is None or len(self.alternatives) != len(self.inputs)):
            raise ValueError("rule 'or_alternative' needs one alternative per input")

    def identity(self) -> dict[str, Any]:
        if self.hashed_as is not None:
            return self.hashed_as
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name != "hashed_as" and getattr(self, f.name) != f.default}


@dataclass(frozen=True)
class Problem:
    """One benchmark item. `answer` is set for math, `tests` for code."""

    id: str
    prompt: str
    answer: str | None = None
    tests: CodeTests | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def identity(self) -> dict[str, Any]:
        """What data_hash covers: every field, code tests by their `identity`."""
        return {"id": self.id, "prompt": self.prompt, "answer": self.answer,
                "tests": self.tests.identity() if self.tests is not None else None, "metadata": self.metadata}


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
    # Not in samples.jsonl: the drawn token ids go to tokens.jsonl (budget forcing continues from them);
    # the prompt's token count and its prefix-cache hits feed the run's cost (evalkit/cost.py).
    token_ids: list[int] | None = None
    prompt_tokens: int | None = field(default=None, compare=False)
    cached_tokens: int | None = field(default=None, compare=False)  # varies with what else the engine ran

    def to_json(self) -> dict[str, Any]:
        """The samples.jsonl record. The completion goes last, so readers that need only the small
        fields (store.sample_head) never decode it; built by hand, not dataclasses.asdict (which
        deep-copies and costs more than the JSON encoding itself)."""
        d: dict[str, Any] = {
            "problem_id": self.problem_id, "sample_index": self.sample_index, "seed": self.seed,
            "finish_reason": self.finish_reason, "num_tokens": self.num_tokens,
            "mean_entropy": self.mean_entropy, "mean_logprob": self.mean_logprob,
        }
        if self.extra:
            d["extra"] = self.extra
        d["completion"] = self.completion
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Sample":
        return cls(
            d["problem_id"], d["sample_index"], d.get("seed"), d["completion"], d.get("finish_reason", "stop"),
            d.get("num_tokens", 0), d.get("mean_entropy"), d.get("mean_logprob"), d.get("extra") or {},
        )


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
        return {"problem_id": self.problem_id, "sample_index": self.sample_index, "correct": self.correct,
                "status": self.status, "answer": self.answer, "detail": self.detail}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Grade":
        return cls(d["problem_id"], d["sample_index"], d["correct"], d["status"], d.get("answer"), d.get("detail", ""))


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
    """Grades samples of one benchmark family. Yields grades in any order (it may fan out). One that
    grades in other threads also has `interrupt() -> list[Grade]` (Ctrl-C: stop, and hand over what is
    finished but not yet yielded; pipeline.grade writes those before it stops)."""

    def grade(self, items: Iterable[tuple[Problem, Sample]]) -> Iterator[Grade]: ...

    def close(self) -> None: ...  # stops worker processes (math pool, code fork servers)
