"""Write tests/data/math_verify_suite.jsonl: every (gold, pred, expected) case of math-verify's own test suite.

    python benchmarks/build_math_verify_suite.py /path/to/Math-Verify-checkout [--out tests/data/math_verify_suite.jsonl]

The cases are read from the checkout's tests (pytest's own parametrize marks, so nothing is re-typed by
hand); the project's tests never fetch. Each row keeps where the case comes from, the options its test
passes to math-verify, whether it repeats an earlier case, and - for the few whose expected verdict is a
convention of that suite rather than an answer a reader would grade that way - why (CONVENTIONS below).
math-verify (huggingface/Math-Verify) is Apache-2.0; test_all.py also carries an MIT header.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import subprocess
import sys
from pathlib import Path

MODULES = ("test_all", "test_boxed", "test_numina_cases", "test_open_thoughts", "test_strict", "test_yujianll")
KNOWN = {"gold", "pred", "expected", "result"}

# (test function, gold, pred) -> why its expected verdict is a convention, not a grading fact.
CONVENTIONS = {
    ("test_complex_math_expressions", "$(\\begin{pmatrix}\\frac{1}{3}\\\\ \\frac{1}{5} \\end{pmatrix})$", "$\\begin{pmatrix}0.33\\\\0.2 \\end{pmatrix}$"):
        "equal only with precision=2 (floats rounded to 2 places); at math-verify's default, 0.33 is not 1/3",
    ("test_complex_math_expressions", "$(\\frac{3}{5},\\frac{8}{3}]$", "$(0.6,2.6667]$"):
        "equal only with precision=2; at math-verify's default, 2.6667 is not 8/3",
    ("test_set_rel_assymetry", "$x \\in [-2,7]$", "$-2 \\\\le x \\\\le 7$"):
        "one pair labelled both ways by allow_set_relation_comp (equal with it, unequal without): an option, not an answer",
    ("test_strict_variable_comparison", "$f(x)$", "$f(y)$"):
        "one pair labelled both ways by strict (equal with strict=False, variables renamed freely; unequal by default): an option",
    ("test_string_extraction", "$1 - \\frac{1}{\\mathrm{e}}$", "$1 + \\frac{1}{\\mathrm{e}}$"):
        "labelled equal, but 1 - 1/e is not 1 + 1/e: the expectation records a parser limitation",
    ("test_math_extraction_additional_cases", "$(1,3)$", "${1,3}$"):
        "a tuple labelled equal to a set (while (3,1) vs {1,3} is labelled unequal): math-verify's set-vs-tuple rule",
    ("test_symbols", "$\text{13}$", "$13$"):
        "the gold is a Python non-raw string: `\\t` is a TAB, so the gold reads TAB + 'ext{13}', not \\text{13}",
    ("test_latex_notation", "$9$", "Answer $ \n 9 \n $"):
        "labelled no answer because inline $...$ may not span lines in math-verify's regex; a reader sees 9",
    ("test_latex_notation", "$9$", "Answer \\( \n 9 \n \\)"):
        "labelled no answer because inline \\(...\\) may not span lines in math-verify's regex; a reader sees 9",
}


def cases(checkout: Path) -> list[dict]:
    sys.path.insert(0, str(checkout))
    out, seen = [], {}
    for name in MODULES:
        module = importlib.import_module(f"tests.{name}")
        for fname, fn in inspect.getmembers(module, inspect.isfunction):
            marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "parametrize"]
            if not fname.startswith("test_") or fn.__module__ != module.__name__ or not marks:
                continue
            names, values = marks[0].args
            names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
            for v in values:
                out.append(_row(len(out), name, fname, dict(zip(names, v)), _call_options(inspect.getsource(fn)), seen))
    return out


def _call_options(source: str) -> dict:
    """Options the test function itself passes to compare_strings (match types, precision)."""
    opts = {}
    for types in ('["expr"]', '["latex"]', '["latex", "expr"]'):
        if f"match_types={types}" in source:
            opts["match_types"] = json.loads(types)
    if "precision=5" in source:
        opts["precision"] = 5
    return opts


def _row(index: int, module: str, fname: str, case: dict, call: dict, seen: dict) -> dict:
    expected = case.get("expected", case.get("result"))
    options = {**call, **{k: v for k, v in case.items() if k not in KNOWN}}
    key = (case["gold"], case["pred"], int(expected), json.dumps(options, sort_keys=True))
    row = {"id": index, "test": f"tests/{module}.py::{fname}", "gold": case["gold"], "pred": case["pred"],
           "expected": bool(expected), "options": options, "duplicate_of": seen.get(key),
           "convention": CONVENTIONS.get((fname, case["gold"], case["pred"]))}
    seen.setdefault(key, index)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("checkout", type=Path, help="a checkout of huggingface/Math-Verify (its tests/ directory)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "tests" / "data" / "math_verify_suite.jsonl")
    args = ap.parse_args()
    commit = subprocess.run(["git", "-C", str(args.checkout), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    rows = cases(args.checkout)
    conventions = {k for k in CONVENTIONS}
    found = {(r["test"].split("::")[1], r["gold"], r["pred"]) for r in rows if r["convention"]}
    if conventions - found:
        sys.exit(f"error: conventions not found in the checkout: {sorted(conventions - found)}")
    header = {"source": "huggingface/Math-Verify", "commit": commit or "unknown", "license": "Apache-2.0 (tests/test_all.py: MIT header)",
              "files": [f"tests/{m}.py" for m in MODULES], "cases": len(rows),
              "note": "read from the suite's pytest parametrize marks by benchmarks/build_math_verify_suite.py"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in [header, *rows]))
    graded = [r for r in rows if r["duplicate_of"] is None and r["convention"] is None]
    print(f"{len(rows)} cases ({sum(r['duplicate_of'] is not None for r in rows)} repeats, "
          f"{sum(r['convention'] is not None and r['duplicate_of'] is None for r in rows)} conventions), {len(graded)} graded -> {args.out}")


if __name__ == "__main__":
    main()
