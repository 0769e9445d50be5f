"""Parameter-update sparsity between two checkpoints: which entries training left bit-identical.

Reads both checkpoints' safetensors shards tensor by tensor, in byte chunks of bounded size, so a 7B
model diffs in a few hundred MB instead of two full copies. We read byte ranges with pread into
reused buffers rather than through `safetensors.safe_open`: safe_open memory-maps the file, and every
page touched stays resident (counted in RSS) until the map is dropped, so one 5 GB shard read through
it holds 5 GB. The header format (8-byte length, JSON of dtype/shape/offsets) is the documented one;
tests check our reading of it against safe_open.

Equality is decided on raw bits (bf16 included), so it is exact and NaN-safe; values are only
decoded (bf16/f16 -> float32, wide ints/f64 -> float64) for the --tol test and the update norms.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from ..types import EvalkitError

INDEX_FILE = "model.safetensors.index.json"
DEFAULT_CHUNK_BYTES = 1 << 20  # per side: cache-sized chunks run fastest; work arrays are ~8x this
DEFAULT_WORKERS = min(8, os.cpu_count() or 1)  # threads, each holding one chunk pair
_MAX_HEADER_BYTES = 100 << 20
_NORM_BLOCK = 1 << 16  # float32 dots over blocks this long, summed in float64: ~1e-8 relative error

# safetensors dtype -> (bytes per element, numpy dtype to decode through, float type to compute in)
_DTYPES: dict[str, tuple[int, str | None, type]] = {
    "BOOL": (1, "u1", np.float32), "U8": (1, "u1", np.float32), "I8": (1, "i1", np.float32),
    "F8_E4M3": (1, None, np.float32), "F8_E5M2": (1, None, np.float32),
    "I16": (2, "<i2", np.float32), "U16": (2, "<u2", np.float32), "F16": (2, "<f2", np.float32),
    "BF16": (2, None, np.float32),
    "I32": (4, "<i4", np.float64), "U32": (4, "<u4", np.float64), "F32": (4, "<f4", np.float32),
    "I64": (8, "<i8", np.float64), "U64": (8, "<u8", np.float64), "F64": (8, "<f8", np.float64),
}
_BITS = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}

MODULE_TYPES = ("attention", "mlp", "embeddings", "norm", "lm_head", "other")
_LAYER_RE = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks|block)\.(\d+)(?:\.|$)")
_MODULE_RULES = (  # first match wins: norms inside attention blocks ("post_attention_layernorm") are norms
    ("norm", re.compile(r"norm|(?:^|\.)ln_?\w*(?:\.|$)")),
    ("lm_head", re.compile(r"(?:^|\.)(?:lm_head|embed_out)(?:\.|$)|^output\.")),
    ("embeddings", re.compile(r"embed|(?:^|\.)(?:wte|wpe)(?:\.|$)")),
    ("attention", re.compile(r"attn|attention|(?:^|\.)(?:[qkvo]_proj|qkv_proj|query_key_value)(?:\.|$)")),
    ("mlp", re.compile(r"mlp|ffn|feed_forward|expert|moe|(?:^|\.)(?:gate_proj|up_proj|down_proj|gate_up_proj|fc1|fc2|c_fc|w[123])(?:\.|$)")),
)


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor's bytes lie in one shard file."""

    name: str
    path: Path
    dtype: str
    shape: tuple[int, ...]
    start: int  # absolute file offset of the first byte
    nbytes: int


@dataclass
class DiffStats:
    """Counts and squared norms for a tensor or a group of tensors; groups are plain sums."""

    num_params: int = 0
    num_identical: int = 0
    num_within_tol: int = 0
    sq_update: float = 0.0
    sq_base: float = 0.0

    def add(self, other: "DiffStats") -> None:
        self.num_params += other.num_params
        self.num_identical += other.num_identical
        self.num_within_tol += other.num_within_tol
        self.sq_update += other.sq_update
        self.sq_base += other.sq_base

    def to_json(self) -> dict[str, Any]:
        n = self.num_params
        return {
            "num_params": n,
            "num_identical": self.num_identical,
            "num_within_tol": self.num_within_tol,
            "frac_identical": self.num_identical / n if n else None,
            "frac_within_tol": self.num_within_tol / n if n else None,
            "update_norm": _finite(math.sqrt(self.sq_update)),
            "base_norm": _finite(math.sqrt(self.sq_base)),
            "rel_update_norm": _rel_norm(self.sq_update, self.sq_base),
        }


def _finite(x: float) -> float | None:
    """JSON has no inf/NaN; a non-finite norm (inf/NaN weights) is reported as null."""
    return x if math.isfinite(x) else None


def _rel_norm(sq_update: float, sq_base: float) -> float | None:
    if sq_update == 0.0:
        return 0.0
    if not math.isfinite(sq_update) or not math.isfinite(sq_base) or sq_base == 0.0:
        return None
    return math.sqrt(sq_update / sq_base)


# -- reading checkpoints -----------------------------------------------------------------------
def read_header(path: Path) -> dict[str, TensorEntry]:
    """The tensors of one .safetensors file, from its JSON header; no tensor data is read."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        if n <= 0 or n > min(_MAX_HEADER_BYTES, size - 8):
            raise EvalkitError(f"{path} is not a safetensors file (bad header length); re-save it with safetensors")
        try:
            meta = json.loads(f.read(n))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise EvalkitError(f"{path} has a corrupt safetensors header; re-save it with safetensors")
    entries = {}
    for name, info in meta.items():
        if name != "__metadata__":
            entries[name] = _entry(path, name, info, 8 + n, size)
    return entries


def _entry(path: Path, name: str, info: dict, data_start: int, file_size: int) -> TensorEntry:
    try:
        dtype, shape, (begin, end) = info["dtype"], tuple(int(d) for d in info["shape"]), info["data_offsets"]
    except (KeyError, TypeError, ValueError):
        raise EvalkitError(f"tensor {name!r} in {path} has a malformed header entry; the shard is corrupt, re-save it with safetensors")
    if dtype not in _DTYPES:
        raise EvalkitError(f"tensor {name!r} in {path} has dtype {dtype}, which diff-params does not read; supported: {', '.join(_DTYPES)}")
    if end - begin != math.prod(shape) * _DTYPES[dtype][0] or data_start + end > file_size:
        raise EvalkitError(f"tensor {name!r} in {path}: offsets disagree with shape {list(shape)} {dtype} or run past the file end; the shard is truncated or corrupt")
    return TensorEntry(name, path, dtype, shape, data_start + begin, end - begin)


def checkpoint_tensors(path: str | Path) -> dict[str, TensorEntry]:
    """Every tensor of a checkpoint: a .safetensors file, or a dir of shards (indexed or not)."""
    p = Path(path)
    if p.is_file():
        return read_header(p)
    if not p.is_dir():
        raise EvalkitError(f"checkpoint {p} does not exist; give a directory of .safetensors shards or one .safetensors file")
    if (p / INDEX_FILE).is_file():
        return _indexed_tensors(p)
    shards = sorted(p.glob("*.safetensors"))
    if not shards:
        raise EvalkitError(f"no *.safetensors in {p}; diff-params reads safetensors checkpoints (re-save with save_pretrained(safe_serialization=True))")
    tensors: dict[str, TensorEntry] = {}
    for shard in shards:
        for name, e in read_header(shard).items():
            if name in tensors:
                raise EvalkitError(f"tensor {name!r} appears in both {tensors[name].path.name} and {shard.name} of {p}; add a {INDEX_FILE} or remove the stray shard")
            tensors[name] = e
    return tensors


def _indexed_tensors(p: Path) -> dict[str, TensorEntry]:
    try:
        weight_map: dict[str, str] = json.loads((p / INDEX_FILE).read_text())["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise EvalkitError(f"{p / INDEX_FILE} has no readable weight_map; fix or delete the index file")
    headers: dict[str, dict[str, TensorEntry]] = {}
    tensors = {}
    for name, shard in weight_map.items():
        if shard not in headers:
            if not (p / shard).is_file():
                raise EvalkitError(f"{INDEX_FILE} in {p} maps tensor {name!r} to {shard}, which is missing")
            headers[shard] = read_header(p / shard)
        if name not in headers[shard]:
            raise EvalkitError(f"{INDEX_FILE} in {p} maps tensor {name!r} to {shard}, which does not contain it")
        tensors[name] = headers[shard][name]
    return tensors


def check_same_architecture(base: dict[str, TensorEntry], ckpt: dict[str, TensorEntry]) -> None:
    """Fail on the first tensor whose name, shape or dtype differs, before any data is read."""
    for name in sorted(set(base) ^ set(ckpt), key=natural_key):
        where = "BASE" if name in base else "CKPT"
        other = "CKPT" if name in base else "BASE"
        raise EvalkitError(f"tensor {name!r} is in {where} but not in {other}; diff-params needs two checkpoints of the same architecture")
    for name in sorted(base, key=natural_key):
        a, b = base[name], ckpt[name]
        if a.shape != b.shape:
            raise EvalkitError(f"tensor {name!r} has shape {list(a.shape)} in BASE but {list(b.shape)} in CKPT; diff-params needs the same architecture")
        if a.dtype != b.dtype:
            raise EvalkitError(f"tensor {name!r} is {a.dtype} in BASE but {b.dtype} in CKPT; convert one checkpoint so both store the same dtype")


def natural_key(name: str) -> tuple:
    """layers.2 before layers.10."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


class _Reader:
    """pread into one reused buffer per side, one open descriptor per shard file."""

    def __init__(self, chunk_bytes: int) -> None:
        self.buf = bytearray(chunk_bytes)
        self.fds: dict[Path, int] = {}

    def read(self, path: Path, offset: int, n: int) -> np.ndarray:
        fd = self.fds.get(path)
        if fd is None:
            fd = self.fds[path] = os.open(path, os.O_RDONLY)
        view = memoryview(self.buf)[:n]
        got = 0
        while got < n:
            k = os.preadv(fd, [view[got:]], offset + got)
            if k <= 0:
                raise EvalkitError(f"{path} ended early while reading at byte {offset + got}; the shard is truncated")
            got += k
        return np.frombuffer(self.buf, dtype=np.uint8, count=n)

    def close(self) -> None:
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()


# -- comparing ---------------------------------------------------------------------------------
class Workspace:
    """Work arrays reused across chunks: fresh multi-MB arrays cost more in page faults than the math."""

    def __init__(self) -> None:
        self.arrays: dict[tuple[str, Any], np.ndarray] = {}

    def get(self, key: str, n: int, dtype: Any) -> np.ndarray:
        arr = self.arrays.get((key, dtype))
        if arr is None or arr.size < n:
            arr = self.arrays[(key, dtype)] = np.zeros(n, dtype)  # zeros: bf16 decoding relies on it
        return arr[:n]


def _decode(raw: np.ndarray, dtype: str, ws: Workspace, side: str) -> np.ndarray:
    """Raw little-endian bytes -> float32/float64 values (exact for every dtype but wide ints)."""
    _, np_dtype, ftype = _DTYPES[dtype]
    if dtype == "BF16":  # bf16 is the high half of a float32; the low halves stay zero in this buffer
        wide = ws.get("bf16" + side, raw.size, np.uint16)
        wide[slice(1 if sys.byteorder == "little" else 0, None, 2)] = raw.view("<u2")
        return wide.view(np.float32)
    if np_dtype is None:  # float8: numpy has no type for it, torch does
        import torch

        tdt = {"F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2}[dtype]
        return torch.frombuffer(bytearray(raw), dtype=tdt).float().numpy()
    values = raw.view(np_dtype)
    if values.dtype == ftype:
        return values
    out = ws.get("val" + side, values.size, ftype)
    np.copyto(out, values, casting="unsafe")
    return out


def _sumsq(x: np.ndarray) -> float:
    return sum(float(np.dot(x[i:i + _NORM_BLOCK], x[i:i + _NORM_BLOCK])) for i in range(0, x.size, _NORM_BLOCK))


def diff_chunk(a_raw: np.ndarray, b_raw: np.ndarray, dtype: str, tol: float, ws: Workspace) -> DiffStats:
    """Compare one chunk of raw bytes: bit-identical count, within-tol count, squared norms."""
    size = _DTYPES[dtype][0]
    n = a_raw.size // size
    a = _decode(a_raw, dtype, ws, "a")
    stats = DiffStats(num_params=n, sq_base=_sumsq(a))
    if np.array_equal(a_raw, b_raw):  # memcmp-fast; frozen tensors take only this path
        stats.num_identical = stats.num_within_tol = n
        return stats
    changed = np.not_equal(a_raw.view(_BITS[size]), b_raw.view(_BITS[size]), out=ws.get("changed", n, bool))
    stats.num_identical = n - int(np.count_nonzero(changed))
    d = np.subtract(_decode(b_raw, dtype, ws, "b"), a, out=ws.get("d", n, a.dtype))
    stats.sq_update = _sumsq(d)
    if not math.isfinite(stats.sq_update):  # identical inf/NaN entries give NaN differences: no update
        d[~changed] = 0
        stats.sq_update = _sumsq(d)
    np.abs(d, out=d)  # identical entries are 0 here, so they all count as within tol
    stats.num_within_tol = int(np.count_nonzero(np.less_equal(d, tol, out=ws.get("close", n, bool))))
    return stats


def _chunk_tasks(tensors: dict[str, TensorEntry], chunk_bytes: int) -> list[tuple[str, int, int]]:
    """(tensor, byte offset, byte count) in the base's file order, so reads stay sequential there."""
    tasks = []
    for name in sorted(tensors, key=lambda k: (tensors[k].path, tensors[k].start)):
        size = _DTYPES[tensors[name].dtype][0]
        step = max(size, chunk_bytes // size * size)  # whole elements
        tasks += [(name, off, min(step, tensors[name].nbytes - off)) for off in range(0, tensors[name].nbytes, step)]
    return tasks


class _Worker:
    """One per thread: its own read buffers and work arrays, so chunks run concurrently (numpy and
    pread release the GIL)."""

    def __init__(self, chunk_bytes: int) -> None:
        self.readers = (_Reader(chunk_bytes), _Reader(chunk_bytes))
        self.ws = Workspace()

    def diff(self, a: TensorEntry, b: TensorEntry, off: int, n: int, tol: float, digest: bool) -> tuple[DiffStats, bytes, bytes]:
        raw_a = self.readers[0].read(a.path, a.start + off, n)
        raw_b = self.readers[1].read(b.path, b.start + off, n)
        hashes = (_chunk_hash(raw_a), _chunk_hash(raw_b)) if digest else (b"", b"")
        return diff_chunk(raw_a, raw_b, a.dtype, tol, self.ws), *hashes

    def hash(self, a: TensorEntry, off: int, n: int) -> bytes:
        return _chunk_hash(self.readers[0].read(a.path, a.start + off, n))


def _chunk_hash(raw: np.ndarray) -> bytes:
    """blake2b of one chunk's bytes (hashlib releases the GIL on buffers this size, so threads hash in parallel)."""
    return hashlib.blake2b(memoryview(raw), digest_size=16).digest()


class _Digest:
    """A checkpoint's content digest: per tensor in name order its name, dtype, shape and the hashes of
    its chunks in order; so it depends on the tensors' values, not on how they are split into shards."""

    def __init__(self, tensors: dict[str, TensorEntry]) -> None:
        self.tensors = tensors
        self.parts: dict[str, list[bytes]] = {name: [] for name in tensors}

    def add(self, name: str, chunk_hash: bytes) -> None:
        self.parts[name].append(chunk_hash)

    def hexdigest(self) -> str:
        h = hashlib.sha256()
        for name in sorted(self.tensors, key=natural_key):
            e = self.tensors[name]
            h.update(f"{name}\0{e.dtype}\0{list(e.shape)}\0".encode())
            h.update(b"".join(self.parts[name]))
        return f"blake2b-{DEFAULT_CHUNK_BYTES}:" + h.hexdigest()


def module_type(name: str) -> str:
    """attention / mlp / embeddings / norm / lm_head / other, from the parameter's name."""
    low = name.lower()
    for kind, rule in _MODULE_RULES:
        if rule.search(low):
            return kind
    return "other"


def layer_index(name: str) -> int | None:
    m = _LAYER_RE.search(name)
    return int(m.group(1)) if m else None


def diff_checkpoints(base: str | Path, ckpt: str | Path, tol: float = 0.0, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                     workers: int = DEFAULT_WORKERS, digests: bool = False) -> dict[str, Any]:
    """The full report: overall, per module type, per layer and per tensor. `digests`: also each side's
    content digest (content_digest's), hashed from the chunks the diff reads anyway (no second read)."""
    if tol < 0 or not math.isfinite(tol):
        raise EvalkitError(f"--tol {tol} must be a finite number >= 0")
    a_tensors, b_tensors = checkpoint_tensors(base), checkpoint_tensors(ckpt)
    check_same_architecture(a_tensors, b_tensors)
    per_tensor = {name: DiffStats() for name in a_tensors}
    sides = (_Digest(a_tensors), _Digest(b_tensors))
    chunk_bytes = DEFAULT_CHUNK_BYTES if digests else chunk_bytes  # the digest is defined over these chunks

    def work(worker: _Worker, task: tuple[str, int, int]) -> tuple[str, tuple[DiffStats, bytes, bytes]]:
        name, off, n = task
        return name, worker.diff(a_tensors[name], b_tensors[name], off, n, tol, digests)

    for name, (stats, hash_a, hash_b) in _pooled(work, _chunk_tasks(a_tensors, chunk_bytes), chunk_bytes, workers):
        per_tensor[name].add(stats)
        sides[0].add(name, hash_a)
        sides[1].add(name, hash_b)
    report = build_report(str(base), str(ckpt), tol, a_tensors, per_tensor)
    if digests:
        report["base_digest"], report["ckpt_digest"] = sides[0].hexdigest(), sides[1].hexdigest()
    return report


def content_digest(path: str | Path, workers: int = DEFAULT_WORKERS) -> str:
    """The digest diff_checkpoints(digests=True) reports for a checkpoint, from one streamed read of it."""
    tensors = checkpoint_tensors(path)
    digest = _Digest(tensors)

    def work(worker: _Worker, task: tuple[str, int, int]) -> tuple[str, bytes]:
        name, off, n = task
        return name, worker.hash(tensors[name], off, n)

    for name, chunk_hash in _pooled(work, _chunk_tasks(tensors, DEFAULT_CHUNK_BYTES), DEFAULT_CHUNK_BYTES, workers):
        digest.add(name, chunk_hash)
    return digest.hexdigest()


def _pooled(work: Any, tasks: list[tuple[str, int, int]], chunk_bytes: int, workers: int) -> Iterator[Any]:
    """work(worker, task) for every task on `workers` threads (one _Worker each), results in task order
    (so sums and digests are deterministic); on an error or Ctrl-C the queued chunks are dropped."""
    local, made = threading.local(), []

    def run(task: tuple[str, int, int]) -> Any:
        if not hasattr(local, "worker"):
            local.worker = _Worker(chunk_bytes)
            made.append(local.worker)
        return work(local.worker, task)

    pool = ThreadPoolExecutor(max(1, workers))
    try:
        yield from pool.map(run, tasks)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        for worker in made:
            for reader in worker.readers:
                reader.close()


def build_report(base: str, ckpt: str, tol: float, tensors: dict[str, TensorEntry], per_tensor: dict[str, DiffStats]) -> dict[str, Any]:
    overall = DiffStats()
    by_module: dict[str, DiffStats] = {}
    by_layer: dict[int | None, DiffStats] = {}
    rows = []
    for name in sorted(per_tensor, key=natural_key):
        s, e = per_tensor[name], tensors[name]
        kind, layer = module_type(name), layer_index(name)
        overall.add(s)
        by_module.setdefault(kind, DiffStats()).add(s)
        by_layer.setdefault(layer, DiffStats()).add(s)
        rows.append({"name": name, "dtype": e.dtype, "shape": list(e.shape), "module": kind, "layer": layer, **s.to_json()})
    layers = sorted(k for k in by_layer if k is not None)
    return {
        "base": base,
        "ckpt": ckpt,
        "tol": tol,
        "num_tensors": len(rows),
        "bytes_per_side": sum(e.nbytes for e in tensors.values()),
        "overall": overall.to_json(),
        "by_module": {k: by_module[k].to_json() for k in MODULE_TYPES if k in by_module},
        "by_layer": {**{str(k): by_layer[k].to_json() for k in layers}, **({"none": by_layer[None].to_json()} if None in by_layer else {})},
        "tensors": rows,
    }


def write_report(report: dict[str, Any], path: str | Path) -> None:
    """Atomic: a reader never sees half a report."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    os.replace(tmp, p)


# -- terminal table ----------------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.3f}"


def _norm(x: float | None) -> str:
    return "-" if x is None else f"{x:.3e}"


def _row(label: str, s: dict[str, Any], width: int) -> str:
    changed = s["num_params"] - s["num_identical"]
    return f"{label:<{width}} {s['num_params']:>14,} {changed:>14,} {_pct(s['frac_identical']):>9} {_pct(s['frac_within_tol']):>9} {_norm(s['rel_update_norm']):>10}"


def format_report(report: dict[str, Any], per_tensor: bool = False) -> Iterator[str]:
    """Lines for the terminal: overall, per module type, per layer, optionally per tensor."""
    groups: list[tuple[str, Iterable[tuple[str, dict]]]] = [
        ("module", report["by_module"].items()),
        ("layer", report["by_layer"].items()),
    ]
    if per_tensor:
        groups.append(("tensor", ((r["name"], r) for r in report["tensors"])))
    names = [r["name"] for r in report["tensors"]] if per_tensor else []
    width = max([12, *map(len, names)])
    yield f"{report['ckpt']} vs {report['base']}: {report['num_tensors']} tensors, tol={report['tol']:g}"
    for title, items in groups:
        yield ""
        yield f"{title:<{width}} {'params':>14} {'changed':>14} {'%ident':>9} {'%<=tol':>9} {'rel_upd':>10}"
        for label, s in items:
            yield _row(label, s, width)
    yield ""
    yield _row("overall", report["overall"], width)
