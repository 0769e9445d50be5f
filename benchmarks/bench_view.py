"""Size and build time of `evalkit view --out` on two MATH-500-like runs (problems x n samples each),
against the anchor every view pays first: `evalkit compare --format json` on the same runs.

    python benchmarks/bench_view.py [--problems 500] [--n 256] [--chars 2000] [--keep DIR]

The runs are planted: real MATH-500 problems when $EVALKIT_DATA_DIR has math500.jsonl (so the page
shows levels, subjects and gold answers), reasoning-shaped completions (<think> block, boxed answer)
of lognormal length around --chars characters, answers that cluster into a few distinct wrong ones,
and truncated / no-answer samples; a second checkpoint that is RL-like (higher pass@1, lower entropy,
gives up on the hardest problems), so its curve crosses the baseline's. Prints the report size and
the build time with its ratio to compare's, then deletes the runs unless --keep.

Times (issue 29): the first compare (which writes each run's table.parquet), then view and compare
with the tables and without them (EVALKIT_TABLE=off: the JSONL files streamed, as before). Goal: view
of two runs of 500 x 256 <= 3 s with the tables. Timed in this process (imports already paid).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from evalkit.store import GRADES, MANIFEST, PROMPTS, SAMPLES, JsonlAppender, write_json_atomic
from evalkit.types import Grade, Problem, Sample

CHAT = "<|im_start|>user\n{q}\nPlease reason step by step, and put your final answer within \\boxed{{}}.<|im_end|>\n<|im_start|>assistant\n"
STEPS = ("First, let me restate what is asked.", "We can simplify the expression step by step.", "Substituting the values gives",
         "Let me double-check this computation.", "Hmm, wait. That does not look right; let me redo the last step.",
         "So the equation becomes", "By symmetry we only need to consider one case.", "Now I will verify with a small example.",
         "Therefore the quantity we want is", "Factoring the numerator, we get")


def problems(count: int) -> tuple[list[Problem], str, str]:
    """MATH-500's problems (their data hash and source) when the data is here, else planted ones."""
    try:
        from evalkit.adapters.loading import load

        loaded = load("math500")
        return loaded.problems[:count], loaded.data_hash, loaded.source
    except Exception:
        return [Problem(f"math500/{i}", f"Compute the value of expression number {i}.", str(i * 7 % 97), metadata={"level": 1 + i % 5})
                for i in range(count)], "sha256:planted", "planted"


def wrong_answers(gold: str, rng: np.random.Generator) -> list[str]:
    try:
        g = int(gold)
        return [str(g + 1), str(-g), str(g * 2), str(g - 3)]
    except ValueError:
        return [gold + "+1", "0", f"-{gold}", "\\frac{1}{2}"]


def completion(problem: Problem, status: str, answer: str | None, chars: int, rng: np.random.Generator) -> str:
    words = problem.prompt.split()
    target = int(rng.lognormal(np.log(chars), 0.6))
    parts, size = [], 0
    while size < target:
        step = f"{STEPS[int(rng.integers(len(STEPS)))]} {' '.join(words[int(rng.integers(len(words))):][:12])} $x_{int(rng.integers(9))} = {int(rng.integers(-50, 200))}$.\n\n"
        parts.append(step)
        size += len(step)
    think = "".join(parts)
    if status == "truncated":
        return "<think>\n" + think[: max(1, len(think) - 37)]
    final = f"The final answer is $\\boxed{{{answer}}}$." if status in ("correct", "wrong") else "I could not determine the value exactly."
    return f"<think>\n{think}</think>\n\nPutting it together: {think[:160].strip()}...\n\n{final}"


def make_math_run(path: Path, probs: list[Problem], p: np.ndarray, n: int, *, model: str, data_hash: str, source: str,
                  entropy: float, chars: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True)
    write_json_atomic(path / MANIFEST, {
        "model": model, "label": model, "benchmark": "math500", "data_source": source, "data_hash": data_hash,
        "data_version": "MATH-500 (prm800k math_splits/test.jsonl)", "num_problems_total": 500, "n": n, "limit": None,
        "sampling": {"temperature": 0.6, "top_p": 0.95, "top_k": -1, "min_p": 0.0, "max_tokens": 4096, "stop": [], "logprobs": 20},
        "seed": seed, "versions": {"evalkit": "0.1.0"}, "created": "2026-11-28T12:00:00+00:00"})
    with JsonlAppender(path / PROMPTS) as out:
        for prob in probs:
            out.write({"problem_id": prob.id, "prompt": CHAT.format(q=prob.prompt)})
    with JsonlAppender(path / SAMPLES) as s_out, JsonlAppender(path / GRADES) as g_out:
        for prob, pc in zip(probs, p):
            wrong = wrong_answers(prob.answer or "0", rng)
            weights = rng.dirichlet(np.full(len(wrong), 0.5))
            for i in range(n):
                u = rng.random()
                status = "correct" if u < pc else rng.choice(["wrong", "no_answer", "truncated"], p=[0.8, 0.07, 0.13])
                answer = prob.answer if status == "correct" else (wrong[rng.choice(len(wrong), p=weights)] if status == "wrong" else None)
                text = completion(prob, status, answer, chars, rng)
                ent = float(rng.normal(entropy + (0.15 if status != "correct" else 0.0), 0.08))
                s_out.write(Sample(prob.id, i, seed * 100003 + i, text, "length" if status == "truncated" else "stop", len(text) // 4,
                                   ent, float(-0.6 * ent - rng.uniform(0, 0.05))).to_json())
                detail = {"correct": "same canonical string", "wrong": "different numbers or choices",
                          "no_answer": "no final answer found", "truncated": "token limit or unclosed <think>"}[status]
                g_out.write(Grade(prob.id, i, status == "correct", status, answer, detail).to_json())
    return path


def difficulty(probs: list[Problem], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per-problem success rates of a base and an RL-like checkpoint."""
    level = np.array([int(pr.metadata.get("level") or 3) for pr in probs], dtype=float)
    base = 1 / (1 + np.exp(-(3.2 - 1.1 * level + rng.normal(0, 1.2, len(probs)))))
    rl = np.where(base < 0.06, base * 0.3, np.minimum(0.995, base ** 0.55))
    return base, rl


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--problems", type=int, default=500)
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--chars", type=int, default=2000, help="typical completion length in characters")
    ap.add_argument("--keep", type=Path, default=None, help="write the runs and report here and keep them")
    args = ap.parse_args()

    from evalkit.reports.compare import compare_dirs
    from evalkit.scoring import majority
    from evalkit.reports.tables import render
    from evalkit.reports.view import build_report

    root = args.keep or Path(tempfile.mkdtemp(prefix="bench_view_"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        probs, data_hash, source = problems(args.problems)
        base_p, rl_p = difficulty(probs, np.random.default_rng(0))
        t0 = time.perf_counter()
        a = make_math_run(root / "base", probs, base_p, args.n, model="Qwen2.5-Math-7B", data_hash=data_hash, source=source, entropy=0.55, chars=args.chars, seed=1)
        b = make_math_run(root / "rl", probs, rl_p, args.n, model="Qwen2.5-Math-7B-RL-step800", data_hash=data_hash, source=source, entropy=0.38, chars=args.chars, seed=2)
        run_bytes = sum(f.stat().st_size for d in (a, b) for f in d.iterdir())
        print(f"wrote 2 runs of {len(probs)} problems x n={args.n} ({run_bytes / 1e6:.0f} MB) in {time.perf_counter() - t0:.0f}s")
        timed = {}
        for name, table in (("first read", "on"), ("with table", "on"), ("without table", "off")):
            os.environ["EVALKIT_TABLE"] = table
            majority._MEMO.clear()  # each round counts maj@k afresh, as a new process would
            t0 = time.perf_counter()
            render(compare_dirs([str(a), str(b)])[1], "json")
            t_compare = time.perf_counter() - t0
            t0 = time.perf_counter()
            out, size, _ = build_report([str(a), str(b)], root / "report.html")
            timed[name] = (t_compare, time.perf_counter() - t0)
        os.environ.pop("EVALKIT_TABLE")
        for name, (t_compare, t_view) in timed.items():
            print(f"{name:<14} compare --format json: {t_compare:5.1f}s   view --out: {t_view:5.1f}s ({t_view / t_compare:.2f}x compare)")
        plain, fast = timed["without table"][1], timed["with table"][1]
        print(f"view with the tables: {fast:.1f}s, {plain / fast:.1f}x faster than without; report {size / 1e6:.1f} MB ({out}); "
              f"tables {sum((d / 'table.parquet').stat().st_size for d in (a, b)) / 1e6:.1f} MB")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
