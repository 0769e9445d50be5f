"""table.parquet: a run's `GradedSamples` persisted beside its JSONL files, so a finished run opens in
a fraction of a second instead of a re-parse of every line (and so pandas, polars and DuckDB read it).

The JSONL files stay the log and the source of truth; the table is an index of them, rebuilt from them
whenever it is not current, never trusted otherwise. One row per graded sample, problems in natural id
order, sample indices ascending (see `schema()` for the columns, SCHEMA_VERSION for their version).
The parquet's key-value metadata (key `evalkit.table`) says what the table was built from:

    grades   size, mtime_ns, sha256 of the last 64 KiB, and the sha256 of the whole file
    samples  size and sha256 of the first 64 KiB (token statistics and finish reasons)
    audit    the same stamp of audit.jsonl and its header, when the table holds audit verdicts

Current means: grades.jsonl has the recorded size, mtime and tail (a stat and one 64 KiB read: free
for a file of any size), or, when only its mtime moved (a copied run directory), its full sha256
equals the recorded one. evalkit only ever appends to grades.jsonl (size grows) or deletes and rewrites
it (`--regrade`: a new mtime, then the full hash decides); an edit by hand that keeps size and mtime
is caught in the last 64 KiB. samples.jsonl is append-only with the first line of a pair winning, so
appends never change a counted sample's statistics: it must not have shrunk, and its head must be
the same (a rewrite changes it). Writes are atomic (temp file + rename): a reader sees the old table,
the new one, or none; a truncated or corrupt table fails to parse and is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..store import GRADES, MANIFEST, SAMPLES, RunStore, write_json_atomic
from ..types import STATUSES, EvalkitError, natural_key
from .run_table import NO_ANSWER, NO_FINISH, NO_VERDICT, GradedSamples, RunTable, SecondVerdicts

# Arrow's default allocator (mimalloc) holds tens of MB more at its peak than malloc when a million-row
# table is read; malloc is what numpy uses anyway. Set before pyarrow is first imported (an explicit
# ARROW_DEFAULT_MEMORY_POOL is kept; a process that imported pyarrow already keeps its pool).
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

TABLE = "table.parquet"
SCHEMA_VERSION = 1
META_KEY = b"evalkit.table"
AUDIT = "audit.jsonl"
_EDGE = 1 << 16  # bytes hashed at a file's head or tail for the cheap currency check
_INT32 = 2**31 - 1
ROW_GROUP = 1 << 18  # rows per parquet row group, and per slice converted to arrow when writing


class NotCurrent(Exception):
    """The table cannot be used; `args[0]` says why in a few words."""


# -- stamps: what "current" is checked by ------------------------------------------------------
def stamp(path: Path) -> dict | None:
    """size, mtime and a digest of the last 64 KiB of a file; None when it does not exist."""
    try:
        st = path.stat()
        with open(path, "rb") as f:
            f.seek(max(0, st.st_size - _EDGE))
            tail = f.read(_EDGE)
    except FileNotFoundError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "tail_sha256": "sha256:" + hashlib.sha256(tail).hexdigest()}


def file_sha256(path: Path, size: int | None = None) -> str:
    """sha256 of the first `size` bytes of a file (all of it when None), read in 1 MiB blocks."""
    h, left = hashlib.sha256(), size
    with open(path, "rb") as f:
        while left is None or left > 0:
            block = f.read(1 << 20 if left is None else min(1 << 20, left))
            if not block:
                break
            h.update(block)
            left = None if left is None else left - len(block)
    return "sha256:" + h.hexdigest()


def sources(store: RunStore) -> dict:
    """The stamps of the files a table is built from, taken before they are read (a file appended
    while the table is built then no longer matches, and the next reader rebuilds)."""
    grades = stamp(store.path / GRADES)
    if grades is not None:
        grades["sha256"] = file_sha256(store.path / GRADES, grades["size"])
    samples = store.path / SAMPLES
    size = samples.stat().st_size if samples.exists() else 0
    return {"grades": grades, "samples": {"size": size, "head_sha256": _head_sha256(samples, min(size, _EDGE))}}


def check_current(store: RunStore, meta: dict) -> None:
    """Raise NotCurrent unless the JSONL files are still the ones the table was built from."""
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise NotCurrent(f"it has schema version {meta.get('schema_version')}, this evalkit reads version {SCHEMA_VERSION}")
    in_manifest = (store.manifest() or {}).get("table") or {}
    if in_manifest.get("grades_sha256") not in (None, (meta.get("grades") or {}).get("sha256")):
        raise NotCurrent("manifest.json records another grades hash than the table's")
    check_sources(store, meta)


def check_sources(store: RunStore, built_from: dict) -> None:
    """Raise NotCurrent unless grades.jsonl and samples.jsonl are those `built_from` stamped."""
    built = built_from.get("grades") or {}
    now = stamp(store.path / GRADES)
    if now is None:
        raise NotCurrent("grades.jsonl is gone")
    if now != {k: built.get(k) for k in now}:
        if now["size"] != built.get("size") or file_sha256(store.path / GRADES) != built.get("sha256"):
            raise NotCurrent("grades.jsonl changed since it was built")
    recorded = built_from.get("samples") or {}
    path, size = store.path / SAMPLES, recorded.get("size", 0)
    now_size = path.stat().st_size if path.exists() else 0
    if now_size < size or _head_sha256(path, min(size, _EDGE)) != recorded.get("head_sha256"):
        raise NotCurrent("samples.jsonl was rewritten since it was built")


def current_by_manifest(store: RunStore) -> bool:
    """Whether table.parquet is current by what manifest.json records of it (its size and sha256, schema
    version and the stamps it was built from), without opening it: no pyarrow, for runs too small to
    need it (their table is small: hashing it is cheap)."""
    record = (store.manifest() or {}).get("table") or {}
    path = store.path / TABLE
    if record.get("schema_version") != SCHEMA_VERSION or not path.exists() or path.stat().st_size != record.get("bytes"):
        return False
    if file_sha256(path) != record.get("sha256"):  # any change to the table itself: open it and see
        return False
    try:
        check_sources(store, record.get("built_from") or {})
    except NotCurrent:
        return False
    return True


def holds_audit(store: RunStore) -> bool:
    """Whether table.parquet (by manifest.json's record of it) holds the verdicts of audit.jsonl as it is."""
    record = (store.manifest() or {}).get("table") or {}
    return record.get("audit_stamp") is not None and record.get("audit_stamp") == stamp(store.path / AUDIT)


def _head_sha256(path: Path, length: int) -> str:
    """sha256 of a file's first `length` bytes (of nothing when it does not exist)."""
    head = b""
    if length and path.exists():
        with open(path, "rb") as f:
            head = f.read(length)
    return "sha256:" + hashlib.sha256(head).hexdigest()


# -- the columns -------------------------------------------------------------------------------
def schema(tokens_type: Any = None) -> Any:
    """The table's columns (schema version 1). Dictionary-encoded strings keep a million rows small."""
    import pyarrow as pa

    words = pa.dictionary(pa.int8(), pa.string())
    return pa.schema([
        ("problem_id", pa.dictionary(pa.int32(), pa.string())),
        ("sample_index", pa.int32()),
        ("correct", pa.bool_()),
        ("status", words),
        ("answer_key", pa.int32()),  # maj@k's answer class within the problem, numbered by first appearance; null: no answer
        ("num_tokens", tokens_type or pa.int32()),  # float64 only when some sample recorded a fractional count
        ("finish_reason", pa.dictionary(pa.int16(), pa.string())),
        ("mean_entropy", pa.float64()),
        ("mean_logprob", pa.float64()),
        ("second_correct", pa.bool_()),  # the second grader's verdict (`evalkit audit`); null when not audited
        ("second_status", words),
        ("sample_offset", pa.int64()),  # byte offset of the sample's (first) line in samples.jsonl
        ("grade_offset", pa.int64()),  # byte offset of its (last) line in grades.jsonl
    ])


def to_arrow(graded: GradedSamples, lo: int, hi: int, tokens_type: Any) -> Any:
    """Rows lo..hi of `graded` as a pyarrow Table (a slice at a time: a million rows never exist
    twice in memory)."""
    import pyarrow as pa

    t, part = graded.table, slice(lo, hi)
    rows = hi - lo
    problem = np.repeat(np.arange(len(t.problem_ids), dtype=np.int32), t.n)[part]
    statuses = pa.array(STATUSES, pa.string())
    finish = t.finish[part]
    second = t.second
    have = second.have[part] if second is not None else np.zeros(rows, bool)
    lines = graded.lines or (np.full(len(graded.index), -1, np.int64),) * 2
    answer = t.answer[part]
    columns = [
        pa.DictionaryArray.from_arrays(pa.array(problem), pa.array(t.problem_ids, pa.string())),
        pa.array(graded.index[part].astype(np.int32)),
        pa.array(t.correct[part]),
        pa.DictionaryArray.from_arrays(pa.array(t.status[part].astype(np.int8)), statuses),
        pa.array(answer.astype(np.int32), mask=answer == NO_ANSWER),
        _tokens(t.tokens[part], tokens_type),
        pa.DictionaryArray.from_arrays(pa.array(np.maximum(finish, 0).astype(np.int16), mask=finish == NO_FINISH),
                                       pa.array(list(t.finish_names) or [""], pa.string())),
        pa.array(t.entropy[part], from_pandas=True),
        pa.array(t.logprob[part], from_pandas=True),
        pa.array(second.correct[part] if second is not None else have, mask=~have),
        pa.DictionaryArray.from_arrays(pa.array(np.where(have, second.status[part] if second is not None else 0, 0).astype(np.int8),
                                                mask=~have), statuses),
        *(pa.array(at[part], mask=at[part] < 0) for at in lines),
    ]
    return pa.Table.from_arrays(columns, schema=schema(tokens_type))


def _tokens_type(values: np.ndarray) -> Any:
    """int32 for num_tokens (the counts samples record), float64 when a value is not a small whole number."""
    import pyarrow as pa

    known = values[~np.isnan(values)]
    whole = np.all(known == np.round(known)) and np.all(np.abs(known) <= _INT32)
    return pa.int32() if whole else pa.float64()


def _tokens(values: np.ndarray, kind: Any) -> Any:
    import pyarrow as pa

    known = ~np.isnan(values)
    if kind == pa.int32():
        return pa.array(np.where(known, values, 0).astype(np.int32), mask=~known)
    return pa.array(values, from_pandas=True)


def from_arrow(columns: Any, meta: dict, stats: bool = True, lines: bool = False) -> GradedSamples:
    """GradedSamples from the columns of a table this module wrote (`columns(name)` gives one as a
    pyarrow Array); NotCurrent when its shape or values are not what `to_arrow` writes (a table
    edited by hand, or damaged in a way parquet did not detect). `stats` False: token statistics
    are not read (nan), as when the JSONL files are streamed without them."""
    codes, names = _dictionary(columns("problem_id"))
    order = sorted(range(len(names)), key=lambda i: natural_key(names[i]))
    rank = np.empty(len(names), np.int32)
    rank[order] = np.arange(len(names))
    if len(codes) == 0 or codes.min() < 0:
        raise NotCurrent("it has no rows, or rows without a problem id")
    rows = rank[codes]
    del codes
    index = _plain(columns("sample_index"), np.int32, None)
    step, next_index = np.diff(rows), np.diff(index)
    if index.min() < 0 or np.any(step < 0) or np.any(next_index[step == 0] <= 0):
        raise NotCurrent("its rows are not in problem order, sample index order, or repeat a sample")
    del step, next_index
    counts = np.bincount(rows, minlength=len(names))
    del rows
    present = np.flatnonzero(counts)
    size = len(index)
    finish, finish_names = _dictionary(columns("finish_reason"))
    stat = (lambda name: _constant_as_view(_plain(columns(name), np.float64, np.nan))) if stats else (lambda name: _nothing(size))
    t = RunTable(
        problem_ids=[names[order[r]] for r in present], offsets=np.concatenate([[0], np.cumsum(counts[present])]),
        correct=_plain(columns("correct"), bool, None), status=_codes(columns("status"), "status", STATUSES, None).astype(np.uint8),
        answer=_plain(columns("answer_key"), np.int32, NO_ANSWER), tokens=stat("num_tokens"), entropy=stat("mean_entropy"),
        logprob=stat("mean_logprob"), finish=finish.astype(np.int16), finish_names=tuple(finish_names), second=_second(columns, meta),
    )
    if any(len(a) != size for a in (t.correct, t.status, t.answer, t.tokens, t.entropy, t.logprob, t.finish)):
        raise NotCurrent("its columns differ in length")
    at = tuple(_plain(columns(name), np.int64, -1) for name in ("sample_offset", "grade_offset")) if lines else None
    return GradedSamples(t, index, {key: meta.get(key) for key in ("grades", "samples")}, at)


def _float64() -> Any:
    import pyarrow as pa

    return pa.float64()


def _validity(arr: Any) -> np.ndarray | None:
    """Which entries of a pyarrow Array are present (None: all), from its validity bitmap."""
    if arr.null_count == 0:
        return None
    bits = np.unpackbits(np.frombuffer(arr.buffers()[0], np.uint8), bitorder="little")
    return bits[arr.offset: arr.offset + len(arr)].astype(bool)


_NUMPY = {"int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64, "double": np.float64}


def _plain(arr: Any, dtype: Any, missing: Any) -> np.ndarray:
    """A primitive pyarrow Array as numpy, read from its buffers (no pyarrow.compute, which costs
    half a second to import), `missing` where null (None: nulls mean a damaged table)."""
    kind = str(arr.type)
    if missing is not None and arr.null_count == len(arr) and len(arr):
        return _nothing(len(arr), missing, dtype)
    if kind == "bool":
        bits = np.unpackbits(np.frombuffer(arr.buffers()[1], np.uint8), bitorder="little")
        values = bits[arr.offset: arr.offset + len(arr)].astype(bool)
    elif kind in _NUMPY:
        values = np.frombuffer(arr.buffers()[1], _NUMPY[kind])[arr.offset: arr.offset + len(arr)]
    else:
        raise NotCurrent(f"a column has type {kind}, not that of schema version {SCHEMA_VERSION}")
    out = values.astype(dtype)  # a copy: the arrow buffer is released with its table
    valid = _validity(arr)
    if valid is not None:
        if missing is None:
            raise NotCurrent("it has missing values where none can be")
        out[~valid] = missing
    return out


def _nothing(size: int, value: Any = np.nan, dtype: Any = np.float64) -> np.ndarray:
    """`size` copies of one value in no memory (a read-only broadcast view): a column no sample
    recorded (entropy of a run scored from a file) costs nothing."""
    return np.broadcast_to(np.asarray(value, dtype), (size,))


def _constant_as_view(values: np.ndarray) -> np.ndarray:
    """A column of one repeated value (0 tokens for every sample scored from a file) as a view."""
    if len(values) and values.strides[0] and np.array_equal(values, np.broadcast_to(values[0], values.shape), equal_nan=True):
        return _nothing(len(values), values[0])
    return values


def _dictionary(arr: Any) -> tuple[np.ndarray, list]:
    """(indices as int32, -1 where null; dictionary values) of a dictionary-encoded Array."""
    if not str(arr.type).startswith("dictionary"):
        raise NotCurrent(f"a column has type {arr.type}, not a dictionary as in schema version {SCHEMA_VERSION}")
    return _plain(arr.indices, np.int32, -1), arr.dictionary.to_pylist()


def _codes(arr: Any, name: str, vocabulary: tuple[str, ...], missing: int | None) -> np.ndarray:
    """A dictionary column's values as codes into `vocabulary`; `missing` where null (None: no nulls allowed)."""
    codes, names = _dictionary(arr)
    where = {s: i for i, s in enumerate(vocabulary)}
    if any(v not in where for v in names) or (missing is None and (codes < 0).any()):
        raise NotCurrent(f"its column {name} holds a value that is none of {', '.join(vocabulary)}")
    lookup = np.array([where[v] for v in names] + [missing if missing is not None else 0], np.int32)
    return lookup[codes]


def _second(columns: Any, meta: dict) -> SecondVerdicts | None:
    audit = meta.get("audit")
    if audit is None:
        return None
    status = _codes(columns("second_status"), "second_status", STATUSES, NO_VERDICT).astype(np.uint8)
    return SecondVerdicts(correct=_plain(columns("second_correct"), bool, False), status=status, header=audit.get("header") or {})


# -- reading and writing -----------------------------------------------------------------------
def read(store: RunStore, stats: bool = True, lines: bool = False) -> GradedSamples | None:
    """The run's table when it is present and current; None when absent; NotCurrent (with why) when
    it must be rebuilt. Audit verdicts are kept only while audit.jsonl is the one they were read from.
    `stats` False: no token statistics (nan); `lines`: the line offsets too (GradedSamples.lines).
    Columns are read one at a time, so memory holds the numpy arrays and one column in arrow form."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = store.path / TABLE
    if not path.exists():
        return None
    try:
        with pq.ParquetFile(path) as pf:
            meta = _metadata(pf.metadata)
            check_current(store, meta)
            if pf.schema_arrow.remove_metadata() not in (schema().remove_metadata(), schema(_float64()).remove_metadata()):
                raise NotCurrent(f"its columns are not those of schema version {SCHEMA_VERSION}")
            graded = from_arrow(lambda name: pf.read(columns=[name], use_threads=False).column(0).combine_chunks(), meta, stats, lines)
    except NotCurrent:
        raise
    except (pa.ArrowException, OSError, ValueError, KeyError, IndexError, TypeError) as e:  # a truncated or damaged file
        raise NotCurrent(f"it is unreadable ({type(e).__name__}: {_first_line(e)}): truncated or corrupt") from None
    finally:
        _release_arrow_memory()
    if graded.table.second is not None and stamp(store.path / AUDIT) != (meta.get("audit") or {}).get("stamp"):
        graded.table.second = None
    return graded


def _release_arrow_memory() -> None:
    """Arrow's allocator keeps freed pages: tens of MB of RSS for nothing once the table is read."""
    import pyarrow as pa

    release = getattr(pa.default_memory_pool(), "release_unused", None)
    if release is not None:
        release()


def _metadata(md: Any) -> dict:
    raw = (md.metadata or {}).get(META_KEY)
    if raw is None:
        raise NotCurrent("it was not written by evalkit (no evalkit.table metadata)")
    meta = json.loads(raw)
    if not isinstance(meta, dict):
        raise NotCurrent("its evalkit.table metadata is not an object")
    if meta.get("rows") != md.num_rows:
        raise NotCurrent(f"it holds {md.num_rows} rows, its metadata says {meta.get('rows')}")
    return meta


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else ""


def write(store: RunStore, graded: GradedSamples, built_from: dict) -> Path:
    """Write table.parquet atomically and record the grades hash in manifest.json. OSError propagates
    (the caller decides what a read-only run directory means)."""
    import pyarrow.parquet as pq

    second = graded.table.second
    meta = {"schema_version": SCHEMA_VERSION, "rows": len(graded.index), "problems": len(graded.table.problem_ids), **built_from,
            "audit": None if second is None else {"stamp": stamp(store.path / AUDIT), "header": second.header}}
    kind = _tokens_type(graded.table.tokens)
    path = store.path / TABLE
    tmp = store.path / f".{TABLE}.{os.getpid()}.tmp"
    try:
        with pq.ParquetWriter(tmp, schema(kind).with_metadata({META_KEY: json.dumps(meta).encode()}), compression="zstd",
                              use_dictionary=["problem_id", "status", "finish_reason", "second_status"],
                              use_byte_stream_split=["mean_entropy", "mean_logprob"],
                              column_encoding={"sample_offset": "DELTA_BINARY_PACKED", "grade_offset": "DELTA_BINARY_PACKED"}) as out:
            for lo in range(0, max(1, len(graded.index)), ROW_GROUP):
                out.write_table(to_arrow(graded, lo, min(lo + ROW_GROUP, len(graded.index)), kind))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        _release_arrow_memory()
    _record_in_manifest(store, meta)
    return path


def _record_in_manifest(store: RunStore, meta: dict) -> None:
    manifest = store.manifest()
    if manifest is None:
        return
    grades = meta.get("grades") or {}
    table = store.path / TABLE
    manifest["table"] = {"file": TABLE, "schema_version": SCHEMA_VERSION, "rows": meta["rows"], "bytes": table.stat().st_size,
                         "sha256": file_sha256(table),
                         "grades_sha256": grades.get("sha256"), "grades_bytes": grades.get("size"),
                         "built_from": {key: meta.get(key) for key in ("grades", "samples")},
                         "audit_stamp": (meta.get("audit") or {}).get("stamp")}
    try:
        write_json_atomic(store.path / MANIFEST, manifest)
    except EvalkitError as e:  # a read-only manifest.json: the caller reports what could not be written
        raise OSError(str(e)) from None
