"""LiveCodeBench's output rules (lcb_runner/evaluation/testing_util.py, MIT), on plain data only.

Run inside the judge (a standalone script: stdlib only, no package imports). Why a module of its own:
the rules decide every LiveCodeBench verdict, so they are kept small and testable against an
independent reading of LCB's code.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation


def stripped_lines(text: str) -> list[str]:
    """LCB's get_stripped_lines: strip the whole output, split on "\\n", strip each line."""
    return [line.strip() for line in text.strip().split("\n")]


def _decimals(line: str) -> list[Decimal] | None:
    try:
        return [Decimal(tok) for tok in line.split()]
    except (InvalidOperation, ValueError):
        return None


def _same_decimals(x: str, y: str) -> bool:
    dx, dy = _decimals(x), _decimals(y)
    try:
        return dx is not None and dy is not None and dx == dy
    except InvalidOperation:  # a signalling NaN ("sNaN") refuses comparison: LCB's grader fails the test
        return False


def stdout_matches(got: str, expected: str) -> tuple[bool, str]:
    """Equal line counts; each line equal as text, or else its whitespace-split tokens equal as Decimals."""
    a, b = stripped_lines(got), stripped_lines(expected)
    if len(a) != len(b):
        return False, f"{len(a)} output lines, {len(b)} expected"
    for i, (x, y) in enumerate(zip(a, b)):
        if x == y:
            continue
        if not _same_decimals(x, y):
            return False, f"line {i + 1}: expected {_short(y)}, got {_short(x)}"
    return True, ""


def call_inputs(text: str) -> list:
    """One argument per input line, each line JSON (LCB's grade_call_based)."""
    return [json.loads(line) for line in text.split("\n")]


def call_result_matches(got, expected) -> bool:
    """`==` against the decoded expected value; a returned tuple counts as a list (top level only, as LCB)."""
    if type(got) is tuple:
        got = list(got)
    try:
        return bool(got == expected)
    except Exception:  # noqa: BLE001 -- plain decoded data only, but never let a comparison end the judge
        return False


def _short(text: str) -> str:
    return repr(text) if len(text) < 80 else repr(text[:77] + "...")
