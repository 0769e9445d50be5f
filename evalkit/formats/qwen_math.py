"""Qwen2.5-Math `evaluation/` and math-evaluation-harness outputs (also the copies SkyThought ran).

What they write (QwenLM/Qwen2.5-Math @ a45202bd evaluation/math_eval.py; ZubinGou/math-evaluation-harness
@ db77bc6b math_eval.py): one JSON line per problem,
    {"idx": i, "question": ..., "gt_cot": ..., "gt": ..., [level, type, ...],
     "code": [n responses], "pred": [n extracted answers], "report": [...], "score": [n bools]}
`idx` is the row's position in the harness's data file (or the file's own `idx`). The full responses
(`code`) are graded; a file with only `pred` has its extracted answers graded as `\\boxed{pred}`, which
grades the harness's extraction, and the line that names the format says so. The problem: the
question text matched to the benchmark, `idx` as a hint (or, with no question, as its id).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from ..types import EvalkitError
from . import Entry, Format
from .jsonl import records, strings


def entries(path: Path, digest: Any) -> Iterator[Entry]:
    prefix = f"{path}:"  # built once: a line's place is prefix + its number
    for lineno, rec in records(path, digest):
        where = prefix + str(lineno)
        idx = rec.get("idx")
        question = rec.get("question") if isinstance(rec.get("question"), str) else None
        ids = (str(idx),) if question is None and idx is not None else ()
        yield Entry(where, texts(where, rec), ids=ids, question=question, index=idx if isinstance(idx, int) else None)


def texts(where: str, rec: dict) -> list[str]:
    if rec.get("code") is not None:
        return strings(rec["code"], where, "code")
    if rec.get("pred") is not None:
        preds = rec["pred"]
        if not isinstance(preds, list) or not all(isinstance(p, (str, int, float)) for p in preds):
            raise EvalkitError(f"{where}: \"pred\" must be a list of answers")
        return [f"\\boxed{{{p}}}" for p in preds]
    raise EvalkitError(f"{where}: a Qwen2.5-Math output line has a \"code\" list (the responses) or a \"pred\" list")


FORMAT = Format("qwen-math", "idx, question, code|pred (Qwen2.5-Math / math-evaluation-harness .jsonl)",
                "graded the full responses (`code`); with only `pred`, the harness's extracted answers as \\boxed{pred}", entries)
