"""The audit's LLM judge: a model behind any OpenAI-compatible server, asked only about the samples
the two graders disagree on (and, with `no_answer`, those either grader found no answer in), so its
cost stays a few percent of the run. Its verdicts form the audit's `judged` reading.

    judge.jsonl   in the run directory: a header {judge: {model, url, prompt template, max_tokens,
                  temperature}, samples: what the run's samples are}, then one line per answered
                  request {problem_id, sample_index, why, verdict (true / false / null when the
                  reply names none), reply (raw), finish_reason, prompt (as sent)}.

Requests go through the openai backend's machinery (samplers/openai.py): the client retries
transient errors with exponential backoff, at most `concurrency` requests are in flight, a lost
server or a rejected request is one line. A request whose retries run out is not written, and a
rerun asks it again; a sample with a line is never asked twice. A judge's verdict on a sample does
not depend on the graders, so a regrade keeps the lines and asks only about new disagreements.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np

from ..config import EngineConfig
from ..store import JsonlAppender, RunStore, iter_jsonl
from ..types import EvalkitError, Problem
from .audit_column import Positions, SecondColumn, cache_header
from .runs import RunData

log = logging.getLogger(__name__)

JUDGE = "judge.jsonl"
STATUS_NO_ANSWER = "no_answer"
PROBLEM_CHARS = 6000
RESPONSE_CHARS = 6000
PROMPT = """You are checking the grading of a math answer. Decide whether the final answer of the response below is mathematically equivalent to the reference answer.

Judge only the final answer, not the reasoning. Different but equivalent forms are equivalent (0.5 and \\frac{{1}}{{2}}, x=3 and 3, a value with or without its unit, the same set in another order). A different value, an incomplete or extra list item, an unfinished response or a response without a final answer is not equivalent.

Problem:
{problem}

Reference answer:
{gold}

Response:
{response}

End your reply with one line: "VERDICT: EQUIVALENT" or "VERDICT: NOT EQUIVALENT"."""
_VERDICT = re.compile(r"VERDICT\s*:?\s*[*_`]*\s*(NOT\s+EQUIVALENT|EQUIVALENT)", re.IGNORECASE)


@dataclass(frozen=True)
class JudgeConfig:
    """Where the judge is and how it is asked (`evalkit audit --judge-url/--judge-model ...`)."""

    url: str
    model: str
    api_key: str | None = None
    concurrency: int = 16
    max_retries: int = 5
    timeout: float = 600.0
    max_tokens: int = 2048
    no_answer: bool = False

    def engine(self) -> EngineConfig:
        return EngineConfig(backend="openai", base_url=self.url, api_key=self.api_key, concurrency=self.concurrency,
                            max_retries=self.max_retries, request_timeout=self.timeout)

    def header(self) -> dict:
        return {"model": self.model, "url": self.url, "prompt": PROMPT, "max_tokens": self.max_tokens, "temperature": 0.0}


@dataclass
class JudgeColumn:
    """The judge's verdicts over a run's table: 1 equivalent, 0 not, -1 no verdict (not asked, or a
    reply without a verdict line); `answered` marks samples with a line in judge.jsonl."""

    verdict: np.ndarray
    answered: np.ndarray
    judge: dict
    why: dict[int, str] = field(default_factory=dict)

    def summary(self, disagree: np.ndarray) -> dict:
        """Counts for the report: what was asked and answered, what is still pending."""
        has = self.verdict >= 0
        return {
            "model": self.judge.get("model"), "url": self.judge.get("url"),
            "asked": int((self.answered | disagree).sum()), "answered": int(self.answered.sum()),
            "equivalent": int((self.verdict == 1).sum()), "not_equivalent": int((self.verdict == 0).sum()),
            "unparsed": int((self.answered & ~has).sum()), "pending": int((disagree & ~self.answered).sum()),
            "no_answer_asked": int(sum(1 for w in self.why.values() if w == STATUS_NO_ANSWER)),
        }


def parse_verdict(reply: str | None) -> bool | None:
    """The last `VERDICT: (NOT) EQUIVALENT` line of a reply; None when there is none."""
    found = _VERDICT.findall(reply or "")
    return None if not found else not found[-1].upper().startswith("NOT")


def render(problem: str, gold: str, completion: str) -> str:
    """The prompt for one sample: the response after its reasoning block, its end when long."""
    response = completion.rsplit("</think>", 1)[-1].strip() if "</think>" in completion else completion.strip()
    if len(response) > RESPONSE_CHARS:
        response = "[... the start of the response is omitted ...]\n" + response[-RESPONSE_CHARS:]
    if len(problem) > PROBLEM_CHARS:
        problem = problem[:PROBLEM_CHARS] + " [...]"
    return PROMPT.format(problem=problem, gold=gold, response=response or "(empty)")


# -- judge.jsonl ---------------------------------------------------------------------------------
def _samples_header(store: RunStore, run: RunData, head_bytes: int | None = None) -> dict:
    """What the run's samples are (audit.cache_header without the second grader, which the judge's
    verdicts do not depend on)."""
    header = cache_header(store, run.manifest, head_bytes)
    header.pop("second_grader")
    return header


def read_judge(store: RunStore, run: RunData) -> JudgeColumn | None:
    """The judge's verdicts on `run`'s samples; None when judge.jsonl is absent or made for other samples."""
    path = store.path / JUDGE
    records = iter_jsonl(path, fix=f"delete {path} (the judge is asked again)")
    first = next(records, None)
    head = first[2] if first is not None else {}
    samples = head.get("samples")
    if not isinstance(samples, dict) or not isinstance(head.get("judge"), dict):
        return None
    length = samples.get("samples_head", [None])[0] if isinstance(samples.get("samples_head"), list) else None
    if samples != _samples_header(store, run, length):
        return None
    where = Positions(run.table)
    size = len(run.table.correct)
    column = JudgeColumn(np.full(size, -1, np.int8), np.zeros(size, bool), head["judge"])
    try:
        for _, _, rec in records:
            pos = where(rec["problem_id"], rec["sample_index"])
            if pos is not None:
                column.answered[pos] = True
                column.verdict[pos] = -1 if rec["verdict"] is None else int(bool(rec["verdict"]))
                column.why[pos] = rec.get("why", "disagreement")
    except (KeyError, TypeError) as e:
        raise EvalkitError(f"{path}: unreadable line ({type(e).__name__}: {e}); delete it to ask the judge again") from None
    return column


def _existing(store: RunStore, run: RunData, config: JudgeConfig) -> JudgeColumn | None:
    """This judge's earlier verdicts (a moved server, same model and prompt, continues them); another
    judge's file is never overwritten."""
    column = read_judge(store, run)
    if column is None:
        return None
    same = lambda h: {k: v for k, v in h.items() if k != "url"}  # noqa: E731
    if same(column.judge) != same(config.header()):
        old = column.judge
        raise EvalkitError(f"{store.path / JUDGE} holds the verdicts of judge {old.get('model')!r} (or another prompt or --judge-max-tokens); "
                           f"pass --judge-model {old.get('model')} to continue it, or move that file away to ask {config.model!r}")
    return column


def _create(store: RunStore, run: RunData, config: JudgeConfig) -> JudgeColumn:
    path = store.path / JUDGE
    if path.exists():
        log.warning("%s was made for other samples of this run: the judge is asked again", path)
    with open(path, "w", encoding="utf-8"):
        pass
    with JsonlAppender(path) as out:
        out.write({"judge": config.header(), "samples": _samples_header(store, run)})
    size = len(run.table.correct)
    return JudgeColumn(np.full(size, -1, np.int8), np.zeros(size, bool), config.header())


# -- asking ------------------------------------------------------------------------------------------
def to_ask(run: RunData, second: SecondColumn, column: JudgeColumn, no_answer: bool) -> dict[int, str]:
    """position -> why, for the samples the judge must still be asked about."""
    primary_na = run.table.status == _code(STATUS_NO_ANSWER)
    second_na = second.status == _code(STATUS_NO_ANSWER)
    want = {int(p): "disagreement" for p in np.flatnonzero((run.table.correct != second.correct) & ~column.answered)}
    if no_answer:
        extra = np.flatnonzero((primary_na | second_na) & ~column.answered)
        want.update({int(p): STATUS_NO_ANSWER for p in extra if int(p) not in want})
    return want


def _code(status: str) -> int:
    from ..scoring.table import STATUS_CODE

    return STATUS_CODE[status]


def run_judge(store: RunStore, run: RunData, second: SecondColumn, config: JudgeConfig, problems: dict[str, Problem]) -> JudgeColumn:
    """Ask the judge about every sample it must answer and has not; append each reply as it comes."""
    from tqdm import tqdm

    from ..samplers.openai import check_server, stream_requests, task_outcome

    column = _existing(store, run, config)
    size = len(run.table.correct)
    want = to_ask(run, second, column or JudgeColumn(np.full(size, -1, np.int8), np.zeros(size, bool), {}), config.no_answer)
    if not want:
        return column or _create(store, run, config)
    check_server(config.engine(), config.model, "--judge-url", "--judge-model")
    column = column or _create(store, run, config)
    where = Positions(run.table)

    def items() -> Iterator[tuple[int, str]]:
        for s in store.iter_samples(lambda pid, i: where(pid, i) in want):
            yield where(s.problem_id, s.sample_index), render(problems[s.problem_id].prompt, second.gold[s.problem_id], s.completion)

    async def ask(client: Any, item: tuple[int, str]) -> tuple[str, str | None]:
        resp = await client.chat.completions.create(model=config.model, messages=[{"role": "user", "content": item[1]}],
                                                    temperature=0.0, max_tokens=config.max_tokens, seed=0)
        choice = resp.choices[0]
        return choice.message.content or "", choice.finish_reason

    engine = config.engine()
    with JsonlAppender(store.path / JUDGE) as out, tqdm(total=len(want), desc="judge", unit="sample", disable=None) as bar:
        for (pos, prompt), task in stream_requests(engine, items(), ask, window=4 * config.concurrency):
            pid, index = where.key(pos)
            result = task_outcome(task, engine, f"{pid} #{index}", "check --judge-model and --judge-url", "judged samples are saved")
            if result is None:
                continue
            reply, finish = result
            verdict = parse_verdict(reply)
            out.write({"problem_id": pid, "sample_index": index, "why": want[pos], "verdict": verdict, "reply": reply,
                       "finish_reason": finish, "prompt": prompt})
            column.answered[pos], column.verdict[pos], column.why[pos] = True, -1 if verdict is None else int(verdict), want[pos]
            bar.update(1)
    return column
