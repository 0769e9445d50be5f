"""`evalkit run --model 'ckpts/global_step_*' --watch SECONDS`: evaluate checkpoints as training writes them.

Each poll expands the patterns (natural order, checkpoints.py). A checkpoint is taken once it is
complete (config.json, every shard its index names, each safetensors file as long as its header
says, a tokenizer) and quiet: its files' names, sizes and times have not changed for a settle interval
since the watcher first saw it, so a trainer (or a copy) still writing, renaming or adding a file is
waited for; file times are not trusted on their own, since copies keep them. Each gets its own run directory through the ordinary run
path, so a restarted watcher resumes: finished checkpoints are recounted from their files, a half-drawn
one draws only its missing samples. With the vllm backend one resident engine serves them all
(sweep.py). The watcher exits once no checkpoint has appeared, changed or finished for SECONDS.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterator, Sequence

from .checkpoints import check_distinct_run_dirs, expand_models, is_pattern, missing_parts, snapshot
from .config import RunConfig
from .sweep import Notify, Sweep, _stderr
from .types import EvalkitError, natural_key


def check_watch_args(models: Sequence[str], opts: dict) -> bool:
    """Whether `evalkit run` watches (--watch given); it needs a glob to watch, and writes one run
    directory per checkpoint in one process."""
    if opts.get("watch") is None:
        return False
    if not any(is_pattern(m) for m in models):
        raise EvalkitError("--watch needs a glob --model to watch, e.g. --model 'ckpts/global_step_*' (quoted)")
    for flag, value in (("--out", opts.get("out")), ("--shard", opts.get("shard")), ("--ray", opts.get("ray_address"))):
        if value is not None:
            raise EvalkitError(f"--watch writes one run directory per checkpoint in this process; drop {flag}")
    return True


def intervals(seconds: float) -> tuple[float, float]:
    """(poll, settle): poll a tenth of the idle limit (0.2 s to 5 s); a checkpoint must stay unchanged
    for two polls before it is read."""
    poll = min(5.0, max(0.2, seconds / 10))
    return poll, 2 * poll


def watch(patterns: Sequence[str], config_for: Callable[[str], RunConfig], seconds: float, argv: Sequence[str] = (),
          notify: Notify = _stderr, clock: Callable[[], float] = time.monotonic,
          sleep: Callable[[float], None] = time.sleep) -> Iterator[Any]:
    """RunResults of the checkpoints matching `patterns`, in natural order as they become ready,
    until none has appeared, changed or finished for `seconds`."""
    poll, settle = intervals(seconds)
    named = {m for m in patterns if not is_pattern(m)}  # given by name (a base model, a hub id): taken as they are
    seen: dict[str, tuple[tuple, float]] = {}  # checkpoint -> (snapshot, when it last changed)
    done: set[str] = set()
    configs: list[RunConfig] = []
    last_activity = clock()
    with Sweep(argv, notify) as sweep:
        while True:
            now = clock()
            ready = []
            present = [m for m in expand_models(patterns, allow_empty=True) if m not in done]
            seen = {m: seen[m] for m in present if m in seen}  # a directory that went away is forgotten
            for model in present:
                if model in named:
                    ready.append(model)
                    continue
                snap = snapshot(model)
                if model not in seen or seen[model][0] != snap:  # appeared or changed: wait until it is quiet
                    seen[model] = (snap, now)
                    last_activity = now
                if now - seen[model][1] >= settle and not missing_parts(model):
                    ready.append(model)
            for model in ready:  # natural order within each pattern, as expand_models lists them
                config = config_for(model)
                check_distinct_run_dirs([*configs, config])
                configs.append(config)
                yield sweep.run(config)
                done.add(model)
                last_activity = clock()
            if ready:
                continue
            if clock() - last_activity >= seconds:
                break
            sleep(poll)
    for model in sorted(set(seen) - done, key=natural_key):
        notify(f"{model}: not evaluated, incomplete after {seconds:g}s without change: missing {', '.join(missing_parts(model))}")

