"""LiveCodeBench code generation (Jain et al. 2024, github.com/LiveCodeBench/LiveCodeBench, MIT).

Rows: the official release files (livecodebench/code_generation_lite: test.jsonl ... test6.jsonl, read
as JSON lines: newer `datasets` refuse its loading script), a single such file, or the converted files
of agentica's rllm ({problem, starter_code, tests}, public tests only, no dates) in ../shared/data.
Ids are question_ids (`abc311_c`, `3045`); converted rows are `livecodebench/<row>` (0-based).
Selection (`--release-version`, `--start-date/--end-date` on contest_date, `--exclude-errata`) happens
before the data hash, so the hash covers exactly the problems graded, and the manifest records it.
Tests: public then private, graded in the sandbox by LCB's rules (evalkit/verify/code, mode "lcb").
Prompts: lcb_runner/prompts/code_generation.py (generic chat prompt, system message
SYSTEM_MESSAGE_GENERIC); base models get the same text and continue an open ```python block that
holds the starter code, stopping at the closing fence.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

from ..types import CodeTests, EvalkitError, Problem
from . import livecodebench_data as lcb
from .registry import Benchmark, register

SYSTEM = ("You are an expert Python programmer. You will be given a question (problem specification) and will generate "
          "a correct Python program that matches the specification and passes all tests.")
WITH_STARTER = "You will use the following starter code to write the solution to the problem and enclose your code within delimiters."
WITHOUT_STARTER = ("Read the inputs from stdin solve the problem and write the answer to stdout (do not directly test on the "
                   "sample inputs). Enclose your code within delimiters as follows. Ensure that when the python program runs, "
                   "it reads the inputs, runs the algorithm and writes output to STDOUT.")
USER = "### Question:\n{prompt}\n\n{format}### Answer: (use the provided format with backticks)\n\n"
BASE = USER + "{answer_open}"
OPTIONS = ("release_version", "start_date", "end_date", "exclude_errata")
# evalkit content hashes of the converted files in ../shared/data (see its README for provenance).
KNOWN_VERSIONS = {
    "sha256:b5a02890a73f6109": "rllm's converted LiveCodeBench, 2024-08..2025-01, public tests only (279)",
    "sha256:f2f6da4e29a308e9": "rllm's converted LiveCodeBench, earlier and wider window, public tests only (879)",
}


def format_section(starter: str) -> str:
    """LCB's "### Format:" section: the starter code in a fence, or the stdin instruction."""
    if starter:
        return f"### Format: {WITH_STARTER}\n```python\n{starter}\n```\n\n"
    return f"### Format: {WITHOUT_STARTER}\n```python\n# YOUR CODE HERE\n```\n\n"


def to_problem(row: dict[str, Any], index: int) -> Problem:
    if "question_content" in row:
        return _official(row)
    return _converted(row, index)


def _official(row: dict[str, Any]) -> Problem:
    qid = str(row["question_id"])
    tests = lcb.public_tests(row["public_test_cases"], qid) + lcb.private_tests(row.get("private_test_cases"), qid)
    meta = row.get("metadata") or "{}"
    func = (json.loads(meta) if isinstance(meta, str) else meta).get("func_name")
    reason = lcb.erratum(row)
    extra = {"question_title": row.get("question_title", ""), "platform": row.get("platform", ""),
             "difficulty": row.get("difficulty", ""), "contest_id": str(row.get("contest_id", "")),
             "contest_date": str(row.get("contest_date", "")), "erratum": reason or ""}
    return _problem(qid, row["question_content"], row.get("starter_code") or "", tests, func, extra)


def _converted(row: dict[str, Any], index: int) -> Problem:
    pid = f"livecodebench/{index}"
    tests = row["tests"]
    if isinstance(tests, str):
        tests = lcb.public_tests(tests, pid)
    starter = row.get("starter_code") or ""
    func = None
    if any(t.get("testtype") == "functional" for t in tests):
        m = re.search(r"^\s+def\s+(\w+)\s*\(\s*self\b", starter, re.M)
        if m is None:
            raise ValueError(f"{pid}: functional tests but no method in starter_code")
        func = m.group(1)
    return _problem(pid, row["problem"], starter, tests, func, {})


def _problem(pid: str, question: str, starter: str, tests: list[dict], func: str | None, extra: dict) -> Problem:
    if not tests:
        raise ValueError(f"problem {pid} has no tests")
    kind = "method" if func else "stdin"
    inputs, outputs = [str(x["input"]) for x in tests], [str(x["output"]) for x in tests]
    identity = {"mode": "lcb", "kind": kind, "entry_point": func or "", "starter": starter, "inputs": inputs, "outputs": outputs}
    t = CodeTests("lcb", func or "", inputs=inputs, outputs=outputs, kind=kind, starter=starter, hashed_as=identity)
    meta = {**extra, "test_type": "functional" if func else "stdin", "format": format_section(starter),
            "answer_open": f"```python\n{starter}"}
    return Problem(id=pid, prompt=question, tests=t, metadata=meta)


# -- selection -------------------------------------------------------------------------------------
def release_dir(root: Path, options: dict) -> tuple[list[Path], str] | None:
    """The release files of a directory of test*.jsonl, for --release-version [default: every file there
    from test.jsonl on]; None when the directory holds no release file."""
    present = tuple(n for n, name in lcb.FILES.items() if (root / name).is_file())
    if not present:
        return None
    tag = options.get("release_version")
    if tag:
        nums = lcb.release_files(tag)
    else:
        nums = tuple(n for n in range(1, lcb.LATEST + 1) if all(k in present for k in range(1, n + 1)))
        nums = nums or present[:1]
    missing = [lcb.FILES[n] for n in nums if n not in present]
    if missing:
        raise EvalkitError(f"{root} has no {', '.join(missing)}, which {lcb.release_name(nums)} needs; "
                           "download them from livecodebench/code_generation_lite or choose another --release-version")
    return [root / lcb.FILES[n] for n in nums], lcb.release_name(nums)


def hub_files(options: dict) -> tuple[list[str], str]:
    nums = lcb.release_files(options.get("release_version") or "release_latest")
    return [lcb.FILES[n] for n in nums], lcb.release_name(nums)


def select(rows: list[dict], options: dict, release: str | None) -> tuple[list[dict], str]:
    """The date window and errata filter; returns the rows and what they are (release and window)."""
    start, end = _date(options, "start_date"), _date(options, "end_date")
    if start and end and start > end:
        raise EvalkitError(f"--start-date {options['start_date']} is after --end-date {options['end_date']}")
    label = _release_label(rows, release)
    if start or end:
        if rows and "contest_date" not in rows[0]:
            raise EvalkitError("--start-date/--end-date select by contest_date, which this file does not have (rllm's converted "
                               "LiveCodeBench carries no dates); pass LiveCodeBench's release files (test*.jsonl)")
        rows = [r for r in rows if (not start or start <= _when(r)) and (not end or _when(r) <= end)]
        label += f", contest_date {options.get('start_date') or '...'}..{options.get('end_date') or '...'}"
    if options.get("exclude_errata"):
        rows = [r for r in rows if not lcb.erratum(r)]
        label += ", errata excluded"
    if not rows:
        chosen = ", ".join(f"{k}={v}" for k, v in options.items())
        raise EvalkitError(f"no LiveCodeBench problem is left after the selection ({chosen}); widen the date window")
    return rows, label if label.startswith("LiveCodeBench") else ""


def _release_label(rows: list[dict], release: str | None) -> str:
    """`release_v6 (1055)` when the rows are that release's known count, else empty (not recognised)."""
    if release is None:
        sizes = {size: f"release_v{n}" for n, size in lcb.RELEASE_SIZES.items()}
        release = sizes.get(len(rows)) if rows and "question_id" in rows[0] else None
        if release is None:
            return ""
    nums = lcb.release_files(release)
    return f"LiveCodeBench {release} ({len(rows)})" if len(rows) == lcb.expected_size(nums) else ""


def _date(options: dict, key: str) -> dt.datetime | None:
    value = options.get(key)
    if not value:
        return None
    try:
        return dt.datetime.strptime(str(value), "%Y-%m-%d")
    except ValueError:
        raise EvalkitError(f"--{key.replace('_', '-')} {value!r} is not a date; use YYYY-MM-DD, e.g. 2024-08-01") from None


def _when(row: dict) -> dt.datetime:
    """contest_date as lcb_runner reads it (datetime.fromisoformat; compared with the window's midnights)."""
    value = row["contest_date"]
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return when.replace(tzinfo=None)


register(Benchmark(
    name="livecodebench", family="code",
    description="LiveCodeBench code generation (release files; date windows, stdin and LeetCode tests)",
    to_problem=to_problem, source="livecodebench/code_generation_lite (LiveCodeBench, MIT)",
    hub_id="livecodebench/code_generation_lite", split="test",
    local_files=("livecodebench/rllm_lcb_2408_2501.json", "livecodebench/rllm_lcb_public_tests.json"),
    instruction="", base_template=BASE, user_template=USER, system=SYSTEM, base_stop=("```",),
    prompt_source="lcb_runner/prompts/code_generation.py, generic chat prompt; {format} is LCB's starter-code or stdin "
                  "section, {answer_open} opens a ```python block with the starter code",
    extra={"placeholders": {
        "format": "a problem with starter code (LeetCode):\n" + format_section("<starter_code>")
                  + "a stdin problem:\n" + format_section(""),
        "answer_open": "```python\n<starter_code>   (the starter code, or nothing for a stdin problem)"}},
    versions=KNOWN_VERSIONS, options=OPTIONS, release_dir=release_dir, hub_files=hub_files, select=select,
    size_note=f"{min(lcb.RELEASE_SIZES.values())}-{max(lcb.RELEASE_SIZES.values())}",  # release_v1 .. release_v6
))
