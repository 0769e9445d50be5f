"""Issue 32: a newcomer's second day. One rerun after a torn line, gate warnings and labels, labels that
show only what the user changed, `plan` saying when adaptive sampling does not pay, and messages that
say what they mean."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evalkit.adapters.arith import arith_rows
from rundirs import cli_result as cli, make_run, metrics


def _score_file(path: Path, problems: int = 20, n: int = 4) -> Path:
    """Samples for the first `problems` arith problems, odd indices wrong."""
    with open(path, "w") as f:
        for row in arith_rows()[:problems]:
            for i in range(n):
                f.write(json.dumps({"problem_id": row["id"], "completion": f"\\boxed{{{int(row['answer']) + i % 2}}}"}) + "\n")
    return path


# -- 2. a torn line costs one rerun ---------------------------------------------------------------
@pytest.mark.parametrize("name, keep", [("grades.jsonl", 50), ("samples.jsonl", 50)])
def test_torn_line_is_dropped_and_redone_in_the_same_rerun(tmp_path: Path, name: str, keep: int) -> None:
    """A kill mid-write leaves a line whose leading fields are whole (only its tail is missing): the
    rerun must not count it as done and then cut it off."""
    args = ["score", "--bench", "arith", "--samples", str(_score_file(tmp_path / "s.jsonl")), "--k", "1,4"]
    whole, torn = tmp_path / "whole", tmp_path / "torn"
    assert cli(*args, "--out", str(whole))[0] == 0
    assert cli(*args, "--out", str(torn))[0] == 0
    path = torn / name
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:keep]) + lines[keep][:-5])  # the prefix fields survive, the end does not
    if name == "samples.jsonl":
        (torn / "grades.jsonl").write_bytes(b"".join(l for l in (torn / "grades.jsonl").read_bytes().splitlines(keepends=True)[:keep]))
    (torn / "metrics.json").unlink()
    code, out = cli(*args, "--out", str(torn))
    assert code == 0, out
    assert metrics(torn)["pass_at_k"] == metrics(whole)["pass_at_k"] and metrics(torn)["num_samples"] == 80
    assert sorted(path.read_bytes().splitlines()) == sorted((whole / name).read_bytes().splitlines())


def test_unterminated_but_whole_last_line_is_kept(tmp_path: Path) -> None:
    """A last line that only lacks its newline is a record: readers count it and the next append keeps it."""
    from evalkit.store import JsonlAppender, RunStore
    from evalkit.types import Grade

    store = RunStore(tmp_path)
    with store.grade_appender() as w:
        w.write(Grade("a", 0, True, "correct").to_json())
    (tmp_path / "grades.jsonl").write_bytes((tmp_path / "grades.jsonl").read_bytes().rstrip(b"\n"))
    assert ("a", 0) in store.grade_pairs()
    with JsonlAppender(tmp_path / "grades.jsonl") as w:
        w.write(Grade("a", 1, False, "wrong").to_json())
    assert [(g["problem_id"], g["sample_index"]) for g in store.iter_grades()] == [("a", 0), ("a", 1)]


# -- 3. gate names every settings difference compare names, and labels both sides -------------------
def test_gate_warns_on_every_difference_compare_names_and_labels_both_sides(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = rng.random((60, 4)) < 0.5
    base = make_run(tmp_path / "base", rows, model="tiny-arith", seed=1)
    cand = make_run(tmp_path / "cand", rows & (rng.random(rows.shape) < 0.5), model="tiny-arith")
    _edit_manifest(base, sampling={"temperature": 0.6}, label="tiny-arith (t0.6-s1)")
    _edit_manifest(cand, label="tiny-arith")
    report_file = tmp_path / "gate.json"
    code, out = cli("gate", "--baseline", str(base), "--candidate", str(cand), "--json", str(report_file))
    assert code == 1, out
    report = json.loads(report_file.read_text())
    named = json.loads(cli("compare", str(base), str(cand), "--format", "json")[1])["benchmarks"][0]["runs"][1]["vs_baseline"]["settings_differ"]
    assert {"sampling.temperature: 0.6 vs 1.0", "seed: 1 vs 0"} <= set(named)
    assert len(report["warnings"]) == 1 and all(d in report["warnings"][0] for d in named)
    assert all(d in out for d in named)  # printed as a warning too
    assert (report["baseline"]["label"], report["candidate"]["label"]) == ("tiny-arith (t0.6-s1)", "tiny-arith")


def test_gate_tells_apart_two_runs_with_the_same_label(tmp_path: Path) -> None:
    rows = np.random.default_rng(1).random((30, 4)) < 0.5
    base, cand = make_run(tmp_path / "a", rows, model="m"), make_run(tmp_path / "b", rows, model="m")
    report_file = tmp_path / "gate.json"
    assert cli("gate", "--baseline", str(base), "--candidate", str(cand), "--json", str(report_file))[0] == 0
    report = json.loads(report_file.read_text())
    assert report["warnings"] == [] and report["baseline"]["label"] != report["candidate"]["label"]
    assert str(base) in report["baseline"]["label"] and str(cand) in report["candidate"]["label"]


def _edit_manifest(run: Path, sampling: dict | None = None, **fields: object) -> None:
    path = run / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["sampling"].update(sampling or {})
    manifest.update(fields)
    path.write_text(json.dumps(manifest))


# -- 4. labels and default directories show what the user changed, not the benchmark's defaults -------
def _gsm8k_file(path: Path, rows: int = 2) -> Path:
    path.write_text("".join(json.dumps({"question": f"What is {i} + 1?", "answer": f"... #### {i + 1}"}) + "\n" for i in range(rows)))
    return path


def test_benchmark_default_stop_strings_and_prompts_are_not_a_variant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """tiny-arith has no chat template, so gsm8k prompts it few-shot and stops at the next question."""
    monkeypatch.chdir(tmp_path)
    run = ["run", "--model", "tiny-arith", "--bench", "gsm8k", "--data", str(_gsm8k_file(tmp_path / "g.jsonl")), "--allow-unknown-data",
           "--backend", "hf", "--max-tokens", "4"]
    code, out = cli(*run)
    assert code == 0, out
    root = tmp_path / "results" / "tiny-arith"
    assert [p.name for p in root.iterdir()] == ["gsm8k-len4"]
    manifest = json.loads((root / "gsm8k-len4" / "manifest.json").read_text())
    assert manifest["label"] == "tiny-arith (len4)" and manifest["sampling"]["stop"] == ["\nQ:"]  # the default still applies
    code, out = cli(*run, "--no-chat")  # the default for this model, spelled out: the same run
    assert code == 0 and [p.name for p in root.iterdir()] == ["gsm8k-len4"], out
    code, out = cli(*run, "--stop", "Q:")  # a stop string the user chose is a variant
    assert code == 0 and sorted(p.name for p in root.iterdir())[1].startswith("gsm8k-len4-stop"), out


def test_a_run_under_the_old_default_name_is_resumed_there(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evalkit.config import RunConfig, SamplingConfig, run_variant

    monkeypatch.chdir(tmp_path)
    run = ["run", "--model", "tiny-arith", "--bench", "gsm8k", "--data", str(_gsm8k_file(tmp_path / "g.jsonl")), "--allow-unknown-data",
           "--backend", "hf", "--max-tokens", "4"]
    assert cli(*run)[0] == 0
    old = "gsm8k-" + run_variant(RunConfig("tiny-arith", "gsm8k", (1,), 1, sampling=SamplingConfig(max_tokens=4, stop=("\nQ:",))))
    root = tmp_path / "results" / "tiny-arith"
    (root / "gsm8k-len4").rename(root / old)
    (root / old / "metrics.json").unlink()
    code, out = cli(*run)
    assert code == 0 and [p.name for p in root.iterdir()] == [old] and (root / old / "metrics.json").exists(), out
