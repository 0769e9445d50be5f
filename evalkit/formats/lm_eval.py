"""lm-evaluation-harness samples files: `samples_<task>_<date>.jsonl` written with `--log_samples`.

What lm-eval writes (lm_eval/evaluator.py builds the record, EvaluationTracker.save_results_samples
sanitizes and writes it; EleutherAI/lm-evaluation-harness @ 4e7e0d47, and lm-eval 0.4.13):
    {"doc_id": int, "doc": {...the dataset row...}, "target": str,
     "arguments": {"gen_args_0": {"arg_0": prompt, "arg_1": gen_kwargs}},
     "resps": [[r_1, ..., r_n]],          # per request, the raw responses: n = the task's `repeats`
     "filtered_resps": [...],             # after the task's filter (regex, majority vote, take_first)
     "filter": name, "metrics": [...], "doc_hash", "prompt_hash", "target_hash", <metric>: value}
A task with several filters writes each doc once per filter (same doc_id, same resps); the first line of
a doc is read and the others skipped. The raw `resps` are graded, never `filtered_resps`: a filter has
already cut or voted the answer, and evalkit's verifier extracts its own.
The problem: the doc's own id field (`unique_id`, `task_id`, ...), else its question text (minerva_math500's
docs keep only problem/solution/answer) matched to the benchmark; `doc_id` (a position) is a hint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from ..types import EvalkitError
from . import Entry, Format
from .jsonl import records, strings

DOC_ID_FIELDS = ("problem_id", "unique_id", "task_id", "question_id", "id", "ID", "idx")
QUESTION_FIELDS = ("problem", "question", "Problem", "Question", "prompt", "text", "query")


def entries(path: Path, digest: Any) -> Iterator[Entry]:
    seen: set = set()
    prefix = f"{path}:"  # built once: a line's place is prefix + its number
    for lineno, rec in records(path, digest):
        where = prefix + str(lineno)
        if "doc_id" not in rec or "resps" not in rec:
            raise EvalkitError(f"{where}: an lm-eval samples line has \"doc_id\" and \"resps\"; this one has {', '.join(sorted(rec)[:8])}")
        if rec["doc_id"] in seen:  # the same doc under the task's next filter
            continue
        seen.add(rec["doc_id"])
        doc = rec.get("doc") if isinstance(rec.get("doc"), dict) else {}
        index = rec["doc_id"] if isinstance(rec["doc_id"], int) else None
        yield Entry(where, responses(where, rec["resps"]), ids=doc_ids(doc), question=doc_question(doc), index=index)


def responses(where: str, resps: Any) -> list[str]:
    """The raw responses of a generation task: one request, its `repeats` responses."""
    if not isinstance(resps, list) or len(resps) != 1:
        n = len(resps) if isinstance(resps, list) else 0
        raise EvalkitError(f"{where}: \"resps\" holds {n} requests; evalkit grades generation tasks (one request per doc, "
                           "output_type generate_until), not multiple-choice or loglikelihood ones")
    return strings(resps[0], where, "resps[0]")


def doc_ids(doc: dict) -> tuple[str, ...]:
    return tuple(str(doc[k]) for k in DOC_ID_FIELDS if isinstance(doc.get(k), (str, int)) and not isinstance(doc.get(k), bool))


def doc_question(doc: dict) -> str | None:
    return next((doc[k] for k in QUESTION_FIELDS if isinstance(doc.get(k), str) and doc[k].strip()), None)


FORMAT = Format("lm-eval", "samples_<task>_<date>.jsonl: doc_id, doc, resps",
                "graded the raw responses (`resps`, all `repeats` of a doc), not `filtered_resps`", entries)
