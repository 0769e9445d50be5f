"""The samplers' logic that needs no model or engine: which sampler a run gets, stop strings, vLLM's
request and engine settings, data-parallel placement, and how Ray chunks whole blocks. (The samplers
themselves are tested drawing from the tiny checkpoint and the CPU vLLM engine, in the slow tier.)"""

from __future__ import annotations

import pytest

from evalkit.config import EngineConfig, SamplingConfig
from evalkit.types import EvalkitError, SampleRequest


def test_make_sampler_gives_hf_its_tokenizer_and_packing(monkeypatch: pytest.MonkeyPatch) -> None:
    import evalkit.samplers.hf as hf
    from evalkit.samplers import make_sampler

    made = []
    monkeypatch.setattr(hf, "HFSampler", lambda *args, **kwargs: made.append((args, kwargs)) or "sampler")
    tokenizer = object()
    assert make_sampler("m", SamplingConfig(), EngineConfig(backend="hf"), tokenizer=tokenizer, pack_prompts=True) == "sampler"
    (args, kwargs), = made
    assert args[0] == "m" and kwargs == {"tokenizer": tokenizer, "pack_prompts": True}
    with pytest.raises(EvalkitError, match="unknown backend 'tpu'"):
        make_sampler("m", SamplingConfig(), EngineConfig(backend="tpu"))


def test_truncate_at_the_earliest_stop_string() -> None:
    from evalkit.samplers.base import truncate_at_stop

    assert truncate_at_stop("a\nQ: b\n\nProblem: c", ["\n\nProblem:", "\nQ:"]) == "a"
    assert truncate_at_stop("no stop here", ["\nQ:", ""]) == "no stop here"
    assert truncate_at_stop("```python\nx\n```", ["```"]) == ""


def test_vllm_overrides_by_platform() -> None:
    from evalkit.samplers.vllm import CPU_NO_CHUNKED_PREFILL, engine_overrides

    assert engine_overrides(is_cpu=False) == []
    assert engine_overrides(is_cpu=True) == [{"setting": "enable_chunked_prefill", "value": False, "reason": CPU_NO_CHUNKED_PREFILL}]


@pytest.mark.slow  # imports vLLM (tens of seconds on a busy machine)
def test_vllm_request_settings() -> None:
    pytest.importorskip("vllm")
    from evalkit.samplers.vllm import sampling_params

    sp = SamplingConfig(temperature=0.6, top_p=0.95, top_k=20, min_p=0.05, max_tokens=77, stop=("\nQ:",), logprobs=5)
    got = sampling_params(sp, seed=1234)
    assert (got.temperature, got.top_p, got.top_k, got.min_p, got.max_tokens, got.seed) == (0.6, 0.95, 20, 0.05, 77, 1234)
    assert list(got.stop) == ["\nQ:"] and got.logprobs == 5 and got.n == 1


def test_data_parallel_ranks(monkeypatch: pytest.MonkeyPatch) -> None:
    from evalkit.samplers.vllm_dp import device_groups, shard_by_problem

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    assert device_groups(2, 2) == ["0,1", "2,3"] and device_groups(4, 1) == ["0", "1", "2", "3"]
    with pytest.raises(EvalkitError, match="needs 8 GPUs, 4 are visible"):
        device_groups(4, 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert device_groups(3, 1) == [None, None, None]
    requests = [SampleRequest(f"p{p}", i, i, "x") for i in range(3) for p in range(5)]
    shards = shard_by_problem(requests, 2)
    assert sorted((r.problem_id, r.sample_index) for s in shards for r in s) == sorted((r.problem_id, r.sample_index) for r in requests)
    for shard in shards:  # a problem's samples stay on one rank (they share a prefix), in request order
        assert all(len({s.problem_id for s in shard} & {s.problem_id for s in other}) == 0 for other in shards if other is not shard)
        assert shard == [r for r in requests if r in shard]
    assert {r.problem_id for r in shards[0]} == {"p0", "p2", "p4"}


def test_ray_chunks_are_whole_blocks() -> None:
    """A block (one problem's indices i // BLOCK) is split only into as many chunks as its size needs."""
    from evalkit.distributed.ray_runner import chunks
    from evalkit.shard import BLOCK

    requests = [SampleRequest(f"p{p}", i, i, "x") for p in range(3) for i in range(0, 2 * BLOCK + 5, 3)]
    for size in (BLOCK, 2 * BLOCK, 10):
        got = list(chunks(requests, size))
        assert [r for c in got for r in c] == requests and all(0 < len(c) <= size for c in got)
        blocks: dict = {}
        for r in requests:
            blocks.setdefault((r.problem_id, r.sample_index // BLOCK), []).append(r)
        for block in blocks.values():
            spanned = sum(any(r in c for r in block) for c in got)
            assert spanned == -(-len(block) // size), (size, len(block), spanned)
