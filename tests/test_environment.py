"""The environment fingerprint in manifest.json, the warnings compare and gate give when two runs differ
in what changes samples, `--deterministic` (refused where vLLM has no batch-invariant kernels), and
`evalkit reproduce` with the hf backend (the CPU engine's case is in test_sweep.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evalkit import environment
from evalkit.config import EngineConfig, SamplingConfig
from evalkit.types import EvalkitError
from rundirs import cli_result, make_run


# -- fingerprint --------------------------------------------------------------------------------
def test_gpus_from_nvidia_smi(tmp_path, monkeypatch):
    """A stand-in nvidia-smi answering the query evalkit makes, as a real one prints it."""
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\n[ \"$1\" = --query-gpu=name,memory.total,driver_version ] || exit 3\n"
                   "echo 'NVIDIA H200, 143771, 580.159.03'\necho 'NVIDIA H200, 143771, 580.159.03'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert environment.gpus() == [{"name": "NVIDIA H200", "memory_mib": 143771, "driver": "580.159.03"}] * 2


def test_fingerprint_on_this_machine():
    import platform

    import torch

    fp = environment.fingerprint()
    assert fp["python"] == platform.python_version() and fp["platform"] == platform.platform()
    assert fp["torch"] == torch.__version__ and fp["cuda"] == torch.version.cuda
    assert fp["cpu"] and fp["cpu_count"] == os.cpu_count()
    if not torch.cuda.is_available():
        assert fp["gpus"] == []
    json.dumps(fp)  # goes into manifest.json as is


def test_git_state_of_a_checkout(tmp_path):
    """commit and dirty (tracked changes only) when the package lives in a git checkout of itself."""
    repo, pkg = tmp_path / "repo", tmp_path / "repo" / "evalkit"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("x = 1\n")
    git = lambda *a: subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True, text=True).stdout.strip()  # noqa: E731
    git("init", "-q")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "empty")
    git("add", ".")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "pkg")
    head = git("rev-parse", "HEAD")
    assert environment.git_state(pkg) == {"commit": head, "dirty": False}
    (repo / "notes.txt").write_text("untracked")
    assert environment.git_state(pkg)["dirty"] is False
    (pkg / "__init__.py").write_text("x = 2\n")
    assert environment.git_state(pkg) == {"commit": head, "dirty": True}
    assert environment.git_state(tmp_path / "elsewhere" / "evalkit") is None  # not a checkout


# -- differences that change samples --------------------------------------------------------------
def manifest(gpu: str | None = "NVIDIA H200", vllm: str = "0.32.0", dtype: str = "bfloat16", tp: int = 1, backend: str = "vllm") -> dict:
    env = {"gpus": [{"name": gpu, "memory_mib": 143771, "driver": "580"}] if gpu else [], "cpu": "AMD EPYC", "vllm": vllm}
    return {"backend": backend, "engine": {"dtype": dtype, "tensor_parallel_size": tp, "batch_size": 64}, "environment": env,
            "deterministic": False}


def test_sample_setting_differences():
    same = environment.sample_setting_differences(manifest(), manifest())
    assert same == []
    diffs = environment.sample_setting_differences(manifest(), manifest(gpu="NVIDIA A100-SXM4-80GB", vllm="0.31.1", dtype="float16", tp=2))
    assert diffs == ["hardware: 'NVIDIA H200' vs 'NVIDIA A100-SXM4-80GB'", "vllm: '0.32.0' vs '0.31.1'",
                     "dtype: 'bfloat16' vs 'float16'", "tensor_parallel_size: 1 vs 2"]
    cpu = environment.sample_setting_differences(manifest(), manifest(gpu=None))
    assert cpu == ["hardware: 'NVIDIA H200' vs 'CPU: AMD EPYC'"]
    # a server's numerics are not this machine's; an old manifest without the facts is not guessed at
    assert environment.sample_setting_differences(manifest(backend="openai"), manifest(gpu="x", backend="openai")) == []
    assert environment.sample_setting_differences(manifest(), {"backend": "vllm"}) == []


def _runs(tmp_path: Path, second: dict) -> tuple[Path, Path]:
    rng = np.random.default_rng(4)
    rows = rng.random((30, 4)) < 0.5
    a, b = make_run(tmp_path / "a", rows, model="base"), make_run(tmp_path / "b", rows, model="cand")
    for path, extra in ((a, manifest()), (b, second)):
        m = json.loads((path / "manifest.json").read_text())
        (path / "manifest.json").write_text(json.dumps({**m, **extra}))
    return a, b


def test_compare_and_gate_warn_about_other_hardware(tmp_path):
    a, b = _runs(tmp_path, manifest(gpu="NVIDIA A100-SXM4-80GB", vllm="0.31.1"))
    code, out = cli_result("compare", str(a), str(b))
    assert code == 0
    assert "settings of cand vs base: hardware: 'NVIDIA H200' vs 'NVIDIA A100-SXM4-80GB'; vllm: '0.32.0' vs '0.31.1'" in out
    code, out = cli_result("gate", "--baseline", str(a), "--candidate", str(b), "--json", str(tmp_path / "g.json"))
    assert code == 0
    warning = [line for line in out.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "hardware: 'NVIDIA H200' vs 'NVIDIA A100-SXM4-80GB'" in warning[0]
    assert json.loads((tmp_path / "g.json").read_text())["warnings"] == [warning[0][len("warning: "):]]


def test_gate_is_quiet_when_the_environments_agree(tmp_path):
    a, b = _runs(tmp_path, manifest())
    code, out = cli_result("gate", "--baseline", str(a), "--candidate", str(b))
    assert code == 0 and "warning" not in out


# -- determinism ----------------------------------------------------------------------------------
def test_deterministic_is_refused_without_batch_invariant_kernels(monkeypatch):
    from evalkit import determinism

    monkeypatch.delenv(determinism.ENV, raising=False)
    greedy = SamplingConfig(temperature=0.0)
    with pytest.raises(EvalkitError, match="--deterministic is vLLM's batch-invariant mode, the hf backend has none"):
        determinism.manifest_fields(EngineConfig(backend="hf", deterministic=True), greedy)
    fields = determinism.manifest_fields(EngineConfig(backend="hf"), greedy)
    assert fields["deterministic"] is False and "greedy decoding is not deterministic" in fields["determinism"]["note"]
    assert any("batch composition" in v for v in fields["determinism"]["varies_with"])
    monkeypatch.setattr(determinism, "support", lambda: (False, "the CPU engine has no batch-invariant kernels"))
    with pytest.raises(EvalkitError, match="not available here: the CPU engine"):
        determinism.manifest_fields(EngineConfig(backend="vllm", deterministic=True), greedy)
    monkeypatch.setenv(determinism.ENV, "1")  # set by the user where it cannot work: recorded as off
    assert determinism.manifest_fields(EngineConfig(backend="vllm"), greedy)["deterministic"] is False
    monkeypatch.setattr(determinism, "support", lambda: (True, "NVIDIA H200, compute capability 9.0"))
    on = determinism.manifest_fields(EngineConfig(backend="vllm", deterministic=True), greedy)
    assert on["deterministic"] is True and on["determinism"]["found"].startswith("NVIDIA H200") and "note" not in on["determinism"]
    assert not any("batch composition" in v for v in on["determinism"]["varies_with"])


def test_apply_sets_the_vllm_switch(monkeypatch):
    from evalkit import determinism

    # setenv first, so that monkeypatch restores the variable's absence afterwards: apply() sets it
    # directly, and a VLLM_BATCH_INVARIANT=1 left behind kills every later CPU engine in this session.
    monkeypatch.setenv(determinism.ENV, "0")
    monkeypatch.delenv(determinism.ENV)
    determinism.apply(EngineConfig(backend="vllm"))
    assert determinism.ENV not in os.environ
    determinism.apply(EngineConfig(backend="vllm", deterministic=True))
    assert os.environ[determinism.ENV] == "1" and determinism.requested_by_env()


@pytest.mark.slow
@pytest.mark.vllm
def test_cpu_engine_refuses_deterministic_before_writing(tmp_path):
    pytest.importorskip("vllm")
    from evalkit import determinism

    ok, found = determinism.support()
    assert not ok and "CPU" in found
    out = tmp_path / "run"
    code, text = cli_result("run", "--model", "tiny-arith", "--bench", "arith", "--limit", "2", "--backend", "vllm",
                            "--deterministic", "--out", str(out))
    assert code == 1 and text.startswith("error: --deterministic needs vLLM's batch-invariant mode") and text.count("\n") == 1
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.vllm
def test_an_inherited_batch_invariant_switch_does_not_kill_the_cpu_engine(tmp_path, monkeypatch):
    """VLLM_BATCH_INVARIANT=1 in the environment of a CPU run: dropped for the engine (which would die at
    its first step), said on stderr, and recorded as deterministic: false."""
    pytest.importorskip("vllm")
    from evalkit import determinism

    monkeypatch.setenv(determinism.ENV, "1")
    monkeypatch.setenv("VLLM_CPU_KVCACHE_SPACE", "1")
    out = tmp_path / "run"
    code, text = cli_result("run", "--model", "tiny-arith", "--bench", "arith", "--limit", "3", "--n", "2", "--k", "1,2",
                            "--max-tokens", "8", "--backend", "vllm", "--out", str(out))
    assert code == 0, text[-2000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["deterministic"] is False and determinism.ENV not in os.environ
    assert len((out / "samples.jsonl").read_text().splitlines()) == 6


# -- reproduce (hf) -------------------------------------------------------------------------------
@pytest.mark.slow
def test_reproduce_with_hf_is_identical_and_finds_a_planted_difference(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    made = subprocess.run([sys.executable, "-m", "evalkit.cli", "run", "--model", "tiny-arith", "--bench", "arith", "--limit", "5",
                           "--n", "4", "--k", "1,4", "--max-tokens", "12", "--backend", "hf", "--out", str(run)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert made.returncode == 0, made.stderr[-2000:]
    lines = (run / "samples.jsonl").read_text().splitlines()
    rec = json.loads(lines[7])
    rec["completion"] += " 7"  # one stored sample that the model did not write
    lines[7] = json.dumps(rec)
    (run / "samples.jsonl").write_text("\n".join(lines) + "\n")
    again = subprocess.run([sys.executable, "-m", "evalkit.cli", "reproduce", str(run), "--samples", "20", "--json", str(tmp_path / "r.json")],
                           env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 1, again.stderr[-2000:]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["samples"] == 20 and report["identical"] == 19
    (bad,) = report["mismatches"]
    assert (bad["problem_id"], bad["sample_index"], bad["field"]) == (rec["problem_id"], rec["sample_index"], "completion")
    assert "19 of 20 re-drawn samples are bit-identical" in again.stdout
    some = subprocess.run([sys.executable, "-m", "evalkit.cli", "reproduce", str(run), "--samples", "6", "--pick-seed", "3"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert some.returncode in (0, 1) and "of 6 re-drawn samples" in some.stdout


def test_reproduce_refuses_a_scored_run(tmp_path):
    rows = np.ones((3, 2), dtype=bool)
    run = make_run(tmp_path / "scored", rows)
    m = json.loads((run / "manifest.json").read_text())
    (run / "manifest.json").write_text(json.dumps({**m, "sampling": None, "seed": None}))
    code, out = cli_result("reproduce", str(run))
    assert code == 2 and out.startswith("error:") and "not sampled by `evalkit run`" in out
    code, out = cli_result("reproduce", str(tmp_path / "nothing"))
    assert code == 2 and "no manifest.json" in out
