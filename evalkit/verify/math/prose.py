"""Reading a final answer out of prose, the way a grader reading the last lines would.

A response without a box states its result in a sentence: "The sum is 14/3.", "Adding them gives
2 + 5/3 + 1 = 14/3", "the ordered pair is $(7, 6)$.", "The answer is 9 customers." The answer is the
whole expression the sentence ends on - a math span (`$...$`, `\\(...\\)`, `\\[...\\]`) or a run of
math written in plain text (numbers, operators, brackets, LaTeX commands, one-letter variables) - taken
after its last `=` when what stands before is a constant or a chain (`2 + 5/3 + 1 = 14/3` -> `14/3`),
with the words around it (units, "customers", "hours ago") left out. A digit glued inside a word
(`AZYUK2A`, `5th`) is never a number. Everything here is linear-time string work on a few lines.
"""

from __future__ import annotations

import re

_SPAN_CHARS = 400
# Math spans: display first; `\$` (an escaped dollar) neither opens nor closes inline math.
_SPAN = re.compile(
    rf"\$\$(?P<dd>.{{1,{_SPAN_CHARS}}}?)\$\$|\\\[(?P<db>.{{1,{_SPAN_CHARS}}}?)\\\]"
    rf"|(?<!\\)\$(?P<d>(?:[^$\\\n]|\\.){{1,{_SPAN_CHARS}}}?)\$|\\\((?P<p>.{{1,{_SPAN_CHARS}}}?)\\\)",
    re.DOTALL,
)
# One token of plain-text math. A number is not glued to a letter before it, nor to a word after it;
# a letter counts only alone (`x`, `P(A)`), not inside a word or as a unit before `²`.
_NUM = r"(?<![A-Za-z0-9_.])(?:\d+(?:[.,]\d+)*|\.\d+)(?![A-Za-z]{2}|\d)"
_CMD = r"\\(?!text|mbox|quad|qquad|hspace|textbf|mathrm)[A-Za-z]+"
_VAR = r"(?<![A-Za-z\\'’])(?:[B-HJ-Zb-z]|[aAI](?![ \t]))(?![A-Za-z²³])"  # `a`, `A`, `I` before a space: a word
_OP = r"[-+*/^_=<>()\[\]{}|!,:√π∞×·−≤≥]|\\[{}]"
_TOKEN = rf"(?:{_NUM}|{_CMD}|{_VAR}|{_OP})"
_RUN = re.compile(rf"{_TOKEN}(?:[ \t]*{_TOKEN})*")
_MATHY = re.compile(r"\d|\\(?:frac|dfrac|sqrt|pi|infty|cdot|times|pm)|[√π∞]")
_EDGE = " \t,:;=<>*"
_JOINER = re.compile(r"^(?:\s|,|;|\band\b|\bor\b|\\quad|\\qquad|\\text\{\s*(?:and|or|,)?\s*\}|\\[,;: ])*$", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[.!?])[ \t]+(?=[A-Z\\(\"'*])")
_LATEX_WORDS = re.compile(r"\\(?:begin|end)\s*\{[^{}]*\}|\\text\s*\{[^{}]*\}|\\[A-Za-z]+")
_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}")
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}  # fmt: skip
_NUMBER_WORD = re.compile(r"^(?:the\s+)?([A-Za-z]+)\b(?!\s+of\b)", re.IGNORECASE)


Candidate = tuple[int, int, str, bool]  # start, end, answer text, a math span (not a plain-text run)


def candidates(text: str) -> list[Candidate]:
    """Every math span and every plain-text math run, in order."""
    found, masked, last = [], [], 0
    for m in _SPAN.finditer(text):
        body = next(g for g in (m["dd"], m["db"], m["d"], m["p"]) if g is not None)
        masked.append(text[last : m.start()] + " " * (m.end() - m.start()))
        last = m.end()
        if body.strip():
            found.append((m.start(), m.end(), body.strip(), True))
    masked.append(text[last:])
    plain = "".join(masked)
    for m in _RUN.finditer(plain):
        run = _trim_run(m.group(0))
        if run and _MATHY.search(run):
            found.append((m.start(), m.end(), run, False))
    return sorted(found)


_LONE_LETTER = re.compile(r"^[A-Za-z] (?=[\d.])|(?<=\d) [A-Za-z]$")


def _trim_run(run: str) -> str:
    """Drop separators at the ends, a letter set apart before or after a number (`5 m`), and
    brackets that close nothing (`is 5)` -> `5`)."""
    run = _LONE_LETTER.sub("", run.strip(_EDGE)).strip(_EDGE)
    while run and run[-1] in ")]}" and _depth(run) < 0:
        run = run[:-1].rstrip(_EDGE)
    while run and run[0] in "([{" and _depth(run) > 0:
        run = run[1:].lstrip(_EDGE)
    return run


def _depth(s: str) -> int:
    return sum(s.count(c) for c in "([{") - sum(s.count(c) for c in ")]}")


def _group(found: list[Candidate], text: str, spans_only: bool) -> str:
    """The last candidate with the ones before it joined by only `and` / `,` / spacing (`$2$ and $-3$`
    -> `2, -3`); with `spans_only`, only math spans join (`m = 25 and n = 169, and m + n = 194`: the last)."""
    lo = len(found) - 1
    while lo > 0 and _JOINER.match(text[found[lo - 1][1] : found[lo][0]]) and (found[lo - 1][3] and found[lo][3] or not spans_only):
        lo -= 1
    return ", ".join(after_equals(c[2]) for c in found[lo:])


def sentence_answer(sentence: str, spans_only: bool = True) -> str | None:
    """The answer a sentence states: the math it ends on (`the volume of $ABCD$ is 120.` -> `120`)."""
    found = candidates(sentence)
    return _group(found, sentence, spans_only) if found else None


# `t = ... = 240 - 36` in plain text: arithmetic on numbers still to do is a computation in progress, not a result
_UNFINISHED = re.compile(r"\d\s*[-+*×·]\s*\d+(?![\d.]*[A-Za-z\\])")


def statement_answer(sentence: str) -> str | None:
    """The answer a closing sentence states; "" when it ends on a computation still in progress
    in plain text (no answer, and no looking further back)."""
    found = candidates(sentence)
    if not found:
        return None
    answer = _group(found, sentence, spans_only=True)
    return "" if not found[-1][3] and _UNFINISHED.search(answer) else answer


_REL = re.compile(r"(?<![<>!\\])=(?!=)")
_NAME_TEXT = re.compile(r"\\(?:frac|dfrac|tfrac|sqrt|cdot|times|left|right|pi|div|pm)|\\\$|\\[,;:! ]|[\d\s+\-*/^(){}\[\].,]")


def after_equals(s: str) -> str:
    """`2 + 5/3 + 1 = 14/3` -> `14/3`, `a = b = 5` -> `5`; `x = 5`, `2x + 4y = 3` and lists stay whole."""
    if "=" not in s or _top_level_comma(s):
        return s
    parts = _top_level_split(s)
    if len(parts) >= 3 or len(parts) == 2 and not _NAME_TEXT.sub("", parts[0]).strip():
        return parts[-1].strip(" *") or s
    return s


def _top_level_split(s: str) -> list[str]:
    """s cut at each `=` outside brackets and braces (`\\sum_{k=0}^{n-1} ...` keeps its `k=0`)."""
    cuts = []
    for m in _REL.finditer(s):
        if _depth(s[: m.start()]) == 0:
            cuts.append(m.start())
    bounds = [-1, *cuts, len(s)]
    return [s[a + 1 : b] for a, b in zip(bounds, bounds[1:])]


def _top_level_comma(s: str) -> bool:
    depth = 0
    for c in s:
        depth += (c in "([{") - (c in ")]}")
        if c == "," and depth == 0:
            return True
    return False


_QUOTES = re.compile(r'^(?:\\?"|\*)+|(?:\\?"|\*)+$')


def phrase_answer(phrase: str) -> str:
    """What follows "the answer is": a bare answer as is (`3.5`, `(B)`, `\\text{Evelyn}`), else the math it
    states (`9 customers` -> `9`, `indeed 6` -> `6`, `the domain of $f(x)$ is 19` -> `19`), else a number word (`three boxes ...` -> `3`)."""
    s = _QUOTES.sub("", phrase.strip()).strip()
    if not has_words(s):
        return s
    found = sentence_answer(s, spans_only=False)  # after "the answer is": `12 and 13` is the answer
    if found:
        return found
    word = _NUMBER_WORD.match(s)
    if word and word.group(1).lower() in _NUMBER_WORDS:
        return _NUMBER_WORDS[word.group(1).lower()]
    return s


def has_words(s: str) -> bool:
    """Prose: a word of two letters or more outside LaTeX commands, `\\text{}` and environment names."""
    return bool(_WORD.search(_LATEX_WORDS.sub(" ", s)))


def sentences(line: str) -> list[str]:
    """A line cut into sentences, never inside a math span."""
    spans = [(m.start(), m.end()) for m in _SPAN.finditer(line)]
    cuts = [m.start() for m in _SENTENCE.finditer(line) if not any(a < m.start() < b for a, b in spans)]
    bounds = [0, *cuts, len(line)]
    return [line[a:b].strip() for a, b in zip(bounds, bounds[1:]) if line[a:b].strip()]


_DANGLING = "=+-/^(,[{:\\&"  # not `*`: markdown bold (`**194**`)


def cut_off(text: str) -> bool:
    """A response that stops mid-sentence: on an operator, an open bracket, or a word with no full stop
    on a last line that states no math (`... so area = 2x +`, `... in this grid, all`)."""
    s = text.rstrip()
    if not s or s[-1] in _DANGLING:
        return True
    return s[-1].isalpha() and not candidates(s.rsplit("\n", 1)[-1][-_SPAN_CHARS:])


_DISPLAY_END = re.compile(r"(?:\\\]|\$\$)\s*$")


def closing_display(text: str) -> str | None:
    """A response that ends on a display block (`\\[ 5x - 7y + 11z + 4 = 0 \\]`): its content."""
    if not _DISPLAY_END.search(text):
        return None
    tail = text[-2 * _SPAN_CHARS :]
    spans = [m for m in _SPAN.finditer(tail) if m["dd"] is not None or m["db"] is not None]
    if not spans or tail[spans[-1].end() :].strip():
        return None
    body = (spans[-1]["dd"] or spans[-1]["db"]).strip()
    return after_equals(body) if body else None
