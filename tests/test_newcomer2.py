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


@pytest.mark.slow
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


@pytest.mark.slow
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
    assert f"{got.saving:.2f}x the samples" in out and "use: evalkit run ... --k 4 --n 24" in out.splitlines()


# -- 5. adaptive rounds on the hf backend are decoded in full batches --------------------------------
class _Tokens:
    """A stand-in tokenizer: one token per character (the batching, not the model, is under test)."""

    bos_token = None

    def __call__(self, text: str, add_special_tokens: bool) -> dict:
        return {"input_ids": [ord(ch) for ch in text]}


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


# -- 6. messages that say what they mean ---------------------------------------------------------------
def test_reproduce_says_the_statistics_are_diagnostics_and_how_far_they_moved() -> None:
    from evalkit.reproduce import format_report, mismatch, stats_gap
    from evalkit.types import Sample

    keys = [("p", i) for i in range(4)]
    stored = {k: Sample(k[0], k[1], 1, "same text", num_tokens=3, mean_entropy=0.5 + k[1], mean_logprob=-0.25) for k in keys}
    moved = {0: 3e-7, 1: -1.2e-6, 2: 0.0}
    redrawn = {k: Sample(k[0], k[1], 1, "same text", num_tokens=3, mean_entropy=0.5 + k[1] + moved.get(k[1], 0.0), mean_logprob=-0.25)
               for k in keys[:3]}
    redrawn[keys[3]] = Sample("p", 3, 1, "other text", num_tokens=3, mean_entropy=9.0, mean_logprob=-9.0)  # differs: not counted
    gap = stats_gap(keys, stored, redrawn)
    assert gap["mean_logprob"] == 0.0
    assert gap["mean_entropy"] == max(abs((0.5 + i + moved[i]) - (0.5 + i)) for i in range(3))
    identical = sum(mismatch(k, stored[k], redrawn[k]) is None for k in keys)
    report = {"run_dir": "r", "samples": 4, "identical": identical, "stats_identical": 1, "stats_max_abs_diff": gap,
              "environment_differs": [], "mismatches": [mismatch(keys[3], stored[keys[3]], redrawn[keys[3]])], "deterministic": False}
    lines = format_report(report)
    assert lines[0] == "r: 3 of 4 re-drawn samples are bit-identical in what is graded (completion, finish reason, token count)"
    assert "equal to the last bit in 1 of 3" in lines[1] and f"{gap['mean_entropy']:.1e} in mean entropy" in lines[1]
    assert "not graded" in lines[1] and "metrics.json" in lines[1]
    report.update(stats_identical=3, stats_max_abs_diff={"mean_entropy": 0.0, "mean_logprob": 0.0})
    assert format_report(report)[1] == "entropy/log-prob statistics: equal to the last bit in all 3 of them too"


@pytest.mark.parametrize("command, flag, code", [
    ("gate", "--json", 2), ("compare", "--plot", 1), ("export", "--out", 1), ("view", "--out", 1), ("reproduce", "--json", 2),
])
def test_output_paths_are_checked_before_the_work(tmp_path: Path, command: str, flag: str, code: int) -> None:
    run = make_run(tmp_path / "run", np.ones((4, 2), dtype=bool))
    target = str(tmp_path / "missing-dir" / "out.file")
    args = {"gate": ["--baseline", str(run), "--candidate", str(run)], "compare": [str(run)], "export": [str(run)],
            "view": [str(run)], "reproduce": [str(run)]}[command]
    got, out = cli(command, *args, flag, target)
    assert got == code and out.count("\n") == 1, out  # the error alone: no gate verdict, table or re-draw first
    assert out == f"error: {flag} {target}: directory {tmp_path / 'missing-dir'} does not exist; create it or choose another path\n"


def test_python_api_errors_name_the_argument_not_a_temporary_file() -> None:
    import evalkit

    with pytest.raises(evalkit.EvalkitError) as e:
        evalkit.score("arith", {"arith/0": ["\\boxed{1}"], "nope/0": ["x"]})
    assert str(e.value).startswith("completions['nope/0']: unknown problem 'nope/0'") and "evalkit-score-" not in str(e.value)
    with pytest.raises(evalkit.EvalkitError) as e:
        evalkit.score("arith", [{"problem_id": "arith/0", "completion": "x"}, {"problem_id": "arith/1"}])
    assert str(e.value).startswith("completions[1]: no \"completion\" string") and ".jsonl" not in str(e.value)
    with pytest.raises(evalkit.EvalkitError) as e:
        evalkit.score("arith", {"arith/0": ["x"]}, ks=(1, 2))
    assert "in the completions" in str(e.value) and "/tmp" not in str(e.value) and "ks" in str(e.value)


@pytest.mark.parametrize("args, code, start", [
    (["run", "--model", "tiny-arith", "--bench", "arith", "--k", "0"], 1, "error: invalid value for '--k': k=0 is not positive"),
    (["run", "--bench", "arith"], 1, "error: missing option '--model'"),
    (["run", "--model", "m", "--bench", "arith", "--n", "0"], 1, "error: invalid value for '--n'"),
    (["score", "--bench", "arith", "--samples", "s", "--out", "o", "--tempreature", "1"], 1, "error: no such option '--tempreature'"),
    (["gate", "--baseline", "b"], 2, "error: missing option '--candidate'"),  # gate: 1 is a regression, errors are 2
    (["reproduce"], 2, "error: missing argument 'RUN_DIR'"),
    (["nonsense"], 1, "error: no such command 'nonsense'"),
])
def test_argument_errors_are_one_error_line_like_every_other(args: list[str], code: int, start: str) -> None:
    from click.testing import CliRunner

    from evalkit.cli import main

    result = CliRunner().invoke(main, args)
    assert result.exit_code == code and result.output.startswith(start) and result.output.count("\n") == 1, result.output
    assert f"(see `evalkit {args[0] + ' ' if args[0] != 'nonsense' else ''}--help`)" in result.output


def test_audit_of_a_partial_run_says_of_how_many(tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert cli("score", "--bench", "arith", "--samples", str(_score_file(tmp_path / "s.jsonl", problems=12, n=2)), "--k", "1", "--out", str(run))[0] == 0
    code, out = cli("audit", str(run), "--workers", "1")
    assert code == 0 and "on arith: 12 of 200 problems, 24 samples" in out, out


def test_run_summary_says_public_tests_only(capsys: pytest.CaptureFixture) -> None:
    from evalkit.adapters.livecodebench import KNOWN_VERSIONS
    from evalkit.reports.console import print_metrics

    metrics = {"model": "m", "benchmark": "livecodebench", "num_problems": 279, "num_problems_total": 279, "n": 1,
               "pass_at_k": {"1": 0.5}, "ci95": {"1": [0.4, 0.6]}, "pass_hat_k": {"1": 0.5}, "status_counts": {"correct": 1},
               "data_version": KNOWN_VERSIONS["sha256:b5a02890a73f6109"]}
    print_metrics(metrics, "out")
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].startswith("PUBLIC TESTS ONLY: rllm's converted LiveCodeBench") and "upper bound" in lines[2]
    print_metrics({**metrics, "benchmark": "humaneval", "data_version": "HumanEval (openai/human-eval, 164)"}, "out")
    assert "PUBLIC TESTS ONLY" not in capsys.readouterr().out


def test_benchmarks_lists_sizes_and_the_files_a_data_directory_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from evalkit.adapters.livecodebench_data import RELEASE_SIZES

    (tmp_path / "math500.jsonl").write_text("")
    (tmp_path / "livecodebench").mkdir()
    (tmp_path / "livecodebench" / "test.jsonl").write_text("")
    monkeypatch.setenv("EVALKIT_DATA_DIR", str(tmp_path))
    code, out = cli("benchmarks")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:] if line and line.split()[0].isidentifier()}
    assert code == 0 and rows["mbppplus"][2] == "378|399" and rows["mbpp"][2] == "378|399"
    assert rows["livecodebench"][2] == f"{min(RELEASE_SIZES.values())}-{max(RELEASE_SIZES.values())}"
    assert rows["math500"][3:5] == ["math500.jsonl", "(found)"] and rows["gsm8k"][3:5] == ["gsm8k_test.jsonl", "(missing)"]
    assert rows["livecodebench"][3:5] == ["livecodebench", "(found)"] and rows["arith"][3:5] == ["built", "in"]
    code, out = cli("benchmarks", "--files")
    assert code == 0 and "humanevalplus: humanevalplus.jsonl, HumanEvalPlus.jsonl" in out
