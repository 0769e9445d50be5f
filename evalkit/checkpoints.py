"""Several checkpoints in one `evalkit run`: expand globs such as `ckpts/global_step_*` in training
order, and make sure every checkpoint gets its own run directory before any sampling starts."""

from __future__ import annotations

import glob
import os
import re
from typing import Sequence

from .store import default_run_dir
from .types import EvalkitError, natural_key

_GLOB_CHARS = re.compile(r"[*?\[]")


def expand_models(models: Sequence[str]) -> list[str]:
    """Each --model as given, a glob pattern replaced by its matching directories in natural order."""
    out: list[str] = []
    for model in models:
        if not _GLOB_CHARS.search(model):
            out.append(model)
            continue
        matches = sorted((m for m in glob.glob(model) if os.path.isdir(m)), key=natural_key)
        if not matches:
            raise EvalkitError(f"--model {model!r} matches no checkpoint directory; check the pattern (quote it so the shell does not expand it)")
        out.extend(matches)
    return list(dict.fromkeys(out))  # a checkpoint named twice is evaluated once


def check_distinct_run_dirs(configs: Sequence) -> None:
    """Two checkpoints must not share results/<slug>/<bench>/ (e.g. `.../actor/huggingface`)."""
    from .config import run_variant

    seen: dict[str, str] = {}
    for c in configs:
        d = str(default_run_dir(c.model, c.bench, variant=run_variant(c)))
        if d in seen:
            raise EvalkitError(f"--model {seen[d]} and {c.model} would both write {d}; evaluate them in separate commands with --out")
        seen[d] = c.model
