"""The sandbox against hostile completions: no false pass, nothing left running, nothing written, no secret read.

Each hostile sample answers a problem whose correct answer is 1 with a wrong value (or none) while
trying to make the harness believe it passed. Only the honest control samples may pass.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from evalkit.types import CodeTests, Problem, Sample
from evalkit.verify.code import CodeVerifier
from evalkit.verify.code.calibration import Cache

PROMPT = "def return1():\n"
PROBLEM = Problem(
    id="toy/0", prompt=PROMPT,
    tests=CodeTests("check", "return1", test="def check(candidate):\n    assert candidate() == 1\n",
                    canonical=PROMPT + "    return 1\n"),
)
IO_PROBLEM = Problem(
    id="toy/io", prompt="def double(x):\n",
    tests=CodeTests("io", "double", canonical="def double(x):\n    return 2 * x\n", inputs=[[1.5], [2.5], [-3.0]]),
)

HOSTILE = {
    "exit": "    exit(0)",
    "os_exit": "    import os; os._exit(0)",
    "sys_exit": "    import sys; sys.exit(0)",
    "exit_at_load": "    return 2\nimport os\nos._exit(0)",
    "systemexit_at_load": "    return 2\nraise SystemExit(0)",
    "eq_always_true": "    class A:\n        def __eq__(s, o): return True\n    return A()",
    "int_subclass": "    class I(int):\n        def __eq__(s, o): return True\n    return I(2)",
    "patch_builtins": "    import builtins; builtins.AssertionError = Exception; builtins.isinstance = lambda *a: True; return 2",
    "patch_unittest": "    import unittest; unittest.TestCase.assertEqual = lambda *a: None; return 2",
    "kill_parent": "    import os, signal; os.kill(os.getppid(), signal.SIGKILL); return 2",
    "kill_group": "    import os, signal; os.killpg(0, signal.SIGKILL)",
    "print_marker": "    print('passed'); print('{\"status\": \"pass\"}'); return 2",
    "write_fds": "    import os\n    for fd in range(3, 64):\n        try: os.write(fd, b'{\"status\": \"pass\", \"token\": \"x\"}')\n        except OSError: pass\n    return 2",
    "fork_bomb": "    import os\n    while True:\n        os.fork()",
    "subprocess": "    import subprocess; subprocess.run(['sh', '-c', 'touch /tmp/evalkit_pwned']); return 2",
    "infinite_loop": "    while True: pass",
    "sleep": "    import time; time.sleep(60); return 1",
    "memory_bomb": "    x = bytearray(1 << 40)",
    "gc_walk": "    import gc\n    for o in gc.get_objects():\n        if isinstance(o, dict) and 'token' in o: o['status'] = 'pass'\n    return 2",
    "syntax": "    return (",
    "garbage_frame": "    import os; os.write(3, b'\\xff\\xff\\xff\\xffjunk'); return 1",
    "forged_hello": "    return 2\nimport os, json, struct\nm = json.dumps({'ready': True}).encode()\nos.write(3, struct.pack('!I', len(m)) + m)\n",
    "proc_mem": (  # read the memory of a Python process (the harness, judge, fork server) through /proc
        "    import os\n"
        "    for pid in os.listdir('/proc'):\n"
        "        if not pid.isdigit() or int(pid) == os.getpid(): continue\n"
        "        try:\n"
        "            if 'python' not in open(f'/proc/{pid}/cmdline').read().split(chr(0))[0]: continue\n"
        "            line = next(l for l in open(f'/proc/{pid}/maps') if ' r' in l)\n"
        "            with open(f'/proc/{pid}/mem', 'rb') as f:\n"
        "                f.seek(int(line.split('-')[0], 16)); f.read(16)\n"
        "            return 1\n"
        "        except Exception: pass\n"
        "    return 2"),
}


@pytest.fixture(scope="module")
def verifier(tmp_path_factory):
    v = CodeVerifier(workers=2, cpu_floor=1.0, cache=Cache(tmp_path_factory.mktemp("calibration")))
    yield v
    v.close()


def grade(verifier, problem, completions):
    items = [(problem, Sample(problem.id, i, None, c)) for i, c in enumerate(completions)]
    return {g.sample_index: g for g in verifier.grade(items)}


def test_hostile_completions_never_pass(verifier, tmp_path, monkeypatch):
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("hunter2")
    monkeypatch.setenv("EVALKIT_TEST_SECRET", "hunter2")
    target = tmp_path / "written.txt"
    extra = {
        "write_file": f"    open({str(target)!r}, 'w').write('x'); return 1",
        "read_env_secret": "    import os; return 1 if os.environ.get('EVALKIT_TEST_SECRET') == 'hunter2' else 2",
        "read_file_secret": f"    return 1 if open({str(secret_file)!r}).read() == 'hunter2' else 2",
    }
    cases = {**HOSTILE, **extra, "honest": "    return 1\n"}
    names = list(cases)
    grades = grade(verifier, PROBLEM, [cases[n] for n in names])
    verdict = {names[i]: g for i, g in grades.items()}
    passed = sorted(n for n, g in verdict.items() if g.correct)
    allowed = {"honest"} if verifier.mode == "bwrap" else {"honest", "read_file_secret"}
    assert set(passed) <= allowed and "honest" in passed, {n: (g.status, g.detail) for n, g in verdict.items()}
    assert verdict["infinite_loop"].status == "timeout" and verdict["sleep"].status == "timeout"
    assert verdict["memory_bomb"].status == "oom"
    assert verdict["syntax"].status == "syntax_error"
    assert not target.exists() and not Path("/tmp/evalkit_pwned").exists()


def test_without_bubblewrap_other_processes_memory_stays_closed():
    """No namespaces here: the program sees every pid (harness, judge, fork server), yet reads none of
    their memory. (Processes in user namespaces owned by the same user, e.g. other bubblewrap
    sandboxes, are out of reach of this check: their owner has every capability in them.)"""
    same_ns = HOSTILE["proc_mem"].replace(
        "[0]: continue\n", "[0]: continue\n            if os.readlink(f'/proc/{pid}/ns/user') != os.readlink('/proc/self/ns/user'): continue\n", 1)
    with CodeVerifier(workers=1, cpu_floor=1.0, sandbox="none") as v:
        grades = grade(v, PROBLEM, [same_ns, HOSTILE["kill_parent"], "    return 1\n"])
    assert [grades[i].status for i in range(3)] == ["wrong", "wrong", "correct"], [grades[i].detail for i in range(3)]


def test_nothing_left_running_after_close(tmp_path):
    before = _children()
    v = CodeVerifier(workers=1, cpu_floor=1.0)
    grade(v, PROBLEM, ["    return 1\n", "    import threading, time\n    threading.Thread(target=time.sleep, args=(100,)).start()\n    return 1\n"])
    assert _children() - before, "the verifier should have started a worker"
    v.close()
    assert _children() - before == set(), "processes left behind"


def _children() -> set[str]:
    return {p for p in os.listdir("/proc") if p.isdigit() and _ppid(p) == os.getpid()}


def _ppid(pid: str) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def test_io_mode_compares_plain_values_outside_the_program(verifier):
    grades = grade(verifier, IO_PROBLEM, [
        "    return 2 * x\n",
        "    return x + x + 1e-9\n",  # within EvalPlus's float tolerance
        "    return 2 * x + 1\n",
        "    class F(float):\n        def __eq__(s, o): return True\n    return F(0)\n",
        "    return str(2 * x)\n",
    ])
    assert [grades[i].status for i in range(5)] == ["correct", "correct", "wrong", "wrong", "wrong"]


def test_stdio_is_detached_from_the_test_channel(verifier):
    """print() and input() go to /dev/null: a chatty correct program passes, one waiting for input
    fails at once (EOFError), neither garbles the judge's socket."""
    grades = grade(verifier, PROBLEM, [
        "    print('x' * 100000); import sys; sys.stderr.write('e' * 100000)\n    return 1\n",
        "    return 1\nx = input('Enter a number: ')\n",
        "    return int(input())\n",
    ])
    assert [grades[i].status for i in range(3)] == ["correct", "wrong", "wrong"], [grades[i].detail for i in range(3)]
    assert "EOFError" in grades[1].detail and "EOFError" in grades[2].detail


def test_worker_killed_from_outside_gives_error_then_recovers(verifier):
    w = verifier._workers[0]
    w.proc.kill()
    w.proc.wait()
    grades = grade(verifier, PROBLEM, ["    return 1\n"] * 4)
    assert all(g.status in ("correct", "error") for g in grades.values())
    assert sum(g.correct for g in grades.values()) >= 3


def test_only_stdlib_and_numpy_are_importable(verifier):
    """Like the reference harnesses' environments: a sample importing pandas fails, numpy works."""
    grades = grade(verifier, PROBLEM, ["    import pandas\n    return 1\n", "    import numpy as np\n    return int(np.int64(1))\n",
                                       "    import heapq, collections, itertools\n    return 1\n"])
    assert [grades[i].status for i in range(3)] == ["wrong", "correct", "correct"], [grades[i].detail for i in range(3)]
    assert "pandas" in grades[0].detail


def test_numpy_runs_one_blas_thread_whatever_the_cores(verifier):
    """OpenBLAS starts a thread per core unless told otherwise: their spinning would be charged to the
    sample, and past 63 cores they meet the thread cap, where OpenBLAS raises SIGINT. The program asks
    numpy's own OpenBLAS how many threads it runs (on this machine's cores it would say their count)."""
    probe = ("    import ctypes, glob, os\n    import numpy as np\n    a = np.ones((200, 200)); (a @ a).sum()\n"
             "    [lib] = glob.glob(os.path.join(os.path.dirname(np.__file__) + '.libs', '*openblas*'))\n"
             "    blas = ctypes.CDLL(lib)\n"
             "    get = [getattr(blas, n) for n in ('scipy_openblas_get_num_threads64_', 'openblas_get_num_threads')\n"
             "           if hasattr(blas, n)][0]\n"
             "    return get()\n")
    import glob

    import numpy as np
    if not glob.glob(os.path.join(os.path.dirname(np.__file__) + ".libs", "*openblas*")):
        pytest.skip("this numpy does not bundle OpenBLAS")
    grades = grade(verifier, PROBLEM, [probe])
    assert grades[0].correct, grades[0].detail  # PROBLEM's answer is 1


def test_killing_the_fork_server_mid_sample_leaves_nothing_running():
    import threading
    import time

    v = CodeVerifier(workers=1)
    t = threading.Thread(target=grade, args=(v, PROBLEM, ["    import time\n    time.sleep(30)\n    return 1\n"]))
    t.start()
    deadline, tree = time.monotonic() + 60, []
    while time.monotonic() < deadline:  # until the child is forked: the sandbox starts slowly on a busy machine
        time.sleep(0.2)
        root = v._workers[0].proc.pid if v._workers and v._workers[0].proc else None
        tree = _descendants(root) if root else []
        if sum("worker.py" in _cmdline(p) for p in [str(root), *tree]) >= 2:  # the fork server and its child
            break
    assert tree, "the sample should be running"
    v._workers[0].proc.kill()
    t.join(timeout=30)
    time.sleep(0.5)
    running = [p for p in tree if _state(p) not in (None, "Z")]
    v.close()
    assert running == []


def _descendants(pid: int) -> list[str]:
    kids = [p for p in os.listdir("/proc") if p.isdigit() and _ppid(p) == pid]
    return kids + [d for k in kids for d in _descendants(int(k))]


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def _state(pid: str) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _order_under_seed(seed: str, words: list[str]) -> list[str]:
    import subprocess
    import sys

    code = f"print(list(set({words!r})))"
    out = subprocess.run([sys.executable, "-c", code], env={"PYTHONHASHSEED": seed}, capture_output=True, text=True)
    return eval(out.stdout)


def test_outputs_that_depend_on_the_hash_seed_fail_for_everyone(verifier):
    """list(set(strings)) has no reproducible order: the inputs where the reference's output changes
    with the interpreter's hash seed fail every sample (as EvalPlus's cached outputs make them), the
    others are graded as usual, and a set returned as a set is stable."""
    words = ["apple", "banana", "cherry", "damson", "elder", "fig", "grape", "hazel"]
    assert _order_under_seed("0", words) != _order_under_seed("1", words), "premise: the order depends on the seed"
    problem = Problem(id="toy/seed", prompt="def uniq(xs):\n", tests=CodeTests(
        "io", "uniq", canonical="def uniq(xs):\n    return list(set(xs))\n", inputs=[[["a"]], [[]], [words]]))
    as_set = Problem(id="toy/set", prompt="def uniq(xs):\n", tests=CodeTests(
        "io", "uniq", canonical="def uniq(xs):\n    return set(xs)\n", inputs=[[["a"]], [words]]))
    unstable = grade(verifier, problem, ["    return list(set(xs))\n", "    return ['b']\n"])
    assert unstable[0].status == "wrong" and "test 2" in unstable[0].detail and "hash seed" in unstable[0].detail
    assert unstable[1].status == "wrong" and "test 0" in unstable[1].detail  # fails earlier, on its own merits
    stable = grade(verifier, as_set, ["    return set(xs)\n", "    return set(reversed(xs))\n"])
    assert [stable[0].status, stable[1].status] == ["correct", "correct"]
    set_oracle = Problem(id="toy/seteq", prompt="def similar_elements(xs):\n", tests=CodeTests(  # EvalPlus compares these as sets
        "io", "similar_elements", canonical="def similar_elements(xs):\n    return list(set(xs))\n", inputs=[[words]],
        rules=("set_eq",)))
    assert grade(verifier, set_oracle, ["    return list(set(xs))\n"])[0].status == "correct"


def test_calibration_is_kept_on_disk_and_only_a_sound_one(tmp_path):
    """A second verifier reuses the stored calibration without running the reference; an unreadable
    entry or changed tests mean a fresh run; a reference that fails is not stored."""
    cache = Cache(tmp_path)
    with CodeVerifier(workers=1, cache=cache) as v:
        first = v.calibrate(IO_PROBLEM)
    stored = list((tmp_path / "calibration").glob("*.json"))
    assert len(stored) == 1 and first.expected == [3.0, 5.0, -6.0]
    measured = []

    def counting(v):
        inner = v._measure
        v._measure = lambda t: measured.append(t.canonical) or inner(t)
        return v

    with counting(CodeVerifier(workers=1, cache=cache)) as v:
        assert v.calibrate(IO_PROBLEM) == first and measured == []
    stored[0].write_text('{"cpu": ')
    with counting(CodeVerifier(workers=1, cache=cache)) as v:
        assert v.calibrate(IO_PROBLEM) == first and len(measured) == 1
        assert v.calibrate(IO_PROBLEM) == first and len(measured) == 1  # once per verifier
        changed = Problem(id="toy/io", prompt="def double(x):\n", tests=replace(IO_PROBLEM.tests, inputs=[[4.0]]))
        assert v.calibrate(changed).expected == [8.0] and len(measured) == 2
        broken = Problem(id="toy/bad", prompt="def double(x):\n", tests=replace(IO_PROBLEM.tests, canonical="def double(x):\n    raise ValueError\n"))
        assert v.calibrate(broken).error
    assert len(list((tmp_path / "calibration").glob("*.json"))) == 2


def test_bubblewrap_is_used_wherever_it_works():
    """auto must not quietly fall back to plain processes where bwrap itself runs (e.g. from a
    checkout under /tmp, which bwrap's private /tmp must not hide)."""
    import shutil
    import subprocess

    from evalkit.verify.code.sandbox import resolve_mode

    bwrap = shutil.which("bwrap")
    if not bwrap or subprocess.run([bwrap, "--unshare-all", "--ro-bind", "/", "/", "true"], capture_output=True).returncode:
        pytest.skip("bubblewrap is not installed or cannot create namespaces here")
    assert resolve_mode("auto") == "bwrap"


def test_a_machine_without_seccomp_is_announced(monkeypatch, capsys):
    """Without the filter, children are confined by bubblewrap (when present) and rlimits only: say so."""
    from evalkit.verify.code import sandbox

    monkeypatch.setattr(sandbox.Worker, "seccomp", property(lambda self: False))
    with CodeVerifier(workers=1, cpu_floor=1.0) as v:
        assert grade(v, PROBLEM, ["    return 1\n"])[0].correct
    assert "no seccomp filter on this machine" in capsys.readouterr().err


LOOP_PROBLEM = Problem(
    id="toy/loop", prompt="def f(x):\n",
    tests=CodeTests("check", "f", canonical="def f(x):\n    return x\n",
                    test="def check(candidate):\n" + "".join(f"    assert candidate({i}) == {i}\n" for i in range(5))),
)


@pytest.mark.slow
def test_a_loop_ends_at_its_first_calls_cpu_limit(tmp_path):
    """Per-call limits, measured by the judge from outside the program: a loop (in Python or inside one C
    call) stops at the call's CPU limit, far below the whole sample's, a call that sleeps at the call's
    wall-clock limit; handling or ignoring signals changes nothing (no limit is a signal in the program)."""
    with CodeVerifier(workers=2, cpu_floor=3.0, call_floor=0.2, cache=Cache(tmp_path)) as v:
        completions = {
            "honest": "    return x",
            "python_loop": "    while x == 3: pass\n    return x",
            "c_loop": "    return x if x != 2 else sum(range(10 ** 13))",
            "sleeps": "    import time\n    if x == 4: time.sleep(60)\n    return x",
            "ignores_cpu_timer": ("    import signal\n    signal.signal(signal.SIGPROF, signal.SIG_IGN)\n"
                                  "    while x == 1: pass\n    return x"),
            "ignores_signals": ("    import signal\n    for s in (signal.SIGPROF, signal.SIGALRM, signal.SIGXCPU, signal.SIGVTALRM):\n"
                                "        signal.signal(s, signal.SIG_IGN)\n    while x == 1: pass\n    return x"),
        }
        got = grade(v, LOOP_PROBLEM, list(completions.values()))
    verdict = dict(zip(completions, (got[i] for i in range(len(completions)))))
    assert verdict["honest"].correct
    for name in ("python_loop", "c_loop", "ignores_cpu_timer", "ignores_signals"):
        assert verdict[name].status == "timeout" and "CPU time limit of 0.2s for one call" in verdict[name].detail, verdict[name]
    assert verdict["sleeps"].status == "timeout" and "wall-clock limit of 2.6s for one call" in verdict["sleeps"].detail, verdict["sleeps"]


def test_default_workers_count_the_cores_this_process_may_use():
    """A Slurm job or `taskset` gives a process a few of the host's cores: two workers per core means
    those cores, not the host's (which would start hundreds of sandboxes on a big node)."""
    import shutil
    import subprocess
    import sys

    if not hasattr(os, "sched_getaffinity") or not shutil.which("taskset"):
        pytest.skip("needs sched_getaffinity and taskset")
    core = sorted(os.sched_getaffinity(0))[0]
    out = subprocess.run(["taskset", "-c", str(core), sys.executable, "-c",
                          "from evalkit.verify.code import default_workers; print(default_workers())"],
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["2"]


@pytest.mark.slow
def test_default_workers_under_full_load_keep_verdicts(tmp_path):
    """The default two workers per core, with every core also kept busy by other processes: a program
    that spends a third of each call's CPU limit still passes and a loop still stops at that limit on
    CPU time. Only CPU time is a limit; the wall clock's allows 3x it plus 2 s (wall_limit)."""
    import subprocess
    import sys

    from evalkit.verify.code import default_workers

    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        with CodeVerifier(cpu_floor=3.0, call_floor=0.3, cache=Cache(tmp_path)) as v:
            assert v.n == default_workers() == 2 * len(os.sched_getaffinity(0))
            heavy = "    import time\n    t = time.process_time()\n    while time.process_time() - t < 0.1: pass\n    return x"
            got = grade(v, LOOP_PROBLEM, [heavy] * (2 * v.n) + ["    while x == 3: pass\n    return x"] * 2)
    finally:
        for b in burners:
            b.kill()
            b.wait()
    assert all(got[i].correct for i in range(2 * v.n)), [got[i] for i in range(2 * v.n) if not got[i].correct]
    for i in (2 * v.n, 2 * v.n + 1):
        assert got[i].status == "timeout" and "CPU time limit of 0.3s for one call" in got[i].detail, got[i]
