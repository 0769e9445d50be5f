"""The spine end to end through the CLI: run, resume after kill -9, --n extension, score, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from math import comb
from pathlib import Path

import pytest
from click.testing import CliRunner

from evalkit.adapters.arith import arith_rows
from evalkit.cli import main

RUN = ["run", "--model", "tiny-arith", "--bench", "arith", "--backend", "hf", "--max-tokens", "12"]


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def sample_set(out: Path) -> set[tuple]:
    rows = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    keys = [(r["problem_id"], r["sample_index"]) for r in rows]
    assert len(keys) == len(set(keys)), "duplicate (problem, index) in samples.jsonl"
    return {(r["problem_id"], r["sample_index"], r["seed"], r["completion"], r["finish_reason"]) for r in rows}


def metrics(out: Path) -> dict:
    """metrics.json's figures: all of it but `cost` (wall times, which no two runs share)."""
    return {k: v for k, v in json.loads((out / "metrics.json").read_text()).items() if k != "cost"}


@pytest.mark.slow
def test_embedded_default_lands_in_range_and_rises_with_k(tmp_path):
    r = cli(*RUN, "--k", "1,4,16", "--out", str(tmp_path / "d"))
    assert r.exit_code == 0, r.output
    m = metrics(tmp_path / "d")
    assert m["num_problems"] == 200 and m["n"] == 16
    p = m["pass_at_k"]
    assert 0.05 < p["1"] < 0.8
    assert p["1"] < p["4"] < p["16"]
    for k, (lo, hi) in m["ci95"].items():
        assert 0 <= lo <= p[k] <= hi <= 1
    assert sum(m["status_counts"].values()) == 200 * 16
    # grades.jsonl agrees with metrics: pass@1 is the plain mean of `correct`
    grades = [json.loads(line) for line in (tmp_path / "d" / "grades.jsonl").read_text().splitlines()]
    assert len(grades) == 3200
    assert p["1"] == pytest.approx(sum(g["correct"] for g in grades) / len(grades))
    manifest = json.loads((tmp_path / "d" / "manifest.json").read_text())
    for key in ("model", "benchmark", "data_source", "data_hash", "sampling", "seed", "versions", "command"):
        assert key in manifest
    assert manifest["sampling"]["temperature"] == 1.0 and manifest["versions"]["evalkit"]


@pytest.mark.slow
def test_n_extension_draws_only_new_indices_and_equals_direct_run(tmp_path):
    ext, direct = tmp_path / "ext", tmp_path / "direct"
    assert cli(*RUN, "--k", "1,2", "--n", "2", "--limit", "15", "--out", str(ext)).exit_code == 0
    first = sample_set(ext)
    assert cli(*RUN, "--k", "1,4", "--n", "4", "--limit", "15", "--out", str(ext)).exit_code == 0
    extended = sample_set(ext)
    assert first <= extended and {s[1] for s in extended - first} == {2, 3}
    assert cli(*RUN, "--k", "1,4", "--n", "4", "--limit", "15", "--out", str(direct)).exit_code == 0
    assert extended == sample_set(direct)
    assert metrics(ext) == metrics(direct)


@pytest.mark.slow
def test_kill_9_then_resume_equals_uninterrupted(tmp_path):
    args = [*RUN, "--k", "1,8", "--n", "8", "--limit", "60", "--batch-size", "1"]  # one sample a batch: a wide kill window
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    evalkit = [sys.executable, "-m", "evalkit.cli"]
    # The reference in the default batches (8x fewer decoding loops): samples do not depend on batching.
    subprocess.run([*evalkit, *args[:-2], "--out", str(whole)], check=True, env=env, capture_output=True)

    proc = subprocess.Popen([*evalkit, *args, "--out", str(killed)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = killed / "samples.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not samples.exists() or samples.read_text().count("\n") < 100):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    drawn_before = samples.read_text().count("\n")
    assert 0 < drawn_before < 480, "the kill must land mid-sampling"
    assert not (killed / "metrics.json").exists()
    with open(samples, "a") as f:  # and a torn line, as if killed mid-write
        f.write('{"problem_id": "arith/0", "sample_in')

    subprocess.run([*evalkit, *args, "--out", str(killed)], check=True, env=env, capture_output=True)
    assert sample_set(killed) == sample_set(whole)
    assert metrics(killed) == metrics(whole)


@pytest.mark.slow
def test_changed_sampling_is_refused_unless_overwrite(tmp_path):
    out = str(tmp_path / "d")
    assert cli(*RUN, "--k", "1", "--limit", "3", "--out", out).exit_code == 0
    r = cli(*RUN, "--k", "1", "--limit", "3", "--temperature", "0.5", "--out", out)
    assert r.exit_code != 0 and "sampling" in r.output and "--overwrite" in r.output
    assert "Traceback" not in r.output
    r = cli(*RUN, "--k", "1", "--limit", "3", "--temperature", "0.5", "--out", out, "--overwrite")
    assert r.exit_code == 0
    assert json.loads((tmp_path / "d" / "manifest.json").read_text())["sampling"]["temperature"] == 0.5


def exact_mean_pass_at_k(ncs: list[tuple[int, int]], k: int) -> float:
    return float(sum(1 - Fraction(comb(n - c, k), comb(n, k)) for n, c in ncs) / len(ncs))


def test_score_known_pattern_gives_exact_pass_at_k(tmp_path):
    rows = arith_rows()[:30]
    lines, ncs = [], []
    for i, row in enumerate(rows):
        n, c = 8 + i % 5, i % 7  # varying n per problem, c <= n
        ncs.append((n, c))
        completions = [f"so \\boxed{{{row['answer']}}}"] * c + [f"\\boxed{{{int(row['answer']) + 1}}}"] * (n - c)
        if i % 2:  # half the problems as one line per sample, half as a list
            lines += [json.dumps({"problem_id": row["id"], "completion": t}) for t in completions]
        else:
            lines.append(json.dumps({"task_id": row["id"], "completions": completions}))
    f = tmp_path / "s.jsonl"
    f.write_text("\n".join(lines) + "\n")
    r = cli("score", "--bench", "arith", "--samples", str(f), "--k", "1,4,8", "--out", str(tmp_path / "o"))
    assert r.exit_code == 0, r.output
    m = metrics(tmp_path / "o")
    for k in (1, 4, 8):
        assert m["pass_at_k"][str(k)] == pytest.approx(exact_mean_pass_at_k(ncs, k), abs=1e-12)
    assert m["n"] == 8 and m["n_max"] == 12


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--k", "1,8", "--n", "4"], "exceeds"),
        (["--k", "0"], "positive"),
        (["--k", "1,x"], "comma-separated"),
        (["--bench", "arithh"], "did you mean 'arith'"),
        (["--model", "./no/such/ckpt"], "does not exist"),
    ],
)
def test_bad_run_input_one_line_no_traceback_nothing_written(tmp_path, args, needle):
    base = dict(zip(RUN[1::2], RUN[2::2]))
    merged = {**base, **dict(zip(args[0::2], args[1::2]))}
    argv = ["run"] + [x for kv in merged.items() for x in kv] + ["--out", str(tmp_path / "d")]
    r = CliRunner().invoke(main, argv)
    assert r.exit_code != 0
    assert needle in r.output, r.output
    assert "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    "content, needle",
    [
        ('{"problem_id": "arith/0", "completion": "1"}\n{"problem_id": "arith/1", "compl\n', ":2: malformed JSON"),
        ('{"problem_id": "arith/0", "completion": "1"}\n{"problem_id": "nope/1", "completion": "2"}\n', ":2: unknown problem 'nope/1'"),
        ('{"problem_id": "arith/0"}\n', ":1: no \"completion\""),
        ("[1, 2]\n", ":1: expected a JSON object"),
    ],
)
def test_bad_samples_file(tmp_path, content, needle):
    f = tmp_path / "s.jsonl"
    f.write_text(content)
    r = CliRunner().invoke(main, ["score", "--bench", "arith", "--samples", str(f), "--k", "1", "--out", str(tmp_path / "o")])
    assert r.exit_code != 0 and needle in r.output, r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "o").exists()


def test_score_k_greater_than_samples(tmp_path):
    f = tmp_path / "s.jsonl"
    f.write_text('{"problem_id": "arith/0", "completions": ["1", "2"]}\n')
    r = CliRunner().invoke(main, ["score", "--bench", "arith", "--samples", str(f), "--k", "4", "--out", str(tmp_path / "o")])
    assert r.exit_code != 0 and "exceeds" in r.output
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_regrade_rewrites_grades_and_keeps_samples(tmp_path):
    out = tmp_path / "d"
    assert cli(*RUN, "--k", "1,2", "--limit", "5", "--out", str(out)).exit_code == 0
    before_samples = sample_set(out)
    before = (out / "grades.jsonl").read_text()
    (out / "grades.jsonl").write_text(before.replace('"correct": true', '"correct": false').replace('"status": "correct"', '"status": "wrong"'))
    r = cli(*RUN, "--k", "1,2", "--limit", "5", "--out", str(out), "--regrade")
    assert r.exit_code == 0, r.output
    assert sample_set(out) == before_samples
    assert sorted((out / "grades.jsonl").read_text().splitlines()) == sorted(before.splitlines())
