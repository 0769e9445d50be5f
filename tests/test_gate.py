"""gate: 1 on a planted regression, 0 on identical/improved/within-tolerance, 2 on every error;
the one-sided test fails a candidate equal to the baseline only about alpha of the time."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from evalkit.cli import main
from evalkit.scoring.stats import drop_test
from rundirs import make_run


def gate(*args: str):
    return CliRunner().invoke(main, ["gate", *args])


@pytest.fixture
def base_rows():
    rng = np.random.default_rng(3)
    p = rng.beta(1.0, 1.0, 120)
    return rng.random((120, 8)) < p[:, None]


def regress(rows: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Turn `fraction` of the correct samples wrong."""
    rng = np.random.default_rng(seed)
    return rows & (rng.random(rows.shape) >= fraction)


def test_planted_regression_exits_1(tmp_path, base_rows):
    b = make_run(tmp_path / "base", base_rows, model="base")
    c = make_run(tmp_path / "cand", regress(base_rows, 0.3), model="cand")
    report_file = tmp_path / "gate.json"
    res = gate("--baseline", str(b), "--candidate", str(c), "--metric", "pass@1,pass@8", "--json", str(report_file))
    assert res.exit_code == 1, res.output
    report = json.loads(report_file.read_text())
    assert report["decision"] == "fail" and report["exit_code"] == 1 and report["num_shared_problems"] == 120
    m1 = report["metrics"][0]
    want = regress(base_rows, 0.3).mean() - base_rows.mean()  # pass@1 is the plain mean when every problem has n samples
    assert m1["metric"] == "pass@1" and m1["diff"] == pytest.approx(want) and m1["regressed"]
    assert m1["ci95"][1] < 0 and m1["p_value"] < 0.05
    assert res.output.splitlines()[0].startswith("FAIL pass@1:")
    assert len([ln for ln in res.output.splitlines() if "pass@" in ln]) == 2  # one line per metric


@pytest.mark.parametrize("kind", ["identical", "improved", "within-tolerance"])
def test_no_regression_exits_0(tmp_path, base_rows, kind):
    b = make_run(tmp_path / "base", base_rows, model="base")
    cand = {"identical": base_rows, "improved": base_rows | (np.random.default_rng(1).random(base_rows.shape) < 0.3),
            "within-tolerance": regress(base_rows, 0.03)}[kind]
    c = make_run(tmp_path / "cand", cand, model="cand", seed=5)
    args = ["--baseline", str(b), "--candidate", str(c), "--metric", "pass@1", "--metric", "pass@4", "--metric", "maj@8", "--metric", "pass^2"]
    res = gate(*args, "--max-drop", "0.1") if kind == "within-tolerance" else gate(*args)
    assert res.exit_code == 0, res.output
    assert res.output.count("ok   ") == 4 and "gate: pass" in res.output


def test_mismatched_benchmark_versions_exit_2(tmp_path, base_rows):
    b = make_run(tmp_path / "base", base_rows, data_hash="sha256:v1")
    c = make_run(tmp_path / "cand", regress(base_rows, 0.5), data_hash="sha256:v2")
    report_file = tmp_path / "gate.json"
    res = gate("--baseline", str(b), "--candidate", str(c), "--json", str(report_file))
    assert res.exit_code == 2
    assert res.output.startswith("error: ") and "different versions" in res.output and res.output.count("\n") == 1
    assert json.loads(report_file.read_text()) == {"decision": "error", "exit_code": 2, "error": res.output[len("error: "):].strip()}


def test_usage_and_data_errors_exit_2(tmp_path, base_rows):
    b = make_run(tmp_path / "base", base_rows)
    other = make_run(tmp_path / "other", base_rows, benchmark="gsm8k")
    (tmp_path / "empty").mkdir()
    cases = [
        ["--baseline", str(b), "--candidate", str(tmp_path / "missing")],
        ["--baseline", str(b), "--candidate", str(tmp_path / "empty")],
        ["--baseline", str(b), "--candidate", str(other)],
        ["--baseline", str(b), "--candidate", str(b), "--metric", "accuracy"],
        ["--baseline", str(b), "--candidate", str(b), "--metric", "pass@16"],  # k > n = 8
        ["--baseline", str(b), "--candidate", str(b), "--alpha", "1.5"],
        ["--baseline", str(b), "--candidate", str(b), "--alpha", "0.0001"],
        ["--baseline", str(b)],  # click usage error
    ]
    for args in cases:
        res = gate(*args)
        assert res.exit_code == 2, (args, res.output)
        assert "Traceback" not in res.output


@pytest.mark.slow
def test_drop_test_false_failure_rate_is_about_alpha():
    """Candidate and baseline are the same model (fresh samples): the gate must rarely fail."""
    rng = np.random.default_rng(11)
    pop = rng.beta(0.7, 0.7, 3000)
    fails = 0
    reps = 300
    for _ in range(reps):
        p = pop[rng.integers(0, len(pop), 100)]
        a, b = rng.binomial(4, p) / 4, rng.binomial(4, p) / 4  # pass@1 per problem, n = 4
        fails += drop_test(a, b, 0.0, 0.05, num_resamples=400, seed=int(rng.integers(1 << 30)))[0] < 0.05
    assert 0.01 <= fails / reps <= 0.09, fails / reps
