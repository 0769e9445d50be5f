"""Symbolic equivalence of two answer strings, built on math-verify (latex2sympy2_extended + sympy).

This is the slow, possibly non-terminating part (sympy can hang on `10^{10^{10}}`), so it only
ever runs inside pool.py's worker processes, which are killed from outside on a time limit.
math-verify's own signal.alarm timeouts are switched off here: they do not fire off the main
thread, and the hard limit lives in the parent.
"""

from __future__ import annotations

import cmath
import logging
import re
from functools import lru_cache
from itertools import permutations, product
from typing import Callable

import sympy
from sympy.matrices.expressions import MatrixExpr
from .boxes import split_top
from .extract import canonical_number, normalize, rational_value
from .numbers import number_value, same_number
from math_verify import ExprExtractionConfig, LatexExtractionConfig, StringExtractionConfig, parse, verify
from math_verify.grader import is_assignment_relation, is_equation, is_relation, take_last_relation

logging.getLogger("math_verify").setLevel(logging.CRITICAL)  # "timeout disabled" warnings: intended

_MATH = (LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig())
_DELIMITED = ("$", "\\(", "\\[", "\\boxed", "\\fbox")
_CACHED_CHARS = 512


def equivalent(gold: str, pred: str, choices: tuple[str, ...] = ()) -> bool:
    """True when `pred` denotes the same answer as `gold` (math-verify's rules; gold first)."""
    if choices and _letter(gold, choices) and _letter(pred, choices):
        return _letter(gold, choices) == _letter(pred, choices)
    gold_parsed, gold_uses_i = _gold_cached(gold)
    if not gold_parsed:
        return False
    number = _plain_number(pred)
    if number is not None and all(_differs_from_number(g, number) for g in gold_parsed):
        return False  # a wrong number against a non-number gold: no parse of the number needed
    pred_parsed = _parse_cached(pred)
    if not pred_parsed:
        return False
    if gold_uses_i:  # gold 1+2i: i is the imaginary unit on both sides, so i(2-i) matches
        if not any(isinstance(g, sympy.Eq) for g in gold_parsed):  # `z = 1+2i` names the value
            pred_parsed = [p.rhs if isinstance(p, sympy.Eq) and isinstance(p.lhs, sympy.Symbol) else p for p in pred_parsed]
        pred_parsed = _imaginary(pred_parsed)
    pairs = list(product(gold_parsed, pred_parsed))
    if any(same_tree(g, p) or same_constant(g, p) for g, p in pairs):
        return True  # verify() would say so too, after a simplify() that can take seconds
    if all(surely_different(g, p) for g, p in pairs):
        return False  # likewise
    if verify(gold_parsed, pred_parsed, timeout_seconds=None):
        return True
    return any(same_function(g, p) or same_named_value(g, p) for g, p in pairs) or rounded_decimals(gold, pred)


def same_tree(gold: object, pred: object) -> bool:
    """The same expression tree (`\\sum F_k F_{n-k-1}` and `\\sum F_{n-k-1} F_k` parse alike; verify()
    simplifies the sum for seconds to agree)."""
    if not isinstance(gold, sympy.Basic) or not isinstance(pred, sympy.Basic) or type(gold) is not type(pred):
        return False
    if gold.has(sympy.zoo, sympy.nan):  # `12:00` and `1:00` both parse to 12/0 and 1/0: no answer to compare
        return False
    return gold == pred or sympy.srepr(gold) == sympy.srepr(pred)


def same_constant(gold: object, pred: object) -> bool:
    """Two constant expressions (no variables, sets or relations) equal to 25 significant digits."""
    if not (_plain(gold) and _plain(pred)) or gold.free_symbols or pred.free_symbols:  # type: ignore[union-attr]
        return False
    a, b = _precise(gold), _precise(pred)  # type: ignore[arg-type]
    return a is not None and b is not None and abs(a - b) <= _SAME * max(1, abs(a), abs(b))


_SAME = sympy.Float("1e-25", 40)
_PROBES = (0.6180339887, -0.7548776662, 1.3247179572, -1.1892071150, 0.4142135624)


@lru_cache(maxsize=4096)
def _precise(e: sympy.Expr) -> sympy.Expr | None:
    """e's value to 40 digits (complex allowed), or None where it is not a finite number."""
    if not _tame(e):
        return None
    try:
        v = e.evalf(40)
    except (TypeError, ValueError, ArithmeticError, RecursionError):
        return None
    return v if v.is_number and v.is_finite and not v.has(sympy.nan, sympy.zoo) else None


def same_function(gold: object, pred: object) -> bool:
    """Two expressions in variables equal at five positive points, to 1e-9, and never both real and
    different at five points of mixed sign (`|x|` is not `x`): the same function, which verify()
    cannot always see (`(r_0/(r+r_0))^{0.5}/(r+r_0)` is `\\frac{1}{r_0} (1+r/r_0)^{-3/2}` r_0)."""
    if not (_plain(gold) and _plain(pred)):
        return False
    names = sorted(gold.free_symbols | pred.free_symbols, key=str)  # type: ignore[union-attr]
    if not names:
        return False
    for k in range(len(_PROBES)):
        at = {v: abs(_PROBES[(k + j) % len(_PROBES)]) * (1 + 0.1 * j) for j, v in enumerate(names)}
        a, b = _value(gold, at), _value(pred, at)  # type: ignore[arg-type]
        if a is None or b is None or abs(a - b) > 1e-9 * max(1.0, abs(a), abs(b)):
            return False
    for k in range(len(_PROBES)):
        at = {v: _PROBES[(k + j) % len(_PROBES)] * (1 + 0.1 * j) for j, v in enumerate(names)}
        a, b = _value(gold, at), _value(pred, at)  # type: ignore[arg-type]
        if _real(a) and _real(b) and abs(a - b) > 1e-9 * max(1.0, abs(a), abs(b)):  # type: ignore[operator]
            return False
    return True


def same_named_value(gold: object, pred: object) -> bool:
    """`f(x) = 2x + 3` and `y = 2x + 3`: a function's value named two ways (not `x = 5` vs `y = 5`)."""
    if not (isinstance(gold, sympy.Eq) and isinstance(pred, sympy.Eq)):
        return False
    names = {_name_kind(gold.lhs), _name_kind(pred.lhs)}
    if names != {"function", "y"} and names != {"function"}:
        return False
    return bool(verify([gold.rhs], [pred.rhs], timeout_seconds=None))


def _name_kind(lhs: sympy.Basic) -> str | None:
    if isinstance(lhs, sympy.core.function.AppliedUndef):
        return "function"
    return "y" if isinstance(lhs, sympy.Symbol) and lhs.name == "y" else None


def rounded_decimals(gold: str, pred: str) -> bool:
    """Lists of plain numbers of the same length whose items match one to one by numbers.py's rules
    (exact values, decimal commas, a decimal and the exact rational it rounds to): `\\frac13, \\frac12`
    and `0.333, 0.5`. (A decimal is never read as an irrational constant: 3.14159 is not pi.)"""
    golds, preds = split_top(gold), split_top(pred)
    if len(golds) != len(preds) or len(golds) > _MAX_ITEMS:
        return False
    match = [[_item_equal(g, p) for p in preds] for g in golds]
    return any(all(match[i][j] for i, j in enumerate(perm)) for perm in permutations(range(len(preds))))


_MAX_ITEMS = 6


def _item_equal(gold: str, pred: str) -> bool:
    g, p = number_value(normalize(gold)), number_value(normalize(pred))
    if g is None or p is None:
        return False
    return same_number(g, p)


def _gold_cached(gold: str) -> tuple[list, bool]:
    """The gold's parse, with `i` as the imaginary unit when the gold uses it (and whether it does); once per worker."""
    return _gold_short(gold) if len(gold) <= _CACHED_CHARS else _gold(gold)


@lru_cache(maxsize=1024)
def _gold_short(gold: str) -> tuple[list, bool]:
    return _gold(gold)


def _gold(gold: str) -> tuple[list, bool]:
    parsed = _parse_cached(gold)
    return (_imaginary(parsed), True) if _uses_i(parsed) else (parsed, False)


_NUMBER_TEXT = frozenset("0123456789./-+{}\\fracdt")


def _plain_number(answer: str) -> sympy.Expr | None:
    """A plain number's exact value (`-3`, `0.25`, `\\frac{7}{2}`), parsed without math-verify.

    math-verify parses such an answer to [that number, a string of digits, `.`, `/`, `-`,
    braces and `\\frac`] (tests/test_math_verifier.py checks this on every spelling).
    """
    if not set(answer) <= _NUMBER_TEXT:
        return None
    found = rational_value(normalize(answer))
    return sympy.Rational(found[0].numerator, found[0].denominator) if found else None


def _differs_from_number(gold: object, number: sympy.Expr) -> bool:
    """True when this element of the gold's parse cannot match either element of a plain number's parse."""
    if isinstance(gold, str):  # can equal only the number's string, which has no other characters
        return not set(gold) <= _NUMBER_TEXT
    return surely_different(gold, number)


def surely_different(gold: object, pred: object) -> bool:
    """True only where math-verify's verify() cannot find the pair equal; False means "ask it".

    Mirrors verify()'s dispatch: strings match only as equal non-empty strings, never an
    expression; `x = e` stands for e against a non-equation, as verify() unwraps it. Then, against
    a plain expression (no sets, relations, matrices, bare symbols or percentages): a relation,
    an interval, a tuple of another length or a set of several numbers never matches; a number
    matches only a number within float rounding (1e-6); expressions with variables match only
    if they agree wherever evaluated (`p - q` never equals 5, `x^3+3x-6` never equals `x^3+3x+6`).
    """
    if isinstance(gold, str) or isinstance(pred, str):
        return not (isinstance(gold, str) and isinstance(pred, str) and gold.strip() and gold.strip() == pred.strip())
    if not isinstance(gold, sympy.Basic) or not isinstance(pred, sympy.Basic):
        return False
    gold, pred = _unwrap_assignments(gold, pred)
    if _plain(gold) and _plain(pred):
        if not gold.free_symbols and not pred.free_symbols:
            return _apart(_number(gold), _number(pred))
        if not (gold.free_symbols and pred.free_symbols) and _varies(gold if gold.free_symbols else pred):  # type: ignore[arg-type]
            return True  # no constant equals it (whatever the constant: `10^{10^{10^{10}}}` is never evaluated)
        return _apart_somewhere(gold, pred)  # type: ignore[arg-type]
    return (_plain(pred) and _never_a_point(gold)) or (_plain(gold) and _never_a_point(pred))


def _unwrap_assignments(gold: sympy.Basic, pred: sympy.Basic) -> tuple[sympy.Basic, sympy.Basic]:
    """verify()'s first step: `x = 1` and `1` compare as 1 and 1 (either side), equations as they are."""
    if is_equation(pred) and not is_equation(gold):
        return gold, take_last_relation(pred).rhs
    if is_assignment_relation(gold) and not is_equation(pred):
        return take_last_relation(gold).rhs, pred
    return gold, pred


def _never_a_point(e: sympy.Basic) -> bool:
    """Against a plain expression, verify() compares this as a set with {expr}: a relation, or
    something that is not a one-element set (numeric intervals and their unions, a tuple of
    another length, a set of distinct numbers), never matches."""
    if is_relation(e):
        return True
    if isinstance(e, sympy.Tuple):
        return len(e) != 1
    if isinstance(e, sympy.Interval):
        return _numeric_interval(e)
    if isinstance(e, sympy.Union):
        return all(isinstance(a, sympy.Interval) and _numeric_interval(a) for a in e.args)
    if isinstance(e, sympy.FiniteSet) and len(e) > 1 and all(_plain(a) and not a.free_symbols for a in e.args):
        values = [_number(a) for a in e.args]  # type: ignore[arg-type]
        return all(_apart(a, b) for i, a in enumerate(values) for b in values[i + 1 :])
    return False


def _numeric_interval(e: sympy.Interval) -> bool:
    """An interval with real endpoints (or infinite ones), start before end: more than one point."""
    start, end = _endpoint(e.start), _endpoint(e.end)
    return start is not None and end is not None and start < end


def _endpoint(x: sympy.Basic) -> float | None:
    if x in (sympy.oo, -sympy.oo):
        return float(x)
    v = _number(x) if isinstance(x, sympy.Expr) and not x.free_symbols else None
    return v.real if _real(v) else None  # type: ignore[union-attr]


_STEPS = (0.6180339887, 0.7548776662)  # two arbitrary points, a different offset per variable


@lru_cache(maxsize=4096)
def _varies(e: sympy.Expr) -> bool:
    """Real values that differ at two points: e is not a constant."""
    names = sorted(e.free_symbols, key=str)
    values = [_value(e, {v: 0.5 + (step * (k + 1)) % 1 for k, v in enumerate(names)}) for step in _STEPS]
    return all(map(_real, values)) and _apart(*values, slack=1e-3)


def _apart_somewhere(a: sympy.Expr, b: sympy.Expr) -> bool:
    """Real values that differ at one of two points: a - b is not zero there, so no simplify()
    can make it zero (verify() has no other way to match expressions with variables)."""
    names = sorted(a.free_symbols | b.free_symbols, key=str)
    for step in _STEPS:
        at = {v: 0.5 + (step * (k + 1)) % 1 for k, v in enumerate(names)}
        va, vb = _value(a, at), _value(b, at)
        if _real(va) and _real(vb) and _apart(va, vb, slack=1e-3):
            return True
    return False


def _real(v: complex | None) -> bool:
    return v is not None and abs(v.imag) <= 1e-12 * max(1.0, abs(v))


@lru_cache(maxsize=4096)
def _number(e: sympy.Expr) -> complex | None:
    return _value(e)


def _plain(e: object) -> bool:
    return isinstance(e, sympy.Expr) and not isinstance(e, (sympy.Symbol, MatrixExpr)) and not e.has(sympy.UnevaluatedExpr)


def _value(e: sympy.Expr, at: dict | None = None) -> complex | None:
    """e's value (at a point), or None where it is not a finite number or would take too long."""
    if not _tame(e):
        return None
    try:
        v = complex(e.evalf(30, subs=at) if at else e.evalf(30))
    except (TypeError, ValueError, ArithmeticError, RecursionError):
        return None
    return v if cmath.isfinite(v) else None


_GROWTH = (sympy.Pow, sympy.exp, sympy.factorial, sympy.factorial2, sympy.gamma)


@lru_cache(maxsize=4096)
def _tame(e: sympy.Expr) -> bool:
    """No tower (`10^{10^{10^{10}}}`, `e^{9^{9^9}}`): mpmath would compute an exponent with
    billions of digits, uninterruptibly, where verify() might answer at once."""
    for node in sympy.preorder_traversal(e):
        if isinstance(node, _GROWTH):
            inner = node.exp if isinstance(node, sympy.Pow) else node.args[0]
            if any(isinstance(n, _GROWTH) for n in sympy.preorder_traversal(inner)):
                return False
    return True


def _apart(a: complex | None, b: complex | None, slack: float = 1e-5) -> bool:
    """Values further apart than any rounding math-verify applies (6 decimals, 15 digits)."""
    return a is not None and b is not None and abs(a - b) > slack * max(1.0, abs(a), abs(b))


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
    return _parse_short(answer) if len(answer) <= _CACHED_CHARS else parse_answer(answer)


@lru_cache(maxsize=4096)
def _parse_short(answer: str) -> list:
    return parse_answer(answer)


_PERCENT = re.compile(r"^\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*\\?%\s*$")


# `10 weeks`, `10weeks`, `10 cm^2`, `6 \\text{ cm}`: a number and its unit (words of 4 letters or more, or
# a listed shorter unit; never `4ab`, a product). math-verify reads `weeks` as the product w*e*e*k*s.
_UNITS = "cm|mm|km|kg|mg|ml|ft|in|yd|mi|hr|hrs|min|sec|lb|lbs|oz|mph|deg|cal|sq"
_FUNCTIONS = r"(?!(?:sqrt|sinh|cosh|tanh|frac|log|ln|exp|sin|cos|tan|sec|csc|cot|arc\w*)\b)"
_UNIT_AFTER_NUMBER = re.compile(
    rf"^\s*([+-]?(?:\d+(?:\.\d+)?|\.\d+)(?:/\d+)?)\s*(?:\\(?:text|mbox|mathrm)\s*\{{\s*)?"
    rf"(?:(?:{_UNITS})\b|{_FUNCTIONS}[a-z]{{4,}})(?:\s+[a-z]+)*\s*\}}?\s*(?:\^\{{?[23]\}}?|²|³)?\s*$"
)
# `\\frac` written into JSON twice escaped: `\frac` (a matrix's `\\` row break is followed by a space or a number)
_DOUBLE_ESCAPED = re.compile(r"(?<!\\)\\\\(?=(?:[dtc]?frac|sqrt|left|right|begin|end|pi|infty|text|mathrm|cdot|times|[lg]eq?|neq)(?![A-Za-z]))")


_TRIG = re.compile(r"\\(?:sin|cos|tan|sec|csc|cot)(?![a-z])")
_DEGREES = re.compile(r"(\d+(?:\.\d+)?)\s*(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|°)")


def parse_answer(answer: str) -> list:
    """math-verify's parse of a bare answer: wrapped in $...$ so its LaTeX extractor sees it.

    A number with a unit after it is read as the number; `\\\\frac` (escaped twice) as `\\frac`; degrees
    in a trig function's argument as radians.
    A bare percentage is respelled `35\\%` first: math-verify reads `35\\%` as 35 or 0.35 (both
    accepted), but `35.0\\%` and `35%` (a LaTeX comment) as something else.
    """
    answer = answer.replace("\\$", "")  # MATH's `\\$36`: a currency sign math-verify cannot parse
    if _DOUBLE_ESCAPED.search(answer):  # escaped twice throughout: commands and matrix row breaks alike
        answer = _DOUBLE_ESCAPED.sub(r"\\", answer).replace("\\\\\\\\", "\\\\")
    answer = _UNIT_AFTER_NUMBER.sub(r"\1", answer)
    if _TRIG.search(answer):  # `\\sin(90^{\\circ} - x)`: degrees in a trig argument, as radians (math-verify drops the mark)
        answer = _DEGREES.sub(r"(\\frac{\1\\pi}{180})", answer)
    m = _PERCENT.match(answer)
    if m:
        answer = canonical_number(m.group(1)) + "\\%"
    text = answer if any(d in answer for d in _DELIMITED) else f"${answer}$"
    return parse(text, extraction_config=_MATH, parsing_timeout=None)


def use_sll_prediction(on: bool = True) -> bool:
    """Make latex2sympy's ANTLR parser try SLL prediction first and fall back to LL on any error.

    ANTLR guarantees that an SLL parse which reports no syntax error yields the tree LL yields;
    latex2sympy raises on the first error it is told of, and the fallback re-parses from scratch
    with a fresh LL parser, exactly as latex2sympy does. So every tree, and every parse, is
    unchanged (checked in tests/test_math_verifier.py), in a third of the time: LL's full-context
    prediction is most of a parse. False where latex2sympy's internals differ (then unchanged).
    on=False restores latex2sympy's own parser.
    """
    try:
        from latex2sympy2_extended.latex2sympy2 import _Latex2Sympy
    except ImportError:
        return False
    current = getattr(_Latex2Sympy, "create_parser", None)
    if current is None:
        return False
    original = getattr(current, "ll_only", current)
    _Latex2Sympy.create_parser = _sll_first(original) if on else original
    return True


def _sll_first(create: Callable) -> Callable:
    from antlr4.atn.PredictionMode import PredictionMode

    def create_parser(self: object, latex_str: str) -> object:
        parser = create(self, latex_str)
        math_ll, interp = getattr(parser, "math", None), getattr(parser, "_interp", None)
        if math_ll is None or interp is None:
            return parser
        interp.predictionMode = PredictionMode.SLL

        def math() -> object:
            try:
                return math_ll()
            except Exception:  # a real syntax error, or one only LL's full context resolves
                return create(self, latex_str).math()

        parser.math = math
        return parser

    create_parser.ll_only = create  # type: ignore[attr-defined]
    return create_parser


_WARM_UP = (  # one of each common shape of answer (none of them a MATH-500 gold as written)
    "\\frac{5}{12}", "-\\dfrac{3\\sqrt{2}}{7}", "2\\sqrt{6} + 5", "(1, \\frac{\\pi}{2})", "\\left( -4, \\frac{7}{3} \\right)",
    "[2, \\infty)", "\\left[ -\\frac{1}{2}, 3 \\right)", "(-\\infty, -1) \\cup (4, \\infty)", "x^2+1", "3x^3 - 2x + 7",
    "(x-2)(x+5)", "y = -3x + 4", "2x - 5y + z = 8", "x \\in [1, 6]", "\\text{(D)}", "\\text{Tuesday}", "10\\%",
    "\\{1,2\\}", "1, 4, 9", "4 - 7i", "\\begin{pmatrix} 2 \\\\ -1 \\end{pmatrix}", "123_4", "47^\\circ", "14 \\pi",
    "\\$4.25", "3 \\pm \\sqrt{7}", "\\frac{a+2b}{3}", "0.125", "\\sin x", "2^{10}",
)  # fmt: skip


@lru_cache(maxsize=1)
def warm_up() -> None:
    """Parse one answer of each common shape: ANTLR's prediction cache then lives in every forked
    worker, instead of each worker building it again (measured: half a second of each worker's CPU)."""
    use_sll_prediction()  # the mode workers parse in, so the cache holds what they will look up
    try:
        for answer in _WARM_UP:
            parse_answer(answer)
    finally:
        use_sll_prediction(False)  # the caller's own math-verify calls stay exactly as they were


def _letter(answer: str, choices: tuple[str, ...]) -> str | None:
    found = parse(answer, extraction_config=(StringExtractionConfig(strings=choices),), parsing_timeout=None)
    return found[0] if found else None
