"""Plain numbers as exact values: what strings alone can settle, in the harness process.

A canonical answer string (extract.normalize) that is one number - an integer, a decimal, `a/b`,
`\\frac{a}{b}`, a mixed number (`2\\frac12`, `1 1/2`), a decimal in scientific notation
(`2.31 \\times 10^{-3}`) - has an exact rational value. Two more readings are rules of their own:

- a decimal comma where it cannot be a thousands separator or a list: `1,22`, `2,74`, `0,111`,
  `1000,99` are decimals, read so only against a single number (`10{,}000` and `1,000` stay
  thousands; `-2,1`, one digit after the comma, stays a list: a MATH-500 gold is written so);
- a time of day: `20:34:00` and `08:34 P.M.` are `20:34`;
- a written decimal matches an exact rational value it rounds or truncates to, to the decimal's own
  places, when it has at least three significant digits (`2.6667` for 8/3, `0.333` for 1/3,
  `2.314814814815 \\times 10^{-3}` for 1/432; not `0.3` or `0.33` for 1/3). An irrational constant is
  never matched so (lighteval's test: 3.14159 is not pi); math-verify's float rounding decides those.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction
from typing import NamedTuple

_DEC = r"(?:\d+\.?\d*|\.\d+)"
_RATIONAL = re.compile(
    rf"(?P<n>{_DEC})|(?P<p>{_DEC})/(?P<q>{_DEC})"
    rf"|(?P<w>\d+)?\\frac(?:\{{(?P<fp>-?{_DEC})\}}|(?P<fp1>\d))(?:\{{(?P<fq>-?{_DEC})\}}|(?P<fq1>\d))"
    rf"|(?P<mw>\d+) (?P<mp>\d+)/(?P<mq>\d+)"
    rf"|(?P<m>{_DEC})(?:\\times|\\cdot|\*)10\^(?:\{{(?P<e>[+-]?\d+)\}}|(?P<e1>\d))"
)
_CHARS = 200
_MIN_DIGITS = 3


class Number(NamedTuple):
    value: Fraction
    places: int | None  # decimal places as written (a decimal); None for an exact value
    digits: int  # significant digits as written (decimals)


def number_value(norm: str) -> Number | None:
    """The exact value of a canonical string that is one plain number; None for anything else."""
    negative = norm.startswith("-")
    body = _unwrap_braces(norm[1:]) if negative else norm
    m = _RATIONAL.fullmatch(body) if len(body) <= _CHARS else None
    if m is None:
        return None
    if m["m"] is not None:
        return _scientific(m["m"], int(m["e"] or m["e1"]), negative)
    if m["mw"] is not None:
        q = int(m["mq"])
        return Number((-1 if negative else 1) * (int(m["mw"]) + Fraction(int(m["mp"]), q)), None, 0) if q else None
    q = Fraction(Decimal(m["q"] or m["fq"] or m["fq1"] or "1"))
    if q == 0:
        return None
    value = Fraction(Decimal(m["n"] or m["p"] or m["fp"] or m["fp1"])) / q + int(m["w"] or 0)
    places, digits = _written(m["n"]) if m["n"] is not None else (None, 0)
    if m["p"] is not None and "." in body:
        places, digits = _written(m["p"])  # `1.5/3`: a decimal, for the float rounding rule's sake
    return Number(-value if negative else value, places, digits)


def _scientific(mantissa: str, exponent: int, negative: bool) -> Number:
    value = Fraction(Decimal(mantissa)) * Fraction(10) ** exponent
    places, digits = _written(mantissa)
    return Number(-value if negative else value, (places or 0) - exponent, digits)


def _written(text: str) -> tuple[int | None, int]:
    whole, dot, frac = text.partition(".")
    if not dot:
        return None, 0
    return len(frac), len((whole + frac).lstrip("0"))


def _unwrap_braces(s: str) -> str:
    while len(s) > 1 and s[0] == "{" and s[-1] == "}" and "{" not in s[1:-1] and "}" not in s[1:-1]:
        s = s[1:-1]
    return s


_COMMA_DECIMAL = re.compile(r"([+-]?)(\d+),(\d+)")


def decimal_comma(norm: str) -> Number | None:
    """`1,22` -> 1.22 where the comma cannot be a thousands separator or a one-digit list item."""
    m = _COMMA_DECIMAL.fullmatch(norm)
    if m is None:
        return None
    whole, frac = m.group(2), m.group(3)
    thousands = len(frac) == 3 and whole[0] != "0" and len(whole) <= 3
    if thousands or len(frac) == 1:
        return None
    return number_value(f"{m.group(1)}{whole}.{frac}")


def same_number(a: Number, b: Number) -> bool:
    """Equal values, or a written decimal and an exact value that rounds to it."""
    if a.value == b.value:
        return True
    if (a.places is None) == (b.places is None):
        return False
    exact, decimal = (a, b) if a.places is None else (b, a)
    return rounds_to(exact.value, decimal)


def rounds_to(exact: Fraction, decimal: Number) -> bool:
    """The decimal is `exact` rounded (half away or to even) or truncated toward zero to its places,
    and has at least three significant digits."""
    if decimal.places is None or decimal.digits < _MIN_DIGITS:
        return False
    unit = Fraction(1, 10**decimal.places) if decimal.places >= 0 else Fraction(10 ** (-decimal.places))
    diff = exact - decimal.value
    if abs(diff) <= unit / 2:
        return True
    toward_zero = diff if exact >= 0 else -diff  # truncation leaves the decimal between 0 and the value
    return 0 <= toward_zero < unit


_CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([ap])\.?m\.?)?", re.IGNORECASE)


def same_clock_time(a: str, b: str) -> bool:
    """`20:34`, `20:34:00` and `08:34 P.M.` are one time of day. Only ever True where one side has
    seconds or a.m./p.m. (`20:34` and `10:17` may be ratios, equal or not: others decide)."""
    ma, mb = _CLOCK.fullmatch(a), _CLOCK.fullmatch(b)
    if ma is None or mb is None or not any(m.group(3) or m.group(4) for m in (ma, mb)):
        return False
    return _seconds(ma) == _seconds(mb)


def _seconds(m: re.Match) -> int:
    hours = int(m.group(1)) % 12 + (12 if (m.group(4) or "").lower() == "p" else 0) if m.group(4) else int(m.group(1))
    return hours * 3600 + int(m.group(2)) * 60 + int(m.group(3) or 0)

