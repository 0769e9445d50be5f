"""SkyThought evals outputs: `results.json`, one JSON object keyed by the problem's index.

What it writes (NovaSky-AI/SkyThought @ 0d190f11, skythought/evals/inference_and_check.py
`generate_responses_for_dataset` + `save_results`, util/response.py `SingleParsedResponse.to_dict`):
    {"<_index>": {<the dataset row: problem, answer, ..., "_index">, "prompt": ..., "input_conversation": [...],
                  "responses": [{"content": text, "correctness": bool|null, "reason": ...}, ...n],
                  "token_usages": [{"completion_tokens": int, "prompt_tokens": int}, ...n]}}
written with json.dumps(indent=4). `content` is graded (SkyThought's `correctness` is ignored); the
completion tokens are kept. The problem: the row's own id field, else its question (the task's
question_key: problem / question / ...) matched to the benchmark; `_index` is a hint. The file is one
JSON document, so it is parsed whole (as SkyThought itself reads it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from ..types import EvalkitError
from . import Entry, Format
from .jsonl import open_bytes
from .lm_eval import doc_ids, doc_question


def load(path: Path, digest: Any) -> dict:
    with open_bytes(path) as f:
        data = f.read()
    if digest is not None:
        digest.update(data)
    try:
        obj = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EvalkitError(f"{path}: not JSON ({e}); a SkyThought results.json is one JSON object") from None
    if not isinstance(obj, dict):
        raise EvalkitError(f"{path}: a SkyThought results.json is a JSON object keyed by problem index, not a {type(obj).__name__}")
    return obj


def entries(path: Path, digest: Any) -> Iterator[Entry]:
    for key, row in load(path, digest).items():
        where = f"{path} entry {key!r}"
        if not isinstance(row, dict) or not isinstance(row.get("responses"), list):
            raise EvalkitError(f"{where}: each SkyThought result has a \"responses\" list of {{\"content\": ...}}")
        texts = [r.get("content") if isinstance(r, dict) else None for r in row["responses"]]
        if not all(isinstance(t, str) for t in texts):
            raise EvalkitError(f"{where}: every response needs a \"content\" string")
        usages = row.get("token_usages")
        tokens = [u.get("completion_tokens") for u in usages] if isinstance(usages, list) and len(usages) == len(texts) \
            and all(isinstance(u, dict) and isinstance(u.get("completion_tokens"), int) for u in usages) else None
        position = str(row.get("_index", key))
        yield Entry(where, texts, ids=doc_ids(row), question=doc_question(row),
                    index=int(position) if position.isdigit() else None, tokens=tokens)


def looks_like(obj: Any) -> bool:
    first = next(iter(obj.values()), None) if isinstance(obj, dict) else None
    return isinstance(first, dict) and isinstance(first.get("responses"), list)


FORMAT = Format("skythought", "results.json: {index: {<row>, responses: [{content}]}}",
                "graded each response's `content` (SkyThought's correctness ignored)", entries)
