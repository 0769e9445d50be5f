"""Update sparsity of each checkpoint of a training run against the model training started from,
computed once and cached beside the checkpoint's run directory.

The figures are `diff-params`' (param_diff.diff_checkpoints, streamed as there). The cache file
`param_sparsity.json` in the run directory holds one entry per (base, checkpoint, tol), keyed by both
checkpoints' content digests (blake2b of every tensor's bytes, hashed while the diff reads them). A
checkpoint whose path, file names, sizes and modification times are those recorded with a digest is
taken to still hold that content (git's index makes the same bet), so a warm cache reads no weights;
anything else is hashed again, and the entry is reused only when the contents match.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from ..store import write_json_atomic
from ..types import EvalkitError
from .param_diff import (DEFAULT_WORKERS, INDEX_FILE, check_same_architecture, checkpoint_tensors, content_digest,
                         diff_checkpoints)

CACHE_FILE = "param_sparsity.json"
SCHEMA = "evalkit.sparsity-cache/1"
MAX_ENTRIES = 8  # bases / tolerances remembered per run directory
Notify = Callable[[str], None]


def signature(path: str | Path) -> dict:
    """What a checkpoint's files look like from the outside: resolved path, names, sizes, mtimes."""
    p = Path(path).resolve()
    files = [p] if p.is_file() else sorted(f for f in p.iterdir() if f.suffix == ".safetensors" or f.name == INDEX_FILE)
    stats = [[f.name, (st := f.stat()).st_size, st.st_mtime_ns] for f in files]
    return {"path": str(p), "files": stats}


def check_architecture(base: str | Path, ckpt: str | Path, run_dir: Path) -> None:
    """Both checkpoints' tensor names, shapes and dtypes agree (headers only); one line naming both when not."""
    try:
        check_same_architecture(checkpoint_tensors(base), checkpoint_tensors(ckpt))
    except EvalkitError as e:
        raise EvalkitError(f"--base-model {base} and checkpoint {ckpt} (of run {run_dir}) differ: {e}; "
                           "pass the checkpoint this training run started from") from None


class SparsityCache:
    """Sparsity of checkpoints against one base, from each run directory's cache or a fresh diff."""

    def __init__(self, base: str | Path, tol: float = 0.0, workers: int = DEFAULT_WORKERS, notify: Notify = print):
        self.base, self.tol, self.workers, self.notify = Path(base), tol, workers, notify
        self.base_signature = signature(base)
        self._base_digest: str | None = None
        self.computed = self.reused = 0
        self._warned = False

    def base_digest(self) -> str:
        if self._base_digest is None:
            self._base_digest = content_digest(self.base, self.workers)
        return self._base_digest

    def figures(self, run_dir: Path, ckpt: str | Path) -> dict:
        """{"overall", "by_module", "by_layer"} of diff-params for `ckpt` against the base."""
        entries = _read_entries(run_dir / CACHE_FILE)
        ckpt_sig = signature(ckpt)
        same_tol = [e for e in entries if e.get("tol") == self.tol]
        hit = next((e for e in same_tol if e["base"].get("signature") == self.base_signature and e["ckpt"].get("signature") == ckpt_sig), None)
        if hit is None and same_tol:  # moved or touched files: compare contents
            base_digest, ckpt_digest = self.base_digest(), content_digest(ckpt, self.workers)
            hit = next((e for e in same_tol if e["base"].get("digest") == base_digest and e["ckpt"].get("digest") == ckpt_digest), None)
        if hit is not None:
            self.reused += 1
            if hit["base"].get("signature") != self.base_signature or hit["ckpt"].get("signature") != ckpt_sig:
                hit["base"]["signature"], hit["ckpt"]["signature"] = self.base_signature, ckpt_sig
                self._write(run_dir, entries)
            return hit["figures"]
        report = diff_checkpoints(self.base, ckpt, tol=self.tol, workers=self.workers, digests=True)
        self._base_digest = report["base_digest"]
        self.computed += 1
        figures = {key: report[key] for key in ("overall", "by_module", "by_layer")}
        entry = {"tol": self.tol, "figures": figures,
                 "base": {"digest": report["base_digest"], "signature": self.base_signature},
                 "ckpt": {"digest": report["ckpt_digest"], "signature": ckpt_sig}}
        kept = [e for e in entries if not (e.get("tol") == self.tol and e["base"].get("digest") == report["base_digest"])]
        self._write(run_dir, [entry, *kept][:MAX_ENTRIES])
        return figures

    def _write(self, run_dir: Path, entries: list[dict]) -> None:
        try:
            write_json_atomic(run_dir / CACHE_FILE, {"schema": SCHEMA, "entries": entries})
        except OSError as e:  # a read-only results tree: the figures are right, only not remembered
            if not self._warned:
                self._warned = True
                self.notify(f"warning: cannot write the sparsity cache {run_dir / CACHE_FILE} ({e.strerror or e}); "
                            "sparsity is recomputed next time")


def _read_entries(path: Path) -> list[dict]:
    """The cache's entries; a missing, foreign or damaged file is an empty cache (it is rewritten)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("entries"), list):
        return []
    return [e for e in data["entries"] if isinstance(e, dict) and isinstance(e.get("base"), dict)
            and isinstance(e.get("ckpt"), dict) and isinstance(e.get("figures"), dict)]


def locate_checkpoint(model: str, run_dir: Path) -> Path | None:
    """The checkpoint directory a run's manifest names: as recorded (absolute, or relative to the
    working directory), else relative to a directory above the run (where `evalkit run` was started:
    its default run directories are results/<model>/<bench> under it)."""
    from ..tiny_model import resolve_builtin

    recorded = Path(os.path.expanduser(resolve_builtin(model)))
    if recorded.is_absolute():
        return recorded if recorded.exists() else None
    for root in [Path.cwd(), *Path(run_dir).resolve().parents]:
        if (root / recorded).exists():
            return root / recorded
    return None
