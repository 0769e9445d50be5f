"""Wall time of evalkit's math verifier on MATH-500 x 64 completions, against the naive loop most
harnesses run (math-verify's parse(gold) + parse(completion) + verify, per sample), in the same run.

    EVALKIT_DATA_DIR=../shared/data python benchmarks/bench_math_verify.py [--problems 500] [--n 64]
        [--seeds 0,1,2] [--many 20] [--reasoning solution|prose] [--naive-fraction 1.0] [--workers N]
        [--pathological] [--check-parser]

The workload has the answer diversity of real generations, drawn with a seeded generator that knows
nothing of the verifier: per problem a handful (2-8) of distinct final answers with Zipf frequencies -
the gold as written; equivalent rewrites (`5.0`, `\\frac{10}{2}`, `\\dfrac`, `a/b`, thin spaces, a leading
`+`, braces, `\\left(...\\right)`); wrong integers; other problems' answers; small fractions - after about
1 KB of reasoning (the problem's MATH solution, boxes unboxed, padded with prose; or prose alone, which
math-verify scans faster); 3% state the answer without a box, 3% are cut mid-reasoning at the token
limit. It runs at each seed, then once with `--many` distinct answers per problem; evalkit and the loop
each run in a fresh process. Each line prints both times (wall and CPU), the ratios, the distinct
(problem, answer) pairs, and every sample the naive loop grades correct but evalkit does not, with the
reason. --pathological times answers that hang sympy; --check-parser compares the workers' SLL-first
parses with latex2sympy's own on every answer string of the shared data and recorded generations.
--naive-fraction < 1 times the naive loop on a seeded subset of the problems (all their samples, in
order) and scales its time up ("extrapolated").
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import random
import re
import resource
import sys
import time
import warnings
from collections import Counter
from fractions import Fraction
from math import gcd
from pathlib import Path

from evalkit.types import Problem, Sample
from evalkit.verify.math import MathVerifier
from evalkit.verify.math.extract import extract_answer

FILLER = (
    "Let me double-check each step of this computation before stating the result.",
    "Substituting the value back into the original condition confirms that it is consistent.",
    "Each of the cases above has been considered, and no other case is possible here.",
    "We should also make sure that no arithmetic slip was made in the intermediate steps.",
    "Rewriting the expression in a different order gives the same value, as expected.",
    "This agrees with a quick estimate of the size of the answer, so it is plausible.",
)
_INT = re.compile(r"-?\d+")
_FRAC = re.compile(r"(-?)\\[dt]?frac\s*\{?(\d+)\}?\s*\{?(\d+)\}?")


def respellings(gold: str) -> list[str]:
    """Spellings of the gold that every grader should accept: what models actually write."""
    out = [gold.replace("\\frac", "\\dfrac"), "{" + gold + "}", gold.replace(",", ",\\,").replace(" ", "\\,"),
           gold.replace(" ", ""), re.sub(r"([+\-=])", r" \1 ", gold)]
    if not gold.startswith(("-", "(", "[", "\\{", "\\text", "\\begin")):
        out.append("+" + gold)
    if gold.startswith("(") and gold.endswith(")"):
        out.append("\\left" + gold[:-1] + "\\right)")
    if _INT.fullmatch(gold):
        n = int(gold)
        out += [f"{n}.0", f"{n}.00", f"\\frac{{{2 * n}}}{{2}}", f"\\dfrac{{{3 * n}}}{{3}}"]
        if abs(n) >= 1000:
            out += [f"{n:,}", f"{n:,}".replace(",", ",\\!")]
    m = _FRAC.fullmatch(gold)
    if m:
        sign, p, q = m.group(1), int(m.group(2)), int(m.group(3))
        out += [f"{sign}{p}/{q}", f"{sign}\\frac{{{2 * p}}}{{{2 * q}}}", f"{sign}\\frac{p}{q}" if p < 10 and q < 10 else f"{sign}{p}/{q}"]
        value = Fraction(p, q)
        if q and all(f in (2, 5) for f in _prime_factors(value.denominator)) and len(str(float(value))) <= 8:
            out.append(sign + str(float(value)).rstrip("0").rstrip("."))
    return list(dict.fromkeys(a for a in out if a != gold))


def _prime_factors(n: int) -> set[int]:
    found, d = set(), 2
    while d * d <= n:
        while n % d == 0:
            found.add(d)
            n //= d
        d += 1
    return found | ({n} if n > 1 else set())


def wrong_integer(gold: str, rng: random.Random) -> str:
    if _INT.fullmatch(gold):
        n = int(gold)
        return str(rng.choice([n + 1, n - 1, n + 2, 2 * n, n + 10, n // 2, rng.randint(0, 2 * abs(n) + 10)]))
    return str(rng.randint(0, 100))


def small_fraction(rng: random.Random) -> str:
    q = rng.randint(2, 12)
    p = rng.randint(1, q - 1) if rng.random() < 0.8 else rng.randint(q + 1, 3 * q)
    return f"{'-' if rng.random() < 0.1 else ''}\\frac{{{p}}}{{{q}}}" if gcd(p, q) == 1 or rng.random() < 0.3 else f"\\frac{{{p}}}{{{q + 1}}}"


def answer_set(gold: str, golds: list[str], rng: random.Random, distinct: int) -> list[tuple[str, str]]:
    """`distinct` (answer, kind) pairs for one problem, most frequent first."""
    rewrites = respellings(gold)
    rng.shuffle(rewrites)
    chosen: dict[str, str] = {gold: "gold"} if rng.random() < 0.9 else {}  # some problems nobody solves
    for _ in range(50 * distinct):
        if len(chosen) >= distinct:
            break
        kind = rng.choices(["rewrite", "wrong integer", "other problem", "small fraction"], [35, 30, 15, 20])[0]
        if kind == "rewrite":
            if not rewrites:
                continue
            answer = rewrites.pop()
        elif kind == "wrong integer":
            answer = wrong_integer(gold, rng)
        elif kind == "other problem":
            answer = rng.choice(golds)
        else:
            answer = small_fraction(rng)
        chosen.setdefault(answer, kind)
    ranked = list(chosen.items())
    rng.shuffle(ranked)
    if "gold" in chosen.values() and rng.random() < 0.6:  # most problems: the gold is the modal answer
        ranked.sort(key=lambda a: a[1] != "gold")
    return ranked


def reasoning(row: dict, rng: random.Random, style: str) -> str:
    """About 1 KB: the problem's MATH solution with its boxes removed, padded with checking prose
    (style "solution"), or checking prose alone (style "prose": cheaper for math-verify to scan)."""
    text = row["solution"].replace("\\boxed", "") if style == "solution" else rng.choice(FILLER)
    target = rng.randint(800, 1300)
    while len(text) < target:
        text += " " + rng.choice(FILLER)
    return text[: max(target, len(row["solution"]) if style == "solution" else 0)]


def completion(body: str, answer: str, rng: random.Random) -> tuple[str, str, str]:
    """(text, finish_reason, style): boxed in one of several phrasings, unboxed, or cut mid-reasoning."""
    r = rng.random()
    if r < 0.03:
        return body[: rng.randint(len(body) // 3, len(body))], "length", "cut"
    if r < 0.06:
        end = rng.choice([f"The answer is ${answer}$.", f"Final Answer: The final answer is ${answer}$. I hope it is correct."])
        return f"{body}\n\n{end}", "stop", "unboxed"
    end = rng.choice([f"Therefore, the final answer is $\\boxed{{{answer}}}$.", f"So the answer is $\\boxed{{{answer}}}$.",
                      f"\\[\n\\boxed{{{answer}}}\n\\]", f"The answer is: \\boxed{{{answer}}}"])
    return f"{body}\n\n{end}", "stop", "boxed"


def workload(rows: list[dict], n: int, seed: int, distinct: int | None = None, style: str = "solution") -> list[tuple[Problem, Sample, str]]:
    """(problem, sample, kind) for n samples of every problem; kind = answer kind / presentation."""
    rng = random.Random(seed)
    golds = [r["answer"] for r in rows]
    items = []
    for row in rows:
        problem = Problem(id=row["unique_id"], prompt=row["problem"], answer=row["answer"])
        answers = answer_set(row["answer"], golds, rng, distinct or rng.randint(2, 8))
        weights = [1 / (rank + 1) for rank in range(len(answers))]
        for j in range(n):
            answer, kind = rng.choices(answers, weights)[0]
            text, finish, shown = completion(reasoning(row, rng, style), answer, rng)
            items.append((problem, Sample(problem.id, j, None, text, finish_reason=finish), f"{kind} / {shown}"))
    return items


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


def timed_side(side: str, spec: dict, conn) -> None:
    """In a fresh process (nothing imported or parsed before): build the workload, grade it one
    way, send back (verdicts, wall s, CPU s). evalkit's time includes importing sympy and
    math-verify and starting its workers; the naive loop's starts after `import math_verify`."""
    items = sample_items(spec if side == "naive" else {**spec, "fraction": 1.0})
    if side == "naive":
        logging.getLogger("math_verify").setLevel(logging.CRITICAL)
        warnings.simplefilter("ignore")  # sympy deprecation notices from parsing whole responses
        import math_verify  # noqa: F401  (a script imports it before its loop)
    t0, cpu0 = time.perf_counter(), cpu_seconds()
    if side == "naive":
        verdicts = naive_grade(items)
    else:
        verifier = MathVerifier(workers=spec["workers"])
        verdicts = {(g.problem_id, g.sample_index): (g.correct, g.status) for g in verifier.grade((p, s) for p, s, _ in items)}
        verifier.close()
    conn.send((verdicts, time.perf_counter() - t0, cpu_seconds() - cpu0))


def sample_items(spec: dict) -> list[tuple[Problem, Sample, str]]:
    rows = [json.loads(line) for line in Path(spec["data"]).read_text().splitlines()][: spec["problems"]]
    items = workload(rows, spec["n"], spec["seed"], spec["distinct"], spec["style"])
    if spec.get("fraction", 1.0) < 1:  # whole problems, in order: math-verify's parse cache sees what it would
        ids = {r["unique_id"] for r in random.Random(1).sample(rows, max(1, int(len(rows) * spec["fraction"])))}
        items = [item for item in items if item[0].id in ids]
    return items


def run_side(side: str, spec: dict) -> tuple[dict, float, float]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=timed_side, args=(side, spec, child))
    proc.start()
    child.close()
    result = parent.recv()
    proc.join()
    return result


def reason(sample: Sample, gold: str, status: str) -> str:
    """Why evalkit does not count a sample that the naive loop counts correct (checked, not assumed)."""
    if status == "truncated":
        return "cut at the token limit: evalkit says truncated; math-verify picked a value out of the unfinished reasoning"
    if status == "timeout":
        return "the symbolic check ran past the time limit"
    if status == "wrong":
        from math_verify import parse, verify

        final = sample.completion.rsplit("\n\n", 1)[-1]  # the closing statement, where the answer is given
        if not verify(parse(f"${gold}$"), parse(final)):
            return "the stated answer is wrong (math-verify agrees on the closing statement alone); the loop matched a value in the reasoning"
    return "UNEXPLAINED"


def compare(label: str, spec: dict) -> dict:
    """One workload: evalkit, then the naive loop, each in its own fresh process."""
    items = sample_items({**spec, "fraction": 1.0})
    pairs = len({(p.id, extract_answer(s.completion, s.finish_reason).answer) for p, s, _ in items})
    ours, ours_s, ours_cpu = run_side("evalkit", spec)
    naive, naive_s, naive_cpu = run_side("naive", spec)
    scale = len(items) / len(naive)
    naive_s, naive_cpu = naive_s * scale, naive_cpu * scale
    extra = "" if len(naive) == len(items) else f" (naive extrapolated from {len(naive)})"
    print(f"{label}: {len(items)} samples, {pairs} distinct (problem, answer); evalkit {ours_s:.2f} s wall / "
          f"{ours_cpu:.2f} s CPU, naive {naive_s:.2f} s / {naive_cpu:.2f} s CPU{extra}; "
          f"ratio {naive_s / ours_s:.1f}x wall, {naive_cpu / ours_cpu:.1f}x CPU; load {os.getloadavg()[0]:.1f}")
    kinds = {(p.id, s.sample_index): (k, p.answer, s) for p, s, k in items}
    print(f"  correct: evalkit {sum(ours[key][0] for key in naive)}, naive {sum(naive.values())} of {len(naive)}; "
          f"evalkit statuses {dict(Counter(status for _, status in ours.values()))}")
    lost = Counter()
    for key, ok in naive.items():
        if ok and not ours[key][0]:
            kind, gold, sample = kinds[key]
            why = reason(sample, gold, ours[key][1])
            lost[(kind, ours[key][1], why, gold if why == "UNEXPLAINED" else "")] += 1
    for (kind, status, why, gold), count in lost.most_common():
        print(f"  naive correct, evalkit {status}: {count:5d} x {kind}: {why}{' (gold ' + gold + ')' if gold else ''}")
    gained = Counter(kinds[key][0] for key, ok in naive.items() if not ok and ours[key][0])
    if gained:
        print(f"  naive wrong, evalkit correct: {dict(gained.most_common())}")
    return {"ratio": naive_s / ours_s, "ratio_cpu": naive_cpu / ours_cpu, "unexplained": sum(c for k, c in lost.items() if k[2] == "UNEXPLAINED")}


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


def parser_check(data: Path) -> None:
    """Every answer string of the shared data and recorded generations, parsed by latex2sympy with
    LL prediction (its own) and SLL-first (the workers'): the parses must be identical."""
    import glob

    import sympy
    from math_verify.parser import parse_latex_cached

    from evalkit.verify.math import equiv
    from evalkit.verify.math.extract import last_boxed

    def rows(path: str) -> list[dict]:
        return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]

    d, e = data.parent, data.parent.parent / "eval"
    strings = {r["answer"] for r in rows(f"{d}/math500.jsonl")} | {last_boxed(r["solution"]) for r in rows(f"{d}/math500.jsonl")}
    strings |= {last_boxed(r["solution"]) for r in rows(f"{d}/minerva_math.jsonl")}
    strings |= {str(r.get("answer", "")).split("####")[-1].strip() for f in ("gsm8k_test", "aime24", "aime25", "amc23") for r in rows(f"{d}/{f}.jsonl")}
    strings |= {", ".join(map(str, r["final_answer"])) for r in rows(f"{d}/olympiadbench.jsonl")}
    strings |= {r[k] for r in rows(f"{e}/verifier_pairs.jsonl") for k in ("gold", "pred")}
    for f in [f"{e}/qwen25math_math_cot_100_n8_rm.jsonl", *glob.glob(f"{e}/skythought_*/*.jsonl"), *glob.glob(f"{e}/tora_*.jsonl")]:
        strings |= {extract_answer(c).answer for r in rows(f) for c in r.get("code", [])}
    strings = sorted(s for s in strings if s and len(s) < 2000)
    seconds, parses = [], []
    for sll in (False, True):
        equiv.use_sll_prediction(sll)
        t0, out = time.process_time(), []
        for s in strings:
            parse_latex_cached.cache_clear()
            out.append([sympy.srepr(x) if isinstance(x, sympy.Basic) else repr(x) for x in equiv.parse_answer(s)])
        seconds.append(time.process_time() - t0)
        parses.append(out)
    equiv.use_sll_prediction(False)
    differ = [s for s, a, b in zip(strings, *parses) if a != b]
    print(f"parser check: {len(strings)} answer strings, {len(differ)} parse differently SLL-first; "
          f"CPU {seconds[0]:.1f} s LL vs {seconds[1]:.1f} s SLL-first{''.join(chr(10) + '  ' + repr(s) for s in differ)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=500)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--seeds", default="0,1,2", help="comma-separated workload seeds")
    ap.add_argument("--many", type=int, default=20, help="distinct answers per problem of the extra workload (0: skip)")
    ap.add_argument("--reasoning", choices=["solution", "prose"], default="solution")
    ap.add_argument("--naive-fraction", type=float, default=1.0)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--pathological", action="store_true", help="also time a run of answers that hang sympy")
    ap.add_argument("--check-parser", action="store_true", help="also compare the workers' SLL-first parses with latex2sympy's own")
    args = ap.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)  # sympy's, from math-verify parsing whole responses
    data = Path(os.environ.get("EVALKIT_DATA_DIR", "../shared/data")) / "math500.jsonl"
    if not data.is_file():
        sys.exit(f"error: {data} not found; set EVALKIT_DATA_DIR to the shared benchmark data")
    if args.pathological:
        pathological_run(5.0, args.workers)
    if args.check_parser:
        parser_check(data)
    base = {"data": str(data), "problems": args.problems, "n": args.n, "style": args.reasoning,
            "fraction": args.naive_fraction, "workers": args.workers, "distinct": None}
    runs = [(f"seed {s}", {**base, "seed": int(s)}) for s in args.seeds.split(",")]
    if args.many:
        runs.append((f"seed 0, {args.many} answers/problem", {**base, "seed": 0, "distinct": args.many}))
    print(f"reasoning: {args.reasoning}; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    results = [compare(label, spec) for label, spec in runs]
    ratios = sorted(r["ratio"] for r in results)
    print(f"wall ratio min {ratios[0]:.1f}x, median {ratios[len(ratios) // 2]:.1f}x; "
          f"unexplained verdicts lost: {sum(r['unexplained'] for r in results)}")


if __name__ == "__main__":
    main()
