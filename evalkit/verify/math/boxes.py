"""Boxed answers: the last `\\boxed{}` / `\\fbox{}`, the boxes set side by side before it, and how many parts a gold has.

A response to a multi-part question often boxes each part: `\\boxed{(2, 2)} \\quad\\text{and}\\quad
\\boxed{(6, 2)}`, `\\boxed{1}, \\boxed{2}, \\boxed{3}`, `y_1 = \\boxed{...}` and `y_2 = \\boxed{...}`. Those
boxes are one answer when the gold has several parts (a list, a set, a +- pair, `k = .., n = ..`);
against a one-part gold the last box alone counts, as it always has. Boxes belong together when only
spacing, punctuation, `and` / `or`, `\\quad`, labels (`y_2 =`, `(b)`), words inside `\\text{}` and at
most one other word (a unit) stand between them, on lines without a blank line between.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

_BARE_BOXED = re.compile(r"[^\s$]+")
_MAX_GROUP = 16
_GAP_CHARS = 160
_NEIGHBOUR_CHARS = 2000  # a box set beside the last one starts this close to it (its content and the gap)


class Box(NamedTuple):
    content: str
    start: int
    end: int


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...} / \\fbox{...} with nested braces (or `\\boxed 5`)."""
    box = _last_box(text, len(text))
    return box.content if box else None


def final_boxes(text: str) -> list[Box]:
    """The last box and the boxes set side by side before it, in order (empty: no box)."""
    box = _last_box(text, len(text))
    if box is None:
        return []
    group = [box]
    while len(group) < _MAX_GROUP:
        prev = _last_box(text, group[0].start, max(0, group[0].start - _NEIGHBOUR_CHARS))
        if prev is None or prev.end > group[0].start or not side_by_side(text[prev.end : group[0].start]):
            break
        group.insert(0, prev)
    return group


def _last_box(text: str, before: int, after: int = 0) -> Box | None:
    """The last complete box starting in text[after:before] (a cut-off box is skipped for an earlier one)."""
    fbox = "\\fbox" in text
    idx = max(text.rfind("\\boxed", after, before), text.rfind("\\fbox", after, before) if fbox else -1)
    while idx >= 0:
        found = _braced_after(text, idx + (6 if text.startswith("\\boxed", idx) else 5))
        if found is not None:
            return Box(found[0], idx, found[1])
        idx = max(text.rfind("\\boxed", after, idx), text.rfind("\\fbox", after, idx) if fbox else -1)
    return None


def _braced_after(text: str, i: int) -> tuple[str, int] | None:
    """(content, end) of the balanced {...} group starting at text[i] (spaces skipped), or `\\boxed 5` up to `$`."""
    while i < len(text) and text[i] == " ":
        i += 1
    if i >= len(text):
        return None
    if text[i] != "{":
        m = _BARE_BOXED.match(text, i)
        return (m.group(0), m.end()) if m and text[i - 1] == " " else None
    close = text.find("}", i)
    if close >= 0 and text.find("{", i + 1, close) < 0:  # no nested braces: the usual case, at C speed
        return text[i + 1 : close], close + 1
    depth = 0
    for j in range(i, len(text)):
        c = text[j]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1 : j], j + 1
    return None  # unbalanced: the box was cut off


_IN_TEXT = re.compile(r"\\(?:text|mbox|textbf|mathrm)\s*\{[^{}]*\}")
_LABEL = re.compile(r"(?<![A-Za-z])[A-Za-z](?:_\{?\w+\}?)?\s*(?==)|\\[A-Za-z]+|\((?:[a-z]|i{1,3}|iv)\)")
_JOINER_WORDS = re.compile(r"\b(?:and|or)\b", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z]{2,}")


def side_by_side(gap: str) -> bool:
    """Only spacing, punctuation, `and` / `or`, `\\quad`, labels and `\\text{...}` between two boxes."""
    if len(gap) > _GAP_CHARS or re.search(r"\n[ \t]*\n", gap):
        return False
    rest = _JOINER_WORDS.sub(" ", _LABEL.sub(" ", _IN_TEXT.sub(" ", gap)))
    return len(_WORD.findall(rest)) <= 1  # one word: a unit after the box (`\\boxed{1} papers and \\boxed{2} bins`)


# -- how many parts a gold answer has ------------------------------------------------------------------
_SEPARATORS = re.compile(r"\\text\s*\{\s*(?:and|or|,)\s*\}|\band\b|\bor\b|;", re.IGNORECASE)
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(?:(?:,|\{,\}|,\\!\s?)\d{3})+(?:\.\d+)?$")


class Shape(NamedTuple):
    parts: int  # top-level parts: 2 for `(2, 2), (6, 2)`, `k = 45, n = 2`, `1 \pm \sqrt 2`; 1 for `(1, 2)`
    ordered: int  # a tuple gold `(a, b, c)`: its length (its boxes join as a tuple); else 0


@lru_cache(maxsize=4096)
def answer_shape(gold: str) -> Shape:
    """How many parts a gold answer has, read off its text (a gold given as a solution: its last boxes)."""
    if "\\boxed" in gold or "\\fbox" in gold:
        gold = ", ".join(b.content for b in final_boxes(gold)) or gold
    s = _strip_math(gold.strip())
    if _THOUSANDS.match(s.replace(" ", "")):
        return Shape(1, 0)
    if s.startswith("\\{") and s.endswith("\\}"):
        s = s[2:-2]
    parts = split_top(_SEPARATORS.sub(",", s))
    count = sum(2 if "\\pm" in p or "\\mp" in p else 1 for p in parts)  # `1 \pm \sqrt{5}`: two roots
    inner = split_top(s[1:-1]) if s[:1] == "(" and s[-1:] == ")" and _closes_at_end(s) else []
    return Shape(count, len(inner) if count == 1 and len(inner) > 1 else 0)


@lru_cache(maxsize=4096)
def gold_answer(gold: str) -> str:
    """A gold given as a worked solution counts by its final box(es), as a response does; others as written."""
    if "\\boxed" not in gold and "\\fbox" not in gold:
        return gold
    boxes = final_boxes(gold)
    return joined(boxes, Shape(len(boxes), 0)) if boxes else gold


def _strip_math(s: str) -> str:
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(left) and s.endswith(right) and len(s) > len(left) + len(right):
            s = s[len(left) : -len(right)].strip()
    if s.startswith("{") and s.endswith("}") and _closes_at_end(s):
        s = s[1:-1].strip()
    return s.replace("\\left", "").replace("\\right", "")


def split_top(s: str) -> list[str]:
    """s split at commas outside brackets and braces (empty parts dropped)."""
    parts, depth, start = [], 0, 0
    for j, c in enumerate(s):
        depth += (c in "([{") - (c in ")]}")
        if c == "," and depth == 0:
            parts.append(s[start:j])
            start = j + 1
    parts.append(s[start:])
    return [p.strip() for p in parts if p.strip()]


def _closes_at_end(s: str) -> bool:
    """The bracket opened at s[0] closes only at the end: `(1, 2)` but not `(1)(2)`."""
    depth = 0
    for j, c in enumerate(s):
        depth += (c in "([{") - (c in ")]}")
        if depth == 0 and j < len(s) - 1:
            return False
    return depth == 0


def joined(boxes: list[Box], shape: Shape) -> str:
    """Several final boxes as one answer: a tuple where the gold is one of that length, else a list."""
    parts = [b.content.strip() for b in boxes if b.content.strip()]
    if shape.ordered and len(parts) == shape.ordered and not any(len(split_top(p)) > 1 for p in parts):
        return "(" + ", ".join(parts) + ")"
    return ", ".join(parts)
