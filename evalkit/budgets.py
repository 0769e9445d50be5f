"""`evalkit budgets RUN_DIR --think-budgets ...`: force thinking budgets on a run evalkit drew, afterwards.

The same stage `evalkit run --think-budgets` ends with (evalkit/forcing.py), on a finished run: its
model, sampling settings, seed and prompts come from the run directory, so the forced answers are those
the run would have made itself. Only the engine may be chosen anew (another backend or server, dtype,
memory): a forced answer is a function of its seed, prompt and weights. metrics.json is rewritten with
the `budgets` figures; budgets already forced are kept, so a sweep can be resumed or widened.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Sequence

from .adapters.loading import LoadedBenchmark, load
from .config import BudgetConfig, EngineConfig, RunConfig, SamplingConfig
from .forcing import check_forceable, force
from .pipeline import RunResult, SamplerSlot, count
from .scoring.adaptive import design_from_manifest
from .scoring.table import read_table
from .store import RunStore
from .types import EvalkitError

ENGINE_FIELDS = {f.name for f in dataclasses.fields(EngineConfig)}


def force_budgets(run_dir: str | os.PathLike, think: BudgetConfig, engine: dict[str, Any] | None = None, data: str | None = None,
                  llm: Any = None) -> RunResult:
    """Force `think.budgets` on the finished run in `run_dir` and count it again. `engine`: EngineConfig
    fields that replace the run's own (None values are ignored); `llm`: a running vllm.LLM to use."""
    from .models import load_tokenizer, resolve_model

    store = RunStore(run_dir)
    manifest = store.manifest()
    check_forceable(manifest, store.path)
    config = run_config(manifest, think, engine or {})
    loaded = run_benchmark(manifest, data)
    problems = loaded.select(manifest.get("limit"))
    design = design_from_manifest(manifest)
    n = None if design is not None else config.n
    read_table(store, n=n, expected=[p.id for p in problems], stats=False)  # unfinished runs are refused here
    model_path = resolve_model(config.model) if llm is None else config.model
    tokenizer = None
    if config.engine.backend != "openai":
        tokenizer = llm.get_tokenizer() if llm is not None else load_tokenizer(config.model, model_path)
    store.invalidate_metrics()
    n_of = (lambda pid: config.n)
    with SamplerSlot(store, model_path, config, tokenizer, llm) as slot:
        force(store, problems, loaded.bench.family, slot, think, seed=config.seed, n_of=n_of, stops=config.sampling.stop,
              model=config.model, engine=slot.engine)
    metrics = count(store, loaded, problems, config.ks, n=n, design=design, sampled=True)
    return RunResult(store.path, metrics, 0, 0)


def run_config(manifest: dict, think: BudgetConfig, engine: dict[str, Any]) -> RunConfig:
    """The run's own settings, with `engine` overriding how it is computed; checked like `evalkit run`'s."""
    recorded = {k: v for k, v in (manifest.get("engine") or {}).items() if k in ENGINE_FIELDS}
    recorded["data_parallel_size"] = 1  # forced answers are drawn by one engine, whatever drew the samples
    chosen = {k: v for k, v in engine.items() if v is not None}
    if "base_url" in chosen and "backend" not in chosen:
        chosen["backend"] = "openai"
    engine_config = EngineConfig(**{**recorded, **chosen, "api_key": os.environ.get("OPENAI_API_KEY")})
    sampling = SamplingConfig(**{**manifest["sampling"], "stop": tuple(manifest["sampling"].get("stop") or ())})
    return RunConfig(model=manifest["model"], bench=manifest["benchmark"], ks=tuple(manifest.get("ks") or (1,)), n=int(manifest["n"]),
                     sampling=sampling, engine=engine_config, seed=int(manifest["seed"]), limit=manifest.get("limit"),
                     design=design_from_manifest(manifest), think=think).validate()


def run_benchmark(manifest: dict, data: str | None) -> LoadedBenchmark:
    """The problems the run was drawn for, from where it read them (or --data), checked by hash."""
    source = manifest.get("data_source") or ""
    if data is None and source and Path(source).exists():
        data = source
    loaded = load(manifest["benchmark"], data, manifest.get("selection"))
    if loaded.data_hash != manifest.get("data_hash"):
        raise EvalkitError(f"{manifest['benchmark']} from {loaded.source} hashes to {loaded.data_hash}, the run used "
                           f"{manifest.get('data_hash')} ({source}); pass --data with the file it was run on")
    return loaded


def engine_options(opts: dict[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The engine flags given on the command line, as EngineConfig fields."""
    return {name: opts.get(name) for name in names if opts.get(name) is not None}
