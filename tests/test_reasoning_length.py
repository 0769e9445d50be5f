"""Issue 33, without a model: thinking lengths and forced prompts on token ids, the end-of-thinking marker,
pass@k per thinking budget against exact rationals, truncation figures and the warning, cost in tables and
exports, and the bad input of --think-budgets as one line with nothing written."""

from __future__ import annotations

import csv
import io
import json
from fractions import Fraction
from math import comb
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from evalkit.config import BudgetConfig, RunConfig, SamplingConfig
from evalkit.reports.compare import compare_dirs
from evalkit.reports.export import entry, schema
from evalkit.reports.runs import load_run
from evalkit.reports.tables import render
from evalkit.scoring.budgets import budget_figures
from evalkit.scoring.table import read_table
from evalkit.scoring.truncation import length_cut, summary_line, truncation_figures
from evalkit.store import BUDGETS, JsonlAppender, RunStore
from evalkit.thinking import KNOWN_THINK_ENDS, budget_seed, ends_with_eos, forced_prompt, resolve_think_end, think_length
from evalkit.types import EvalkitError
from rundirs import cli_result as cli, make_run

MARK = [7, 8]  # a marker spelled in two tokens


# -- token-level thinking ---------------------------------------------------------------------
def test_think_length_finds_the_first_marker_run_or_counts_every_token():
    ids = [5, 6, 7, 9, 7, 8, 1, 2, 7, 8, 3]
    assert think_length(ids, MARK) == (4, True)  # the first complete run [7, 8] starts at 4; the lone 7 at 2 is thinking
    assert think_length(ids[:4], MARK) == (4, False)
    assert think_length([5, 6, 0], MARK, ends_with_eos=True) == (2, False)  # the end-of-text that stopped it is not thinking
    assert ends_with_eos([5, 0], "stop", {0}, ()) and not ends_with_eos([5, 0], "length", {0}, ())
    assert ends_with_eos([5, 6], "stop", set(), ()) and not ends_with_eos([5, 6], "stop", set(), ("\n\n",))


def test_think_length_finds_a_marker_spelled_in_other_tokens_through_the_text():
    """A model that writes `</think>` as pieces the marker's own tokenisation does not match: T counts the
    tokens whose text ends before the marker starts."""
    pieces = {1: "ab", 2: "c</th", 3: "ink>", 4: "x"}
    decode = lambda ids: "".join(pieces[i] for i in ids)  # noqa: E731
    assert think_length([1, 2, 3, 4], [99], decode=decode, marker="</think>") == (1, True)
    assert think_length([1, 4], [99], decode=decode, marker="</think>") == (2, False)


def test_forced_prompt_is_the_drawn_prefix_closed_and_cued():
    prompt, ids = [100, 101], [5, 6, 7, 8, 9]
    assert forced_prompt(prompt, ids, 3, MARK, [40, 41]) == [100, 101, 5, 6, 7, 7, 8, 40, 41]
    assert forced_prompt(prompt, ids, 0, MARK, []) == [100, 101, 7, 8]


def test_budget_seeds_are_functions_of_sample_seed_and_budget():
    seeds = {budget_seed(s, b) for s in range(50) for b in (1, 2, 4, 8)}
    assert len(seeds) == 200 and all(0 <= x < 2**62 for x in seeds)
    assert budget_seed(7, 1024) == budget_seed(7, 1024)


class _Tok:
    def __init__(self, template=None, vocab=()):
        self.chat_template, self._vocab = template, {t: i for i, t in enumerate(vocab)}

    def get_vocab(self):
        return self._vocab


def test_marker_from_flag_template_vocabulary_or_completions_else_one_line_error():
    assert resolve_think_end("<end>", _Tok()) == "<end>"
    assert resolve_think_end(None, _Tok("{{ x }}<think>\n...</think>")) == "</think>"
    assert resolve_think_end(None, _Tok(vocab=["a", "<|end_of_thought|>"])) == "<|end_of_thought|>"
    assert resolve_think_end(None, None, ["reasoning ◁/think▷ 42"]) == "◁/think▷"
    with pytest.raises(EvalkitError) as e:
        resolve_think_end(None, _Tok("Question: {{ q }}"), ["plain answer"], "m")
    assert "--think-end" in str(e.value) and "\n" not in str(e.value)
    assert KNOWN_THINK_ENDS[0] == "</think>"


def test_budget_config_is_checked_against_max_tokens():
    cfg = RunConfig("tiny-arith", "arith", (1,), 1, sampling=SamplingConfig(max_tokens=64), think=BudgetConfig((32, 128)))
    with pytest.raises(EvalkitError, match=r"--think-budgets 128 exceeds --max-tokens 64.*--max-tokens 128"):
        cfg.validate()
    with pytest.raises(EvalkitError, match="--shard"):
        RunConfig("m", "arith", (1,), 1, think=BudgetConfig((8,)), shard=(0, 2), engine=cfg.engine).validate()


# -- pass@k per budget against exact rationals ---------------------------------------------------
def exact(matrix: np.ndarray, k: int) -> Fraction:
    n = matrix.shape[1]
    return sum(1 - Fraction(comb(n - int(c), k), comb(n, k)) for c in matrix.sum(axis=1)) / len(matrix)


def plant_budgets(run: Path, forced: dict[int, dict[tuple[int, int], bool]], samples: int) -> None:
    """budgets.jsonl lines and the manifest's sweep record for planted forced answers."""
    store = RunStore(run)
    with JsonlAppender(run / BUDGETS) as out:
        for b, cells in forced.items():
            for (r, i), ok in cells.items():
                out.write({"problem_id": f"arith/{r}", "sample_index": i, "budget": b, "prefix_tokens": b, "correct": ok,
                           "status": "correct" if ok else "wrong", "answer": "A" if ok else "B", "finish_reason": "stop",
                           "num_tokens": 3, "seed": 1, "token_source": "recorded", "completion": " A"})
    sweep = {str(b): {"samples": samples, "forced": len(cells), "think_tokens": b * samples} for b, cells in forced.items()}
    store.update_manifest(think_budgets={"think_end": "</think>", "answer_cue": "x", "answer_tokens": 8, "budgets": sweep})


def test_budget_columns_give_exact_pass_at_k_and_an_unforced_budget_gives_the_run(tmp_path):
    rng = np.random.default_rng(3)
    own = rng.random((30, 6)) < 0.4
    run = make_run(tmp_path / "r", own)
    forced = {8: {(r, i): bool(rng.random() < 0.2) for r in range(30) for i in range(6) if rng.random() < 0.5}, 64: {}}
    plant_budgets(run, forced, own.size)
    store = RunStore(run)
    table = read_table(store, n=6)
    figs = budget_figures(store, store.manifest(), table, [1, 3, 6], majority=True, n=6)
    column = own.copy()
    for (r, i), ok in forced[8].items():
        column[r, i] = ok
    for k in (1, 3, 6):
        assert abs(figs["8"]["pass_at_k"][str(k)] - float(exact(column, k))) < 1e-12
        assert abs(figs["64"]["pass_at_k"][str(k)] - float(exact(own, k))) < 1e-12
    assert figs["8"]["forced"] == len(forced[8]) and figs["64"]["forced"] == 0
    run_metrics = load_run(run).summary([1, 3, 6])
    assert figs["64"]["maj_at_k"] == run_metrics["maj_at_k"] and figs["64"]["ci95"] == run_metrics["ci95"]


def test_a_budget_whose_sweep_is_pending_is_not_reported(tmp_path):
    own = np.ones((4, 2), dtype=bool)
    run = make_run(tmp_path / "r", own)
    plant_budgets(run, {4: {(0, 0): False, (1, 1): False}}, samples=6)  # swept before an --n extension: 6 of 8 samples
    store = RunStore(run)
    assert budget_figures(store, store.manifest(), read_table(store, n=2), [1], majority=True, n=2) == {}
    lines = (run / BUDGETS).read_text().splitlines()
    plant_budgets(run, {}, 8)
    store.update_manifest(think_budgets={"think_end": "</think>", "answer_cue": "x", "answer_tokens": 8,
                                         "budgets": {"4": {"samples": 8, "forced": 3, "think_tokens": 32}}})
    assert len(lines) == 2  # the sweep forced 3 but budgets.jsonl holds 2: pending
    assert budget_figures(store, store.manifest(), read_table(store, n=2), [1], majority=True, n=2) == {}


# -- truncation ---------------------------------------------------------------------------------
def test_truncation_figures_against_a_direct_count(tmp_path):
    rng = np.random.default_rng(5)
    own = rng.random((25, 8)) < 0.5
    cut = {(r, i): "length" for r in range(25) for i in range(8) if rng.random() < (0.6 if r < 5 else 0.1)}
    for r in range(3):  # whole problems cut: no completed sample there
        cut.update({(r, i): "length" for i in range(8)})
    for key in cut:
        own[key] = False  # a cut sample never answered
    run = make_run(tmp_path / "r", own, finish=cut)
    store = RunStore(run)
    table = read_table(store, n=8)
    t = truncation_figures(table, length_cut(store, table))
    mask = np.zeros_like(own)
    for key in cut:
        mask[key] = True
    per_problem = [(own[r][~mask[r]].mean()) for r in range(25) if (~mask[r]).any()]
    assert t["samples"] == len(cut) and t["of"] == 200
    assert t["rate"] == pytest.approx(mask.mean(axis=1).mean())
    assert t["pass_at_1_all"] == pytest.approx(own.mean(axis=1).mean())
    assert t["pass_at_1_completed"] == pytest.approx(np.mean(per_problem))
    assert t["pass_at_1_cut"] == 0.0 and t["problems_without_completed"] == int(mask.all(axis=1).sum()) >= 3
    assert t["ci95"][0] <= t["rate"] <= t["ci95"][1]
    assert summary_line(t).startswith(f"{len(cut)} of 200 samples hit --max-tokens (")


def test_no_cut_samples_means_completed_equals_all(tmp_path):
    own = np.random.default_rng(1).random((10, 4)) < 0.5
    run = make_run(tmp_path / "r", own)
    store = RunStore(run)
    table = read_table(store, n=4)
    t = truncation_figures(table, length_cut(store, table))
    assert t["samples"] == 0 and t["rate"] == 0 and t["ci95"] == [0.0, 0.0] and t["pass_at_1_cut"] is None
    assert t["pass_at_1_completed"] == pytest.approx(t["pass_at_1_all"])
    assert summary_line(t) == "0 of 40 samples hit --max-tokens (0.0%)"


def test_compare_tables_and_exports_carry_truncation_and_warn_when_it_differs(tmp_path):
    rng = np.random.default_rng(9)
    own = rng.random((40, 4)) < 0.5
    short = make_run(tmp_path / "short", own, model="short", finish={(r, i): "length" for r in range(40) for i in range(4) if r % 2})
    long_ = make_run(tmp_path / "long", own, model="long")
    same = make_run(tmp_path / "same", own, model="same")
    _, report = compare_dirs([long_, short, same])
    bench = report["benchmarks"][0]
    assert len(bench["warnings"]) == 1 and "short cuts 50.0%" in bench["warnings"][0] and "--max-tokens" in bench["warnings"][0]
    text = render(report, "table")
    assert "truncation: samples that hit --max-tokens" in text and "warning: truncation differs: short" in text
    rows = {r["model"]: r for r in csv.DictReader(io.StringIO(render(report, "csv")))}
    assert float(rows["short"]["trunc_rate"]) == 0.5 and float(rows["long"]["trunc_rate"]) == 0.0
    assert float(rows["short"]["pass@1_completed"]) == pytest.approx(own[::2].mean(axis=1).mean())
    assert "| hit --max-tokens % [95% CI] |" in render(report, "markdown")
    e = entry(load_run(short))
    jsonschema.validate({"schema_version": 1, "entries": [e]}, schema())
    assert e["truncation"]["samples"] == 80


def test_cost_is_shown_by_compare_and_exported(tmp_path):
    run = make_run(tmp_path / "r", np.ones((3, 2), dtype=bool))
    cost = {"engine": {"backend": "vllm", "version": "0.32.0", "device": "cpu"},
            "draw": {"wall_s": 12.5, "startup_s": 3.0, "requests": 6, "prompt_tokens": 60, "completion_tokens": 250,
                     "cached_prompt_tokens": 30, "tokens_per_s": 20.0, "prefix_cache_hit_rate": 0.5}}
    RunStore(run).update_manifest(cost=cost)
    _, report = compare_dirs([run])
    assert report["benchmarks"][0]["runs"][0]["cost"] == cost
    text = render(report, "table")
    assert "cost of generation" in text and "vllm 0.32.0" in text and "50.0%" in text
    e = entry(load_run(run))
    jsonschema.validate({"schema_version": 1, "entries": [e]}, schema())
    assert e["cost"] == cost


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize("args, needle", [
    (["--max-tokens", "16", "--think-budgets", "8,32"], "--think-budgets 32 exceeds --max-tokens 16"),
    (["--max-tokens", "16", "--think-budgets", "8"], "no known end-of-thinking marker"),
    (["--max-tokens", "16", "--think-budgets", "8", "--shard", "0/2"], "cannot be combined with --shard"),
])
def test_bad_budget_input_is_one_line_and_writes_nothing(tmp_path, args, needle):
    out = tmp_path / "run"
    code, output = cli("run", "--model", "tiny-arith", "--bench", "arith", "--backend", "hf", "--limit", "2", "--out", str(out), *args)
    assert code == 1 and needle in output, output
    assert output.strip().count("\n") == 0 and output.startswith("error: ") and "Traceback" not in output
    assert not out.exists()


def test_budgets_on_a_scored_run_or_a_foreign_directory_is_one_line(tmp_path):
    samples = tmp_path / "s.jsonl"
    samples.write_text("".join(json.dumps({"problem_id": f"arith/{i}", "completion": "\\boxed{1}"}) + "\n" for i in range(3)))
    assert cli("score", "--bench", "arith", "--samples", str(samples), "--out", str(tmp_path / "scored"))[0] == 0
    code, output = cli("budgets", str(tmp_path / "scored"), "--think-budgets", "8")
    assert code == 1 and "scored from a file" in output and "evalkit run ... --think-budgets" in output
    assert output.strip().count("\n") == 0 and not (tmp_path / "scored" / BUDGETS).exists()
    (tmp_path / "empty").mkdir()
    code, output = cli("budgets", str(tmp_path / "empty"), "--think-budgets", "8")
    assert code == 1 and "not an evalkit run directory" in output


def test_length_cut_from_the_table_equals_the_scan_of_samples(tmp_path):
    """truncation.length_cut reads table.parquet's finish-reason column when it records every sample's,
    else scans samples.jsonl: both give the same samples, in the table's order (ids out of natural order,
    a regraded pair, an extended run)."""
    import dataclasses

    import numpy as np

    from evalkit.scoring.table import read_table
    from evalkit.scoring.truncation import length_cut
    from evalkit.store import RunStore
    from rundirs import make_run

    rng = np.random.default_rng(3)
    correct = rng.random((12, 6)) < 0.4
    cut = {(p, i): "length" for p in range(12) for i in range(6) if rng.random() < 0.3}
    run = make_run(tmp_path / "run", correct, ids=[f"arith/{p}" for p in (10, 2, 7, 1, 0, 11, 3, 5, 9, 4, 8, 6)], finish=cut, rng=rng)
    store = RunStore(run)
    table = read_table(store, stats=True)
    assert (table.finish >= 0).all()
    from_table = length_cut(store, table)
    scanned = length_cut(store, dataclasses.replace(table, finish=None, finish_names=()))
    assert from_table.sum() == len(cut) and np.array_equal(from_table, scanned)
