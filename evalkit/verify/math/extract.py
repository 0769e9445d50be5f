"""Find the final answer in a model response, and bring answers to one canonical string.

Everything here is plain string work in linear time (no regex backtracking over the whole
response), so it runs in the harness process; anything that needs sympy runs in pool.py's
workers under a hard time limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
TAIL = 4000  # anchors ("The answer is ...") are looked for only in the response's last characters

# Anchored final-answer phrases; the last occurrence wins. Each captures the rest of its line.
_ANCHORS = re.compile(
    r"(?:final\s+answer\s*(?:is|should\s+be|would\s+be|will\s+be|=)?\s*[:：]?|the\s+answer\s+is\s*[:：]?|^[ \t]*\**answer\**[ \t]*[:：]|^[ \t]*A:|^####)[ \t]*(?P<ans>[^\n]*)",
    re.IGNORECASE | re.MULTILINE,
)
_SENTENCE_END = re.compile(r"\.(?:\s|$)")
_FINAL_LINE = 400
_FINAL_LINES = 3
_INLINE_MATH = re.compile(r"\$([^$]+)\$|\\\((.+?)\\\)")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?![\d])")
_LETTER = re.compile(r"^\(?([A-E])\)?$")
_BARE_BOXED = re.compile(r"[^\s$]+")


@dataclass(frozen=True)
class Extraction:
    """The extracted answer text (None when there is none) and why not, as a grade status."""

    answer: str | None
    status: str  # "ok" | "no_answer" | "truncated"


def extract_answer(completion: str, finish_reason: str = "stop") -> Extraction:
    """The answer a response commits to: last \\boxed{}, else the last anchored phrase.

    Hitting the token limit, or a think block that never closes, is `truncated`: the model
    never got to answer, which is a different failure from answering wrong.
    """
    if finish_reason == "length":
        return Extraction(None, "truncated")
    text = final_text(completion)
    if text is None:
        return Extraction(None, "truncated")
    answer = last_boxed(text)
    if answer is None:
        answer = last_anchored(text[-TAIL:])
    if answer is None:
        answer = bare_answer(text)
    if answer is None:
        answer = final_statement(text[-TAIL:])
    if answer is None or not answer.strip():
        return Extraction(None, "no_answer")
    return Extraction(answer.strip(), "ok")


def final_text(completion: str) -> str | None:
    """Only text after the last </think> counts; None when a <think> block never closes."""
    end = completion.rfind(THINK_CLOSE)
    if end >= 0:
        return completion[end + len(THINK_CLOSE) :]
    if THINK_OPEN in completion:
        return None
    return completion


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} / \\fbox{...} with nested braces (or `\\boxed 5`)."""
    idx = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    while idx >= 0:
        found = _braced_after(text, idx + (6 if text.startswith("\\boxed", idx) else 5))
        if found is not None:
            return found
        idx = max(text.rfind("\\boxed", 0, idx), text.rfind("\\fbox", 0, idx))
    return None


def _braced_after(text: str, i: int) -> str | None:
    """The balanced {...} group starting at text[i] (spaces skipped), or `\\boxed 5` up to `$`."""
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text):
        return None
    if text[i] != "{":
        m = _BARE_BOXED.match(text, i)
        return m.group(0) if m and text[i - 1] == " " else None
    close = text.find("}", i)
    if close >= 0 and text.find("{", i + 1, close) < 0:  # no nested braces: the usual case, at C speed
        return text[i + 1 : close]
    depth = 0
    for j in range(i, len(text)):
        c = text[j]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j]
    return None  # unbalanced: the box was cut off


def last_anchored(text: str) -> str | None:
    """The phrase after the last `final answer` / `the answer is` / `Answer:` / `####`."""
    matches = list(_ANCHORS.finditer(text))
    for m in reversed(matches):
        ans = m.group("ans")
        for _ in range(3):  # "Final Answer: The final answer is $3$": the innermost phrase
            nested = _ANCHORS.search(ans)
            if nested is None:
                break
            ans = nested.group("ans")
        ans = _trim_sentence(ans)
        if ans:
            return ans
    return None


_BARE_MAX = 120
_LATEX_WORDS = re.compile(r"\\text\s*\{[^{}]*\}|\\[A-Za-z]+")
_WORD = re.compile(r"[A-Za-z]{2,}")


def bare_answer(text: str) -> str | None:
    """A response that is nothing but an answer (`\\frac{10}{9}`, `(x-2)(x+2)`, `$[2, 5)$`): all of it.

    Without this the last-number fallback reads `\\frac{10}{9}` as 9. Only one short line without
    prose counts (LaTeX commands and \\text{} aside, no word of two letters or more), so `10 cm` or a
    sentence still goes to `final_statement`.
    """
    s = text.strip()
    if not s or "\n" in s or len(s) > _BARE_MAX:
        return None
    s = _unwrap_math(s.rstrip(".").strip())
    if not s or _WORD.search(_LATEX_WORDS.sub(" ", s)):
        return None
    return s


def final_statement(text: str) -> str | None:
    """An unboxed closing statement ("... so there are 9 divisors."): what ends last in it, inline math or a number.

    Many models state the result in prose; Qwen2.5-Math's and lm-eval's graders fall back to the
    last number too, but anywhere in the text. Only the last few lines count here, so a response
    that trails off without a result ("Let me know if you want the details.") stays `no_answer`.
    """
    lines = [line for line in text.rstrip().rsplit("\n", 2 * _FINAL_LINES)[-2 * _FINAL_LINES :] if line.strip()]
    for line in reversed(lines[-_FINAL_LINES:]):
        line = line[-_FINAL_LINE:]
        found = [(m.end(), (m.group(1) or m.group(2)).strip()) for m in _INLINE_MATH.finditer(line)]
        found += [(m.end(), m.group(0).rstrip(".,")) for m in _NUMBER.finditer(line)]
        found = [f for f in found if f[1]]
        if found:
            return max(found)[1]
    return None


def _trim_sentence(s: str) -> str:
    s = s.strip().strip("*").strip()
    cut = _SENTENCE_END.search(s)
    if cut:
        s = s[: cut.start()]
    return _unwrap_math(s.strip().rstrip(".").strip())


def _unwrap_math(s: str) -> str:
    """Drop one layer of $...$, \\(...\\), \\[...\\] around a whole answer."""
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(left) and s.endswith(right) and len(s) >= len(left) + len(right):
            return s[len(left) : len(s) - len(right)].strip()
    return s


# -- canonical strings ----------------------------------------------------------------------
_DROP = (
    "\\left", "\\right", "\\!", "\\,", "\\;", "\\:", "\\quad", "\\qquad", "\\displaystyle",
    "^{\\circ}", "^\\circ", "\\circ", "\\$",
)  # fmt: skip
_TEXT_CMDS = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox|textit|operatorname)\s*\{([^{}]*)\}")
_THIN_SPACED_THOUSANDS = re.compile(r"(?<=\d),\\!\s*(?=\d{3})")
_SPACE_BETWEEN_DIGITS = re.compile(r"(?<=[\d,])\s+(?=\d)")
_OTHER_SPACE = re.compile(r"(?<![\d,])\s+|\s+(?!\d)")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$|^[+-]?\d{1,3}(?: \d{3})+(?:\.\d+)?$")
_UNWRAP_LAYERS, _UNWRAP_CHARS = 8, 1000
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)$")


def normalize(answer: str) -> str:
    """A canonical string: equal strings are equal answers (the converse needs the symbolic check).

    Used as the dedupe key and as Grade.answer (what maj@k votes on), so it only merges
    spellings that math-verify treats alike: `5%` stays apart from `5` (against gold 0.05 one
    is right), `32, 349` (a list) from `32,\\! 349` (a number).
    Short answers (nearly all) are cached; a pathological megabyte answer is not kept.
    """
    return _normalize_cached(answer) if len(answer) <= 512 else _normalize(answer)


@lru_cache(maxsize=65536)
def _normalize_cached(answer: str) -> str:
    return _normalize(answer)


def _normalize(answer: str) -> str:
    s = _unwrap_math(answer.strip())
    if s.startswith("\\boxed{") and s.endswith("}"):
        s = s[len("\\boxed{") : -1]
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("{,}", ",")
    s = s.replace("\\%", "%")
    s = _THIN_SPACED_THOUSANDS.sub(",", s)  # "32,\\! 349" is 32349 (MATH's style), "32, 349" a list
    for token in _DROP:
        s = s.replace(token, "")
    s = _TEXT_CMDS.sub(r"\1", s)
    s = _SPACE_BETWEEN_DIGITS.sub(" ", s)  # "1 1/2" is not "11/2", "32, 349" is not "32,349": keep a space
    s = _unwrap_group(_OTHER_SPACE.sub("", s).rstrip(".").rstrip("\\"))
    if _THOUSANDS.match(s):
        s = s.replace(",", "").replace(" ", "")
    letter = _LETTER.match(s)
    if letter:
        return letter.group(1).upper()
    if _PLAIN_NUMBER.match(s):
        return canonical_number(s)
    if s.endswith("%") and _PLAIN_NUMBER.match(s[:-1]):  # "35.0%" -> "35%": math-verify misreads the former
        return canonical_number(s[:-1]) + "%"
    return s


def check_text(answer: str) -> str:
    """The answer as math-verify should see it: outer TeX groups and a leading `+` removed."""
    return _unwrap_group(answer.strip())


def _unwrap_group(s: str) -> str:
    """`{x}` -> `x`, `+x` -> `x`: a TeX group and a unary plus change nothing (math-verify alone reads
    `{(1,2)}` as a set of an interval). A few layers of a short answer; a pathological one stays as is."""
    for _ in range(_UNWRAP_LAYERS if len(s) <= _UNWRAP_CHARS else 0):
        if len(s) > 1 and s[0] == "+" and s[1] not in "+-":
            s = s[1:]
        elif len(s) > 1 and s[0] == "{" and s[-1] == "}" and _group_end(s) == len(s) - 1:
            s = s[1:-1]
        else:
            break
    return s


def _group_end(s: str) -> int:
    """Index of the brace closing the group opened at s[0] (escaped `\\{` `\\}` skipped), or -1."""
    depth, j = 0, 0
    while j < len(s):
        c = s[j]
        if c == "\\":
            j += 2
            continue
        depth += (c == "{") - (c == "}")
        if depth == 0:
            return j
        j += 1
    return -1


def canonical_number(s: str) -> str:
    """`+3.50` -> `3.5`, `007` -> `7`, `-0` -> `0`: one spelling per decimal value."""
    sign = "-" if s.startswith("-") else ""
    s = s.lstrip("+-")
    whole, _, frac = s.partition(".")
    whole, frac = whole.lstrip("0") or "0", frac.rstrip("0")
    out = f"{whole}.{frac}" if frac else whole
    return out if out == "0" else sign + out


def fast_verdict(gold: str, gold_norm: str, pred: str, pred_norm: str) -> bool | None:
    """Decide without sympy when the strings settle it; None means "needs the symbolic check".

    Equal canonical strings are equal answers; two different capital letters are different
    choices. Two exact numbers (integers, decimals, a/b, \\frac{a}{b}) are compared as exact
    rationals: equal values are equal answers. Different values are different answers, except
    when a decimal is involved and they are within 1e-5 (relative) of each other: math-verify
    compares floats rounded to 6 places (1/3 = 0.333333 for it), so those go to it. Percentages
    always do (against gold 5%, math-verify accepts both 5 and 0.05).
    """
    if gold_norm == pred_norm:
        return True
    if len(gold_norm) == len(pred_norm) == 1 and gold_norm.isupper() and pred_norm.isupper():
        return False  # two different choice letters
    if "%" in gold_norm or "%" in pred_norm:
        return None
    g, p = rational_value(gold_norm), rational_value(pred_norm)
    if g is None or p is None:
        return None
    if g[0] == p[0]:
        return True
    decimal = g[1] or p[1] or "." in gold or "." in pred  # `5.0` is canonically `5` but a float to math-verify
    if decimal and abs(g[0] - p[0]) <= _FLOAT_SLACK * max(1, abs(g[0]), abs(p[0])):
        return None
    return False


_DEC = r"(?:\d+\.?\d*|\.\d+)"
_RATIONAL = re.compile(
    rf"(?P<n>{_DEC})|(?P<p>{_DEC})/(?P<q>{_DEC})"
    rf"|\\frac(?:\{{(?P<fp>-?{_DEC})\}}|(?P<fp1>\d))(?:\{{(?P<fq>-?{_DEC})\}}|(?P<fq1>\d))"
)
_FLOAT_SLACK = Fraction(1, 10**5)
_RATIONAL_CHARS = 200


def rational_value(norm: str) -> tuple[Fraction, bool] | None:
    """(exact value, written with a decimal point) of a canonical string that is one plain number,
    `a/b` or `\\frac{a}{b}` (`\\frac12` too); None for anything else (mixed numbers `2\\frac12` included)."""
    negative = norm.startswith("-")
    body = _unwrap_group(norm[1:]) if negative else norm
    m = _RATIONAL.fullmatch(body) if len(body) <= _RATIONAL_CHARS else None
    if m is None:
        return None
    q = Fraction(Decimal(m["q"] or m["fq"] or m["fq1"] or "1"))
    if q == 0:
        return None
    value = Fraction(Decimal(m["n"] or m["p"] or m["fp"] or m["fp1"])) / q
    return (-value if negative else value), "." in body
