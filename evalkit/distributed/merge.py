"""`evalkit merge`: shards (or plain partial runs) of one run -> one run directory.

Because a sample's seed depends only on (seed, problem id, index), the union of the shards' samples
is exactly the sample set a single machine would draw; grading and metrics then go through the
same `pipeline.finish` as `evalkit run`, so metrics.json is the single run's too. Everything is
checked before the output directory is touched: the inputs must share a manifest identity, --n and
--limit, and together cover every (problem, index) pair.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from ..adapters.loading import LoadedBenchmark, load
from ..scoring.passk import check_ks
from ..pipeline import RunResult, finish
from ..store import RunStore, identity_diff
from ..types import EvalkitError, Grade, Sample
from ..shard import shard_of

Key = tuple[str, int]


def merge(
    dirs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    ks: Sequence[int] | None = None,
    data: str | None = None,
    overwrite: bool = False,
    argv: Sequence[str] = (),
) -> RunResult:
    if not dirs:
        raise EvalkitError("give at least one run directory to merge, e.g. evalkit merge shard-0 shard-1 --out merged")
    stores = [RunStore(d) for d in dirs]
    base = _check_manifests(stores)
    ks = tuple(ks or base.get("ks") or ())
    if not ks:
        raise EvalkitError(f"{stores[0].path}/manifest.json records no k values; pass --k, e.g. --k 1,8")
    n = int(base["n"])
    check_ks(np.array([n]), ks)
    loaded = _load_benchmark(base, data)
    problems = loaded.select(base.get("limit"))
    wanted = [(p.id, i) for p in problems for i in range(n)]
    samples, grades = _union(stores, set(wanted))
    _check_complete(wanted, samples, stores)

    store = RunStore(out)
    store.open(_merged_manifest(base, dirs, argv), overwrite=overwrite)
    store.append_prompts(_union_prompts(stores).items())
    have, graded = store.samples(), store.grades()
    with store.sample_appender() as w:
        for key in wanted:
            if key not in have:
                w.write(samples[key].to_json())
    with store.grade_appender() as w:
        for key in wanted:
            if key not in graded and key in grades and (key not in have or _same(have[key], samples[key])):
                w.write(grades[key].to_json())
    store.invalidate_metrics()
    return finish(store, loaded, problems, n, ks, model=base["model"], seed=base["seed"])


def _check_manifests(stores: list[RunStore]) -> dict:
    """All inputs must be `evalkit run` directories of the same run (identity, --n, --limit)."""
    manifests = []
    for s in stores:
        m = s.manifest()
        if m is None:
            raise EvalkitError(f"{s.path} holds no evalkit run (no manifest.json); pass run directories made by `evalkit run`")
        if m.get("n") is None or m.get("seed") is None:
            raise EvalkitError(f"{s.path} was not made by `evalkit run` (no n or seed in its manifest); only sampled runs can be merged")
        manifests.append(m)
    base = manifests[0]
    for s, m in zip(stores[1:], manifests[1:]):
        diff = identity_diff(base, m) or _shape_diff(base, m)
        if diff:
            diff = diff.replace(" there,", f" in {stores[0].path},").replace(" now)", f" in {s.path})")
            raise EvalkitError(f"cannot merge runs of different manifests: {diff}; merge only shards made with the same command")
    return base


def _shape_diff(a: dict, b: dict) -> str | None:
    for key in ("n", "limit"):
        if a.get(key) != b.get(key):
            return f"{key} ({a.get(key)} there, {b.get(key)} now)"
    return None


def _load_benchmark(manifest: dict, data: str | None) -> LoadedBenchmark:
    """The problems the shards were drawn for, found where they came from, checked by hash."""
    source = manifest.get("data_source") or ""
    if data is None and source and Path(source).exists():
        data = source
    loaded = load(manifest["benchmark"], data)
    if loaded.data_hash != manifest.get("data_hash"):
        raise EvalkitError(
            f"{manifest['benchmark']} from {loaded.source} hashes to {loaded.data_hash}, the shards used "
            f"{manifest.get('data_hash')} ({source}); pass --data with the file they were run on"
        )
    return loaded


def _union(stores: list[RunStore], wanted: set[Key]) -> tuple[dict[Key, Sample], dict[Key, Grade]]:
    """First input wins per pair; a grade is kept only together with the sample it graded."""
    samples: dict[Key, Sample] = {}
    grades: dict[Key, Grade] = {}
    for s in stores:
        theirs, their_grades = s.samples(), s.grades()
        for key, sample in theirs.items():
            if key not in wanted:
                continue
            if key not in samples:
                samples[key] = sample
            if key not in grades and key in their_grades and _same(samples[key], sample):
                grades[key] = their_grades[key]
    return samples, grades


def _same(a: Sample, b: Sample) -> bool:
    return a.completion == b.completion and a.finish_reason == b.finish_reason


def _check_complete(wanted: list[Key], samples: dict[Key, Sample], stores: list[RunStore]) -> None:
    missing = [k for k in wanted if k not in samples]
    if not missing:
        return
    position = {pid: pos for pos, pid in enumerate(dict.fromkeys(pid for pid, _ in wanted))}
    counts = {int(str(m.get("shard")).split("/")[1]) for s in stores if (m := s.manifest()) and m.get("shard")}
    hint = ""
    if len(counts) == 1:
        count = counts.pop()
        absent = sorted({shard_of(position[pid], i, count, len(position)) for pid, i in missing})
        hint = f" (shard{'s' if len(absent) > 1 else ''} {', '.join(f'{a}/{count}' for a in absent)} missing or unfinished)"
    pid, i = missing[0]
    raise EvalkitError(
        f"the inputs lack {len(missing)} of {len(wanted)} samples, e.g. {pid} #{i}{hint}; "
        f"finish those runs (rerun the same command) and merge again"
    )


def _union_prompts(stores: list[RunStore]) -> dict:
    prompts: dict = {}
    for s in stores:
        for pid, prompt in s.prompts().items():
            prompts.setdefault(pid, prompt)
    return prompts


def _merged_manifest(base: dict, dirs: Sequence[str | os.PathLike], argv: Sequence[str]) -> dict:
    return {
        **base,
        "shard": None,
        "merged_from": [str(d) for d in dirs],
        "command": list(argv) or sys.argv,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
