"""The only process that runs model-written code: confine it, load the program, answer calls.

Forked from the fork server; talks to its judge over one socket and sees nothing else: no test
code, no expected outputs, no token ever enters this process. It can only return values, which
the judge receives as plain data (codec.py), so a forged reply is at best a correct answer.
"""

from __future__ import annotations

import builtins
import json
import os
import pickle
import resource
import signal

import codec
import landlock
import seccomp
import stdio_run
import wire

SOCK_FD = 3
MAX_REPLY = 64 << 20
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}  # the whole environment, plus HOME and TMPDIR (set by the fork server)
EXTRA_MODULES: tuple[str, ...] = ()  # the allowed modules beyond the stdlib (numpy), set by the fork server


def confine(sock_fd: int, null_fd: int, cpu: float, mem_mb: int, workdir: str | None) -> None:
    """Own session, Landlock, only the judge socket open, rlimits, no capabilities, then seccomp. The fork server sits in
    an empty working directory with the environment reduced to ENV + HOME/TMPDIR pointing there;
    `workdir` is given only without seccomp, where each child gets a fresh writable directory."""
    os.setsid()
    if landlock.RULESET is not None and not (seccomp.no_new_privs() and landlock.restrict(workdir)):
        os._exit(125)  # first: the ruleset's descriptor may carry a number dup2 reuses below
    for fd in (0, 1, 2):  # first: null_fd may itself be SOCK_FD's number
        os.dup2(null_fd, fd)
    if sock_fd != SOCK_FD:
        os.dup2(sock_fd, SOCK_FD)
    os.closerange(SOCK_FD + 1, 1 << 16)  # one close_range() call on Linux >= 5.9
    if workdir:
        os.chdir(workdir)
        os.environ["HOME"] = os.environ["TMPDIR"] = workdir
    secs = max(1, int(cpu + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (secs, secs + 1))
    if mem_mb:
        resource.setrlimit(resource.RLIMIT_AS, (mem_mb << 20, mem_mb << 20))
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if not seccomp.drop_capabilities():
        os._exit(125)
    if workdir is None:
        if not seccomp.install():
            os._exit(125)  # the fork server checked it works; never run unconfined
    else:
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))  # no fork bombs (binds root too once capabilities are gone)


def rehearse() -> None:
    """Run one small job in the fork server itself, before any fork. The first compile() and the first
    json, pickle and socket calls of a process initialise lazily: ~250 page faults, about 1.5 ms of CPU
    on each forked child. Children forked after the rehearsal inherit that state instead."""
    import socket

    ours, theirs = socket.socketpair()
    with ours, theirs:
        for req in (("call", (3,), {}), ("batch", [[1], [2.5]], True, False), ("bye",)):
            wire.send(ours, pickle.dumps(req))
        main({"program": "def f(x, y=2):\n    return [x * y, {'k': (x, None)}, str(x), {x}]\n", "entry_point": "f"}, theirs)


def main(job: dict, sock=None) -> None:
    import socket

    sock = sock or socket.socket(fileno=SOCK_FD)
    send, recv, dumps, loads, encode = wire.send, wire.recv, json.dumps, pickle.loads, codec.encode
    reply = lambda obj: send(sock, dumps(obj).encode())  # noqa: E731
    try:
        code = compile(job["program"], "<solution>", "exec")
    except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError) as e:
        reply({"syntax_error": f"{type(e).__name__}: {getattr(e, 'msg', e)} (line {getattr(e, 'lineno', '?')})"})
        return
    _import_named(job["program"])
    if job.get("kind") == "stdin":  # a whole program per test (LiveCodeBench stdin problems)
        reply({"ready": True})
        _serve_stdin(code, sock, job)
        return
    g = {"__name__": "__solution__", "__builtins__": builtins}
    try:
        exec(code, g)
        fn = _entry(g, job)
    except BaseException as e:  # noqa: BLE001 -- SystemExit included: exiting early is a failure
        reply({"load_error": _describe(e), "oom": isinstance(e, MemoryError)})
        return
    if not callable(fn):
        reply({"missing": job["entry_point"]})
        return
    call = _timed(fn, job.get("call_cpu"), job.get("call_wall"))
    reply({"ready": True})
    while True:
        data, _ = recv(sock)
        if data is None:
            return
        req = loads(data)
        if req[0] == "call":
            out = [_call(call, req[1], req[2], encode)]
        elif req[0] == "batch":  # ("batch", inputs, stop at first failure, only report `is not None`)
            out = []
            for args in req[1]:
                out.append(_call(call, args, {}, encode, req[3]))
                if req[2] and "ok" not in out[-1]:
                    break
        else:
            return
        try:
            text = "[" + ",".join(_piece(r, dumps) for r in out) + "]"
        except BaseException:  # noqa: BLE001
            text = dumps([{"bad": "unencodable result"}])
        if len(text) > MAX_REPLY:
            text = dumps([{"bad": "output too large"}])
        send(sock, text.encode())


def _import_named(program: str) -> None:
    """Import the allowed extra modules a program names, at load time: numpy's first import costs
    0.1-0.4 s of CPU, which a function importing it inside would otherwise spend under its first call's
    timer (0.25 s for check() calls). The fork server does not preload numpy: it makes every fork ~10x
    slower."""
    for name in EXTRA_MODULES:
        if name in program:
            try:
                __import__(name)
            except BaseException:  # noqa: BLE001 -- the program's own import then fails as it would
                pass


def _timed(fn, seconds: float | None, wall: float | None):
    """`fn` under two timers per call: CPU (ITIMER_PROF) and wall clock (ITIMER_REAL, for a call that
    sleeps or blocks). The default action of SIGPROF and SIGALRM ends the process, in C code too. A
    program that handles, ignores or re-arms them only keeps the whole sample's limits (RLIMIT_CPU and
    the fork server's deadline)."""
    if not seconds:
        return fn
    arm, prof, real = signal.setitimer, signal.ITIMER_PROF, signal.ITIMER_REAL
    signal.signal(signal.SIGPROF, signal.SIG_DFL)
    signal.signal(signal.SIGALRM, signal.SIG_DFL)

    def call(*args, **kwargs):
        arm(real, wall)
        arm(prof, seconds)
        try:
            return fn(*args, **kwargs)
        finally:
            arm(prof, 0)
            arm(real, 0)

    return call


def _entry(g: dict, job: dict):
    """The function the tests call: a top-level name, or (kind "method", LiveCodeBench's call-based
    problems) that method of one `Solution()` instance, made once as LCB's grader makes it (a program
    without a Solution class: its top-level function of that name, as LCB falls back to)."""
    cls = g.get("Solution") if job.get("kind") == "method" else None
    if not callable(cls):
        return g.get(job["entry_point"])
    return getattr(cls(), job["entry_point"], None)


def _serve_stdin(code, sock, job: dict) -> None:
    """("stdin", text) -> [{"out": what the program printed}] or [an exception], one test per request,
    each under the per-call timers."""
    run = _timed(stdio_run.run_once, job.get("call_cpu"), job.get("call_wall"))
    while True:
        data, _ = wire.recv(sock)
        if data is None:
            return
        req = pickle.loads(data)
        if req[0] != "stdin":
            return
        r = run(code, req[1], MAX_REPLY)
        if "exc" in r:
            e = r["exc"]
            r = {"exc": _exc_name(e), "msg": _describe(e), "oom": isinstance(e, MemoryError)}
        wire.send(sock, json.dumps([r]).encode())


def _piece(r: dict, dumps) -> str:
    """One reply as JSON; a large value travels as the SHA-256 of its encoding (codec.DIGEST_OVER)."""
    if "ok" not in r:
        return dumps(r)
    text = dumps(r["ok"])
    if len(text) > codec.DIGEST_OVER:
        return dumps({"digest": codec.digest(text)})
    return '{"ok": ' + text + "}"


def _call(fn, args, kwargs, encode, not_none: bool = False) -> dict:
    try:
        value = fn(*args, **kwargs)
        if not_none and type(value) is not bool:  # EvalPlus: only whether a value came back counts
            value = value is not None
    except BaseException as e:  # noqa: BLE001
        return {"exc": _exc_name(e), "msg": _describe(e), "oom": isinstance(e, MemoryError)}
    try:
        return {"ok": encode(value)}
    except codec.Unencodable as e:
        return {"bad": str(e)}
    except BaseException as e:  # noqa: BLE001 -- e.g. RecursionError on a cyclic list
        return {"bad": f"unencodable result ({_exc_name(e)})"}


def _exc_name(e: BaseException) -> str:
    t = type(e)
    return t.__name__ if getattr(builtins, t.__name__, None) is t else "Exception"


def _describe(e: BaseException) -> str:
    try:
        return f"{_exc_name(e)}: {str(e)[:200]}"
    except BaseException:  # noqa: BLE001 -- a hostile __str__
        return _exc_name(e)
