"""The per-sample thread cap, enforced from outside the program (by the judge, which holds the child's
/proc/PID/stat already).

Why: one sample once ran 1,501 threads. Processes are already refused (fork, vfork and clone without
CLONE_THREAD fail in the seccomp filter), but threads are needed by honest programs (LiveCodeBench
solutions run `main` in a thread with a big stack; concurrent.futures). RLIMIT_NPROC counts threads,
but the kernel never applies it to uid 0 (INIT_USER), capabilities or not, and evalkit often runs as
root (containers, CI). A per-sample unprivileged uid would need root to switch to and every path of
the Python installation to be readable by that uid (a Python under /root is not). So the seccomp
filter turns every thread clone into a user notification (SECCOMP_RET_USER_NOTIF): the kernel holds
the cloning thread until the listener's holder answers, and the judge lets it proceed only while the
child has fewer than MAX_THREADS threads (read from /proc/PID/stat), else the clone fails with EAGAIN
(Python: "can't start new thread"). Nothing in the child can skip the question. Clones that wait at
the same moment are counted against the same reading, so a burst can pass the cap by at most the
number of threads already waiting: never more than twice MAX_THREADS. A program that keeps retrying
is stopped after MAX_REFUSED refusals.

Where seccomp runs without user notifications (Linux < 5.5) or not at all, the fork server polls the
child's thread count instead and kills it above the cap (`over`), beside RLIMIT_NPROC, which binds
users other than root.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import socket
import struct

import procstat

MAX_THREADS = 64  # the default; the harness sends its own (sandbox.MAX_THREADS)
MAX_REFUSED = 1000  # clones refused before the fork server stops the sample: each costs it an answer
_NOTIF = struct.Struct("QII64x")  # struct seccomp_notif: id, pid, flags, struct seccomp_data (64 bytes)
_RESP = struct.Struct("QqiI")  # struct seccomp_notif_resp: id, val, error, flags
_IOC_RW, _MAGIC = 3 << 30, ord("!") << 8
NOTIF_RECV = _IOC_RW | (_NOTIF.size << 16) | _MAGIC | 0  # SECCOMP_IOCTL_NOTIF_RECV
NOTIF_SEND = _IOC_RW | (_RESP.size << 16) | _MAGIC | 1  # SECCOMP_IOCTL_NOTIF_SEND
FLAG_CONTINUE = 1  # SECCOMP_USER_NOTIF_FLAG_CONTINUE: let the system call run as asked


class Cap:
    """Answers one child's thread clones. `refused` counts the clones turned down."""

    def __init__(self, listener: int, stat_fd: int, limit: int = MAX_THREADS):
        self.listener, self.stat_fd, self.limit = listener, stat_fd, limit
        self.refused = 0

    def answer(self) -> None:
        buf = bytearray(_NOTIF.size)
        try:
            fcntl.ioctl(self.listener, NOTIF_RECV, buf, True)
        except OSError:
            return  # the cloning thread's process ended meanwhile
        nid = _NOTIF.unpack(buf)[0]
        live = procstat.threads(self.stat_fd)
        if live is not None and live < self.limit:
            resp = _RESP.pack(nid, 0, 0, FLAG_CONTINUE)
        else:
            self.refused += 1
            resp = _RESP.pack(nid, 0, -errno.EAGAIN, 0)
        try:
            fcntl.ioctl(self.listener, NOTIF_SEND, bytearray(resp), True)
        except OSError:
            pass


def receive(handoff: socket.socket) -> int | None:
    """The listener the child sent over `handoff` (seccomp.install_notify); None when it sent none."""
    try:
        _, fds, _, _ = socket.recv_fds(handoff, 1, 1)
    except OSError:
        return None
    return fds[0] if fds else None


def over(stat_fd: int, limit: int = MAX_THREADS) -> int | None:
    """Without notifications: the child's thread count when above the cap, else None."""
    n = procstat.threads(stat_fd)
    return n if n is not None and n > limit else None


def rehearse(install_notify) -> bool:
    """Whether notifications work here: a throwaway child installs the filter, hands over the
    listener and starts a thread, which only runs if this process answers."""
    ours, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        ours.close()
        ok = install_notify(lambda listener: socket.send_fds(theirs, [b"L"], [listener]))
        if ok:  # the low-level thread module: importing threading would add an at-fork handler to every child
            import _thread

            done = _thread.allocate_lock()
            done.acquire()
            _thread.start_new_thread(done.release, ())
            done.acquire()
        os._exit(0 if ok else 1)
    theirs.close()
    try:
        return _answer_until_exit(pid, ours)
    finally:
        ours.close()


def _answer_until_exit(pid: int, handoff: socket.socket) -> bool:
    pidfd = os.pidfd_open(pid)
    stat = os.open(f"/proc/{pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
    poller = select.poll()
    for fd in (pidfd, handoff.fileno()):
        poller.register(fd, select.POLLIN)
    cap: Cap | None = None
    try:
        while True:
            events = poller.poll(5000)
            if not events:  # no progress in 5 s: notifications do not work here
                os.kill(pid, 9)
                break
            if any(fd == pidfd for fd, _ in events):
                break
            for fd, _ in events:
                if fd == handoff.fileno():
                    poller.unregister(fd)
                    listener = receive(handoff)
                    if listener is not None:
                        cap = Cap(listener, stat)
                        poller.register(listener, select.POLLIN)
                elif cap is not None and fd == cap.listener:
                    cap.answer()
        _, status = os.waitpid(pid, 0)
        return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    finally:
        os.close(pidfd)
        os.close(stat)
        if cap is not None:
            os.close(cap.listener)
