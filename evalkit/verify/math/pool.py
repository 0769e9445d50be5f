"""Worker processes for symbolic checks, each under a hard wall-clock limit enforced from outside.

sympy can run for minutes (or forever) on `10^{10^{10}}` or a degree-40 expansion, and
signal.alarm inside the check does not fire off the main thread. So every check runs in a
worker process; the parent waits on the workers' pipes with a deadline and SIGKILLs a worker
that overruns, starting a fresh one. The parent imports sympy and math-verify once and workers
are forked from it, so a replacement costs milliseconds, not a second of imports. (fork, not
forkserver/spawn: those re-run the caller's __main__ in every worker.)

Each worker holds a few checks at once (`depth`), so it never waits for the parent between two
checks; it runs them in order and stamps each answer with the time it finished, which is when
the next one started: the limit applies to each check alone. A gold's checks queue at one
worker, which parses that gold once and keeps the parse.
"""

from __future__ import annotations

import multiprocessing as mp
from importlib import import_module
import os
import resource
import time
import zlib
from collections import deque
from multiprocessing.connection import Connection, wait
from typing import Any, Hashable, Iterator

from ...types import EvalkitError

_START_LIMIT_S = 120
_BACKLOG, _SLOW_S = 8, 0.2  # an idle worker takes another's checks once that many wait, or its check is slow
_QUEUED_CHARS = 4096  # a check waits in a busy worker's pipe only if small: the pipe never fills, send never blocks
Task = tuple  # (key, gold, pred, choices)


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _address_space() -> int:
    """This process's virtual size in bytes (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _serve(conn: Connection, memory_bytes: int) -> None:
    """Worker loop: receive (key, gold, pred, choices), answer (key, status, detail, finished_at)."""
    if memory_bytes:  # on top of what the fork inherited (a parent holding torch maps many GB)
        limit = _address_space() + memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from .equiv import equivalent, use_sll_prediction

    use_sll_prediction()  # the same parses, faster; only here, so the caller's own math-verify calls are untouched
    conn.send("ready")  # imports done: the time limit now measures the check alone
    while True:
        try:
            key, gold, pred, choices = conn.recv()
        except (EOFError, OSError):
            return
        try:
            status, detail = ("correct" if equivalent(gold, pred, choices) else "wrong"), "math-verify"
        except MemoryError:
            status, detail = "error", "symbolic check ran out of memory"
        except Exception as e:  # a parser bug is the verifier's failure, not the model's
            status, detail = "error", f"symbolic check failed: {type(e).__name__}: {str(e)[:160]}"
        conn.send((key, status, detail, time.monotonic()))


class _Worker:
    def __init__(self, ctx: Any, memory_bytes: int):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, memory_bytes), daemon=True)
        self.proc.start()
        child.close()
        if not self._started():
            self.kill()
            raise EvalkitError(f"a math-verify worker did not start within {_START_LIMIT_S}s; check that math-verify imports")
        self.tasks: deque[tuple[Task, float]] = deque()  # sent, unanswered, in order; with the time sent
        self.head_started = 0.0  # when the worker began tasks[0]

    def _started(self) -> bool:
        try:
            return self.conn.poll(_START_LIMIT_S) and self.conn.recv() == "ready"
        except (EOFError, OSError):
            return False

    def send(self, task: Task) -> None:
        now = time.monotonic()
        if not self.tasks:
            self.head_started = now
        self.tasks.append((task, now))
        self.conn.send(task)

    def answered(self, finished_at: float) -> Task:
        """The head task is done; the next one started when it finished (or when it arrived, if later)."""
        task, _ = self.tasks.popleft()
        if self.tasks:
            self.head_started = max(finished_at, self.tasks[0][1])
        return task

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join()
        self.conn.close()


class CheckPool:
    """Runs (key, gold, pred, choices) checks on up to `workers` processes; yields (key, status, detail).

    Status is correct / wrong / timeout / error. Workers start lazily, so a run whose answers
    all settle on the string fast path never pays for a process. Each worker has its own queue:
    a gold's checks queue at one worker (crc32 of the gold), and a worker with nothing to do takes
    over another's checks when they pile up or wait behind a slow one.
    """

    def __init__(self, workers: int | None = None, time_limit: float = 5.0, memory_mb: int = 4096, depth: int = 2):
        self.workers = workers or default_workers()
        self.time_limit = time_limit
        self.memory_bytes = memory_mb * 2**20
        self.depth = depth
        self._ctx = mp.get_context("fork")
        self._slots: list[_Worker | None] = [None] * self.workers
        self._queues: list[deque[Task]] = [deque() for _ in range(self.workers)]
        self._failed: deque[tuple[Hashable, str, str]] = deque()  # found while dispatching, not yet reported

    def submit(self, key: Hashable, gold: str, pred: str, choices: tuple[str, ...] = ()) -> None:
        self._queues[zlib.crc32(gold.encode()) % self.workers].append((key, gold, pred, choices))
        self._dispatch()

    def pending(self) -> int:
        return sum(map(len, self._queues)) + len(self._failed) + sum(len(w.tasks) for w in self._slots if w)

    def results(self, block: bool) -> Iterator[tuple[Hashable, str, str]]:
        """Finished checks; with block=True waits until at least one finishes (if any are pending)."""
        self._dispatch()
        while self._failed:
            yield self._failed.popleft()
        busy = [w for w in self._slots if w and w.tasks]
        if not busy:
            return
        deadline = min(w.head_started for w in busy) + self.time_limit
        ready = wait([w.conn for w in busy], timeout=max(0.0, deadline - time.monotonic()) if block else 0.0)
        for w in busy:
            if w.conn in ready:
                yield from self._collect(w)
            elif time.monotonic() >= w.head_started + self.time_limit:
                yield self._fail(w, "timeout", f"symbolic check exceeded {self.time_limit:g}s and was killed")
        self._dispatch()

    def _collect(self, w: _Worker) -> Iterator[tuple[Hashable, str, str]]:
        """Every answer already in the pipe (never blocks: the pipe was readable)."""
        while w.tasks:
            try:
                key, status, detail, finished_at = w.conn.recv()
            except (EOFError, OSError):  # the worker died (killed by the OS, crashed in C code)
                w.proc.join()
                yield self._fail(w, "error", f"symbolic check worker died (exit code {w.proc.exitcode})")
                return
            w.answered(finished_at)
            yield key, status, detail
            if not w.conn.poll():
                return

    def _fail(self, w: _Worker, status: str, detail: str) -> tuple[Hashable, str, str]:
        """The head check failed the worker: kill it; the checks sent behind it queue again."""
        w.kill()
        slot = self._slots.index(w)
        self._slots[slot] = None
        (key, *_), _ = w.tasks.popleft()
        self._queues[slot].extendleft(task for task, _ in reversed(w.tasks))
        return key, status, detail

    def _dispatch(self) -> None:
        for slot in range(self.workers):
            queue = self._queues[slot]
            if not queue:
                w = self._slots[slot]
                if w is not None and w.tasks:
                    continue
                queue = self._backlog()  # idle (or not started): help where checks pile up
                if queue is None:
                    continue
            self._feed(slot, queue)

    def _backlog(self) -> deque[Task] | None:
        """The longest queue, if long or stuck behind a slow check; a short burst stays with its worker,
        which parses its gold once (taking it over would parse the gold twice)."""
        j = max(range(self.workers), key=lambda i: len(self._queues[i]))
        owner, now = self._slots[j], time.monotonic()
        slow = owner is not None and owner.tasks and now - owner.head_started > _SLOW_S
        return self._queues[j] if len(self._queues[j]) >= _BACKLOG or (self._queues[j] and slow) else None

    def _feed(self, slot: int, queue: deque[Task]) -> None:
        while queue:  # starts the slot's worker if there is something to send
            w = self._slots[slot] or self._start(slot)
            if w.tasks and (len(w.tasks) >= self.depth or len(queue[0][1]) + len(queue[0][2]) > _QUEUED_CHARS):
                return  # a big check goes to an idle worker only: sending it to a busy one could block us
            try:
                w.send(queue.popleft())
            except (BrokenPipeError, OSError):
                w.proc.join()
                if len(w.tasks) == 1:  # it died idle (the OS killed it): the check never ran, it goes back
                    w.kill()
                    self._slots[slot] = None
                    queue.appendleft(w.tasks.pop()[0])
                    continue
                self._failed.append(self._fail(w, "error", f"symbolic check worker died (exit code {w.proc.exitcode})"))
                return

    def _start(self, slot: int) -> _Worker:
        import_module("evalkit.verify.math.equiv").warm_up()  # once, in the parent: workers inherit it
        self._slots[slot] = _Worker(self._ctx, self.memory_bytes)
        return self._slots[slot]  # type: ignore[return-value]

    def close(self) -> None:
        for w in self._slots:
            if w:
                w.kill()
        self._slots = [None] * self.workers
        for queue in self._queues:
            queue.clear()
