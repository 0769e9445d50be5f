"""Sampling backends behind one small protocol (`evalkit.types.Sampler`), one module each.

    hf      transformers, own decoding loop, per-sample seeds, exact entropy (CPU-friendly)
    vllm    offline vllm.LLM: all requests queued at once, prefix caching
    openai  any OpenAI-compatible server (vllm serve, SGLang), bounded concurrency
"""

from __future__ import annotations

from typing import Any

from ..config import BACKENDS, EngineConfig, SamplingConfig, resolve_backend
from ..types import EvalkitError, Sampler


def make_sampler(model: str, sampling: SamplingConfig, engine: EngineConfig, tokenizer: Any = None, llm: Any = None,
                 pack_prompts: bool = False) -> Sampler:
    """The backend's sampler. `tokenizer`: the one the prompts were rendered with (hf reuses it);
    `llm`: an already running vllm.LLM to draw with (not shut down by close()); `pack_prompts`: hf
    decodes the samples of several prompts in one batch (adaptive rounds; vLLM batches by itself)."""
    backend = resolve_backend(engine)
    if llm is not None:
        from .vllm import VLLMSampler

        return VLLMSampler(model, sampling, engine, llm=llm)
    if backend == "hf":
        from .hf import HFSampler

        return HFSampler(model, sampling, engine, tokenizer=tokenizer, pack_prompts=pack_prompts)
    if backend == "vllm" and engine.data_parallel_size > 1:  # one engine per rank, each in its own process
        from .vllm_dp import DataParallelVLLM

        return DataParallelVLLM(model, sampling, engine)
    if backend == "vllm":
        from .vllm import VLLMSampler

        return VLLMSampler(model, sampling, engine)
    if backend == "openai":
        from .openai import OpenAISampler

        return OpenAISampler(model, sampling, engine)
    raise EvalkitError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
