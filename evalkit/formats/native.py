"""evalkit's own samples lines and EvalPlus's codegen samples.jsonl: an id field and the text(s).

    {ID_FIELD: ID, "completion": TEXT}      one sample; repeated lines of a problem are its samples, in file order
    {ID_FIELD: ID, "completions": [TEXT, ...]}
    {ID_FIELD: ID, "solution": TEXT}        EvalPlus's samples format
ID_FIELD is evalkit's `problem_id`, or the field other tools key the benchmark by (`task_id`, MATH-500's
`unique_id`, AIME/AMC/OlympiadBench `id`, Minerva `idx`, LiveCodeBench `question_id`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from ..types import EvalkitError
from . import Entry, Format
from .jsonl import records, strings

ID_FIELDS = ("problem_id", "task_id", "unique_id", "id", "idx", "question_id")
TEXT_FIELDS = ("completion", "completions", "solution")


def entries(path: Path, digest: Any) -> Iterator[Entry]:
    prefix = f"{path}:"  # built once: a line's place is prefix + its number
    for lineno, rec in records(path, digest):
        where = prefix + str(lineno)
        yield Entry(where, texts(where, rec), name=name(where, rec))


def name(where: str, rec: dict) -> str:
    field_name = next((k for k in ID_FIELDS if rec.get(k) is not None), None)
    if field_name is None:
        raise EvalkitError(f"{where}: no problem id field ({', '.join(ID_FIELDS[:3])}, ...); add \"problem_id\" to each line")
    return str(rec[field_name])


def texts(where: str, rec: dict) -> list[str]:
    if "completions" in rec:
        return strings(rec["completions"], where, "completions")
    for key in ("completion", "solution"):
        if isinstance(rec.get(key), str):
            return [rec[key]]
    raise EvalkitError(f"{where}: no \"completion\" string, \"completions\" list or \"solution\" string")


EVALKIT = Format("evalkit", "problem_id|task_id|unique_id|id|idx|question_id + completion|completions",
                 "graded each completion as written", entries)
EVALPLUS = Format("evalplus", "task_id + solution|completion",
                  "graded each solution as written (EvalPlus codegen samples)", entries)
