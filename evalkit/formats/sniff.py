"""Which format a samples file is in, from its name and first record (the whole file only for one JSON document)."""

from __future__ import annotations

import json
from pathlib import Path

from ..types import EvalkitError
from .jsonl import open_bytes
from .native import ID_FIELDS

MAX_FIRST_LINE = 64 << 20  # a first line longer than this is not read whole to sniff it


def sniff(path: Path) -> str:
    if path.suffix.lower() == ".parquet":
        return "lighteval"
    first = _first_line(path)
    if first is None:  # empty file: the evalkit reader says so
        return "evalkit"
    try:
        rec = json.loads(first)
    except ValueError:
        return _whole_document(path, first)
    if not isinstance(rec, dict):
        return "evalkit"  # its reader names the line: expected a JSON object per line
    return by_keys(path, rec)


def by_keys(path: Path, rec: dict) -> str:
    keys = set(rec)
    if {"doc_id", "resps"} <= keys:
        return "lm-eval"
    if "idx" in keys and ("code" in keys or "pred" in keys) and not keys & {"completion", "completions"}:
        return "qwen-math"  # its rows may carry the dataset's `solution`: that is the gold, not a sample
    if "task_id" in keys and "solution" in keys:
        return "evalplus"
    if keys & set(ID_FIELDS):
        return "evalkit"
    from . import known_formats_line

    raise EvalkitError(f"{path}: line 1 is in none of the formats evalkit reads (it has {', '.join(sorted(keys)[:8])}); "
                       f"the formats and the fields each needs: {known_formats_line()}; or name one with --format")


def _whole_document(path: Path, first: bytes) -> str:
    """A first line that is not JSON on its own: one indented JSON document (SkyThought's results.json), or a bad line."""
    from .skythought import load, looks_like

    if first.strip() not in (b"{", b"[") and path.suffix.lower() != ".json":
        return "evalkit"  # its reader names the malformed line
    try:
        obj = load(path, None)
    except EvalkitError:
        return "evalkit"
    if looks_like(obj):
        return "skythought"
    from . import known_formats_line

    raise EvalkitError(f"{path}: one JSON document in none of the formats evalkit reads; the formats and the fields each "
                       f"needs: {known_formats_line()}; or name one with --format")


def _first_line(path: Path) -> bytes | None:
    """The first non-empty line (at most MAX_FIRST_LINE bytes of it: a longer one is not JSON on its own here)."""
    with open_bytes(path) as f:
        while True:
            raw = f.readline(MAX_FIRST_LINE)
            if not raw:
                return None
            if raw.strip():
                return raw
