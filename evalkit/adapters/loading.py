"""Turn a benchmark name plus an optional local path into Problems, a source line and a content hash.

Order of resolution: `--data PATH`; the built-in generator; `$EVALKIT_DATA_DIR`; the Hugging Face hub
via `datasets`. A file may be JSONL, JSON (list or {"data": [...]}), gzipped JSONL or parquet, as
distributed; in a directory the adapter's file names are tried, then <bench>.jsonl/.json/.parquet and
<bench>/test.jsonl, and (for --data) a hub snapshot's <config>/<split>-*.parquet shards. Offline with
none of these: one line saying what to download and where to put it.
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

from ..store import parse_jsonl
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

    @property
    def version(self) -> str:
        """The known release this content is, so a result says which benchmark version it belongs to."""
        known = self.bench.versions.get(self.data_hash)
        if known or self.source.startswith("builtin:"):
            return known or self.bench.source
        size = f"; {self.bench.size} expected" if self.bench.size and self.bench.size != len(self.problems) else ""
        return f"unrecognized ({len(self.problems)} problems{size})"


def load(name: str, data: str | os.PathLike | None = None) -> LoadedBenchmark:
    bench = get_benchmark(name)
    rows, source = _rows(bench, data)
    if bench.prepare_rows is not None:  # release-level facts a single row cannot tell (code.py: MBPP+ version)
        rows = bench.prepare_rows(rows)
    problems = [_to_problem(bench, row, i, source) for i, row in enumerate(rows)]
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise EvalkitError(f"{source}: problem id {dup!r} appears twice; is this the right file for {name}?")
    if not problems:
        raise EvalkitError(f"{source}: no problems found for {name}; check the file")
    return LoadedBenchmark(bench, problems, source, content_hash(problems))


def _to_problem(bench: Benchmark, row: dict[str, Any], index: int, source: str) -> Problem:
    try:
        return bench.to_problem(row, index)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise EvalkitError(f"{source}: row {index + 1} is not a {bench.name} row ({e}); is this the right file for {bench.name}?")


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
        shards = [] if not path.is_dir() or _candidates(bench, path) else _hub_snapshot_shards(bench, path)
        if shards:  # a dataset repo downloaded from the hub, e.g. main/test-00000-of-00001.parquet
            return [r for shard in shards for r in read_rows(shard)], f"{path} ({', '.join(str(s.relative_to(path)) for s in shards)})"
        if path.is_dir():
            path = _find_in_dir(bench, path, "--data")
        return read_rows(path), str(path)
    if bench.builtin is not None:
        return bench.builtin(), f"builtin:{bench.name}"
    env_dir = os.environ.get(DATA_DIR_ENV)
    if env_dir:
        found = _candidates(bench, Path(env_dir))
        if found:
            return read_rows(found), str(found)
        return _hub_rows(bench, f"{DATA_DIR_ENV}={env_dir} has no {' or '.join(_names(bench)[:2])}")
    return _hub_rows(bench)


def _names(bench: Benchmark) -> list[str]:
    """File names tried in a data directory: the adapter's own, then the generic layouts."""
    generic = [f"{bench.name}{ext}" for ext in (".jsonl", ".json", ".parquet", ".jsonl.gz")]
    generic += [f"{bench.name}/{split}{ext}" for split in (bench.split, "test") for ext in (".jsonl", ".parquet")]
    return list(dict.fromkeys([*bench.local_files, *generic]))


def _candidates(bench: Benchmark, root: Path) -> Path | None:
    return next((root / name for name in _names(bench) if (root / name).is_file()), None)


def _hub_snapshot_shards(bench: Benchmark, root: Path) -> list[Path]:
    """The split's parquet shards of a hub dataset snapshot (`huggingface-cli download --repo-type dataset`)."""
    for sub in [bench.hub_config, "data", ""]:
        if sub is None:
            continue
        shards = sorted((root / sub).glob(f"{bench.split}-*.parquet"))
        if shards:
            return shards
    return []


def _find_in_dir(bench: Benchmark, root: Path, origin: str) -> Path:
    found = _candidates(bench, root)
    if found is None:
        want = ", ".join(_names(bench)[:3])
        raise EvalkitError(f"{origin} {root} has no file for {bench.name} (looked for {want}); put it there or pass --data FILE")
    return found


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a JSONL, JSON (list or {"data": [...]}) or parquet file, as distributed."""
    suffixes = "".join(path.suffixes[-2:]).lower()
    try:
        if suffixes.endswith(".parquet"):
            import pyarrow.parquet as pq

            return pq.read_table(path).to_pylist()
        if suffixes.endswith(".gz"):
            import gzip

            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError) as e:  # EOFError: a truncated .gz
        raise EvalkitError(f"{path}: cannot read ({e.__class__.__name__}: {e}); check the file")
    if suffixes.endswith((".json", ".json.gz")) and data.lstrip()[:1] in (b"[", b"{"):
        try:
            obj = json.loads(data)
            if isinstance(obj, dict):
                obj = next((v for v in obj.values() if isinstance(v, list)), [obj])
            return list(obj)
        except (json.JSONDecodeError, UnicodeDecodeError):
            pass  # maybe JSON lines with a .json name; parse_jsonl names the bad line
    rows = parse_jsonl(data, str(path), tolerate_torn_tail=False, fix="fix the file or pass the right --data")
    return [row for _, row in rows]


def _hub_rows(bench: Benchmark, local_miss: str | None = None) -> tuple[list[dict[str, Any]], str]:
    """Online: the public hub id. Offline or unavailable: one line saying what to fetch and where."""
    hub = bench.hub_id or bench.name
    if bench.hub_config:
        hub += f" (config {bench.hub_config}, split {bench.split})"
    hint = (
        f"download {hub} and pass --data FILE, or put {bench.local_files[0] if bench.local_files else bench.name + '.jsonl'} "
        f"in a directory named by {DATA_DIR_ENV}"
    )
    why = f"{local_miss}; " if local_miss else ""
    if not bench.hub_id:
        raise EvalkitError(f"no data for {bench.name}: {why}{hint}")
    try:
        import datasets

        ds = datasets.load_dataset(bench.hub_id, bench.hub_config, split=bench.split)
    except Exception as e:  # offline, gated, renamed: all end the same way for the user
        first = str(e).strip().splitlines()[0][:120] if str(e).strip() else e.__class__.__name__
        raise EvalkitError(f"cannot load {bench.name} from the hub ({why}{first}); {hint}")
    config = f"/{bench.hub_config}" if bench.hub_config else ""
    return [dict(r) for r in ds], f"hf:{bench.hub_id}{config}:{bench.split}"
