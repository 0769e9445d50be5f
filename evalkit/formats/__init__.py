"""Samples files other harnesses write, read as they are (`evalkit score --samples FILE [--format NAME]`).

Each reader turns its tool's records into `Entry`s: the texts to grade (the raw responses, never a
tool's post-processed or filtered ones), and what names the problem (an id the record or its doc
carries, its question text, a position). `match.ProblemMatcher` finds the benchmark problem from
those; `samples_file.py` streams the entries twice (check and count, then copy into the run).

    evalkit    {problem_id|task_id|unique_id|id|idx|question_id, completion|completions}  (evalkit, any tool)
    evalplus   {task_id, solution|completion}                            EvalPlus codegen samples.jsonl
    lm-eval    samples_<task>_<date>.jsonl: {doc_id, doc, resps, filtered_resps, filter, ...}
    lighteval  details_<task>_<date>.parquet: columns doc (query, id, ...), model_response (text, ...)
    qwen-math  Qwen2.5-Math / math-evaluation-harness output .jsonl: {idx, question, code[n], pred[n], ...}
    skythought SkyThought evals results.json: {"<index>": {<row>, prompt, responses: [{content}], token_usages}}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ..types import EvalkitError


@dataclass(slots=True)
class Entry:
    """One record of a samples file, in evalkit's terms."""

    where: str  # "FILE:LINE" or "FILE row N", for messages
    texts: list[str]  # the samples, in the record's order
    name: str | None = None  # evalkit/evalplus: the id under the record's id field (required there)
    ids: tuple[str, ...] = ()  # other formats: id values the record's doc carries (unique_id, task_id, ...)
    question: str | None = None  # the doc's question text (matched to the benchmark when no id does)
    index: int | None = None  # a position the tool assigned (lm-eval doc_id, lighteval doc.id, Qwen idx): a hint
    tokens: list[int] | None = None  # completion tokens per text, when the tool recorded them


@dataclass(frozen=True)
class Format:
    name: str
    needs: str  # the fields a file of this format has, for the "none of the known formats" line
    graded: str  # what is graded, said once when the file is read
    records: Callable[[Path, object], Iterator[Entry]] = field(repr=False)  # (path, digest or None) -> entries


def registry() -> dict[str, Format]:
    from . import lighteval, lm_eval, native, qwen_math, skythought

    formats = [native.EVALKIT, native.EVALPLUS, lm_eval.FORMAT, lighteval.FORMAT, qwen_math.FORMAT, skythought.FORMAT]
    return {f.name: f for f in formats}


NAMES = ("evalkit", "evalplus", "lm-eval", "lighteval", "qwen-math", "skythought")  # registry()'s keys, without importing the readers


def known_formats_line() -> str:
    """Every format with the fields it needs, for one error line."""
    return "; ".join(f"{f.name} ({f.needs})" for f in registry().values())


def get_format(name: str) -> Format:
    formats = registry()
    if name not in formats:
        raise EvalkitError(f"unknown --format {name!r}; choose one of {', '.join(formats)} (or leave it out to detect it)")
    return formats[name]


def detect(path: str | Path, name: str | None = None) -> Format:
    """The file's format: the one named, else recognised from its name and first record."""
    from .sniff import sniff

    if name is not None and name != "auto":
        return get_format(name)
    return get_format(sniff(Path(path)))


def read_line(path: Path, fmt: Format) -> str:
    """The one line that says how the file was read."""
    return f"read {path} as {fmt.name} ({fmt.needs}): {fmt.graded}"
