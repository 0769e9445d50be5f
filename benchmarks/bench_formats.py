"""Reading other harnesses' samples files, and exporting to lm-eval / Every Eval Ever, at the size users run,
side by side with evalkit's own format (the baseline every other row is a ratio of).

    EVALKIT_DATA_DIR=../shared/data python benchmarks/bench_formats.py [--problems 500] [--n 200] [--size 1000] [--keep DIR]

One workload (MATH-500 problems x n samples of ~size bytes, bench_scale.py's completions) written in
every format as its tool writes it: evalkit JSONL, lm-eval samples (two filters: each doc twice), lighteval
details parquet, Qwen2.5-Math output, SkyThought results.json. "read" is what `evalkit score` does to the
file before grading: detect the format, the first pass (check, count, hash) and the second (every
completion, with its problem found by id or question), in its own process; peak RSS over the process.
Then the file in evalkit's format is scored once (grading included) and the run exported three ways.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import completions, measure  # noqa: E402


def by_problem(rows: list[dict], n: int, size: int) -> list[list[str]]:
    texts: list[list[str]] = [[] for _ in rows]
    for pid, text in completions(rows, n, size, 0):
        texts[int(pid.split("/")[1])].append(text)
    return texts


def write_all(work: Path, rows: list[dict], texts: list[list[str]]) -> dict[str, Path]:
    files = {"evalkit": work / "evalkit.jsonl", "lm-eval": work / "samples_minerva_math500_2025-01-01T00-00-00.jsonl",
             "lighteval": work / "details_lighteval|math_500|0_2025-01-01T00-00-00.parquet", "qwen-math": work / "qwen.jsonl",
             "skythought": work / "results.json"}
    with open(files["evalkit"], "w") as f:
        for i, ts in enumerate(texts):
            f.writelines(json.dumps({"problem_id": f"math500/{i}", "completion": t}) + "\n" for t in ts)
    with open(files["lm-eval"], "w") as f:
        for flt in ("none", "maj@n"):
            for i, (row, ts) in enumerate(zip(rows, texts)):
                doc = {"problem": row["problem"], "solution": row["solution"], "answer": row["answer"]}
                f.write(json.dumps({"doc_id": i, "doc": doc, "target": row["answer"], "arguments": {"gen_args_0": {"arg_0": row["problem"], "arg_1": "{}"}},
                                    "resps": [ts], "filtered_resps": [ts[0]], "filter": flt, "metrics": ["exact_match"], "exact_match": 0.0}) + "\n")
    with open(files["qwen-math"], "w") as f:
        for i, (row, ts) in enumerate(zip(rows, texts)):
            f.write(json.dumps({"idx": i, "question": row["problem"], "gt": row["answer"], "code": ts, "pred": [""] * len(ts)}) + "\n")
    files["skythought"].write_text(json.dumps({str(i): {**row, "_index": str(i), "responses": [{"content": t, "correctness": None} for t in ts]}
                                               for i, (row, ts) in enumerate(zip(rows, texts))}, indent=4))
    import pyarrow as pa
    import pyarrow.parquet as pq

    docs = [{"query": f"Solve the following problem.\n\n{row['problem']}", "id": str(i), "choices": [row["answer"]], "gold_index": 0}
            for i, row in enumerate(rows)]
    pq.write_table(pa.Table.from_pylist([{"doc": d, "metric": {"acc": 0.0}, "model_response": {"text": ts, "input": d["query"]}}
                                         for d, ts in zip(docs, texts)]), files["lighteval"])
    return files


def read_only(path: str, fmt: str, data: str) -> None:
    """Child process: what `score` does to the file before grading."""
    from evalkit.adapters.loading import load
    from evalkit.formats import detect
    from evalkit.samples_file import ProblemMatcher, completions as stream, scan

    loaded = load("math500", data)
    matcher = ProblemMatcher("math500", loaded.problems)
    f = detect(path, None)
    assert f.name == fmt, (f.name, fmt)
    found = scan(path, matcher, f)
    count = sum(1 for _ in stream(found, matcher, f))
    assert count == sum(found.counts.values())


def timed(argv: list[str], src: Path) -> tuple[float, float, int]:
    return measure(argv, src)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=500)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--keep", default=None)
    ap.add_argument("--read", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.read:
        return read_only(*args.read)
    src = Path(__file__).resolve().parents[1]
    data = str(Path(os.environ["EVALKIT_DATA_DIR"]) / "math500.jsonl")
    rows = [json.loads(line) for line in Path(data).read_text().splitlines()][: args.problems]
    work = Path(args.keep or tempfile.mkdtemp(prefix="bench-formats-"))
    work.mkdir(parents=True, exist_ok=True)
    total = len(rows) * args.n
    files = write_all(work, rows, by_problem(rows, args.n, args.size))
    print(f"== {len(rows)} problems x {args.n} samples of ~{args.size} bytes = {total:,} samples ==", flush=True)
    results = {}
    for fmt, path in files.items():
        results[fmt] = _child_read(path, fmt, data, src)
        base = results["evalkit"]
        print(f"read {fmt:<11} {path.stat().st_size / 2**20:7.1f} MiB  {results[fmt][0]:6.1f} s  {total / results[fmt][0]:8.0f} samples/s  "
              f"peak {results[fmt][1]:.2f} GiB   | vs evalkit format: time x{results[fmt][0] / base[0]:.2f}, memory x{results[fmt][1] / base[1]:.2f}",
              flush=True)
    exports(work, files["evalkit"], data, src, total, ",".join(str(k) for k in (1, 8) if k <= args.n))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def _child_read(path: Path, fmt: str, data: str, src: Path) -> tuple[float, float, int]:
    import subprocess

    from bench_scale import peak_rss

    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--read", str(path), fmt, data], env={**os.environ, "PYTHONPATH": str(src)})
    with peak_rss(proc) as peak:
        proc.wait()
    return time.perf_counter() - t0, peak[0] / 2**30, proc.returncode


def exports(work: Path, samples: Path, data: str, src: Path, total: int, ks: str) -> None:
    """score, then each export format, at k = ks (1 and 8 where n allows)."""
    run = work / "run"
    shutil.rmtree(run, ignore_errors=True)
    t = timed(["score", "--bench", "math500", "--data", data, "--samples", str(samples), "--k", ks, "--out", str(run), "--model", "Org/Model"], src)
    print(f"score (evalkit format, grading included) {t[0]:6.1f} s  peak {t[1]:.2f} GiB", flush=True)
    base = None
    for fmt, out in (("leaderboard", work / "lb.json"), ("lm-eval", work / "lm"), ("every-eval-ever", work / "eee")):
        r = timed(["export", str(run), "--format", fmt, "--out", str(out), "--k", ks, "--allow-partial"], src)
        base = base or r
        size = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file()) if Path(out).is_dir() else Path(out).stat().st_size
        print(f"export {fmt:<16} {r[0]:6.1f} s  {total / r[0]:8.0f} samples/s  peak {r[1]:.2f} GiB  wrote {size / 2**20:7.1f} MiB"
              f"   | vs leaderboard: time x{r[0] / base[0]:.2f}, memory x{r[1] / base[1]:.2f}" + ("" if r[2] == 0 else "  (FAILED)"), flush=True)


if __name__ == "__main__":
    main()
