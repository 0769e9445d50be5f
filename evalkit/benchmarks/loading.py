"""Turn a benchmark name plus an optional local path into Problems, a source line and a content hash.

Order of resolution: built-in generator; `--data PATH` (file or directory); `$EVALKIT_DATA_DIR`;
the Hugging Face hub via `datasets`. Offline with none of these: one line saying what to fetch.
The hash covers the problems' content (ids, prompts, answers, tests), so the same benchmark read
from the hub or from a file hashes alike, and two versions never do.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..types import EvalkitError, Problem
from .registry import Benchmark, get_benchmark

DATA_DIR_ENV = "EVALKIT_DATA_DIR"


@dataclass(frozen=True)
class LoadedBenchmark:
    bench: Benchmark
    problems: list[Problem]  # all problems, before --limit
    source: str
    data_hash: str

    def select(self, limit: int | None) -> list[Problem]:
        return self.problems if limit is None else self.problems[:limit]


def load(name: str, data: str | os.PathLike | None = None) -> LoadedBenchmark:
    bench = get_benchmark(name)
    rows, source = _rows(bench, data)
    problems = [bench.to_problem(row, i) for i, row in enumerate(rows)]
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise EvalkitError(f"{source}: problem id {dup!r} appears twice; is this the right file for {name}?")
    if not problems:
        raise EvalkitError(f"{source}: no problems found for {name}; check the file")
    return LoadedBenchmark(bench, problems, source, content_hash(problems))


def content_hash(problems: list[Problem]) -> str:
    h = hashlib.sha256()
    for p in problems:
        h.update(json.dumps(asdict(p), sort_keys=True, ensure_ascii=False, default=str).encode())
        h.update(b"\n")
    return "sha256:" + h.hexdigest()[:16]


def _rows(bench: Benchmark, data: str | os.PathLike | None) -> tuple[list[dict[str, Any]], str]:
    if data is not None:
        path = Path(data)
        if not path.exists():
            raise EvalkitError(f"--data {path}: no such file or directory")
        if path.is_dir():
            path = _find_in_dir(bench, path, "--data")
        return read_rows(path), str(path)
    if bench.builtin is not None:
        return bench.builtin(), f"builtin:{bench.name}"
    env_dir = os.environ.get(DATA_DIR_ENV)
    if env_dir:
        return read_rows(p := _find_in_dir(bench, Path(env_dir), DATA_DIR_ENV)), str(p)
    return _hub_rows(bench)


def _find_in_dir(bench: Benchmark, root: Path, origin: str) -> Path:
    for name in bench.local_files:
        if (root / name).exists():
            return root / name
    want = ", ".join(bench.local_files) or f"{bench.name}.jsonl"
    raise EvalkitError(f"{origin}={root} has no file for {bench.name} (looked for {want}); put it there or pass --data FILE")


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL, JSON (list or {"data": [...]}) or parquet file, as distributed."""
    suffixes = "".join(path.suffixes[-2:]).lower()
    try:
        if suffixes.endswith(".parquet"):
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
        if suffixes.endswith(".gz"):
            import gzip

            text = gzip.open(path, "rt", encoding="utf-8").read()
        else:
            text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise EvalkitError(f"{path}: cannot read ({e.__class__.__name__}: {e}); check the file")
    if suffixes.endswith((".json", ".json.gz")) and text.lstrip()[:1] in ("[", "{"):
        try:
            obj = json.loads(text)
            if isinstance(obj, dict):
                obj = next((v for v in obj.values() if isinstance(v, list)), [obj])
            return list(obj)
        except json.JSONDecodeError:
            pass  # maybe JSON lines with a .json name
    rows = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise EvalkitError(f"{path}:{i}: malformed JSON line; fix the file or pass the right --data")
        if not isinstance(row, dict):
            raise EvalkitError(f"{path}:{i}: expected a JSON object per line")
        rows.append(row)
    return rows


def _hub_rows(bench: Benchmark) -> tuple[list[dict[str, Any]], str]:
    hint = (
        f"download {bench.hub_id or bench.name} and pass --data FILE, or set {DATA_DIR_ENV} "
        f"to a directory holding {' or '.join(bench.local_files) or bench.name + '.jsonl'}"
    )
    if not bench.hub_id:
        raise EvalkitError(f"no local data for {bench.name}; {hint}")
    try:
        import datasets

        ds = datasets.load_dataset(bench.hub_id, bench.hub_config, split=bench.split)
    except Exception as e:  # offline, gated, renamed: all end the same way for the user
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else e.__class__.__name__
        raise EvalkitError(f"cannot load {bench.name} from the hub ({first}); {hint}")
    return [dict(r) for r in ds], f"hf:{bench.hub_id}" + (f"/{bench.hub_config}" if bench.hub_config else "") + f":{bench.split}"
