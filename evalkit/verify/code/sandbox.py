"""Harness side of the sandbox: start fork servers (in bubblewrap when present) and run one job.

A job is (program, limits) for the fork server plus a pickled test payload that goes, through a
pipe created here and passed as a descriptor, straight to the judge. The verdict comes back on a
second pipe, checked against a fresh random token; the fork server's report says how the child ended.
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

from . import wire

HERE = Path(__file__).resolve().parent
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
    cmd = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    binds = {"/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc/alternatives", "/etc/ld.so.cache", str(HERE)}
    for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *site.getsitepackages()}:
        binds.update({p, os.path.realpath(p)})
    binds.add(os.path.dirname(os.path.realpath(sys.executable)))
    for p in sorted(b for b in binds if os.path.exists(b)):
        cmd += ["--ro-bind", p, p]
    cmd += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--clearenv", "--chdir", "/tmp"]
    return cmd


def _env() -> dict[str, str]:
    # One fixed hash seed for every fork server: set and dict-of-str orders are the same when the
    # reference outputs are collected and when a sample runs (EvalPlus gets this from forking).
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "HOME": "/tmp", **{k: v for k, v in os.environ.items() if k == "EVALKIT_SANDBOX_DEBUG"}}


class Worker:
    """One fork server and the socket to it. Restarted transparently when it dies."""

    def __init__(self, mode: str, modules: str = "numpy"):
        self.mode = mode
        self.modules = modules  # importable beyond the stdlib: comma list, or "*" for all installed
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.seccomp = False

    def start(self) -> None:
        ours, theirs = socket.socketpair()
        argv = [sys.executable, "-s", str(HERE / "worker.py"), str(theirs.fileno())]
        env = {**_env(), "EVALKIT_SANDBOX_MODULES": self.modules}
        if self.mode == "bwrap":
            env_args = [a for k, v in env.items() for a in ("--setenv", k, v)]
            argv = bwrap_command() + env_args + argv  # type: ignore[operator]
        self.proc = _spawn(lambda: subprocess.Popen(
            argv, pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=None if _debug() else subprocess.PIPE, close_fds=True))
        theirs.close()
        ours.settimeout(60)
        hello, _ = wire.recv(ours)
        if hello is None:
            err = self.proc.stderr.read().decode(errors="replace").strip() if self.proc.stderr else ""
            self.proc.wait()
            raise RuntimeError(f"sandbox worker failed to start ({self.mode}): {err[:300]}")
        self.seccomp = json.loads(hello).get("seccomp", False)
        if self.proc.stderr:  # never read again: a full pipe must not block the worker
            self.proc.stderr.close()
            self.proc.stderr = None
        ours.settimeout(None)
        self.sock = ours

    def run(self, job: dict, payload: dict) -> Outcome:
        if self.sock is None:
            self.start()
        token = secrets.token_hex(16)
        data = pickle.dumps({**payload, "token": token})
        tr, tw = os.pipe()
        vr, vw = os.pipe()
        try:
            wire.send(self.sock, json.dumps(job).encode(), fds=[tr, vw])  # type: ignore[arg-type]
        except OSError:
            for fd in (tr, tw, vr, vw):
                os.close(fd)
            self.stop()
            return Outcome(None, None)
        os.close(tr)
        os.close(vw)
        if len(data) < 32768:  # fits in the pipe buffer: no thread needed
            _write_all(tw, data)
            raw = _read_all(vr)
        else:
            writer = threading.Thread(target=_write_all, args=(tw, data), daemon=True)
            writer.start()
            raw = _read_all(vr)
            writer.join()
        report = self._report(job["wall"] + 30)
        verdict = None
        try:
            v = json.loads(raw) if raw else None
            if isinstance(v, dict) and secrets.compare_digest(str(v.get("token", "")), token):
                verdict = v
        except ValueError:
            pass
        return Outcome(verdict, report)

    def _report(self, timeout: float) -> dict | None:
        try:
            self.sock.settimeout(timeout)  # type: ignore[union-attr]
            data, _ = wire.recv(self.sock)  # type: ignore[arg-type]
        except OSError:
            data = None
        if data is None:
            self.stop()
            return None
        return json.loads(data)

    def stop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            if self.proc.stderr:
                self.proc.stderr.close()
            self.proc = None


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


def _write_all(fd: int, data: bytes) -> None:
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError:
        pass  # the judge died before reading: its missing verdict says so
    finally:
        os.close(fd)


def _read_all(fd: int) -> bytes:
    chunks = []
    try:
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


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
    except (RuntimeError, OSError):
        if mode == "bwrap":
            raise
        return "none"
    finally:
        probe.stop()
    return "bwrap"
