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

import codec
import seccomp
import wire

SOCK_FD = 3
MAX_REPLY = 64 << 20


def confine(sock_fd: int, workdir: str, cpu: float, mem_mb: int) -> bool:
    """Own session, only the judge socket open, empty cwd and env, rlimits, then seccomp."""
    os.setsid()
    keep = os.dup(sock_fd)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.dup2(keep, SOCK_FD)
    _close_from(SOCK_FD + 1)
    os.chdir(workdir)
    os.environ.clear()
    os.environ.update({"PATH": "/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"})
    secs = max(1, int(cpu + 0.999))
    resource.setrlimit(resource.RLIMIT_CPU, (secs, secs + 1))
    if mem_mb:
        resource.setrlimit(resource.RLIMIT_AS, (mem_mb << 20, mem_mb << 20))
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if not seccomp.supported():
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))  # no fork bombs (not effective for root)
    return seccomp.install()


def _close_from(lowest: int) -> None:
    """Close every descriptor >= lowest (listing /proc/self/fd is faster than closing 20,000 numbers)."""
    try:
        fds = [int(fd) for fd in os.listdir("/proc/self/fd")]
    except OSError:
        os.closerange(lowest, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        return
    for fd in fds:
        if fd >= lowest:
            try:
                os.close(fd)
            except OSError:
                pass  # the listing's own descriptor


def main(job: dict) -> None:
    import socket

    sock = socket.socket(fileno=SOCK_FD)
    send, recv, dumps, loads, encode = wire.send, wire.recv, json.dumps, pickle.loads, codec.encode
    reply = lambda obj: send(sock, dumps(obj).encode())  # noqa: E731
    try:
        code = compile(job["program"], "<solution>", "exec")
    except (SyntaxError, ValueError, OverflowError, RecursionError, MemoryError) as e:
        reply({"syntax_error": f"{type(e).__name__}: {getattr(e, 'msg', e)} (line {getattr(e, 'lineno', '?')})"})
        return
    g = {"__name__": "__solution__", "__builtins__": builtins}
    try:
        exec(code, g)
    except BaseException as e:  # noqa: BLE001 -- SystemExit included: exiting early is a failure
        reply({"load_error": _describe(e), "oom": isinstance(e, MemoryError)})
        return
    fn = g.get(job["entry_point"])
    if not callable(fn):
        reply({"missing": job["entry_point"]})
        return
    reply({"ready": True})
    while True:
        data, _ = recv(sock)
        if data is None:
            return
        req = loads(data)
        if req[0] == "call":
            out = [_call(fn, req[1], req[2], encode)]
        elif req[0] == "batch":  # ("batch", inputs, stop at first failure, only report `is not None`)
            out = []
            for args in req[1]:
                out.append(_call(fn, args, {}, encode, req[3]))
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
