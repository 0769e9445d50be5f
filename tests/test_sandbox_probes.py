"""The child's confinement probed from model-written code: rarely needed system calls never reach the
kernel (seccomp allow-list), the calibration cache, benchmark data and repository stay unreadable with
and without bubblewrap (Landlock), honest programs still pass. (The hostile suite is
tests/test_code_sandbox.py.)"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest

from evalkit.types import CodeTests, Problem, Sample
from evalkit.verify.code import CodeVerifier
from evalkit.verify.code.calibration import Cache

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "evalkit" / "verify" / "code" / "procs"))
import landlock  # noqa: E402  (top-level modules of the sandbox's scripts)
import linux  # noqa: E402
import seccomp  # noqa: E402

PROBES = (
    "add_key request_key keyctl name_to_handle_at open_by_handle_at process_madvise memfd_secret memfd_create "
    "userfaultfd perf_event_open bpf io_uring_setup mount umount2 unshare setns ptrace process_vm_readv "
    "process_vm_writev kexec_load init_module finit_module pidfd_open pidfd_getfd pidfd_send_signal personality "
    "socket socketpair fork vfork execve execveat kill tkill tgkill openat2 seccomp landlock_create_ruleset "
    "unlinkat mkdirat renameat2 symlinkat fchmodat truncate chroot setsid setpgid setpriority sched_setaffinity "
    "mlock move_pages kcmp fanotify_init inotify_init1 fsopen open_tree quotactl syslog acct capset sendmsg "
    "connect bind accept splice vmsplice epoll_create1 eventfd2 timerfd_create pipe2 msgget shmget iopl "
    "arch_prctl setrlimit wait4 umask sync flock membarrier io_setup setxattr utimensat fallocate "
    "setitimer getitimer alarm timer_create mbind get_mempolicy set_mempolicy"
).split()
ARCH = platform.machine()
pytestmark = pytest.mark.skipif(ARCH not in linux.SYSCALLS, reason="seccomp filter only on x86_64 and aarch64")

PROMPT = "def probe():\n"
PROBLEM = Problem(id="toy/probe", prompt=PROMPT, tests=CodeTests(
    "check", "probe", canonical=PROMPT + "    return []\n", test="def check(candidate):\n    assert candidate() == []\n"))


def probe_program(names: list[str]) -> str:
    """A completion that calls each system call by number with zero arguments (plus a few with
    arguments that would succeed if the call reached the kernel) and returns those that did not
    fail with EPERM or ENOSYS."""
    table = linux.SYSCALLS[ARCH]
    calls = {n: table[n] for n in names if n in table}
    return (
        "    import ctypes, errno, os\n"
        "    libc = ctypes.CDLL(None, use_errno=True)\n"
        "    libc.syscall.restype = ctypes.c_long\n"
        f"    calls = {calls!r}\n"
        "    args = {'kill': (os.getppid(), 0), 'tgkill': (os.getpid(), os.getpid(), 0), 'socket': (1, 1, 0),\n"
        "            'memfd_create': (ctypes.c_char_p(b'x'), 0), 'pidfd_open': (os.getppid(), 0), 'personality': (0xffffffff,),\n"
        "            'pipe2': (ctypes.create_string_buffer(8), 0), 'umask': (0o22,), 'epoll_create1': (0,)}\n"
        "    reached = []\n"
        "    for name, nr in calls.items():\n"
        "        ctypes.set_errno(0)\n"
        "        r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) if isinstance(a, int) else a for a in args.get(name, ())])\n"
        "        if r == 0 and name in ('fork', 'vfork'):\n"
        "            os._exit(0)\n"
        "        if r != -1 or ctypes.get_errno() not in (errno.EPERM, errno.ENOSYS):\n"
        "            reached.append((name, r, ctypes.get_errno()))\n"
        "    return reached\n"
    )


HONEST = {
    "numpy": "    import numpy as np\n    a = np.arange(9.0).reshape(3, 3) + np.eye(3)\n    np.linalg.inv(a); np.fft.fft(a)\n"
             "    return [] if np.random.default_rng(0).random(3).shape == (3,) else [1]",
    "threads": "    import threading, concurrent.futures as cf\n    out = []\n"
               "    ts = [threading.Thread(target=out.append, args=(i,)) for i in range(4)]\n"
               "    [t.start() for t in ts]; [t.join() for t in ts]\n"
               "    with cf.ThreadPoolExecutor(4) as ex: total = sum(ex.map(abs, range(-5, 5)))\n"
               "    return [] if sorted(out) == [0, 1, 2, 3] and total == 25 else [1]",
    "recursion": "    import sys\n    sys.setrecursionlimit(50000)\n    def depth(n): return 0 if n == 0 else 1 + depth(n - 1)\n"
                 "    return [] if depth(20000) == 20000 else [1]",
    "big_ints": "    import sys\n    sys.set_int_max_str_digits(0)\n    return [] if len(str(3 ** 100000)) == 47713 else [1]",
    "stdlib": "    import json, re, math, itertools, random, time, datetime, decimal, fractions, hashlib, os\n"
              "    random.seed(1); random.random(); os.urandom(4); time.sleep(0.001); datetime.datetime.now(); time.localtime()\n"
              "    ok = json.loads(json.dumps({'a': [1]})) == {'a': [1]} and re.findall(r'\\d+', 'a1b22') == ['1', '22']\n"
              "    ok = ok and math.comb(5, 2) == 10 and len(list(itertools.permutations(range(4)))) == 24\n"
              "    ok = ok and str(decimal.Decimal(1) / 8) == '0.125' and fractions.Fraction(1, 3) * 3 == 1\n"
              "    return [] if ok and hashlib.sha256(b'').hexdigest().startswith('e3b0') else [1]",
    "signal_handler": "    import signal\n    old = signal.signal(signal.SIGINT, lambda *a: None)\n    signal.signal(signal.SIGINT, old)\n"
                      "    return [] if signal.getsignal(signal.SIGINT) is old else [1]",
}


@pytest.fixture(scope="module")
def verifier(tmp_path_factory):
    v = CodeVerifier(workers=2, cpu_floor=2.0, cache=Cache(tmp_path_factory.mktemp("calibration")))
    yield v
    v.close()


def grade(verifier, completions: list[str]):
    items = [(PROBLEM, Sample(PROBLEM.id, i, None, c)) for i, c in enumerate(completions)]
    return {g.sample_index: g for g in verifier.grade(items)}


def test_rare_system_calls_never_reach_the_kernel(verifier):
    assert verifier._start() is None and verifier._workers[0].seccomp
    g = grade(verifier, [probe_program(PROBES)])[0]
    assert g.correct, g.detail


def test_honest_programs_still_pass(verifier):
    g = grade(verifier, list(HONEST.values()))
    assert {n: g[i].status for i, n in enumerate(HONEST)} == {n: "correct" for n in HONEST}, [g[i].detail for i in g]


def test_the_filter_is_an_allow_list_documented_by_group():
    names = seccomp.allowed_names()
    for arch, table in linux.SYSCALLS.items():
        assert seccomp._program(arch)  # assembles: every jump in range
        assert not set(PROBES) & set(names)
    doc = set(re.findall(r"\w+", seccomp.__doc__))
    assert [n for n in names if n not in doc] == []


REPO = Path(__file__).resolve().parents[1]


def secret_paths(tmp_path: Path) -> list[str]:
    """Files and directories holding expected outputs or results: the calibration cache (the one in use
    and the default), the benchmark data, the repository."""
    cache = tmp_path / "calibration"
    cache.mkdir(exist_ok=True)
    (cache / "toy.json").write_text('{"expected": [1]}')
    default_cache = Path(os.environ.get("EVALKIT_CACHE_DIR") or Path.home() / ".cache" / "evalkit")
    data = Path(os.environ.get("EVALKIT_DATA_DIR") or tmp_path / "data")
    data.mkdir(exist_ok=True)
    paths = [cache, cache / "toy.json", default_cache, data, REPO / "README.md", REPO / "tests"]
    paths += sorted(data.glob("*.jsonl"))[:1] + sorted(default_cache.glob("calibration/*.json"))[:1]
    return [str(p) for p in paths if p.exists()]


def reader_program(paths: list[str]) -> str:
    """A completion returning the paths it could open or list."""
    return ("    import os\n    got = []\n"
            f"    for p in {paths!r}:\n"
            "        try:\n"
            "            os.listdir(p) if os.path.isdir(p) else open(p, 'rb').read(1)\n"
            "            got.append(p)\n"
            "        except OSError:\n"
            "            pass\n"
            "    return got\n")


def _modes() -> list[str]:
    from evalkit.verify.code.sandbox import resolve_mode

    return ["none"] + (["bwrap"] if resolve_mode("auto") == "bwrap" else [])


@pytest.mark.skipif(landlock.abi() < 1, reason="no Landlock on this kernel")
@pytest.mark.parametrize("mode", ["none", "bwrap"])
def test_cache_data_and_repository_are_unreadable(mode, tmp_path):
    if mode not in _modes():
        pytest.skip("bubblewrap does not start here")
    paths = secret_paths(tmp_path)
    assert len(paths) >= 5
    with CodeVerifier(workers=1, cpu_floor=2.0, sandbox=mode, cache=Cache(tmp_path / "calibration")) as v:
        assert mode == "bwrap" or v._start() is None and v._workers[0].landlock
        g = grade(v, [reader_program(paths), HONEST["numpy"], HONEST["stdlib"], probe_program(PROBES)])
    assert [g[i].status for i in range(4)] == ["correct"] * 4, [g[i].detail for i in range(4)]


def test_probes_through_evalkit_score(tmp_path):
    """End to end: `evalkit score` on a tiny code problem set; the probes and the reader fail their
    test only if a system call reached the kernel or a secret was read, an honest sample passes."""
    problem = {"task_id": "probe/0", "prompt": PROMPT, "canonical_solution": "    return []\n", "entry_point": "probe",
               "test": "def check(candidate):\n    assert candidate() == []\n"}
    (tmp_path / "problems.jsonl").write_text(json.dumps(problem) + "\n")
    completions = [probe_program(PROBES), reader_program(secret_paths(tmp_path)), HONEST["threads"], "    return [1]\n"]
    (tmp_path / "samples.jsonl").write_text("".join(json.dumps({"task_id": "probe/0", "completion": c}) + "\n" for c in completions))
    run = subprocess.run([sys.executable, "-m", "evalkit", "score", "--bench", "humaneval", "--data", str(tmp_path / "problems.jsonl"),
                          "--samples", str(tmp_path / "samples.jsonl"), "--out", str(tmp_path / "out"), "--allow-unknown-data"],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert run.returncode == 0, run.stderr[-2000:]
    grades = [json.loads(line) for line in (tmp_path / "out" / "grades.jsonl").read_text().splitlines()]
    assert sorted((g["sample_index"], g["correct"]) for g in grades) == [(0, True), (1, True), (2, True), (3, False)], grades
