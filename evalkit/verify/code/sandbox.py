"""Harness side of the sandbox: start the fork server and the judge (in bubblewrap when present)
and run one sample through them.

Per sample the harness makes a socket pair: one end goes with the program to the fork server,
which forks the child onto it; the other goes with the problem key and a fresh random token to the
judge, which runs the tests through it. The verdict comes back from the judge, checked against the
token; the fork server's report says how the child ended.
"""

from __future__ import annotations

import json
import os
import pickle
import queue
import secrets
import shutil
import site
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .procs import wire
from .procs.linux import PR_SET_DUMPABLE

PROCS = Path(__file__).resolve().parent / "procs"  # the scripts, and all that is bound into bubblewrap of evalkit
SANDBOX_ENV = "EVALKIT_SANDBOX"  # auto | bwrap | none


@dataclass
class Outcome:
    verdict: dict | None  # the judge's verdict, None when none arrived with the right token
    report: dict | None  # the fork server's report, None when the server died


def bwrap_command() -> list[str] | None:
    """bubblewrap around the fork server: no network, read-only system, private /tmp, no home."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return None
    # The private /tmp first: binds below it (a checkout or venv under /tmp) must land on top of it.
    cmd = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--tmpfs", "/tmp"]
    binds = {"/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/alternatives", "/etc/ld.so.cache", str(PROCS)}
    for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *site.getsitepackages()}:
        binds.update({p, os.path.realpath(p)})
    binds.add(os.path.dirname(os.path.realpath(sys.executable)))
    for p in sorted(b for b in binds if os.path.exists(b)):
        cmd += ["--ro-bind", p, p]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--clearenv", "--chdir", "/tmp"]
    return cmd


HASH_SEED = "0"


def _env(hash_seed: str = HASH_SEED) -> dict[str, str]:
    # One fixed hash seed for every fork server: set and dict-of-str orders are the same when the
    # reference outputs are collected and when a sample runs (EvalPlus gets this from forking).
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": hash_seed, "PYTHONDONTWRITEBYTECODE": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "HOME": "/tmp", **{k: v for k, v in os.environ.items() if k == "EVALKIT_SANDBOX_DEBUG"}}


class Server:
    """One helper process (`python -s SCRIPT FD`, in bubblewrap when the mode says so) and the
    control socket to it."""

    def __init__(self, script: str, mode: str, env: dict[str, str]):
        self.script, self.mode, self.env = script, mode, env
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.hello: dict = {}

    @property
    def alive(self) -> bool:
        return self.sock is not None

    def start(self) -> None:
        ours, theirs = socket.socketpair()
        argv = [sys.executable, "-s", str(PROCS / self.script), str(theirs.fileno())]
        if self.mode == "bwrap":
            env_args = [a for k, v in self.env.items() for a in ("--setenv", k, v)]
            argv = bwrap_command() + env_args + argv  # type: ignore[operator]
        self.proc = _spawn(lambda: subprocess.Popen(
            argv, pass_fds=[theirs.fileno()], env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=None if _debug() else subprocess.PIPE, close_fds=True))
        theirs.close()
        self.sock = ours
        proc = self.proc
        hello = self.recv(60)  # None: the process is already stopped
        if hello is None:
            err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
            if proc.stderr:
                proc.stderr.close()
            raise RuntimeError(f"sandbox {self.script} failed to start ({self.mode}): {err[:300]}")
        self.hello = hello
        if self.proc.stderr:  # never read again: a full pipe must not block the process
            self.proc.stderr.close()
            self.proc.stderr = None

    def send(self, data: bytes, fds: list[int] | tuple[int, ...] = ()) -> None:
        wire.send(self.sock, data, fds)  # type: ignore[arg-type]

    def recv(self, timeout: float) -> dict | None:
        """The next JSON message; None (and the process stopped) when it died or went silent."""
        try:
            self.sock.settimeout(timeout)  # type: ignore[union-attr]
            data, _ = wire.recv(self.sock)  # type: ignore[arg-type]
            message = json.loads(data) if data is not None else None
        except (OSError, ValueError):
            message = None
        if not isinstance(message, dict):
            self.stop()
            return None
        return message

    def stop(self, grace: float = 0.0) -> None:
        """Close the control socket (an idle server then cleans up and exits), then kill. Two threads
        may stop one server at once (a grading thread that saw it die, and close() on Ctrl-C)."""
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()
        proc, self.proc = self.proc, None
        if proc is not None:
            if grace:
                try:
                    proc.wait(grace)
                except subprocess.TimeoutExpired:
                    pass
            proc.kill()
            proc.wait()
            if proc.stderr:
                proc.stderr.close()


class Worker:
    """A fork server and a judge, used by one grading thread at a time. Either is restarted
    transparently when it died."""

    def __init__(self, mode: str, modules: str = "numpy", hash_seed: str = HASH_SEED):
        self.mode, self.hash_seed = mode, hash_seed
        self.fork = Server("worker.py", mode, {**_env(hash_seed), "EVALKIT_SANDBOX_MODULES": modules})
        self.judge = Server("judge.py", mode, _env(hash_seed))

    @property
    def proc(self) -> subprocess.Popen | None:
        """The fork server's process."""
        return self.fork.proc

    @property
    def seccomp(self) -> bool:
        """Whether the fork server's children run under the seccomp filter (it probes that at start)."""
        return bool(self.fork.hello.get("seccomp"))

    @property
    def landlock(self) -> bool:
        """Whether the fork server's children run under Landlock (they read only what landlock.py lists)."""
        return bool(self.fork.hello.get("landlock"))

    def start(self) -> None:
        for server in (self.fork, self.judge):
            if not server.alive:
                server.start()

    def run(self, job: dict, key: str, tests: Callable[[], dict]) -> Outcome:
        """One sample: `job` (program, limits) to the fork server; to the judge the problem `key`, and
        `tests()` only when the judge has not cached that key yet."""
        self.start()
        token = secrets.token_hex(16)
        ours, childs = socket.socketpair()
        try:
            try:
                self.fork.send(json.dumps(job).encode(), fds=[childs.fileno()])
            except OSError:
                self.fork.stop()
                return Outcome(None, None)
            finally:
                childs.close()
            verdict = self._verdict(ours, key, tests, token, job["wall"] + 10)
        finally:
            ours.close()  # with the judge's copy gone too, the child sees the end of its requests
        report = self.fork.recv(job["wall"] + 30)
        return Outcome(verdict, report)

    def _verdict(self, sock: socket.socket, key: str, tests: Callable[[], dict], token: str, timeout: float) -> dict | None:
        try:
            self.judge.send(pickle.dumps({"key": key, "token": token}), fds=[sock.fileno()])
            v = self.judge.recv(timeout)
            if v is not None and v.get("need") == key:  # first sample of this problem for this judge
                self.judge.send(pickle.dumps({"tests": tests()}))
                v = self.judge.recv(timeout)
        except OSError:
            self.judge.stop()
            return None
        if v is not None and secrets.compare_digest(str(v.get("token", "")), token):
            return v
        return None

    def stop(self) -> None:
        """Shut down; the fork server gets a moment to remove its directory (without bwrap it is in /tmp)."""
        self.fork.stop(grace=1.0)
        self.judge.stop()


_spawn_lock = threading.Lock()
_spawn_queue: "queue.Queue" = queue.Queue()


def _spawn(make):
    """Start processes from one long-lived thread: bwrap's --die-with-parent and the worker's
    PDEATHSIG fire when the *thread* that forked them ends, and grading threads come and go."""
    with _spawn_lock:
        if not getattr(_spawn, "thread", None):
            _spawn.thread = threading.Thread(target=_spawner, name="evalkit-sandbox-spawner", daemon=True)
            _spawn.thread.start()
    done: "queue.Queue" = queue.Queue()
    _spawn_queue.put((make, done))
    ok, value = done.get()
    if not ok:
        raise value
    return value


def _spawner() -> None:
    while True:
        make, done = _spawn_queue.get()
        try:
            done.put((True, make()))
        except BaseException as e:  # noqa: BLE001 -- handed to the caller
            done.put((False, e))


def _debug() -> bool:
    return bool(os.environ.get("EVALKIT_SANDBOX_DEBUG"))


def shield_harness() -> None:
    """Without bubblewrap a program runs as this user and could read this process's memory (tests,
    expected outputs) through /proc/PID/mem. Marking the harness non-dumpable makes the kernel
    require CAP_SYS_PTRACE for that, which sandboxed programs never have. (Side effect: no core
    dumps and no same-user debugger attach for this process.)"""
    import ctypes

    ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def resolve_mode(mode: str | None = None) -> str:
    """auto: bubblewrap when it is installed and works here, else plain processes (see README)."""
    mode = mode or os.environ.get(SANDBOX_ENV, "auto")
    if mode not in ("auto", "bwrap", "none"):
        raise ValueError(f"{SANDBOX_ENV}={mode!r}: expected auto, bwrap or none")
    if mode == "none":
        return "none"
    if bwrap_command() is None:
        if mode == "bwrap":
            raise RuntimeError("bubblewrap (bwrap) is not installed; install it or set EVALKIT_SANDBOX=none")
        return "none"
    probe = Worker("bwrap")
    try:
        probe.start()
    except (RuntimeError, OSError) as e:
        if mode == "bwrap":
            raise
        print(f"evalkit: bubblewrap is installed but does not start here ({str(e)[:160]}); the code sandbox "
              f"runs without it (see README; {SANDBOX_ENV}=bwrap makes this an error)", file=sys.stderr)
        return "none"
    finally:
        probe.stop()
    return "bwrap"
