"""`--watch`: checkpoints are taken only when completely written and quiet, in natural order as they
become ready; the watcher exits by itself once nothing has happened for SECONDS; killed and
restarted, it resumes. The polling logic runs on a simulated clock; the end-to-end test runs the CLI
(hf backend) and copies a checkpoint in, in two steps, while it runs."""

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

from evalkit.checkpoints import missing_parts
from evalkit.config import RunConfig
from evalkit.tiny_model import perturbed_checkpoint


# -- what counts as complete --------------------------------------------------------------------
def test_missing_parts_of_single_and_sharded_checkpoints(tmp_path, tiny_model):
    ck = perturbed_checkpoint(tiny_model, tmp_path / "single", seed=1, scale=0.1)
    assert missing_parts(ck) == []
    weights = (ck / "model.safetensors").read_bytes()
    (ck / "model.safetensors").write_bytes(weights[:-1])  # one byte short of what its header says
    assert missing_parts(ck) == ["model.safetensors (shorter than its header says: still being written)"]
    (ck / "model.safetensors").write_bytes(weights)
    os.remove(ck / "tokenizer.json"), os.remove(ck / "tokenizer_config.json")
    assert [m.split(" ")[0] for m in missing_parts(ck)] == ["tokenizer"]

    sharded = tmp_path / "sharded"
    shutil.copytree(tiny_model, sharded)
    index = {"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (sharded / "model.safetensors").rename(sharded / "model-00001-of-00002.safetensors")
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    assert missing_parts(sharded) == ["model-00002-of-00002.safetensors"]
    shutil.copy(sharded / "model-00001-of-00002.safetensors", sharded / "model-00002-of-00002.safetensors")
    assert missing_parts(sharded) == []
    (sharded / "model.safetensors.index.json").write_text('{"weight_map": {"a": ')  # index being written
    assert "unreadable" in missing_parts(sharded)[0]
    os.remove(sharded / "config.json")
    assert missing_parts(sharded)[0] == "config.json"


# -- the polling loop on a simulated clock ------------------------------------------------------
class FakeSweep:
    runs: list = []

    def __init__(self, argv=(), notify=None):
        pass

    def run(self, config):
        FakeSweep.runs.append((Path(config.model).name, CLOCK["t"]))
        return config.model

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


CLOCK = {"t": 0.0}


def test_watch_takes_complete_quiet_checkpoints_and_exits_when_idle(tmp_path, tiny_model, monkeypatch):
    import evalkit.watch as watch_mod

    src = perturbed_checkpoint(tiny_model, tmp_path / "src", seed=3, scale=0.1)
    ck = tmp_path / "ckpts"
    shutil.copytree(src, ck / "step_1")
    weights = (src / "model.safetensors").read_bytes()

    def write_partial_step_2():  # config, tokenizer and half the weights
        (ck / "step_2").mkdir()
        for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
            shutil.copy(src / name, ck / "step_2" / name)
        (ck / "step_2" / "model.safetensors").write_bytes(weights[: len(weights) // 2])

    events = {3.0: write_partial_step_2,
              4.0: lambda: shutil.copytree(src, ck / "step_10"),
              5.0: lambda: (ck / "step_2" / "model.safetensors").write_bytes(weights),
              6.0: lambda: (ck / "step_99").mkdir() or shutil.copy(src / "config.json", ck / "step_99")}

    def sleep(dt):
        CLOCK["t"] += dt
        for at in [a for a in events if a <= CLOCK["t"]]:
            events.pop(at)()

    CLOCK["t"], FakeSweep.runs = 0.0, []
    monkeypatch.setattr(watch_mod, "Sweep", FakeSweep)
    notes: list[str] = []
    config_for = lambda m: RunConfig(model=m, bench="arith", ks=(1,), n=1)  # noqa: E731
    patterns = ["tiny-arith", str(ck / "step_*")]  # a model given by name is taken as it is, first
    results = list(watch_mod.watch(patterns, config_for, 10, notify=notes.append, clock=lambda: CLOCK["t"], sleep=sleep))
    poll, settle = watch_mod.intervals(10)
    assert (poll, settle) == (1.0, 2.0)
    order = [name for name, _ in FakeSweep.runs]
    assert order == ["tiny-arith", "step_1", "step_10", "step_2"]  # each as soon as it is complete and quiet
    at = dict(FakeSweep.runs)
    assert at["tiny-arith"] == 0
    assert at["step_1"] == settle and at["step_10"] == 4 + settle and at["step_2"] == 5 + settle  # never while partial
    assert len(results) == 4
    assert at["step_2"] + 10 <= CLOCK["t"] <= at["step_2"] + 10 + poll  # idle for 10 s after the last run, then out
    assert len(notes) == 1 and "step_99: not evaluated" in notes[0] and "weights" in notes[0] and "tokenizer" in notes[0]


def test_watch_needs_a_glob(tmp_path):
    from rundirs import cli_result

    code, out = cli_result("run", "--model", "tiny-arith", "--bench", "arith", "--watch", "5", "--backend", "hf")
    assert code == 1 and out.startswith("error: --watch needs a glob --model") and out.count("\n") == 1
    code, out = cli_result("run", "--model", str(tmp_path / "c_*"), "--bench", "arith", "--watch", "5", "--out", str(tmp_path / "o"))
    assert code == 1 and "drop --out" in out


# -- end to end, hf backend ---------------------------------------------------------------------
def _cmd(pattern: str, seconds: int) -> list[str]:
    return [sys.executable, "-m", "evalkit.cli", "run", "--model", pattern, "--bench", "arith", "--limit", "6", "--n", "4",
            "--k", "1,4", "--max-tokens", "12", "--backend", "hf", "--watch", str(seconds)]


def _samples(cwd: Path, step: str) -> list[Path]:
    return list((cwd / "results" / f"ckpts--{step}").glob("*/samples.jsonl"))


def _wait(what, proc: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert proc.poll() is None, f"watcher exited early:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"timed out:\n{log.read_text()[-3000:]}"
        time.sleep(0.1)


@pytest.mark.slow
def test_watch_picks_up_a_copied_checkpoint_resumes_after_kill_and_exits_by_itself(tmp_path, tiny_model):
    src = perturbed_checkpoint(tiny_model, tmp_path / "src", seed=5, scale=0.2)
    shutil.copytree(tiny_model, tmp_path / "ckpts" / "step_1")
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    log = tmp_path / "watch1.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(_cmd("ckpts/step_*", 20), cwd=tmp_path, env=env, stdout=out, stderr=out)
    try:
        _wait(lambda: any((p.parent / "metrics.json").exists() for p in _samples(tmp_path, "step_1")), proc, log)
        step_1_samples = _samples(tmp_path, "step_1")[0].read_bytes()
        # a trainer writes step_2: config and tokenizer first, the weights a moment later
        (tmp_path / "ckpts" / "step_2").mkdir()
        for name in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"):
            shutil.copy(src / name, tmp_path / "ckpts" / "step_2" / name)
        time.sleep(3)
        assert not _samples(tmp_path, "step_2")  # not taken without its weights
        shutil.copy(src / "model.safetensors", tmp_path / "ckpts" / "step_2" / "model.safetensors")
        _wait(lambda: bool(_samples(tmp_path, "step_2")) and _samples(tmp_path, "step_2")[0].stat().st_size > 0, proc, log)
        os.kill(proc.pid, signal.SIGKILL)  # killed while (or just after) drawing step_2
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)

    t0 = time.monotonic()
    again = subprocess.run(_cmd("ckpts/step_*", 4), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert time.monotonic() - t0 < 300  # exited by itself
    assert _samples(tmp_path, "step_1")[0].read_bytes() == step_1_samples  # resumed: step_1 not redrawn
    for step in ("step_1", "step_2"):
        run = _samples(tmp_path, step)[0].parent
        assert len(_samples(tmp_path, step)[0].read_text().splitlines()) == 24 and (run / "metrics.json").exists()
    assert "vs baseline ckpts/step_1" in again.stdout and "ckpts/step_2" in again.stdout.split("vs baseline")[1]
