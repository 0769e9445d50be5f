"""Typed run configuration: one object carries every knob end to end (like vLLM's SamplingParams).

`SamplingConfig` holds everything that changes what a sample *is*; it is recorded in the manifest
and a resumed run must match it exactly. `EngineConfig` holds how samples are computed (dtype,
parallelism, memory) which must not change results and so may differ between resumptions.
`RunConfig.validate()` checks every rule that spans fields, once, for every caller (CLI, Ray, the
Python API): nothing downstream re-checks them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
from dataclasses import dataclass, field
from typing import Any

from .types import EvalkitError

DEFAULT_SEED = 0


@dataclass(frozen=True)
class SamplingConfig:
    """Every sampling parameter is explicit: never inherit a checkpoint's generation_config."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1  # -1: disabled
    min_p: float = 0.0
    max_tokens: int = 1024
    stop: tuple[str, ...] = ()
    logprobs: int | None = None  # top-K logprobs per token, for the entropy estimate

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["stop"] = list(self.stop)
        return d

    def validate(self) -> None:
        if self.temperature < 0:
            raise EvalkitError(f"temperature {self.temperature} is negative; use 0 (greedy) or more")
        if not 0 < self.top_p <= 1:
            raise EvalkitError(f"top_p {self.top_p} is outside (0, 1]")
        if not 0 <= self.min_p <= 1:
            raise EvalkitError(f"min_p {self.min_p} is outside [0, 1]")
        if self.top_k == 0 or self.top_k < -1:
            raise EvalkitError(f"top_k {self.top_k} is invalid; use a positive k, or -1 to disable it")
        if self.max_tokens < 1:
            raise EvalkitError(f"max_tokens {self.max_tokens} must be at least 1")
        if self.logprobs is not None and self.logprobs < 1:
            raise EvalkitError(f"logprobs {self.logprobs} must be at least 1 (or unset)")


@dataclass(frozen=True)
class EngineConfig:
    """How to run the backend; does not change which samples come out."""

    backend: str = "auto"  # auto | hf | vllm | openai; validate() resolves auto
    dtype: str = "auto"
    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.9
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1
    base_url: str | None = None
    api_key: str | None = None
    concurrency: int = 64
    batch_size: int = 64
    max_num_seqs: int | None = None  # vllm: sequences decoded at once (None: vLLM's default)
    max_retries: int = 5  # openai: retries of a transient error, with exponential backoff
    request_timeout: float = 600.0  # openai: seconds per request before it counts as failed
    deterministic: bool = False  # vllm: batch-invariant kernels (VLLM_BATCH_INVARIANT=1), see determinism.py

    def resolved(self) -> "EngineConfig":
        """`auto` -> openai with a server URL, else vllm when it is installed, else hf."""
        engine = dataclasses.replace(self, backend=resolve_backend(self))
        if engine.backend == "openai" and not engine.base_url:
            raise EvalkitError("the openai backend needs a server URL; pass --base-url, e.g. http://127.0.0.1:8000/v1")
        if engine.data_parallel_size > 1 and engine.backend != "vllm":
            raise EvalkitError(f"--data-parallel-size needs the vllm backend, not {engine.backend}; drop it or use --backend vllm")
        if not 0 < engine.gpu_memory_utilization <= 1:
            raise EvalkitError(f"--gpu-memory-utilization {engine.gpu_memory_utilization} is outside (0, 1]")
        return engine


BACKENDS = ("auto", "hf", "vllm", "openai")

DEFAULT_CUE = "\n\nFinal answer:"  # s1's "Final Answer:", on a line of its own
DEFAULT_ANSWER_TOKENS = 64


@dataclass(frozen=True)
class BudgetConfig:
    """Budget forcing (`--think-budgets`, evalkit/forcing.py): the thinking budgets, and how a forced
    answer is made. `think_end` None: the model's own marker (evalkit/thinking.py)."""

    budgets: tuple[int, ...]
    think_end: str | None = None
    answer_cue: str = DEFAULT_CUE
    answer_tokens: int = DEFAULT_ANSWER_TOKENS

    def validate(self, max_tokens: int | None) -> None:
        """Budgets are positive and at most --max-tokens: a sample never thought longer than it was drawn."""
        if not self.budgets:
            raise EvalkitError("--think-budgets is empty; give budgets in tokens, e.g. --think-budgets 1024,2048,4096")
        bad = [b for b in self.budgets if b < 1]
        if bad:
            raise EvalkitError(f"--think-budgets {bad[0]} is not a positive number of tokens; e.g. --think-budgets 1024,2048,4096")
        if max_tokens is not None and max(self.budgets) > max_tokens:
            raise EvalkitError(f"--think-budgets {max(self.budgets)} exceeds --max-tokens {max_tokens}: no sample thought longer than it was "
                               f"drawn; use budgets up to {max_tokens}, or draw with --max-tokens {max(self.budgets)} or more")
        if self.answer_tokens < 1:
            raise EvalkitError(f"--answer-tokens {self.answer_tokens} must be at least 1")


def resolve_backend(engine: EngineConfig) -> str:
    if engine.backend not in BACKENDS:
        raise EvalkitError(f"unknown backend {engine.backend!r}; choose one of {', '.join(BACKENDS)}")
    if engine.backend != "auto":
        return engine.backend
    if engine.base_url:
        return "openai"
    return "vllm" if importlib.util.find_spec("vllm") is not None else "hf"


@dataclass(frozen=True)
class RunConfig:
    model: str
    bench: str
    ks: tuple[int, ...]
    n: int
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    seed: int = DEFAULT_SEED
    out: str | None = None
    data: str | None = None
    limit: int | None = None
    overwrite: bool = False
    regrade: bool = False  # discard grades.jsonl and grade every sample again (after a verifier change)
    prompt_template: str | None = None  # user override, see prompts.py
    chat: bool | None = None  # None: use the chat template when the tokenizer has one
    shard: tuple[int, int] | None = None  # (index, count): only that shard's pairs, see shard.py
    label: str | None = None  # how reports name this run (default: model plus what differs from defaults)
    allow_unknown_data: bool = False  # grade a file that matches no known release of the benchmark
    design: Any = None  # scoring.adaptive.Design: sequential sampling (min-n .. n) instead of a fixed n
    selection: dict = field(default_factory=dict)  # benchmark loading options: --release-version, --start-date... (adapters/loading.py)
    custom: dict | None = None  # a custom benchmark's definition (adapters/custom.py CustomSpec.to_json) when bench is custom:NAME
    think: BudgetConfig | None = None  # --think-budgets: pass@k against thinking budget from this draw (forcing.py)

    def validate(self) -> "RunConfig":
        """Check every cross-field rule; return the config with the backend resolved."""
        if not self.model:
            raise EvalkitError("no model given; pass --model (a checkpoint directory, a hub id, or tiny-arith)")
        check_ks_against(self.ks, self.n, "--n", self.design)
        if self.design is not None and self.design.n_max != self.n:
            raise EvalkitError(f"the design's largest n {self.design.n_max} differs from --n {self.n}; give --n once")
        self.sampling.validate()
        if self.sampling.temperature == 0 and self.n > 1:
            raise EvalkitError(f"temperature 0 is greedy decoding: all {self.n} samples of a problem would be the same; "
                               "use --n 1 --k 1, or a temperature above 0 for pass@k")
        if self.limit is not None and self.limit < 1:
            raise EvalkitError(f"--limit {self.limit} must be at least 1")
        if self.shard is not None and not 0 <= self.shard[0] < self.shard[1]:
            raise EvalkitError(f"--shard {self.shard[0]}/{self.shard[1]}: the index must be in 0..N-1 (0-based)")
        engine = self.engine.resolved()
        if self.think is not None:
            self.think.validate(self.sampling.max_tokens)
            _check_budget_engine(self, engine)
        return dataclasses.replace(self, engine=engine)


def _check_budget_engine(config: "RunConfig", engine: EngineConfig) -> None:
    """Budgets are forced in the process that drew the samples; a shard or several engines force them after."""
    where = ("--shard" if config.shard is not None else "--data-parallel-size" if engine.data_parallel_size > 1 else None)
    if where:
        raise EvalkitError(f"--think-budgets cannot be combined with {where}; draw without it, then force the budgets of the "
                           "finished run with `evalkit budgets RUN_DIR --think-budgets ...`")


def check_ks_against(ks: tuple[int, ...] | list[int], n: int, n_name: str, design: Any = None) -> None:
    """k values are positive and at most n (at most --min-n for an adaptive design)."""
    if not ks:
        raise EvalkitError("give at least one k, e.g. --k 1,8,64")
    bad = [k for k in ks if k < 1]
    if bad:
        raise EvalkitError(f"k={bad[0]} is not a positive integer; pass k values >= 1, e.g. --k 1,8,64")
    if n < 1:
        raise EvalkitError(f"{n_name} {n} must be at least 1")
    if design is not None:
        design.check_ks(ks)
    elif max(ks) > n:
        raise EvalkitError(f"k={max(ks)} exceeds {n_name} {n}; raise {n_name} to at least {max(ks)} or drop that k")


def run_variant(config: RunConfig) -> str:
    """A short readable suffix naming what differs from the defaults (sampling, seed, prompt), for
    default run directories and labels: `t0.6-p0.95-s1`. Empty for a default run."""
    sp, default = config.sampling, SamplingConfig()
    parts = []
    for name, short in (("temperature", "t"), ("top_p", "p"), ("top_k", "k"), ("min_p", "minp"), ("max_tokens", "len"), ("logprobs", "lp")):
        value = getattr(sp, name)
        if value != getattr(default, name):
            parts.append(f"{short}{value:g}" if isinstance(value, float) else f"{short}{value}")
    if sp.stop:
        parts.append("stop" + hashlib.sha256("\x00".join(sp.stop).encode()).hexdigest()[:6])
    if config.seed != DEFAULT_SEED:
        parts.append(f"s{config.seed}")
    if config.prompt_template:
        parts.append("tpl" + hashlib.sha256(config.prompt_template.encode()).hexdigest()[:6])
    if config.chat is not None:
        parts.append("chat" if config.chat else "nochat")
    if config.selection:
        parts.append("sel" + hashlib.sha256(json.dumps(config.selection, sort_keys=True).encode()).hexdigest()[:6])
    if config.design is not None:
        d = config.design
        parts.append(f"ad{d.min_n}-{d.step}-{d.stop_at}")
    return "-".join(parts)


def sample_seed(base_seed: int, problem_id: str, sample_index: int) -> int:
    """The seed of one sample, a pure function of (base seed, problem id, sample index).

    The problem part is a hash; the index is *added*, so the n samples of one problem always get
    n distinct seeds (no hash collisions within a problem). Results therefore do not depend on
    batching, resumption order or sharding.
    """
    digest = hashlib.sha256(f"{base_seed}\x00{problem_id}".encode()).digest()
    start = int.from_bytes(digest[:8], "little") >> 2  # < 2**62, leaves room for the index
    return start + sample_index
