"""Code verifier: runs model-written programs against benchmark tests in a sandbox.

    sample --assemble.py--> program --sandbox.py--> fork server (procs/worker.py): limits only --fork--> procs/child.py
                                      |--> the program, over the child's own socket, after the fork --------> model code;
                                      |                                            Landlock, seccomp, rlimits
                                      '--> tests --> judge (procs/judge.py, one per worker) <--socket: plain data only
    verdict (token-checked) + the child's exit report --> Grade

`Problem.tests` is a `types.CodeTests` record, built by the adapters (evalkit/adapters/code.py,
livecodebench.py) with every benchmark quirk already resolved: inputs are the Python values the tests
call with, and comparison quirks are named generic rules (types.IO_RULES). Modes:
  check: assert-style test code calling check(candidate), with the reference program's helpers;
  io: inputs whose outputs are compared with those the reference program gives (EvalPlus's rules);
  lcb: LiveCodeBench's tests, kind "stdin" (a whole program per test) or "method"
  (`Solution().<entry_point>`); no reference solution: its CPU limits are LCB's timeouts (lcb_program.py).
Each problem is calibrated once by running its reference program: io mode collects the expected
outputs, and the CPU limit becomes max(floor, cpu_factor x reference CPU time) (EvalPlus style).
Two limits apply: each call of the candidate (one io input, one call from check(), one LiveCodeBench
test) may use max(CALL_FLOOR, 4x the reference's whole run) of CPU, measured by the judge from outside
the program (procs/channel.py), so an infinite loop ends at its first call; the whole sample keeps
RLIMIT_CPU = max(CPU_FLOOR, 4x the reference) (the kernel) as the backstop. References are measured in
children of their own like any sample (the fork server never holds a program).
Because loops end at the call limit, the whole-sample floors can sit far above any sample that
passes (10 s for check(); 20 s for io, 10x the slowest passing sample seen, HumanEval/138's brute
force at ~1.9 s idle, which used over 4 s of CPU on a busy 2-core machine): a sample near a limit is
what flips under load, and CPU time itself grows when cores are shared.
In io mode the reference also runs under a second string-hash seed: an input whose expected output
differs between the two (a list built from a set of strings, say) has no reproducible answer. Every
sample fails it, with that reason, which is what EvalPlus's published figures show: its expected
outputs are cached by one process and compared with samples run by another. Calibrations are
kept on disk (calibration.py), so the next run over the same problems starts grading at once.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Iterable, Iterator

from ...types import CodeTests, EvalkitError, Grade, Problem, Sample
from .assemble import assemble
from . import lcb_program
from .calibration import Cache, Calibration, Reference, decode_expected
from .sandbox import HASH_SEED, JUDGE_CPU_EXTRA, MAX_THREADS, Outcome, Worker, resolve_mode, shield_harness

# The reference is trusted code and runs once per problem (then cached): its limit only has to be far
# above what any reference takes. MBPP+ v0.2.0's Mbpp/599 sums ranges of 10^8 on eight inputs, 63 s of
# CPU on an idle 2-core machine: a 60 s limit failed it some runs and not others, and with it every sample.
CALIBRATION_CPU = 300.0
CPU_FLOOR = {"check": 10.0, "io": 20.0}  # the whole sample's CPU seconds, whatever the reference takes (see above)
# One call of the candidate may use this much CPU, or 4x the reference's whole run if more. The
# slowest passing CodeT HumanEval sample uses 16 ms in all (check); EvalPlus gives each input at
# least 1 s (older releases) to 4 s (newer) of wall time (io: the old whole-sample floor, 2 s).
CALL_FLOOR = {"check": 0.25, "io": 2.0}
PROBE_SEED = "1"  # the second string-hash seed calibration runs io references under


class CodeVerifier:
    def __init__(self, workers: int | None = None, cpu_floor: float | None = None, cpu_factor: float = 4.0,
                 cpu_cap: float = 60.0, memory_mb: int = 4096, sandbox: str | None = None,
                 modules: str = "numpy", cache: Cache | None = None, call_floor: float | None = None):
        self.n = workers or default_workers()
        self.cpu_floor, self.cpu_factor, self.cpu_cap, self.memory_mb = cpu_floor, cpu_factor, cpu_cap, memory_mb
        self.call_floor = call_floor  # None: CALL_FLOOR by mode
        self.sandbox, self.modules = sandbox, modules  # modules: importable beyond the stdlib ("*": all)
        self.mode: str | None = None
        self._idle: dict[str, queue.Queue[Worker]] = {HASH_SEED: queue.Queue(), PROBE_SEED: queue.Queue()}
        self._workers: list[Worker] = []
        self._lock = threading.Lock()
        # id(problem.tests) -> (those tests, their calibration). Holding the tests keeps their id()
        # unique for this verifier's life: it also keys the judges' caches of prepared tests.
        self._calib: dict[int, tuple[CodeTests, Calibration]] = {}
        self.cache = cache or Cache()
        self.use_seccomp = True  # False: children run as where seccomp is missing (the rlimit-only fallback; tests)
        self.judge_cpu_extra = JUDGE_CPU_EXTRA  # the judge's CPU budget per sample: the sample's CPU limit + this
        self._unclaimed: set[Future] = set()  # samples submitted whose grades grade() has not yielded yet
        self._stopping = threading.Event()  # set by interrupt() and close(): no sample may borrow a worker any more

    # -- public ---------------------------------------------------------------------------------
    def grade(self, items: Iterable[tuple[Problem, Sample]]) -> Iterator[Grade]:
        items = list(items)
        if not items:
            return
        self._stopping.clear()
        self._start()
        ex = ThreadPoolExecutor(self.n)
        try:
            todo = {id(p.tests): p for p, _ in items if id(p.tests) not in self._calib}
            list(ex.map(self.calibrate, todo.values()))  # each problem once, all cores
            self._unclaimed = {ex.submit(self.grade_one, p, s) for p, s in items}
            for f in as_completed(list(self._unclaimed)):
                self._unclaimed.discard(f)
                yield f.result()
        finally:  # an error, Ctrl-C or an abandoned generator: the queued samples are dropped, not graded
            ex.shutdown(wait=False, cancel_futures=True)

    def interrupt(self) -> list[Grade]:
        """Ctrl-C: start no further sample and return the grades finished but not yet yielded, so that
        none is lost; the samples still running end when close() stops their workers."""
        self._stopping.set()
        unclaimed, self._unclaimed = self._unclaimed, set()
        for f in unclaimed:
            f.cancel()
        return [f.result() for f in unclaimed if f.done() and not f.cancelled() and f.exception() is None]

    def close(self) -> None:
        """Stop every worker, all at once: each may take a second to clean up (Worker.stop). A sample
        still running in a pool thread (after an error or Ctrl-C) starts no new worker afterwards."""
        self._stopping.set()  # grade() clears it: a closed verifier can grade again
        with self._lock:
            workers, self._workers = self._workers, []
            self._idle = {seed: queue.Queue() for seed in self._idle}
        stoppers = [threading.Thread(target=w.stop, name="evalkit-sandbox-stop") for w in workers]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()

    def __enter__(self) -> "CodeVerifier":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- per problem / per sample ----------------------------------------------------------------
    def calibrate(self, problem: Problem) -> Calibration:
        """Per problem *content* (the same id in two releases differs), once per verifier."""
        t = _tests(problem)
        known = self._calib.get(id(t))
        if known is None:
            known = self._calib[id(t)] = (t, self._calibration(t))
        return known[1]

    def _calibration(self, t: CodeTests) -> Calibration:
        if t.mode == "lcb":  # no reference solution: LCB's own timeouts, as CPU seconds
            return Calibration(lcb_program.cpu_limit(len(t.inputs)), call_limit=lcb_program.TEST_CPU)
        key = self.cache.key(t.identity(), self.modules)
        ref = self.cache.load(key)
        if ref is None:
            ref, error, complete = self._measure(t)
            if ref is None:
                return Calibration(0.0, error=error)
            if complete:
                self.cache.store(key, ref)
        floor = self.cpu_floor if self.cpu_floor is not None else CPU_FLOOR[t.mode]
        call_floor = self.call_floor if self.call_floor is not None else CALL_FLOOR[t.mode]
        return ref.calibration(floor, self.cpu_factor, self.cpu_cap, call_floor)

    def _measure(self, t: CodeTests) -> tuple[Reference | None, str, bool]:
        """Run the reference: its CPU time; in io mode its outputs, and which of them depend on the hash
        seed. Returns (reference, error, complete): incomplete when the seed probe itself failed."""
        outcome = self._run(t.canonical, t, CALIBRATION_CPU, expected=None, mem_mb=4 * self.memory_mb)
        status, detail = classify(outcome, CALIBRATION_CPU, collecting=t.mode == "io")
        if status != "correct":
            return None, f"reference solution {status}: {detail}", False
        cpu = (outcome.report or {}).get("child", {}).get("cpu", 0.0)
        if t.mode != "io":
            return Reference(cpu, None), "", True
        outputs = outcome.verdict["outputs"]  # type: ignore[index]
        # The reference again, under another hash seed, judged against these outputs by the usual rules.
        probe = self._run(t.canonical, t, CALIBRATION_CPU, expected=[decode_expected(x) for x in outputs],
                          mem_mb=4 * self.memory_mb, seed=PROBE_SEED, list_mismatches=True)
        compared = probe.verdict if probe.verdict and probe.verdict.get("status") == "compared" else None
        return Reference(cpu, outputs, tuple((compared or {}).get("mismatches", ()))), "", compared is not None

    def grade_one(self, problem: Problem, sample: Sample) -> Grade:
        t = _tests(problem)
        base = dict(problem_id=sample.problem_id, sample_index=sample.sample_index)
        cal = self.calibrate(problem)
        if cal.error:
            return Grade(**base, correct=False, status="error", detail=cal.error)
        if t.mode == "lcb":
            built = lcb_program.extract(sample.completion, t.starter, t.kind)
        else:
            built = assemble(problem.prompt, sample.completion, t.entry_point)
        if built.program is None:
            status = "truncated" if sample.finish_reason == "length" else "wrong"
            return Grade(**base, correct=False, status=status, detail=built.reason)
        outcome = self._run(built.program, t, cal.cpu_limit, expected=cal.expected, unstable=cal.unstable,
                            call_cpu=cal.call_limit)
        status, detail = classify(outcome, cal.cpu_limit)
        return Grade(**base, correct=status == "correct", status=status, answer=built.shape, detail=detail)

    # -- plumbing ----------------------------------------------------------------------------------
    def _start(self) -> None:
        """Start the workers for the main hash seed (probe-seed workers start when first needed)."""
        if self._workers:  # the per-sample path: no lock
            return
        with self._lock:
            if self._workers:
                return
            try:
                self.mode = resolve_mode(self.sandbox)
                if self.mode == "none":
                    shield_harness()
                for _ in range(self.n):
                    self._idle[HASH_SEED].put(self._new_worker(HASH_SEED))
                if not self._workers[0].seccomp:
                    print("evalkit: no seccomp filter on this machine; sandboxed programs are confined by "
                          f"{'bubblewrap, ' if self.mode == 'bwrap' else ''}{'Landlock, ' if self._workers[0].landlock else ''}"
                          "rlimits and the fork server's watch (threads, processes) only (see docs/code-sandbox.md)", file=sys.stderr)
                if self.mode == "none" and not self._workers[0].landlock:
                    print("evalkit: no Landlock on this machine and no bubblewrap: sandboxed programs can read every file "
                          "this user can, the calibration cache and benchmark data included (see docs/code-sandbox.md)", file=sys.stderr)
            except (RuntimeError, ValueError, OSError) as e:
                for w in self._workers:
                    w.stop()
                self._workers.clear()
                raise EvalkitError(f"cannot start the code sandbox: {e}")

    def _new_worker(self, seed: str) -> Worker:
        w = Worker(self.mode, self.modules, seed, judge_mem_mb=self.memory_mb, seccomp=self.use_seccomp)  # type: ignore[arg-type]
        w.start()
        self._workers.append(w)
        return w

    def _borrow(self, seed: str) -> Worker:
        if self._stopping.is_set():
            raise EvalkitError("the code verifier was interrupted or closed; grade() again to restart it")
        self._start()
        idle = self._idle[seed]
        try:
            return idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if sum(w.hash_seed == seed for w in self._workers) < self.n:
                try:
                    return self._new_worker(seed)
                except (RuntimeError, OSError) as e:
                    raise EvalkitError(f"cannot start the code sandbox: {e}")
        return idle.get()

    def _run(self, program: str, t: CodeTests, cpu: float, expected: list | None, mem_mb: int | None = None,
             unstable: tuple[int, ...] = (), seed: str = HASH_SEED, list_mismatches: bool = False,
             call_cpu: float | None = None) -> Outcome:
        job = {"cpu": cpu, "mem_mb": mem_mb or self.memory_mb, "wall": wall_limit(cpu)}  # all the fork server learns
        sent = {"program": program, "entry_point": t.entry_point, "kind": t.kind if t.mode == "lcb" else None}
        limits = {"call_cpu": call_cpu, "call_wall": call_cpu and wall_limit(call_cpu), "judge_cpu": cpu + self.judge_cpu_extra,
                  "max_threads": MAX_THREADS}

        def tests() -> dict:  # what the judge runs (plain data); built only when a judge first meets this key
            if t.mode == "lcb":
                return {"mode": "lcb", "kind": t.kind, "inputs": list(t.inputs), "outputs": list(t.outputs)}
            if t.mode == "check":
                return {"mode": "check", "helpers": t.canonical, "test": t.test, "entry_point": t.entry_point,
                        "check_fn": t.check_fn}
            return {"mode": "io", "inputs": list(t.inputs), "expected": expected, "atol": t.atol, "rules": list(t.rules),
                    "alternatives": t.alternatives, "unstable": list(unstable), "list_mismatches": list_mismatches}

        kind = "collect" if expected is None else "compare" if list_mismatches else "grade"
        key = f"{id(t)}:{kind}"  # t stays alive in self._calib
        w = self._borrow(seed)
        try:
            return w.run(job, sent, key, tests, limits)
        finally:
            self._idle[seed].put(w)


def default_workers() -> int:
    """Two per core. A sample passes between four processes (this thread, the fork server, the child,
    the judge), so one worker leaves its core idle about a quarter of the time, waiting on the others;
    a second fills those gaps: on 2 cores `benchmarks/bench_code_verify.py --tasks 30 --skip-human-eval`
    takes 9% less time with 4 workers than with 2 (docs/code-sandbox.md).
    Verdicts do not move: every limit is CPU time, and the wall clock's (wall_limit) allows 3x it.
    Cores are the ones this process may run on (a Slurm job's or `taskset`'s), not the host's."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return 2 * cores


def wall_limit(cpu: float) -> float:
    """Generous against load (CPU time is the real limit); catches programs that sleep or block."""
    return 3 * cpu + 2.0


def _tests(problem: Problem) -> CodeTests:
    t = problem.tests
    if not isinstance(t, CodeTests):
        raise EvalkitError(f"problem {problem.id!r} has no code tests; is this a code benchmark?")
    return t


def classify(outcome: Outcome, cpu_limit: float, collecting: bool = False) -> tuple[str, str]:
    """Combine the judge's verdict with how the child ended. Only a token-checked pass is correct. Each
    message names the limit that stopped the sample: CPU or wall clock, per call or for the whole
    sample, the thread cap, or the judge's own limits."""
    v, r = outcome.verdict, outcome.report
    if r is None:
        return "error", "the sandbox worker died during this sample (restarted)"
    if v is not None and v["status"] == ("collected" if collecting else "pass"):
        return "correct", v.get("detail", "")
    if v is not None and v["status"] in ("wrong", "syntax_error", "oom", "error", "timeout"):
        return v["status"], v.get("detail", "")
    if v is None and outcome.judge is not None:  # the judge, not the program, stopped first
        return _judge_failure(outcome.judge)
    child = r.get("child") or {}
    used = child.get("cpu", 0.0)
    if r.get("threads"):
        return "wrong", f"the program ran {r['threads']} threads, over the limit of {MAX_THREADS} per sample (stopped)"
    if r.get("processes"):
        return "wrong", "the program started a process (none is allowed; it was stopped)"
    if r.get("deadline"):
        return "timeout", (f"wall-clock limit of {wall_limit(cpu_limit):.1f}s for the whole sample exceeded (it used "
                           f"{used:.2f}s of CPU in that time)")
    sig = child.get("signal")
    whole = int(cpu_limit + 0.999)
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and used >= whole - 0.05):
        return "timeout", f"CPU time limit of {whole}s for the whole sample exceeded"
    if v is None:
        return _judge_failure(outcome.judge)
    if sig is not None:
        return "wrong", f"the program was killed by signal {signal.Signals(sig).name} during the tests"
    return "wrong", f"the program exited (code {child.get('code')}) before the tests finished"


def _judge_failure(died: dict | None) -> tuple[str, str]:
    """No verdict: why the judge gave none. A judge stopped by its per-sample CPU budget was exhausted by
    this sample's values or tests; anything else is the sandbox's failure."""
    if died is None:
        return "error", "the test driver gave no verdict"
    if died.get("signal") == signal.SIGXCPU:
        return "timeout", (f"the judge's CPU limit of {died['limit']:g}s for this sample exceeded while testing its values "
                           "(the judge was restarted)")
    if died.get("timeout"):
        return "error", "the judge gave no verdict in time and was stopped (restarted for the next sample)"
    how = f"signal {died['signal']}" if died.get("signal") else f"exit code {died.get('code')}"
    return "error", f"the judge died ({how}) while testing this sample (restarted for the next sample)"
