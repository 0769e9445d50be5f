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


# -- 5. plan says when adaptive sampling is not worth it ---------------------------------------------
def test_plan_recommends_fixed_n_when_a_design_saves_little(tmp_path: Path) -> None:
    """A pilot like tiny-arith's on arith (most problems hard, few easy): the best sequential design
    would save under MIN_SAVING, so plan says so and prints the fixed-n command."""
    from evalkit.scoring.planner import MIN_SAVING, plan

    rng = np.random.default_rng(0)
    p = rng.beta(0.4, 2.0, 200)
    rows = rng.random((200, 16)) < p[:, None]
    pilot = make_run(tmp_path / "pilot", rows)
    got = plan([16] * 200, rows.sum(axis=1), 24, 4)
    assert got.design.min_n < got.design.n_max and 1.0 < got.saving < MIN_SAVING and not got.worthwhile
    code, out = cli("plan", str(pilot), "--budget", "24", "--k", "4")
    assert code == 0, out
    assert out.startswith("design: fixed --n 24; adaptive sampling is not worth it here")
    assert f"{got.saving:.2f}x the samples" in out and out.rstrip().endswith("use: evalkit run ... --k 4 --n 24")


# -- 5. adaptive rounds on the hf backend are decoded in full batches --------------------------------
class _Tokens:
    """A stand-in tokenizer: one token per character (the batching, not the model, is under test)."""

    bos_token = None

    def __call__(self, text: str, return_tensors: str, add_special_tokens: bool) -> dict:
        import torch

        return {"input_ids": torch.tensor([[ord(ch) for ch in text]])}


def _hf_sampler(pack: bool, batch_size: int):
    from evalkit.config import EngineConfig, SamplingConfig
    from evalkit.samplers.hf import HFSampler

    sampler = HFSampler.__new__(HFSampler)  # no model: _batches only tokenizes
    sampler.sampling, sampler.engine, sampler.pack_prompts = SamplingConfig(), EngineConfig(backend="hf", batch_size=batch_size), pack
    sampler.tokenizer = _Tokens()
    return sampler


def test_packed_batches_join_prompts_of_equal_length_only() -> None:
    from evalkit.types import SampleRequest

    prompts = {"a": "x" * 5, "b": "y" * 5, "c": "z" * 7, "d": "w" * 5}
    requests = [SampleRequest(pid, i, i, prompt) for pid, prompt in prompts.items() for i in range(3)]
    unpacked = [[(r.problem_id, r.sample_index) for r in b] for b in _hf_sampler(False, 4)._batches(requests)]
    assert unpacked == [[(pid, i) for i in range(3)] for pid in prompts]  # one prompt per batch, as always
    packed = list(_hf_sampler(True, 7)._batches(requests))
    assert sorted((r.problem_id, r.sample_index) for b in packed for r in b) == sorted((r.problem_id, r.sample_index) for r in requests)
    for batch in packed:
        assert len(batch) <= 7 and len({len(r.prompt) for r in batch}) == 1  # no padding ever
    assert [[r.problem_id for r in b] for b in packed] == [["a"] * 3 + ["b"] * 3, ["d"] * 3, ["c"] * 3]
    ids = _hf_sampler(True, 7)._batch_ids(packed[0])
    assert ids.shape == (6, 5) and ids[0, 0] == ord("x") and ids[5, 0] == ord("y")


@pytest.mark.slow
def test_packed_rounds_draw_the_same_completions(tiny_model: Path) -> None:
    """Packing changes which rows share a batch, not a sample's tokens (its float statistics may differ
    in the last digits, as with --batch-size)."""
    from evalkit.config import EngineConfig, SamplingConfig, sample_seed
    from evalkit.samplers.hf import HFSampler
    from evalkit.types import SampleRequest

    rows = arith_rows()[:12]
    requests = [SampleRequest(r["id"], i, sample_seed(0, r["id"], i), f"Q: {r['question']}\nA:") for r in rows for i in range(2)]
    drawn = {}
    for pack in (False, True):
        sampler = HFSampler(str(tiny_model), SamplingConfig(max_tokens=8), EngineConfig(backend="hf"), pack_prompts=pack)
        drawn[pack] = {(s.problem_id, s.sample_index): (s.completion, s.num_tokens, s.finish_reason) for s in sampler.sample(requests)}
    assert len(drawn[True]) == 24 and drawn[True] == drawn[False]
