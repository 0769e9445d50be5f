"""`evalkit run --ray` on a local Ray cluster (2 CPU workers) against a plain single-process run.

The reference is an independent computation: one plain `evalkit run` of the same command. The Ray
run must reproduce its samples.jsonl (as a set, bit for bit) and metrics.json, also when a worker
is killed mid-run (nothing lost, nothing duplicated).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="ray is not installed; pip install 'evalkit[ray]' (the dev extra has it)")

from evalkit.config import EngineConfig, RunConfig  # noqa: E402
from evalkit.distributed.ray_runner import Scheduler, run_ray  # noqa: E402
from evalkit.tiny_model import ASSET_DIR  # noqa: E402

from rundirs import cli_result as cli, figures, metrics, records  # noqa: E402

COMMON = ["--bench", "arith", "--limit", "6", "--n", "4", "--k", "1,4", "--backend", "hf"]


@pytest.fixture(scope="module")
def cluster():
    """One local cluster for the module (start-up takes seconds), two 1-thread CPU workers.

    The driver (this process, which also makes the reference run) computes with one torch thread,
    so the workers do too (they follow the driver's count) and two fit the two CPUs. The memory
    monitor is off: on a shared box others' memory would get our workers OOM-killed at random.
    The cluster gets a token of its own: without one, ray.init (token authentication on by
    default since Ray 2.59) writes ~/.ray/auth_token, which then turns token authentication on
    for every later `ray start --head` of this user."""
    import secrets

    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    settings = {"RAY_memory_monitor_refresh_ms": "0", "RAY_AUTH_TOKEN": secrets.token_hex(32), "RAY_AUTH_MODE": None}
    old = {k: os.environ.get(k) for k in settings}
    os.environ.update({k: v for k, v in settings.items() if v is not None})
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield
    ray.shutdown()
    torch.set_num_threads(threads)
    for k, v in old.items():  # ray.init also set RAY_AUTH_MODE=token in this process
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def single(cluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("single") / "run"
    code, text = cli("run", "--model", "tiny-arith", *COMMON, "--out", str(out))
    assert code == 0, text
    return out


@pytest.mark.slow  # a local Ray cluster, hf samplers in its actors
def test_ray_two_checkpoints_equal_single_run(cluster, single: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two checkpoints in one command share the workers; each equals the single-process run."""
    copy = tmp_path / "ckpt-copy"
    shutil.copytree(ASSET_DIR, copy)  # same weights, another checkpoint path
    monkeypatch.chdir(tmp_path)
    code, text = cli("run", "--model", "tiny-arith", "--model", str(copy), *COMMON, "--ray")
    assert code == 0, text
    dirs = {"tiny-arith": tmp_path / "results" / "tiny-arith" / "arith", str(copy): tmp_path / "results" / "ckpt-copy" / "arith"}
    expected = metrics(single)
    for model, d in dirs.items():
        assert records(d) == records(single)
        assert len((d / "samples.jsonl").read_text().splitlines()) == 24
        assert records(d, "grades.jsonl") == records(single, "grades.jsonl")
        assert records(d, "tokens.jsonl") == records(single, "tokens.jsonl")  # drawn ids, for budget forcing later
        assert metrics(d) == {**expected, "model": model, "label": model}


@pytest.mark.slow
def test_killed_worker_loses_nothing(cluster, single: Path, tmp_path: Path) -> None:
    """Kill a worker after the first chunk comes back: its in-flight chunks are redone elsewhere."""
    seen: dict[str, int] = {}

    def kill_first_worker(s: Scheduler) -> None:
        if not seen:
            seen["workers"] = len(s.workers)
            ray.kill(s.workers[0])
        seen.update(lost=s.workers_lost, redone=s.chunks_redone)

    config = RunConfig(model="tiny-arith", bench="arith", ks=(1, 4), n=4, limit=6, engine=EngineConfig(backend="hf"), out=str(tmp_path / "run"))
    [result] = run_ray([config], chunk_size=4, on_chunk=kill_first_worker)
    assert seen["workers"] == 2 and seen["lost"] >= 1 and seen["redone"] >= 1
    lines = (tmp_path / "run" / "samples.jsonl").read_text().splitlines()
    keys = [(r["problem_id"], r["sample_index"]) for r in map(json.loads, lines)]
    assert len(keys) == len(set(keys)) == 24  # nothing duplicated, nothing lost
    assert records(tmp_path / "run") == records(single)
    assert figures(result.metrics) == metrics(single) == metrics(tmp_path / "run")


def _sampler_worker_pids() -> list[int]:
    """Processes Ray titled `ray::SamplerWorker...` (Linux /proc)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(b"ray::SamplerWorker"):
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


@pytest.mark.slow
@pytest.mark.timeout(300)  # without straggler re-draws this run never ends
@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds the worker process through Linux /proc")
def test_stalled_worker_does_not_stall_run(cluster, single: Path, tmp_path: Path) -> None:
    """SIGSTOP one worker after the first chunk (a hung GPU, a frozen node): its chunks are stuck for
    good, so the run completes only because idle workers re-draw them; first result wins."""
    import signal

    stopped: list[int] = []

    def stop_one_worker(s: Scheduler) -> None:
        if not stopped:
            pids = _sampler_worker_pids()
            assert len(pids) == 2
            os.kill(pids[0], signal.SIGSTOP)
            stopped.append(pids[0])
        stats.update(duplicated=s.chunks_duplicated)

    stats: dict[str, int] = {}
    config = RunConfig(model="tiny-arith", bench="arith", ks=(1, 4), n=4, limit=6, engine=EngineConfig(backend="hf"), out=str(tmp_path / "run"))
    try:
        [result] = run_ray([config], chunk_size=4, on_chunk=stop_one_worker)
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
    assert stopped and stats["duplicated"] >= 1
    lines = (tmp_path / "run" / "samples.jsonl").read_text().splitlines()
    keys = [(r["problem_id"], r["sample_index"]) for r in map(json.loads, lines)]
    assert len(keys) == len(set(keys)) == 24
    assert records(tmp_path / "run") == records(single)
    assert figures(result.metrics) == metrics(single)
