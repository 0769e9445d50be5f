"""Symbolic equivalence of two answer strings, built on math-verify (latex2sympy2_extended + sympy).

This is the slow, possibly non-terminating part (sympy can hang on `10^{10^{10}}`), so it only
ever runs inside pool.py's worker processes, which are killed from outside on a time limit.
math-verify's own signal.alarm timeouts are switched off here: they do not fire off the main
thread, and the hard limit lives in the parent.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

import sympy
from .extract import canonical_number
from math_verify import ExprExtractionConfig, LatexExtractionConfig, StringExtractionConfig, parse, verify

logging.getLogger("math_verify").setLevel(logging.CRITICAL)  # "timeout disabled" warnings: intended

_MATH = (LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig())
_DELIMITED = ("$", "\\(", "\\[", "\\boxed", "\\fbox")


def equivalent(gold: str, pred: str, choices: tuple[str, ...] = ()) -> bool:
    """True when `pred` denotes the same answer as `gold` (math-verify's rules; gold first)."""
    if choices and _letter(gold, choices) and _letter(pred, choices):
        return _letter(gold, choices) == _letter(pred, choices)
    gold_parsed, pred_parsed = _parse_cached(gold), _parse_cached(pred)
    if not gold_parsed or not pred_parsed:
        return False
    if _uses_i(gold_parsed):  # gold 1+2i: i is the imaginary unit on both sides, so i(2-i) matches
        if not any(isinstance(g, sympy.Eq) for g in gold_parsed):  # `z = 1+2i` names the value
            pred_parsed = [p.rhs if isinstance(p, sympy.Eq) and isinstance(p.lhs, sympy.Symbol) else p for p in pred_parsed]
        gold_parsed, pred_parsed = _imaginary(gold_parsed), _imaginary(pred_parsed)
    return verify(gold_parsed, pred_parsed, timeout_seconds=None)


def _uses_i(parsed: list) -> bool:
    """latex2sympy reads `2i` as a real symbol i unless the text looks complex; the gold decides."""
    return any(isinstance(p, sympy.Basic) and any(s.name == "i" for s in p.free_symbols) for p in parsed)


def _imaginary(parsed: list) -> list:
    out = []
    for p in parsed:
        if isinstance(p, sympy.Basic):
            p = p.subs({s: sympy.I for s in p.free_symbols if s.name == "i"})
        out.append(p)
    return out


def _parse_cached(answer: str) -> list:
    """Golds repeat across checks of one problem: cache short answers' parses (never huge ones)."""
    return _parse_short(answer) if len(answer) <= 512 else parse_answer(answer)


@lru_cache(maxsize=4096)
def _parse_short(answer: str) -> list:
    return parse_answer(answer)


_PERCENT = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*\\?%\s*$")


def parse_answer(answer: str) -> list:
    """math-verify's parse of a bare answer: wrapped in $...$ so its LaTeX extractor sees it.

    A bare percentage is respelled `35\\%` first: math-verify reads `35\\%` as 35 or 0.35 (both
    accepted), but `35.0\\%` and `35%` (a LaTeX comment) as something else.
    """
    answer = answer.replace("\\$", "")  # MATH's `\\$36`: a currency sign math-verify cannot parse
    m = _PERCENT.match(answer)
    if m:
        answer = canonical_number(m.group(1)) + "\\%"
    text = answer if any(d in answer for d in _DELIMITED) else f"${answer}$"
    return parse(text, extraction_config=_MATH, parsing_timeout=None)


_WARM_UP = ("\\frac{1}{2}", "3\\sqrt{2}", "(1, \\frac{\\pi}{2})", "[2, \\infty)", "x^2+1", "\\text{(B)}", "10\\%", "\\{1,2\\}")


@lru_cache(maxsize=1)
def warm_up() -> None:
    """Parse a few typical answers once: ANTLR's prediction cache then lives in every forked worker."""
    for answer in _WARM_UP:
        parse_answer(answer)


def _letter(answer: str, choices: tuple[str, ...]) -> str | None:
    found = parse(answer, extraction_config=(StringExtractionConfig(strings=choices),), parsing_timeout=None)
    return found[0] if found else None
