"""evalkit's math verifier against math-verify on other graders' test suites and labelled pairs, side by side.

    EVALKIT_DATA_DIR=../shared/data python benchmarks/bench_math_suites.py [--show] [--suite NAME]

Suites (cases right for each grader; no suite is used to tune the other grader's options):
- math-verify: huggingface/Math-Verify's own tests (tests/data/math_verify_suite.jsonl, built by
  benchmarks/build_math_verify_suite.py): all 269 cases, the 260 distinct ones, and the 249 graded
  ones (the 11 conventions of that suite left out; each row says why). Preds are whole responses.
- the labelled pairs of ../shared/eval/verifier_pairs.jsonl by the suite they come from: NeMo-Skills'
  test_math_equal (both orders, as that test asserts), MARIO_EVAL's test_is_equiv, Hendrycks' MATH
  math_equivalence_test, simple-evals' equality examples, lighteval's numina cases, and real model
  outputs (Qwen2.5-Math and SkyThought generations, labelled by grader consensus or by hand).
- qwen25-math-grader: the cases in the comments of Qwen2.5-Math's evaluation/grader.py (_test_math_equal),
  labelled by hand (tests/data/qwen25_math_grader_cases.jsonl).
- nemo-skills-fixtures: NeMo-Skills' hendrycks_math eval fixtures (AIME 2025 I problems 1-7, 3 seeds),
  labels `symbolic_correct`, golds from ../shared/data/aime25.jsonl.
- lighteval-metric-cases: lighteval's pass@k / avg@k / G-Pass@k math and LaTeX metric cases: a case is
  right when the metric computed from the grader's per-sample verdicts is the expected value.

evalkit grades each pred two ways: as a whole response (`response`: extraction, then equivalence) and,
for answer pairs, as an already-extracted answer (`answer`: MathVerifier.check). math-verify is used
as a new user would: parse(gold), parse(pred), verify(), defaults; a bare answer of a pair is wrapped
in $...$ first (its best input); the math-verify suite's strings are passed as that suite writes them.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import sys
from math import ceil, comb
from pathlib import Path

from evalkit.types import Problem, Sample
from evalkit.verify.math import MathVerifier

ROOT = Path(__file__).resolve().parent.parent
DELIMITERS = ("$", "\\(", "\\[", "\\boxed")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# -- suites: name -> list of {gold, pred, expected, wrap} -------------------------------------------
def math_verify_suite() -> dict[str, list[dict]]:
    rows = read_jsonl(ROOT / "tests" / "data" / "math_verify_suite.jsonl")[1:]
    cases = [{"gold": r["gold"], "pred": r["pred"], "expected": r["expected"], "wrap": False, "id": r["id"]} for r in rows]
    distinct = [c for c, r in zip(cases, rows) if r["duplicate_of"] is None]
    graded = [c for c, r in zip(cases, rows) if r["duplicate_of"] is None and r["convention"] is None]
    return {"math-verify (all 269 as listed)": cases, "math-verify (260 distinct)": distinct, "math-verify (graded)": graded}


GROUPS = [("NeMo-Skills", "nemo-skills test_math_equal"), ("MARIO_EVAL", "MARIO_EVAL test_is_equiv"), ("hendrycks/math", "hendrycks MATH is_equiv tests"),
          ("simple-evals", "simple-evals equality examples"), ("lighteval", "lighteval numina cases"),
          ("QwenLM/Qwen2.5-Math", "Qwen2.5-Math outputs (labelled)"), ("NovaSky-AI/SkyThought", "SkyThought outputs (labelled)")]  # fmt: skip


def labelled_pairs(eval_dir: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {name: [] for _, name in GROUPS}
    for r in read_jsonl(eval_dir / "verifier_pairs.jsonl"):
        name = next((n for key, n in GROUPS if key in r["source"]), None)
        if name is None:
            continue
        out[name].append({"gold": r["gold"], "pred": r["pred"], "expected": r["equal"], "wrap": True, "id": r["id"]})
        if key_of(r) == "NeMo-Skills":  # that test asserts math_equal(a, b) and math_equal(b, a)
            out[name].append({"gold": r["pred"], "pred": r["gold"], "expected": r["equal"], "wrap": True, "id": f"{r['id']}r"})
    return out


def key_of(row: dict) -> str | None:
    return next((key for key, _ in GROUPS if key in row["source"]), None)


def qwen_grader_cases() -> list[dict]:
    rows = read_jsonl(ROOT / "tests" / "data" / "qwen25_math_grader_cases.jsonl")[1:]
    return [{"gold": r["gold"], "pred": r["pred"], "expected": r["expected"], "wrap": True, "id": k} for k, r in enumerate(rows)]


def nemo_fixtures(eval_dir: Path, data_dir: Path) -> list[dict]:
    golds = [r["answer"] for r in read_jsonl(data_dir / "aime25.jsonl")][:7]
    out = []
    for seed in range(3):
        for k, r in enumerate(read_jsonl(eval_dir / "nemo_skills_fixtures" / f"hendrycks_math_output-rs{seed}.jsonl")):
            out.append({"gold": golds[k], "pred": r["predicted_answer"], "expected": r["symbolic_correct"], "wrap": True, "id": f"rs{seed}/{k}"})
    return out


# -- lighteval metric cases: a case is right when the metric from per-sample verdicts is as expected --
LIGHTEVAL_FILES = ("pass_at_k_math", "avg_at_k_math", "g_pass_at_k_math", "g_pass_at_k_latex")


def lighteval_cases(eval_dir: Path) -> list[dict]:
    out = []
    for name in LIGHTEVAL_FILES:
        for case in json.loads((eval_dir / "lighteval_metric_cases" / f"{name}.json").read_text())["test_cases"]:
            gold = case["doc"]["choices"][case["doc"]["gold_index"]]
            n = case["metric_params"].get("n") or len(case["model_response"]["text"])
            out.append({"gold": gold, "samples": case["model_response"]["text"][:n], "params": case["metric_params"],
                        "expected": case["expected_output"], "tolerance": case.get("tolerance", 0.01), "id": case["name"]})
    return out


def metric_values(params: dict, verdicts: list[bool], names: list[str]) -> dict[str, float]:
    """pass@k (unbiased), avg@k (first k), G-Pass@k and mG-Pass@k (lighteval's hypergeometric forms)."""
    n, c, k = len(verdicts), sum(verdicts), params["k"]
    tail = lambda m: sum(comb(c, j) * comb(n - c, k - j) for j in range(m, min(c, k) + 1)) / comb(n, k) if m <= min(c, k) and k <= n else 0.0  # noqa: E731
    out = {}
    for name in names:
        if name.startswith("pass@k"):
            out[name] = 1 - comb(n - c, k) / comb(n, k) if n - c >= k else 1.0
        elif name.startswith("avg@k"):
            out[name] = sum(verdicts[:k]) / k
        elif "_" not in name.rsplit("@", 1)[1]:  # mG-Pass@k: `mg-pass@2`, `mmath_g-pass@2`
            out[name] = 2 * sum(tail(i) for i in range(ceil(k * 0.5) + 1, k + 1)) / k
        else:
            out[name] = tail(max(ceil(k * float(name.rsplit("_", 1)[1])), 1))
    return out


# -- graders --------------------------------------------------------------------------------------
def evalkit_verdicts(pairs: list[tuple[str, str]], mode: str) -> list[bool]:
    verifier = MathVerifier(time_limit=5.0)
    try:
        if mode == "answer":
            got = {i: g.correct for i, g in verifier.check(pairs)}
        else:
            items = [(Problem(str(i), "", gold), Sample(str(i), 0, None, pred)) for i, (gold, pred) in enumerate(pairs)]
            got = {int(g.problem_id): g.correct for g in verifier.grade(items)}
    finally:
        verifier.close()
    return [got[i] for i in range(len(pairs))]


def _math_verify_one(job: tuple[str, str, bool]) -> bool:
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    gold, pred, wrap = job
    fix = (lambda s: s if any(d in s for d in DELIMITERS) else f"${s}$") if wrap else (lambda s: s)  # noqa: E731
    try:
        return bool(verify(parse(fix(gold)), parse(fix(pred))))
    except Exception:
        return False


def math_verify_verdicts(jobs: list[tuple[str, str, bool]]) -> list[bool]:
    with mp.get_context("fork").Pool(len(os.sched_getaffinity(0))) as pool:
        return pool.map(_math_verify_one, jobs, chunksize=4)


# -- report ---------------------------------------------------------------------------------------
def score_pairs(name: str, cases: list[dict], show: bool) -> dict:
    pairs = [(c["gold"], c["pred"]) for c in cases]
    response = evalkit_verdicts(pairs, "response")
    answer = evalkit_verdicts(pairs, "answer") if all(c["wrap"] for c in cases) else None
    alone = math_verify_verdicts([(c["gold"], c["pred"], c["wrap"]) for c in cases])
    right = lambda verdicts: sum(v == c["expected"] for v, c in zip(verdicts, cases))  # noqa: E731
    row = {"suite": name, "cases": len(cases), "evalkit_response": right(response),
           "evalkit_answer": right(answer) if answer is not None else None, "math_verify": right(alone)}
    if show:
        for c, r, a, m in zip(cases, response, answer or [None] * len(cases), alone):
            if r != c["expected"] or (a is not None and a != c["expected"]) or m != c["expected"]:
                print(f"  [{name} {c['id']}] expected {c['expected']}: evalkit response {r}, answer {a}, math-verify {m}: "
                      f"{c['gold'][-80:]!r} | {c['pred'][-160:]!r}")
    return row


def score_lighteval(cases: list[dict], show: bool) -> dict:
    flat = [(c["gold"], s) for c in cases for s in c["samples"]]
    ours = evalkit_verdicts(flat, "response")
    alone = math_verify_verdicts([(g, s, True) for g, s in flat])
    right = {"evalkit": 0, "math-verify": 0}
    at = 0
    for c in cases:
        span = slice(at, at + len(c["samples"]))
        at += len(c["samples"])
        for who, verdicts in (("evalkit", ours[span]), ("math-verify", alone[span])):
            values = metric_values(c["params"], verdicts, list(c["expected"]))
            ok = all(abs(values[k] - v) <= c["tolerance"] for k, v in c["expected"].items())
            right[who] += ok
            if show and not ok:
                print(f"  [lighteval {c['id']}] {who}: verdicts {verdicts} gold {c['gold']!r} samples {c['samples']}")
    return {"suite": "lighteval metric cases (math, latex)", "cases": len(cases), "evalkit_response": right["evalkit"],
            "evalkit_answer": None, "math_verify": right["math-verify"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--show", action="store_true", help="print every case a grader gets wrong")
    ap.add_argument("--suite", default="", help="only suites whose name contains this")
    args = ap.parse_args()
    data_dir = Path(os.environ.get("EVALKIT_DATA_DIR", "../shared/data"))
    eval_dir = data_dir.parent / "eval"
    suites = dict(math_verify_suite())
    suites["qwen25-math grader comments (hand-labelled)"] = qwen_grader_cases()
    if (eval_dir / "verifier_pairs.jsonl").is_file():
        suites.update(labelled_pairs(eval_dir))
        suites["nemo-skills fixtures (AIME25 x 3 seeds)"] = nemo_fixtures(eval_dir, data_dir)
    else:
        print(f"note: {eval_dir} not found (set EVALKIT_DATA_DIR): only the suites shipped in tests/data", file=sys.stderr)
    rows = [score_pairs(name, cases, args.show) for name, cases in suites.items() if args.suite in name]
    if (eval_dir / "lighteval_metric_cases").is_dir() and args.suite in "lighteval metric cases":
        rows.append(score_lighteval(lighteval_cases(eval_dir), args.show))
    print(f"{'suite':48s} {'cases':>5s} {'evalkit (response)':>18s} {'evalkit (answer)':>16s} {'math-verify':>11s}")
    for r in rows:
        answer = "" if r["evalkit_answer"] is None else str(r["evalkit_answer"])
        print(f"{r['suite']:48s} {r['cases']:5d} {r['evalkit_response']:18d} {answer:>16s} {r['math_verify']:11d}")


if __name__ == "__main__":
    main()
