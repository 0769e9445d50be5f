"""The fork server: a small interpreter, started before any model is loaded, that forks per sample.

Started by sandbox.py as `python -s worker.py FD` (inside bubblewrap when available) with a
scrubbed environment; FD is its control socket to the harness. Per job it receives the program
(prompt + completion) and one descriptor: the child's end of a socket whose other end the harness
gave to the judge (judge.py, a separate process). It forks the child (child.py, model code), hands
it only that socket, and reports how the child ended (exit status, CPU time). It kills the child's
process group at the wall deadline, or as soon as the judge hangs up (the verdict is in). Because
this process never sees tests, expected outputs or tokens, a forked child cannot find them in
inherited memory.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import shutil
import signal
import socket
import sys
import tempfile
import time

sys.dont_write_bytecode = True

import child  # noqa: E402
import landlock  # noqa: E402
import linux  # noqa: E402
import seccomp  # noqa: E402
import wire  # noqa: E402

# Imported once here so that each forked child gets them for free.
PRELOAD = ("math", "re", "string", "itertools", "collections", "functools", "heapq", "bisect", "typing", "random",
           "statistics", "fractions", "decimal", "copy", "hashlib", "datetime", "operator", "json")
# Not numpy: its mappings make every fork ~10x slower (0.4 -> 5 ms); programs that need it import it.
_LIBC = ctypes.CDLL(None)


def main() -> None:
    ctl = socket.socket(fileno=int(sys.argv[1]))
    _LIBC.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # die with the harness
    _LIBC.prctl(linux.PR_SET_DUMPABLE, 0, 0, 0, 0)  # inherited by children: no /proc/PID/mem reads among them
    seccomp.prepare()
    allowed = os.environ.get("EVALKIT_SANDBOX_MODULES", "numpy")
    if allowed != "*":
        sys.meta_path.insert(0, OnlyModules(set(sys.stdlib_module_names) | set(filter(None, allowed.split(",")))))
    child.EXTRA_MODULES = tuple(m for m in allowed.split(",") if m and m != "*") if allowed != "*" else ("numpy",)
    for name in PRELOAD:
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 -- optional
            pass
    child.rehearse()
    sealed = seccomp.works()  # then children cannot write anywhere: they can share one empty directory
    home = tempfile.mkdtemp(prefix="evalkit-")
    os.chdir(home)
    confined = landlock.prepare()  # what children may read: see landlock.py
    os.environ.clear()  # what children start from
    os.environ.update({**child.ENV, "HOME": home, "TMPDIR": home})
    null = os.open(os.devnull, os.O_RDWR)
    wire.send(ctl, json.dumps({"hello": True, "seccomp": sealed, "landlock": confined}).encode())
    try:
        while True:
            data, fds = wire.recv(ctl, maxfds=1)
            if data is None:
                return
            wire.send(ctl, json.dumps(run_job(json.loads(data), fds, null, sealed)).encode())
    finally:
        shutil.rmtree(home, ignore_errors=True)


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


def run_job(job: dict, fds: list[int], null: int, sealed: bool) -> dict:
    (sock_fd,) = fds
    workdir = None if sealed else tempfile.mkdtemp(prefix="evalkit-")
    start = time.monotonic()
    me = os.getpid()
    pid = os.fork()
    if pid == 0:
        _orphan_guard(me)
        _child_entry(sock_fd, null, job, workdir)
    report = _wait(pid, sock_fd, start + job["wall"])
    report["wall"] = time.monotonic() - start
    if workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def _orphan_guard(parent: int) -> None:
    """Die with the fork server (also when it was killed), so nothing outlives it even without bwrap."""
    _LIBC.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def _child_entry(sock_fd: int, null: int, job: dict, workdir: str | None) -> None:
    try:
        child.confine(sock_fd, null, job["cpu"], job["mem_mb"], workdir)
        child.main(job)
    finally:
        os._exit(0)


def _wait(pid: int, sock_fd: int, deadline: float) -> dict:
    """Reap the child. Kill its group at the deadline, or once the judge hung up its end of the
    socket (the tests are over: whatever the program still runs is of no use). Closing our copy of
    the socket after the child is gone is what tells the judge, if it still waits, that it is gone."""
    pidfd = os.pidfd_open(pid)
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    poller.register(sock_fd, select.POLLRDHUP)  # not POLLIN: the child's requests are not ours to read
    out: dict = {"deadline": False}
    killed = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 and not killed:
                out["deadline"] = killed = True
                _kill(pid, group=True)
                poller.unregister(sock_fd)
            events = poller.poll(None if killed else max(0.0, left) * 1000)
            if any(fd == pidfd for fd, _ in events):
                break
            if events and not killed:  # the judge closed its end
                killed = True
                _kill(pid, group=True)
                poller.unregister(sock_fd)
        _, status, ru = os.wait4(pid, 0)
    finally:
        os.close(pidfd)
        os.close(sock_fd)
    out["child"] = {"signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                    "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                    "cpu": ru.ru_utime + ru.ru_stime}
    return out


def _kill(pid: int, group: bool = False) -> None:
    try:
        os.killpg(pid, signal.SIGKILL) if group else os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        if group:
            _kill(pid)


if __name__ == "__main__":
    main()
