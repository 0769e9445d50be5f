"""The fork server: a small interpreter, started before any model is loaded, that forks per sample.

Started by sandbox.py as `python -s worker.py FD` (inside bubblewrap when available) with a
scrubbed environment; FD is its control socket to the harness. Per job it receives the program
(prompt + completion) and two descriptors it never reads or writes: the pipe carrying the tests
(with the per-run token) and the pipe for the verdict. It forks the child (child.py, model code)
first, then the judge (judge.py, trusted tests), hands each only its own descriptors, and reports
how the child ended (exit status, CPU time) after killing whatever is left at the wall deadline.
Because this process never sees tests, expected outputs or tokens, a forked child cannot find
them in inherited memory.
"""

from __future__ import annotations

import ctypes
import json
import os
import pickle
import select
import shutil
import signal
import socket
import sys
import tempfile
import time

sys.dont_write_bytecode = True

import child  # noqa: E402
import judge  # noqa: E402
import seccomp  # noqa: E402
import wire  # noqa: E402

# Imported once here so that each forked child gets them for free.
PRELOAD = ("math", "re", "string", "itertools", "collections", "functools", "heapq", "bisect", "typing", "random",
           "statistics", "fractions", "decimal", "copy", "hashlib", "datetime", "operator", "json")
# Not numpy: its mappings make every fork ~10x slower (0.4 -> 5 ms); programs that need it import it.
_LIBC = ctypes.CDLL(None)


def main() -> None:
    ctl = socket.socket(fileno=int(sys.argv[1]))
    _LIBC.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the harness
    seccomp.prepare()
    allowed = os.environ.get("EVALKIT_SANDBOX_MODULES", "numpy")
    if allowed != "*":
        sys.meta_path.insert(0, OnlyModules(set(sys.stdlib_module_names) | set(filter(None, allowed.split(",")))))
    for name in PRELOAD:
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 -- optional
            pass
    wire.send(ctl, json.dumps({"hello": True, "seccomp": seccomp.supported(), "pid": os.getpid()}).encode())
    while True:
        data, fds = wire.recv(ctl, maxfds=2)
        if data is None:
            return
        wire.send(ctl, json.dumps(run_job(json.loads(data), fds)).encode())


class OnlyModules:
    """Programs see the standard library plus an allow-list (default numpy), as the reference harnesses
    assume: a sample importing pandas must not pass here and fail there. (Fidelity, not security:
    a program may remove this finder, and reading files is allowed anyway.)"""

    def __init__(self, allowed: set[str]):
        self.allowed = allowed

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in self.allowed:
            return None
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def run_job(job: dict, fds: list[int]) -> dict:
    test_r, verdict_w = fds
    workdir = tempfile.mkdtemp(prefix="evalkit-")
    a, b = socket.socketpair()
    start = time.monotonic()
    me = os.getpid()
    pid_c = os.fork()
    if pid_c == 0:
        _orphan_guard(me)
        _child_entry(b.fileno(), job, workdir)
    pid_j = os.fork()
    if pid_j == 0:
        _orphan_guard(me)
        _judge_entry(a.fileno(), test_r, verdict_w)
    for s in (a, b):
        s.close()
    os.close(test_r)
    os.close(verdict_w)
    report = _wait(pid_c, pid_j, start + job["wall"])
    report["wall"] = time.monotonic() - start
    shutil.rmtree(workdir, ignore_errors=True)
    return report


def _orphan_guard(parent: int) -> None:
    """Die with the fork server (also when it was killed), so nothing outlives it even without bwrap."""
    _LIBC.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def _child_entry(sock_fd: int, job: dict, workdir: str) -> None:
    try:
        job["seccomp"] = child.confine(sock_fd, workdir, job["cpu"], job["mem_mb"])
        child.main(job)
    finally:
        os._exit(0)


def _judge_entry(sock_fd: int, test_r: int, verdict_w: int) -> None:
    code = 0
    try:
        keep = sorted((sock_fd, test_r, verdict_w))
        lo = 3
        for fd in keep:
            os.closerange(lo, fd)
            lo = fd + 1
        os.closerange(lo, 65536)
        _LIBC.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: no ptrace, no /proc/PID/mem
        payload = pickle.loads(_read_all(test_r))
        verdict = judge.run(socket.socket(fileno=sock_fd), payload)
        verdict["token"] = payload["token"]
        data = json.dumps(verdict).encode()
        while data:
            data = data[os.write(verdict_w, data):]
    except BaseException:  # noqa: BLE001 -- no verdict means error
        if os.environ.get("EVALKIT_SANDBOX_DEBUG"):
            import traceback

            traceback.print_exc()
        code = 1
    finally:
        os._exit(code)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _wait(pid_c: int, pid_j: int, deadline: float) -> dict:
    """Reap both; at the deadline kill them; once the judge is done the child has nothing left to do."""
    pidfds = {os.pidfd_open(pid_c): pid_c, os.pidfd_open(pid_j): pid_j}
    poller = select.poll()
    for fd in pidfds:
        poller.register(fd, select.POLLIN)
    out: dict = {"deadline": False}
    while pidfds:
        left = deadline - time.monotonic()
        if left <= 0 and not out["deadline"]:
            out["deadline"] = True
            _kill(pid_c, group=True)
            _kill(pid_j)
        for fd, _ in poller.poll(max(0, left) * 1000 if not out["deadline"] else None):
            pid = pidfds.pop(fd)
            poller.unregister(fd)
            os.close(fd)
            _, status, ru = os.wait4(pid, 0)
            info = {"signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                    "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                    "cpu": ru.ru_utime + ru.ru_stime}
            if pid == pid_c:
                out["child"] = {**info, "before_judge": "judge" not in out}
            else:
                out["judge"] = info
                if pid_c in pidfds.values():
                    _kill(pid_c, group=True)
    return out


def _kill(pid: int, group: bool = False) -> None:
    try:
        os.killpg(pid, signal.SIGKILL) if group else os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        if group:
            _kill(pid)


if __name__ == "__main__":
    main()
