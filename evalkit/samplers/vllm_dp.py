"""Data parallelism for the offline vLLM backend (`--data-parallel-size N`).

vllm.LLM cannot run several data-parallel engines in one process, so each rank is its own process
(spawned fresh, so CUDA is initialised there, not here) with its own group of
`--tensor-parallel-size` GPUs and its own engine. Problems are dealt round-robin to ranks (all
samples of a problem on one rank, so they share its prefix cache); ranks stream samples back through
a queue as they finish. A sample depends only on its seed, so the samples are those of one engine.
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import queue as queue_mod
import threading
import time
from typing import Any, Iterator, Sequence

from ..config import EngineConfig, SamplingConfig
from ..types import EvalkitError, Sample, SampleRequest


def device_groups(dp: int, tp: int) -> list[str | None]:
    """CUDA_VISIBLE_DEVICES for each rank; None everywhere on a machine without GPUs (CPU engines)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        devices = [d for d in visible.split(",") if d.strip()]
    else:
        import torch

        devices = [str(i) for i in range(torch.cuda.device_count())]
    if not devices:
        return [None] * dp
    if len(devices) < dp * tp:
        raise EvalkitError(f"--data-parallel-size {dp} x --tensor-parallel-size {tp} needs {dp * tp} GPUs, {len(devices)} are visible; lower one of them")
    return [",".join(devices[r * tp : (r + 1) * tp]) for r in range(dp)]


def shard_by_problem(requests: Sequence[SampleRequest], size: int) -> list[list[SampleRequest]]:
    order = list(dict.fromkeys(r.problem_id for r in requests))
    rank = {pid: i % size for i, pid in enumerate(order)}
    shards: list[list[SampleRequest]] = [[] for _ in range(size)]
    for r in requests:
        shards[rank[r.problem_id]].append(r)
    return shards


class DataParallelVLLM:
    """A `Sampler` over N single-engine ranks (each rank runs a plain VLLMSampler)."""

    def __init__(self, model: str, sampling: SamplingConfig, engine: EngineConfig):
        self.size = engine.data_parallel_size
        self.groups = device_groups(self.size, engine.tensor_parallel_size)
        self.args = (model, sampling, dataclasses.replace(engine, data_parallel_size=1))

    def close(self) -> None:
        pass  # ranks shut down their engines when their share is drawn

    def request_settings(self) -> dict[str, Any]:
        from .vllm import request_settings

        return {**request_settings(self.args[1]), "data_parallel_size": self.size}

    def sample(self, requests: Sequence[SampleRequest]) -> Iterator[Sample]:
        ctx = mp.get_context("spawn")
        out = ctx.Queue()
        shards = shard_by_problem(requests, self.size)
        procs = {r: ctx.Process(target=_rank_main, args=(r, self.groups[r], *self.args, shards[r], out, os.getpid()))
                 for r in range(self.size) if shards[r]}
        for p in procs.values():
            p.start()
        running = set(procs)
        try:
            while running:
                try:
                    msg = out.get(timeout=5)
                except queue_mod.Empty:
                    _check_alive(procs, running)
                    continue
                if msg[0] == "sample":
                    yield Sample.from_json(msg[1])
                elif msg[0] == "done":
                    running.discard(msg[1])
                else:
                    raise EvalkitError(f"data-parallel rank {msg[1]}: {msg[2]}")
        finally:
            _stop(procs.values())


def _check_alive(procs: dict, running: set) -> None:
    for r in running:
        if procs[r].exitcode is not None:
            raise EvalkitError(f"data-parallel rank {r} died (exit {procs[r].exitcode}); completed samples are saved, rerun to resume")


def _stop(procs) -> None:
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + 30
    for p in procs:
        p.join(timeout=max(0.1, deadline - time.monotonic()))
        if p.is_alive():
            p.kill()
            p.join()


def _rank_main(rank: int, devices: str | None, model: str, sampling: SamplingConfig, engine: EngineConfig,
               requests: list[SampleRequest], out: Any, parent: int) -> None:
    """One rank: its own devices, its own engine, its samples onto the queue."""
    if devices is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = devices
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    from .vllm import VLLMSampler

    try:
        sampler = VLLMSampler(model, sampling, engine)
        try:
            for s in sampler.sample(requests):
                out.put(("sample", s.to_json()))
        finally:
            sampler.close()
        out.put(("done", rank))
    except EvalkitError as e:
        out.put(("error", rank, str(e)))


def _exit_with_parent(parent: int) -> None:
    """A killed evalkit leaves no engine behind: the rank goes when its parent does."""
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(1)
