"""A default-deny seccomp filter, and a capability drop, for the process that runs model-written code.

Why: rlimits cannot stop a root-owned fork bomb (RLIMIT_NPROC does not apply to uid 0), and without
bubblewrap nothing else stops a program from writing files, opening sockets, signalling the
sandbox's other processes or reaching rarely used kernel interfaces. The filter is an allow-list:
any system call not named below fails with EPERM (the program sees an OSError, it is not killed).
The list was found by tracing the child (strace -f, after the filter is installed) while it ran
the hostile suite and the honest programs of tests/test_sandbox_probes.py (numpy, threads, deep
recursion, big integers, json, re, time...), then checked on the HumanEval references and CodeT
samples (tests/test_code_data.py). Groups, with the reason for each:

  memory       brk mmap munmap mremap mprotect madvise
               the allocator (pymalloc, glibc malloc, numpy's buffers) and loading extension modules
  files        read pread64 readv lseek close fstat newfstatat stat lstat statx getdents64 readlink
               readlinkat access faccessat faccessat2 getcwd fstatfs dup dup2 dup3
               the import system reads modules; programs may read files. Reading only: what can be
               read is bounded by bubblewrap's view or by Landlock (landlock.py)
  open         open openat: only without O_WRONLY/O_RDWR/O_CREAT/O_TRUNC/O_APPEND (else EACCES)
  fcntl        fcntl: only F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC (not F_SETOWN:
               SIGIO to another process)
  ioctl        ioctl: only TCGETS, TIOCGWINSZ, FIONREAD, FIONBIO, FIOCLEX, FIONCLEX (isatty() and
               friends on the inherited descriptors)
  channel      write writev sendto recvfrom getsockname getpeername getsockopt poll ppoll select pselect6
               the judge's socket (descriptor 3) and /dev/null on 0-2; no new socket can be made
  signals      rt_sigaction rt_sigprocmask rt_sigreturn sigaltstack restart_syscall
               programs' own handlers and the runtime's signal masks (threads); no signal to any
               process, and no timer: setitimer, alarm, timer_create are refused. No limit depends on
               a signal the program could handle: the judge measures each call's CPU time from
               outside, the kernel enforces RLIMIT_CPU, the fork server the wall clock
  threads      clone (only with CLONE_THREAD and no CLONE_NEW* flag) set_robust_list rseq futex
               set_tid_address gettid sched_yield sched_getaffinity exit exit_group
               threading and concurrent.futures; clone3 fails with ENOSYS so that glibc falls back to
               clone, whose flags the filter can read. Each clone of a thread is a user notification
               (SECCOMP_RET_USER_NOTIF): the judge answers it, and refuses (EAGAIN) beyond
               MAX_THREADS live threads (threadcap.py). The kernel holds the thread until then, so the
               cap binds root too, where RLIMIT_NPROC does not
  time         clock_gettime clock_getres clock_nanosleep nanosleep gettimeofday time times
  self         getpid getppid getuid geteuid getgid getegid getgroups getresuid getresgid getpgid
               getsid uname sysinfo getrandom getrusage getrlimit
               read-only facts about this process and machine; os.urandom and random's seed
  limits       prlimit64: only on itself (pid 0); prctl: only PR_SET_NAME, PR_GET_NAME

Refused with EPERM, among everything else: fork, vfork, execve, kill/tkill/tgkill, socket,
ptrace, process_vm_*, io_uring, bpf, perf_event_open, keyrings, namespaces and mounts, memfd_*,
userfaultfd, pidfd_*, file handles, personality, timers (setitimer, alarm, timer_create,
timerfd_create), NUMA policy (mbind, get_mempolicy, set_mempolicy: numpy's OpenBLAS calls mbind with
MPOL_PREFERRED on its buffers, a hint it ignores when refused, as under Docker's default profile), and
every way to create, change or delete a file.
System calls of another ABI (x32) fail with EPERM; a process of another architecture is killed.
Runs only on x86_64 and aarch64; `install` returns False elsewhere and the caller says so.

The listener of the thread notifications is created by installing the filter, so the child hands it
to the judge over its socket (sendmsg, allowed by this filter for that one purpose) and then
installs a second, tiny filter (seccomp, allowed for that) that refuses both: a stacked filter's
refusal wins, so the program can neither pass descriptors nor install filters of its own.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
import sys

import linux
import threadcap

_LD_W_ABS, _JEQ, _JSET, _JGE, _RET = 0x20, 0x15, 0x45, 0x35, 0x06
_ALLOW, _ERRNO, _KILL, _USER_NOTIF = 0x7FFF0000, 0x00050000, 0x80000000, 0x7FC00000
SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER = 1, 1 << 3
_X32_BIT = 0x40000000
_CLONE_THREAD = 0x00010000
_CLONE_NEW = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000  # NS CGROUP UTS IPC USER PID NET
_WRITE_FLAGS = 0o1 | 0o2 | 0o100 | 0o1000 | 0o2000  # O_WRONLY O_RDWR O_CREAT O_TRUNC O_APPEND
_FCNTL_OK = (0, 1, 2, 3, 4, 1030)  # F_DUPFD F_GETFD F_SETFD F_GETFL F_SETFL F_DUPFD_CLOEXEC
_IOCTL_OK = (0x5401, 0x5413, 0x541B, 0x5421, 0x5451, 0x5450)  # TCGETS TIOCGWINSZ FIONREAD FIONBIO FIOCLEX FIONCLEX

# Most frequent first: the filter compares in this order.
ALLOW = {
    "memory": "brk mmap munmap mremap mprotect madvise",
    "files": "read pread64 readv lseek close fstat newfstatat stat lstat statx getdents64 readlink readlinkat access "
             "faccessat faccessat2 getcwd fstatfs dup dup2 dup3",
    "channel": "write writev sendto recvfrom getsockname getpeername getsockopt poll ppoll select pselect6",
    "signals": "rt_sigaction rt_sigprocmask rt_sigreturn sigaltstack restart_syscall",
    "threads": "set_robust_list rseq futex set_tid_address gettid sched_yield sched_getaffinity exit exit_group",
    "time": "clock_gettime clock_getres clock_nanosleep nanosleep gettimeofday time times",
    "self": "getpid getppid getuid geteuid getgid getegid getgroups getresuid getresgid getpgid getsid uname sysinfo "
            "getrandom getrusage getrlimit",
}
# name -> (argument index, rule): allowed only when the argument passes the rule.
ARG_RULES = {
    "open": (1, ("no_bits", _WRITE_FLAGS, errno.EACCES)),
    "openat": (2, ("no_bits", _WRITE_FLAGS, errno.EACCES)),
    "clone": (0, ("thread", _CLONE_THREAD, _CLONE_NEW)),
    "fcntl": (1, ("one_of", _FCNTL_OK)),
    "ioctl": (1, ("one_of", _IOCTL_OK)),
    "prlimit64": (0, ("one_of", (0,))),
    "prctl": (0, ("one_of", (linux.PR_SET_NAME, linux.PR_GET_NAME))),
}
ENOSYS = ("clone3",)  # glibc then falls back to clone(), whose flags the filter can check
HANDOFF = ("sendmsg", "seccomp")  # allowed only to hand over the notifications' listener and install the seal


def allowed_names() -> list[str]:
    """Every system call name the filter lets through (some with an argument rule)."""
    return [n for names in ALLOW.values() for n in names.split()] + list(ARG_RULES)


def _assemble(code: list) -> bytes:
    """BPF from a list of instructions (code, jt, jf, k) and label names; a jump target is 0 (the
    next instruction) or a label. Offsets are computed here, never by hand."""
    labels, ins = {}, []
    for item in code:
        if isinstance(item, str):
            labels[item] = len(ins)
        else:
            ins.append(item)

    def offset(pc: int, target) -> int:
        if target == 0:
            return 0
        d = labels[target] - pc - 1
        if not 0 <= d <= 255:
            raise ValueError(f"BPF jump to {target} out of range ({d})")
        return d

    return b"".join(struct.pack("HBBI", op, offset(pc, jt), offset(pc, jf), k & 0xFFFFFFFF)
                    for pc, (op, jt, jf, k) in enumerate(ins))


def _arg(index: int) -> tuple:
    """Load the low 32 bits of argument `index` (struct seccomp_data: nr, arch, ip, args[6])."""
    return (_LD_W_ABS, 0, 0, 16 + 8 * index + (4 if sys.byteorder == "big" else 0))


def _check(name: str, index: int, rule: tuple, threads: str) -> list:
    kind = rule[0]
    out: list = [f"arg_{name}", _arg(index)]
    if kind == "no_bits":
        out += [(_JSET, f"errno_{rule[2]}", "allow", rule[1])]
    elif kind == "thread":
        out += [(_JSET, "eperm", 0, rule[2]), (_JSET, threads, "eperm", rule[1])]
    else:
        out += [(_JEQ, "allow", 0, v) for v in rule[1]] + [(_RET, 0, 0, _ERRNO | errno.EPERM)]
    return out


def _program(arch: str, notify: bool = False) -> bytes:
    """The allow-list. `notify`: each thread clone goes to the fork server (user notification), and
    sendmsg is allowed (the child's hand-over of the listener; `_SEAL` refuses it afterwards)."""
    table = linux.SYSCALLS[arch]
    code: list = [(_LD_W_ABS, 0, 0, 4), (_JEQ, 0, "kill", linux.AUDIT_ARCH[arch]), (_LD_W_ABS, 0, 0, 0),
                  (_JGE, "eperm", 0, _X32_BIT)]
    for names in ALLOW.values():
        code += [(_JEQ, "allow", 0, table[n]) for n in names.split() if n in table]
    if notify:
        code += [(_JEQ, "allow", 0, table[n]) for n in HANDOFF]
    code += [(_JEQ, f"arg_{n}", 0, table[n]) for n in ARG_RULES if n in table]
    code += [(_JEQ, f"errno_{errno.ENOSYS}", 0, table[n]) for n in ENOSYS]
    code += [(_RET, 0, 0, _ERRNO | errno.EPERM)]  # the default: refused
    for name, (index, rule) in ARG_RULES.items():
        if name in table:
            code += _check(name, index, rule, "notify" if notify else "allow")
    code += ["allow", (_RET, 0, 0, _ALLOW), "kill", (_RET, 0, 0, _KILL), "notify", (_RET, 0, 0, _USER_NOTIF)]
    for err in (errno.EPERM, errno.EACCES, errno.ENOSYS):
        code += [f"errno_{err}", (_RET, 0, 0, _ERRNO | err)]
    code.insert(code.index(f"errno_{errno.EPERM}"), "eperm")
    return _assemble(code)


def _seal(arch: str) -> bytes:
    """The second filter: refuses what only the hand-over needed (a stacked filter's refusal wins)."""
    table = linux.SYSCALLS[arch]
    code: list = [(_LD_W_ABS, 0, 0, 0)] + [(_JEQ, "eperm", 0, table[n]) for n in HANDOFF]
    code += [(_RET, 0, 0, _ALLOW), "eperm", (_RET, 0, 0, _ERRNO | errno.EPERM)]
    return _assemble(code)


def supported() -> bool:
    return platform.machine() in linux.SYSCALLS


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


class _Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_READY: dict | None = None


def _fprog(prog: bytes) -> tuple:
    buf = ctypes.create_string_buffer(prog, len(prog))
    return buf, _Fprog(len(prog) // 8, ctypes.addressof(buf))


def prepare() -> None:
    """Build the filters once (in the fork server), so that each forked child only installs one."""
    global _READY
    if _READY is None and supported():
        arch = platform.machine()
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        _READY = {"libc": libc, "plain": _fprog(_program(arch)), "notify": _fprog(_program(arch, notify=True)),
                  "seal": _fprog(_seal(arch)), "nr": linux.SYSCALLS[arch]["seccomp"]}
        libc.prctl(linux.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)  # resolves and caches `prctl` here, not in every child
        libc.capset  # noqa: B018 -- resolved and cached here too


_CAP_HEADER = _CapHeader(linux.LINUX_CAPABILITY_VERSION_3, 0)  # this thread
_NO_CAPS = (_CapData * 2)()


def _libc():
    return _READY["libc"] if _READY else ctypes.CDLL(None, use_errno=True)


def drop_capabilities() -> bool:
    """Empty effective/permitted/inheritable sets. For a program run as root this removes, among
    others, CAP_SYS_PTRACE and CAP_DAC_*: it can no longer read other processes' memory through
    /proc/PID/mem (the kernel requires the reader's capabilities to cover the target's) nor files
    only readable thanks to root's overrides."""
    return _libc().capset(ctypes.byref(_CAP_HEADER), _NO_CAPS) == 0


def no_new_privs() -> bool:
    """PR_SET_NO_NEW_PRIVS: required before an unprivileged process may install seccomp or Landlock."""
    prepare()
    return _libc().prctl(linux.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0


def works() -> str:
    """How the filter can run on this kernel, tried in throwaway children: "notify" (the thread cap by
    user notification, Linux >= 5.5), "plain" (the filter without it), "" (no seccomp)."""
    if not supported():
        return ""
    if threadcap.rehearse(install_notify):
        return "notify"
    pid = os.fork()
    if pid == 0:
        os._exit(0 if install() else 1)
    _, status = os.waitpid(pid, 0)
    return "plain" if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 else ""


def install() -> bool:
    """Apply the filter, threads allowed without a cap, to the calling thread (irreversible). False when
    unsupported here."""
    prepare()
    if _READY is None or not no_new_privs():
        return False
    return _set(_READY["plain"][1], 0) == 0


def install_notify(hand_over) -> bool:
    """Apply the filter with thread clones notified; `hand_over(listener)` sends the listener on (to the
    judge) while sendmsg is still allowed; then seal sendmsg and seccomp. False when any step fails (the
    child must then not run)."""
    prepare()
    if _READY is None or not no_new_privs():
        return False
    listener = _set(_READY["notify"][1], SECCOMP_FILTER_FLAG_NEW_LISTENER)
    if listener < 0:
        return False
    try:
        hand_over(listener)
    except OSError:
        return False
    finally:
        os.close(listener)
    return _set(_READY["seal"][1], 0) == 0


def _set(fprog, flags: int) -> int:
    """seccomp(SECCOMP_SET_MODE_FILTER, flags, prog): 0, a listener descriptor, or -1."""
    libc = _READY["libc"]
    return libc.syscall(ctypes.c_long(_READY["nr"]), ctypes.c_long(SECCOMP_SET_MODE_FILTER), ctypes.c_long(flags),
                        ctypes.byref(fprog))
