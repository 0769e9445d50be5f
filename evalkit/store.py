"""The run directory: one per model x benchmark, the single source of truth for resume.

    manifest.json   what this run is (model, benchmark + data hash, sampling, seed, versions, argv)
    samples.jsonl   append-only, one line per (problem_id, sample_index), flushed per line
    grades.jsonl    append-only, one line per graded sample
    prompts.jsonl   append-only, the rendered prompt of each problem
    metrics.json    written atomically, only once every requested sample is graded

Every stage reads what is already there and writes only what is new, so resume, `--n` extension,
sharding and `score` are the same path entered at a later stage. A line torn by a kill is dropped
on read and cut off before the next append; a malformed line anywhere else is an error.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Iterable, Iterator

from .types import EvalkitError, Grade, Sample

MANIFEST = "manifest.json"
SAMPLES = "samples.jsonl"
GRADES = "grades.jsonl"
PROMPTS = "prompts.jsonl"
METRICS = "metrics.json"

# Manifest fields that define what a sample is; a resumed run must agree on all of them.
IDENTITY_KEYS = ("model", "benchmark", "data_hash", "sampling", "seed", "prompt_template", "samples_hash")

_STEP_DIR = re.compile(r"(global_step|checkpoint|step|iter)[-_]?\d+", re.IGNORECASE)
_GENERIC_DIRS = {"huggingface", "hf", "actor", "model", "checkpoint", "final", "latest"}


def model_slug(model: str) -> str:
    """A directory name for a model path or hub id.

    `Qwen/Qwen2.5-7B` -> `Qwen--Qwen2.5-7B`; `runs/exp1/global_step_100/actor/huggingface` ->
    `exp1--global_step_100--actor--huggingface`: trailing generic names and step directories keep
    their parents, so the checkpoints of a sweep never share a run directory.
    """
    parts = [p for p in re.split(r"[\\/]+", model.strip()) if p not in ("", ".", "..", "~")]
    if not parts:
        return "model"
    if len(parts) == 2 and not model.startswith(("/", ".", "~")) and not os.path.exists(model):  # hub id org/name
        keep = 2
    else:
        keep = 1
        while keep < len(parts) and parts[-keep].lower() in _GENERIC_DIRS:
            keep += 1
        if _STEP_DIR.fullmatch(parts[-keep]) and keep < len(parts):
            keep += 1
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", "--".join(parts[-keep:]))


def default_run_dir(model: str, bench: str, root: str | os.PathLike = "results") -> Path:
    return Path(root) / model_slug(model) / bench


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write to a temp file and rename, so a reader never sees half a JSON document."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_jsonl(path: Path, **kwargs: Any) -> Iterator[tuple[int, dict]]:
    """Yield (line_number, record) of a JSONL file; nothing when it does not exist."""
    if not path.exists():
        return iter(())
    with open(path, "rb") as f:
        data = f.read()
    return parse_jsonl(data, str(path), **kwargs)


def parse_jsonl(
    data: bytes, source: str, *, tolerate_torn_tail: bool = True,
    fix: str = "fix or delete that line (or rerun with --overwrite)",
) -> Iterator[tuple[int, dict]]:
    """The one JSONL parser: errors name `source:line` and end with `fix`.

    With `tolerate_torn_tail` (run directories), a torn final line (no newline, bad JSON) is skipped.
    """
    lines = data.split(b"\n")
    ends_clean = data.endswith(b"\n")
    for i, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        is_tail = i == len(lines) and not ends_clean
        try:
            rec = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            if is_tail and tolerate_torn_tail:
                return
            raise EvalkitError(f"{source}:{i}: malformed JSON line; {fix}")
        if not isinstance(rec, dict):
            raise EvalkitError(f"{source}:{i}: expected a JSON object per line, got {type(rec).__name__}; {fix}")
        yield i, rec


def _cut_torn_tail(path: Path) -> None:
    """Drop an unterminated last line (a write killed midway) so the next append starts clean."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        data = f.seek(0) or f.read()
        f.truncate(data.rfind(b"\n") + 1)


class JsonlAppender:
    """Appends records one per line, flushed per line (fsync on close)."""

    def __init__(self, path: Path):
        _cut_torn_tail(path)
        self._f = open(path, "a", encoding="utf-8")

    def write(self, rec: dict) -> None:
        self._f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        self._f.flush()

    def close(self) -> None:
        if not self._f.closed:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RunStore:
    """Reads and appends the files of one run directory."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    # -- manifest ---------------------------------------------------------------------------
    def manifest(self) -> dict | None:
        p = self.path / MANIFEST
        if not p.exists():
            return None
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            raise EvalkitError(f"{p} is not valid JSON; delete the directory or rerun with --overwrite")

    def open(self, manifest: dict, overwrite: bool = False) -> None:
        """Create the directory or attach to an existing run with the same identity."""
        old = self.manifest()
        if old is not None and overwrite:
            shutil.rmtree(self.path)
            old = None
        elif old is None and self.path.exists() and any(self.path.iterdir()) and not overwrite:
            raise EvalkitError(f"{self.path} exists but holds no evalkit run (no {MANIFEST}); choose another --out or pass --overwrite")
        if old is not None:
            diff = identity_diff(old, manifest)
            if diff:
                raise EvalkitError(
                    f"{self.path} holds a run with a different {diff}; "
                    f"use another --out, or pass --overwrite to discard it"
                )
            manifest = {**old, **manifest, "created": old.get("created", manifest.get("created"))}
        self.path.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path / MANIFEST, manifest)

    # -- records ----------------------------------------------------------------------------
    def samples(self) -> dict[tuple[str, int], Sample]:
        out: dict[tuple[str, int], Sample] = {}
        for _, rec in read_jsonl(self.path / SAMPLES):
            s = Sample.from_json(rec)
            out.setdefault((s.problem_id, s.sample_index), s)  # first write wins
        return out

    def grades(self) -> dict[tuple[str, int], Grade]:
        out: dict[tuple[str, int], Grade] = {}
        for _, rec in read_jsonl(self.path / GRADES):
            g = Grade.from_json(rec)
            out[(g.problem_id, g.sample_index)] = g  # a later regrade wins
        return out

    def prompts(self) -> dict[str, Any]:
        return {rec["problem_id"]: rec["prompt"] for _, rec in read_jsonl(self.path / PROMPTS)}

    def sample_appender(self) -> JsonlAppender:
        return JsonlAppender(self.path / SAMPLES)

    def grade_appender(self) -> JsonlAppender:
        return JsonlAppender(self.path / GRADES)

    def append_prompts(self, prompts: Iterable[tuple[str, Any]]) -> None:
        known = self.prompts()
        with JsonlAppender(self.path / PROMPTS) as w:
            for pid, prompt in prompts:
                if pid not in known:
                    w.write({"problem_id": pid, "prompt": prompt})

    def reset_grades(self) -> None:
        (self.path / GRADES).unlink(missing_ok=True)

    # -- metrics ----------------------------------------------------------------------------
    def invalidate_metrics(self) -> None:
        """Pending work makes the old metrics stale: remove them before touching anything."""
        (self.path / METRICS).unlink(missing_ok=True)

    def write_metrics(self, metrics: dict) -> None:
        write_json_atomic(self.path / METRICS, metrics)

    def metrics(self) -> dict | None:
        p = self.path / METRICS
        return json.loads(p.read_text(encoding="utf-8")) if p.exists() else None


def identity_diff(old: dict, new: dict) -> str | None:
    """Name the first identity field on which two manifests disagree, with both values."""
    for key in IDENTITY_KEYS:
        a, b = old.get(key), new.get(key)
        if a != b:
            return f"{key} ({_short(a)} there, {_short(b)} now)"
    return None


def _short(v: Any) -> str:
    s = json.dumps(v, sort_keys=True) if not isinstance(v, str) else v
    return s if len(s) <= 80 else s[:77] + "..."
