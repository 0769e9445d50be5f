"""The fork server: a small interpreter, started before any model is loaded, that forks per sample.

Started by sandbox.py as `python -s -S worker.py FD` (inside bubblewrap when available) with a
scrubbed environment; FD is its control socket to the harness. Per job it receives limits only
(CPU, memory, wall clock) and one descriptor: the child's end of a socket whose other end the
harness holds. It never receives a program, a reference solution, a test or an expected output:
the harness sends the child its program over that socket after the fork, so what a child inherits
is this process's memory, which never held any of them (the one program it ever ran is
child.rehearse's constant). It forks the child (child.py, model code), kills the child's process
group at the wall deadline or as soon as the judge hangs up (the verdict is in), and reports how
the child ended. (The judge answers the child's thread clones; only where seccomp cannot notify
them does this process watch the thread count.)
"""

from __future__ import annotations

import ctypes
import gc
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
import imports  # noqa: E402
import landlock  # noqa: E402
import linux  # noqa: E402
import procstat  # noqa: E402
import seccomp  # noqa: E402
import threadcap  # noqa: E402
import wire  # noqa: E402

# Imported once here so that each forked child gets them for free.
PRELOAD = ("math", "re", "string", "itertools", "collections", "functools", "heapq", "bisect", "typing", "random",
           "statistics", "fractions", "decimal", "copy", "hashlib", "datetime", "operator", "json")
# Not numpy: its mappings make every fork ~10x slower (0.4 -> 5 ms); programs that need it import it. Not
# threading: its at-fork handler runs in every child (about 100 page faults, 0.4 ms of CPU each).
_LIBC = ctypes.CDLL(None)
CONFIG_ENV = "EVALKIT_SANDBOX_CONFIG"


def main() -> None:
    ctl = socket.socket(fileno=int(sys.argv[1]))
    _LIBC.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # die with the harness
    _LIBC.prctl(linux.PR_SET_DUMPABLE, 0, 0, 0, 0)  # inherited by children: no /proc/PID/mem reads among them
    config = json.loads(os.environ.pop(CONFIG_ENV))
    if not os.access("/proc/self/stat", os.R_OK):  # the judge measures each call through a child's stat file
        sys.exit("/proc is not mounted here: the judge could not measure the programs' CPU time")
    seccomp.prepare()
    imports.install(config, only=True)
    imports.site_builtins()
    child.EXTRA_MODULES = tuple(config["module_paths"]) if config["modules"] != "*" else ("numpy",)
    for name in PRELOAD:
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 -- optional
            pass
    child.rehearse()
    filter_mode = seccomp.works() if config.get("seccomp", True) else ""
    if not filter_mode:  # a child could fork: whatever it leaves behind is reparented here, to be swept
        _LIBC.prctl(linux.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    home = tempfile.mkdtemp(prefix="evalkit-")
    os.chdir(home)
    confined = landlock.prepare(config["read"])  # what children may read: the harness's explicit list
    os.environ.clear()  # what children start from
    os.environ.update({**child.ENV, "HOME": home, "TMPDIR": home})
    null = os.open(os.devnull, os.O_RDWR)
    wire.send(ctl, json.dumps({"hello": True, "seccomp": bool(filter_mode), "threads": filter_mode == "notify",
                               "landlock": confined}).encode())
    gc.freeze()  # what exists now is never collected: children's collections do not touch (copy) its pages
    try:
        while True:
            data, fds = wire.recv(ctl, maxfds=1)
            if data is None:
                return
            job = {**json.loads(data), "max_threads": config.get("max_threads", threadcap.MAX_THREADS)}
            wire.send(ctl, json.dumps(run_job(job, fds, null, filter_mode)).encode())
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run_job(job: dict, fds: list[int], null: int, filter_mode: str) -> dict:
    (sock_fd,) = fds
    workdir = None if filter_mode else tempfile.mkdtemp(prefix="evalkit-")
    start = time.monotonic()
    me = os.getpid()
    pid = os.fork()
    if pid == 0:
        _orphan_guard(me)
        _child_entry(sock_fd, null, job, workdir, filter_mode)
    watched = filter_mode != "notify"  # without notifications this process watches the threads
    stat = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC) if watched else None
    try:
        report = Watch(pid, sock_fd, stat, job["max_threads"], processes=not filter_mode).wait(start + job["wall"])
    finally:
        if stat is not None:
            os.close(stat)
    report["wall"] = time.monotonic() - start
    if workdir:
        shutil.rmtree(workdir, ignore_errors=True)
        _sweep()
    return report


def _sweep() -> None:
    """Without seccomp: kill and reap every process left below this one (a forked child's leftovers,
    reparented here), until none is left."""
    for _ in range(100):
        kids = procstat.descendants(os.getpid())
        if not kids:
            return
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            while True:
                os.waitpid(-1, 0)
        except ChildProcessError:
            pass


def _orphan_guard(parent: int) -> None:
    """Die with the fork server (also when it was killed), so nothing outlives it even without bwrap."""
    _LIBC.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


def _child_entry(sock_fd: int, null: int, job: dict, workdir: str | None, filter_mode: str) -> None:
    try:
        child.confine(sock_fd, null, job, workdir, filter_mode)
        child.main()
    finally:
        os._exit(0)


class Watch:
    """Waits for one child: reaps it, kills its group at the deadline, once the judge hung up its end of
    the socket (the tests are over: whatever the program still runs is of no use), or, given its stat
    file (no thread notifications), above the thread cap, and without seccomp at its first process.
    Closing our copy of the socket after the child is gone is what tells the judge, if it still waits,
    that it is gone."""

    def __init__(self, pid: int, sock_fd: int, stat: int | None, max_threads: int, processes: bool = False):
        self.pid, self.sock_fd, self.stat, self.max_threads = pid, sock_fd, stat, max_threads
        self.processes = processes  # no seccomp: also watch for processes the child forked
        self.pidfd = os.pidfd_open(pid)
        self.poller = select.poll()
        self.poller.register(self.pidfd, select.POLLIN)
        self.poller.register(sock_fd, select.POLLRDHUP)  # not POLLIN: the child's requests are not ours to read
        self.killed = False
        self.out: dict = {"deadline": False}

    def wait(self, deadline: float) -> dict:
        try:
            while not self._step(deadline):
                pass
            _, status, ru = os.wait4(self.pid, 0)
        finally:
            os.close(self.pidfd)
            os.close(self.sock_fd)
        self.out["child"] = {"signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
                             "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
                             "cpu": ru.ru_utime + ru.ru_stime}
        return self.out

    def _step(self, deadline: float) -> bool:
        """One wait; True once the child has ended."""
        left = deadline - time.monotonic()
        if left <= 0 and not self.killed:
            self.out["deadline"] = True
            self._kill()
        timeout = None if self.killed else left
        if self.stat is not None and not self.killed:  # watch the thread count
            timeout = min(left, 0.02)
        for fd, _ in self.poller.poll(None if timeout is None else max(0.0, timeout) * 1000):
            if fd == self.pidfd:
                return True
            self._kill()  # the judge closed its end
        if self.stat is not None and not self.killed:
            self._patrol()
        return False

    def _patrol(self) -> None:
        """Kill the child above the thread cap; without seccomp, at its first process."""
        n = threadcap.over(self.stat, self.max_threads)  # type: ignore[arg-type]
        if n is not None:
            self.out["threads"] = n
            self._kill()
        elif self.processes and (kids := procstat.descendants(self.pid)):
            self.out["processes"] = len(kids)
            self._kill(kids)

    def _kill(self, others: list[int] = ()) -> None:
        """SIGKILL to the child's process group, and to `others` (processes that left the group)."""
        if self.killed:
            return
        self.killed = True
        self.poller.unregister(self.sock_fd)
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        for pid in (self.pid, *others, *(procstat.descendants(self.pid) if self.processes else ())):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


if __name__ == "__main__":
    main()
