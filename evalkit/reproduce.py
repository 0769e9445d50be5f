"""`evalkit reproduce RUN_DIR [--samples N]`: draw a random subset of a run's samples again with the
settings its manifest records (model, rendered prompts from prompts.jsonl, sampling, each sample's
own seed, backend and engine, batch invariance) and count how many come out bit-identical.

Nothing in the run directory is written. The subset is drawn in one batch, so it is also a test of
batch-composition independence: without batch invariance a GPU engine may differ in a few samples
(see determinism.py), which is what this command measures. Differences between this machine and the
one the run was made on (hardware, vLLM version, ...) are listed first, since they explain mismatches.
"""

from __future__ import annotations

import dataclasses
import os
import random
from pathlib import Path
from typing import Any

from .config import EngineConfig, SamplingConfig
from .store import RunStore
from .types import EvalkitError, Sample, SampleRequest, natural_key

MAX_LISTED = 5


def pick(store: RunStore, count: int, seed: int) -> list[tuple[str, int]]:
    """A uniform random subset of `count` stored sample keys (reservoir sampling over the sample
    heads: one pass, no completion decoded, memory `count`)."""
    from .store import SAMPLES, iter_sample_heads

    rng, chosen, seen = random.Random(seed), [], 0
    for key in unique_keys(iter_sample_heads(store.path / SAMPLES)):
        seen += 1
        if len(chosen) < count:
            chosen.append(key)
        else:
            j = rng.randrange(seen)
            if j < count:
                chosen[j] = key
    return sorted(chosen, key=lambda k: (natural_key(k[0]), k[1]))


def unique_keys(heads: Any) -> Any:
    """Each (problem, index) once: the first line of a pair is the sample (as RunStore reads it)."""
    from .store import PairSet

    seen = PairSet()
    for h in heads:
        if seen.add(h["problem_id"], h["sample_index"]):
            yield h["problem_id"], h["sample_index"]


def configs_from(manifest: dict) -> tuple[SamplingConfig, EngineConfig]:
    """The run's sampling and engine settings as recorded (fields this evalkit does not know are
    dropped; the openai key comes from $OPENAI_API_KEY, it is never recorded)."""
    sampling = dict(manifest["sampling"])
    sampling["stop"] = tuple(sampling.get("stop") or ())
    known = {f.name for f in dataclasses.fields(EngineConfig)}
    engine = {k: v for k, v in (manifest.get("engine") or {}).items() if k in known}
    engine["backend"] = manifest.get("backend") or engine.get("backend", "auto")
    engine["api_key"] = os.environ.get("OPENAI_API_KEY")
    sp = SamplingConfig(**{k: v for k, v in sampling.items() if k in {f.name for f in dataclasses.fields(SamplingConfig)}})
    return sp, EngineConfig(**engine)


def reproduce(run_dir: str | Path, samples: int = 64, pick_seed: int = 0) -> dict:
    """Re-draw `samples` of the run's samples; the report counts the bit-identical ones."""
    store = RunStore(run_dir)
    manifest = store.manifest()
    if manifest is None:
        raise EvalkitError(f"{run_dir} holds no evalkit run (no manifest.json); pass a directory made by `evalkit run`")
    if not manifest.get("sampling") or manifest.get("seed") is None:
        raise EvalkitError(f"{run_dir} was not sampled by `evalkit run` (no sampling settings or seed recorded); nothing to re-draw")
    sampling, engine = configs_from(manifest)
    keys = pick(store, samples, pick_seed)
    if not keys:
        raise EvalkitError(f"{run_dir} holds no samples yet; run it first")
    wanted = set(keys)
    stored = {(s.problem_id, s.sample_index): s for s in store.iter_samples(lambda pid, i: (pid, i) in wanted)}
    prompts = store.prompts()
    lost = sorted({pid for pid, _ in keys if pid not in prompts})
    if lost:
        raise EvalkitError(f"{run_dir}/prompts.jsonl lacks the prompt of {lost[0]}; rerun `evalkit run` on it to record the prompts")
    requests = [SampleRequest(pid, i, stored[(pid, i)].seed, prompts[pid]) for pid, i in keys]
    redrawn = draw(manifest, sampling, engine, requests)
    return report(run_dir, manifest, engine, sampling, keys, stored, redrawn, pick_seed)


def draw(manifest: dict, sampling: SamplingConfig, engine: EngineConfig, requests: list[SampleRequest]) -> dict:
    from .determinism import manifest_fields
    from .models import load_tokenizer, resolve_model
    from .samplers import make_sampler

    engine = engine.resolved()
    manifest_fields(engine, sampling)  # refuses --deterministic runs where batch invariance is unavailable now
    model = manifest["model"]
    path = resolve_model(model)
    tokenizer = load_tokenizer(model, path) if engine.backend != "openai" else None
    sampler = make_sampler(path, sampling, engine, tokenizer=tokenizer)
    try:
        return {(s.problem_id, s.sample_index): s for s in sampler.sample(requests)}
    finally:
        sampler.close()


def report(run_dir: Any, manifest: dict, engine: EngineConfig, sampling: SamplingConfig, keys: list, stored: dict,
           redrawn: dict, pick_seed: int) -> dict:
    from .determinism import manifest_fields
    from .environment import fingerprint, sample_setting_differences

    now = {"backend": engine.backend, "engine": dataclasses.asdict(engine), "environment": fingerprint(),
           **manifest_fields(engine.resolved(), sampling)}
    mismatches = [m for key in keys if (m := mismatch(key, stored[key], redrawn.get(key))) is not None]
    stats_equal = sum(key in redrawn and stats(stored[key]) == stats(redrawn[key]) for key in keys)
    return {
        "run_dir": str(run_dir),
        "samples": len(keys),
        "pick_seed": pick_seed,
        "identical": len(keys) - len(mismatches),
        "stats_identical": stats_equal,
        "stats_max_abs_diff": stats_gap(keys, stored, redrawn),
        "deterministic": manifest.get("deterministic"),
        "environment_differs": sample_setting_differences(manifest, now),
        "mismatches": mismatches,
    }


def stats(s: Sample) -> tuple:
    """A sample's float diagnostics: not part of what is graded, and they change in the last digits
    with batch composition (which is why metrics.json leaves them out)."""
    return s.mean_entropy, s.mean_logprob


def stats_gap(keys: list, stored: dict, redrawn: dict) -> dict[str, float | None]:
    """The largest |stored - re-drawn| of each float statistic over the samples whose graded fields
    are identical (a different completion has other statistics anyway); None where none is recorded."""
    same = [key for key in keys if key in redrawn and mismatch(key, stored[key], redrawn[key]) is None]
    gaps: dict[str, float | None] = {}
    for field in ("mean_entropy", "mean_logprob"):
        pairs = [(getattr(stored[k], field), getattr(redrawn[k], field)) for k in same]
        diffs = [abs(a - b) for a, b in pairs if a is not None and b is not None]
        gaps[field] = max(diffs) if diffs else None
    return gaps


def mismatch(key: tuple[str, int], old: Sample, new: Sample | None) -> dict | None:
    """The first difference between a re-drawn sample and the stored one in what is graded
    (completion, finish reason, token count); None when those are bit-identical."""
    where = {"problem_id": key[0], "sample_index": key[1]}
    if new is None:
        return {**where, "field": "missing", "detail": "the backend failed the request"}
    if new.completion != old.completion:
        at = next((i for i, (a, b) in enumerate(zip(old.completion, new.completion)) if a != b), min(len(old.completion), len(new.completion)))
        return {**where, "field": "completion", "detail": f"from character {at}: {old.completion[at:at + 24]!r} vs {new.completion[at:at + 24]!r}"}
    for field in ("finish_reason", "num_tokens"):
        a, b = getattr(old, field), getattr(new, field)
        if a != b:
            return {**where, "field": field, "detail": f"{a!r} vs {b!r}"}
    return None


def format_report(r: dict) -> list[str]:
    lines = [f"note: this machine differs from the run's in {d}" for d in r["environment_differs"]]
    lines.append(f"{r['run_dir']}: {r['identical']} of {r['samples']} re-drawn samples are bit-identical in what is graded "
                 f"(completion, finish reason, token count)")
    lines.append(stats_line(r))
    for m in r["mismatches"][:MAX_LISTED]:
        lines.append(f"  {m['problem_id']} #{m['sample_index']}: {m['field']} differs ({m['detail']})")
    if len(r["mismatches"]) > MAX_LISTED:
        lines.append(f"  ... and {len(r['mismatches']) - MAX_LISTED} more (--json lists all)")
    if r["deterministic"] is False and r["mismatches"]:
        lines.append("the run was not drawn in batch-invariant mode: numerics may change with batch composition (see --deterministic)")
    return lines


def stats_line(r: dict) -> str:
    """What the float diagnostics did: they are not graded, and a last-digit change there is expected."""
    gap = r.get("stats_max_abs_diff") or {}
    if all(v is None for v in gap.values()):
        return "entropy/log-prob statistics: not recorded for these samples, nothing to compare"
    if r["stats_identical"] == r["identical"]:
        return f"entropy/log-prob statistics: equal to the last bit in all {r['identical']} of them too"
    size = ", ".join(f"{v:.1e} in {name.replace('_', ' ')}" for name, v in gap.items() if v is not None)
    return (f"entropy/log-prob statistics (per-token diagnostics, not graded): equal to the last bit in {r['stats_identical']} of "
            f"{r['identical']}, the largest difference {size}; they move in the last digits with batch composition, "
            "which changes no grade and no figure in metrics.json")
