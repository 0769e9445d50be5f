"""Several checkpoints in one `evalkit run`: expand globs such as `ckpts/global_step_*` in training
order, and make sure every checkpoint gets its own run directory before any sampling starts."""

from __future__ import annotations

import glob
import os
import re
from typing import Sequence

from .store import default_run_dir
from .types import EvalkitError

_GLOB_CHARS = re.compile(r"[*?\[]")


def natural_key(text: str) -> list:
    """`global_step_20` sorts before `global_step_100`: digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


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


def check_distinct_run_dirs(models: Sequence[str], bench: str) -> None:
    """Two checkpoints must not share results/<slug>/<bench>/ (e.g. `.../actor/huggingface`)."""
    seen: dict[str, str] = {}
    for model in models:
        d = str(default_run_dir(model, bench))
        if d in seen:
            raise EvalkitError(f"--model {seen[d]} and {model} would both write {d}; evaluate them in separate commands with --out")
        seen[d] = model

