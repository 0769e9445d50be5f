"""Typed run configuration: one object carries every knob end to end (like vLLM's SamplingParams).

`SamplingConfig` holds everything that changes what a sample *is*; it is recorded in the manifest
and a resumed run must match it exactly. `EngineConfig` holds how samples are computed (dtype,
parallelism, memory) which must not change results and so may differ between resumptions.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any


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


@dataclass(frozen=True)
class EngineConfig:
    """How to run the backend; does not change which samples come out."""

    backend: str = "auto"  # auto | hf | vllm | openai
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


@dataclass(frozen=True)
class RunConfig:
    model: str
    bench: str
    ks: tuple[int, ...]
    n: int
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    seed: int = 0
    out: str | None = None
    data: str | None = None
    limit: int | None = None
    overwrite: bool = False
    regrade: bool = False  # discard grades.jsonl and grade every sample again (after a verifier change)
    prompt_template: str | None = None  # user override, see prompts.py
    chat: bool | None = None  # None: use the chat template when the tokenizer has one
    shard: tuple[int, int] | None = None  # (index, count): only that shard's pairs, see shard.py


def sample_seed(base_seed: int, problem_id: str, sample_index: int) -> int:
    """The seed of one sample, a pure function of (base seed, problem id, sample index).

    The problem part is a hash; the index is *added*, so the n samples of one problem always get
    n distinct seeds (no hash collisions within a problem). Results therefore do not depend on
    batching, resumption order or sharding.
    """
    digest = hashlib.sha256(f"{base_seed}\x00{problem_id}".encode()).digest()
    start = int.from_bytes(digest[:8], "little") >> 2  # < 2**62, leaves room for the index
    return start + sample_index
