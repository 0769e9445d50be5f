"""The second math grader (evalkit/verify/math/second.py) against the primary MathVerifier.

    EVALKIT_DATA_DIR=../shared/data python benchmarks/bench_second_grader.py [--problems 500] [--n 64] [--workers N]
    EVALKIT_DATA_DIR=../shared/data python benchmarks/bench_second_grader.py --fidelity [--show 40]

Default: wall time of both graders, in the same run, on bench_math_verify.py's MATH-500 x 64
workload (real solutions as bodies, the gold in several spellings, wrong answers, no answer,
token-limit cut-offs), with their agreement. --fidelity: both graders on the recorded generations
in ../shared/eval (Qwen2.5-Math MATH 100x8, SkyThought greedy) and on verifier_pairs.jsonl; prints
each disagreement class (primary correct / second wrong and the reverse, with both statuses) with
counts, accuracy against the stored labels, and the disagreeing samples for reading by hand.
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

from evalkit.types import Problem, Sample
from evalkit.verify.math import MathVerifier
from evalkit.verify.math.second import SecondGrader


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _math_workload(rows: list[dict], n: int):
    spec = importlib.util.spec_from_file_location("bench_math_verify", Path(__file__).with_name("bench_math_verify.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.workload(rows, n)


def speed(data_dir: Path, problems: int, n: int, workers: int | None) -> None:
    rows = read_jsonl(data_dir / "math500.jsonl")[:problems]
    items = _math_workload(rows, n)
    start = time.perf_counter()
    verifier = MathVerifier(workers=workers)
    try:
        primary = {(g.problem_id, g.sample_index): g for g in verifier.grade((p, s) for p, s, _ in items)}
    finally:
        verifier.close()
    primary_s = time.perf_counter() - start
    start = time.perf_counter()
    with SecondGrader(workers=workers) as grader:
        second = grader.grade((p.answer or "", s.completion, s.finish_reason) for p, s, _ in items)
    second_s = time.perf_counter() - start
    keys = [(s.problem_id, s.sample_index) for _, s, _ in items]
    classes = Counter(_class(primary[k], g) for k, g in zip(keys, second) if primary[k].correct != g.correct)
    print(f"{len(items)} samples ({problems} problems x {n}), {workers or os.cpu_count()} workers")
    print(f"primary MathVerifier: {primary_s:.1f} s   second grader: {second_s:.1f} s   ratio second/primary: {second_s / primary_s:.2f}")
    print(f"agreement {1 - sum(classes.values()) / len(items):.4f}; disagreements by class: {dict(classes)}")
    for (p, s, kind), g in zip(items, second):
        k = (s.problem_id, s.sample_index)
        if primary[k].correct != g.correct and s.sample_index < 64:
            print(f"  {kind:24} gold {p.answer!r:28} primary {primary[k].status}:{primary[k].answer!r:28} second {g.status}:{g.answer!r}")


def _class(primary, second) -> str:
    side = "primary correct / second not" if primary.correct else "second correct / primary not"
    return f"{side} ({primary.status} / {second.status})"


def _sources(eval_dir: Path) -> dict[str, list[tuple[str, int, str, str, bool]]]:
    """name -> [(problem id, sample index, gold, completion, stored label)]."""
    qwen = [(str(r["idx"]), i, r["answer"], c, r["score"][i]) for r in read_jsonl(eval_dir / "qwen25math_math_cot_100_n8_rm.jsonl")
            for i, c in enumerate(r["code"])]  # fmt: skip
    sky = []
    for path in sorted(glob.glob(str(eval_dir / "skythought_qwen25math_harness_greedy" / "*.jsonl"))):
        name = Path(path).stem
        sky += [(f"{name}#{r['idx']}", 0, str(r["answer"]), r["code"][0], r["score"][0]) for r in read_jsonl(Path(path))]
    pairs = [(str(r["id"]), 0, r["gold"], r["pred"], r["equal"]) for r in read_jsonl(eval_dir / "verifier_pairs.jsonl")]
    return {"qwen25math_math_cot_100_n8": qwen, "skythought_greedy (5 models x MATH-500/AIME24/AMC23)": sky, "verifier_pairs": pairs}


def fidelity(eval_dir: Path, show: int) -> None:
    for name, rows in _sources(eval_dir).items():
        verifier = MathVerifier(time_limit=3.0)
        try:
            if name == "verifier_pairs":  # each pred as an answer, as tests/test_math_verifier.py grades them
                primary = {(rows[i][0], 0): g for i, g in verifier.check((r[2], r[3]) for r in rows)}
            else:
                items = ((Problem(id=p, prompt="", answer=gold), Sample(p, i, None, c)) for p, i, gold, c, _ in rows)
                primary = {(g.problem_id, g.sample_index): g for g in verifier.grade(items)}
        finally:
            verifier.close()
        with SecondGrader(time_limit=3.0) as grader:
            second = grader.grade((gold, c, "stop") for _, _, gold, c, _ in rows)
        _report(name, rows, primary, second, show)


def _report(name, rows, primary, second, show: int) -> None:
    n = len(rows)
    flags = [(r, g) for r, g in zip(rows, second) if primary[r[0], r[1]].correct != g.correct]
    primary_right = sum(primary[r[0], r[1]].correct == r[4] for r in rows)
    second_right = sum(g.correct == r[4] for r, g in zip(rows, second))
    caught = sum(primary[r[0], r[1]].correct != r[4] for r, _ in flags)
    print(f"\n== {name}: {n} samples; agreement {1 - len(flags) / n:.4f} ({len(flags)} disagreements)")
    print(f"   agree with the stored labels: primary {primary_right}/{n}, second {second_right}/{n}; "
          f"disagreements where the label says the primary is wrong: {caught}/{len(flags)} "
          f"(of {n - primary_right} primary mistakes by the labels)")  # fmt: skip
    for cls, count in Counter(_class(primary[r[0], r[1]], g) for r, g in flags).most_common():
        print(f"   {count:4}  {cls}")
    for r, g in flags[:show]:
        p = primary[r[0], r[1]]
        print(f"   {r[0]}[{r[1]}] label {int(r[4])} gold {r[2][:40]!r} | primary {int(p.correct)} {p.answer!r:.50} | second {int(g.correct)} {g.answer!r:.50}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", type=int, default=500)
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--fidelity", action="store_true")
    parser.add_argument("--show", type=int, default=40)
    args = parser.parse_args()
    data = os.environ.get("EVALKIT_DATA_DIR")
    if not data or not Path(data).is_dir():
        sys.exit("error: EVALKIT_DATA_DIR is not set; point it at ../shared/data")
    if args.fidelity:
        fidelity(Path(data).parent / "eval", args.show)
    else:
        speed(Path(data), args.problems, args.n, args.workers)


if __name__ == "__main__":
    main()
