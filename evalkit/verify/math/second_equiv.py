"""The second grader's equivalence: answer structure, then numbers, then sympy on its own LaTeX parser.

Written from the published grading rules (Hendrycks MATH `is_equiv`, the Qwen2.5-Math / ToRA
`math_equal` sequence) and sharing no code with the primary grader: the primary parses with
math-verify (latex2sympy2_extended's ANTLR grammar); this module parses LaTeX with a small
recursive-descent parser of its own that builds sympy objects directly (no `eval`, no
`parse_expr`: answers are model-written text). Sympy can hang or blow up on any of this, so
`answers_equal` only runs inside second.py's killable worker processes.

Answers arrive normalised by second.normalize (spaces dropped, `\\dfrac` -> `\\frac`, units and
`\\text{}` wrappers removed).
"""

from __future__ import annotations

import cmath
import re
from fractions import Fraction
from itertools import permutations

import mpmath
import sympy

REL_TOL = 1e-4  # Qwen2.5-Math / ToRA compare numbers with math.isclose(rel_tol=1e-4)
_IDENTITY_TOL = 1e-10  # exact values, and identities at the probe points: equal up to evaluation error
_BIG_EXPONENT = 2000  # a larger integer power (or factorial) becomes a float: 10^{10^{10}} is not computed
_BIG_FLOAT_EXPONENT = 10**6
_PROBES = ([0.5377, 1.8339, 2.2588, 0.8622, 1.3188, 0.3077, 1.4494, 2.7769],
           [1.2376, 0.4523, 1.9711, 2.3127, 0.6891, 1.5832, 2.0948, 0.9132])  # fmt: skip


class ParseError(ValueError):
    pass


# -- tokens -----------------------------------------------------------------------------------
_TOKEN = re.compile(r"(\d+(?:\.\d*)?|\.\d+)|(\\[a-zA-Z]+|\\.)|(<=|>=|!=|[-+*/^_=()\[\]{}|!<>'])|([a-zA-Z])|(\s+)|(.)")
_UNICODE = {"π": "\\pi ", "√": "\\sqrt ", "×": "\\times ", "·": "\\cdot ", "≤": "\\le ", "≥": "\\ge ", "≠": "\\ne ", "∞": "\\infty ", "−": "-"}
_SKIP = {"\\left", "\\right", "\\,", "\\;", "\\:", "\\!", "\\ ", "\\quad", "\\qquad", "\\displaystyle", "\\circ",
         "\\big", "\\Big", "\\bigg", "\\Bigg", "\\limits"}  # fmt: skip
_REL = {"=": "==", "<": "<", ">": ">", "<=": "<=", ">=": ">=", "\\le": "<=", "\\leq": "<=", "\\leqslant": "<=",
        "\\ge": ">=", "\\geq": ">=", "\\geqslant": ">=", "\\lt": "<", "\\gt": ">", "\\ne": "!=", "\\neq": "!=", "!=": "!="}  # fmt: skip
_FUNCS = {"\\sin": sympy.sin, "\\cos": sympy.cos, "\\tan": sympy.tan, "\\sec": sympy.sec, "\\csc": sympy.csc,
          "\\cot": sympy.cot, "\\arcsin": sympy.asin, "\\arccos": sympy.acos, "\\arctan": sympy.atan,
          "\\sinh": sympy.sinh, "\\cosh": sympy.cosh, "\\tanh": sympy.tanh, "\\ln": sympy.log, "\\log": sympy.log,
          "\\exp": sympy.exp}  # fmt: skip
_CONSTS = {"\\pi": sympy.pi, "\\infty": sympy.oo, "\\infin": sympy.oo}
_FRACS = {"\\frac", "\\dfrac", "\\tfrac", "\\cfrac"}
_TEXTS = {"\\text", "\\textbf", "\\textit", "\\mathrm", "\\mathbf", "\\mbox", "\\textnormal", "\\operatorname", "\\mathit"}
_MUL = {"*", "\\cdot", "\\times"}


_KNOWN = set(_SKIP) | set(_REL) | set(_FUNCS) | set(_CONSTS) | _FRACS | _TEXTS | _MUL | {
    "\\sqrt", "\\binom", "\\lfloor", "\\rfloor", "\\lceil", "\\rceil", "\\div"}


def tokenize(text: str) -> list[str]:
    for u, latex in _UNICODE.items():
        text = text.replace(u, latex)
    tokens = []
    for m in _TOKEN.finditer(text):
        if m.group(5) is not None:
            continue
        if m.group(6) is not None:
            raise ParseError(f"unexpected character {m.group(6)!r}")
        tok = m.group(0)
        if m.group(2) is not None and tok not in _KNOWN:
            tokens += _unglue(tok)
        elif tok not in _SKIP:
            tokens.append(tok)
    return tokens


def _unglue(cmd: str) -> list[str]:
    """`\\cosx` -> `\\cos`, `x`: normalised answers lost the space after a command."""
    for end in range(len(cmd) - 1, 1, -1):
        if cmd[:end] in _KNOWN:
            return ([] if cmd[:end] in _SKIP else [cmd[:end]]) + list(cmd[end:])
    return [cmd]


# -- parser -------------------------------------------------------------------------------------
class _Parser:
    """relation := sum (REL sum)? ; sum := term ((+|-) term)* ; term := signed ((*|/|implicit) signed)* ;
    signed := (+|-) signed | power ; power := postfix (^ exponent)* ; postfix := atom !*"""

    def __init__(self, text: str):
        self.toks = tokenize(text)
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise ParseError(f"expected {expected or 'more input'}, got {tok!r}")
        self.i += 1
        return tok

    def parse(self) -> sympy.Basic:
        out = self.relation()
        if self.peek() is not None:
            raise ParseError(f"unexpected {self.peek()!r}")
        return out

    def relation(self) -> sympy.Basic:
        left = self.sum()
        if self.peek() in _REL:
            op = _REL[self.take()]
            right = self.sum()
            if self.peek() in _REL:
                raise ParseError("chained relation")
            return sympy.Rel(left, right, op, evaluate=False)
        return left

    def sum(self) -> sympy.Basic:
        out = self.term()
        while self.peek() in ("+", "-"):
            out = out + self.term() if self.take() == "+" else out - self.term()
        return out

    def term(self) -> sympy.Basic:
        out = self.signed()
        while True:
            tok = self.peek()
            if tok in _MUL:
                self.take()
                out = out * self.signed()
            elif tok in ("/", "\\div"):
                self.take()
                out = out / self.signed()
            elif self.starts_atom(tok):
                out = out * self.power()
            else:
                return out

    def signed(self) -> sympy.Basic:
        if self.peek() == "-":
            self.take()
            return -self.signed()
        if self.peek() == "+":
            self.take()
            return self.signed()
        return self.power()

    def power(self) -> sympy.Basic:
        base = self.postfix()
        while self.peek() == "^":
            self.take()
            base = _pow(base, self.exponent())
        return base

    def exponent(self) -> sympy.Basic:
        if self.peek() == "-":
            self.take()
            return -self.argument()
        return self.argument()

    def postfix(self) -> sympy.Basic:
        out = self.atom()
        while self.peek() == "!":
            self.take()
            out = _factorial(out)
        return out

    def starts_atom(self, tok: str | None) -> bool:
        if tok is None:
            return False
        return tok[0].isdigit() or tok[0] == "." or tok.isalpha() or tok in ("(", "[", "{", "\\{") or (
            tok.startswith("\\") and (tok in _FUNCS or tok in _CONSTS or tok in _FRACS or tok in _TEXTS or tok in ("\\sqrt", "\\binom", "\\lfloor", "\\lceil")))

    def atom(self) -> sympy.Basic:
        tok = self.take()
        if tok[0].isdigit() or tok[0] == ".":
            return sympy.Rational(tok) if "." in tok else sympy.Integer(tok)
        if tok.isalpha():
            return self.letter(tok)
        closing = {"(": ")", "[": "]", "{": "}", "\\{": "\\}", "|": "|"}.get(tok)
        if closing:
            inner = self.sum() if tok == "|" else self.relation()
            self.take(closing)
            return sympy.Abs(inner) if tok == "|" else inner
        if tok.startswith("\\"):
            return self.command(tok)
        raise ParseError(f"unexpected {tok!r}")

    def letter(self, name: str) -> sympy.Basic:
        if self.peek() == "_":
            self.take()
            name += "_" + self.raw_group()
        if name in ("f", "g", "h") and self.peek() == "(":
            self.take()
            arg = self.sum()
            self.take(")")
            return sympy.Function(name)(arg)
        if name == "i":
            return sympy.I
        if name == "e":
            return sympy.E
        return sympy.Symbol(name)

    def raw_group(self) -> str:
        """A subscript's text: `{...}` verbatim or one token (`x_{12}` -> `12`)."""
        if self.peek() != "{":
            tok = self.take()
            return tok[0] if tok[0].isdigit() else tok.lstrip("\\")
        depth, parts = 0, []
        while True:
            tok = self.take()
            depth += (tok == "{") - (tok == "}")
            if depth == 0:
                return "".join(parts[1:])
            parts.append(tok)

    def argument(self) -> sympy.Basic:
        """A macro argument: `{...}`, or a single token (`\\frac12`: a digit of `12`)."""
        tok = self.peek()
        if tok == "{":
            self.take()
            inner = self.relation()
            self.take("}")
            return inner
        if tok is not None and tok[0].isdigit() and len(tok) > 1:
            self.toks[self.i] = tok[1:]
            return sympy.Integer(tok[0])
        return self.atom()

    def command(self, tok: str) -> sympy.Basic:
        if tok in _CONSTS:
            return _CONSTS[tok]
        if tok in _FRACS:
            num = self.argument()
            return num / self.argument()
        if tok == "\\sqrt":
            return self.sqrt()
        if tok in _FUNCS:
            return self.function(tok)
        if tok == "\\binom":
            n = self.argument()
            return sympy.binomial(n, self.argument())
        if tok in ("\\lfloor", "\\lceil"):
            inner = self.sum()
            self.take("\\rfloor" if tok == "\\lfloor" else "\\rceil")
            return sympy.floor(inner) if tok == "\\lfloor" else sympy.ceiling(inner)
        if tok in _TEXTS:
            return self.text()
        raise ParseError(f"unsupported command {tok}")

    def sqrt(self) -> sympy.Basic:
        index = None
        if self.peek() == "[":
            self.take()
            index = self.sum()
            self.take("]")
        radicand = self.argument()
        return sympy.sqrt(radicand) if index is None else sympy.root(radicand, index)

    def function(self, tok: str) -> sympy.Basic:
        """`\\sin^2 x`, `\\sin(2x)`, `\\log_2 8`, `\\sin 2x` (argument: a product of simple atoms)."""
        power, base = None, None
        if tok == "\\log" and self.peek() == "_":
            self.take()
            base = self.argument()
        if self.peek() == "^":
            self.take()
            power = self.exponent()
        if self.peek() in ("(", "{", "["):
            arg = self.atom()
        else:
            arg = self.power()
            while self.peek() is not None and (self.peek()[0].isalnum() or self.peek() in _CONSTS):
                arg = arg * self.power()
        out = sympy.log(arg, base) if base is not None else _FUNCS[tok](arg)
        return out if power is None else _pow(out, power)

    def text(self) -> sympy.Basic:
        word = self.raw_group()
        if re.fullmatch(r"\d+(?:\.\d+)?", word):
            return sympy.Rational(word)
        if re.fullmatch(r"[a-zA-Z]+", word):
            return sympy.Symbol(word)
        raise ParseError(f"text {word!r}")


def _pow(base: sympy.Basic, exp: sympy.Basic) -> sympy.Basic:
    """A number to a huge power becomes a 30-digit float: its digits are never computed, and sympy
    arithmetic on an unevaluated `10^{10^{10}}` would compute them (`+ 1` hangs)."""
    huge = (exp.is_Integer and abs(int(exp)) > _BIG_EXPONENT) or (exp.is_Rational and abs(exp.q) > _BIG_EXPONENT)
    if huge and base.is_Number:
        value = sympy.Pow(base, exp, evaluate=False).evalf(30)
        if value.is_Number:
            return value
    if exp.is_Float and abs(exp) > _BIG_FLOAT_EXPONENT and base.is_Number and abs(base) != 1:
        raise ParseError("a number too large to represent")  # 10^{10^{10^{10}}}: its exponent has 10^10 digits
    return base**exp


def _factorial(n: sympy.Basic) -> sympy.Basic:
    if n.is_Integer and n > _BIG_EXPONENT:  # 30 digits by Stirling (mpmath), never the exact integer
        with mpmath.workdps(30):
            return sympy.Float(mpmath.factorial(int(n)), 30)
    return sympy.factorial(n)


def parse_latex(text: str) -> sympy.Basic:
    """Our own LaTeX -> sympy: numbers, letters (i, e as constants), + - * / ^, \\frac, \\sqrt, functions, relations."""
    if not text:
        raise ParseError("empty")
    return _Parser(text).parse()


# -- comparison ---------------------------------------------------------------------------------
def answers_equal(gold: str, pred: str) -> bool:
    """Equal structure (tuple, interval, set, list, matrix, union) with equal parts; parts compare as scalars."""
    if gold == pred:
        return True
    g_kind, g_parts = structure(gold)
    p_kind, p_parts = structure(pred)
    if g_kind == "scalar" and p_kind == "scalar":
        return scalars_equal(gold, pred)
    if {g_kind, p_kind} <= {"list", "set"}:
        g_kind = p_kind = "set"
    if g_kind != p_kind or len(g_parts) != len(p_parts):
        return False
    if g_kind in ("interval", "matrix"):  # bracket pair / shape first
        if g_parts[0] != p_parts[0]:
            return False
        g_parts, p_parts = g_parts[1:], p_parts[1:]
    if g_kind in ("set", "union"):
        return _match_unordered(g_parts, p_parts)
    return all(answers_equal(g, p) for g, p in zip(g_parts, p_parts))


def _match_unordered(golds: list[str], preds: list[str]) -> bool:
    """A one-to-one matching of equal elements (each pair compared once)."""
    if len(golds) > 8:  # greedy beyond 8 elements: an exact matching search would be factorial
        left = list(preds)
        for g in golds:
            hit = next((k for k, p in enumerate(left) if answers_equal(g, p)), None)
            if hit is None:
                return False
            left.pop(hit)
        return True
    equal = [[answers_equal(g, p) for p in preds] for g in golds]
    if not all(any(row) for row in equal) or not all(any(col) for col in zip(*equal)):
        return False
    return any(all(equal[k][j] for k, j in enumerate(perm)) for perm in permutations(range(len(preds))))


_MATRIX = re.compile(r"^\\begin\{([pbvBV]?matrix|array)\}(?:\{[^{}]*\})?(.*)\\end\{\1\}$", re.DOTALL)


def structure(answer: str) -> tuple[str, list[str]]:
    """(kind, parts): matrix (cells row by row, shape first), interval, tuple, set, union, list, or scalar."""
    s = answer.strip()
    if s[:1] in "([" and s[-1:] in ")]" and _MATRIX.match(s[1:-1]):  # `\\left[\\begin{array}...\\right]`
        s = s[1:-1]
    m = _MATRIX.match(s)
    if m:
        rows = [r for r in re.split(r"\\\\", m.group(2)) if r.strip()]
        cells = [[c.strip() for c in r.split("&")] for r in rows]
        return "matrix", [f"{len(cells)}x{len(cells[0])}"] + [c for r in cells for c in r]
    union = split_top(s, "\\cup")
    if len(union) > 1:
        return "union", union
    if s.startswith("\\{") and s.endswith("\\}") and _encloses(s, 2):
        return "set", split_top(s[2:-2], ",")
    if s.startswith("{") and s.endswith("}") and _encloses(s, 1) and len(split_top(s[1:-1], ",")) > 1:
        return "set", split_top(s[1:-1], ",")
    items = split_top(s, ",")
    if len(items) > 1:
        return "list", items
    if s[:1] in "([" and s[-1:] in ")]" and _encloses(s, 1):
        inner = split_top(s[1:-1], ",")
        if len(inner) == 2 and (s[0] != "(" or s[-1] != ")") or len(inner) == 2 and "\\infty" in s:
            return "interval", [s[0] + s[-1]] + inner
        if len(inner) > 1:
            return "tuple", inner
    return "scalar", [s]


def _encloses(s: str, width: int) -> bool:
    """True when the first bracket closes only at the end: `(1,2)` but not `(1)(2)`."""
    depth = 0
    for j, c in enumerate(s[width:-width], start=width):
        depth += c in "([{"
        depth -= c in ")]}"
        if depth < 0:
            return False
    return depth == 0


def split_top(s: str, sep: str) -> list[str]:
    """Split at `sep` outside brackets (interval brackets may be unbalanced pairs like `[0,1)`)."""
    parts, depth, start, j = [], 0, 0, 0
    while j < len(s):
        c = s[j]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth <= 0 and s.startswith(sep, j):
            parts.append(s[start:j])
            start = j + len(sep)
            j = start
            continue
        j += 1
    parts.append(s[start:])
    return [p.strip() for p in parts if p.strip()] if len(parts) > 1 else [s]


def scalars_equal(gold: str, pred: str) -> bool:
    """Numbers by value (a written decimal by its rounding), else sympy on both parses; percent read either way."""
    g_num, p_num = plain_number(gold), plain_number(pred)
    if g_num is not None and p_num is not None:
        return values_match(g_num, p_num, gold, pred)
    g_pct, p_pct = gold.endswith("%"), pred.endswith("%")
    if g_pct or p_pct:  # exactly one side is a percentage: 28% is 28 or 0.28
        g, p = gold.rstrip("%"), pred.rstrip("%")
        return scalars_equal(g, p) or scalars_equal(f"({g})/100" if g_pct else g, f"({p})/100" if p_pct else p)
    try:
        a, b = parse_latex(gold), parse_latex(pred)
    except (ParseError, TypeError, ValueError, ZeroDivisionError, RecursionError):
        return False
    return sympy_equal(a, b, gold, pred)


def plain_number(s: str) -> Fraction | None:
    """Integer, decimal, a/b, \\frac{a}{b}, mixed `1\\frac12` / `1 1/2`, with a sign; anything else None."""
    s = s.strip()
    sign = -1 if s.startswith("-") else 1
    s = s.lstrip("+-")
    m = re.fullmatch(r"(\d+)?\\frac\{?(\d+)\}?\{?(\d+)\}?", s) or re.fullmatch(r"(?:(\d+)\s)?(\d+)/(\d+)", s)
    if m and len(s) < 40 and int(m.group(3)) != 0:
        whole = int(m.group(1) or 0)
        return sign * (whole + Fraction(int(m.group(2)), int(m.group(3))))
    if re.fullmatch(r"\d+\.?\d*|\.\d+", s) and len(s) < 40:
        return sign * Fraction(s)
    return None


def _places(text: str) -> tuple[int, int] | None:
    """(decimal places, significant digits) of a text that is one written decimal; None for anything else."""
    m = re.fullmatch(r"[+-]?(\d*)\.(\d+)", text.strip())
    return (len(m.group(2)), len((m.group(1) + m.group(2)).lstrip("0"))) if m else None


def values_match(a: Fraction | complex, b: Fraction | complex, a_text: str, b_text: str) -> bool:
    """Two values, as written. A decimal against an exact value: the exact value rounded (at least 2
    significant digits) or truncated (at least 3) to the decimal's places: `2.6667` and `0.33` pass for
    8/3 and 1/3, `0.3` and `9999.86` fail for 1/3 and 10000. Two decimals, or decimals inside
    expressions: the Qwen2.5-Math / ToRA relative tolerance. Exact values: equal."""
    pa, pb = _places(a_text), _places(b_text)
    if (pa is None) != (pb is None):
        return _rounds_to(b, a, *pa) if pa is not None else _rounds_to(a, b, *pb)  # type: ignore[misc]
    if "." in a_text or "." in b_text:
        return _close(a, b, REL_TOL)
    return a == b if isinstance(a, Fraction) and isinstance(b, Fraction) else _close(a, b, _IDENTITY_TOL)


def _rounds_to(exact: Fraction | complex, decimal: Fraction | complex, places: int, significant: int) -> bool:
    """The decimal is the exact value rounded, or truncated toward zero, to `places` (float inputs: with slack)."""
    slack = Fraction(0)
    if isinstance(exact, complex) or isinstance(decimal, complex):
        exact, decimal = complex(exact), complex(decimal)
        if abs(exact.imag) > 1e-12 or abs(decimal.imag) > 1e-12:
            return _close(exact, decimal, REL_TOL)
        exact, decimal = Fraction(exact.real), Fraction(decimal.real)
        slack = Fraction(1e-13) * max(1, abs(exact))
    diff = exact - decimal
    if abs(diff) <= slack:
        return True
    unit = Fraction(1, 10**places)
    if significant >= 2 and abs(diff) <= unit / 2 + slack:
        return True
    toward_zero = diff if exact >= 0 else -diff  # truncation leaves the decimal between 0 and the value
    return significant >= 3 and -slack <= toward_zero < unit + slack


def _close(a: Fraction | complex, b: Fraction | complex, rel: float) -> bool:
    return a == b or abs(a - b) <= rel * max(abs(a), abs(b))


def sympy_equal(a: sympy.Basic, b: sympy.Basic, a_text: str = "", b_text: str = "") -> bool:
    if a == b:
        return True
    if isinstance(a, sympy.Rel) or isinstance(b, sympy.Rel):
        return _relations_equal(a, b)
    if a.has(sympy.oo, -sympy.oo, sympy.zoo) or b.has(sympy.oo, -sympy.oo, sympy.zoo):  # oo - oo is nan
        return sympy.simplify(a) == sympy.simplify(b)
    symbols = sorted(a.free_symbols | b.free_symbols, key=str)
    if not symbols:
        va, vb = _value(a), _value(b)
        if va is not None and vb is not None:
            return values_match(va, vb, a_text, b_text)
    else:
        verdict = _probe(a, b, symbols)
        if verdict is not None:
            return verdict
    return sympy.simplify(a - b) == 0


def _value(e: sympy.Basic) -> complex | None:
    try:
        v = complex(e.evalf(30))
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        return None
    return v if cmath.isfinite(v) else None


def _probe(a: sympy.Basic, b: sympy.Basic, symbols: list) -> bool | None:
    """An identity in variables: equal at every probe point. None when either side will not evaluate."""
    for probe in _PROBES:
        point = _point(symbols, probe)
        va, vb = _value(a.subs(point)), _value(b.subs(point))
        if va is None or vb is None:
            return None
        if abs(va - vb) > _IDENTITY_TOL * max(1.0, abs(va), abs(vb)):
            return False
    return True


def _point(symbols: list, probe: list[float]) -> dict:
    return {s: sympy.Float(str(probe[k % len(probe)]), 30) for k, s in enumerate(symbols)}


def _relations_equal(a: sympy.Basic, b: sympy.Basic) -> bool:
    """`x = 5` and `5`; equations equal up to a constant factor; inequalities equal up to a positive one."""
    if isinstance(a, sympy.Eq) != isinstance(b, sympy.Eq) or not (isinstance(a, sympy.Rel) and isinstance(b, sympy.Rel)):
        a, b = (_value_of(a), _value_of(b))
        return a is not None and b is not None and not isinstance(a, sympy.Rel) and not isinstance(b, sympy.Rel) and sympy_equal(a, b)
    if isinstance(a, sympy.Eq):
        return _proportional(a.lhs - a.rhs, b.lhs - b.rhs, positive=False)
    if isinstance(a, sympy.Ne) or isinstance(b, sympy.Ne):
        return isinstance(a, sympy.Ne) and isinstance(b, sympy.Ne) and _proportional(a.lhs - a.rhs, b.lhs - b.rhs, positive=False)
    (da, sa), (db, sb) = _upper_minus_lower(a), _upper_minus_lower(b)
    return sa == sb and _proportional(da, db, positive=True)


def _value_of(e: sympy.Basic) -> sympy.Basic | None:
    """`x = 5` names the value 5 (a variable or f(x) on the left); anything else is itself."""
    if isinstance(e, sympy.Eq) and (e.lhs.is_Symbol or isinstance(e.lhs, sympy.core.function.AppliedUndef)):
        return e.rhs
    return e


def _upper_minus_lower(rel: sympy.Basic) -> tuple[sympy.Basic, bool]:
    """`a < b` and `b > a` -> (b - a, strict)."""
    if isinstance(rel, (sympy.StrictLessThan, sympy.LessThan)):
        return rel.rhs - rel.lhs, isinstance(rel, sympy.StrictLessThan)
    return rel.lhs - rel.rhs, isinstance(rel, sympy.StrictGreaterThan)


def _proportional(d1: sympy.Basic, d2: sympy.Basic, positive: bool) -> bool:
    """d1 = c * d2 for a constant c != 0 (c > 0 when `positive`), checked at the probe points."""
    symbols = sorted(d1.free_symbols | d2.free_symbols, key=str)
    ratios = []
    for probe in _PROBES if symbols else _PROBES[:1]:
        point = _point(symbols, probe)
        v1, v2 = _value(d1.subs(point)), _value(d2.subs(point))
        if v1 is None or v2 is None or abs(v2) < 1e-12:
            return sympy.simplify(d1 - d2) == 0
        ratios.append(v1 / v2)
    c = ratios[0]
    if abs(c) < 1e-12 or (positive and (abs(c.imag) > 1e-9 or c.real <= 0)):
        return False
    return all(abs(r - c) <= _IDENTITY_TOL * max(1.0, abs(c)) for r in ratios)
