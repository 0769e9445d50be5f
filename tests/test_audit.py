"""`evalkit audit` (reports/audit.py, audit_judge.py): the second grader's re-grading of a math run,
its cache, the LLM judge against a local deterministic server, and the readings in gate / compare /
export.

Runs are planted: a benchmark file, samples whose final answers are boxed (the gold, a wrong
number, or no answer at all: unambiguous for any grader) and grades.jsonl with the primary's
verdicts chosen by the test, some of them flipped. The disagreements are therefore known in advance,
and every figure is checked against a brute-force count with exact rationals.
"""

from __future__ import annotations

import json
import math
import re
import threading
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from evalkit.adapters.loading import load
from evalkit.reports import audit_column
from evalkit.reports.audit import AUDIT, audit_summary
from evalkit.store import GRADES, MANIFEST, SAMPLES, JsonlAppender, write_json_atomic
from evalkit.types import Grade, Sample
from rundirs import cli_result, make_run

NO_ANSWER_TEXT = "I could not finish this problem in the time I had, sorry about that."


# -- planted runs -----------------------------------------------------------------------------------
def plant(root: Path, name: str, golds: list[int], kinds: np.ndarray, primary: np.ndarray, primary_status: dict | None = None) -> Path:
    """A math500-format run: kinds[r, i] is 0 (boxed gold), 1 (boxed wrong number) or 2 (no answer);
    primary[r, i] the primary's planted verdict (its status: correct / wrong, or primary_status)."""
    bench = root / f"{name}-bench.jsonl"
    if not bench.exists():
        with open(bench, "w") as f:
            for r, g in enumerate(golds):
                f.write(json.dumps({"problem": f"What is {g - 1} + 1? (problem {r})", "answer": str(g), "unique_id": f"t/{r}"}) + "\n")
    loaded = load("math500", str(bench))
    run = root / name
    run.mkdir()
    write_json_atomic(run / MANIFEST, {
        "model": name, "benchmark": "math500", "data_source": str(bench), "data_hash": loaded.data_hash,
        "num_problems_total": len(golds), "sampling": None, "seed": None, "n": None, "label": name,
        "created": f"2026-01-02T03:04:05+00:00 {name}",
    })
    with JsonlAppender(run / SAMPLES) as s_out, JsonlAppender(run / GRADES) as g_out:
        for r, g in enumerate(golds):
            for i, kind in enumerate(kinds[r]):
                answer = {0: str(g), 1: str(g + 7 + i), 2: None}[int(kind)]
                text = NO_ANSWER_TEXT if answer is None else f"We add the two numbers carefully.\n\nThe answer is $\\boxed{{{answer}}}$."
                s_out.write(Sample(f"math500/{r}", i, None, text).to_json())
                ok = bool(primary[r, i])
                status = "correct" if ok else (primary_status or {}).get((r, i), "wrong")
                g_out.write(Grade(f"math500/{r}", i, ok, status, answer=None if status == "no_answer" else (answer or "0")).to_json())
    return run


def random_run(root: Path, name: str = "run", problems: int = 24, n: int = 8, flips: float = 0.1, seed: int = 0):
    """A planted run and its truth: second[r, i] (what a correct grader says) and primary[r, i]."""
    rng = np.random.default_rng(seed)
    golds = [int(x) for x in rng.integers(10, 500, problems)]
    skill = rng.beta(0.6, 0.6, problems)
    kinds = np.where(rng.random((problems, n)) < skill[:, None], 0, np.where(rng.random((problems, n)) < 0.8, 1, 2))
    second = kinds == 0
    flip = rng.random((problems, n)) < flips
    primary = second ^ flip
    # a primary that found no answer where there is one: the class the issue names first
    status = {(r, i): "no_answer" for r, i in zip(*np.nonzero(flip & second)) if (r + i) % 2 == 0}
    return plant(root, name, golds, kinds, primary, status), second, primary, kinds, status


def exact_pass_at_k(correct: np.ndarray, k: int) -> Fraction:
    """Mean over problems of 1 - C(n-c, k) / C(n, k), in exact rationals."""
    n = correct.shape[1]
    total = sum(Fraction(1) - Fraction(math.comb(n - int(c), k), math.comb(n, k)) for c in correct.sum(axis=1))
    return total / correct.shape[0]


def audit_json(run: Path, tmp: Path, *args: str) -> dict:
    out = tmp / f"audit-{run.name}.json"
    code, text = cli_result("audit", str(run), "--json", str(out), *args)
    assert code == 0, text
    return json.loads(out.read_text())


# -- the report ------------------------------------------------------------------------------------------
def test_report_matches_a_brute_force_count(tmp_path):
    run, second, primary, kinds, status = random_run(tmp_path)
    report = audit_json(run, tmp_path, "--k", "1,4,8")
    differ = primary != second
    assert report["agreement"] == pytest.approx(1 - differ.mean())
    listed = {(d["problem_id"], d["sample_index"]): d for d in report["disagreements"]}
    assert set(listed) == {(f"math500/{r}", int(i)) for r, i in zip(*np.nonzero(differ))}
    for (pid, i), d in listed.items():
        r = int(pid.split("/")[1])
        assert (d["primary"], d["second"]) == (bool(primary[r, i]), bool(second[r, i]))
        assert d["primary_status"] == ("correct" if primary[r, i] else status.get((r, i), "wrong"))
        assert d["second_status"] == {0: "correct", 1: "wrong", 2: "no_answer"}[int(kinds[r, i])]
        assert d["second_answer"] == (None if kinds[r, i] == 2 else str(int(d["gold"]) + (0 if kinds[r, i] == 0 else 7 + i)))
    table = {(t["class"], t["primary_status"], t["second_status"]): t["count"] for t in report["disagreement_table"]}
    expected: dict = {}
    for d in listed.values():
        cls = "primary_correct_second_wrong" if d["primary"] else "second_correct_primary_wrong"
        key = (cls, d["primary_status"], d["second_status"])
        expected[key] = expected.get(key, 0) + 1
    assert table == expected
    for name, column in {"primary": primary, "second": second, "both": primary & second, "any": primary | second}.items():
        for k in (1, 4, 8):
            value = report["pass_at_k"][name][str(k)]
            assert value == pytest.approx(float(exact_pass_at_k(column, k)), abs=1e-12)
            lo, hi = report["ci95"][name][str(k)]
            assert lo <= value <= hi
    for k in ("1", "4", "8"):
        p = report["pass_at_k"]
        assert p["any"][k] >= p["primary"][k] >= p["both"][k]


def test_primary_matches_the_runs_own_count(tmp_path):
    """The primary reading is the run's pass@k as `evalkit compare` reports it (one counting path)."""
    run, *_ = random_run(tmp_path, seed=3)
    report = audit_json(run, tmp_path, "--k", "1,8")
    code, text = cli_result("compare", str(run), "--format", "json", "--k", "1,8")
    assert code == 0, text
    row = json.loads(text)["benchmarks"][0]["runs"][0]
    for k in ("1", "8"):
        assert report["pass_at_k"]["primary"][k] == row["pass_at_k"][k]["value"]
        assert report["ci95"]["primary"][k] == row["pass_at_k"][k]["ci95"]


# -- the cache --------------------------------------------------------------------------------------------
class CountingGrader:
    """Counts the rows the second grader is given (a rerun must grade only what is missing)."""

    def __init__(self, monkeypatch):
        from evalkit.verify.math.second import SecondGrader

        self.rows = 0
        original = SecondGrader.grade_iter
        counter = self

        def grade_iter(grader, rows):
            def counted():
                for row in rows:
                    counter.rows += 1
                    yield row

            return original(grader, counted())

        monkeypatch.setattr(SecondGrader, "grade_iter", grade_iter)


def test_cache_resumes_after_a_kill_and_is_dropped_when_what_it_depends_on_changes(tmp_path, monkeypatch):
    run, second, primary, *_ = random_run(tmp_path, problems=10, n=4, seed=1)
    counting = CountingGrader(monkeypatch)
    first = audit_json(run, tmp_path)
    assert counting.rows == 40
    again = audit_json(run, tmp_path)
    assert counting.rows == 40 and again == first  # everything cached: nothing graded

    lines = (run / AUDIT).read_bytes().splitlines(keepends=True)
    kept = lines[: len(lines) // 2]
    (run / AUDIT).write_bytes(b"".join(kept) + lines[len(lines) // 2][:25])  # killed mid-line
    graded_before = sum(b'"sample_index"' in line for line in kept)
    resumed = audit_json(run, tmp_path)
    assert counting.rows == 40 + (40 - graded_before)
    assert resumed == first

    # a regrade of the primary changes the report, not the cache
    grades = [json.loads(x) for x in (run / GRADES).read_text().splitlines()]
    grades[0].update(correct=not grades[0]["correct"], status="wrong" if grades[0]["correct"] else "correct")
    (run / GRADES).write_text("".join(json.dumps(g) + "\n" for g in grades))
    regraded = audit_json(run, tmp_path)
    assert counting.rows == 80 - graded_before
    assert abs(regraded["num_disagreements"] - first["num_disagreements"]) == 1

    monkeypatch.setattr(audit_column, "grader_version", lambda: "sha256:another-version")
    audit_json(run, tmp_path)
    assert counting.rows == 120 - graded_before  # a new second-grader version grades everything again


def test_rewritten_samples_invalidate_the_cache(tmp_path, monkeypatch):
    run, *_ = random_run(tmp_path, problems=6, n=4, seed=2)
    counting = CountingGrader(monkeypatch)
    before = audit_json(run, tmp_path)
    assert audit_summary(run) is not None
    text = (run / SAMPLES).read_text().replace("We add the two numbers carefully.", "Adding gives:")
    (run / SAMPLES).write_text(text)
    assert audit_summary(run) is None  # a stale audit is never shown
    after = audit_json(run, tmp_path)
    assert counting.rows == 48 and after["pass_at_k"] == before["pass_at_k"]


def test_code_unfinished_and_missing_runs_are_one_line_errors(tmp_path):
    code_run = make_run(tmp_path / "code", [[True, False]], benchmark="humaneval", ids=["HumanEval/0"])
    code, text = cli_result("audit", str(code_run))
    assert code == 1 and text.startswith("error: ") and "math" in text and len(text.strip().splitlines()) == 1
    run, *_ = random_run(tmp_path, problems=4, n=4, seed=5)
    lines = (run / GRADES).read_text().splitlines(keepends=True)
    (run / GRADES).write_text("".join(lines[1:]))  # sample 0 of the first problem ungraded
    code, text = cli_result("audit", str(run))
    assert code == 1 and "unfinished" in text and len(text.strip().splitlines()) == 1
    code, text = cli_result("audit", str(tmp_path / "nowhere"))
    assert code == 1 and text.startswith("error: ") and len(text.strip().splitlines()) == 1
    code, text = cli_result("audit", str(run), "--json", str(tmp_path / "no-dir" / "a.json"))
    assert code == 1 and "does not exist" in text
    assert not (run / AUDIT).exists()  # nothing written before the bad input was found


# -- the judge ----------------------------------------------------------------------------------------------
class JudgeServer:
    """OpenAI chat-completions on 127.0.0.1: EQUIVALENT iff the response's last box holds the reference
    answer. `fail_first` answers a prompt's first request with 503 (the client must retry)."""

    MODEL = "judge-7b"

    def __init__(self, fail_first: bool = False):
        self.prompts: list[str] = []
        self.failed: set[str] = set()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path.endswith("/models"):
                    self._reply(200, {"object": "list", "data": [{"id": JudgeServer.MODEL, "object": "model", "created": 0, "owned_by": "test"}]})
                else:
                    self._reply(404, {"error": {"message": "not found"}})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if body["model"] != JudgeServer.MODEL:
                    return self._reply(404, {"error": {"message": f"model {body['model']} does not exist"}})
                prompt = body["messages"][-1]["content"]
                if fail_first and prompt not in server.failed:
                    server.failed.add(prompt)
                    return self._reply(503, {"error": {"message": "overloaded"}})
                server.prompts.append(prompt)
                self._reply(200, server.completion(prompt))

            def _reply(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @staticmethod
    def verdict(prompt: str) -> bool:
        gold = re.search(r"Reference answer:\n(.*?)\n\nResponse:", prompt, re.S).group(1).strip()
        boxes = re.findall(r"\\boxed\{([^{}]*)\}", prompt.split("\n\nResponse:\n", 1)[1])
        return bool(boxes) and boxes[-1].strip() == gold

    def completion(self, prompt: str) -> dict:
        reply = "The final answers are compared.\nVERDICT: " + ("EQUIVALENT" if self.verdict(prompt) else "NOT EQUIVALENT")
        return {"id": "c", "object": "chat.completion", "created": 0, "model": self.MODEL,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}}

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def judge_server():
    server = JudgeServer(fail_first=True)
    yield server
    server.close()


def test_judge_asked_about_disagreements_only(tmp_path, judge_server):
    run, second, primary, kinds, _ = random_run(tmp_path, problems=16, n=8, seed=4)
    args = ("--judge-url", judge_server.url, "--judge-model", JudgeServer.MODEL, "--max-retries", "3", "--k", "1,8")
    report = audit_json(run, tmp_path, *args)
    differ = primary != second
    assert len(judge_server.prompts) == int(differ.sum()) == report["judge"]["answered"]
    assert judge_server.failed == set(judge_server.prompts)  # every prompt's first attempt failed and was retried
    assert all(d["judge"] == d["second"] for d in report["disagreements"])  # the server's truth is the second's here
    judged = np.where(differ, second, primary)
    for k in (1, 8):
        assert report["pass_at_k"]["judged"][str(k)] == pytest.approx(float(exact_pass_at_k(judged, k)), abs=1e-12)
    lines = [json.loads(x) for x in (run / "judge.jsonl").read_text().splitlines()]
    assert lines[0]["judge"]["model"] == JudgeServer.MODEL and "{response}" in lines[0]["judge"]["prompt"]
    assert {x["prompt"] for x in lines[1:]} == set(judge_server.prompts)
    assert all(x["reply"].endswith("EQUIVALENT") for x in lines[1:])

    audit_json(run, tmp_path, *args)
    assert len(judge_server.prompts) == int(differ.sum())  # answered samples are never asked again
    no_answer = audit_json(run, tmp_path, *args, "--judge-no-answer")
    extra = int(((kinds == 2) & ~differ).sum())
    assert len(judge_server.prompts) == int(differ.sum()) + extra and no_answer["judge"]["no_answer_asked"] == extra
    assert audit_summary(run)["pass_at_k"]["judged"]["1"] == no_answer["pass_at_k"]["judged"]["1"]


def test_judge_errors_are_one_line(tmp_path, judge_server):
    run, *_ = random_run(tmp_path, problems=6, n=4, seed=6)
    code, text = cli_result("audit", str(run), "--judge-url", judge_server.url, "--judge-model", "other-model")
    assert code == 1 and "serves judge-7b" in text and len(text.strip().splitlines()) == 1
    code, text = cli_result("audit", str(run), "--judge-url", "http://127.0.0.1:9/v1", "--judge-model", "m", "--max-retries", "0")
    assert code == 1 and "cannot reach" in text
    code, text = cli_result("audit", str(run), "--judge-model", "m")
    assert code == 1 and "--judge-url" in text


# -- downstream: gate, compare, export ------------------------------------------------------------------
def test_gate_on_audit_readings(tmp_path):
    base, b_second, b_primary, *_ = random_run(tmp_path, name="base", problems=30, n=4, seed=7)
    cand, c_second, c_primary, *_ = random_run(tmp_path, name="cand", problems=30, n=4, seed=7, flips=0.3)
    code, text = cli_result("gate", "--baseline", str(base), "--candidate", str(cand), "--metric", "pass@1:any")
    assert code == 2 and "evalkit audit" in text
    for run in (base, cand):
        audit_json(run, tmp_path)
    out = tmp_path / "gate.json"
    code, text = cli_result("gate", "--baseline", str(base), "--candidate", str(cand), "--metric", "pass@1:any,pass@1:both,pass@4:second,pass@1",
                            "--max-drop", "1", "--json", str(out))
    assert code == 0, text
    metrics = {m["metric"]: m for m in json.loads(out.read_text())["metrics"]}
    assert metrics["pass@1:any"]["candidate"] == pytest.approx(float(exact_pass_at_k(c_primary | c_second, 1)))
    assert metrics["pass@1:both"]["baseline"] == pytest.approx(float(exact_pass_at_k(b_primary & b_second, 1)))
    assert metrics["pass@4:second"]["candidate"] == pytest.approx(float(exact_pass_at_k(c_second, 4)))
    assert metrics["pass@1"]["candidate"] == pytest.approx(float(exact_pass_at_k(c_primary, 1)))
    for bad in ("pass@1:either", "maj@1:any"):
        code, text = cli_result("gate", "--baseline", str(base), "--candidate", str(cand), "--metric", bad)
        assert code == 2 and text.startswith("error: ")
    code, text = cli_result("gate", "--baseline", str(base), "--candidate", str(cand), "--metric", "pass@1:judged")
    assert code == 2 and "judge" in text


def test_compare_and_export_show_the_audit(tmp_path):
    from evalkit.reports.export import schema

    audited, second, primary, *_ = random_run(tmp_path, name="audited", seed=8)
    plain, *_ = random_run(tmp_path, name="plain", seed=8)
    audit_json(audited, tmp_path)
    code, text = cli_result("compare", str(audited), str(plain), "--k", "1,8", "--format", "json")
    assert code == 0, text
    rows = {r["label"]: r for r in json.loads(text)["benchmarks"][0]["runs"]}
    assert "audit" not in rows["plain"]
    figures = rows["audited"]["audit"]
    assert figures["agreement"] == pytest.approx(1 - (primary != second).mean())
    assert figures["pass_at_k"]["any"]["8"]["value"] == pytest.approx(float(exact_pass_at_k(primary | second, 8)))
    code, text = cli_result("compare", str(audited), str(plain), "--k", "1,8")
    assert "grader audit" in text and "not audited" in text
    board = tmp_path / "board.json"
    code, text = cli_result("export", str(audited), str(plain), "--out", str(board), "--k", "1,8")
    assert code == 0, text
    entries = {e["label"]: e for e in json.loads(board.read_text())["entries"]}
    jsonschema.validate(json.loads(board.read_text()), schema())
    assert entries["audited"]["audit"]["pass_at_k"]["both"]["1"]["value"] == pytest.approx(float(exact_pass_at_k(primary & second, 1)))
    assert "audit" not in entries["plain"]
    assert audit_summary(plain) is None


# -- the check: labelled answer pairs graded through `score` -----------------------------------
def _as_completion(pred: str, form: str) -> str:
    """bare: the pred is the whole completion. boxed: a one-line pred is set as a model's last line,
    `The final answer is $\\boxed{pred}$.` (multi-line preds and preds with a box are full responses already)."""
    p = pred.strip()
    if form == "bare" or "\n" in p or "\\boxed" in p or "\\fbox" in p:
        return pred
    if len(p) > 1 and p[0] == p[-1] == "$":
        p = p.strip("$").strip()
    return f"Working through the problem gives the result.\n\nThe final answer is $\\boxed{{{p}}}$."


def _score_pairs(eval_dir: Path, tmp: Path, form: str) -> tuple[Path, list[bool]]:
    rows = [json.loads(x) for x in (eval_dir / "verifier_pairs.jsonl").read_text().splitlines() if x.strip()]
    bench, samples = tmp / "pairs-bench.jsonl", tmp / "pairs-samples.jsonl"
    bench.write_text("".join(json.dumps({"problem": f"pair {r['id']}", "answer": r["gold"], "unique_id": f"pair/{r['id']}"}) + "\n" for r in rows))
    samples.write_text("".join(json.dumps({"problem_id": f"pair/{r['id']}", "completion": _as_completion(r["pred"], form)}) + "\n" for r in rows))
    run = tmp / "pairs"
    code, text = cli_result("score", "--bench", "math500", "--data", str(bench), "--samples", str(samples), "--out", str(run), "--allow-unknown-data")
    assert code == 0, text
    return run, [r["equal"] for r in rows]


@pytest.mark.slow
@pytest.mark.parametrize("form", ["bare", "boxed"])
def test_labelled_pairs_audit_bar(eval_dir, tmp_path, form):
    """At least a third of the primary's mistakes (by the labels) flagged, at most 15% of all samples
    flagged, and pass@1 any >= primary >= both; each pred scored as a whole completion (bare) or as
    the boxed last line of one."""
    run, labels = _score_pairs(eval_dir, tmp_path, form)
    report = audit_json(run, tmp_path)
    primary = {int(g["problem_id"].split("/")[1]): g["correct"] for g in map(json.loads, (run / GRADES).read_text().splitlines())}
    flagged = {int(d["problem_id"].split("/")[1]) for d in report["disagreements"]}
    wrong = {i for i, y in enumerate(labels) if primary[i] != y}
    assert wrong, "the labels must hold some primary mistakes for the bar to mean anything"
    assert 3 * len(flagged & wrong) >= len(wrong)
    p = report["pass_at_k"]
    assert p["any"]["1"] >= p["primary"]["1"] >= p["both"]["1"]
    assert len(flagged) <= 0.15 * len(labels)
