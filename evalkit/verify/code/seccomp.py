"""A seccomp filter, and a capability drop, for the process that runs model-written code (stdlib + ctypes only).

Why: rlimits cannot stop a root-owned fork bomb (RLIMIT_NPROC does not apply to uid 0), and without
bubblewrap nothing else stops a program from writing files, opening sockets or signalling the
sandbox's other processes. The filter makes those system calls fail with EPERM/EACCES:
new processes (fork, vfork, clone without CLONE_THREAD, clone3), exec, sockets, signals to any
process (kill/tkill/tgkill/sigqueue), ptrace and process_vm_*, io_uring, namespaces and mounts,
and every way to create, modify, rename or delete a file (open with a write flag, unlink, mkdir...).
Threads still work; reading files still works. Runs only on x86_64 and aarch64; `install` returns
False elsewhere and the caller says so.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

_LD_W_ABS, _JEQ, _JSET, _JGE, _RET = 0x20, 0x15, 0x45, 0x35, 0x06
_ALLOW, _ERRNO, _KILL = 0x7FFF0000, 0x00050000, 0x80000000
_CLONE_THREAD = 0x00010000
_WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000  # O_WRONLY O_RDWR O_CREAT O_TRUNC O_APPEND

# arch -> (AUDIT_ARCH, denied syscalls, clone nr, clone3 nr, {open-like nr: flags arg index})
_X86_64_DENY = (
    57, 58, 59, 322, 62, 200, 234, 129, 297, 101, 310, 311, 41, 53, 42, 85, 87, 263, 82, 264, 316, 83, 258,
    84, 86, 265, 88, 266, 90, 91, 268, 92, 93, 94, 260, 76, 165, 166, 272, 308, 321, 298, 250, 323, 425,
    426, 427, 304, 434, 424, 437, 133, 259,
)
_AARCH64_DENY = (
    221, 281, 129, 130, 131, 138, 240, 117, 270, 271, 198, 199, 203, 35, 38, 276, 34, 37, 36, 53, 52, 54,
    55, 45, 40, 39, 97, 268, 280, 241, 219, 282, 425, 426, 427, 265, 434, 424, 437, 33,
)
_ARCHES = {
    "x86_64": (0xC000003E, _X86_64_DENY, 56, 435, {2: 1, 257: 2}),
    "aarch64": (0xC00000B7, _AARCH64_DENY, 220, 435, {56: 2}),
}


def _ins(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k & 0xFFFFFFFF)


def _program(arch: str) -> bytes:
    audit, deny, clone, clone3, opens = _ARCHES[arch]
    eperm = _ERRNO | errno.EPERM
    p = [_ins(_LD_W_ABS, 0, 0, 4), _ins(_JEQ, 1, 0, audit), _ins(_RET, 0, 0, _KILL), _ins(_LD_W_ABS, 0, 0, 0)]
    p.append(_ins(_JGE, 0, 1, 0x40000000))  # x32 ABI numbers
    p.append(_ins(_RET, 0, 0, eperm))
    for nr in deny:
        p += [_ins(_JEQ, 0, 1, nr), _ins(_RET, 0, 0, eperm)]
    p += [_ins(_JEQ, 0, 1, clone3), _ins(_RET, 0, 0, _ERRNO | errno.ENOSYS)]  # glibc falls back to clone
    p += [_ins(_JEQ, 0, 4, clone), _ins(_LD_W_ABS, 0, 0, 16), _ins(_JSET, 1, 0, _CLONE_THREAD)]
    p += [_ins(_RET, 0, 0, eperm), _ins(_RET, 0, 0, _ALLOW)]
    for nr, arg in opens.items():
        p += [_ins(_JEQ, 0, 4, nr), _ins(_LD_W_ABS, 0, 0, 16 + 8 * arg), _ins(_JSET, 0, 1, _WRITE_FLAGS)]
        p += [_ins(_RET, 0, 0, _ERRNO | errno.EACCES), _ins(_RET, 0, 0, _ALLOW)]
    p.append(_ins(_RET, 0, 0, _ALLOW))
    return b"".join(p)


def supported() -> bool:
    return platform.machine() in _ARCHES


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


class _Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_READY: tuple | None = None


def prepare() -> None:
    """Build the filter once (in the fork server), so that each forked child only installs it."""
    global _READY
    if _READY is None and supported():
        prog = _program(platform.machine())
        buf = ctypes.create_string_buffer(prog, len(prog))
        _READY = (ctypes.CDLL(None, use_errno=True), buf, _Fprog(len(prog) // 8, ctypes.addressof(buf)))
        _READY[0].prctl(39, 0, 0, 0, 0)  # PR_GET_NO_NEW_PRIVS: resolves and caches `prctl` here, not in every child
        _READY[0].capset  # noqa: B018 -- resolved and cached here too


_CAP_HEADER = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
_NO_CAPS = (_CapData * 2)()


def drop_capabilities() -> bool:
    """Empty effective/permitted/inheritable sets. For a program run as root this removes, among
    others, CAP_SYS_PTRACE and CAP_DAC_*: it can no longer read other processes' memory through
    /proc/PID/mem (the kernel requires the reader's capabilities to cover the target's) nor files
    only readable thanks to root's overrides."""
    libc = _READY[0] if _READY else ctypes.CDLL(None, use_errno=True)
    return libc.capset(ctypes.byref(_CAP_HEADER), _NO_CAPS) == 0


def works() -> bool:
    """Whether install() succeeds on this kernel: tried in a throwaway child."""
    if not supported():
        return False
    pid = os.fork()
    if pid == 0:
        os._exit(0 if install() else 1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def install() -> bool:
    """Apply the filter to the calling thread (irreversible). False when unsupported here."""
    prepare()
    if _READY is None:
        return False
    libc, _, fprog = _READY
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        return False
    return libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
