"""`evalkit merge`: shards (or plain partial runs) of one run -> one run directory.

Because a sample's seed depends only on (seed, problem id, index), the union of the shards' samples
is exactly the sample set a single machine would draw; grading and counting then go through the same
`pipeline.grade` and `pipeline.count` as `evalkit run`, so metrics.json is the single run's too.
Everything is checked before the output directory is touched: the inputs must share a manifest
identity, --n and --limit, and together cover every (problem, index) pair. Inputs are streamed: what
is held per pair is a bit and an 8-byte digest of its text, never the text.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import sys
from pathlib import Path
from typing import Sequence

from ..adapters.loading import LoadedBenchmark, load
from ..config import check_ks_against
from ..base_tests import grade_base
from ..cost import combine
from ..pipeline import RunResult, count, grade
from ..scoring.adaptive import design_from_manifest
from ..shard import shard_of
from ..store import PairSet, RunStore, identity_diff
from ..types import EvalkitError, Sample


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
    check_ks_against(ks, n, "--n", design_from_manifest(base))
    loaded = _load_benchmark(base, data)
    problems = loaded.select(base.get("limit"))
    wanted = {p.id for p in problems}
    design = design_from_manifest(base)
    if design is None:  # an adaptive run is complete when its design says so: count() checks that
        _check_complete(problems, n, [s.sample_pairs() for s in stores], stores)

    store = RunStore(out)
    store.open(_merged_manifest(base, dirs, argv, combine([s.manifest().get("cost") for s in stores])), overwrite=overwrite)
    store.append_prompts(_union_prompts(stores).items())
    keep = lambda pid, i: pid in wanted and i < n  # noqa: E731
    merged = _copy_samples(store, stores, keep, n)
    _copy_grades(store, stores, merged, keep, n)
    _copy_token_ids(store, stores, merged, keep, n)
    store.invalidate_metrics()
    grade(store, problems, loaded.bench.family, lambda pid: n, options=loaded.bench.extra.get("verifier"))
    if not design:
        grade_base(store, loaded.bench.name, problems, lambda pid: n)  # EvalPlus's base verdicts (base_tests.py)
    metrics = count(store, loaded, problems, ks, n=None if design else n, design=design, sampled=True)
    return RunResult(store.path, metrics, 0, 0)


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
    from ..adapters.custom import from_manifest

    from_manifest(manifest)
    loaded = load(manifest["benchmark"], data, manifest.get("selection"))
    if loaded.data_hash != manifest.get("data_hash"):
        raise EvalkitError(
            f"{manifest['benchmark']} from {loaded.source} hashes to {loaded.data_hash}, the shards used "
            f"{manifest.get('data_hash')} ({source}); pass --data with the file they were run on"
        )
    return loaded


def _check_complete(problems, n: int, have: list[PairSet], stores: list[RunStore]) -> None:
    missing = [(p.id, i) for p in problems for i in range(n) if not any((p.id, i) in h for h in have)]
    if not missing:
        return
    position = {p.id: pos for pos, p in enumerate(problems)}
    counts = {int(str(m.get("shard")).split("/")[1]) for s in stores if (m := s.manifest()) and m.get("shard")}
    hint = ""
    if len(counts) == 1:
        shards = counts.pop()
        absent = sorted({shard_of(position[pid], i, shards, len(position)) for pid, i in missing})
        hint = f" (shard{'s' if len(absent) > 1 else ''} {', '.join(f'{a}/{shards}' for a in absent)} missing or unfinished)"
    pid, i = missing[0]
    raise EvalkitError(
        f"the inputs lack {len(missing)} of {len(problems) * n} samples, e.g. {pid} #{i}{hint}; "
        f"finish those runs (rerun the same command) and merge again"
    )


class _Digests:
    """An 8-byte digest of each pair's text (finish reason and completion): per problem one bytearray
    of n slots, so a million pairs cost 8 MB and no text is held. All zeros means absent."""

    def __init__(self, n: int):
        self.n, self.rows = n, {}

    def put(self, s: Sample) -> None:
        row = self.rows.setdefault(s.problem_id, bytearray(8 * self.n))
        d = bytearray(hashlib.blake2b(f"{s.finish_reason}\x00{s.completion}".encode(), digest_size=8).digest())
        d[0] |= 1
        row[8 * s.sample_index: 8 * s.sample_index + 8] = d

    def get(self, pid: str, i: int) -> bytes | None:
        row = self.rows.get(pid)
        d = None if row is None else bytes(row[8 * i: 8 * i + 8])
        return d if d and d[0] else None

    def __contains__(self, pair: tuple[str, int]) -> bool:
        return self.get(*pair) is not None


def _copy_samples(out: RunStore, stores: list[RunStore], keep, n: int) -> _Digests:
    """Append every pair the output lacks, first input first; the digest of each merged pair's text."""
    merged = _Digests(n)
    for s in out.iter_samples(keep):
        merged.put(s)
    with out.sample_appender() as w:
        for store in stores:
            for s in store.iter_samples(lambda pid, i: keep(pid, i) and (pid, i) not in merged):
                merged.put(s)
                w.write(s.to_json())
    return merged


def _copy_grades(out: RunStore, stores: list[RunStore], merged: _Digests, keep, n: int) -> None:
    """A grade travels only with the very text it graded (an input whose sample for a pair differs
    from the merged one keeps its grade to itself); the first input that graded a pair wins."""
    graded = out.grade_pairs()
    with out.grade_appender() as w:
        for store in stores:
            theirs = _Digests(n)
            for s in store.iter_samples(lambda pid, i: keep(pid, i) and (pid, i) not in graded):
                theirs.put(s)
            newly = PairSet()
            for rec in store.iter_grades():
                pid, i = rec["problem_id"], rec["sample_index"]
                if not keep(pid, i) or (pid, i) in graded or theirs.get(pid, i) is None or theirs.get(pid, i) != merged.get(pid, i):
                    continue
                newly.add(pid, i)
                w.write(rec)
            graded.update(newly)


def _copy_token_ids(out: RunStore, stores: list[RunStore], merged: _Digests, keep, n: int) -> None:
    """The drawn token ids (tokens.jsonl, for budget forcing) travel with their sample's text, as grades do."""
    have = PairSet()
    for pid, i, _, _ in out.iter_token_ids(keep):
        have.add(pid, i)
    with out.token_appender() as w:
        for store in stores:
            theirs = _Digests(n)
            for s in store.iter_samples(lambda pid, i: keep(pid, i) and (pid, i) not in have):
                theirs.put(s)
            for pid, i, prompt_tokens, ids in store.iter_token_ids(lambda pid, i: keep(pid, i) and (pid, i) not in have):
                if theirs.get(pid, i) is not None and theirs.get(pid, i) == merged.get(pid, i):
                    have.add(pid, i)
                    w.write({"problem_id": pid, "sample_index": i, "prompt_tokens": prompt_tokens, "token_ids": ids})


def _union_prompts(stores: list[RunStore]) -> dict:
    prompts: dict = {}
    for s in stores:
        for pid, prompt in s.prompts().items():
            prompts.setdefault(pid, prompt)
    return prompts


def _merged_manifest(base: dict, dirs: Sequence[str | os.PathLike], argv: Sequence[str], cost: dict | None) -> dict:
    return {
        **{k: v for k, v in base.items() if k != "cost"},
        **({"cost": cost} if cost else {}),
        "shard": None,
        "merged_from": [str(d) for d in dirs],
        "command": list(argv) or sys.argv,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
