"""`evalkit run --ray [ADDRESS]`: the same run, its sampling and grading spread over a Ray cluster.

    driver (this process)                      cluster
    prepare() every checkpoint                 SamplerWorker actors: one per GPU (or CPU slot),
    queue of chunks per checkpoint  ------->   each keeps the model it last served loaded
    append each returned sample     <-------   a chunk's samples, as soon as the chunk is done
    append each grade               <-------   _grade tasks: the verifier on one chunk (CPU)
    grade_and_count() -> metrics.json

The driver alone owns the run directories. Work goes out in chunks (a few per worker in flight),
so a slow worker only holds its own chunks, and once the queue is empty idle workers duplicate the
oldest chunk still out. A lost worker loses only its in-flight chunks, which go back on the queue;
a duplicate result is dropped because the driver writes each (problem, index) once. Chunks follow
the blocks of shard.py, so hf decodes the very batches a single run decodes. Several
checkpoints (repeated --model) share the workers and are drawn concurrently.

Joining an existing cluster (`ray start`) is checked before ray.init, which would otherwise retry
for 20 s or more and name no cause: the head's port must answer, and when the head wants a token
(token authentication, Ray >= 2.52) this machine's token, found where Ray looks for it, must be
accepted; then the driver sends it.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from tqdm import tqdm

from ..config import EngineConfig, RunConfig, SamplingConfig
from .ray_join import connect, import_ray
from ..pipeline import PreparedRun, RunResult, grade, grade_and_count, next_requests, prepare
from ..types import EvalkitError, Problem, Sample, SampleRequest
from ..shard import BLOCK
from ..store import token_record

IN_FLIGHT = 2  # chunks per worker: one decoding, one waiting, so a worker never idles on the driver
# A worker that fails this way is gone (killed, OOM-killed, node lost), not wrong: redo its chunks.
LOST_WORKER = ("RayActorError", "OutOfMemoryError", "WorkerCrashedError", "NodeDiedError", "ObjectLostError")


def run_ray(
    configs: Sequence[RunConfig],
    address: str | None = None,
    argv: Sequence[str] = (),
    *,
    num_workers: int | None = None,
    chunk_size: int | None = None,
    on_chunk: Callable[["Scheduler"], None] | None = None,
) -> list[RunResult]:
    """Connect, prepare every run (validation before any sampling), then sample, grade, aggregate."""
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        connect(ray, address)
    try:
        preps = [prepare(c, argv) for c in configs]
        workers = num_workers or _default_workers(ray, preps[0].config.engine)
        chunk = chunk_size or _default_chunk(preps[0].config.engine)
        drawn = [0] * len(preps)
        while True:  # one round for fixed n; adaptive designs draw a block per round until none continues
            for p in preps:
                if p.config.design is not None:
                    grade(p.store, p.problems, p.loaded.bench.family, lambda pid, p=p: p.config.n)
                    p.todo = next_requests(p)
            jobs = [_Job(p) for p in preps]
            if not any(j.todo for j in jobs):
                break
            Scheduler(ray, jobs, workers, chunk, on_chunk).run()
            drawn = [d + j.drawn for d, j in zip(drawn, jobs)]
            for p in preps:
                p.todo = []
        return [grade_and_count(p, d) for p, d in zip(preps, drawn)]
    finally:
        if started_here:
            ray.shutdown()


def _default_workers(ray: Any, engine: EngineConfig) -> int:
    """One sampler per GPU (per tensor-parallel group), else one per `cpu_threads()` CPUs."""
    res = ray.cluster_resources()
    gpus = int(res.get("GPU", 0))
    if gpus:
        return max(1, gpus // engine.tensor_parallel_size)
    return max(1, int(res.get("CPU", 1)) // cpu_threads(ray))


def cpu_threads(ray: Any) -> int:
    """The driver's torch thread count: CPU workers compute with (and reserve) as many, because float
    reductions split over another number of threads round differently and the samples must equal the
    driver's single run; reserving them keeps workers from oversubscribing the cores. Capped by the
    largest node, or no worker could ever be placed."""
    import torch

    largest = max((int(n["Resources"].get("CPU", 0)) for n in ray.nodes() if n.get("Alive")), default=1)
    return max(1, min(torch.get_num_threads(), largest))


def _default_chunk(engine: EngineConfig) -> int:
    """hf decodes one block per batch; engines that batch continuously want several blocks at once."""
    from ..config import resolve_backend

    return BLOCK if resolve_backend(engine) == "hf" else 8 * BLOCK


# -- the work -----------------------------------------------------------------------------------
@dataclass
class _Job:
    """One checkpoint x benchmark run: its missing samples and the driver's view of progress."""

    prep: PreparedRun
    todo: dict[tuple[str, int], SampleRequest] = field(init=False)
    problems: dict[str, Problem] = field(init=False)
    drawn: int = 0

    def __post_init__(self) -> None:
        self.todo = {(r.problem_id, r.sample_index): r for r in self.prep.todo}
        self.problems = {p.id: p for p in self.prep.problems}


@dataclass
class _Chunk:
    job: int
    requests: list[SampleRequest]
    sent: float = 0.0
    duplicated: bool = False


def chunks(requests: Sequence[SampleRequest], size: int) -> Iterator[list[SampleRequest]]:
    """Pack whole blocks (problem, index // BLOCK) into chunks of at most `size` requests."""
    blocks: dict[tuple[str, int], list[SampleRequest]] = defaultdict(list)
    for r in requests:
        blocks[(r.problem_id, r.sample_index // BLOCK)].append(r)
    chunk: list[SampleRequest] = []
    for block in blocks.values():
        for start in range(0, len(block), size):
            piece = block[start : start + size]
            if chunk and len(chunk) + len(piece) > size:
                yield chunk
                chunk = []
            chunk.extend(piece)
    if chunk:
        yield chunk


# -- the cluster side ---------------------------------------------------------------------------
class SamplerWorker:
    """A Ray actor holding one loaded sampler; it reloads only when handed another checkpoint.

    On CPU it computes with the driver's thread count (see `cpu_threads`).
    """

    def __init__(self, cpu_threads: int) -> None:
        import ray
        import torch

        if not ray.get_gpu_ids():
            torch.set_num_threads(cpu_threads)
        self._key: tuple | None = None
        self._sampler: Any = None

    def draw(self, model: str, sampling: SamplingConfig, engine: EngineConfig, requests: list[SampleRequest]) -> list[Sample]:
        from ..samplers import make_sampler
        from ..tiny_model import resolve_builtin

        key = (model, sampling, engine)
        if key != self._key:
            if self._sampler is not None:
                self._sampler.close()
            self._sampler, self._key = make_sampler(resolve_builtin(model), sampling, engine), key
        return list(self._sampler.sample(requests))


# A Ray worker process grades chunk after chunk: it keeps one verifier per benchmark family (starting
# one, with its sandbox processes, cost as much as grading a 64-sample chunk: benchmarks/bench_ray.py)
# and one copy of each problem, so that the verifier's per-problem memos (calibration, prepared tests,
# keyed by the tests' identity) are found again rather than rebuilt for every chunk's fresh copy.
_verifiers: dict[str, Any] = {}
_problems: dict[tuple[str, str, str], Problem] = {}


def grade_batch(family: str, data_hash: str, items: list[tuple[Problem, Sample]]) -> list[Any]:
    """A Ray task: grade one chunk on whichever CPU of the cluster is free (one CPU: one check process).
    The verifier's processes end with this worker process (they die with their parent)."""
    from ..verify import make_verifier

    verifier = _verifiers.get(family)
    if verifier is None:
        verifier = _verifiers[family] = make_verifier(family, workers=1)
    items = [(_problems.setdefault((data_hash, p.id, p.prompt), p), s) for p, s in items]
    return list(verifier.grade(items))


# -- the driver side ----------------------------------------------------------------------------
class Scheduler:
    """Hands chunks to workers, streams results into the stores, redoes what a lost worker held."""

    def __init__(self, ray: Any, jobs: list[_Job], num_workers: int, chunk_size: int, on_chunk: Callable | None):
        self.ray, self.jobs, self.on_chunk = ray, jobs, on_chunk
        self.queues = [deque(_Chunk(i, c) for c in chunks(list(j.todo.values()), chunk_size)) for i, j in enumerate(jobs)]
        self.remaining = sum(len(j.todo) for j in jobs)
        engine = jobs[0].prep.config.engine
        on_gpu = bool(ray.cluster_resources().get("GPU", 0))
        self._threads = cpu_threads(ray)
        self._actor_cls = ray.remote(
            num_cpus=1 if on_gpu else self._threads, num_gpus=engine.tensor_parallel_size if on_gpu else 0
        )(SamplerWorker)
        self._grade = ray.remote(num_cpus=1)(grade_batch)
        self.workers = [self._new_worker() for _ in range(num_workers)]
        self.replacements_left = 2 * num_workers
        self.last_job = {w: i % len(jobs) for i, w in enumerate(self.workers)}  # spread checkpoints
        self.sampling: dict[Any, tuple[Any, _Chunk]] = {}  # ref -> (worker, chunk)
        self.grading: dict[Any, int] = {}  # ref -> job
        self.chunks_done = self.chunks_redone = self.chunks_duplicated = self.workers_lost = 0
        self._lost_errors = tuple(getattr(ray.exceptions, name) for name in LOST_WORKER if hasattr(ray.exceptions, name))

    def run(self) -> None:
        appenders = [(j.prep.store.sample_appender(), j.prep.store.grade_appender(), j.prep.store.token_appender()) for j in self.jobs]
        bar = tqdm(total=self.remaining, desc="sampling (ray)", unit="sample", disable=None)
        try:
            self._dispatch()
            while self.remaining or self.grading:
                if not self.sampling and not self.grading:
                    raise EvalkitError(f"{self.remaining} samples were not drawn (backend errors); rerun the same command to retry them")
                ready, _ = self.ray.wait(list(self.sampling) + list(self.grading), num_returns=1)
                for ref in ready:
                    if ref in self.grading:
                        self._take_grades(ref, appenders)
                    else:
                        bar.update(self._take_samples(ref, appenders))
                if not self.remaining:
                    self._release_workers()
                self._dispatch()
        finally:
            bar.close()
            self._release_workers()
            for files in appenders:
                for f in files:
                    f.close()

    # -- handing out ---------------------------------------------------------------------------
    def _dispatch(self) -> None:
        for w in list(self.workers):
            while sum(1 for owner, _ in self.sampling.values() if owner is w) < IN_FLIGHT:
                chunk = self._next_chunk(w)
                if chunk is None:
                    break
                self._send(w, chunk)

    def _next_chunk(self, w: Any) -> _Chunk | None:
        """Same checkpoint as last time if it has work, else the one with most left; else a straggler."""
        job = self.last_job.get(w, 0)
        if not self.queues[job]:
            job = max(range(len(self.queues)), key=lambda i: len(self.queues[i]))
        if self.queues[job]:
            self.last_job[w] = job
            return self.queues[job].popleft()
        return self._straggler(w)

    def _straggler(self, w: Any) -> _Chunk | None:
        """Queue empty: an idle worker re-draws the oldest chunk still out elsewhere (first result wins)."""
        if any(owner is w for owner, _ in self.sampling.values()):
            return None
        out = [c for owner, c in self.sampling.values() if owner is not w and not c.duplicated]
        if not out:
            return None
        oldest = min(out, key=lambda c: c.sent)
        oldest.duplicated = True
        self.chunks_duplicated += 1
        return _Chunk(oldest.job, oldest.requests, duplicated=True)

    def _send(self, w: Any, chunk: _Chunk) -> None:
        c = self.jobs[chunk.job].prep.config
        chunk.sent = time.monotonic()
        self.sampling[w.draw.remote(c.model, c.sampling, c.engine, chunk.requests)] = (w, chunk)

    # -- taking back ---------------------------------------------------------------------------
    def _take_samples(self, ref: Any, appenders: list) -> int:
        w, chunk = self.sampling.pop(ref)
        try:
            samples = self.ray.get(ref)
        except self._lost_errors as e:
            self._lost(w, chunk, e)
            return 0
        except self.ray.exceptions.RayError as e:
            raise EvalkitError(f"a sampler worker failed: {_first_line(e)}")
        job = self.jobs[chunk.job]
        fresh = [s for s in samples if job.todo.pop((s.problem_id, s.sample_index), None) is not None]
        for s in fresh:
            appenders[chunk.job][0].write(s.to_json())
            if s.token_ids is not None:  # after its sample line, as pipeline.append_samples writes it (budget forcing)
                appenders[chunk.job][2].write(token_record(s))
        job.drawn += len(fresh)
        self.remaining -= len(fresh)
        self.chunks_done += 1
        if fresh:
            items = [(job.problems[s.problem_id], s) for s in fresh]
            self.grading[self._grade.remote(job.prep.loaded.bench.family, job.prep.loaded.data_hash, items)] = chunk.job
        if self.on_chunk:
            self.on_chunk(self)
        return len(fresh)

    def _take_grades(self, ref: Any, appenders: list) -> None:
        job = self.grading.pop(ref)
        try:
            grades = self.ray.get(ref)
        except self.ray.exceptions.RayError as e:  # system failures were already retried by Ray
            raise EvalkitError(f"grading on the cluster failed: {_first_line(e)}")
        for g in grades:
            appenders[job][1].write(g.to_json())

    def _lost(self, w: Any, chunk: _Chunk, error: BaseException) -> None:
        """A dead worker: its chunk goes back to the front of the queue, a fresh worker takes its place."""
        left = [r for r in chunk.requests if (r.problem_id, r.sample_index) in self.jobs[chunk.job].todo]
        if left:
            self.queues[chunk.job].appendleft(_Chunk(chunk.job, left))
            self.chunks_redone += 1
        if w in self.workers:
            self.workers.remove(w)
            self.ray.kill(w)  # an OOM-killed task may leave its actor half alive
            self.last_job.pop(w, None)
            self.workers_lost += 1
            tqdm.write(f"ray: a sampler worker was lost ({type(error).__name__}: node gone, killed or out of memory); "
                       "its chunks are redrawn by the others", file=sys.stderr)
            if self.replacements_left > 0 and self.remaining:
                self.replacements_left -= 1
                self.workers.append(self._new_worker())
        if not self.workers:
            raise EvalkitError("every Ray sampler worker died; check the cluster (ray status) and rerun the same command to resume")

    def _new_worker(self) -> Any:
        return self._actor_cls.remote(self._threads)

    def _release_workers(self) -> None:
        """All samples are in: stop the workers (and their duplicates) so grading gets the CPUs."""
        for w in self.workers:
            self.ray.kill(w)
        self.workers = []
        self.sampling.clear()


def _first_line(e: BaseException) -> str:
    cause = getattr(e, "cause", None) or e
    text = str(cause).strip().splitlines()
    return text[-1][:200] if text else cause.__class__.__name__
