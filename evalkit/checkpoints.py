"""Several checkpoints in one `evalkit run`: expand globs such as `ckpts/global_step_*` in training
order, make sure every checkpoint gets its own run directory before any sampling starts, and tell a
checkpoint that is completely written from one a trainer is still writing (`--watch`)."""

from __future__ import annotations

import glob
import json
import os
import re
import struct
from pathlib import Path
from typing import Sequence

from .store import default_run_dir
from .types import EvalkitError, natural_key

_GLOB_CHARS = re.compile(r"[*?\[]")


WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
SINGLE_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")


def is_pattern(model: str) -> bool:
    return bool(_GLOB_CHARS.search(model))


def expand_models(models: Sequence[str], allow_empty: bool = False) -> list[str]:
    """Each --model as given, a glob pattern replaced by its matching directories in natural order.
    `allow_empty`: a pattern may match nothing yet (`--watch` waits for it)."""
    out: list[str] = []
    for model in models:
        if not is_pattern(model):
            out.append(model)
            continue
        matches = sorted((m for m in glob.glob(model) if os.path.isdir(m)), key=natural_key)
        if not matches and not allow_empty:
            raise EvalkitError(f"--model {model!r} matches no checkpoint directory; check the pattern (quote it so the shell does not expand it)")
        out.extend(matches)
    return list(dict.fromkeys(out))  # a checkpoint named twice is evaluated once


def check_distinct_run_dirs(configs: Sequence) -> None:
    """Two checkpoints must not share results/<slug>/<bench>/ (e.g. `.../actor/huggingface`)."""
    from .adapters.custom import dir_name
    from .config import run_variant

    seen: dict[str, str] = {}
    for c in configs:
        d = str(default_run_dir(c.model, dir_name(c.bench), variant=run_variant(c)))
        if d in seen:
            raise EvalkitError(f"--model {seen[d]} and {c.model} would both write {d}; evaluate them in separate commands with --out")
        seen[d] = c.model


# -- complete checkpoints (`--watch`) -----------------------------------------------------------
def missing_parts(path: str | os.PathLike) -> list[str]:
    """What a checkpoint directory still lacks before it can be loaded: config.json, every shard its
    weight index names (or its single weights file), a tokenizer, and safetensors files written to
    the end (a file's header states its length). Empty when the checkpoint is complete."""
    p = Path(path)
    missing = [] if (p / "config.json").is_file() else ["config.json"]
    index = next((p / name for name in WEIGHT_INDEXES if (p / name).is_file()), None)
    if index is not None:
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return missing + [f"{index.name} (unreadable: still being written?)"]
    else:
        shards = [name for name in SINGLE_WEIGHTS if (p / name).is_file()] or sorted(f.name for f in p.glob("*.safetensors"))
        if not shards:
            missing.append("weights (model.safetensors, pytorch_model.bin or a weight index)")
    for shard in shards:
        f = p / shard
        if not f.is_file():
            missing.append(shard)
        elif f.suffix == ".safetensors" and not safetensors_whole(f):
            missing.append(f"{shard} (shorter than its header says: still being written)")
    if not any((p / name).is_file() for name in TOKENIZER_FILES):
        missing.append("tokenizer (tokenizer.json, tokenizer.model, vocab.json or tokenizer_config.json)")
    return missing


def safetensors_whole(path: Path) -> bool:
    """A safetensors file is 8 bytes of header length, the JSON header, then the tensors up to the
    largest end offset the header names: anything shorter is a file still being written."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return False
            (length,) = struct.unpack("<Q", head)
            header = json.loads(f.read(length))
            size = os.fstat(f.fileno()).st_size
    except (OSError, ValueError, struct.error):
        return False
    ends = [t["data_offsets"][1] for name, t in header.items() if name != "__metadata__" and isinstance(t, dict)]
    return size == 8 + length + max(ends, default=0)


def snapshot(path: str | os.PathLike) -> tuple:
    """(name, size, mtime) of every file in a checkpoint directory: equal snapshots a poll apart mean
    nobody is writing to it."""
    try:
        entries = sorted(os.scandir(path), key=lambda e: e.name)
        return tuple((e.name, e.stat().st_size, e.stat().st_mtime_ns) for e in entries if e.is_file())
    except OSError:  # removed or renamed between the glob and now
        return ()
