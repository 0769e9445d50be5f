"""compare: exact pass@k and differences, paired interval coverage, crossover, solved-only sets,
entropy/length columns against samples.jsonl, version refusal, formats, plot, multi-checkpoint run."""

from __future__ import annotations

import csv
import io
import json
import os
from fractions import Fraction
from math import comb
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from evalkit.checkpoints import expand_models
from evalkit.cli import main
from evalkit.store import default_run_dir
from evalkit.scoring.stats import paired_bootstrap
from evalkit.types import EvalkitError
from rundirs import make_run


def exact_pass_at_k(row: list[bool], k: int) -> Fraction:
    n, c = len(row), sum(row)
    return 1 - Fraction(comb(n - c, k), comb(n, k))


def mean_exact(rows, k: int) -> Fraction:
    return sum(exact_pass_at_k(list(r), k) for r in rows) / len(rows)


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


# -- statistics -------------------------------------------------------------------------------
@pytest.mark.slow
def test_paired_interval_covers_true_difference_at_nominal_rate():
    """Problems drawn from a finite population with known per-problem success rates: the 95%
    paired interval must cover the population difference of pass@k = 1 - (1 - p)^k about 95% of
    the time, and a null difference must be rejected about 5% of the time."""
    rng = np.random.default_rng(7)
    pop_a = rng.beta(0.6, 0.8, 5000)
    pop_b = np.clip(pop_a + rng.normal(-0.05, 0.1, 5000), 0, 1)  # correlated with a, as checkpoints are
    ks, n, problems, reps = [1, 4], 8, 80, 300
    truth = [np.mean((1 - (1 - pop_a) ** k) - (1 - (1 - pop_b) ** k)) for k in ks]
    covered = np.zeros(len(ks))
    null_rejected = 0
    for _ in range(reps):
        idx = rng.integers(0, len(pop_a), problems)
        ca, cb, cb0 = rng.binomial(n, pop_a[idx]), rng.binomial(n, pop_b[idx]), rng.binomial(n, pop_a[idx])
        est = lambda c: np.stack([1 - np.array([comb(n - x, k) / comb(n, k) for x in c]) for k in ks], axis=1)  # noqa: E731
        res = paired_bootstrap(est(ca), est(cb), num_resamples=400, seed=int(rng.integers(1 << 30)))
        covered += [r.lo <= t <= r.hi for r, t in zip(res, truth)]
        null_rejected += paired_bootstrap(est(cb0), est(ca), num_resamples=400, seed=1)[0].p_value < 0.05
    rate = covered / reps
    assert all(0.91 <= r <= 0.985 for r in rate), rate
    assert 0.01 <= null_rejected / reps <= 0.10, null_rejected / reps


def test_identical_runs_have_zero_difference(tmp_path):
    rows = np.random.default_rng(0).random((20, 4)) < 0.4
    make_run(tmp_path / "a", rows)
    report = json.loads(cli("compare", str(tmp_path / "a"), str(tmp_path / "a"), "--baseline", str(tmp_path / "a"), "--format", "json").output)
    assert len(report["benchmarks"][0]["runs"]) == 1  # the same directory twice is one row
    make_run(tmp_path / "b", rows, model="copy")
    report = json.loads(cli("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--format", "json").output)
    d = report["benchmarks"][0]["runs"][1]["vs_baseline"]["diff"]["1"]
    assert d["diff"] == 0 and d["ci95"] == [0, 0] and d["p_value"] == 1.0


# -- tables -----------------------------------------------------------------------------------
@pytest.fixture
def pair(tmp_path):
    """`rl` is sharp on problems 0-4 and blind on 5-9; `base` is mediocre everywhere (n = 8)."""
    rl = [[j < 6 for j in range(8)] if i < 5 else [False] * 8 for i in range(10)]
    base = [[j < 2 for j in range(8)] for _ in range(10)]
    a = make_run(tmp_path / "base", base, model="base", seed=1, statuses={(0, 7): "truncated", (1, 7): "no_answer"})
    b = make_run(tmp_path / "rl", rl, model="rl", seed=2, statuses={(6, 0): "timeout"})
    return a, b, base, rl


def test_pass_at_k_and_paired_difference_are_exact(pair):
    a, b, base, rl = pair
    report = json.loads(cli("compare", str(a), str(b), "--k", "1,2,8", "--format", "json").output)
    bench = report["benchmarks"][0]
    assert bench["ks"] == [1, 2, 8] and bench["baseline"] == "base"
    for row, rows in zip(bench["runs"], (base, rl)):
        for k in (1, 2, 8):
            assert row["pass_at_k"][str(k)]["value"] == pytest.approx(float(mean_exact(rows, k)), abs=1e-12)
            lo, hi = row["pass_at_k"][str(k)]["ci95"]
            assert lo <= row["pass_at_k"][str(k)]["value"] <= hi
    diff = bench["runs"][1]["vs_baseline"]["diff"]
    for k in (1, 2, 8):
        assert diff[str(k)]["diff"] == pytest.approx(float(mean_exact(rl, k) - mean_exact(base, k)), abs=1e-12)
    counts = bench["runs"][0]["status_counts"]
    assert counts["truncated"] == 1 and counts["no_answer"] == 1 and counts["correct"] == 20


def test_crossover_and_solved_only(pair):
    a, b, base, rl = pair
    report = json.loads(cli("compare", str(a), str(b), "--format", "json").output)
    v = report["benchmarks"][0]["runs"][1]["vs_baseline"]
    # brute force: first k where the sign of the exact difference flips
    signs = [(mean_exact(rl, k) > mean_exact(base, k)) - (mean_exact(rl, k) < mean_exact(base, k)) for k in range(1, 9)]
    flips = [k for k in range(2, 9) if signs[k - 1] and signs[k - 2] and signs[k - 1] != signs[k - 2]]
    assert signs[0] == 1 and [c["k"] for c in v["crossover_k"]] == flips and len(flips) == 1
    assert v["crossover_k"][0]["ahead"] == "base"
    assert v["solved_only"] == {"this": [], "baseline": [f"arith/{i}" for i in range(5, 10)]}
    text = cli("compare", str(a), str(b)).output
    assert f"base ahead from k={flips[0]}" in text
    assert "solved at k=n by base, never by rl: 5 (arith/5, arith/6, arith/7, arith/8, arith/9)" in text


def _recompute(run_dir: Path) -> dict:
    """Per-split means straight from the JSONL files."""
    grades = {(g["problem_id"], g["sample_index"]): g["correct"] for g in map(json.loads, (run_dir / "grades.jsonl").read_text().splitlines())}
    out: dict = {f: {"all": [], "correct": [], "wrong": []} for f in ("num_tokens", "mean_entropy", "mean_logprob")}
    for s in map(json.loads, (run_dir / "samples.jsonl").read_text().splitlines()):
        ok = grades[(s["problem_id"], s["sample_index"])]
        for f in out:
            out[f]["all"].append(s[f])
            out[f]["correct" if ok else "wrong"].append(s[f])
    return {f: {part: sum(v) / len(v) for part, v in d.items()} for f, d in out.items()}


def test_entropy_logprob_length_columns_match_samples_jsonl(pair):
    a, b, _, _ = pair
    report = json.loads(cli("compare", str(a), str(b), "--format", "json").output)
    text = cli("compare", str(a), str(b)).output
    for row, run_dir in zip(report["benchmarks"][0]["runs"], (a, b)):
        want = _recompute(run_dir)
        for name, field in (("tokens", "num_tokens"), ("entropy", "mean_entropy"), ("logprob", "mean_logprob")):
            for part in ("all", "correct", "wrong"):
                assert row[name][part] == pytest.approx(want[field][part], rel=1e-12)
        line = next(ln for ln in text.splitlines() if ln.startswith(row["label"] + " ") and "/" in ln)
        for part in ("all", "correct", "wrong"):
            assert f"{want['mean_entropy'][part]:.3f}" in line and f"{want['num_tokens'][part]:.1f}" in line
            assert f"{want['mean_logprob'][part]:.3f}" in line


def test_csv_and_markdown(pair):
    a, b, _, _ = pair
    rows = list(csv.DictReader(io.StringIO(cli("compare", str(a), str(b), "--k", "1,8", "--format", "csv").output)))
    assert [r["model"] for r in rows] == ["base", "rl"]
    assert rows[0]["diff@1"] == "" and float(rows[1]["diff@8"]) == pytest.approx(0.5 - 1.0)
    assert float(rows[1]["frac_timeout"]) == pytest.approx(1 / 80)
    md = cli("compare", str(a), str(b), "--format", "markdown").output
    assert "| model | n | problems | pass@1 | pass@4 | pass@8 |" in md and "| rl |" in md


def test_refuses_different_benchmark_versions(tmp_path):
    rows = [[True, False]] * 3
    make_run(tmp_path / "a", rows, data_hash="sha256:v1")
    make_run(tmp_path / "b", rows, data_hash="sha256:v2")
    res = CliRunner().invoke(main, ["compare", str(tmp_path / "a"), str(tmp_path / "b")])
    assert res.exit_code == 1
    assert res.output.startswith("error: ") and "different versions of arith" in res.output and res.output.count("\n") == 1


def test_errors_are_one_line(tmp_path):
    make_run(tmp_path / "a", [[True, False]] * 3)
    (tmp_path / "empty").mkdir()
    for args, needle in (
        (["compare", str(tmp_path / "empty")], "not an evalkit run directory"),
        (["compare", str(tmp_path / "nope")], "no such run directory"),
        (["compare", str(tmp_path / "a"), "--k", "4"], "k=4 exceeds n=2"),
    ):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 1 and needle in res.output and res.output.count("\n") == 1, res.output
    lines = (tmp_path / "a" / "grades.jsonl").read_text().splitlines()
    (tmp_path / "a" / "grades.jsonl").write_text("\n".join(lines[:-1]) + "\n")  # one sample ungraded
    res = CliRunner().invoke(main, ["compare", str(tmp_path / "a")])
    assert res.exit_code == 1 and "unfinished" in res.output


@pytest.mark.slow
def test_plot_png(tmp_path, pair):
    a, b, _, _ = pair
    out = tmp_path / "curves.png"
    res = cli("compare", str(a), str(b), "--plot", str(out), "--plot-panels", "all")
    assert f"wrote {out}" in res.output
    from matplotlib.image import imread

    img = imread(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert img.shape[0] >= 400 and img.shape[1] >= 1600  # one curve panel + entropy, log-prob, length
    assert img[..., :3].std() > 0.05  # not a blank canvas
    res = CliRunner().invoke(main, ["compare", str(a), "--plot-panels", "entropy,speed", "--plot", str(tmp_path / "x.png")])
    assert res.exit_code == 1 and "unknown panel 'speed'" in res.output and not (tmp_path / "x.png").exists()


def _figure(paths, panels=(), ks=None):
    from evalkit.reports.compare import compare_dirs
    from evalkit.reports.plots import comparison_figure

    groups, report = compare_dirs(paths, ks=ks)
    return comparison_figure(groups, report, panels), report


def test_plot_default_is_the_pass_at_k_panel_fitted_to_the_data(tmp_path):
    """All data below 20%: the axis is fitted to it (not 0-100), and one panel unless asked for more."""
    rng = np.random.default_rng(5)
    solvable = (np.arange(30) < 4)[:, None]  # 4 of 30 problems can be solved at all: pass@16 <= 13%
    low = [make_run(tmp_path / f"r{i}", solvable & (rng.random((30, 16)) < 0.3 + 0.1 * i), model=f"ckpt{i}", seed=i) for i in range(3)]
    fig, report = _figure(low)
    (ax,) = fig.axes
    highs = [100 * max(r["pass_at_k"][str(k)]["ci95"][1] for k in report["benchmarks"][0]["ks"]) for r in report["benchmarks"][0]["runs"]]
    bottom, top = ax.get_ylim()
    assert max(highs) <= top < 40 and bottom <= 0  # fitted to the bands (at most 4/30 solvable), not 0-100
    assert ax.get_legend() is not None and [t.get_text() for t in ax.get_legend().get_texts()] == ["ckpt0", "ckpt1", "ckpt2"]
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks == [1, 2, 4, 8, 16]


def test_plot_panels_have_legends_no_joining_lines_and_coinciding_checkpoints_show(tmp_path, pair):
    a, b, base, _ = pair
    twin = make_run(tmp_path / "twin", base, model="twin", seed=1)  # base's samples again: it coincides with base
    fig, report = _figure([a, b, twin], panels=("entropy", "logprob", "tokens"), ks=(1, 8))
    curve, *scatter = fig.axes
    assert len(scatter) == 3 and all(ax.get_legend() is not None for ax in fig.axes)
    styles = [line.get_linestyle() for line in curve.get_lines()]
    assert len(set(styles)) == 3  # base and twin overlap exactly, yet their curves stay apart by dash pattern
    for ax in scatter:
        assert not [line for line in ax.get_lines() if len(line.get_xdata()) > 1]  # no line joins checkpoints
        sizes = [c.get_sizes()[0] for c in ax.collections]
        assert len(sizes) == 3 * 2 and len(set(sizes)) == 3  # one size per checkpoint: concentric where they coincide
        assert all(c.get_facecolors().size == 0 or c.get_facecolors()[0][3] == 0 for c in ax.collections)  # hollow
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert labels == ["base", "rl", "twin", "pass@1", "pass@8"]


def test_plot_notes_a_partial_run(tmp_path):
    rows = np.random.default_rng(2).random((10, 4)) < 0.5
    a = make_run(tmp_path / "full", rows, model="full")
    b = make_run(tmp_path / "part", rows[:6], model="part")
    m = json.loads((b / "manifest.json").read_text())
    m["num_problems_total"], m["limit"] = 10, 6
    (b / "manifest.json").write_text(json.dumps(m))
    fig, _ = _figure([a, b])
    texts = [t.get_text() for t in fig.texts]
    assert any("part covers 6 of the 10 problems" in t for t in texts), texts


# -- several checkpoints in one run -----------------------------------------------------------
def test_expand_models_natural_order(tmp_path):
    for step in (100, 20, 3):
        (tmp_path / f"global_step_{step}").mkdir()
    (tmp_path / "global_step_9.txt").write_text("")  # a file, not a checkpoint
    got = expand_models([str(tmp_path / "global_step_*"), "tiny-arith"])
    assert got == [str(tmp_path / f"global_step_{s}") for s in (3, 20, 100)] + ["tiny-arith"]
    with pytest.raises(EvalkitError, match="matches no checkpoint"):
        expand_models([str(tmp_path / "ckpt_*")])


@pytest.mark.slow
def test_run_several_checkpoints_then_compare(tmp_path, tiny_model, monkeypatch):
    """A glob over global_step_* runs each checkpoint on the same problems and seeds, then compares."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ckpts").mkdir()
    for step in (10, 2):
        os.symlink(tiny_model, tmp_path / "ckpts" / f"global_step_{step}")
    res = CliRunner().invoke(main, ["run", "--model", "ckpts/global_step_*", "--bench", "arith", "--limit", "3", "--k", "1,2",
                                    "--backend", "hf", "--max-tokens", "8"])
    assert res.exit_code == 0, res.output
    dirs = [tmp_path / default_run_dir(f"ckpts/global_step_{s}", "arith", variant="len8") for s in (2, 10)]  # --max-tokens 8
    assert dirs[0] != dirs[1] and dirs[0].parent.name == "ckpts--global_step_2"
    seeds = [sorted((s["problem_id"], s["sample_index"], s["seed"]) for s in map(json.loads, (d / "samples.jsonl").read_text().splitlines())) for d in dirs]
    assert seeds[0] == seeds[1] and len(seeds[0]) == 6
    assert "vs baseline ckpts/global_step_2" in res.output and "pass@k in % [95% CI]" in res.output
    assert res.output.index("ckpts/global_step_2 on arith") < res.output.index("ckpts/global_step_10 on arith")


@pytest.mark.slow
def test_recorded_codet_humaneval_reference_figures(tmp_path, eval_dir):
    """CodeGen-16B on HumanEval, 164 x 100 recorded labels: the docs' reference pass@k (estimators.md)."""
    labels = [json.loads(line) for line in (eval_dir / "codet_humaneval_codegen16B_t0.8_n100_labels.jsonl").read_text().splitlines()]
    ids = list(dict.fromkeys(r["task_id"] for r in labels))
    row_of = {pid: i for i, pid in enumerate(ids)}
    correct = np.zeros((len(ids), 100), dtype=bool)
    statuses = {}
    for r in labels:
        row = row_of[r["task_id"]]
        correct[row, r["sample_idx"]] = r["passed"]
        if r["result"] == "timed out":
            statuses[(row, r["sample_idx"])] = "timeout"
    run = make_run(tmp_path / "codegen", correct, model="codegen-16B", benchmark="humaneval", ids=ids, statuses=statuses)
    report = json.loads(cli("compare", str(run), "--k", "1,10,100", "--format", "json").output)
    row = report["benchmarks"][0]["runs"][0]
    for k, want in ((1, 22.12), (10, 50.38), (100, 73.78)):
        assert 100 * row["pass_at_k"][str(k)]["value"] == pytest.approx(want, abs=0.006)
    assert row["status_counts"]["timeout"] == 58 and row["num_problems"] == 164
