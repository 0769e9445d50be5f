"""Harness side of the sandbox: start the fork server and the judge (in bubblewrap when present)
and run one sample through them.

Per sample the harness makes a socket pair. One end goes, with the sample's limits only, to the
fork server, which forks the child onto it. The harness sends the child its program over the other
end (so the fork server never holds a program), and passes that end, the per-call limits, the
problem key and a fresh random token to the judge, which runs the tests through it. The verdict
comes back from the judge, checked against the token; the fork server's report says how the child
ended. A judge that dies (its CPU or memory limit, judge.py) is restarted for the next sample, and
the outcome says why it died.
"""

from __future__ import annotations

import json
import os
import pickle
import queue
import secrets
import shutil
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Callable

from .procs import wire
from .procs.linux import PR_SET_DUMPABLE

from . import view as views
from .view import PROCS

SANDBOX_ENV = "EVALKIT_SANDBOX"  # auto | bwrap | none
CONFIG_ENV = "EVALKIT_SANDBOX_CONFIG"  # what a sandbox process is told: see view.View.config
JUDGE_CPU_EXTRA = 5.0  # the judge's CPU budget per sample: the sample's whole CPU limit + this
MAX_THREADS = 64  # per sample (procs/threadcap.py); concurrent.futures' default pool is at most 32


@dataclass
class Outcome:
    verdict: dict | None  # the judge's verdict, None when none arrived with the right token
    report: dict | None  # the fork server's report, None when the server died
    judge: dict | None = None  # the judge died during this sample: Server.ended ({"signal": n} ...) + its CPU "limit"


def bwrap_command(view: views.View) -> list[str] | None:
    """bubblewrap around a sandbox process: no network, a private /tmp, no home; read-only binds of
    the paths of `view` (view.py), nothing else of the file system."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return None
    # The private /tmp first: binds below it (a checkout or venv under /tmp) must land on top of it.
    cmd = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--tmpfs", "/tmp"]
    for p in view.binds:
        if not p.startswith(("/proc/", "/dev/")):
            cmd += ["--ro-bind", p, p]
    for p in view.hidden:  # package directories inside the standard library's
        cmd += ["--tmpfs", p, "--remount-ro", p]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--clearenv", "--chdir", "/tmp"]
    return cmd


HASH_SEED = "0"


def _env(hash_seed: str = HASH_SEED) -> dict[str, str]:
    # One fixed hash seed for every fork server: set and dict-of-str orders are the same when the
    # reference outputs are collected and when a sample runs (EvalPlus gets this from forking).
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": hash_seed, "PYTHONDONTWRITEBYTECODE": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "HOME": "/tmp", **{k: v for k, v in os.environ.items() if k == "EVALKIT_SANDBOX_DEBUG"}}


class Server:
    """One helper process (`python -s -S SCRIPT FD`, in bubblewrap when the mode says so) and the
    control socket to it. `config` (JSON in its environment) says what it may import and read."""

    def __init__(self, script: str, mode: str, env: dict[str, str], view: views.View, config: dict):
        self.script, self.mode, self.view, self.config = script, mode, view, config
        self.env = {**env, CONFIG_ENV: json.dumps(config)}
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.hello: dict = {}
        self.ended: dict | None = None  # how it last stopped: {"timeout": bool, "signal": n, "code": n}

    @property
    def alive(self) -> bool:
        return self.sock is not None

    def start(self) -> None:
        ours, theirs = socket.socketpair()
        argv = [views.interpreter(), "-s", "-S", str(PROCS / self.script), str(theirs.fileno())]
        if self.mode == "bwrap":
            env_args = [a for k, v in self.env.items() for a in ("--setenv", k, v)]
            argv = bwrap_command(self.view) + env_args + argv  # type: ignore[operator]
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
            raise RuntimeError(f"sandbox {self.script} failed to start ({self.mode}): {err[-300:]}")
        self.hello = hello
        if self.proc.stderr:  # never read again: a full pipe must not block the process
            self.proc.stderr.close()
            self.proc.stderr = None

    def send(self, data: bytes, fds: list[int] | tuple[int, ...] = ()) -> None:
        wire.send(self.sock, data, fds)  # type: ignore[arg-type]

    def recv(self, timeout: float) -> dict | None:
        """The next JSON message; None (and the process stopped) when it died or went silent."""
        timed_out = False
        try:
            self.sock.settimeout(timeout)  # type: ignore[union-attr]
            data, _ = wire.recv(self.sock)  # type: ignore[arg-type]
            message = json.loads(data) if data is not None else None
        except socket.timeout:
            message, timed_out = None, True
        except (OSError, ValueError):
            message = None
        if not isinstance(message, dict):
            self.stop(grace=0.0 if timed_out else 2.0, timed_out=timed_out)
            return None
        return message

    def stop(self, grace: float = 0.0, timed_out: bool = False) -> None:
        """Close the control socket (an idle server then cleans up and exits), then kill. Records how it
        ended (`ended`): a process that died on its own within `grace` keeps its own exit status. Two
        threads may stop one server at once (a grading thread that saw it die, and close() on Ctrl-C)."""
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
            self.ended = {"timeout": timed_out, **_exit_status(proc.returncode, self.mode)}
            if proc.stderr:
                proc.stderr.close()


def _exit_status(rc: int, mode: str) -> dict:
    """{"signal": n} or {"code": n}; bubblewrap exits with 128 + the signal that ended its command."""
    if rc < 0:
        return {"signal": -rc}
    if mode == "bwrap" and rc > 128:
        return {"signal": rc - 128}
    return {"code": rc}


class Worker:
    """A fork server and a judge, used by one grading thread at a time. Either is restarted
    transparently when it died."""

    def __init__(self, mode: str, modules: str = "numpy", hash_seed: str = HASH_SEED, judge_mem_mb: int = 4096,
                 seccomp: bool = True):
        self.mode, self.hash_seed = mode, hash_seed
        fork_view = _view(modules)
        fork_config = {**fork_view.config(modules), "seccomp": seccomp, "max_threads": MAX_THREADS}
        judged = modules if modules == "*" or "numpy" in modules.split(",") else f"{modules},numpy"
        judge_view = _view(judged)
        judge_config = {**judge_view.config(judged), "judge_mem_mb": judge_mem_mb}
        self.fork = Server("worker.py", mode, _env(hash_seed), fork_view, fork_config)
        self.judge = Server("judge.py", mode, _env(hash_seed), judge_view, judge_config)

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
        """Whether the fork server's children run under Landlock (they read only the harness's list)."""
        return bool(self.fork.hello.get("landlock"))

    def start(self) -> None:
        for server in (self.fork, self.judge):
            if not server.alive:
                server.start()

    def run(self, job: dict, program: dict, key: str, tests: Callable[[], dict], limits: dict) -> Outcome:
        """One sample: `job` (the child's limits) to the fork server; `program` to the child, over its own
        socket; to the judge that socket, the problem `key`, the per-call `limits`, and `tests()` only when
        the judge has not cached that key yet."""
        self.start()
        ours, childs = socket.socketpair()
        try:
            try:
                self.fork.send(json.dumps(job).encode(), fds=[childs.fileno()])
            except OSError:
                self.fork.stop()
                return Outcome(None, None)
            finally:
                childs.close()
            _send_program(ours, program)
            # The judge stops itself at its CPU budget; on a busy machine that can take many times as long.
            verdict = self._verdict(ours, key, tests, limits, job["wall"] + 10 * limits["judge_cpu"] + 30)
        finally:
            ours.close()  # with the judge's copy gone too, the child sees the end of its requests
        report = self.fork.recv(job["wall"] + 30)
        died = None
        if verdict is None and self.judge.ended is not None:
            died = {**self.judge.ended, "limit": limits["judge_cpu"]}
        return Outcome(verdict, report, died)

    def _verdict(self, sock: socket.socket, key: str, tests: Callable[[], dict], limits: dict, timeout: float) -> dict | None:
        token = secrets.token_hex(16)
        self.judge.ended = None
        try:
            self.judge.send(pickle.dumps({"key": key, "token": token, **limits}), fds=[sock.fileno()])
            v = self.judge.recv(timeout)
            if v is not None and v.get("need") == key:  # first sample of this problem for this judge
                self.judge.send(pickle.dumps({"tests": tests()}))
                v = self.judge.recv(timeout)
        except OSError:
            self.judge.stop(grace=2.0)
            return None
        if v is not None and v.pop("restart", False):
            self.judge.stop(grace=2.0)  # it exits after a MemoryError; the next sample starts a fresh one
            self.judge.ended = None
        if v is not None and secrets.compare_digest(str(v.get("token", "")), token):
            return v
        return None

    def stop(self) -> None:
        """Shut down; the fork server gets a moment to remove its directory (without bwrap it is in /tmp)."""
        self.fork.stop(grace=1.0)
        self.judge.stop()


def _send_program(sock: socket.socket, program: dict) -> None:
    """The child's first frame. A child that died already is the judge's to find out (it sees the end)."""
    try:
        sock.settimeout(30)
        wire.send(sock, json.dumps(program).encode())
    except OSError:
        pass
    finally:
        sock.settimeout(None)


_views: dict[str, views.View] = {}


def _view(modules: str) -> views.View:
    """view.build, once per allow-list in this process."""
    if modules not in _views:
        _views[modules] = views.build(modules)
    return _views[modules]


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
    """auto: bubblewrap when it is installed and works here, else plain processes (see docs/code-sandbox.md)."""
    mode = mode or os.environ.get(SANDBOX_ENV, "auto")
    if mode not in ("auto", "bwrap", "none"):
        raise ValueError(f"{SANDBOX_ENV}={mode!r}: expected auto, bwrap or none")
    if mode == "none":
        return "none"
    if shutil.which("bwrap") is None:
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
              f"runs without it (see docs/code-sandbox.md; {SANDBOX_ENV}=bwrap makes this an error)", file=sys.stderr)
        return "none"
    finally:
        probe.stop()
    return "bwrap"
