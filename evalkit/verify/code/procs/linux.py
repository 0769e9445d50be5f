"""Linux numbers the sandbox's processes share: prctl options, and system call numbers by name.

Imported by seccomp.py, child.py, worker.py and judge.py (as the top-level module `linux`: they run as
scripts) and by sandbox.py (as part of the package). Syscall numbers are those of the kernel's
unistd headers (arch/x86/entry/syscalls/syscall_64.tbl; include/uapi/asm-generic/unistd.h for
aarch64), for the names the seccomp filter and its tests use.
"""

from __future__ import annotations

# prctl(2) options
PR_SET_PDEATHSIG = 1
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15
PR_GET_NAME = 16
PR_SET_SECCOMP = 22
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39

SECCOMP_MODE_FILTER = 2
LINUX_CAPABILITY_VERSION_3 = 0x20080522
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}

_X86_64 = {
    "accept": 43, "accept4": 288, "access": 21, "acct": 163, "add_key": 248, "adjtimex": 159, "alarm": 37,
    "arch_prctl": 158, "bind": 49, "bpf": 321, "brk": 12, "capset": 126, "chdir": 80, "chroot": 161,
    "clock_getres": 229, "clock_gettime": 228, "clock_nanosleep": 230, "clock_settime": 227, "clone": 56,
    "clone3": 435, "close": 3, "close_range": 436, "connect": 42, "copy_file_range": 326, "delete_module": 176,
    "dup": 32, "dup2": 33, "dup3": 292, "epoll_create1": 291, "eventfd2": 290, "execve": 59, "execveat": 322,
    "exit": 60, "exit_group": 231, "faccessat": 269, "faccessat2": 439, "fallocate": 285, "fanotify_init": 300,
    "fchdir": 81, "fchmodat": 268, "fchownat": 260, "fcntl": 72, "finit_module": 313, "flock": 73, "fork": 57,
    "fsetxattr": 190, "fsmount": 432, "fsopen": 430, "fspick": 433, "fstat": 5, "fstatfs": 138, "fsync": 74,
    "ftruncate": 77, "futex": 202, "futex_waitv": 449, "get_mempolicy": 239, "getcwd": 79, "getdents64": 217,
    "getegid": 108, "geteuid": 107, "getgid": 104, "getgroups": 115, "getitimer": 36, "getpeername": 52,
    "getpgid": 121, "getpid": 39, "getppid": 110, "getrandom": 318, "getresgid": 120, "getresuid": 118,
    "getrlimit": 97, "getrusage": 98, "getsid": 124, "getsockname": 51, "getsockopt": 55, "gettid": 186,
    "gettimeofday": 96, "getuid": 102, "getxattr": 191, "init_module": 175, "inotify_init1": 294, "io_setup": 206,
    "io_submit": 209, "io_uring_enter": 426, "io_uring_register": 427, "io_uring_setup": 425, "ioctl": 16,
    "ioperm": 173, "iopl": 172, "kcmp": 312, "kexec_file_load": 320, "kexec_load": 246, "keyctl": 250, "kill": 62,
    "landlock_add_rule": 445, "landlock_create_ruleset": 444, "landlock_restrict_self": 446, "linkat": 265,
    "listen": 50, "listxattr": 194, "lookup_dcookie": 212, "lseek": 8, "lsetxattr": 189, "lstat": 6, "madvise": 28,
    "mbind": 237, "membarrier": 324, "memfd_create": 319, "memfd_secret": 447, "migrate_pages": 256, "mincore": 27,
    "mkdirat": 258, "mknodat": 259, "mlock": 149, "mlockall": 151, "mmap": 9, "modify_ldt": 154, "mount": 165,
    "mount_setattr": 442, "move_mount": 429, "move_pages": 279, "mprotect": 10, "mq_open": 240, "mremap": 25,
    "msgget": 68, "msync": 26, "munmap": 11, "name_to_handle_at": 303, "nanosleep": 35, "newfstatat": 262, "open": 2,
    "open_by_handle_at": 304, "open_tree": 428, "openat": 257, "openat2": 437, "perf_event_open": 298,
    "personality": 135, "pidfd_getfd": 438, "pidfd_open": 434, "pidfd_send_signal": 424, "pipe": 22, "pipe2": 293,
    "pivot_root": 155, "pkey_alloc": 330, "poll": 7, "ppoll": 271, "prctl": 157, "pread64": 17, "prlimit64": 302,
    "process_madvise": 440, "process_mrelease": 448, "process_vm_readv": 310, "process_vm_writev": 311,
    "pselect6": 270, "ptrace": 101, "quotactl": 179, "read": 0, "readlink": 89, "readlinkat": 267, "readv": 19,
    "reboot": 169, "recvfrom": 45, "recvmsg": 47, "removexattr": 197, "renameat2": 316, "request_key": 249,
    "restart_syscall": 219, "rseq": 334, "rt_sigaction": 13, "rt_sigprocmask": 14, "rt_sigqueueinfo": 129,
    "rt_sigreturn": 15, "rt_tgsigqueueinfo": 297, "sched_getaffinity": 204, "sched_setaffinity": 203,
    "sched_setscheduler": 144, "sched_yield": 24, "seccomp": 317, "select": 23, "semget": 64, "sendfile": 40,
    "sendmsg": 46, "sendto": 44, "set_mempolicy": 238, "set_mempolicy_home_node": 450, "set_robust_list": 273,
    "set_tid_address": 218, "setgid": 106, "sethostname": 170, "setitimer": 38, "setns": 308, "setpgid": 109,
    "setpriority": 141, "setrlimit": 160, "setsid": 112, "settimeofday": 164, "setuid": 105, "setxattr": 188,
    "shmat": 30, "shmget": 29, "sigaltstack": 131, "signalfd4": 289, "socket": 41, "socketpair": 53, "splice": 275,
    "stat": 4, "statx": 332, "swapoff": 168, "swapon": 167, "symlinkat": 266, "sync": 162, "syncfs": 306,
    "sysinfo": 99, "syslog": 103, "tee": 276, "tgkill": 234, "time": 201, "timer_create": 222, "timerfd_create": 283,
    "times": 100, "tkill": 200, "truncate": 76, "umask": 95, "umount2": 166, "uname": 63, "unlinkat": 263,
    "unshare": 272, "userfaultfd": 323, "utimensat": 280, "vfork": 58, "vmsplice": 278, "wait4": 61, "waitid": 247,
    "write": 1, "writev": 20,
}

_AARCH64 = {
    "accept": 202, "accept4": 242, "acct": 89, "add_key": 217, "adjtimex": 171, "bind": 200, "bpf": 280, "brk": 214,
    "capset": 91, "chdir": 49, "chroot": 51, "clock_getres": 114, "clock_gettime": 113, "clock_nanosleep": 115,
    "clock_settime": 112, "clone": 220, "clone3": 435, "close": 57, "close_range": 436, "connect": 203,
    "copy_file_range": 285, "delete_module": 106, "dup": 23, "dup3": 24, "epoll_create1": 20, "eventfd2": 19,
    "execve": 221, "execveat": 281, "exit": 93, "exit_group": 94, "faccessat": 48, "faccessat2": 439,
    "fallocate": 47, "fanotify_init": 262, "fchdir": 50, "fchmodat": 53, "fchownat": 54, "fcntl": 25,
    "finit_module": 273, "flock": 32, "fsetxattr": 7, "fsmount": 432, "fsopen": 430, "fspick": 433, "fstat": 80,
    "fstatfs": 44, "fsync": 82, "ftruncate": 46, "futex": 98, "futex_waitv": 449, "get_mempolicy": 236, "getcwd": 17,
    "getdents64": 61, "getegid": 177, "geteuid": 175, "getgid": 176, "getgroups": 158, "getitimer": 102,
    "getpeername": 205, "getpgid": 155, "getpid": 172, "getppid": 173, "getrandom": 278, "getresgid": 150,
    "getresuid": 148, "getrlimit": 163, "getrusage": 165, "getsid": 156, "getsockname": 204, "getsockopt": 209,
    "gettid": 178, "gettimeofday": 169, "getuid": 174, "getxattr": 8, "init_module": 105, "inotify_init1": 26,
    "io_setup": 0, "io_submit": 2, "io_uring_enter": 426, "io_uring_register": 427, "io_uring_setup": 425,
    "ioctl": 29, "kcmp": 272, "kexec_file_load": 294, "kexec_load": 104, "keyctl": 219, "kill": 129,
    "landlock_add_rule": 445, "landlock_create_ruleset": 444, "landlock_restrict_self": 446, "linkat": 37,
    "listen": 201, "listxattr": 11, "lookup_dcookie": 18, "lseek": 62, "lsetxattr": 6, "madvise": 233, "mbind": 235,
    "membarrier": 283, "memfd_create": 279, "memfd_secret": 447, "migrate_pages": 238, "mincore": 232, "mkdirat": 34,
    "mknodat": 33, "mlock": 228, "mlockall": 230, "mmap": 222, "mount": 40, "mount_setattr": 442, "move_mount": 429,
    "move_pages": 239, "mprotect": 226, "mq_open": 180, "mremap": 216, "msgget": 186, "msync": 227, "munmap": 215,
    "name_to_handle_at": 264, "nanosleep": 101, "newfstatat": 79, "open_by_handle_at": 265, "open_tree": 428,
    "openat": 56, "openat2": 437, "perf_event_open": 241, "personality": 92, "pidfd_getfd": 438, "pidfd_open": 434,
    "pidfd_send_signal": 424, "pipe2": 59, "pivot_root": 41, "pkey_alloc": 289, "ppoll": 73, "prctl": 167,
    "pread64": 67, "prlimit64": 261, "process_madvise": 440, "process_mrelease": 448, "process_vm_readv": 270,
    "process_vm_writev": 271, "pselect6": 72, "ptrace": 117, "quotactl": 60, "read": 63, "readlinkat": 78,
    "readv": 65, "reboot": 142, "recvfrom": 207, "recvmsg": 212, "removexattr": 14, "renameat2": 276,
    "request_key": 218, "restart_syscall": 128, "rseq": 293, "rt_sigaction": 134, "rt_sigprocmask": 135,
    "rt_sigqueueinfo": 138, "rt_sigreturn": 139, "rt_tgsigqueueinfo": 240, "sched_getaffinity": 123,
    "sched_setaffinity": 122, "sched_setscheduler": 119, "sched_yield": 124, "seccomp": 277, "semget": 190,
    "sendfile": 71, "sendmsg": 211, "sendto": 206, "set_mempolicy": 237, "set_mempolicy_home_node": 450,
    "set_robust_list": 99, "set_tid_address": 96, "setgid": 144, "sethostname": 161, "setitimer": 103, "setns": 268,
    "setpgid": 154, "setpriority": 140, "setrlimit": 164, "setsid": 157, "settimeofday": 170, "setuid": 146,
    "setxattr": 5, "shmat": 196, "shmget": 194, "sigaltstack": 132, "signalfd4": 74, "socket": 198,
    "socketpair": 199, "splice": 76, "statx": 291, "swapoff": 225, "swapon": 224, "symlinkat": 36, "sync": 81,
    "syncfs": 267, "sysinfo": 179, "syslog": 116, "tee": 77, "tgkill": 131, "timer_create": 107,
    "timerfd_create": 85, "times": 153, "tkill": 130, "truncate": 45, "umask": 166, "umount2": 39, "uname": 160,
    "unlinkat": 35, "unshare": 97, "userfaultfd": 282, "utimensat": 88, "vmsplice": 75, "wait4": 260, "waitid": 95,
    "write": 64, "writev": 66,
}
SYSCALLS = {"x86_64": _X86_64, "aarch64": _AARCH64}
