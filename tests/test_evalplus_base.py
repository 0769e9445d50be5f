"""Issue 31: EvalPlus's two figures from one humanevalplus run: base tests ("humaneval") and base + plus
("humaneval+"), each sample's verdicts checked against EvalPlus's own `base_status` / `plus_status` for the
same samples (Qwen2.5-Coder-1.5B's official EvalPlus outputs, HumanEval+ v0.1.9), and carried by metrics,
compare, the leaderboard and the lm-eval / Every Eval Ever exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rundirs import cli_result as cli

# two that pass base and plus, three that pass the base tests only, two that fail both (none times out)
TASKS = ["HumanEval/0", "HumanEval/4", "HumanEval/13", "HumanEval/22", "HumanEval/31", "HumanEval/1", "HumanEval/5"]


@pytest.fixture(scope="module")
def scored(eval_dir: Path, data_dir: Path, tmp_path_factory) -> tuple[Path, dict]:
    src = eval_dir / "qwen25coder_base_evalplus_greedy"
    rows = [json.loads(line) for line in (src / "1.5b-base__humaneval__generated.jsonl").read_text().splitlines()]
    root = tmp_path_factory.mktemp("evalplus")
    (root / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows if r["task_id"] in TASKS))
    out = root / "run"
    code, text = cli("score", "--bench", "humanevalplus", "--data", str(data_dir / "humanevalplus_v0.1.9.jsonl"),
                     "--samples", str(root / "s.jsonl"), "--model", "Qwen/Qwen2.5-Coder-1.5B", "--out", str(out))
    assert code == 0, text
    statuses = json.loads((src / "1.5b-base__humaneval__generated_eval_results.json").read_text())["eval"]
    return out, {t: statuses[t][0] if isinstance(statuses[t], list) else statuses[t] for t in TASKS}


def test_base_and_plus_verdicts_are_evalplus_own(scored: tuple[Path, dict]) -> None:
    out, evalplus = scored
    plus = {json.loads(line)["problem_id"]: json.loads(line)["correct"] for line in (out / "grades.jsonl").read_text().splitlines()}
    base = {json.loads(line)["problem_id"]: json.loads(line)["correct"] for line in (out / "grades_base.jsonl").read_text().splitlines()}
    assert base == {t: s["base_status"] == "pass" for t, s in evalplus.items()}
    assert plus == {t: s["base_status"] == "pass" and s["plus_status"] == "pass" for t, s in evalplus.items()}
    assert sum(base.values()) == 5 and sum(plus.values()) == 2  # the fixture really separates the two figures


def test_both_figures_everywhere(scored: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = scored
    m = json.loads((out / "metrics.json").read_text())
    assert m["pass_at_k"]["1"] == pytest.approx(2 / 7) and m["evalplus_base"]["pass_at_k"]["1"]["value"] == pytest.approx(5 / 7)
    assert m["evalplus_base"]["benchmark"] == "humaneval"
    text = cli("compare", str(out))[1]
    assert "EvalPlus: pass@k in % as humaneval (base tests) / humanevalplus (base + plus tests)" in text and "71.4 / 28.6" in text
    code, _ = cli("export", str(out), "--out", str(tmp_path / "lb.json"), "--allow-partial")
    entry = json.loads((tmp_path / "lb.json").read_text())["entries"][0]
    assert code == 0 and entry["evalplus_base"]["pass_at_k"]["1"]["value"] == pytest.approx(5 / 7)
    code, _ = cli("export", str(out), "--format", "lm-eval", "--out", str(tmp_path / "lm"), "--allow-partial")
    (results,) = (tmp_path / "lm").rglob("results_*.json")
    row = json.loads(results.read_text())["results"]["humanevalplus"]
    assert code == 0 and row["pass@1,none"] == pytest.approx(2 / 7) and row["pass@1,base_tests"] == pytest.approx(5 / 7)
    code, _ = cli("export", str(out), "--format", "every-eval-ever", "--out", str(tmp_path / "eee"), "--allow-partial")
    (log,) = [json.loads(p.read_text()) for p in (tmp_path / "eee").rglob("*.json")]
    by_id = {r["evaluation_result_id"]: r["score_details"]["score"] for r in log["evaluation_results"]}
    assert code == 0 and by_id["humaneval/pass@1"] == pytest.approx(5 / 7) and by_id["humanevalplus/pass@1"] == pytest.approx(2 / 7)
