"""Issue 16 end to end: `run` draws what a sequential design says, block by block; `score` checks a
declared design and its estimator is unbiased on simulated problems; resume, shards and compare work."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from rundirs import cli_result as cli, metrics

RUN = ["run", "--model", "tiny-arith", "--bench", "arith", "--backend", "hf", "--max-tokens", "10", "--limit", "24"]
DESIGN = ["--min-n", "2", "--n", "8", "--stop-at", "1", "--k", "1,2"]


def drawn_per_problem(run_dir: Path) -> dict[str, list[bool]]:
    grades = [json.loads(line) for line in (run_dir / "grades.jsonl").read_text().splitlines()]
    out: dict[str, dict[int, bool]] = {}
    for g in grades:
        out.setdefault(g["problem_id"], {})[g["sample_index"]] = g["correct"]
    return {pid: [row[i] for i in range(len(row))] for pid, row in out.items()}


def expected_length(outcomes: list[bool], min_n: int, n_max: int, stop_at: int, step: int) -> int:
    """The design, restated: draw min_n; at each block end below n_max go on while fewer than stop_at."""
    n = min_n
    while n < n_max and sum(outcomes[:n]) < stop_at:
        n = min(n + step, n_max)
    return n


@pytest.fixture(scope="module")
def adaptive_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("adaptive") / "run"
    code, text = cli(*RUN, *DESIGN, "--out", str(out))
    assert code == 0, text
    return out


@pytest.mark.slow
def test_run_draws_exactly_what_the_design_says(adaptive_run: Path) -> None:
    rows = drawn_per_problem(adaptive_run)
    assert len(rows) == 24
    lengths = {len(r) for r in rows.values()}
    assert lengths <= {2, 4, 6, 8} and len(lengths) > 1  # some stop early, some go on
    for pid, outcomes in rows.items():
        assert len(outcomes) == expected_length(outcomes, 2, 8, 1, 2), pid
    samples = (adaptive_run / "samples.jsonl").read_text().splitlines()
    assert len(samples) == sum(len(r) for r in rows.values())  # nothing drawn beyond the design
    manifest = json.loads((adaptive_run / "manifest.json").read_text())
    assert manifest["design"] == {"min_n": 2, "step": 2, "stop_at": 1} and manifest["n"] == 8
    assert metrics(adaptive_run)["design"] == {"min_n": 2, "n_max": 8, "stop_at": 1, "step": 2}


@pytest.mark.slow
def test_resume_after_losing_the_last_blocks_equals_the_run(adaptive_run: Path, tmp_path: Path) -> None:
    """Cut samples and grades back to the first 2 of every problem (a run killed after its first round)."""
    import shutil

    cut = tmp_path / "cut"
    shutil.copytree(adaptive_run, cut)
    for name in ("samples.jsonl", "grades.jsonl"):
        lines = (cut / name).read_text().splitlines(keepends=True)
        (cut / name).write_text("".join(line for line in lines if json.loads(line)["sample_index"] < 2))
    (cut / "metrics.json").unlink()
    code, text = cli(*RUN, *DESIGN, "--out", str(cut))
    assert code == 0, text
    assert drawn_per_problem(cut) == drawn_per_problem(adaptive_run)
    assert metrics(cut) == metrics(adaptive_run)


def test_k_above_min_n_is_refused(tmp_path: Path) -> None:
    code, out = cli(*RUN, "--min-n", "4", "--n", "16", "--stop-at", "2", "--k", "1,8", "--out", str(tmp_path / "d"))
    assert code != 0 and "exceeds --min-n 4" in out and out.count("\n") == 1
    assert not (tmp_path / "d").exists()
    code, out = cli(*RUN, "--min-n", "4", "--k", "1", "--out", str(tmp_path / "d"))
    assert code != 0 and "--stop-at" in out and out.count("\n") == 1


@pytest.mark.slow
def test_compare_uses_the_designs_estimator(adaptive_run: Path) -> None:
    from evalkit.reports.runs import load_run
    from evalkit.scoring.adaptive import Design, pass_at_k_adaptive

    run = load_run(adaptive_run)
    want = pass_at_k_adaptive(Design(2, 8, 1, 2), run.table.n, run.table.c, [1, 2]).mean(axis=0)
    row = json.loads(cli("compare", str(adaptive_run), "--format", "json")[1])["benchmarks"][0]["runs"][0]
    assert [row["pass_at_k"][k]["value"] for k in ("1", "2")] == pytest.approx(list(want), abs=1e-12)
    assert row["maj_at_k"]["1"] == pytest.approx(row["pass_at_k"]["1"]["value"], abs=1e-12)


# -- score with a declared design ---------------------------------------------------------------------
def _gsm8k_like(path: Path, count: int) -> None:
    """A GSM8K-format file of `count` problems whose gold is the problem's number."""
    path.write_text("".join(json.dumps({"question": f"q{i}", "answer": f"... #### {i}"}) + "\n" for i in range(count)))


@pytest.mark.slow
def test_score_with_a_design_is_unbiased_on_simulated_problems(tmp_path: Path) -> None:
    """4,000 problems with known p ~ Beta(0.35, 0.6), drawn under (min-n 8, step 8, n 64, stop-at 3):
    the estimate lies within 3 standard errors of the truth at every k; the plug-in formula on the
    same samples does not (at the largest k), so the check can fail."""
    from evalkit.scoring.passk import pass_at_k_matrix

    rng = np.random.default_rng(11)
    count, ks = 4000, [1, 2, 4, 8]
    _gsm8k_like(tmp_path / "data.jsonl", count)
    p = rng.beta(0.35, 0.6, count)
    lines, ns, cs = [], [], []
    for i in range(count):
        outcomes = list(rng.random(64) < p[i])
        n = expected_length(outcomes, 8, 64, 3, 8)
        ns.append(n)
        cs.append(sum(outcomes[:n]))
        lines.append(json.dumps({"problem_id": f"gsm8k/{i}", "completions": [f"#### {i if ok else -1}" for ok in outcomes[:n]]}))
    (tmp_path / "s.jsonl").write_text("\n".join(lines) + "\n")
    code, out = cli("score", "--bench", "gsm8k", "--data", str(tmp_path / "data.jsonl"), "--allow-unknown-data",
                    "--samples", str(tmp_path / "s.jsonl"), "--k", ",".join(map(str, ks)),
                    "--min-n", "8", "--n", "64", "--stop-at", "3", "--step", "8", "--out", str(tmp_path / "o"))
    assert code == 0, out
    m = metrics(tmp_path / "o")
    plug_in = pass_at_k_matrix(ns, cs, ks)
    for j, k in enumerate(ks):
        truth = np.mean(1 - (1 - p) ** k)
        se = np.std(1 - (1 - p) ** k) / math.sqrt(count) + 1e-4
        assert abs(m["pass_at_k"][str(k)] - truth) < 3 * se, (k, m["pass_at_k"][str(k)], truth, se)
    assert abs(plug_in[:, -1].mean() - np.mean(1 - (1 - p) ** 8)) > 3 * se  # the naive formula is off


def test_score_refuses_a_file_that_contradicts_the_design(tmp_path: Path) -> None:
    _gsm8k_like(tmp_path / "data.jsonl", 1319)
    right, wrong = "#### 0", "#### -1"
    cases = {  # problem gsm8k/0's samples, in draw order
        "continued after reaching stop-at": [right] * 4 + [wrong] * 4,
        "stopped early": [wrong] * 4,
    }
    for reason, texts in cases.items():
        (tmp_path / "s.jsonl").write_text(json.dumps({"problem_id": "gsm8k/0", "completions": texts}) + "\n")
        code, out = cli("score", "--bench", "gsm8k", "--data", str(tmp_path / "data.jsonl"), "--allow-unknown-data",
                        "--samples", str(tmp_path / "s.jsonl"), "--k", "1", "--min-n", "4", "--n", "16", "--stop-at", "2",
                        "--out", str(tmp_path / reason.replace(" ", "_")), "--model", "m")
        assert code != 0 and "gsm8k/0" in out and out.count("\n") == 1 and "design" in out, (reason, out)
