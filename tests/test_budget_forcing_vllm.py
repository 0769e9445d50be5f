"""Budget forcing on the CPU vLLM engine with the hand-built reasoning checkpoint (evalkit/tiny_think.py):
the recorded token ids are the engine's, each forced prompt is prompt + the first B of them + marker + cue,
the prefix cache serves the forced prompts (hit rate recorded), the full-length budget is the plain run,
and a sweep killed with SIGKILL resumes to exactly the answers of an uninterrupted one.

One engine serves the module; the kill test adds one `evalkit budgets` subprocess, run at --max-num-seqs 2
so that its forced answers take long enough to be killed among them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evalkit.config import BudgetConfig, EngineConfig, SamplingConfig, sample_seed
from evalkit.store import BUDGETS, TOKENS
from evalkit.tiny_think import THINK_CLOSE, build_think_checkpoint
from rundirs import cli_result as cli, metrics, records
from vllm_support import cpu_engine_env, needs_vllm

pytestmark = [needs_vllm, pytest.mark.vllm, pytest.mark.slow]

MAX_TOKENS, BUDGETS_ARG = 384, "64,160,320,384"
CUE = "\n\nFinal answer:"


def run_args(model: Path, out: Path, *extra: str) -> list[str]:
    return ["run", "--model", str(model), "--bench", "arith", "--backend", "vllm", "--dtype", "float32", "--max-model-len", "512",
            "--limit", "12", "--n", "4", "--k", "1,4", "--max-tokens", str(MAX_TOKENS), "--out", str(out), *extra]


@pytest.fixture(scope="module")
def think_model(tmp_path_factory) -> Path:
    return build_think_checkpoint(tmp_path_factory.mktemp("think") / "tiny-think", mean_think=200, mean_answer=12, max_positions=1024)


@pytest.fixture(scope="module")
def llm(think_model):
    from evalkit.samplers.vllm import engine_kwargs
    from vllm import LLM

    saved = dict(os.environ)
    os.environ.update(cpu_engine_env())
    llm = LLM(**engine_kwargs(str(think_model), SamplingConfig(), EngineConfig(backend="vllm", dtype="float32", max_model_len=512)))
    yield llm
    llm.llm_engine.engine_core.shutdown()
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="module")
def swept(llm, think_model, tmp_path_factory):
    """`evalkit run --think-budgets` on the module's engine, never interrupted; every forced prompt enqueued recorded."""
    import evalkit.samplers
    from evalkit.samplers.vllm import VLLMSampler

    out = tmp_path_factory.mktemp("swept") / "run"
    sent = []
    enqueue = VLLMSampler._enqueue_tokens

    def spy(self, batch, sp):
        sent.extend(batch)
        return enqueue(self, batch, sp)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(evalkit.samplers, "make_sampler", lambda m, sp, eng, **_: VLLMSampler(m, sp, eng, llm=llm))
        mp.setattr(VLLMSampler, "_enqueue_tokens", spy)
        code, output = cli(*run_args(think_model, out, "--think-budgets", BUDGETS_ARG))
    assert code == 0, output
    return out, sent


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_recorded_ids_are_the_engines_and_forced_prompts_are_their_prefixes(swept, llm):
    from evalkit.samplers.vllm import sampling_params

    out, sent = swept
    tok = llm.get_tokenizer()
    ids = {(r["problem_id"], r["sample_index"]): r["token_ids"] for r in lines(out / TOKENS)}
    prompts = {r["problem_id"]: tok.encode(r["prompt"], add_special_tokens=False) for r in lines(out / "prompts.jsonl")}
    sp = SamplingConfig(temperature=1.0, max_tokens=MAX_TOKENS)
    for key in list(ids)[::9]:  # drawn again alone, with its seed: the ids the run recorded
        again = llm.generate([{"prompt_token_ids": prompts[key[0]]}], sampling_params(sp, sample_seed(0, *key)), use_tqdm=False)
        assert list(again[0].outputs[0].token_ids) == ids[key]
    close, cue = tok.convert_tokens_to_ids(THINK_CLOSE), tok.encode(CUE, add_special_tokens=False)
    want = set()
    for key, drawn in ids.items():
        think = drawn.index(close) if close in drawn else len(drawn) - (drawn[-1] == tok.eos_token_id)
        want |= {(*key, b) for b in (64, 160, 320, 384) if b < think}
    assert {(c.problem_id, c.sample_index, c.budget) for c in sent} == want and len(want) > 40
    for c in sent:
        assert list(c.prompt_ids) == prompts[c.problem_id] + ids[(c.problem_id, c.sample_index)][: c.budget] + [close] + cue
    assert {(r["problem_id"], r["sample_index"], r["budget"]) for r in lines(out / BUDGETS)} == want


def test_token_accounting_and_prefix_cache_hits(swept):
    out, sent = swept
    cost = json.loads((out / "manifest.json").read_text())["cost"]
    budgets, samples = lines(out / BUDGETS), lines(out / "samples.jsonl")
    assert cost["draw"]["completion_tokens"] == sum(s["num_tokens"] for s in samples) == sum(len(r["token_ids"]) for r in lines(out / TOKENS))
    assert cost["budgets"]["requests"] == len(budgets) == len(sent)
    assert cost["budgets"]["prompt_tokens"] == sum(len(c.prompt_ids) for c in sent)
    assert cost["budgets"]["completion_tokens"] == sum(r["num_tokens"] for r in budgets)
    # every forced prompt is its sample's drawn prefix, still cached in whole 128-token blocks
    assert 0.5 < cost["budgets"]["prefix_cache_hit_rate"] <= 1
    assert cost["budgets"]["cached_prompt_tokens"] <= cost["budgets"]["prompt_tokens"]
    assert cost["engine"]["backend"] == "vllm" and cost["draw"]["startup_s"] >= 0


def test_the_full_length_budget_is_the_plain_run(swept):
    out, _ = swept
    m = metrics(out)
    full = m["budgets"][str(MAX_TOKENS)]
    assert full["forced"] == 0 and full["pass_at_k"] == m["pass_at_k"] and full["maj_at_k"] == m["maj_at_k"]
    assert [m["budgets"][b]["mean_think_tokens"] for b in ("64", "160", "320")] == sorted(m["budgets"][b]["mean_think_tokens"] for b in ("64", "160", "320"))


def test_kill9_during_a_budget_sweep_then_resume_equals_uninterrupted(swept, llm, tmp_path):
    """`evalkit budgets` killed with SIGKILL among its forced answers, then resumed: the same budgets.jsonl (as a
    set) and metrics as the sweep that was never interrupted."""
    from evalkit.budgets import force_budgets

    out, _ = swept
    run = tmp_path / "run"
    shutil.copytree(out, run)
    (run / BUDGETS).unlink()
    (run / "metrics.json").unlink()
    total = len(lines(out / BUDGETS))
    cmd = [sys.executable, "-m", "evalkit.cli", "budgets", str(run), "--think-budgets", BUDGETS_ARG, "--max-num-seqs", "2"]
    log = open(tmp_path / "budgets.log", "wb")
    proc = subprocess.Popen(cmd, env=cpu_engine_env(), stdout=log, stderr=log, start_new_session=True)
    try:
        deadline = time.monotonic() + 420
        while len(lines(run / BUDGETS)) < 3:
            assert proc.poll() is None, f"the sweep ended before it could be killed:\n{(tmp_path / 'budgets.log').read_text()[-3000:]}"
            assert time.monotonic() < deadline, "no forced answer appeared within 420 s"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    at_kill = len((run / BUDGETS).read_text().splitlines())
    assert 3 <= at_kill < total, f"{at_kill} of {total} forced answers were written before the kill"
    assert not (run / "metrics.json").exists()
    think = BudgetConfig(tuple(int(b) for b in BUDGETS_ARG.split(",")))
    force_budgets(run, think, llm=llm)
    assert len((run / BUDGETS).read_text().splitlines()) == total  # only the missing ones were drawn
    assert records(run, BUDGETS) == records(out, BUDGETS)
    assert metrics(run) == metrics(out)
