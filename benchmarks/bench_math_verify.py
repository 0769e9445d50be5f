"""Wall time of evalkit's math verifier on a MATH-500 x 64 workload, against a naive loop that calls
math-verify's parse + verify on every sample (what most harnesses do).

    EVALKIT_DATA_DIR=../shared/data python benchmarks/bench_math_verify.py [--problems 500] [--n 64]
        [--naive-fraction 1.0] [--workers N] [--pathological]

The workload is realistic for n=64: per problem a handful of distinct final answers with skewed
frequencies, among them the gold as written, the gold in other spellings (\\dfrac, spacing, an
anchored "Final Answer:" line, x = ..., 2n/2), wrong answers (off by one, another problem's
answer), responses without an answer, cut off at the token limit, or with an unclosed <think>.
Bodies are the problem's real MATH solution with its boxes removed. Prints both times, the ratio,
and every verdict on which the two disagree, with the reason. --naive-fraction < 1 times the
naive loop on a seeded subset and scales its time up (printed as "extrapolated").
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import resource
import sys
import time
from collections import Counter
from pathlib import Path

from evalkit.types import Problem, Sample
from evalkit.verify.math import MathVerifier


def variants(gold: str, other: str, rng: random.Random) -> list[tuple[str, str, str]]:
    """(answer text appended to the body, finish_reason, kind) candidates for one problem."""
    boxed = lambda a: f"Therefore, the final answer is $\\boxed{{{a}}}$."  # noqa: E731
    out = [
        (boxed(gold), "stop", "gold"),
        (boxed(gold.replace("\\frac", "\\dfrac").replace(",", ", ")), "stop", "respelled"),
        (f"Final Answer: The final answer is ${gold}$. I hope it is correct.", "stop", "anchored"),
        (boxed(other), "stop", "other problem's answer"),
        ("I am not sure how to finish this.\nLet me stop here.\nSorry.", "stop", "no answer"),
        ("Let me compute the last term: $\\boxed{", "length", "token limit"),
    ]
    if re.fullmatch(r"-?\d+", gold):
        n = int(gold)
        out += [(boxed(f"\\frac{{{2 * n}}}{{2}}"), "stop", "2n/2"), (boxed(str(n + 1)), "stop", "off by one"),
                (boxed(str(n - 1)), "stop", "off by one")]
    elif "=" not in gold and "," not in gold:
        out.append((boxed(f"x = {gold}"), "stop", "x = gold"))
    return out


def workload(rows: list[dict], n: int, seed: int = 0) -> list[tuple[Problem, Sample, str]]:
    rng = random.Random(seed)
    items = []
    for i, row in enumerate(rows):
        problem = Problem(id=row["unique_id"], prompt=row["problem"], answer=row["answer"])
        body = row["solution"].replace("\\boxed", "\\mathbf")
        cands = variants(row["answer"], rows[rng.randrange(len(rows))]["answer"], rng)
        picked = [cands[0]] + rng.sample(cands[1:], k=min(4, len(cands) - 1))
        weights = [20, 4, 3, 2, 1][: len(picked)]
        think = rng.random() < 0.05  # a few problems where one sample never closes its <think>
        for j in range(n):
            text, finish, kind = rng.choices(picked, weights)[0]
            completion = f"{body}\n\n{text}"
            if think and j == 0:
                completion, kind = "<think>\n" + body, "unclosed think"
            sample = Sample(problem.id, j, None, completion, finish_reason=finish)
            items.append((problem, sample, kind))
    return items


PATHOLOGICAL = [
    "10^{10^{10^{10}}}",
    "9^{9^{9^{9^{9}}}}",
    "x^{40}+40x^{39}+" + "+".join(f"{k}x^{{{k}}}" for k in range(38, 0, -1)),
    "1+" * 500_000 + "1",  # a megabyte answer
    "{" * 100_000 + "1" + "}" * 100_000,
]


def pathological_run(time_limit: float, workers: int | None) -> None:
    """Answers that hang or exhaust sympy: the run must end within about len/workers x the limit."""
    problem = Problem(id="p", prompt="", answer="(x+1)^{40}")
    items = [(problem, Sample("p", i, None, f"\\boxed{{{a}}}")) for i, a in enumerate(PATHOLOGICAL)]
    t0 = time.perf_counter()
    verifier = MathVerifier(time_limit=time_limit, workers=workers)
    statuses = Counter(g.status for g in verifier.grade(items))
    verifier.close()
    print(f"pathological: {len(items)} answers in {time.perf_counter() - t0:.2f} s with a {time_limit:g} s limit "
          f"on {verifier.pool.workers} workers; statuses {dict(statuses)}")


def naive_grade(items) -> dict[tuple[str, int], bool]:
    """The loop most harnesses run: parse gold and response with math-verify, verify, per sample."""
    from math_verify import parse, verify

    out = {}
    for problem, sample, _ in items:
        gold = parse(f"${problem.answer}$")
        out[(sample.problem_id, sample.sample_index)] = verify(gold, parse(sample.completion))
    return out


def cpu_seconds() -> float:
    """User + system CPU of this process and its reaped workers: a figure that a busy machine does not skew."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=500)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--naive-fraction", type=float, default=1.0)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--pathological", action="store_true", help="also time a run of answers that hang sympy")
    args = ap.parse_args()
    if args.pathological:
        pathological_run(5.0, args.workers)
    data = Path(os.environ.get("EVALKIT_DATA_DIR", "../shared/data")) / "math500.jsonl"
    if not data.is_file():
        sys.exit(f"error: {data} not found; set EVALKIT_DATA_DIR to the shared benchmark data")
    rows = [json.loads(line) for line in data.read_text().splitlines()][: args.problems]
    items = workload(rows, args.n)
    print(f"workload: {len(rows)} problems x {args.n} samples = {len(items)}; kinds {dict(Counter(k for *_, k in items))}")

    t0, cpu0 = time.perf_counter(), cpu_seconds()
    verifier = MathVerifier(workers=args.workers)
    grades = {(g.problem_id, g.sample_index): g for g in verifier.grade((p, s) for p, s, _ in items)}
    verifier.close()
    ours, ours_cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    print(f"evalkit: {ours:.2f} s wall, {ours_cpu:.2f} s CPU (parent + workers) on {verifier.pool.workers} workers; "
          f"statuses {dict(Counter(g.status for g in grades.values()))}")

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    subset = items if args.naive_fraction >= 1 else random.Random(1).sample(items, int(len(items) * args.naive_fraction))
    t0, cpu0 = time.perf_counter(), cpu_seconds()
    naive = naive_grade(subset)
    scale = len(items) / len(subset)
    naive_s, naive_cpu = (time.perf_counter() - t0) * scale, (cpu_seconds() - cpu0) * scale
    label = "" if len(subset) == len(items) else f" (extrapolated from {len(subset)} samples)"
    print(f"naive math-verify loop: {naive_s:.2f} s wall, {naive_cpu:.2f} s CPU{label}")
    print(f"ratio: {naive_s / ours:.1f}x wall, {naive_cpu / ours_cpu:.1f}x CPU")

    kinds = {(p.id, s.sample_index): k for p, s, k in subset}
    differ = Counter((kinds[key], grades[key].status, ok) for key, ok in naive.items() if ok != grades[key].correct)
    print(f"differing verdicts: {sum(differ.values())} of {len(naive)}")
    for (kind, status, ok), count in differ.most_common():
        print(f"  {count:6d}  {kind:24s} evalkit {status:10s} naive {'correct' if ok else 'wrong'}")


if __name__ == "__main__":
    main()
