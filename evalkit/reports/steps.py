"""Which training step a run directory belongs to, and which run directories make up a training run.

A training run is named on the command line as `NAME=GLOB` over run directories. The step of each is
read from its checkpoint path as the manifest records it (`ckpts/azr/global_step_200`): the last
`global_step_N`, `checkpoint-N`, `step_N`, `step-N` or `iter_N` in it (verl, HF Trainer, OpenRLHF,
Megatron's `iter_0000200`), or the first group of a user's `--step-regex`. Reading the manifest, not
the directory name, keeps the step right when `--out` named the directory freely.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..store import MANIFEST, RunStore
from ..types import EvalkitError, natural_key

STEP_PATTERN = re.compile(r"(?<![A-Za-z0-9])(?:global_step|checkpoint|step|iter)[-_]?(\d+)(?![0-9])", re.IGNORECASE)
STEP_NAMES = "global_step_N, checkpoint-N, step_N, step-N or iter_N"


@dataclass(frozen=True)
class Checkpoint:
    """One run directory of a training run: where it is, what model it evaluated, at which step."""

    run_dir: Path
    model: str
    step: int


def compile_step_regex(text: str | None) -> re.Pattern | None:
    """The user's --step-regex; it must compile and capture the step (its first group, else the match)."""
    if text is None:
        return None
    try:
        pattern = re.compile(text)
    except re.error as e:
        raise EvalkitError(f"--step-regex {text!r} is not a regular expression ({e}); e.g. --step-regex 'ckpt(\\d+)'") from None
    return pattern


def step_of(model: str, regex: re.Pattern | None = None) -> int | None:
    """The training step in a checkpoint path, or None when it names none."""
    if regex is not None:
        found = list(regex.finditer(model))
        if not found:
            return None
        text = found[-1].group(1) if regex.groups else found[-1].group(0)
        digits = re.search(r"\d+", text or "")
        return int(digits.group(0)) if digits else None
    found = list(STEP_PATTERN.finditer(model))
    return int(found[-1].group(1)) if found else None


def parse_run_spec(spec: str) -> tuple[str, str]:
    """`NAME=GLOB` -> (NAME, GLOB); a bare GLOB is named after itself."""
    name, sep, pattern = spec.partition("=")
    if not sep:
        return spec, spec
    if not name.strip() or not pattern.strip():
        raise EvalkitError(f"--run {spec!r}: give NAME=GLOB, e.g. --run AZR='results/azr--global_step_*/math500'")
    return name.strip(), pattern.strip()


def expand_run_dirs(name: str, pattern: str) -> list[Path]:
    """The run directories a training run's glob matches, in natural order."""
    matches = sorted((Path(m) for m in glob.glob(os.path.expanduser(pattern)) if (Path(m) / MANIFEST).is_file()), key=lambda p: natural_key(str(p)))
    if not matches:
        near = [m for m in glob.glob(os.path.expanduser(pattern)) if os.path.isdir(m)]
        why = f"matches {len(near)} directories but none holds a {MANIFEST}" if near else "matches no run directory"
        raise EvalkitError(f"--run {name}={pattern!r} {why}; check the pattern (quote it so the shell does not expand it) "
                           "and point it at run directories (results/<model>/<bench>)")
    return matches


def training_run(name: str, pattern: str, regex: re.Pattern | None) -> list[Checkpoint]:
    """The checkpoints of one training run, ordered by step; a run without a step or two runs at one
    step are errors (before anything is read beyond the manifests)."""
    points: dict[int, Checkpoint] = {}
    for run_dir in expand_run_dirs(name, pattern):
        manifest = RunStore(run_dir).manifest() or {}
        model = str(manifest.get("model"))
        step = step_of(model, regex)
        if step is None:
            how = f"--step-regex {regex.pattern!r} does not match it" if regex is not None else f"it names no {STEP_NAMES}"
            raise EvalkitError(f"{run_dir}: its checkpoint path {model!r} (manifest.json) gives no training step: {how}; "
                               "pass --step-regex with one group around the step number, e.g. --step-regex 'ckpt(\\d+)'")
        if step in points:
            raise EvalkitError(f"--run {name}: {points[step].run_dir} and {run_dir} are both at step {step}; "
                               "narrow the glob so each checkpoint of the training run appears once")
        points[step] = Checkpoint(run_dir, model, step)
    return [points[s] for s in sorted(points)]


def training_runs(specs: Sequence[str], regex_text: str | None) -> dict[str, list[Checkpoint]]:
    """NAME -> its checkpoints by step, for every --run."""
    if not specs:
        raise EvalkitError("give at least one training run, e.g. --run AZR='results/azr--global_step_*/math500'")
    regex = compile_step_regex(regex_text)
    out: dict[str, list[Checkpoint]] = {}
    for spec in specs:
        name, pattern = parse_run_spec(spec)
        if name in out:
            raise EvalkitError(f"two --run are named {name}; give each training run its own name")
        out[name] = training_run(name, pattern, regex)
    return out
