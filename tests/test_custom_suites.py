"""Issue 31: custom benchmarks under their own name (task file or flags, on run and score), suites in one
command, and the suite row of compare (macro average, interval from resampling within each benchmark)."""

from __future__ import annotations

import json
import random
from fractions import Fraction
from math import comb
from pathlib import Path

import numpy as np
import pytest

from rundirs import cli_result as cli, make_run, metrics

TASK = """name = "{name}"
family = "math"
data = "questions.jsonl"
id_field = "qid"
question_field = "q"
answer_field = "a"

[prompt]
base = "Question: {{prompt}}\\nAnswer:"
"""
RUN = ["run", "--model", "tiny-arith", "--backend", "hf", "--max-tokens", "12"]


def one_line_error(code: int, out: str) -> None:
    assert code != 0 and out.startswith("error: ") and out.count("\n") == 1 and "Traceback" not in out, out


def write_task(root: Path) -> Path:
    rng = random.Random(3)
    with open(root / "questions.jsonl", "w") as f:
        for i in range(12):
            a, b = rng.randint(0, 9), rng.randint(0, 9)
            f.write(json.dumps({"qid": f"q{i}", "q": f"What is {a} + {b}?", "a": a + b, "topic": "add"}) + "\n")
    (root / "task.toml").write_text(TASK.format(name="math500"))  # a known benchmark's name: still not that benchmark
    return root / "task.toml"


@pytest.fixture
def task(tmp_path: Path) -> Path:
    return write_task(tmp_path)


@pytest.fixture(scope="module")
def suite_run(tmp_path_factory) -> tuple[Path, str]:
    """One command, a suite of a built-in benchmark and a custom one (the model loads once for the module)."""
    root = tmp_path_factory.mktemp("suite")
    task = write_task(root)
    code, out = cli(*RUN, "--bench", f"arith,{task}", "--limit", "12", "--k", "1,2", "--out", str(root / "suite"))
    assert code == 0, out
    return root / "suite", out


def test_suite_in_one_command(suite_run: tuple[Path, str], tmp_path: Path) -> None:
    root, out = suite_run
    assert sorted(p.name for p in root.iterdir()) == ["arith", "custom-math500"]
    assert "== suite:arith+custom:math500 (macro average over 2 benchmarks) ==" in out
    code, out = cli(*RUN, "--bench", "arith,nope", "--k", "1", "--out", str(tmp_path / "x"))
    one_line_error(code, out)
    assert "unknown benchmark 'nope'" in out and not (tmp_path / "x").exists()


def test_custom_benchmark_end_to_end_under_its_own_name(suite_run: tuple[Path, str], tmp_path: Path) -> None:
    root, out = suite_run
    run = root / "custom-math500"
    assert "on custom:math500" in out and "UNRECOGNIZED" not in out
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["benchmark"] == "custom:math500" and manifest["custom"]["question_field"] == "q"
    assert manifest["data_version"] == "custom benchmark math500 (12 problems)" and "unknown_data" not in manifest
    assert "MATH-500" not in json.dumps(manifest)
    grades = [json.loads(line) for line in (run / "grades.jsonl").read_text().splitlines()]
    assert {g["problem_id"] for g in grades} == {f"q{i}" for i in range(12)}  # the file's own ids
    assert metrics(run)["pass_at_k"]["2"] > 0  # the tiny model solves some: the task file's prompt was used
    report = json.loads(cli("compare", str(run), "--format", "json")[1])["benchmarks"][0]
    assert report["benchmark"] == "custom:math500" and report["data_hash"] == manifest["data_hash"]
    code, out = cli("export", str(run), "--out", str(tmp_path / "lb.json"))
    entry = json.loads((tmp_path / "lb.json").read_text())["entries"][0]
    assert code == 0 and entry["benchmark"] == "custom:math500" and entry["data_hash"] == manifest["data_hash"] and entry["custom"]["name"] == "math500"


def test_custom_benchmark_by_flags_on_score(tmp_path: Path, task: Path) -> None:
    data = task.parent / "questions.jsonl"
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    (tmp_path / "s.jsonl").write_text("".join(json.dumps({"problem_id": r["qid"], "completions": [f"\\boxed{{{r['a']}}}", "\\boxed{-1}"]}) + "\n"
                                              for r in rows))
    args = ["score", "--bench", "custom:adds", "--family", "math", "--data", str(data), "--id-field", "qid", "--question-field", "q",
            "--answer-field", "a", "--samples", str(tmp_path / "s.jsonl"), "--k", "1,2", "--out", str(tmp_path / "o")]
    code, out = cli(*args)
    assert code == 0, out
    m = metrics(tmp_path / "o")
    assert m["benchmark"] == "custom:adds" and m["pass_at_k"] == {"1": 0.5, "2": 1.0}
    # a file of other questions is refused as for any benchmark
    (tmp_path / "other.jsonl").write_text(json.dumps({"question": "What is 100 + 1?", "idx": 0, "code": ["\\boxed{101}"]}) + "\n")
    code, out = cli(*args[:-6], "--samples", str(tmp_path / "other.jsonl"), "--out", str(tmp_path / "o2"))
    one_line_error(code, out)
    assert "matches none of custom:adds's 12 problems" in out and not (tmp_path / "o2").exists()


@pytest.mark.parametrize("drop, needle", [("question_field", "missing field `question_field`"), ("family", "missing field `family`"),
                                          ("data", "missing field `data`")])
def test_task_file_missing_field_is_one_line(tmp_path: Path, task: Path, drop: str, needle: str) -> None:
    text = "\n".join(line for line in task.read_text().splitlines() if not line.startswith(drop))
    task.write_text(text)
    code, out = cli(*RUN, "--bench", str(task), "--k", "1", "--out", str(tmp_path / "run"))
    one_line_error(code, out)
    assert needle in out and str(task) in out and not (tmp_path / "run").exists()


def test_custom_flags_missing_is_one_line(tmp_path: Path) -> None:
    code, out = cli(*RUN, "--bench", "custom:x", "--family", "math", "--k", "1", "--out", str(tmp_path / "run"))
    one_line_error(code, out)
    assert "--data" in out and "--question-field" in out and "--answer-field" in out and "--family" not in out.split("needs")[1]
    code, out = cli(*RUN, "--bench", "arith", "--question-field", "q", "--k", "1", "--out", str(tmp_path / "run"))
    one_line_error(code, out)
    assert "custom:NAME" in out


# -- the suite row ----------------------------------------------------------------------------------------
def exact_mean(run: Path, k: int) -> float:
    by: dict[str, list[bool]] = {}
    for line in (run / "grades.jsonl").read_text().splitlines():
        g = json.loads(line)
        by.setdefault(g["problem_id"], []).append(g["correct"])
    return float(sum(1 - Fraction(comb(len(v) - sum(v), k), comb(len(v), k)) for v in by.values()) / len(by))


def test_compare_suite_row_is_the_macro_average(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    runs = {}
    for model, p in (("base", 0.3), ("rl", 0.5)):
        for bench, size in (("arith", 200), ("aime24", 30), ("gsm8k", 80)):
            runs[(model, bench)] = make_run(tmp_path / model / bench, rng.random((size, 8)) < p, model=model, benchmark=bench,
                                            data_hash=f"sha256:{bench}")
    code, out = cli("compare", *map(str, runs.values()), "--k", "1,8", "--format", "json")
    assert code == 0, out
    suite = json.loads(out)["suite"]
    assert suite["benchmarks"] == ["arith", "aime24", "gsm8k"] and suite["baseline"] == "base"
    for model in ("base", "rl"):
        row = next(r for r in suite["runs"] if r["label"] == model)
        for k in (1, 8):
            want = sum(exact_mean(runs[(model, b)], k) for b in ("arith", "aime24", "gsm8k")) / 3  # each benchmark weighs the same
            cell = row["pass_at_k"][str(k)]
            assert cell["value"] == pytest.approx(want, abs=1e-12) and cell["ci95"][0] < want < cell["ci95"][1]
    rl = next(r for r in suite["runs"] if r["label"] == "rl")
    d = rl["vs_baseline"]["1"]
    diff = sum(exact_mean(runs[("rl", b)], 1) - exact_mean(runs[("base", b)], 1) for b in ("arith", "aime24", "gsm8k")) / 3
    assert d["diff"] == pytest.approx(diff, abs=1e-12) and d["ci95"][0] > 0 and d["p_value"] < 0.01  # 20 points on 310 problems
    text = cli("compare", *map(str, runs.values()), "--k", "1,8")[1]
    assert "suite:arith+aime24+gsm8k (macro average over 3 benchmarks)" in text and "vs baseline base" in text
    csv = cli("compare", *map(str, runs.values()), "--k", "1", "--format", "csv")[1]
    assert csv.count("suite:arith+aime24+gsm8k") == 2


def test_suite_interval_resamples_within_each_benchmark() -> None:
    """The stratified bootstrap: a benchmark with no spread adds none, whatever its size; the interval is
    the one of the spread benchmark's mean, halved (it weighs 1/2)."""
    from evalkit.scoring.stats import bootstrap_ci
    from evalkit.scoring.suite import macro_interval

    rng = np.random.default_rng(0)
    spread = (rng.random(300) < 0.4).astype(float)
    mean, ci, se = macro_interval([spread, np.ones(40)])
    lo, hi = bootstrap_ci(spread)[0]
    assert mean[0] == pytest.approx((spread.mean() + 1) / 2)
    assert ci[0, 0] == pytest.approx((lo + 1) / 2) and ci[0, 1] == pytest.approx((hi + 1) / 2) and se[0] > 0
