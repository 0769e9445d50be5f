"""The judge's end of one child's socket: requests out, replies in, each call's CPU and wall time
measured from outside the program (stdlib only).

Why here and not in the child: a timer inside the program's process is the program's to cancel,
ignore or replace (a correct but too slow program once did exactly that and passed). The judge
reads the child's CPU time from the kernel (procstat.py, through the /proc/self/stat descriptor the
child sent as the first thing on its socket, before it received its program: no program can send
a forged one) at the first call, while it waits for a reply and when the reply comes, and gives up
on the call (the verdict: timeout) when the call used more than its CPU limit or its wall-clock
limit. The child can neither see nor change either measurement. A call's CPU time is the whole
process's (all its threads, ended ones included) since the last reading, which is at most the end of
the call before: work moved to a thread, or left running between calls, still counts.

Replies are bounded before they are read: a JSON frame may hold at most JSON_LIMIT bytes (a returned
value over codec.DIGEST_OVER travels as a digest), a stdin program's output (RAW) MAX_RAW bytes.
"""

from __future__ import annotations

import json
import os
import select
import socket
import struct
import time
from typing import NamedTuple

import procstat
import threadcap

RAW = b"\x00"  # child.RAW
STAT = b"S"  # child.STAT
JSON_LIMIT = 4 << 20
MAX_RAW = (64 << 20) + 1  # child.MAX_REPLY and the RAW byte
_HDR = struct.Struct("!I")
_CPUS = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
MIN_WAIT = 0.01  # the CPU clock's resolution (one tick)
LOAD_CPU = 2.0  # loading a program (its module-level code) may use at least this much CPU (Channel.hello)


class Gone(BaseException):
    """The sandboxed program stopped answering (exited, killed, out of CPU). Not catchable by tests."""


class Garbled(BaseException):
    """The program wrote something that is not a reply onto the test socket. Not catchable by tests."""


class ThreadStorm(BaseException):
    """The program kept starting threads past the cap (threadcap.MAX_REFUSED refusals)."""


class OverLimit(BaseException):
    """One call used more than its CPU or wall-clock limit. Not catchable by tests."""

    def __init__(self, kind: str, limit: float, cpu: float | None, wall: float, what: str = "one call"):
        super().__init__(kind)
        self.kind, self.limit, self.cpu, self.wall, self.what = kind, limit, cpu, wall, what

    def detail(self) -> str:
        if self.kind == "cpu":
            return f"CPU time limit of {self.limit:g}s for {self.what} exceeded (it used {self.cpu:.2f}s of CPU)"
        if self.cpu is None:
            return f"wall-clock limit of {self.limit:g}s for {self.what} exceeded (the program did not read its request)"
        return f"wall-clock limit of {self.limit:g}s for {self.what} exceeded (it used {self.cpu:.2f}s of CPU in that time)"


class Limits(NamedTuple):
    cpu: float
    wall: float
    what: str  # for the message: "one call", "loading the program"


class Channel:
    def __init__(self, sock, call_cpu: float | None, call_wall: float | None, max_threads: int = threadcap.MAX_THREADS):
        self.sock, self.fd = sock, sock.fileno()
        self.stat_fd: int | None = None
        self.cap: threadcap.Cap | None = None  # answers the child's thread clones, when it sent their listener
        self.call_cpu, self.call_wall, self.max_threads = call_cpu, call_wall, max_threads
        self.limits = Limits(call_cpu, call_wall, "one call") if call_cpu and call_wall else None
        self.buf = bytearray()
        self.chunk = bytearray(1 << 16)
        self.view = memoryview(self.chunk)
        self.poller = select.poll()
        self.poller.register(self.fd, select.POLLIN)
        self.mark: tuple[float, float] | None = None  # the child's CPU time at the last reading, and when

    def send(self, data: bytes, wall: float | None = None) -> None:
        """A request; a child that does not read it within `wall` seconds is over its wall-clock limit."""
        view = memoryview(_HDR.pack(len(data)) + data)
        deadline = None if wall is None else time.monotonic() + wall
        while view:
            try:
                view = view[self.sock.send(view, socket.MSG_DONTWAIT):]
                continue
            except BlockingIOError:
                pass
            except OSError:
                raise Gone() from None
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise OverLimit("wall", wall, None, wall)  # type: ignore[arg-type]
            select.select([], [self.fd], [], left)

    def hello(self):
        """The child's stat descriptor (and its thread listener), then its first reply (loading the program:
        only the whole sample's limits apply)."""
        try:
            byte, fds, _, _ = socket.recv_fds(self.sock, 1, 2)
        except OSError:
            raise Gone() from None
        if byte != STAT or not 1 <= len(fds) <= 2:
            for fd in fds:
                os.close(fd)
            raise Gone()
        self.stat_fd = fds[0]
        if len(fds) == 2:
            self.cap = threadcap.Cap(fds[1], self.stat_fd, self.max_threads)
            self.poller.register(fds[1], select.POLLIN)
        if self.limits is None:
            return self._decode(self._frame(None))
        # Loading (module-level code, LiveCodeBench's Solution()) is measured like a call, with at least
        # LOAD_CPU (LiveCodeBench's own harness gives it a test's limit): work there is charged to no call.
        load = Limits(max(self.limits.cpu, LOAD_CPU), max(self.limits.wall, 3 * LOAD_CPU + 2), "loading the program")
        self.mark = (0.0, time.monotonic())  # a forked process starts at no CPU time: no reading needed
        return self._decode(self._measured(None, load))

    @property
    def threads_refused(self) -> int:
        return self.cap.refused if self.cap is not None else 0

    def hang_up(self, wait: float = 5.0) -> None:
        """End the conversation and wait (at most `wait` s) until the child is gone: the fork server kills
        it when we hang up. After this nothing the judge does (comparing replies, which stops at a
        mismatch) can be timed by the program."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        deadline = time.monotonic() + wait
        while self.stat_fd is not None and procstat.cpu(self.stat_fd) is not None and time.monotonic() < deadline:
            time.sleep(0.0005)

    def close(self) -> None:
        """Closing the listener makes any thread clone still waiting fail (ENOSYS)."""
        if self.cap is not None:
            os.close(self.cap.listener)
            self.cap = None
        if self.stat_fd is not None:
            os.close(self.stat_fd)
            self.stat_fd = None

    def call(self, data: bytes):
        """Send one request and return its reply, under the per-call limits when there are any. A call is
        charged with the CPU time the child used since the previous reply, read when each reply comes:
        the judge's own time between calls counts against the next call (an honest program waits idle
        then; a thread left working does not), and no call is charged with an earlier one's."""
        if self.limits is None or self.stat_fd is None:
            self.send(data)
            return self._decode(self._frame(None))
        if self.mark is None:
            self.mark = (self._cpu(), time.monotonic())
        return self._decode(self._measured(data, self.limits))

    def _measured(self, data: bytes | None, lim: Limits) -> bytes:
        """Send `data` (if any) and wait for the reply under `lim`, charged from self.mark; the reading
        taken at the reply is the next call's mark."""
        begun = time.monotonic()
        if data is not None:
            self.send(data, lim.wall)
        frame = self._frame((self.mark[0], begun, lim))  # type: ignore[index]
        now = time.monotonic()
        cpu = procstat.cpu(self.stat_fd)  # type: ignore[arg-type]
        if cpu is not None and cpu - self.mark[0] > lim.cpu:  # type: ignore[index]
            raise OverLimit("cpu", lim.cpu, cpu - self.mark[0], now - begun, lim.what)  # type: ignore[index]
        # None: the child replied, then ended (a program that failed to load): its reply stands, and it
        # can pass nothing more. Its CPU time was measured while it ran, at every wait.
        self.mark = (cpu if cpu is not None else self.mark[0], now)  # type: ignore[index]
        if now - begun > lim.wall:  # a reply that trickled in past the limit
            cpu = procstat.cpu(self.stat_fd)  # type: ignore[arg-type]
            raise OverLimit("wall", lim.wall, 0.0 if cpu is None else cpu - self.mark[0], now - begun, lim.what)  # type: ignore[index]
        return frame

    def _cpu(self) -> float:
        c = procstat.cpu(self.stat_fd)  # type: ignore[arg-type]
        if c is None:
            raise Gone()
        return c

    def _frame(self, meter) -> bytes:
        """The next whole frame; `meter` = (CPU, time, Limits) at the call's start, or None for no limit.
        The first wait of a call assumes the fastest the child could use CPU (all cores), so that most
        calls cost no measurement until their reply. The limits are checked whenever that wait is up,
        also while a reply trickles in byte by byte."""
        timeout = -1 if meter is None else int(1000 * max(MIN_WAIT, min(meter[2].wall, meter[2].cpu / _CPUS))) + 1
        check_at = None if meter is None else time.monotonic() + timeout / 1000
        while True:
            frame = self._complete()  # first: a whole reply stands, even if the child ended right after it
            if frame is not None:
                return frame
            if check_at is not None:
                now = time.monotonic()
                if now >= check_at:  # also while a reply trickles in byte by byte
                    check_at = now + self._wait_ms(*meter) / 1000  # type: ignore[misc]
                timeout = int(1000 * (check_at - now)) + 1
            events = self.poller.poll(timeout)
            if any(fd == self.fd for fd, _ in events):
                try:
                    n = self.sock.recv_into(self.chunk)
                except OSError:
                    raise Gone() from None
                if not n:
                    raise Gone()
                self.buf += self.view[:n]
            elif events:
                self._threads(events[0][1])

    def _threads(self, events: int) -> None:
        """A thread clone waits for an answer (or, POLLHUP, no thread of the child is left to ask)."""
        if not events & select.POLLIN:
            self.poller.unregister(self.cap.listener)  # type: ignore[union-attr]
            return
        self.cap.answer()  # type: ignore[union-attr]
        if self.cap.refused > threadcap.MAX_REFUSED:  # type: ignore[union-attr]
            raise ThreadStorm()

    def _complete(self) -> bytes | None:
        buf = self.buf
        if len(buf) < 4:
            return None
        (size,) = _HDR.unpack_from(buf)
        if size > JSON_LIMIT:  # only a stdin program's output may be larger: its first byte says so
            if size > MAX_RAW:
                raise Garbled(f"a reply of {size} bytes, over the {MAX_RAW}-byte limit")
            if len(buf) < 5:
                return None
            if buf[4:5] != RAW:
                raise Garbled(f"a reply of {size} bytes, over the {JSON_LIMIT}-byte limit")
        if len(buf) < 4 + size:
            return None
        frame = bytes(buf[4:4 + size])
        del buf[:4 + size]
        return frame

    def _wait_ms(self, cpu0: float, t0: float, lim: Limits) -> int:
        """How long to wait for the reply before measuring again; OverLimit once a limit is passed."""
        sample = procstat.sample(self.stat_fd)  # type: ignore[arg-type]
        if sample is None:
            raise Gone()
        used, elapsed = sample[0] - cpu0, time.monotonic() - t0
        if used > lim.cpu:
            raise OverLimit("cpu", lim.cpu, used, elapsed, lim.what)
        if elapsed > lim.wall:
            raise OverLimit("wall", lim.wall, used, elapsed, lim.what)
        rate = min(_CPUS, max(1, sample[1]))  # CPU seconds per second, at most
        wait = min(lim.wall - elapsed, (lim.cpu - used) / rate)
        return int(1000 * max(MIN_WAIT, wait)) + 1

    @staticmethod
    def _decode(frame: bytes):
        """A RAW frame as {"out": text}; else the JSON value (plain data only: json.loads builds nothing else)."""
        if frame[:1] == RAW:
            return {"out": frame[1:].decode("utf-8", "replace")}
        try:
            return json.loads(frame)
        except (ValueError, RecursionError) as e:  # bytes that are not JSON, absurd nesting
            raise Garbled(str(e)[:100]) from None
