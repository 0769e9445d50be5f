"""The vLLM backend against the real engine (the CPU build in CI) on a copy of the tiny checkpoint.

One engine is shared by the module, at vLLM's default batch settings; the kill -9 test adds two
`evalkit run` subprocesses. The scale tests draw 320 requests (40 problems x n = 8, the smallest real
workload) whose prompts overflow one step's token budget: with vLLM's CPU defaults (chunked prefill
on) that workload killed the engine ("CPU Generator does not use offset").
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalkit.config import EngineConfig, SamplingConfig, sample_seed
from evalkit.types import SampleRequest
from vllm_support import cpu_engine_env, needs_vllm, trap_checkpoint

pytestmark = [needs_vllm, pytest.mark.vllm, pytest.mark.slow]

PROMPTS = {f"p{i}": f"Question: What is {a} + {b}?\nAnswer:" for i, (a, b) in enumerate([(3, 4), (12, 9), (7, 7)])}

# ~66 tokens: the first max_num_seqs (256) prompts hold ~17k tokens, over one step's budget (4096 on CPU).
PREAMBLE = "Work it out step by step, then give the final number.\n"
SCALE_PROBLEMS, SCALE_N = 40, 8


def scale_prompts() -> dict[str, str]:
    rng = random.Random(14)
    return {f"q{i}": f"{PREAMBLE}Question: What is {rng.randint(1, 99)} {rng.choice('+-*')} {rng.randint(1, 99)}?\nAnswer:"
            for i in range(SCALE_PROBLEMS)}


@pytest.fixture(scope="module")
def trap_model(tiny_model, tmp_path_factory) -> Path:
    return trap_checkpoint(tiny_model, tmp_path_factory.mktemp("vllm") / "tiny-trap")


@pytest.fixture(scope="module")
def vocab(trap_model) -> int:
    return json.loads((trap_model / "config.json").read_text())["vocab_size"]


@pytest.fixture(scope="module")
def llm(trap_model, vocab):
    """One engine for the module, allowed to return the whole vocabulary's logprobs."""
    from evalkit.samplers.vllm import engine_kwargs
    from vllm import LLM

    saved = dict(os.environ)
    os.environ.update(cpu_engine_env())
    engine = EngineConfig(backend="vllm", dtype="float32", max_model_len=256)
    llm = LLM(**engine_kwargs(str(trap_model), SamplingConfig(logprobs=vocab), engine))
    yield llm
    llm.llm_engine.engine_core.shutdown()
    os.environ.clear()
    os.environ.update(saved)


def sampler(llm, trap_model, **sampling):
    from evalkit.samplers.vllm import VLLMSampler

    return VLLMSampler(str(trap_model), SamplingConfig(**sampling), EngineConfig(backend="vllm"), llm=llm)


def requests(n: int, base_seed: int = 0, prompts: dict = PROMPTS) -> list[SampleRequest]:
    return [SampleRequest(pid, i, sample_seed(base_seed, pid, i), text) for pid, text in prompts.items() for i in range(n)]



def _figures(run: Path) -> dict:
    """metrics.json's figures: all of it but `cost` (wall times, which no two runs share)."""
    return {k: v for k, v in json.loads((run / "metrics.json").read_text()).items() if k != "cost"}

def test_n_distinct_samples_and_checkpoint_defaults_ignored(llm, trap_model):
    """n distinct samples per problem; the checkpoint's generation_config (top_k=1, 2 new tokens,
    temperature 0.05) would make them identical and 2 tokens long if it leaked in."""
    n, max_tokens = 6, 12
    reqs = requests(n)
    samples = list(sampler(llm, trap_model, temperature=2.0, max_tokens=max_tokens).sample(reqs))
    assert sorted((s.problem_id, s.sample_index) for s in samples) == sorted((r.problem_id, r.sample_index) for r in reqs)
    by_key = {(r.problem_id, r.sample_index): r for r in reqs}
    for s in samples:
        assert s.seed == by_key[(s.problem_id, s.sample_index)].seed
        assert 1 <= s.num_tokens <= max_tokens
        assert s.finish_reason in ("stop", "length")
        if s.finish_reason == "length":
            assert s.num_tokens == max_tokens
        assert s.mean_entropy is None and s.mean_logprob is None  # no --logprobs asked
    for pid in PROMPTS:
        texts = [s.completion for s in samples if s.problem_id == pid]
        assert len(set(texts)) == n, texts
    assert max(s.num_tokens for s in samples) > 2
    assert any(s.finish_reason == "length" and s.num_tokens == max_tokens for s in samples)


def test_samples_do_not_depend_on_batching_or_order(llm, trap_model):
    """A sample is a function of its own seed: drawn alone, in another order or in another batch."""
    reqs = requests(4)
    s = sampler(llm, trap_model, temperature=2.0, top_p=0.95, top_k=50, min_p=0.01, max_tokens=10)
    together = {(x.problem_id, x.sample_index): x for x in s.sample(reqs)}
    alone = [x for r in (reqs[5], reqs[0], reqs[11]) for x in s.sample([r])]
    reversed_ = list(s.sample(reqs[::-1][:6]))
    for x in alone + reversed_:
        assert x == together[(x.problem_id, x.sample_index)]
    other_seed = {(x.problem_id, x.sample_index): x.completion for x in s.sample(requests(4, base_seed=1))}
    assert sum(other_seed[k] != v.completion for k, v in together.items()) >= len(together) // 2


def test_platform_overrides_are_what_the_engine_runs_with(llm):
    """Each setting evalkit changes on this platform is in force in the engine, and says why; a GPU
    engine keeps vLLM's defaults."""
    from evalkit.samplers.vllm import engine_overrides
    from vllm.platforms import current_platform

    overrides = engine_overrides()
    sched = llm.llm_engine.vllm_config.scheduler_config
    assert json.loads(json.dumps(overrides)) == overrides  # recorded in manifest.json as is
    if current_platform.is_cpu():
        assert {o["setting"] for o in overrides} == {"enable_chunked_prefill"}
    for o in overrides:
        assert getattr(sched, o["setting"]) == o["value"]
        assert "CPU Generator does not use offset" in o["reason"]
    assert engine_overrides(is_cpu=False) == []


def test_hundreds_of_requests_at_engine_defaults_equal_each_drawn_alone(llm, trap_model):
    """320 seeded requests at vLLM's default batch settings, more than max_num_seqs and with more
    prompt tokens than one step takes: all are drawn, and each sample equals that request drawn alone
    or among a few others (a sample depends on its seed, not on what shared its batches)."""
    reqs = requests(SCALE_N, prompts=scale_prompts())
    s = sampler(llm, trap_model, temperature=1.0, max_tokens=8)
    sched = llm.llm_engine.vllm_config.scheduler_config
    assert len(reqs) > sched.max_num_seqs
    assert sum(len(s._tokens(r.prompt)) for r in reqs[: sched.max_num_seqs]) > sched.max_num_batched_tokens
    together = {(x.problem_id, x.sample_index): x for x in s.sample(reqs)}
    assert sorted(together) == sorted((r.problem_id, r.sample_index) for r in reqs)
    alone = [x for r in reqs[::41] for x in s.sample([r])]
    few = list(s.sample(reqs[-24:][::-1]))
    assert len(alone) == len(reqs[::41]) and len(few) == 24
    for x in alone + few:
        assert x == together[(x.problem_id, x.sample_index)]
    per_problem = [{together[(pid, i)].completion for i in range(SCALE_N)} for pid in scale_prompts()]
    assert sum(len(texts) > 1 for texts in per_problem) >= SCALE_PROBLEMS // 2  # seeds differ, so do samples


def _reference_steps(model_dir: Path, prompt_ids: list[int], token_ids: list[int]):
    """Full-vocabulary log-probabilities at each generated position, from transformers."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    with torch.inference_mode():
        logits = model(torch.tensor([prompt_ids + token_ids])).logits[0].double()
    logp = torch.log_softmax(logits, dim=-1)[len(prompt_ids) - 1 : len(prompt_ids) - 1 + len(token_ids)]
    return logp


@pytest.mark.parametrize("k", [3, "vocab"])
def test_entropy_and_logprob_against_transformers(llm, trap_model, vocab, k):
    """mean_entropy is H_K (top-K kept, the rest lumped into one outcome): checked against the same
    quantity computed from transformers' full logits; with K = vocabulary it is the exact entropy.
    Temperature 0.7 checks that the raw (untempered) distribution is the one measured."""
    from evalkit.samplers.vllm import sampling_params, to_sample

    k = vocab if k == "vocab" else k
    sp = SamplingConfig(temperature=0.7, max_tokens=8, logprobs=k)
    s = sampler(llm, trap_model, **vars(sp))
    reqs = requests(2)[:4]
    streamed = {(x.problem_id, x.sample_index): x for x in s.sample(reqs)}
    for r in reqs:
        prompt_ids = s._tokens(r.prompt)
        out = llm.generate([{"prompt_token_ids": prompt_ids}], sampling_params(sp, r.seed), use_tqdm=False)[0].outputs[0]
        sample = to_sample(r, out, k)
        assert sample == streamed[(r.problem_id, r.sample_index)]
        logp = _reference_steps(trap_model, prompt_ids, list(out.token_ids))
        p = logp.exp()
        exact = float((-(p * logp)).sum(-1).mean())
        top_lp = logp.topk(k, dim=-1).values
        top_p = top_lp.exp()
        rest = (1 - top_p.sum(-1)).clamp(min=0)
        h_k = -(top_p * top_lp).sum(-1) - torch_xlogx(rest)
        chosen = float(logp[range(len(out.token_ids)), list(out.token_ids)].mean())
        assert sample.mean_entropy == pytest.approx(float(h_k.mean()), abs=2e-4)
        assert sample.mean_logprob == pytest.approx(chosen, abs=2e-4)
        assert sample.mean_entropy <= exact + 2e-4  # float32 engine vs float64 reference
        if k == vocab:
            assert sample.mean_entropy == pytest.approx(exact, abs=2e-4)
        else:
            assert sample.mean_entropy < exact  # the lumped tail hides some entropy


def torch_xlogx(x):
    import torch

    return torch.where(x > 0, x * torch.log(x.clamp(min=1e-300)), torch.zeros_like(x))


# -- kill -9 and resume ------------------------------------------------------------------------
# Samples finish in two waves: the first max_num_seqs (256) requests, then the other 64 as slots
# free, each decoding up to MAX_TOKENS steps (fewer where it draws end-of-text). The first sample and
# the last are written that many engine steps apart: the window the kill -9 test must land in. With 16
# tokens it was ~0.5 s on a 2-core machine, and a faster CI machine finished all 320 before the kill;
# with 128 it is ~4.4 s here.
MAX_TOKENS = 128


def _run_args(model: Path, out: Path) -> list[str]:
    """40 problems x n = 8 at vLLM's default batch settings, prompts long enough to overflow a step."""
    return ["run", "--model", str(model), "--bench", "arith", "--limit", str(SCALE_PROBLEMS), "--n", str(SCALE_N),
            "--k", f"1,{SCALE_N}", "--temperature", "1.0", "--max-tokens", str(MAX_TOKENS), "--prompt-template", PREAMBLE + "{prompt}",
            "--backend", "vllm", "--dtype", "float32", "--max-model-len", "256", "--out", str(out)]


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def _canonical(path: Path) -> set[str]:
    return {json.dumps(json.loads(line), sort_keys=True) for line in _lines(path)}


TOTAL = SCALE_PROBLEMS * SCALE_N


@pytest.fixture(scope="module")
def uninterrupted(llm, trap_model, tmp_path_factory) -> Path:
    """The reference: `evalkit run` in this process, on the module's engine, never interrupted."""
    from click.testing import CliRunner

    import evalkit.samplers
    from evalkit.cli import main
    from evalkit.samplers.vllm import VLLMSampler

    ref = tmp_path_factory.mktemp("reference") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(evalkit.samplers, "make_sampler", lambda m, sp, eng, **_: VLLMSampler(m, sp, eng, llm=llm))
        result = CliRunner().invoke(main, _run_args(trap_model, ref), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert len(_lines(ref / "samples.jsonl")) == TOTAL
    return ref


def test_kill9_and_resume_equals_uninterrupted_run(uninterrupted, trap_model, tmp_path):
    """`evalkit run` (320 requests, engine defaults) killed with SIGKILL mid-sampling, then rerun, gives
    the same samples.jsonl (as a set) and the same metrics.json as one uninterrupted run."""
    total, ref = TOTAL, uninterrupted
    run = tmp_path / "interrupted"
    cmd = [sys.executable, "-m", "evalkit.cli", *_run_args(trap_model, run)]
    log = open(tmp_path / "interrupted.log", "wb")
    proc = subprocess.Popen(cmd, env=cpu_engine_env(), stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 420
        while len(_lines(run / "samples.jsonl")) < 3:
            assert proc.poll() is None, f"run ended before it could be killed:\n{(tmp_path / 'interrupted.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, "no sample appeared within 420 s"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        _kill_group(proc)
    at_kill = len(_lines(run / "samples.jsonl"))
    assert 3 <= at_kill < total, f"{at_kill} of {total} samples were written before the kill"
    assert not (run / "metrics.json").exists()

    resumed = subprocess.run(cmd, env=cpu_engine_env(), capture_output=True, text=True, timeout=420)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert len(_lines(run / "samples.jsonl")) == total  # only the missing samples were drawn
    assert _canonical(run / "samples.jsonl") == _canonical(ref / "samples.jsonl")
    assert _figures(run) == _figures(ref)


def _kill_group(proc: subprocess.Popen) -> None:
    """The engine's own processes live in the run's session: take them down too."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc.poll() is None:
        proc.wait(timeout=30)


def test_data_parallel_ranks_give_the_same_samples(uninterrupted, trap_model, tmp_path):
    """--data-parallel-size 2: two engines in two processes, problems dealt between them; the samples
    and metrics are those of the single engine."""
    run = tmp_path / "dp"
    cmd = [sys.executable, "-m", "evalkit.cli", *_run_args(trap_model, run), "--data-parallel-size", "2"]
    done = subprocess.run(cmd, env=cpu_engine_env(), capture_output=True, text=True, timeout=420, start_new_session=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _canonical(run / "samples.jsonl") == _canonical(uninterrupted / "samples.jsonl")
    assert _figures(run) == _figures(uninterrupted)
