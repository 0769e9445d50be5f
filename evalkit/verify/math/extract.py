"""Find the final answer in a model response, and bring answers to one canonical string.

Everything here is plain string work in linear time (no regex backtracking over the whole
response), so it runs in the harness process; anything that needs sympy runs in pool.py's
workers under a hard time limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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
        m = re.match(r"[^\s$]+", text[i:])
        return m.group(0) if m and text[i - 1] == " " else None
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
    s = _OTHER_SPACE.sub("", s).rstrip(".").rstrip("\\")
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

    Two plain numbers with at most 6 decimals that differ are different under any rounding
    math-verify applies (it rounds floats to 6 places), unless a percent sign is involved;
    two different capital letters are different choices.
    """
    if gold_norm == pred_norm:
        return True
    if len(gold_norm) == len(pred_norm) == 1 and gold_norm.isupper() and pred_norm.isupper():
        return False  # two different choice letters
    if _PLAIN_NUMBER.match(gold_norm) and _PLAIN_NUMBER.match(pred_norm) and "%" not in gold + pred:
        if max(_decimals(gold_norm), _decimals(pred_norm)) <= 6:
            return False
    return None


def _decimals(number: str) -> int:
    return len(number.partition(".")[2])
