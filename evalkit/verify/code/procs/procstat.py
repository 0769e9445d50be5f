"""A process's CPU time and thread count from an open /proc/PID/stat (stdlib only).

Why from outside: a limit the program could see or change is no limit. The fork server opens the
child's stat file right after the fork and passes the descriptor on; the judge reads the child's CPU
time through it around each call, the fork server its thread count. The kernel fills the file at
each read, and the descriptor keeps pointing at that child (a pid namespace boundary in between is
no obstacle). CPU time is user + system time of all its threads, living and ended, in clock ticks
(10 ms with the usual USER_HZ of 100).
"""

from __future__ import annotations

import os

_TICK = os.sysconf("SC_CLK_TCK")


def _fields(fd: int) -> list[bytes] | None:
    try:
        text = os.pread(fd, 1024, 0)
    except OSError:
        return None  # the process is gone
    rest = text.rpartition(b")")[2].split()  # the name, in parentheses, may hold spaces
    return rest if len(rest) > 17 else None


def cpu(fd: int) -> float | None:
    """CPU seconds used so far (utime + stime, fields 14 and 15); None when the process is gone."""
    f = _fields(fd)
    return None if f is None else (int(f[11]) + int(f[12])) / _TICK


def sample(fd: int) -> tuple[float, int] | None:
    """(CPU seconds, threads) in one read; None when the process is gone."""
    f = _fields(fd)
    return None if f is None else ((int(f[11]) + int(f[12])) / _TICK, int(f[17]))


def threads(fd: int) -> int | None:
    """Its number of threads (field 20); None when the process is gone."""
    f = _fields(fd)
    return None if f is None else int(f[17])


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (from /proc/PID/task/*/children), for the fallback without seccomp,
    where the child could fork (as root, RLIMIT_NPROC does not stop it)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/children", "rb") as f:
                    kids = [int(k) for k in f.read().split()]
            except OSError:
                continue
            out += kids
            todo += kids
    return out
