"""Issue 22: what a new user trips over. Wrong or partial data refused or marked, OS errors in one line,
offline typos that fail at once, sweeps with default directories, labels, one interval per run, the
names of tests, and the documented Python API."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

import evalkit
from evalkit.adapters.arith import arith_rows
from rundirs import cli_result as cli, make_run, metrics

RUN = ["run", "--model", "tiny-arith", "--bench", "arith", "--backend", "hf", "--max-tokens", "12"]


def one_line_error(code: int, out: str) -> None:
    assert code != 0 and out.startswith("error: ") and out.count("\n") == 1 and "Traceback" not in out, out


# -- wrong data, partial data ---------------------------------------------------------------------
def _gsm8k_file(path: Path, rows: int) -> Path:
    """A GSM8K-format file (as another GSM8K-like benchmark would ship) of `rows` problems."""
    path.write_text("".join(json.dumps({"question": f"What is {i} + 1?", "answer": f"... #### {i + 1}"}) + "\n" for i in range(rows)))
    return path


def test_another_benchmarks_file_is_refused_unless_allowed(tmp_path: Path) -> None:
    """A compatible schema with the wrong size and an unknown hash (e.g. AMC23's file as aime24)."""
    data = _gsm8k_file(tmp_path / "other.jsonl", 40)
    (tmp_path / "s.jsonl").write_text("".join(json.dumps({"problem_id": f"gsm8k/{i}", "completion": f"#### {i + 1}"}) + "\n" for i in range(40)))
    args = ["score", "--bench", "gsm8k", "--data", str(data), "--samples", str(tmp_path / "s.jsonl")]
    code, out = cli(*args, "--out", str(tmp_path / "o"))
    one_line_error(code, out)
    assert "40 problems" in out and "no known release of gsm8k" in out and "--allow-unknown-data" in out
    assert not (tmp_path / "o").exists()
    code, out = cli(*args, "--out", str(tmp_path / "o"), "--allow-unknown-data")
    assert code == 0 and "UNRECOGNIZED DATA" in out, out
    m = metrics(tmp_path / "o")
    assert m["unknown_data"] is True and m["data_version"].startswith("unrecognized (40 problems")
    code, out = cli("compare", str(tmp_path / "o"))
    assert "UNRECOGNIZED DATA" in out
    code, out = cli("export", str(tmp_path / "o"), "--out", str(tmp_path / "lb.json"), "--allow-partial")
    assert code == 0, out
    assert json.loads((tmp_path / "lb.json").read_text())["entries"][0]["unknown_data"] is True


def test_real_releases_are_recognized(data_dir: Path) -> None:
    from evalkit.adapters.loading import load

    for bench in ("math500", "gsm8k", "aime24", "amc23"):
        loaded = load(bench, data_dir)
        assert loaded.recognized and not loaded.version.startswith("unrecognized"), bench
    with pytest.raises(evalkit.EvalkitError, match="no known release of aime24"):
        load("aime24", data_dir / "amc23.jsonl").check_release(False)


def test_partial_coverage_is_visible_and_export_needs_allow_partial(tmp_path: Path) -> None:
    rows = arith_rows()[:20]
    (tmp_path / "s.jsonl").write_text("".join(json.dumps({"problem_id": r["id"], "completion": f"\\boxed{{{r['answer']}}}"}) + "\n" for r in rows))
    code, out = cli("score", "--bench", "arith", "--samples", str(tmp_path / "s.jsonl"), "--out", str(tmp_path / "o"))
    assert code == 0 and "20 of 200 problems" in out, out
    assert metrics(tmp_path / "o")["num_problems_total"] == 200
    assert "20 of 200" in cli("compare", str(tmp_path / "o"))[1]
    code, out = cli("export", str(tmp_path / "o"), "--out", str(tmp_path / "lb.json"))
    one_line_error(code, out)
    assert "covers 20 of 200" in out and "--allow-partial" in out and not (tmp_path / "lb.json").exists()
    code, out = cli("export", str(tmp_path / "o"), "--out", str(tmp_path / "lb.json"), "--allow-partial")
    entry = json.loads((tmp_path / "lb.json").read_text())["entries"][0]
    assert code == 0 and entry["coverage"] == pytest.approx(0.1) and entry["num_problems_total"] == 200


# -- errors that must be one line --------------------------------------------------------------------
def test_unwritable_out_is_one_line(tmp_path: Path) -> None:
    """A path under a regular file cannot be a directory (ENOTDIR/EEXIST): root cannot bypass that."""
    (tmp_path / "file").write_text("x")
    code, out = cli(*RUN, "--k", "1", "--limit", "2", "--out", str(tmp_path / "file" / "run"))
    one_line_error(code, out)
    assert "cannot write" in out and "--out" in out
    (tmp_path / "s.jsonl").write_text('{"problem_id": "arith/0", "completion": "1"}\n')
    code, out = cli("score", "--bench", "arith", "--samples", str(tmp_path / "s.jsonl"), "--out", str(tmp_path / "file" / "o"))
    one_line_error(code, out)


@pytest.mark.skipif(not os.path.isdir("/sys/kernel"), reason="needs /sys (a file system no user can create directories in)")
def test_read_only_file_system_is_one_line() -> None:
    code, out = cli(*RUN, "--k", "1", "--limit", "2", "--out", "/sys/evalkit-test/run")
    one_line_error(code, out)


def test_mistyped_model_offline_fails_at_once_with_a_suggestion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from evalkit import hub

    hub.offline.cache_clear()
    start = time.monotonic()
    code, out = cli("run", "--model", "tiny-arth", "--bench", "arith", "--backend", "hf", "--k", "1", "--out", str(tmp_path / "d"))
    one_line_error(code, out)
    assert "did you mean 'tiny-arith'?" in out and "offline" in out
    assert time.monotonic() - start < 30  # not a minute of hub retries (generous: a loaded CI machine)
    hub.offline.cache_clear()


def test_missing_benchmark_offline_fails_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("EVALKIT_DATA_DIR", raising=False)
    from evalkit import hub

    hub.offline.cache_clear()
    code, out = cli(*RUN, "--bench", "math500", "--k", "1", "--out", str(tmp_path / "d"))
    one_line_error(code, out)
    assert "offline" in out and "--data" in out
    hub.offline.cache_clear()


def test_score_too_few_samples_names_the_problem(tmp_path: Path) -> None:
    (tmp_path / "s.jsonl").write_text('{"problem_id": "arith/0", "completions": ["1", "2"]}\n{"problem_id": "arith/1", "completions": ["1"]}\n')
    code, out = cli("score", "--bench", "arith", "--samples", str(tmp_path / "s.jsonl"), "--k", "2", "--out", str(tmp_path / "o"))
    one_line_error(code, out)
    assert "arith/1" in out and "--n" not in out and "--k" in out


def test_greedy_with_several_samples_is_refused(tmp_path: Path) -> None:
    code, out = cli(*RUN, "--temperature", "0", "--k", "1,4", "--out", str(tmp_path / "d"))
    one_line_error(code, out)
    assert "temperature 0" in out and not (tmp_path / "d").exists()


# -- sweeps, labels ------------------------------------------------------------------------------
@pytest.mark.slow
def test_seed_and_temperature_sweep_in_default_directories(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runs = [[], ["--seed", "1"], ["--temperature", "0.7"]]
    for extra in runs:
        code, out = cli(*RUN, "--k", "1", "--limit", "3", *extra)
        assert code == 0, out
    dirs = sorted(p.name for p in (tmp_path / "results" / "tiny-arith").iterdir())
    assert dirs == ["arith-len12", "arith-len12-s1", "arith-t0.7-len12"], dirs  # --max-tokens 12 is not the default
    labels = {json.loads((tmp_path / "results" / "tiny-arith" / d / "metrics.json").read_text())["label"] for d in dirs}
    assert len(labels) == 3  # three runs, three names in every report
    code, out = cli("export", *[str(tmp_path / "results" / "tiny-arith" / d) for d in dirs], "--out", str(tmp_path / "lb.json"), "--allow-partial")
    entries = json.loads((tmp_path / "lb.json").read_text())["entries"]
    assert code == 0 and len({e["label"] for e in entries}) == 3
    assert all("maj_at_k" in e and "pass_hat_k" in e for e in entries)


@pytest.mark.slow
def test_refusal_names_every_differing_field(tmp_path: Path) -> None:
    out_dir = str(tmp_path / "d")
    assert cli(*RUN, "--k", "1", "--limit", "3", "--out", out_dir)[0] == 0
    code, out = cli(*RUN, "--k", "1", "--limit", "3", "--out", out_dir, "--temperature", "0.5", "--seed", "2")
    one_line_error(code, out)
    assert "sampling.temperature (1.0 there, 0.5 now)" in out and "seed (0 there, 2 now)" in out


def test_maj_hidden_for_code(tmp_path: Path) -> None:
    run = make_run(tmp_path / "code", [[True, False, True]] * 4, benchmark="humaneval")
    row = json.loads(cli("compare", str(run), "--format", "json")[1])["benchmarks"][0]["runs"][0]
    assert "maj_at_k" not in row and "pass_hat_k" in row


# -- statistics said plainly -------------------------------------------------------------------------
@pytest.mark.slow
def test_one_interval_per_run_everywhere(tmp_path: Path) -> None:
    out_dir = tmp_path / "d"
    assert cli(*RUN, "--k", "1,4", "--limit", "30", "--seed", "3", "--out", str(out_dir))[0] == 0
    m = metrics(out_dir)
    row = json.loads(cli("compare", str(out_dir), "--k", "1,4", "--format", "json")[1])["benchmarks"][0]["runs"][0]
    code, _ = cli("export", str(out_dir), "--out", str(tmp_path / "lb.json"), "--k", "1,4", "--allow-partial")
    entry = json.loads((tmp_path / "lb.json").read_text())["entries"][0]
    for k in ("1", "4"):
        assert m["ci95"][k] == row["pass_at_k"][k]["ci95"] == entry["pass_at_k"][k]["ci95"]
    assert m["maj_at_k"]["1"] == pytest.approx(m["pass_at_k"]["1"], abs=1e-12)


def test_compare_and_gate_name_the_test(tmp_path: Path) -> None:
    a = make_run(tmp_path / "a", [[True] * 8] * 30, model="a")
    b = make_run(tmp_path / "b", [[False] * 8] * 30, model="b", seed=1)
    text = cli("compare", str(a), str(b))[1]
    assert "paired bootstrap over problems, 2000 resamples, two-sided" in text
    assert "settings of b vs a: seed: 0 vs 1" in text
    code, out = cli("gate", "--baseline", str(a), "--candidate", str(b))
    assert code == 1 and "p < 1/2001 (the floor of 2000 resamples)" in out and "paired bootstrap" in out


# -- the Python API --------------------------------------------------------------------------------
@pytest.mark.slow
def test_python_api_evaluate_and_score(tmp_path: Path) -> None:
    result = evalkit.evaluate("tiny-arith", "arith", ks=(1, 2), limit=6, backend="hf", max_tokens=12)
    assert result.run_dir is None and list(result.grades) == [f"arith/{i}" for i in range(6)]
    assert all(len(g) == 2 for g in result.grades.values())
    assert result.metrics["pass_at_k"]["1"] == pytest.approx(sum(g.correct for row in result.grades.values() for g in row) / 12)
    rows = arith_rows()[:3]
    scored = evalkit.score("arith", {r["id"]: [f"\\boxed{{{r['answer']}}}", "\\boxed{-1}"] for r in rows}, ks=(1, 2), out=tmp_path / "s")
    assert scored.metrics["pass_at_k"] == {"1": 0.5, "2": 1.0} and scored.run_dir == tmp_path / "s"
    assert [g.correct for g in scored.grades["arith/0"]] == [True, False]
    with pytest.raises(evalkit.EvalkitError) as e:
        evalkit.evaluate("tiny-arith", "arith", ks=(1, 8), n=4, backend="hf")
    assert "--" not in str(e.value) and "n to at least 8" in str(e.value)


@pytest.mark.slow
def test_readme_python_example_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's first ```python block, executed as a user would paste it."""
    import contextlib
    import io
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = re.search(r"## Python API\n\n```python\n(.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block, "README.md", "exec"), {})
    assert "{'1': 0.5, '2': 1.0}" in printed.getvalue()
