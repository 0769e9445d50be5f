"""table.parquet on real runs: ToRA-70B and ToRA-Code-34B's recorded GSM8K generations and Qwen2.5-Math's
100 x 8 MATH generations (split into two 4-sample checkpoints), scored through the CLI, one of them
audited. Every reading command's output is the same byte for byte whether the table is absent
(EVALKIT_TABLE=off: the JSONL files only), present, or deleted and rebuilt; and pandas, polars and
DuckDB read the tables of all runs at once and get metrics.json's pass@1 per checkpoint."""

from __future__ import annotations

import base64
import gzip
import json
import re
from pathlib import Path

import pytest

from evalkit.scoring.table_file import TABLE
from rundirs import cli_result

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, eval_dir, data_dir) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("real")
    out: dict[str, Path] = {}
    for name in ("tora-70b-v1.0", "tora-code-34b-v1.0"):
        samples = root / f"{name}.jsonl"
        samples.write_text("".join(json.dumps({"problem_id": f"gsm8k/{r['idx']}", "completion": r["code"][0]}) + "\n"
                                   for r in _rows(eval_dir / f"tora_{name}_gsm8k_greedy.jsonl")))
        out[name] = root / "gsm8k" / name
        code, text = cli_result("score", "--bench", "gsm8k", "--data", str(data_dir / "gsm8k_test.jsonl"), "--samples", str(samples),
                                "--k", "1", "--out", str(out[name]), "--model", name)
        assert code == 0, text
    qwen = _rows(eval_dir / "qwen25math_math_cot_100_n8_rm.jsonl")
    bench = root / "math100.jsonl"
    bench.write_text("".join(json.dumps({"problem": r["question"], "answer": r["answer"], "unique_id": f"math/{r['idx']}"}) + "\n" for r in qwen))
    for half, name in enumerate(("qwen-a", "qwen-b")):
        samples = root / f"{name}.jsonl"
        samples.write_text("".join(json.dumps({"problem_id": f"math/{r['idx']}", "completions": r["code"][4 * half: 4 * half + 4]}) + "\n"
                                   for r in qwen))
        out[name] = root / "math" / name
        code, text = cli_result("score", "--bench", "math500", "--data", str(bench), "--samples", str(samples), "--k", "1,4",
                                "--out", str(out[name]), "--model", name, "--allow-unknown-data")
        assert code == 0, text
    code, text = cli_result("audit", str(out["qwen-a"]), "--data", str(bench))
    assert code == 0, text
    return out


def _normalized(text: str) -> str:
    """A view page's data with its creation time removed (the one field that differs between builds)."""
    payload = re.search(r'<script id="evalkit-data"[^>]*>([^<]+)</script>', text)
    data = json.loads(gzip.decompress(base64.b64decode(payload.group(1))))
    data.pop("generated")
    return text.replace(payload.group(1), "") + json.dumps(data, sort_keys=True)


def outputs(runs: dict[str, Path], tmp: Path) -> dict[str, str]:
    """Every reading command's stdout and files, over the real runs."""
    gsm, math = [str(runs[k]) for k in ("tora-70b-v1.0", "tora-code-34b-v1.0")], [str(runs[k]) for k in ("qwen-a", "qwen-b")]
    got: dict[str, str] = {}
    for fmt in ("table", "json", "csv"):
        for name, dirs in (("gsm8k", gsm), ("math", math)):
            got[f"compare {name} {fmt}"] = cli_result("compare", *dirs, "--format", fmt)[1]
    got["compare k"] = cli_result("compare", *math, "--k", "1,2,4", "--format", "markdown")[1]
    for metric in ("pass@1", "pass@4", "maj@4", "pass@1:any", "pass^2:second"):
        code, text = cli_result("gate", "--baseline", math[0], "--candidate", math[1], "--metric", metric, "--max-drop", "0.01",
                                "--json", str(tmp / "gate.json"))
        got[f"gate {metric}"] = f"{code}\n{text}\n{(tmp / 'gate.json').read_text()}"
    got["gate gsm8k"] = "\n".join(map(str, cli_result("gate", "--baseline", gsm[0], "--candidate", gsm[1])))
    board = tmp / "board.json"
    board.unlink(missing_ok=True)
    got["export"] = cli_result("export", *gsm, *math, "--out", str(board), "--allow-partial")[1] + board.read_text()
    got["audit"] = cli_result("audit", math[0])[1]
    for name, dirs in (("gsm8k", gsm), ("math", math)):
        page = tmp / f"{name}.html"
        code, text = cli_result("view", *dirs, "--out", str(page))
        got[f"view {name}"] = text + _normalized(page.read_text())
    return got


def test_outputs_identical_with_and_without_the_table(runs, tmp_path, monkeypatch):
    from evalkit.scoring import table as table_mod

    for run in runs.values():
        assert (run / TABLE).exists()  # written when grading finished
    streamed = outputs(runs, tmp_path)  # runs this small are streamed, their tables kept current
    monkeypatch.setattr(table_mod, "SMALL_GRADES", 0)  # from here on the tables are read
    present = outputs(runs, tmp_path)
    for run in runs.values():
        (run / TABLE).unlink()
    rebuilt = outputs(runs, tmp_path)  # the first command rebuilds each table
    assert all((run / TABLE).exists() for run in runs.values())
    monkeypatch.setenv("EVALKIT_TABLE", "off")
    jsonl = outputs(runs, tmp_path)
    assert set(present) == set(jsonl)
    for key in jsonl:
        assert present[key] == jsonl[key], key
        assert rebuilt[key] == jsonl[key], key
        assert streamed[key] == jsonl[key], key
    assert '"audit"' in present["compare math json"] and "agreement" in present["audit"]


def _metrics_pass1(runs: dict[str, Path]) -> dict[str, float]:
    return {str(run / TABLE): json.loads((run / "metrics.json").read_text())["pass_at_k"]["1"] for run in runs.values()}


def test_duckdb_pandas_polars_read_every_run(runs):
    """The docs' three examples: pass@1 per checkpoint, across all runs at once, as metrics.json has it."""
    import duckdb
    import pandas as pd
    import polars as pl

    root = next(iter(runs.values())).parent.parent
    want = _metrics_pass1(runs)
    rows = duckdb.sql(f"""
        SELECT filename, avg(p) FROM (
            SELECT filename, problem_id, avg(correct::INT) AS p FROM read_parquet('{root}/**/table.parquet', filename = true) GROUP BY ALL
        ) GROUP BY filename""").fetchall()
    assert dict(rows) == pytest.approx(want, abs=1e-12) and len(rows) == 4

    frames = {str(p): pd.read_parquet(p) for p in root.glob("**/table.parquet")}
    df = pd.concat(frames, names=["run"]).reset_index(level=0)
    per_run = df.groupby(["run", "problem_id"], observed=True).correct.mean().groupby("run").mean()
    assert per_run.to_dict() == pytest.approx(want, abs=1e-12)

    pl_df = pl.read_parquet(f"{root}/**/table.parquet", include_file_paths="run")
    per_run_pl = pl_df.group_by("run", "problem_id").agg(pl.col("correct").mean()).group_by("run").agg(pl.col("correct").mean())
    assert dict(per_run_pl.iter_rows()) == pytest.approx(want, abs=1e-12)


def test_audited_run_holds_both_verdicts(runs):
    """The second grader's verdicts are in the table, as audit.jsonl has them (a later line wins)."""
    import pyarrow.parquet as pq

    run = runs["qwen-a"]
    table = {(r["problem_id"], r["sample_index"]): r for r in pq.read_table(run / TABLE).to_pylist()}
    verdicts = {}
    for rec in _rows(run / "audit.jsonl")[1:]:
        if "sample_index" in rec:
            verdicts[rec["problem_id"], rec["sample_index"]] = (rec["correct"], rec["status"])
    assert verdicts and {k: (r["second_correct"], r["second_status"]) for k, r in table.items()} == verdicts
    assert all(r["second_correct"] is None for r in pq.read_table(runs["qwen-b"] / TABLE).to_pylist())
