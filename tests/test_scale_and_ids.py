"""Issue 14: score at scale with results checked against exact arithmetic, the ids other tools use,
and the streaming readers that keep memory bounded by problems (kept small here; peak memory is
measured by benchmarks/bench_scale.py, never asserted in tests)."""

from __future__ import annotations

import json
import random
from fractions import Fraction
from math import comb
from pathlib import Path

import pytest

from evalkit.adapters.arith import arith_rows
from evalkit.store import PairSet, RunStore, iter_sample_heads, sample_head
from evalkit.types import Sample
from rundirs import cli_result as cli, metrics


def exact_mean(ncs: list[tuple[int, int]], k: int) -> float:
    return float(sum(1 - Fraction(comb(n - c, k), comb(n, k)) for n, c in ncs) / len(ncs))


@pytest.mark.slow
def test_score_200k_samples_equals_exact_pass_at_k(tmp_path: Path) -> None:
    """200 problems x 1,000 samples, a known number correct per problem, shuffled, through `evalkit score`."""
    rng = random.Random(0)
    ncs, path = [], tmp_path / "s.jsonl"
    with open(path, "w") as f:
        for row in arith_rows():
            c = rng.randint(0, 1000)
            ncs.append((1000, c))
            outs = [f"so \\boxed{{{row['answer']}}}"] * c + [f"\\boxed{{{int(row['answer']) + rng.randint(1, 3)}}}" for _ in range(1000 - c)]
            rng.shuffle(outs)
            f.writelines(json.dumps({"problem_id": row["id"], "completion": o}) + "\n" for o in outs)
    code, out = cli("score", "--bench", "arith", "--samples", str(path), "--k", "1,10,100,1000", "--out", str(tmp_path / "o"))
    assert code == 0, out
    m = metrics(tmp_path / "o")
    assert m["num_samples"] == 200_000 and m["n"] == 1000
    for k in (1, 10, 100, 1000):
        assert m["pass_at_k"][str(k)] == pytest.approx(exact_mean(ncs, k), abs=1e-12)
    assert m["status_counts"]["correct"] == sum(c for _, c in ncs)
    assert m["maj_at_k"]["1"] == pytest.approx(m["pass_at_k"]["1"], abs=1e-12)
    # compare reads the same run back through the same counting path
    code, out = cli("compare", str(tmp_path / "o"), "--k", "1,100", "--format", "json")
    row = json.loads(out)["benchmarks"][0]["runs"][0]
    assert row["pass_at_k"]["100"]["value"] == m["pass_at_k"]["100"]
    assert row["pass_at_k"]["1"]["ci95"] == m["ci95"]["1"]  # one interval per run, everywhere


def _math500_rows(data_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (data_dir / "math500.jsonl").read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("field", ["unique_id", "problem_id"])
def test_math500_keyed_by_unique_id(data_dir: Path, tmp_path: Path, field: str) -> None:
    """Samples keyed as other tools key MATH-500 (`test/precalculus/807.json`) score as evalkit's ids."""
    rows = _math500_rows(data_dir)[:20]
    lines = [json.dumps({field: r["unique_id"], "completions": [f"\\boxed{{{r['answer']}}}", "\\boxed{nope}"]}) for r in rows]
    (tmp_path / "s.jsonl").write_text("\n".join(lines) + "\n")
    code, out = cli("score", "--bench", "math500", "--data", str(data_dir / "math500.jsonl"), "--samples", str(tmp_path / "s.jsonl"),
                    "--k", "1,2", "--out", str(tmp_path / "o"), "--model", "m")
    assert code == 0, out
    grades = [json.loads(line) for line in (tmp_path / "o" / "grades.jsonl").read_text().splitlines()]
    assert {g["problem_id"] for g in grades} == {f"math500/{i}" for i in range(20)}  # canonical ids only
    m = metrics(tmp_path / "o")
    assert m["pass_at_k"]["2"] == 1.0 and m["pass_at_k"]["1"] == 0.5
    assert "20 of 500 problems" in out  # partial coverage is visible


@pytest.mark.parametrize("bench, field", [("aime24", "id"), ("amc23", "id"), ("minerva_math", "idx")])
def test_competition_files_keyed_by_their_own_ids(data_dir: Path, tmp_path: Path, bench: str, field: str) -> None:
    from evalkit.adapters.loading import load

    problems = load(bench, data_dir).problems
    lines = [json.dumps({field: p.metadata["source_id"], "completion": f"\\boxed{{{p.answer}}}"}) for p in problems]
    (tmp_path / "s.jsonl").write_text("\n".join(lines) + "\n")
    code, out = cli("score", "--bench", bench, "--data", str(data_dir), "--samples", str(tmp_path / "s.jsonl"), "--out", str(tmp_path / "o"))
    assert code == 0, out
    assert metrics(tmp_path / "o")["num_problems"] == len(problems)


def test_two_id_schemes_for_one_problem_refused(data_dir: Path, tmp_path: Path) -> None:
    r = _math500_rows(data_dir)[3]
    (tmp_path / "s.jsonl").write_text(json.dumps({"unique_id": r["unique_id"], "completion": "a"}) + "\n"
                                      + json.dumps({"problem_id": "math500/3", "completion": "b"}) + "\n")
    code, out = cli("score", "--bench", "math500", "--data", str(data_dir / "math500.jsonl"), "--samples", str(tmp_path / "s.jsonl"),
                    "--out", str(tmp_path / "o"))
    assert code != 0 and out.count("\n") == 1 and ":2: problem math500/3 is named" in out and "line 1" in out, out
    assert not (tmp_path / "o").exists()


def test_unknown_id_shows_each_accepted_form(data_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "s.jsonl").write_text(json.dumps({"problem_id": "math/17", "completion": "a"}) + "\n")
    code, out = cli("score", "--bench", "math500", "--data", str(data_dir / "math500.jsonl"), "--samples", str(tmp_path / "s.jsonl"),
                    "--out", str(tmp_path / "o"))
    assert code != 0 and out.count("\n") == 1
    assert "'math500/0'" in out and "test/" in out and ".json'" in out, out  # evalkit's form and the upstream one


def test_evalplus_solution_files_score(tmp_path: Path) -> None:
    rows = arith_rows()[:5]
    (tmp_path / "s.jsonl").write_text("".join(json.dumps({"task_id": r["id"], "solution": f"\\boxed{{{r['answer']}}}"}) + "\n" for r in rows))
    code, out = cli("score", "--bench", "arith", "--samples", str(tmp_path / "s.jsonl"), "--out", str(tmp_path / "o"))
    assert code == 0, out
    assert metrics(tmp_path / "o")["pass_at_k"]["1"] == 1.0


# -- the streaming readers ------------------------------------------------------------------------
def test_sample_head_never_needs_the_completion(tmp_path: Path) -> None:
    """Hostile completions cannot fool the head parser: it agrees with a full JSON parse."""
    texts = ['", "completion": "x', '\\", "completion": ', "}" * 5, '{"problem_id": "evil"}', "\n\\n\u2028", "a" * 40000]
    path = tmp_path / "samples.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            s = Sample(f'p"{i}\\', i, 7, t, num_tokens=i, mean_entropy=0.5, extra={"note": '", "completion": "'})
            f.write(json.dumps(s.to_json(), ensure_ascii=False) + "\n")
    for line in path.read_bytes().splitlines(keepends=True):
        full = json.loads(line)
        full.pop("completion")
        assert sample_head(line) == full
    assert [h["problem_id"] for h in iter_sample_heads(path)] == [f'p"{i}\\' for i in range(len(texts))]
    assert [s.completion for s in RunStore(tmp_path).iter_samples()] == texts


def test_torn_tail_skipped_and_first_line_of_a_pair_wins(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    with store.sample_appender() as w:
        w.write(Sample("a", 0, 1, "first").to_json())
        w.write(Sample("a", 0, 1, "second").to_json())
        w.write(Sample("b", 3, 1, "x").to_json())
    with open(tmp_path / "samples.jsonl", "a") as f:
        f.write('{"problem_id": "c", "sample_in')
    assert [s.completion for s in store.iter_samples()] == ["first", "x"]
    pairs = store.sample_pairs()
    assert ("a", 0) in pairs and ("b", 3) in pairs and ("b", 2) not in pairs and len(pairs) == 2


def test_pair_set_grows_and_counts() -> None:
    s = PairSet()
    assert s.add("p", 700) and not s.add("p", 700) and s.add("p", 0)
    assert ("p", 700) in s and ("p", 699) not in s and ("q", 0) not in s and s.count("p") == 2
