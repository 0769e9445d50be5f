"""Find the final answer in a model response, and bring answers to one canonical string.

Everything here is plain string work in linear time (no regex backtracking over the whole
response), so it runs in the harness process; anything that needs sympy runs in pool.py's
workers under a hard time limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from .boxes import Shape, final_boxes, joined, last_boxed  # noqa: F401 (last_boxed: the adapters' and tests' import)
from .numbers import decimal_comma, number_value, same_clock_time, same_number
from .prose import after_equals, closing_display, cut_off, has_words, phrase_answer, sentences, statement_answer

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
TAIL = 4000  # anchors ("The answer is ...") are looked for only in the response's last characters

# Anchored final-answer phrases; the last occurrence wins. Each captures the rest of its line.
_ANCHORS = re.compile(
    r"(?:final\s+answer\s*(?:is|should\s+be|would\s+be|will\s+be|=)?\s*[:：]?|the\s+answer\s+is\s*[:：]?|^[ \t]*\**answer\**[ \t]*[:：]|^[ \t]*A:|^####)[ \t]*(?P<ans>[^\n]*)",
    re.IGNORECASE | re.MULTILINE,
)
_SENTENCE_END = re.compile(r"\.(?:\s|$)")
_FINAL_LINES = 3
_LETTER = re.compile(r"^\(?([A-E])\)?$")


@dataclass(frozen=True)
class Extraction:
    """The extracted answer text (None when there is none) and why not, as a grade status."""

    answer: str | None
    status: str  # "ok" | "no_answer" | "truncated"


_ONE_PART = Shape(1, 0)


def extract_answer(completion: str, finish_reason: str = "stop", shape: Shape = _ONE_PART) -> Extraction:
    """The answer a response commits to: its final box(es), else the last anchored phrase, else a bare
    answer, else the closing display equation or statement.

    `shape` is the gold's (boxes.answer_shape): against a gold of several parts, boxes set side by side
    at the end are one answer. Hitting the token limit, or a think block that never closes, is
    `truncated`: the model never got to answer, which is a different failure from answering wrong.
    """
    if finish_reason == "length":
        return Extraction(None, "truncated")
    text = final_text(completion)
    if text is None:
        return Extraction(None, "truncated")
    answer = boxed_answer(text, shape)
    if answer is None:
        answer = last_anchored(text[-TAIL:])
    if answer is None:
        answer = bare_answer(text)
    if answer is None:
        answer = closing_display(text[-TAIL:]) or final_statement(text[-TAIL:])
    if answer is None or not answer.strip():
        return Extraction(None, "no_answer")
    return Extraction(answer.strip(), "ok")


_TURN_END = re.compile(r"<\|(?:im_start|im_end|endoftext|eot_id|end_of_text|end)\|>")


def final_text(completion: str) -> str | None:
    """Only text after the last </think> counts (None when a <think> block never closes), and only up
    to a chat template's end-of-turn marker (`<|im_start|>user` after the answer is the next turn)."""
    end = completion.rfind(THINK_CLOSE)
    if end >= 0:
        completion = completion[end + len(THINK_CLOSE) :]
    elif THINK_OPEN in completion:
        return None
    for m in _TURN_END.finditer(completion) if "<|" in completion else ():
        if completion[: m.start()].strip() and not _inside_box(completion, m.start()):
            return completion[: m.start()]
    return completion


def _inside_box(text: str, at: int) -> bool:
    """A `\\boxed{` opened before `at` is still open there."""
    start = text.rfind("\\boxed{", 0, at)
    return start >= 0 and text.count("{", start, at) > text.count("}", start, at)


def boxed_answer(text: str, shape: Shape = _ONE_PART) -> str | None:
    """The last box; all the final boxes set side by side when the gold has several parts; a later
    "The final answer is ..." that states math (a model that boxed an intermediate step)."""
    boxes = final_boxes(text)
    if not boxes:
        return None
    tail = text[boxes[-1].end :][-TAIL:]
    later = last_anchored(tail) if _ANCHOR_HINT.search(tail) else None
    if later is not None and _MATHY.search(later):
        return later
    if len(boxes) > 1 and (shape.parts > 1 or shape.ordered == len(boxes)):
        return joined(boxes, shape)
    return boxes[-1].content


_MATHY = re.compile(r"\d|\\(?:frac|sqrt|pi|infty)")
_ANCHOR_HINT = re.compile(r"answer|####|A:", re.IGNORECASE)


def last_anchored(text: str) -> str | None:
    """The answer stated after the last `final answer` / `the answer is` / `Answer:` / `####`."""
    matches = list(_ANCHORS.finditer(text))
    for m in reversed(matches):
        ans = m.group("ans")
        for _ in range(3):  # "Final Answer: The final answer is $3$": the innermost phrase
            nested = _ANCHORS.search(ans)
            if nested is None:
                break
            ans = nested.group("ans")
        ans = _unwrap_math(phrase_answer(_trim_sentence(ans)).strip().rstrip(".").strip())
        if ans:
            return ans
    return None


_BARE_MAX = 120


def bare_answer(text: str) -> str | None:
    """A response that is nothing but an answer (`\\frac{10}{9}`, `(x-2)(x+2)`, `$[2, 5)$`, a matrix): all of it.

    Without this the closing-statement reading takes `\\frac{10}{9}` apart. Only one short line
    without prose counts (LaTeX commands, environment names and \\text{} aside, no word of two letters
    or more), so `10 cm` or a sentence still goes to `final_statement`.
    """
    s = text.strip()
    if not s or "\n" in s or len(s) > _BARE_MAX:
        return None
    s = _unwrap_math(s.rstrip(".").strip().strip("*").strip())
    return after_equals(s) if s and not has_words(s) else None


def final_statement(text: str) -> str | None:
    """An unboxed closing statement: the answer its last sentence states (`The sum is 14/3.` -> `14/3`,
    `... = 14/3` -> `14/3`, `is $(7, 6)$.` -> `(7, 6)`), looking back over the closing lines.

    Only the last few lines count, so a response that trails off without a result ("Let me know if
    you want the details.") stays `no_answer`, and so does one cut off mid-sentence or mid-computation
    (`= 240 - 36`; a score file of token-limited generations has no finish reason): its last lines are
    reasoning, not an answer.
    """
    if cut_off(text):
        return None
    lines = [line for line in text.rstrip().rsplit("\n", 2 * _FINAL_LINES)[-2 * _FINAL_LINES :] if line.strip()]
    for line in reversed(lines[-_FINAL_LINES:]):
        for sentence in reversed(sentences(line[-TAIL:])):
            found = statement_answer(sentence)
            if found is not None:
                return found.rstrip(".").strip() or None
    return None


def _trim_sentence(s: str) -> str:
    s = s.strip().strip("*").strip()
    cut = _SENTENCE_END.search(s)
    if cut:
        s = s[: cut.start()]
    return s.strip().rstrip(".").strip()


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
_THOUSANDS = re.compile(r"^[+-]?[1-9]\d{0,2}(?:,\d{3})+(?:\.\d+)?$|^[+-]?[1-9]\d{0,2}(?: \d{3})+(?:\.\d+)?$")  # not `0,111`
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
    s = _unwrap_math(latex_symbols(answer.strip()))
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
    """The answer as math-verify should see it: outer TeX groups and a leading `+` removed, Unicode
    math (`√5`, `12π`) as LaTeX."""
    return _unwrap_group(latex_symbols(answer.strip()))


_UNICODE = {"√": "\\sqrt ", "π": "\\pi ", "∞": "\\infty ", "×": "\\times ", "·": "\\cdot ", "−": "-", "≤": "\\le ", "≥": "\\ge ", "≠": "\\ne "}
_UNICODE_CHARS = re.compile("[" + "".join(_UNICODE) + "]")


def latex_symbols(s: str) -> str:
    """`√5` -> `\\sqrt 5`, `7π` -> `7\\pi`: math-verify reads the LaTeX, not the Unicode sign."""
    return _UNICODE_CHARS.sub(lambda m: _UNICODE[m.group(0)], s) if _UNICODE_CHARS.search(s) else s


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
    choices. Two plain numbers (numbers.py: integers, decimals, a/b, \\frac{a}{b}, mixed numbers,
    scientific notation; a decimal comma against a single number) are compared as exact rationals:
    equal values are equal answers, and so are a decimal and an exact value it rounds to (three
    significant digits or more). Other different values are different answers, except when a decimal
    is involved and they are within 1e-5 (relative) of each other: math-verify compares floats rounded
    to 6 places (1/3 = 0.333333 for it), so those go to it. Percentages always do (against gold 5%,
    math-verify accepts both 5 and 0.05).
    """
    if gold_norm == pred_norm:
        return True
    if len(gold_norm) == len(pred_norm) == 1 and gold_norm.isupper() and pred_norm.isupper():
        return False  # two different choice letters
    if "%" in gold_norm or "%" in pred_norm:
        return None
    if ":" in gold_norm and same_clock_time(gold_norm, pred_norm):
        return True
    g, p = number_value(gold_norm), number_value(pred_norm)
    if g is None and p is not None:
        g = decimal_comma(gold_norm)
    elif p is None and g is not None:
        p = decimal_comma(pred_norm)
    if g is None or p is None:
        return None
    if same_number(g, p):
        return True
    decimal = g.places is not None or p.places is not None or "." in gold or "." in pred  # `5.0` is canonically `5` but a float to math-verify
    if decimal and abs(g.value - p.value) <= _FLOAT_SLACK * max(1, abs(g.value), abs(p.value)):
        return None
    return False


_FLOAT_SLACK = Fraction(1, 10**5)


def rational_value(norm: str) -> tuple[Fraction, bool] | None:
    """(exact value, written with a decimal point) of a canonical string that is one plain number."""
    found = number_value(norm)
    return (found.value, "." in norm) if found else None
