"""Read completions produced elsewhere (`evalkit score --samples FILE`).

Accepted per line, JSONL:  {"problem_id" | "task_id": ID, "completion": TEXT}   (one sample; repeated
lines for one problem are several samples, in file order) or {"problem_id" | "task_id": ID,
"completions": [TEXT, ...]}. Errors name the line number.
"""

from __future__ import annotations

import difflib
import hashlib
from pathlib import Path

from .store import parse_jsonl
from .types import EvalkitError


def read_samples_file(path: str, known_ids: set[str]) -> tuple[dict[str, list[str]], str]:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise EvalkitError(f"--samples {path}: cannot read ({e.strerror or e}); check the path")
    out: dict[str, list[str]] = {}
    for lineno, rec in parse_jsonl(data, path, tolerate_torn_tail=False, fix="each line must be one JSON object"):
        pid = rec.get("problem_id", rec.get("task_id"))
        if pid is None:
            raise EvalkitError(f"{path}:{lineno}: no \"problem_id\" or \"task_id\" field")
        pid = str(pid)
        if pid not in known_ids:
            close = difflib.get_close_matches(pid, list(known_ids), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise EvalkitError(f"{path}:{lineno}: unknown problem {pid!r}{hint}; is --bench (or --data) the benchmark these samples were made for?")
        if "completions" in rec:
            texts = rec["completions"]
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise EvalkitError(f"{path}:{lineno}: \"completions\" must be a list of strings")
        elif isinstance(rec.get("completion"), str):
            texts = [rec["completion"]]
        else:
            raise EvalkitError(f"{path}:{lineno}: no \"completion\" string or \"completions\" list")
        out.setdefault(pid, []).extend(texts)
    if not out:
        raise EvalkitError(f"{path}: no samples found; expected JSONL with problem_id and completion")
    return out, "sha256:" + hashlib.sha256(data).hexdigest()[:16]
