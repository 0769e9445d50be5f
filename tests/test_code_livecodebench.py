"""LiveCodeBench (issue 19): loading, selection and safe decoding of release files; grading by LCB's rules in
the sandbox, on real problems from ../shared/data (rllm's converted files, public tests) with hand-written
correct and subtly wrong programs; LCB's output rules checked against an independent reading of them."""

from __future__ import annotations

import base64
import json
import pickle
import random
import zlib
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from evalkit.adapters import livecodebench_data as lcb
from evalkit.adapters.loading import load
from evalkit.cli import main
from evalkit.types import CodeTests, EvalkitError, Problem, Sample
from evalkit.verify.code import CodeVerifier
from evalkit.verify.code.calibration import Cache
from evalkit.verify.code.procs.lcb_compare import stdout_matches
from evalkit.verify.code.lcb_program import extract

from test_code_sandbox import HOSTILE

SHARED = "livecodebench/rllm_lcb_2408_2501.json"


@pytest.fixture(scope="module")
def verifier(tmp_path_factory):
    v = CodeVerifier(workers=2, cache=Cache(tmp_path_factory.mktemp("calibration")))
    yield v
    v.close()


@pytest.fixture(scope="module")
def real(data_dir) -> dict[str, Problem]:
    """Real problems of the Aug 2024 - Jan 2025 set, found by the start of their statement."""
    problems = load("livecodebench", data_dir / SHARED).problems
    starts = {
        "second": "You are given an integer sequence A=(A_1,\\ldots,A_N) of length N. Here, A_1, A_2, \\ldots, A_N are all distinct.",
        "dots": "You are given a string S consisting of lowercase English letters and ..",
        "san": "KEYENCE has a culture",
        "setbits": "You are given a positive number n.\nReturn the smallest number x greater than or equal to n, such that the binary",
        "palindrome": "You are given two positive integers n and k.\nAn integer x is called k-palindromic",
        "shortest": "You are given an integer n and a 2D integer array queries.\nThere are n cities",
    }
    found = {name: next(p for p in problems if p.prompt.startswith(text)) for name, text in starts.items()}
    assert [found[n].tests.kind for n in starts] == ["stdin"] * 3 + ["method"] * 3
    return found


def fence(code: str) -> str:
    return f"Here is my solution.\n\n```python\n{code.strip()}\n```\n\nIt reads the input and prints the answer."


def grade(verifier, problem: Problem, completions: dict[str, str]) -> dict[str, tuple[str, str]]:
    names = list(completions)
    items = [(problem, Sample(problem.id, i, None, completions[n])) for i, n in enumerate(names)]
    return {names[g.sample_index]: (g.status, g.detail) for g in verifier.grade(items)}


# -- grading real problems -------------------------------------------------------------------------
SECOND = {
    "plain": "n = int(input())\na = list(map(int, input().split()))\nprint(a.index(sorted(a)[-2]) + 1)",
    "main_guard": ("import sys\n\ndef main():\n    data = sys.stdin.read().split()\n    a = [int(x) for x in data[1:]]\n"
                   "    print(a.index(sorted(a)[-2]) + 1)\n\nif __name__ == \"__main__\":\n    main()"),
    "open0": "d = open(0).read().split()\na = list(map(int, d[1:]))\nprint(a.index(sorted(a)[-2]) + 1)",
    "buffer": "import sys\nd = sys.stdin.buffer.read().split()\na = list(map(int, d[1:]))\nsys.stdout.write(str(a.index(sorted(a)[-2]) + 1) + '\\n')",
    "exit_after_answer": "n = int(input())\na = list(map(int, input().split()))\nprint(a.index(sorted(a)[-2]) + 1)\nexit(0)\nprint('never')",
}
SECOND_WRONG = {
    "off_by_one": "n = int(input())\na = list(map(int, input().split()))\nprint(a.index(sorted(a)[-2]))",
    "largest_not_second": "n = int(input())\na = list(map(int, input().split()))\nprint(a.index(max(a)) + 1)",
    "early_exit": "n = int(input())\na = list(map(int, input().split()))\nif n > 0:\n    exit()\nprint(a.index(sorted(a)[-2]) + 1)",
    "extra_line": "n = int(input())\na = list(map(int, input().split()))\nprint(a.index(sorted(a)[-2]) + 1)\nprint()\nprint(0)",
    "runtime_error": "n = int(input())\na = list(map(int, input().split()))\nprint(a[n])",
}


def test_stdin_programs_graded_by_lcb_rules(verifier, real):
    cases = {**{k: fence(v) for k, v in {**SECOND, **SECOND_WRONG}.items()},
             "prose": "Sort the array and report the position of the second largest element in the original order.",
             "os_exit_after_answer": fence("import os\nn = int(input())\na = list(map(int, input().split()))\n"
                                           "print(a.index(sorted(a)[-2]) + 1, flush=True)\nos._exit(0)")}
    got = grade(verifier, real["second"], cases)
    assert {n for n, (s, _) in got.items() if s == "correct"} == set(SECOND), got
    assert got["off_by_one"][0] == "wrong" and "expected '3', got '2'" in got["off_by_one"][1]
    assert got["runtime_error"][0] == "wrong" and "IndexError" in got["runtime_error"][1]
    assert got["prose"][0] in ("syntax_error", "wrong")


@pytest.mark.slow
def test_stdin_empty_line_output_and_infinite_loop(verifier, real):
    got = grade(verifier, real["dots"], {
        "right": fence("print(input().replace('.', ''))"),
        "trailing_spaces": fence("s = input()\nprint('  ' + s.replace('.', '') + '   ')"),
        "keeps_one_dot": fence("s = input()\nprint(s.replace('.', '', s.count('.') - 1))"),
        "loop": fence("s = input()\nwhile s:\n    pass\nprint(s)"),
    })
    assert got["right"][0] == "correct" and got["trailing_spaces"][0] == "correct", got
    assert got["keeps_one_dot"][0] == "wrong"
    status, detail = got["loop"]
    assert status == "timeout" and "for one call" in detail, detail
    if "wall-clock" in detail:  # a machine too busy to give it 6 s of CPU in 20 s: the message says how little it got
        assert float(detail.split("it used ")[1].split("s")[0]) < 6.0, detail
    else:
        assert "CPU time limit of 6s for one call" in detail, detail


@pytest.mark.slow
def test_call_based_programs(verifier, real):
    right = "class Solution:\n    def smallestNumber(self, n: int) -> int:\n        x = 1\n        while x - 1 < n:\n            x *= 2\n        return x - 1"
    got = grade(verifier, real["setbits"], {
        "right": fence(right),
        "right_no_fence": right,
        "function_not_class": fence("def smallestNumber(n):\n    return (1 << n.bit_length()) - 1"),  # LCB calls it too
        "off_by_one": fence(right.replace("return x - 1", "return x - 2")),
        "string_not_int": fence(right.replace("return x - 1", "return str(x - 1)")),
        "loop": fence("class Solution:\n    def smallestNumber(self, n: int) -> int:\n        while True:\n            n += 0"),
        "exit_in_method": fence("class Solution:\n    def smallestNumber(self, n: int) -> int:\n        exit(0)"),
        "prose": "Keep doubling until the all-ones number reaches n.",
        "other_name": fence(right.replace("smallestNumber", "smallest_number")),
    })
    assert {n for n, (s, _) in got.items() if s == "correct"} == {"right", "right_no_fence", "function_not_class"}, got
    assert got["off_by_one"][0] == "wrong" and got["string_not_int"][0] == "wrong"
    assert got["loop"][0] == "timeout"


def test_call_based_types_and_tuples(verifier, real):
    pal = ("class Solution:\n    def largestPalindrome(self, n: int, k: int) -> str:\n"
           "        for x in range(10 ** n - 1, 10 ** (n - 1) - 1, -1):\n"
           "            if str(x) == str(x)[::-1] and x % k == 0:\n                return {ret}\n")
    bfs = ("from collections import deque\n"
           "class Solution:\n    def shortestDistanceAfterQueries(self, n: int, queries: List[List[int]]) -> List[int]:\n"
           "        adj = [[i + 1] for i in range(n - 1)] + [[]]\n        out = []\n        for u, v in queries:\n"
           "            adj[u].append(v)\n            dist = [-1] * n\n            dist[0] = 0\n            q = deque([0])\n"
           "            while q:\n                x = q.popleft()\n                for y in adj[x]:\n"
           "                    if dist[y] < 0:\n                        dist[y] = dist[x] + 1\n                        q.append(y)\n"
           "            out.append(dist[-1])\n        return {ret}\n")
    got = grade(verifier, real["palindrome"], {"str": fence(pal.format(ret="str(x)")), "int": fence(pal.format(ret="x"))})
    assert got == {"str": ("correct", got["str"][1]), "int": ("wrong", got["int"][1])}, got
    got = grade(verifier, real["shortest"], {
        "list": fence(bfs.format(ret="out")), "tuple": fence(bfs.format(ret="tuple(out)")),  # LCB: a tuple counts as a list
        "list_of_tuples": fence(bfs.format(ret="[(d,) for d in out]")), "off_by_one": fence(bfs.format(ret="[d + 1 for d in out]"))})
    assert {n for n, (s, _) in got.items() if s == "correct"} == {"list", "tuple"}, got


@pytest.mark.slow
def test_hostile_programs_inside_a_stdin_problem(verifier, tmp_path):
    """The hostile suite's bodies as whole programs (`def f(): <body>` then `print(f())`) on a stdin problem whose answer is 1."""
    problem = Problem("lcb/hostile", "Print 1.", tests=CodeTests("lcb", "", kind="stdin",
                                                                 inputs=["\n"], outputs=["1\n"]))
    target = tmp_path / "written.txt"
    cases = {**HOSTILE, "write_file": f"    open({str(target)!r}, 'w').write('x'); return 1",
             "forge_output": "    import sys; sys.stdout = sys.__stdout__; return 1", "honest": "    return 1\n"}
    got = grade(verifier, problem, {n: fence(f"def f():\n{body}\nprint(f())") for n, body in cases.items()})
    assert {n for n, (s, _) in got.items() if s == "correct"} == {"honest"}, got
    assert got["sleep"][0] == "timeout" and got["infinite_loop"][0] == "timeout"
    assert got["memory_bomb"][0] in ("oom", "wrong") and not target.exists()
    assert not Path("/tmp/evalkit_pwned").exists()


# -- LCB's output rules against an independent implementation ------------------------------------------
def lcb_reference(prediction: str, expected: str) -> bool:
    """testing_util.grade_stdio's comparison, re-read: strip, split on newlines, equal counts, per line exact or Decimal tokens."""
    a = [x.strip() for x in prediction.strip().split("\n")]
    b = [x.strip() for x in expected.strip().split("\n")]
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x == y:
            continue
        try:
            if [Decimal(t) for t in x.split()] != [Decimal(t) for t in y.split()]:
                return False
        except Exception:  # noqa: BLE001 -- not numbers: LCB fails the line
            return False
    return True


RULE_CASES = [
    ("3\n", "3", True), ("3.0", "3", True), ("1e2", "100", True), ("0.50 1", "0.5 1.000", True), ("1  2\t3", "1 2 3", True),
    ("  Yes  \n\n", "Yes", True), ("yes", "Yes", False), ("1\n\n2", "1\n2", False), ("1 2", "1\n2", False),
    ("0.1", "0.10000001", False), ("-0", "0", True), ("+5", "5", True), ("1,5", "1.5", False), ("NaN", "NaN", True),
    ("nan 1", "NaN 1", False), ("Infinity", "inf", True), ("", "", True), ("", "0", False), ("5\n", "\n5", True),
    ("1.0 2", "1 2 3", False), ("abc 1", "abc 1.0", False), ("1 sNaN", "1 sNaN", True), ("2 sNaN", "1 sNaN", False),
]


@pytest.mark.parametrize("got,expected,ok", RULE_CASES)
def test_line_and_decimal_rules(got, expected, ok):
    assert stdout_matches(got, expected)[0] is ok is lcb_reference(got, expected)


def test_rules_agree_with_the_reference_on_random_outputs():
    rng = random.Random(19)
    tokens = ["1", "1.0", "01", "1e0", "2", "-2", "0.5", ".5", "Yes", "No", "x", "", " ", "\t", "1.000000001", "7"]
    for _ in range(3000):
        make = lambda: "".join(rng.choice(tokens + ["\n", " "]) for _ in range(rng.randint(0, 7)))  # noqa: E731
        a, b = make(), make()
        assert stdout_matches(a, b)[0] == lcb_reference(a, b), (a, b)


def test_code_is_taken_from_the_last_fenced_block():
    two = "```python\nprint(1)\n```\nor better:\n```python\nprint(2)\n```"
    assert extract(two, "", "stdin").program.endswith("print(2)")
    assert extract("I cannot solve this.", "", "stdin").shape == "continued"  # prose: fails to compile in the sandbox
    assert extract("```python\n```", "", "stdin").program is None
    base = extract("return n\n```\nmore text", "class Solution:\n    def f(self, n):\n        ", "method")  # a base model's continuation
    assert base.shape == "continued" and base.program.endswith("def f(self, n):\n        return n")


# -- release files: versions, date windows, ids, hashes, safe decoding -------------------------------------------
def encode_private(tests: list[dict]) -> str:
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()


def release_row(qid: str, date: str, *, private: str | None = None, func: str | None = None, platform: str = "atcoder") -> dict:
    if func:
        public = [{"input": "2\n3", "output": "5", "testtype": "functional"}]
        hidden = [{"input": "10\n-4", "output": "6", "testtype": "functional"}]
        starter = f"class Solution:\n    def {func}(self, a: int, b: int) -> int:\n        "
    else:
        public = [{"input": "2 3\n", "output": "5\n", "testtype": "stdin"}]
        hidden = [{"input": "10 -4\n", "output": "6\n", "testtype": "stdin"}]
        starter = ""
    return {"question_title": f"Add {qid}", "question_content": f"Add two integers ({qid}).", "platform": platform,
            "question_id": qid, "contest_id": qid.split("_")[0], "contest_date": date, "starter_code": starter,
            "difficulty": "easy", "public_test_cases": json.dumps(public),
            "private_test_cases": private if private is not None else encode_private(hidden),
            "metadata": json.dumps({"func_name": func} if func else {})}


@pytest.fixture
def release(tmp_path) -> Path:
    """test.jsonl (release_v1) and test2.jsonl (the v2 delta), with encoded private tests, one call-based problem and one erratum."""
    d = tmp_path / "lcb"
    d.mkdir()
    v1 = [release_row("abc300_a", "2023-05-01T00:00:00"), release_row("abc301_a", "2023-06-10T00:00:00", private=json.dumps([])),
          release_row("2800", "2023-07-02T00:00:00", func="addTwo", platform="leetcode")]
    v2 = [release_row("abc337_e", "2024-01-20T00:00:00"), release_row("abc340_a", "2024-02-10T00:00:00")]
    (d / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in v1))
    (d / "test2.jsonl").write_text("".join(json.dumps(r) + "\n" for r in v2))
    return d


def ids(loaded) -> list[str]:
    return [p.id for p in loaded.problems]


def test_release_versions_and_date_windows(release):
    assert ids(load("livecodebench", release)) == ["abc300_a", "abc301_a", "2800", "abc337_e", "abc340_a"]
    assert ids(load("livecodebench", release, {"release_version": "release_v1"})) == ["abc300_a", "abc301_a", "2800"]
    assert ids(load("livecodebench", release, {"release_version": "v2"})) == ["abc337_e", "abc340_a"]
    window = load("livecodebench", release, {"start_date": "2023-06-10", "end_date": "2024-01-20"})
    assert ids(window) == ["abc301_a", "2800", "abc337_e"] and window.options["end_date"] == "2024-01-20"
    assert ids(load("livecodebench", release, {"end_date": "2024-01-20", "exclude_errata": True})) == ["abc300_a", "abc301_a", "2800"]
    p = {x.id: x for x in load("livecodebench", release).problems}
    assert p["abc337_e"].metadata["erratum"] == "interactive problem" and p["abc300_a"].metadata["erratum"] == ""
    assert p["2800"].metadata["platform"] == "leetcode" and p["2800"].metadata["difficulty"] == "easy"
    assert p["abc300_a"].tests.inputs == ["2 3\n", "10 -4\n"] and p["abc301_a"].tests.inputs == ["2 3\n"]


def test_hash_covers_exactly_the_selected_problems(release, tmp_path):
    window = load("livecodebench", release, {"start_date": "2024-01-01"})
    assert window.data_hash == load("livecodebench", release, {"release_version": "v2"}).data_hash
    assert window.data_hash != load("livecodebench", release).data_hash
    one_file = load("livecodebench", release / "test.jsonl")
    assert one_file.data_hash == load("livecodebench", release, {"release_version": "release_v1"}).data_hash


@pytest.mark.parametrize("options,needle", [
    ({"release_version": "v9"}, "is not a LiveCodeBench version"),
    ({"release_version": "release_v3"}, "has no test3.jsonl"),
    ({"start_date": "2024-13-01"}, "is not a date"),
    ({"start_date": "2024-02-01", "end_date": "2024-01-01"}, "is after"),
    ({"start_date": "2030-01-01"}, "no LiveCodeBench problem is left"),
])
def test_bad_selections_are_one_line_errors(release, options, needle):
    with pytest.raises(EvalkitError, match=needle) as e:
        load("livecodebench", release, options)
    assert "\n" not in str(e.value)


def test_a_pickle_that_would_run_code_is_refused(release, tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    evil = base64.b64encode(zlib.compress(pickle.dumps(Exploit()))).decode()
    rows = [release_row("abc399_z", "2024-03-01T00:00:00", private=evil)]
    bad = tmp_path / "evil.jsonl"
    bad.write_text(json.dumps(rows[0]) + "\n")
    with pytest.raises(EvalkitError, match="problem abc399_z: private_test_cases") as e:
        load("livecodebench", bad)
    assert "\n" not in str(e.value) and not marker.exists()
    not_a_str = base64.b64encode(zlib.compress(pickle.dumps([{"input": "1", "output": "1"}]))).decode()
    assert lcb.private_tests(encode_private([]), "q") == []
    with pytest.raises(EvalkitError, match="problem q: private_test_cases decodes to a list"):
        lcb.private_tests(not_a_str, "q")


def test_private_tests_are_graded(verifier, release):
    problems = {p.id: p for p in load("livecodebench", release).problems}
    public_only = "a, b = map(int, input().split())\nprint(5)"  # right on the public test only
    right = "a, b = map(int, input().split())\nprint(a + b)"
    got = grade(verifier, problems["abc300_a"], {"right": fence(right), "public_only": fence(public_only)})
    assert got["right"][0] == "correct" and got["public_only"][0] == "wrong" and "test 2 of 2" in got["public_only"][1]
    method = "class Solution:\n    def addTwo(self, a: int, b: int) -> int:\n        return a + b"
    assert grade(verifier, problems["2800"], {"m": fence(method)})["m"][0] == "correct"


def test_score_end_to_end_with_a_window(release, tmp_path):
    samples = tmp_path / "samples.jsonl"
    right, wrong = "a, b = map(int, input().split())\nprint(a + b)", "print(0)"
    method = "class Solution:\n    def addTwo(self, a: int, b: int) -> int:\n        return a + b"
    lines = [{"problem_id": "abc301_a", "completion": fence(right)}, {"problem_id": "abc301_a", "completion": fence(wrong)},
             {"problem_id": "2800", "completion": fence(method)}, {"problem_id": "2800", "completion": fence(method)}]
    samples.write_text("".join(json.dumps(x) + "\n" for x in lines))
    out = tmp_path / "run"
    args = ["score", "--bench", "livecodebench", "--data", str(release), "--samples", str(samples), "--k", "1,2",
            "--out", str(out), "--start-date", "2023-06-01", "--end-date", "2023-12-31"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["pass_at_k"] == {"1": pytest.approx(0.75), "2": pytest.approx(1.0)} and metrics["num_problems"] == 2
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["selection"] == {"start_date": "2023-06-01", "end_date": "2023-12-31"}
    assert manifest["num_problems_total"] == 2


def test_cli_errors_are_one_line(release, tmp_path):
    base = ["score", "--bench", "livecodebench", "--data", str(release), "--samples", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "o")]
    (tmp_path / "none.jsonl").write_text(json.dumps({"problem_id": "abc300_a", "completion": "x"}) + "\n")
    for extra, needle in ((["--release-version", "v7"], "not a LiveCodeBench version"), (["--end-date", "May 1"], "is not a date")):
        r = CliRunner().invoke(main, base + extra)
        assert r.exit_code != 0 and needle in r.output and "Traceback" not in r.output, r.output
    r = CliRunner().invoke(main, ["score", "--bench", "arith", "--samples", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "p"),
                                  "--start-date", "2024-01-01"])
    assert r.exit_code != 0 and "does not apply to arith" in r.output


@pytest.mark.slow
def test_run_draws_for_livecodebench(release, tmp_path):
    out = tmp_path / "run"
    args = ["run", "--model", "tiny-arith", "--bench", "livecodebench", "--data", str(release), "--backend", "hf",
            "--max-tokens", "8", "--k", "1", "--release-version", "v2", "--exclude-errata", "--out", str(out)]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert [s["problem_id"] for s in samples] == ["abc340_a"]
    prompt = json.loads((out / "prompts.jsonl").read_text().splitlines()[0])["prompt"]  # tiny-arith: no chat template
    assert prompt.startswith("### Question:\nAdd two integers (abc340_a).\n\n### Format: Read the inputs from stdin")
    assert prompt.endswith("### Answer: (use the provided format with backticks)\n\n```python\n")
    assert json.loads((out / "manifest.json").read_text())["selection"] == {"release_version": "v2", "exclude_errata": True}


def test_converted_shared_files_load(data_dir):
    for name, count in ((SHARED, 279), ("livecodebench/rllm_lcb_public_tests.json", 879)):
        loaded = load("livecodebench", data_dir / name)
        assert len(loaded.problems) == count and loaded.recognized, loaded.version
        assert loaded.problems[0].id == "livecodebench/0"


def test_release_files_in_the_data_dir_come_first(release, tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    release.rename(tmp_path / "data" / "livecodebench")
    monkeypatch.setenv("EVALKIT_DATA_DIR", str(tmp_path / "data"))
    loaded = load("livecodebench", options={"release_version": "release_v1"})
    assert ids(loaded) == ["abc300_a", "abc301_a", "2800"] and "release_v1: test.jsonl" in loaded.source


def test_show_prompt():
    r = CliRunner().invoke(main, ["benchmarks", "--show-prompt", "livecodebench"])
    assert r.exit_code == 0, r.output
    assert "You are an expert Python programmer. You will be given a question (problem specification) and will generate " \
           "a correct Python program that matches the specification and passes all tests." in r.output
    assert "### Answer: (use the provided format with backticks)" in r.output and "# YOUR CODE HERE" in r.output
