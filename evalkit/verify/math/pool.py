"""Worker processes for symbolic checks, each under a hard wall-clock limit enforced from outside.

sympy can run for minutes (or forever) on `10^{10^{10}}` or a degree-40 expansion, and
signal.alarm inside the check does not fire off the main thread. So every check runs in a
worker process; the parent waits on the workers' pipes with a deadline and SIGKILLs a worker
that overruns, starting a fresh one. The parent imports sympy and math-verify once and workers
are forked from it, so a replacement costs milliseconds, not a second of imports. (fork, not
forkserver/spawn: those re-run the caller's __main__ in every worker.)
"""

from __future__ import annotations

import multiprocessing as mp
from importlib import import_module
import os
import resource
import time
from collections import deque
from multiprocessing.connection import Connection, wait
from typing import Any, Hashable, Iterator

from ...types import EvalkitError

_START_LIMIT_S = 120


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
    """Worker loop: receive (key, gold, pred, choices), answer (key, status, detail)."""
    if memory_bytes:  # on top of what the fork inherited (a parent holding torch maps many GB)
        limit = _address_space() + memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from .equiv import equivalent

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
        conn.send((key, status, detail))


class _Worker:
    def __init__(self, ctx: Any, memory_bytes: int):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, memory_bytes), daemon=True)
        self.proc.start()
        child.close()
        if not self._started():
            self.kill()
            raise EvalkitError(f"a math-verify worker did not start within {_START_LIMIT_S}s; check that math-verify imports")
        self.task: tuple | None = None
        self.deadline = 0.0

    def _started(self) -> bool:
        try:
            return self.conn.poll(_START_LIMIT_S) and self.conn.recv() == "ready"
        except (EOFError, OSError):
            return False

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join()
        self.conn.close()


class CheckPool:
    """Runs (key, gold, pred, choices) checks on up to `workers` processes; yields (key, status, detail).

    Status is correct / wrong / timeout / error. Workers start lazily, so a run whose answers
    all settle on the string fast path never pays for a process.
    """

    def __init__(self, workers: int | None = None, time_limit: float = 5.0, memory_mb: int = 4096):
        self.workers = workers or default_workers()
        self.time_limit = time_limit
        self.memory_bytes = memory_mb * 2**20
        self._ctx = mp.get_context("fork")
        self._pool: list[_Worker] = []
        self._queue: deque[tuple] = deque()

    def submit(self, key: Hashable, gold: str, pred: str, choices: tuple[str, ...] = ()) -> None:
        self._queue.append((key, gold, pred, choices))
        self._dispatch()

    def pending(self) -> int:
        return len(self._queue) + sum(w.task is not None for w in self._pool)

    def results(self, block: bool) -> Iterator[tuple[Hashable, str, str]]:
        """Finished checks; with block=True waits until at least one finishes (if any are pending)."""
        self._dispatch()
        busy = [w for w in self._pool if w.task is not None]
        if not busy:
            return
        now = time.monotonic()
        wait_s = max(0.0, min(w.deadline for w in busy) - now) if block else 0.0
        ready = wait([w.conn for w in busy], timeout=wait_s)
        for w in busy:
            if w.conn in ready:
                yield from self._collect(w)
            elif time.monotonic() >= w.deadline:
                yield self._expire(w)
        self._dispatch()

    def _collect(self, w: _Worker) -> Iterator[tuple[Hashable, str, str]]:
        key = w.task[0]  # type: ignore[index]
        try:
            got = w.conn.recv()
        except (EOFError, OSError):  # the worker died (killed by the OS, crashed in C code)
            self._replace(w)
            yield key, "error", f"symbolic check worker died (exit code {w.proc.exitcode})"
            return
        w.task = None
        yield got

    def _expire(self, w: _Worker) -> tuple[Hashable, str, str]:
        key = w.task[0]  # type: ignore[index]
        self._replace(w)
        return key, "timeout", f"symbolic check exceeded {self.time_limit:g}s and was killed"

    def _replace(self, w: _Worker) -> None:
        w.kill()
        self._pool.remove(w)

    def _dispatch(self) -> None:
        while self._queue:
            idle = next((w for w in self._pool if w.task is None), None)
            if idle is None and len(self._pool) < self.workers:
                import_module("evalkit.verify.math.equiv").warm_up()  # once, in the parent: workers inherit it
                idle = _Worker(self._ctx, self.memory_bytes)
                self._pool.append(idle)
            if idle is None:
                return
            idle.task = self._queue.popleft()
            idle.deadline = time.monotonic() + self.time_limit
            try:
                idle.conn.send(idle.task)
            except (BrokenPipeError, OSError):
                self._queue.appendleft(idle.task)
                self._replace(idle)

    def close(self) -> None:
        for w in self._pool:
            w.kill()
        self._pool.clear()
        self._queue.clear()
