"""A program never learns whether its answers were right (judge.py, "No answer is ever confirmed").

The attack this closes (third red-team round): a program answers a call it knows nothing about with a
guess; the next call arriving tells it the guess was right, no further call that it was wrong. It
records that in state that outlives it (which stdlib files it read: the page cache keeps them warm,
and a later sample times its reads), so the next sample of the same problem guesses better, and one
passes after a few failures. The channel cannot be closed (every readable file is one); the feedback
can: every test runs whatever earlier ones gave, and no comparison's time shows between requests.

These tests drive the trusted judge in process, with a recording stand-in for the sandboxed child:
the requests a program receives must be the same whether its answers are right or wrong.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from pathlib import Path

import pytest

PROCS = Path(__file__).resolve().parents[1] / "evalkit" / "verify" / "code" / "procs"
sys.path.insert(0, str(PROCS))

import codec  # noqa: E402  (top-level modules of the sandbox's scripts)
import judge  # noqa: E402
from channel import Gone, OverLimit  # noqa: E402

WRONG = "\x00not an answer"


class Recorder:
    """The child's side of the socket, played by a Python function: records every request."""

    max_threads, threads_refused = 64, 0

    def __init__(self, fn, stop_at: int | None = None, stop: type = OverLimit):
        self.fn, self.requests, self.stop_at, self.stop = fn, [], stop_at, stop

    def hello(self):
        return {"ready": True}

    def send(self, data: bytes, wall=None) -> None:
        self.requests.append(pickle.loads(data))

    def close(self) -> None:
        pass

    def hang_up(self) -> None:
        self.hung_up_after = len(self.requests)

    def call(self, data: bytes):
        req = pickle.loads(data)
        self.requests.append(req)
        if self.stop_at is not None and len(self.requests) > self.stop_at:
            raise OverLimit("cpu", 0.25, 0.3, 0.3) if self.stop is OverLimit else self.stop()
        try:
            if req[0] == "stdin":
                return {"out": self.fn(req[1])}
            return {"ok": codec.encode(self.fn(*req[1], **req[2]))}
        except Exception as e:  # noqa: BLE001 -- the candidate's own exception, as the child reports it
            return {"exc": type(e).__name__, "msg": str(e)}


def wrong(value):
    return (not value) if isinstance(value, bool) else WRONG


def candidates(good):
    """The reference, and programs that are wrong on the first call only, or on every call."""
    calls = [0]

    def first_wrong(*a, **k):
        calls[0] += 1
        value = good(*a, **k)
        return wrong(value) if calls[0] == 1 else value

    def always_wrong(*a, **k):
        return wrong(good(*a, **k))

    return {"good": good, "first_wrong": first_wrong, "always_wrong": always_wrong}


def requests_and_verdicts(payload: dict, good) -> dict:
    out = {}
    for name, fn in candidates(good).items():
        rec = Recorder(fn)
        out[name] = (rec.requests, judge.run(rec, payload)["status"])
    return out


def assert_no_feedback(runs: dict, label: str) -> None:
    good, _ = runs["good"]
    assert runs["good"][1] == "pass", (label, runs["good"][1])
    for name in ("first_wrong", "always_wrong"):
        requests, status = runs[name]
        assert status == "wrong", (label, name, status)
        # the same requests in number and in order of kind; arguments may differ only where a test feeds a
        # program's own output back in (which it knows already)
        assert [r[0] for r in requests] == [r[0] for r in good], (label, name, len(requests), len(good))


def test_every_humaneval_check_runs_whole_whatever_the_answers():
    data = os.environ.get("EVALKIT_DATA_DIR")
    if not data or not (Path(data) / "humaneval.jsonl").exists():
        pytest.skip("EVALKIT_DATA_DIR with humaneval.jsonl is not set (see docs/testing.md)")
    rows = [json.loads(line) for line in (Path(data) / "humaneval.jsonl").read_text().splitlines()]
    assert len(rows) == 164
    for row in rows:
        canonical = row["prompt"] + row["canonical_solution"]
        payload = judge.prepare({"mode": "check", "helpers": canonical, "test": row["test"],
                                 "entry_point": row["entry_point"], "check_fn": "check"})
        g: dict = {}
        exec(canonical, g)
        assert_no_feedback(requests_and_verdicts(payload, g[row["entry_point"]]), row["task_id"])


CHECK = '''
import math

def helper_check(candidate, x):
    assert candidate(x) == x * 2

def check(candidate):
    assert candidate(1) == 2, candidate(99)   # the message would call the candidate again on failure only
    for x in range(3, 6):
        assert candidate(x) == 2 * x
    y = candidate(6)
    assert y == 12
    if candidate(7) != 14:
        raise AssertionError("seven")
    helper_check(candidate, 8)
    try:
        candidate(-1)
    except ValueError:
        pass
    assert math.isclose(candidate(0.5), 1.0)
    assert candidate(10) == 20 and candidate(11) == 22
    assert all(candidate(i) == 2 * i for i in range(12, 15)) and any(candidate(i) != 2 * i for i in range(15, 17)) is False
'''


def test_a_check_function_goes_on_after_each_kind_of_failure():
    def good(x):
        if x < 0:
            raise ValueError("negative")
        return 2 * x

    payload = judge.prepare({"mode": "check", "helpers": "", "test": CHECK, "entry_point": "double", "check_fn": "check"})
    runs = requests_and_verdicts(payload, good)
    assert_no_feedback(runs, "CHECK")
    assert len(runs["good"][0]) == 17  # 16 calls and the goodbye: candidate(99) never ran


def test_bare_asserts_at_module_level_go_on_too():
    test = "assert double(1) == 2\nassert double(2) == 4\nfor i in range(3):\n    assert double(i) == 2 * i\n"
    payload = judge.prepare({"mode": "check", "helpers": "", "test": test, "entry_point": "double", "check_fn": None})
    assert_no_feedback(requests_and_verdicts(payload, lambda x: 2 * x), "module")


def test_the_verdict_is_still_the_first_failure():
    payload = judge.prepare({"mode": "check", "helpers": "", "test": CHECK, "entry_point": "double", "check_fn": "check"})
    loop_line = CHECK.splitlines().index("        assert candidate(x) == 2 * x") + 1
    wrong_later = lambda x: 2 * x if x != 4 else 0  # noqa: E731 -- fails the loop's second round
    v = judge.run(Recorder(wrong_later), payload)
    assert v == {"status": "wrong", "detail": f"failed: test line {loop_line}"}, v
    raises_at_six = lambda x: 2 * x if x != 6 else 1 // 0  # noqa: E731
    v = judge.run(Recorder(raises_at_six), payload)
    assert v["status"] == "wrong" and v["detail"].startswith("ZeroDivisionError"), v


def io_payload(n: int, **extra) -> dict:
    return {"mode": "io", "inputs": [[i] for i in range(n)], "expected": [2 * i for i in range(n)], "atol": 0,
            "rules": [], "alternatives": None, "unstable": [], "list_mismatches": False, **extra}


def test_io_sends_every_input_before_comparing_any():
    runs = requests_and_verdicts(io_payload(12), lambda x: 2 * x)
    assert_no_feedback(runs, "io")
    assert len(runs["always_wrong"][0]) == 13


def test_lcb_runs_every_test_in_both_kinds():
    stdin = {"mode": "lcb", "kind": "stdin", "inputs": [f"{i}\n" for i in range(8)], "outputs": [f"{2 * i}\n" for i in range(8)]}
    assert_no_feedback(requests_and_verdicts(stdin, lambda text: f"{2 * int(text)}\n"), "lcb stdin")
    method = judge.prepare({"mode": "lcb", "kind": "method", "inputs": [f"{i}" for i in range(8)],
                            "outputs": [json.dumps(2 * i) for i in range(8)]})
    assert_no_feedback(requests_and_verdicts(method, lambda x: 2 * x), "lcb method")


@pytest.mark.parametrize("stop", [OverLimit, Gone])
def test_a_limit_after_a_failure_keeps_the_failure(stop):
    """Stopped at the fifth call: a program that failed before says where, as if the tests had stopped
    there; one that had not failed is stopped by the limit."""
    wrong_first = lambda x: WRONG if x == 0 else 2 * x  # noqa: E731
    v = judge.run(Recorder(wrong_first, stop_at=5, stop=stop), io_payload(12))
    assert v["status"] == "wrong" and v["detail"].startswith("test 0: expected 0"), v
    v = judge.run(Recorder(lambda x: 2 * x, stop_at=5, stop=stop), io_payload(12))
    assert v["status"] == ("timeout" if stop is OverLimit else "gone"), v
    payload = judge.prepare({"mode": "check", "helpers": "", "test": CHECK, "entry_point": "double", "check_fn": "check"})
    v = judge.run(Recorder(lambda x: 0, stop_at=5, stop=stop), payload)
    first_line = CHECK.splitlines().index("    assert candidate(1) == 2, candidate(99)   # the message would call the candidate again on failure only") + 1
    assert v == {"status": "wrong", "detail": f"failed: test line {first_line}"}, v


def test_the_program_is_gone_before_any_comparison(monkeypatch):
    """How long comparing takes (it stops at the first mismatch) must not show either: the program hears
    that there are no more requests, and the judge hangs up and waits until it is gone (Channel.hang_up),
    before any reply of io or LiveCodeBench tests is compared; also when a limit ends the sample."""
    compared = []
    real_io, real_lcb = judge._judge_one, judge._lcb_test
    monkeypatch.setattr(judge, "_judge_one", lambda *a: compared.append(1) or real_io(*a))
    monkeypatch.setattr(judge, "_lcb_test", lambda *a: compared.append(1) or real_lcb(*a))
    stdin = {"mode": "lcb", "kind": "stdin", "inputs": ["1\n", "2\n"], "outputs": ["2\n", "4\n"]}
    for payload, fn in ((io_payload(5), lambda x: 2 * x), (stdin, lambda text: f"{2 * int(text)}\n")):
        seen = []
        rec = Recorder(fn)
        rec.send = lambda data, wall=None, rec=rec: seen.append(len(compared)) or rec.requests.append(pickle.loads(data))
        rec.hang_up = lambda: seen.append(("hung up", len(compared)))
        compared.clear()
        assert judge.run(rec, payload)["status"] == "pass"
        assert seen == [0, ("hung up", 0)] and compared, (payload["mode"], seen, len(compared))
    for stop in (OverLimit, Gone):
        rec = Recorder(lambda x: WRONG, stop_at=3, stop=stop)
        rec.hang_up = lambda: seen.append(("hung up", len(compared)))
        seen.clear()
        compared.clear()
        assert judge.run(rec, io_payload(5))["status"] == "wrong"
        assert ("hung up", 0) in seen and compared, (stop, seen)


def test_an_async_check_function_is_an_error_not_a_pass():
    """Calling it runs none of its asserts (it only makes a coroutine): every program would pass."""
    payload = judge.prepare({"mode": "check", "helpers": "", "test": "async def check(candidate):\n    assert candidate(1) == 2\n",
                             "entry_point": "double", "check_fn": "check"})
    assert judge.run(Recorder(lambda x: WRONG), payload)["status"] == "error"
