"""What a run cost to generate: wall time, prompt and completion tokens, tokens per second, the engine.

Recorded in manifest.json (`cost`), per stage ("draw": the samples, "budgets": the forced answers of
budget forcing), summed over every invocation that worked on the run, so a resumed run adds its own
time to the time already spent; metrics.json copies it, `compare` shows it and `evalkit plan`
estimates a run's time from it. An invocation's share is written when its stage ends, also on Ctrl-C or
an error; a SIGKILL loses that invocation's time (its samples are kept), and `timed_samples` then falls
short of the samples drawn. Times depend on the machine and on what else it ran: they are figures
about a run, never part of its identity.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .environment import fingerprint, package_version
from .store import RunStore

STAGES = ("draw", "budgets")
SUMMED = ("wall_s", "startup_s", "grade_s", "requests", "prompt_tokens", "completion_tokens", "cached_prompt_tokens")


@dataclass
class Meter:
    """One stage of one invocation: counts what the engine was asked and returned, and the time it took."""

    stage: str
    startup_s: float = 0.0  # building the engine (model load, KV cache), when this stage paid for it
    started: float = field(default_factory=time.perf_counter)
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_prompt_tokens: int | None = None  # None until the backend reports prefix-cache hits
    excluded_s: float = 0.0  # engine start-up and grading inside this stage: counted apart, not as generation
    grade_s: float = 0.0  # grading what was generated (samples, or forced answers as they arrive)

    def add(self, prompt_tokens: int | None, completion_tokens: int, cached_tokens: int | None) -> None:
        self.requests += 1
        self.prompt_tokens += prompt_tokens or 0
        self.completion_tokens += completion_tokens
        if cached_tokens is not None:
            self.cached_prompt_tokens = (self.cached_prompt_tokens or 0) + cached_tokens

    def session(self) -> dict[str, float | None]:
        return {"wall_s": time.perf_counter() - self.started - self.excluded_s, "startup_s": self.startup_s, "grade_s": self.grade_s,
                "requests": self.requests,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "cached_prompt_tokens": self.cached_prompt_tokens}


def record_startup(store: RunStore, stage: str, seconds: float, engine: dict[str, Any]) -> dict:
    """Add an engine's start-up (model load, KV cache) to `stage`, without generation time."""
    meter = Meter(stage, startup_s=seconds)
    meter.excluded_s = time.perf_counter() - meter.started
    return record(store, meter, engine)


def record_grading(store: RunStore, stage: str, seconds: float, engine: dict[str, Any]) -> dict:
    """Add the time spent grading a stage's output (not generation) to `stage`."""
    meter = Meter(stage, grade_s=seconds)
    meter.excluded_s = time.perf_counter() - meter.started
    return record(store, meter, engine)


def engine_identity(backend: str, base_url: str | None = None) -> dict[str, Any]:
    """The engine that generated: backend, its version, and the device it ran on."""
    env = fingerprint()
    version = {"vllm": env.get("vllm"), "hf": env.get("transformers")}.get(backend)
    gpus = env.get("gpus") or []
    device = ", ".join(g.get("name", "?") for g in gpus) if gpus else f"cpu: {env.get('cpu')} ({env.get('cpu_count')} cores)"
    if backend == "openai":
        return {"backend": backend, "server": base_url, "client": f"openai {package_version('openai')}"}
    return {"backend": backend, "version": version, "device": device}


def record(store: RunStore, meter: Meter, engine: dict[str, Any]) -> dict:
    """Add one invocation's stage to the manifest's `cost` (an invocation that did nothing adds nothing)."""
    session = meter.session()
    if not session["requests"] and not session["startup_s"] and not session["grade_s"]:
        return (store.manifest() or {}).get("cost") or {}
    cost = dict((store.manifest() or {}).get("cost") or {})
    stage = {k: _add(cost.get(meter.stage, {}).get(k), session[k]) for k in SUMMED}
    cost[meter.stage] = {**stage, **rates(stage)}
    cost["engine"] = engine
    store.update_manifest(cost=cost)
    return cost


def _add(a: float | None, b: float | None) -> float | None:
    return None if a is None and b is None else (a or 0) + (b or 0)


def rates(stage: dict[str, Any]) -> dict[str, float | None]:
    """tokens per second (generated tokens over generation wall time), and the share of prompt tokens the
    engine found in its prefix cache (None where the backend does not report it)."""
    wall, prompt, cached = stage.get("wall_s") or 0.0, stage.get("prompt_tokens") or 0, stage.get("cached_prompt_tokens")
    return {"tokens_per_s": stage["completion_tokens"] / wall if wall > 0 else None,
            "prefix_cache_hit_rate": cached / prompt if prompt and cached is not None else None}


def seconds_per_token(cost: dict | None) -> float | None:
    """Generation wall time per completion token of a run's draw (for `evalkit plan`), None when unknown."""
    draw = (cost or {}).get("draw") or {}
    tokens, wall = draw.get("completion_tokens") or 0, draw.get("wall_s") or 0.0
    return wall / tokens if tokens and wall > 0 else None


def time_estimate(cost: dict | None, tokens_per_sample: float | None, samples: float, problems: int) -> str:
    """`evalkit plan`'s line: the generation time of `samples` per problem on `problems` problems, at the
    pilot's own seconds per completion token (its engine, batch and machine: a rough guide, not a promise)."""
    per_token = seconds_per_token(cost)
    if per_token is None or not tokens_per_sample:
        return "time: the pilot recorded no generation cost (drawn by an older evalkit, or scored from a file); no estimate"
    total = samples * problems * tokens_per_sample * per_token
    engine = (cost or {}).get("engine") or {}
    on = " ".join(str(engine[k]) for k in ("backend", "version", "device") if engine.get(k))
    return (f"time: about {_duration(total)} of generation for {problems} problems x {samples:.1f} samples x {tokens_per_sample:.0f} tokens "
            f"at the pilot's {1 / per_token:.0f} tokens/s ({on})")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def combine(costs: list[dict | None]) -> dict | None:
    """The cost of several runs' parts (the shards `evalkit merge` combines): stage figures summed, rates
    recomputed; the engine of the first part that names one."""
    parts = [c for c in costs if c]
    if not parts:
        return None
    out: dict[str, Any] = {"engine": next((c["engine"] for c in parts if c.get("engine")), None)}
    for stage in STAGES:
        present = [c[stage] for c in parts if c.get(stage)]
        if present:
            summed = {k: _sum([p.get(k) for p in present]) for k in SUMMED}
            out[stage] = {**summed, **rates(summed)}
    return out


def _sum(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None
