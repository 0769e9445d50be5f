"""The trusted test driver: runs the benchmark's tests against a proxy of the candidate function.

It never runs model-written code. Each call of the candidate goes to the sandboxed child over a
socket and comes back as plain data (codec.py), so the tests see only built-in values: no
`__eq__` that is always True, no patched builtins, no early exit counted as success. The verdict
goes to the harness over a control socket that no sandboxed process holds, with the per-sample
token it received from the harness.

One judge process per worker serves sample after sample (`python -s -S judge.py FD`, started by
sandbox.py): the harness sends, per sample, the socket to that sample's child, the per-call limits
and a problem key (the child itself sends its /proc/self/stat first on that socket); the problem's tests are sent,
prepared (compiled, deserialized) and cached only the first time. Each sample's tests run in
fresh globals, one request per call of the candidate (one io input, one call from check(), one
LiveCodeBench test), each measured from here (channel.py).

The judge's own limits, so that no sample can exhaust it: an address-space limit (a MemoryError
is that sample's `oom`, and the judge then exits to be restarted fresh), and per sample a CPU
budget (RLIMIT_CPU's soft limit, raised before each sample: SIGXCPU ends the judge, and the
harness says that this sample broke it). Decoding a reply is bounded by construction (channel.py,
codec.py). Either way the harness restarts the judge for the next sample; other samples' verdicts
do not change.

No answer is ever confirmed to the program: every test of a sample runs, whatever earlier tests gave.
Why: a program that saw its next call arrive would learn that its last answer was right, and could
tell a later sample through any state that outlives it (which files it read leave the page cache
warmer, measurably so); samples that learn that way pass after a few failures. So `io` and `lcb`
send every request first and compare afterwards (a comparison's time cannot show through either),
and `check` code is rewritten so that a failed assert is recorded and the tests go on
(`going_on`). The verdict is still the first failure in test order, as if the tests had stopped there;
a sample stopped by a limit after a failure is `wrong` with that failure, as before.

Three modes: `check` runs assert-style test code (HumanEval's `check(candidate)`); `io` compares
outputs on given inputs with expected outputs, by EvalPlus's float rule and the generic named rules
the adapter chose (types.IO_RULES: the judge knows no benchmark); `io` without expected outputs
collects them (used on the canonical solution); `lcb` runs LiveCodeBench's tests (whole stdin
programs, or `Solution().method` calls) with LCB's rules.
"""

from __future__ import annotations

import ast
import builtins
import ctypes
import json
import math
import os
import pickle
import resource
import signal
import socket
import sys
import traceback
from collections import OrderedDict

import codec
import imports
import lcb_compare
import linux
import wire
from channel import Channel, Garbled, Gone, OverLimit, ThreadStorm

CACHE = 32  # prepared problems kept
CONFIG_ENV = "EVALKIT_SANDBOX_CONFIG"


def main() -> None:
    """Serve samples: (key, token, limits) + the child's socket in (then the tests, if asked for),
    verdict + token out."""
    ctl = socket.socket(fileno=int(sys.argv[1]))
    libc = ctypes.CDLL(None)
    libc.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # die with the harness
    libc.prctl(linux.PR_SET_DUMPABLE, 0, 0, 0, 0)  # no ptrace, no /proc/PID/mem
    config = json.loads(os.environ.pop(CONFIG_ENV))
    imports.install(config, only=False)
    mem_mb = int(config.get("judge_mem_mb") or 0)
    if mem_mb:
        resource.setrlimit(resource.RLIMIT_AS, (mem_mb << 20, mem_mb << 20))
    cache: OrderedDict = OrderedDict()
    wire.send(ctl, json.dumps({"hello": True}).encode())
    while True:
        data, fds = wire.recv(ctl, maxfds=1)
        if data is None:
            return
        verdict = serve(ctl, pickle.loads(data), fds, cache, mem_mb)
        if verdict is None:
            return
        wire.send(ctl, json.dumps(verdict).encode())
        if verdict.get("restart"):
            return  # after a MemoryError: a fresh judge for the next sample


def serve(ctl, msg: dict, fds: list[int], cache: OrderedDict, mem_mb: int) -> dict | None:
    """One sample's verdict (with its token); None when the harness went away."""
    budget(msg["judge_cpu"])
    (sock_fd,) = fds
    with socket.socket(fileno=sock_fd) as sock:
        chan = Channel(sock, msg["call_cpu"], msg["call_wall"], msg["max_threads"])
        try:
            tests = _tests(ctl, msg["key"], cache)
            if tests is None:
                return None
            verdict = run(chan, tests)
        except MemoryError:
            cache.clear()
            verdict = {"status": "oom", "restart": True,
                       "detail": f"this sample's values exhausted the judge's memory limit ({mem_mb} MB); the judge was restarted"}
        except Exception as e:  # noqa: BLE001 -- a judge bug or a test that cannot run: no pass
            verdict = {"status": "error", "detail": f"test driver failed: {type(e).__name__}: {_text(e)}"}
        finally:
            chan.close()
    verdict["token"] = msg["token"]
    return verdict


def budget(seconds: float) -> None:
    """This sample may use `seconds` more of the judge's CPU: RLIMIT_CPU's soft limit, SIGXCPU beyond it."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(ru.ru_utime + ru.ru_stime + seconds)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _tests(ctl, key: str, cache: OrderedDict) -> dict | None:
    tests = cache.get(key)
    if tests is None:  # first sample of this problem here: ask for its tests
        wire.send(ctl, json.dumps({"need": key}).encode())
        data, _ = wire.recv(ctl)
        if data is None:
            return None
        tests = cache[key] = prepare(pickle.loads(data)["tests"])
        if len(cache) > CACHE:
            cache.popitem(last=False)
    cache.move_to_end(key)
    return tests


def prepare(tests: dict) -> dict:
    """Once per problem: compile the test code, decode LiveCodeBench's call arguments."""
    tests = dict(tests)
    if tests["mode"] == "check":
        tests["helpers"] = compile(tests["helpers"], "<prompt>", "exec")
        tests["test"] = compile(going_on(ast.parse(tests["test"], "<test>"), tests["check_fn"]), "<test>", "exec")
    elif tests["mode"] == "lcb" and tests["kind"] == "method":
        tests["inputs"] = [lcb_compare.call_inputs(x) for x in tests["inputs"]]
        tests["outputs"] = [json.loads(x) for x in tests["outputs"]]
    return tests


FAILED, RAISED = "__evalkit_failed__", "__evalkit_raised__"  # what going_on's code calls


def going_on(tree: ast.Module, check_fn: str | None) -> ast.Module:
    """Test code that records a failure and goes on, so that the calls a program receives never depend
    on whether its answers were right. `assert T, M` becomes `if not T: FAILED(line)` (M is never
    evaluated: it may call the candidate; `assert A and B` becomes two asserts, and all()/any() over a
    generator get the whole list); each statement of the check function's body (or of the
    module, for bare asserts), and of the for/while/if blocks in it, runs in its own
    `try: ... except Exception as e: RAISED(e, line)`. try and with blocks are kept whole, since they
    may expect an exception, and nested functions are left alone: an AssertionError from one surfaces
    in the statement that called it. On a passing program nothing changes."""
    body = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == check_fn:
            node.body = _go_on(node.body)
            body.append(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
            body.append(node)
        else:
            body += _go_on([node])
    tree.body = body
    return ast.fix_missing_locations(tree)


def _go_on(stmts: list) -> list:
    out = []
    for node in stmts:
        if isinstance(node, (ast.Pass, ast.Break, ast.Continue, ast.Global, ast.Nonlocal)):
            out.append(node)
            continue
        if isinstance(node, ast.Assert) and isinstance(node.test, ast.BoolOp) and isinstance(node.test.op, ast.And):
            out += _go_on([ast.copy_location(ast.Assert(v, None), node) for v in node.test.values])  # `and` stops early
            continue
        if isinstance(node, ast.Assert):
            failed = ast.Expr(ast.Call(ast.Name(FAILED, ast.Load()), [ast.Constant(node.lineno)], []))
            test = _Whole().visit(node.test)
            node = ast.copy_location(ast.If(ast.UnaryOp(ast.Not(), test), [ast.copy_location(failed, node)], []), node)
        elif isinstance(node, (ast.For, ast.While, ast.If)):
            node.body, node.orelse = _go_on(node.body), _go_on(node.orelse)
        name = ast.Name("__evalkit_e__", ast.Load())
        handler = ast.ExceptHandler(ast.Name("Exception", ast.Load()), "__evalkit_e__", [
            ast.Expr(ast.Call(ast.Name(RAISED, ast.Load()), [name, ast.Constant(node.lineno)], []))])
        out.append(ast.copy_location(ast.Try([node], [ast.copy_location(handler, node)], [], []), node))
    return out


class _Whole(ast.NodeTransformer):
    """all(x for ...) and any(x for ...) in an assert stop at the first False (True): give them the whole
    list instead, so that every call in it is made whatever the answers."""

    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        if (isinstance(node.func, ast.Name) and node.func.id in ("all", "any") and len(node.args) == 1
                and isinstance(node.args[0], ast.GeneratorExp)):
            gen = node.args[0]
            node.args = [ast.copy_location(ast.ListComp(gen.elt, gen.generators), gen)]
        return node


class Candidate:
    """The proxy the tests call: each call is one request to the child, its reply decoded to plain values.
    `first_failure` gives, when a limit ends the sample early, the first failure among the tests run
    so far (the verdict the tests would have given had they stopped there), or None."""

    def __init__(self, chan: Channel):
        self.chan = chan
        self.calls = 0
        self.oom = False
        self.first_failure = lambda: None
        self.done = False

    def bye(self) -> None:
        """No more requests: the child may exit."""
        if self.done:
            return
        self.done = True
        try:
            self.chan.send(pickle.dumps(("bye",)), wall=1.0)  # a child that reads no more is killed when we hang up
        except (Gone, OverLimit):
            pass

    def ended(self) -> None:
        """Before comparing replies: goodbye, and wait until the child is gone, so that how long comparing
        takes (it stops at the first mismatch) can never be timed by the program."""
        self.bye()
        self.chan.hang_up()

    def one(self, req) -> dict:
        r = self.chan.call(pickle.dumps(req))
        if type(r) is not dict:
            raise Garbled("not a reply")
        return r

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.result(self.one(("call", args, kwargs, False)))

    def result(self, r: dict):
        if "ok" in r:
            try:
                return codec.decode(r["ok"])
            except (ValueError, TypeError, RecursionError) as e:
                raise TypeError(f"candidate returned an unusable value ({_text(e)})") from None
        if r.get("oom"):
            self.oom = True
        if "exc" in r:
            exc = getattr(builtins, str(r["exc"]), None)
            if not (isinstance(exc, type) and issubclass(exc, Exception)) or issubclass(exc, MemoryError):
                exc = RuntimeError  # SystemExit & co. must not end the judge, nor pass for its own MemoryError
            raise exc(f"candidate raised {_text(r.get('msg', r['exc']))}")
        raise TypeError(f"candidate {_text(r.get('bad', 'returned an unusable value'))}")


def run(chan: Channel, payload: dict) -> dict:
    """Run one sample's tests against the candidate behind `chan`; the verdict (without token)."""
    cand = Candidate(chan)
    try:
        hello = chan.hello()
        if not isinstance(hello, dict) or not hello.get("ready"):
            return _not_ready(hello)
        verdict = {"check": _check, "io": _io, "lcb": _lcb}[payload["mode"]](cand, payload)
    except Gone:
        verdict = cand.first_failure() or {"status": "gone", "detail": "the program stopped during the tests"}
    except Garbled as e:
        verdict = cand.first_failure() or {"status": "wrong", "detail": f"the program wrote garbage onto the test channel ({e})"}
    except OverLimit as e:  # no "bye": hanging up is what stops the child
        return cand.first_failure() or {"status": "timeout", "detail": e.detail()}
    except ThreadStorm:
        return cand.first_failure() or {"status": "wrong", "detail": f"the program kept starting threads past the limit of "
                                                                     f"{chan.max_threads} per sample ({chan.threads_refused} refused; stopped)"}
    if cand.oom and verdict["status"] == "wrong":
        verdict["status"] = "oom"
    if chan.threads_refused and verdict["status"] != "pass":
        verdict["detail"] += f" ({chan.threads_refused} thread starts refused: at most {chan.max_threads} threads per sample)"
    cand.bye()
    return verdict


def _text(x) -> str:
    """At most 300 characters of str(x), whatever x is."""
    try:
        return str(x)[:300]
    except Exception:  # noqa: BLE001 -- e.g. an int too long to print
        return f"<a {type(x).__name__} that cannot be printed>"


def _not_ready(hello) -> dict:
    """The program did not load; what it said, as text (its reply is plain data of any shape)."""
    if not isinstance(hello, dict):
        return {"status": "wrong", "detail": "the program wrote garbage onto the test channel"}
    if "syntax_error" in hello:
        return {"status": "syntax_error", "detail": _text(hello["syntax_error"])}
    if "missing" in hello:
        return {"status": "wrong", "detail": f"the program defines no function {_text(hello['missing'])!r}"}
    status = "oom" if hello.get("oom") is True else "wrong"
    return {"status": status, "detail": f"the program failed to load: {_text(hello.get('load_error', '?'))}"}


def _check(cand: Candidate, payload: dict) -> dict:
    failures: list[str] = []  # the first is the verdict; the tests go on (going_on)

    def failed(line: int) -> None:
        if not failures:
            failures.append(f"failed: test line {line}")

    def raised(e: Exception, line: int) -> None:
        if isinstance(e, MemoryError):
            raise e  # the judge's own: this sample's oom (serve)
        if not failures:
            failures.append(_failure_text(e))

    g: dict = {"__name__": "__judge__"}
    exec(payload["helpers"], g)
    g.update({payload["entry_point"]: cand, FAILED: failed, RAISED: raised})
    cand.first_failure = lambda: {"status": "wrong", "detail": failures[0]} if failures else None
    check_fn = payload["check_fn"]
    try:
        exec(payload["test"], g)  # check_fn None: the asserts run here
        if check_fn:
            ran = g[check_fn](cand)
            if type(ran).__name__ == "coroutine":  # an async check function would run no assert at all
                ran.close()
                return {"status": "error", "detail": f"the benchmark's {check_fn}() is async: its tests cannot run"}
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 -- outside the rewritten statements (a test that cannot run)
        if not failures:
            failures.append(_failure_text(e))
    if failures:
        return {"status": "wrong", "detail": failures[0]}
    return {"status": "pass", "detail": f"{cand.calls} calls checked"}


def _failure_text(e: Exception) -> str:
    if isinstance(e, AssertionError):  # from a function the tests called
        return "failed: " + (_test_line(e) or _text(e))[:300]
    return f"{type(e).__name__}: {_text(e)}"  # a candidate exception surfaces here


def _test_line(e: BaseException) -> str | None:
    frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == "<test>"]
    return f"test line {frames[-1].lineno}" if frames else None


def _io(cand: Candidate, payload: dict) -> dict:
    inputs, expected = payload["inputs"], payload["expected"]
    not_none = "not_none" in payload["rules"]  # the child reports only whether a value came back
    if expected is None:
        return _collect(cand, inputs, not_none)
    unstable = payload["unstable"] or ()
    stop = min(unstable) if unstable else len(inputs)  # tests from there on cannot be passed (see __init__.py)
    replies: list[dict] = []
    cand.first_failure = lambda: cand.ended() or _io_verdict(cand, payload, replies, final=False)
    for i in range(stop):  # one request per input: each call measured on its own; every input runs
        replies.append(cand.one(("call", inputs[i], {}, not_none)))
    cand.ended()
    return _io_verdict(cand, payload, replies, final=True)


def _io_verdict(cand: Candidate, payload: dict, replies: list[dict], final: bool) -> dict | None:
    """The replies compared in input order: the first mismatch, else (when `final`) the verdict."""
    inputs, expected, alternatives, rules = payload["inputs"], payload["expected"], payload["alternatives"], payload["rules"]
    list_all = payload["list_mismatches"]  # calibration: which inputs a correct program fails
    atol, mismatches = payload["atol"], []
    for i, r in enumerate(replies):
        ok, out, atol = _judge_one(cand, r, expected[i], inputs[i], atol, rules, alternatives[i] if alternatives else None)
        if not ok and list_all:
            mismatches.append(i)
        elif not ok:
            return {"status": "wrong", "detail": f"test {i}: expected {_short(expected[i])}, got {_short(out)}"}
    if not final:
        return None
    if list_all:
        return {"status": "compared", "mismatches": mismatches}
    if len(replies) < len(inputs):
        return {"status": "wrong", "detail": f"test {len(replies)}: its expected output depends on Python's string hash seed "
                                            "(the reference gives different outputs in different interpreters), so no "
                                            "program can match it reliably; EvalPlus fails it too"}
    return {"status": "pass", "detail": f"{len(inputs)} tests passed"}


def _judge_one(cand: Candidate, r: dict, exp, inp, atol: float, rules, alternative) -> tuple[bool, object, float]:
    """(matches, what to show as the output, the tolerance from here on). Any failure to decode or
    compare the returned value is a mismatch, never a judge error."""
    try:
        if "digest" in r or _is_digest(exp):
            return _same_digest(r, exp), "<a large value>", atol
        out = cand.result(r)
        ok, atol = compare(out, exp, inp, atol, rules, alternative)
        return ok, out, atol
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001
        return False, f"<{_text(e)}>", atol


def _collect(cand: Candidate, inputs: list, not_none: bool) -> dict:
    """The reference's outputs, as encoded (or digest tags); every input runs."""
    outputs = []
    for i, inp in enumerate(inputs):
        r = cand.one(("call", inp, {}, not_none))
        if "ok" in r:
            outputs.append(r["ok"])
        elif "digest" in r:
            outputs.append([codec.DIGEST_TAG, r["digest"]])
        else:
            return {"status": "wrong", "detail": f"reference solution failed on input {i}: {_short(r)}"}
    return {"status": "collected", "outputs": outputs}


def _lcb(cand: Candidate, payload: dict) -> dict:
    """LiveCodeBench: every test in order, one per request (each measured as one call), all of them run;
    the verdict is the first failure."""
    pairs = list(zip(payload["inputs"], payload["outputs"]))
    replies: list[dict] = []
    cand.first_failure = lambda: cand.ended() or _lcb_verdict(cand, payload["kind"], pairs, replies, final=False)
    for inp, _ in pairs:
        replies.append(cand.one(("stdin", inp) if payload["kind"] == "stdin" else ("call", inp, {}, False)))
    cand.ended()
    return _lcb_verdict(cand, payload["kind"], pairs, replies, final=True)


def _lcb_verdict(cand: Candidate, kind: str, pairs: list, replies: list[dict], final: bool) -> dict | None:
    for i, r in enumerate(replies):
        ok, why = _lcb_test(cand, kind, r, pairs[i][1])
        if not ok:
            return {"status": "wrong", "detail": f"test {i + 1} of {len(pairs)}: {why}"}
    return {"status": "pass", "detail": f"{len(pairs)} tests passed"} if final else None


def _lcb_test(cand: Candidate, kind: str, r: dict, exp) -> tuple[bool, str]:
    if kind == "stdin":
        if type(r.get("out")) is str:
            return lcb_compare.stdout_matches(r["out"], exp)
        return False, _failure(cand, r)
    try:
        out = cand.result(r)
        return lcb_compare.call_result_matches(out, exp), f"expected {_short(exp)}, got {_short(out)}"
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 -- the candidate raised: a runtime error
        return False, _text(e)


def _failure(cand: Candidate, r: dict) -> str:
    """Why a stdin run gave no output: the exception it raised (as the candidate's), or a refusal."""
    try:
        cand.result(r)
    except Exception as e:  # noqa: BLE001
        return _text(e)
    return "no output"


def _is_digest(x) -> bool:
    return type(x) is tuple and len(x) == 2 and x[0] == codec.DIGEST_TAG


def _same_digest(r: dict, exp) -> bool:
    """Large values: equal only when their encodings are identical (see codec.DIGEST_OVER)."""
    if "digest" not in r:
        return False
    return r["digest"] == (exp[1] if _is_digest(exp) else codec.digest_of(exp))


def _short(x) -> str:
    try:
        text = repr(x)
    except Exception:  # noqa: BLE001 -- e.g. an int of more than 4300 digits
        return f"<a {type(x).__name__} that cannot be printed>"
    return text if len(text) < 120 else text[:117] + "..."


# -- comparison: EvalPlus's rule (evalplus/eval/__init__.py, Apache-2.0) on plain data, plus named rules
def compare(out, exp, inp, atol: float, rules, alternative=None) -> tuple[bool, float]:
    """Whether `out` matches `exp` for arguments `inp`, and the tolerance for later inputs (EvalPlus: a
    float tolerance once enforced stays). `rules` are names from types.IO_RULES; `alternative` is this
    input's value for "or_alternative"."""
    try:
        exact = bool(out == exp)
    except Exception:  # noqa: BLE001 -- e.g. an array compared with a list
        exact = False
    if "any_output" in rules:
        exact = True
    if "zero_ok" in rules:
        exact = exact or out == 0
    if "or_alternative" in rules:
        exact = exact or _near(out, alternative, atol)
    if "set_eq" in rules:
        codec.spread_ok(out)  # a list of colliding hashes would make set(out) quadratic
        exact = set(out) == set(exp)
    if "not_none" in rules:
        exact = out == exp if isinstance(out, bool) else exp == (out is not None)
    if "polynomial_root" in rules:
        return abs(_poly(inp[0], out)) <= atol, atol
    if atol == 0 and _is_floats(exp):
        atol = 1e-6
    if not exact and atol != 0:
        if type(out) is not type(exp):
            return False, atol
        if isinstance(exp, (list, tuple)) and len(out) != len(exp):
            return False, atol
        return _allclose(out, exp, atol), atol
    return exact, atol


def _near(out, alternative, atol: float) -> bool:
    """out equals the alternative, or is within atol of it (numbers); None accepts nothing."""
    if alternative is None:
        return False
    if out == alternative:
        return True
    try:
        return abs(out - alternative) <= atol
    except TypeError:
        return False


_NUM = (int, float, bool)


def _allclose(out, exp, atol: float) -> bool:
    """np.allclose(out, exp, rtol=1e-7, atol=atol); plain numbers and flat lists without importing numpy."""
    flat = lambda x: type(x) in _NUM or (type(x) in (list, tuple) and all(type(i) in _NUM for i in x))  # noqa: E731
    if flat(out) and flat(exp):
        a = list(out) if type(out) in (list, tuple) else [out]
        b = list(exp) if type(exp) in (list, tuple) else [exp]
        if len(a) != len(b) and 1 not in (len(a), len(b)):
            return False
        if len(a) == 1:
            a = a * len(b)
        if len(b) == 1:
            b = b * len(a)
        return all(_close(x, y, atol) for x, y in zip(a, b))
    import numpy as np

    return bool(np.allclose(out, exp, rtol=1e-07, atol=atol))


def _close(x, y, atol: float) -> bool:
    """numpy.isclose(x, y, rtol=1e-7, atol): an infinite or NaN value is close only to an equal one (else
    `inf <= inf` would accept any finite float for an infinite expected value)."""
    if x == y:
        return True
    if (type(x) is float and not math.isfinite(x)) or (type(y) is float and not math.isfinite(y)):
        return False
    return abs(x - y) <= atol + 1e-07 * abs(y)


def _is_floats(x) -> bool:
    if isinstance(x, float):
        return True
    if isinstance(x, (list, tuple)) and x:
        return all(isinstance(i, float) for i in x)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(x, np.ndarray):
        return x.dtype == np.float64 or x.dtype == np.float32
    return False


def _poly(xs: list, x: float):
    return sum([coeff * math.pow(x, i) for i, coeff in enumerate(xs)])


if __name__ == "__main__":
    main()
