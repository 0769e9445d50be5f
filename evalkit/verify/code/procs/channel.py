"""The judge's end of one child's socket: requests out, replies in, each call's CPU and wall time
measured from outside the program (stdlib only).

Why here and not in the child: a timer inside the program's process is the program's to cancel,
ignore or replace (a correct but too slow program once did exactly that and passed). The judge
reads the child's CPU time from the kernel (procstat.py, through the /proc/PID/stat descriptor the
fork server opened) before and after each call and while it waits, and gives up on the call (the
verdict: timeout) when the call used more than its CPU limit or its wall-clock limit. The child
can neither see nor change either measurement. A call's CPU time is the whole process's (all its
threads) between the request and the reply, so work moved to a thread still counts.

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

import procstat

RAW = b"\x00"  # child.RAW
JSON_LIMIT = 4 << 20
MAX_RAW = (64 << 20) + 1  # child.MAX_REPLY and the RAW byte
_HDR = struct.Struct("!I")
_CPUS = max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
MIN_WAIT = 0.01  # the CPU clock's resolution (one tick)


class Gone(BaseException):
    """The sandboxed program stopped answering (exited, killed, out of CPU). Not catchable by tests."""


class Garbled(BaseException):
    """The program wrote something that is not a reply onto the test socket. Not catchable by tests."""


class OverLimit(BaseException):
    """One call used more than its CPU or wall-clock limit. Not catchable by tests."""

    def __init__(self, kind: str, limit: float, cpu: float | None, wall: float):
        super().__init__(kind)
        self.kind, self.limit, self.cpu, self.wall = kind, limit, cpu, wall

    def detail(self) -> str:
        if self.kind == "cpu":
            return f"CPU time limit of {self.limit:g}s for one call exceeded (it used {self.cpu:.2f}s of CPU)"
        if self.cpu is None:
            return f"wall-clock limit of {self.limit:g}s for one call exceeded (the program did not read its request)"
        return f"wall-clock limit of {self.limit:g}s for one call exceeded (it used {self.cpu:.2f}s of CPU in that time)"


class Channel:
    def __init__(self, sock, stat_fd: int | None, call_cpu: float | None, call_wall: float | None):
        self.sock, self.fd = sock, sock.fileno()
        self.stat_fd, self.call_cpu, self.call_wall = stat_fd, call_cpu, call_wall
        self.buf = bytearray()
        self.poller = select.poll()
        self.poller.register(self.fd, select.POLLIN)
        self.cpu_mark: float | None = None  # the child's CPU time when the last call ended

    def send(self, data: bytes, wall: float | None = None) -> None:
        """A request; a child that does not read it within `wall` seconds is over its wall-clock limit."""
        try:
            self.sock.settimeout(wall)
            self.sock.sendall(_HDR.pack(len(data)) + data)
        except socket.timeout:
            raise OverLimit("wall", wall, None, wall) from None  # type: ignore[arg-type]
        except OSError:
            raise Gone() from None
        finally:
            self.sock.settimeout(None)

    def hello(self):
        """The child's first reply (loading the program: only the whole sample's limits apply)."""
        return self._decode(self._frame(None))

    def call(self, data: bytes):
        """Send one request and return its reply, under the per-call limits when there are any."""
        if not self.call_cpu or self.stat_fd is None:
            self.send(data)
            return self._decode(self._frame(None))
        start = self.cpu_mark if self.cpu_mark is not None else self._cpu()
        begun = time.monotonic()
        self.send(data, self.call_wall)
        frame = self._frame((start, begun))
        used = self._cpu() - start
        if used > self.call_cpu:
            raise OverLimit("cpu", self.call_cpu, used, time.monotonic() - begun)
        self.cpu_mark = start + used
        return self._decode(frame)

    def _cpu(self) -> float:
        c = procstat.cpu(self.stat_fd)  # type: ignore[arg-type]
        if c is None:
            raise Gone()
        return c

    def _frame(self, meter) -> bytes:
        """The next whole frame; `meter` = (CPU, time) at the call's start, or None for no per-call limit."""
        while True:
            frame = self._complete()
            if frame is not None:
                return frame
            timeout = -1 if meter is None else self._wait_ms(*meter)
            if self.poller.poll(timeout):
                try:
                    chunk = self.sock.recv(1 << 20)
                except OSError:
                    raise Gone() from None
                if not chunk:
                    raise Gone()
                self.buf += chunk

    def _complete(self) -> bytes | None:
        if len(self.buf) < _HDR.size:
            return None
        (size,) = _HDR.unpack_from(self.buf)
        limit = MAX_RAW if self.buf[_HDR.size:_HDR.size + 1] == RAW else JSON_LIMIT
        if size > limit:
            raise Garbled(f"a reply of {size} bytes, over the {limit}-byte limit")
        if len(self.buf) < _HDR.size + size:
            return None
        frame = bytes(self.buf[_HDR.size:_HDR.size + size])
        del self.buf[:_HDR.size + size]
        return frame

    def _wait_ms(self, cpu0: float, t0: float) -> int:
        """How long to wait for the reply before measuring again; OverLimit once a limit is passed."""
        sample = procstat.sample(self.stat_fd)  # type: ignore[arg-type]
        if sample is None:
            raise Gone()
        used, elapsed = sample[0] - cpu0, time.monotonic() - t0
        if used > self.call_cpu:  # type: ignore[operator]
            raise OverLimit("cpu", self.call_cpu, used, elapsed)  # type: ignore[arg-type]
        if elapsed > self.call_wall:  # type: ignore[operator]
            raise OverLimit("wall", self.call_wall, used, elapsed)  # type: ignore[arg-type]
        rate = min(_CPUS, max(1, sample[1]))  # CPU seconds per second, at most
        wait = min(self.call_wall - elapsed, (self.call_cpu - used) / rate)  # type: ignore[operator]
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
