"""Issue 31: `export --format lm-eval` is read back by lm-eval's own loaders, `--format every-eval-ever`
validates against the Every Eval Ever 0.3.0 schemas (vendored from evaleval/every_eval_ever @ 805ef1eb)
and passes the datastore's file checks, and both carry the figures of the runs, recomputed here from
their grades with exact arithmetic. Several benchmarks add a suite (lm-eval group, EEE suite log)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from fractions import Fraction
from math import comb
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from evalkit.adapters.arith import arith_rows
from evalkit.adapters.loading import load
from rundirs import cli_result as cli, make_run


def exact_pass(run_dir: Path, k: int) -> list[float]:
    """Per-problem unbiased pass@k from grades.jsonl, in exact rationals."""
    by: dict[str, list[bool]] = {}
    for line in (run_dir / "grades.jsonl").read_text().splitlines():
        g = json.loads(line)
        by.setdefault(g["problem_id"], []).append(g["correct"])
    return [float(1 - Fraction(comb(len(v) - sum(v), k), comb(len(v), k))) for v in by.values()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Two models on arith (the real problems, so docs carry questions and golds) and on gsm8k-named planted runs."""
    root = tmp_path_factory.mktemp("runs")
    rng = np.random.default_rng(31)
    arith_hash = load("arith").data_hash
    rows = arith_rows()
    text = lambda r, i: f"so the answer is \\boxed{{{rows[r]['answer']}}}" if i % 2 else "I think \\boxed{-1}"  # noqa: E731
    out = {}
    for model, p in (("Org/Model-A", 0.6), ("ckpts/global_step_100", 0.3)):
        slug = model.replace("/", "_")
        out[f"{slug}/arith"] = make_run(root / slug / "arith", rng.random((200, 8)) < p, model=model, benchmark="arith",
                                        data_hash=arith_hash, completion=text)
        out[f"{slug}/gsm8k"] = make_run(root / slug / "gsm8k", rng.random((40, 8)) < p / 2, model=model, benchmark="gsm8k",
                                        data_hash="sha256:planted-gsm8k")
    return out


# -- lm-eval -------------------------------------------------------------------------------------------
def test_lm_eval_export_read_by_lm_eval(tmp_path: Path, runs: dict[str, Path]) -> None:
    """lm-eval's loaders: lm_eval.utils' file-name helpers (as EvaluationTracker.recreate_metadata_card and
    scripts/zeno_visualize.py find files), datasets.load_dataset("json") for both files (as the hub card
    configs load them), and lm_eval.utils.make_table, which renders a results dict."""
    pytest.importorskip("lm_eval", reason="needs lm-eval (the dev extra) to read its own format")
    from datasets import load_dataset
    from lm_eval.utils import (get_file_datetime, get_file_task_name, get_latest_filename, get_results_filenames,
                               get_sample_results_filenames)

    out = tmp_path / "lm"
    code, text = cli("export", *map(str, runs.values()), "--format", "lm-eval", "--out", str(out), "--k", "1,4")
    assert code == 0, text
    files = sorted(str(p) for p in out.rglob("*") if p.is_file())
    results = get_results_filenames(files)
    assert len(results) == 2  # one per model, under lm-eval's sanitized model directory
    doc = json.loads(Path(get_latest_filename([r for r in results if "Org__Model-A" in r])).read_text())
    loaded = load_dataset("json", data_files=[r for r in results if "Org__Model-A" in r][0], split="train")["results"][0]
    assert loaded["arith"]["pass@4,none"] == doc["results"]["arith"]["pass@4,none"]
    want = exact_pass(runs["Org_Model-A/arith"], 4)
    assert doc["results"]["arith"]["pass@4,none"] == pytest.approx(np.mean(want), abs=1e-12)
    assert doc["results"]["arith"]["pass@4_stderr,none"] == pytest.approx(np.std(want, ddof=1) / math.sqrt(len(want)), abs=1e-12)
    for key in ("configs", "versions", "n-shot", "higher_is_better", "n-samples", "config", "git_hash", "date", "group_subtasks"):
        assert key in doc, key
    assert doc["n-samples"]["arith"] == {"original": 200, "effective": 200} and doc["configs"]["arith"]["repeats"] == 8
    suite = doc["groups"]["suite:arith+gsm8k"]
    assert suite["pass@1,none"] == pytest.approx((np.mean(exact_pass(runs["Org_Model-A/arith"], 1))
                                                  + np.mean(exact_pass(runs["Org_Model-A/gsm8k"], 1))) / 2, abs=1e-12)
    samples = get_sample_results_filenames(files)
    assert {get_file_task_name(os.path.basename(s)) for s in samples} == {"arith", "gsm8k"}
    assert all(get_file_datetime(os.path.basename(s)) == get_file_datetime(os.path.basename(results[0])).replace(".json", "") for s in samples)
    arith = load_dataset("json", data_files=[s for s in samples if "Org__Model-A" in s and "arith" in s][0], split="train")
    assert len(arith) == 200 and len(arith[0]["resps"][0]) == 8
    assert arith[3]["doc"]["question"] == arith_rows()[3]["question"] and arith[3]["target"] == arith_rows()[3]["answer"]
    assert arith[3]["pass@4"] == pytest.approx(want[3], abs=1e-12)
    make_table = pytest.importorskip("lm_eval.utils").make_table
    try:
        table = make_table(doc)
    except ImportError:
        pytest.skip("lm_eval.utils.make_table needs pytablewriter")
    assert "pass@4" in table and "arith" in table and "suite:arith+gsm8k" in make_table(doc, "groups")


def test_lm_eval_export_is_idempotent(tmp_path: Path, runs: dict[str, Path]) -> None:
    args = ["export", str(runs["Org_Model-A/arith"]), "--format", "lm-eval", "--out", str(tmp_path / "lm")]
    assert cli(*args)[0] == 0
    first = {p: p.read_bytes() for p in (tmp_path / "lm").rglob("*") if p.is_file()}
    assert cli(*args)[0] == 0
    assert {p: p.read_bytes() for p in (tmp_path / "lm").rglob("*") if p.is_file()} == first


# -- every_eval_ever -------------------------------------------------------------------------------------
SCHEMAS = Path(__file__).resolve().parents[1] / "evalkit" / "schemas"


def eee_validators() -> tuple[jsonschema.Draft7Validator, jsonschema.Draft7Validator]:
    agg = json.loads((SCHEMAS / "every_eval_ever.eval.schema.json").read_text())
    inst = json.loads((SCHEMAS / "every_eval_ever.instance_level_eval.schema.json").read_text())
    assert agg["version"] == inst["version"] == "0.3.0"
    return jsonschema.Draft7Validator(agg), jsonschema.Draft7Validator(inst)


UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


def test_every_eval_ever_export_validates(tmp_path: Path, runs: dict[str, Path]) -> None:
    agg_v, inst_v = eee_validators()
    out = tmp_path / "eee"
    code, text = cli("export", *map(str, runs.values()), "--format", "every-eval-ever", "--out", str(out), "--k", "1,4",
                     "--source-org", "Test Lab", "--evaluator-relationship", "third_party")
    assert code == 0, text
    logs = sorted(out.rglob("*.json"))
    assert len(logs) == 4 + 2  # a log per run, a suite log per model
    for path in logs:
        log = json.loads(path.read_text())
        agg_v.validate(log)
        rel = path.relative_to(out).parts
        assert len(rel) == 5 and rel[0] == "data" and re.fullmatch(UUID4 + r"\.json", rel[4]), rel  # the datastore's path check
        for r in log["evaluation_results"]:
            c = r["metric_config"]
            assert c["min_score"] <= r["score_details"]["score"] <= c["max_score"]
        if "detailed_evaluation_results" in log:
            check_sidecar(out, log, inst_v)
    log = next(json.loads(p.read_text()) for p in logs if "Org" in str(p) and "arith" in p.parts[-4] and "suite" not in str(p))
    want = exact_pass(runs["Org_Model-A/arith"], 4)
    result = next(r for r in log["evaluation_results"] if r["evaluation_result_id"] == "arith/pass@4")
    assert result["score_details"]["score"] == pytest.approx(np.mean(want), abs=1e-12)
    assert log["model_info"]["id"] == "Org/Model-A" and log["source_metadata"]["evaluator_relationship"] == "third_party"


def check_sidecar(out: Path, log: dict, inst_v: jsonschema.Draft7Validator) -> None:
    """The instance file the log names: exists, checksum and row count match, one row per sample, every row
    valid and linked to this log (the datastore validator's companion checks)."""
    ref = log["detailed_evaluation_results"]
    path = out / ref["file_path"]
    data = path.read_bytes()
    assert hashlib.sha256(data).hexdigest() == ref["checksum"] and ref["hash_algorithm"] == "sha256"
    lines = data.decode().splitlines()
    assert len(lines) == ref["total_rows"] and all(lines)
    ids = {r["evaluation_result_id"] for r in log["evaluation_results"]}
    correct = 0
    for line in lines:
        rec = json.loads(line)
        inst_v.validate(rec)
        assert rec["evaluation_id"] == log["evaluation_id"] and rec["model_id"] == log["model_info"]["id"]
        assert rec["evaluation_result_id"] in ids
        correct += rec["evaluation"]["is_correct"]
    run_dir = Path(log["source_metadata"]["additional_details"]["run_dir"])
    grades = [json.loads(g) for g in (run_dir / "grades.jsonl").read_text().splitlines()]
    assert len(lines) == len(grades) and correct == sum(g["correct"] for g in grades)


def test_every_eval_ever_export_is_idempotent_and_refuses_a_file(tmp_path: Path, runs: dict[str, Path]) -> None:
    args = ["export", str(runs["Org_Model-A/gsm8k"]), "--format", "every-eval-ever", "--out", str(tmp_path / "eee")]
    assert cli(*args)[0] == 0
    first = {p: p.read_bytes() for p in (tmp_path / "eee").rglob("*") if p.is_file()}
    assert cli(*args)[0] == 0
    assert {p: p.read_bytes() for p in (tmp_path / "eee").rglob("*") if p.is_file()} == first
    (tmp_path / "file").write_text("x")
    code, text = cli("export", str(runs["Org_Model-A/gsm8k"]), "--format", "every-eval-ever", "--out", str(tmp_path / "file"))
    assert code != 0 and text.startswith("error: ") and text.count("\n") == 1 and "is a file" in text


def test_leaderboard_gets_a_suite_row(tmp_path: Path, runs: dict[str, Path]) -> None:
    from evalkit.reports.export import schema

    out = tmp_path / "lb.json"
    code, text = cli("export", *map(str, runs.values()), "--out", str(out), "--k", "1,4")
    assert code == 0 and "4 entries, 2 suites" in text, text
    board = json.loads(out.read_text())
    jsonschema.validate(board, schema())
    suite = next(s for s in board["suites"] if s["model"] == "Org/Model-A")
    for k in (1, 4):
        want = (np.mean(exact_pass(runs["Org_Model-A/arith"], k)) + np.mean(exact_pass(runs["Org_Model-A/gsm8k"], k))) / 2
        cell = suite["pass_at_k"][str(k)]
        assert cell["value"] == pytest.approx(want, abs=1e-12) and cell["ci95"][0] <= cell["value"] <= cell["ci95"][1]
    assert cli("export", *map(str, runs.values()), "--out", str(out), "--k", "1,4")[1].endswith("0 added, 4 replaced, 4 entries, 2 suites\n")
