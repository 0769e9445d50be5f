"""A second, independent math grader, so that the primary's mistakes show up as disagreements.

It differs from MathVerifier (extract.py + math-verify) at every step, following published rules:
- extraction: the last `\\boxed` by Hendrycks' MATH rule (a cut-off last box is no box: no
  fallback to an earlier one; boxes set side by side are one answer), then the last "answer is" /
  "answer:" phrase, then a short one-line response taken whole, then the Qwen2.5-Math fallback
  (the last number in the text, or a math span ending after it);
- equivalence: Hendrycks' string normalisation (with the Qwen2.5-Math additions: units, `x =`,
  thousands), then numbers by value (a decimal against an exact value by its rounding, two
  decimals with the Qwen2.5-Math / ToRA relative tolerance 1e-4), then structure (tuples,
  intervals, sets, matrices) and sympy on our own LaTeX parser (second_equiv.py), never
  math-verify or latex2sympy. `<think>` and finish_reason are read as the primary reads them, so
  both report the same statuses.

    grader = SecondGrader(); grader.grade([(gold, completion, finish_reason), ...])
        -> [SecondGrade(correct, answer, status)], statuses as Grade's: correct / wrong /
           no_answer / truncated / error / timeout.

Strings settle most pairs in this process; each distinct (gold, answer) left over is checked
once, on forked worker processes that are SIGKILLed past the time limit (sympy can hang).
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
import re
import resource
import time
from collections import OrderedDict, deque
from functools import lru_cache
from multiprocessing.connection import Connection, wait
from typing import Iterable, Iterator, NamedTuple

from . import second_equiv
from .second_equiv import plain_number, split_top, values_match

_CACHE_SIZE = 100_000
_LONG = 5000
_CACHED_KEY_CHARS = 4096
_START_LIMIT_S = 120


class SecondGrade(NamedTuple):
    correct: bool
    answer: str | None  # the extracted answer as written (None when there is none)
    status: str


# -- extraction -----------------------------------------------------------------------------------
_PHRASE = re.compile(r"answer\s*(?:is|:)\s*:?", re.IGNORECASE)
_GROUPED_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d*\.?\d+")
_WORD = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{3,}")
_SHORT = 300
_FILLER = re.compile(r"^(?:(?:indeed|still|then|therefore|thus|so|clearly|definitely|also|now|just|exactly|simply|actually)\b[\s,]*)+", re.IGNORECASE)
_VERDICT_WORDS = {"correct", "right", "wrong", "incorrect", "consistent", "valid", "invalid", "confirmed", "verified", "the same", "unique", "reasonable", "not"}


def extract(completion: str, finish_reason: str | None = "stop") -> tuple[str | None, str]:
    """(answer, status): status ok / no_answer / truncated / error."""
    if finish_reason == "error":
        return None, "error"
    if finish_reason == "length":
        return None, "truncated"
    text = completion
    if "</think>" in text:
        text = text[text.rfind("</think>") + len("</think>") :]
    elif "<think>" in text:
        return None, "truncated"
    for rule in (last_boxed, answer_phrase, whole_if_short, last_math_or_number):
        found = rule(text)
        if found:
            return found, "ok"
    return None, "no_answer"


def last_boxed(text: str) -> str | None:
    """Hendrycks' rule: the last `\\boxed` (else the last `\\fbox`), its balanced braces; `\\boxed 5`.

    A cut-off last box is no box (no fallback to an earlier one). Boxes set side by side
    (`\\boxed{2} and \\boxed{3}`: nothing but spacing, punctuation, "and" between them) are one answer;
    `\\boxed{15\\frac{39}{40}}, or \\boxed{\\frac{639}{40}}` offers alternatives: the last counts.
    """
    name = "\\boxed" if "\\boxed" in text else "\\fbox"
    idx = text.rfind(name)
    if idx < 0:
        return None
    found = _box_at(text, idx, name)
    if found is None:
        return None
    answers = [found[0]]
    while True:
        prev = text.rfind(name, 0, idx)
        box = _box_at(text, prev, name) if prev >= 0 else None
        if box is None or box[1] > idx or not _only_joiners(text[box[1] : idx]):  # not a box around this one
            break
        answers.insert(0, box[0])
        idx = prev
    answers = [a for a in answers if a]
    return ", ".join(answers) if answers else None


def _box_at(text: str, idx: int, name: str) -> tuple[str, int] | None:
    """(content, end) of the box starting at text[idx]; None when its braces never close."""
    rest_at = idx + len(name)
    rest = text[rest_at:]
    if rest.startswith(" ") and not rest.lstrip(" ").startswith("{"):
        answer = rest.lstrip(" ").split("$")[0].split("\n")[0]
        return answer.strip(), rest_at + len(rest) - len(rest.lstrip(" ")) + len(answer)
    start = rest.find("{")
    if start < 0 or rest[:start].strip():
        return None
    depth = 0
    for j in range(start, len(rest)):
        depth += (rest[j] == "{") - (rest[j] == "}")
        if depth == 0:
            return rest[start + 1 : j].strip(), rest_at + j + 1
    return None


_JOINER_TEXT = re.compile(r"\\(?:quad|qquad|text|mbox|[,;:! ])|\band\b|[\s,;.${}()\\]")  # `or` offers alternatives


def _only_joiners(gap: str) -> bool:
    return len(gap) <= 80 and not _JOINER_TEXT.sub("", gap).strip()


def answer_phrase(text: str) -> str | None:
    """What follows the last "answer is" / "answer:" on its line, up to the sentence's end."""
    found = None
    for found in _PHRASE.finditer(text):
        pass
    if found is None:
        return None
    line = text[found.end() :].split("\n", 1)[0]
    line = re.split(r"(?<!\d)\.(?:\s|$)|\.\s", line + " ", maxsplit=1)[0].strip().strip("*").strip()
    line = _FILLER.sub("", line)
    if line.lower().rstrip("!.") in _VERDICT_WORDS:  # "the answer is correct": not an answer
        return None
    answer = _unwrap(line)
    if answer and _math_like(answer) and not _MATH_SPAN.search(answer):
        return answer
    return _last_math_or_number(line)  # "The answer is the number $5$ of ..."


def whole_if_short(text: str) -> str | None:
    """A short one-line response: its last math span or number if it has words, else all of it (`\\frac{1}{2}`, `10 cm`)."""
    s = text.strip().rstrip(".").strip()
    if not s or len(s) > _SHORT or "\n" in s:
        return None
    whole = _unwrap(s)
    if whole != s and not _MATH_SPAN.search(whole):  # one span around all of it
        return whole or None
    if _MATH_SPAN.search(s) or not _math_like(s):
        return _last_math_or_number(s) if _MATH_SPAN.search(s) else None
    return s


_MATH_SPAN = re.compile(r"\$\$(.{1,400}?)\$\$|\$(.{1,400}?)\$|\\\((.{1,400}?)\\\)|\\\[(.{1,400}?)\\\]", re.DOTALL)


def _last_math_or_number(line: str) -> str | None:
    """Whichever ends last: an inline math span's content or a number outside math."""
    found = [(m.end(), next(g for g in m.groups() if g is not None).strip()) for m in _MATH_SPAN.finditer(line)]
    outside = _MATH_SPAN.sub(lambda m: " " * len(m.group(0)), line)
    found += [(m.end(), m.group(0)) for m in _GROUPED_NUMBER.finditer(outside)]
    found = [f for f in found if f[1]]
    return max(found)[1] if found else None


def last_math_or_number(text: str) -> str | None:
    """The Qwen2.5-Math fallback (the last number in the text), or a math span that ends after it."""
    return _last_math_or_number(text[-4000:])


def _unwrap(s: str) -> str:
    s = s.strip()
    for left, right in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if s.startswith(left) and s.endswith(right) and len(s) >= len(left) + len(right):
            return s[len(left) : len(s) - len(right)].strip()
    return s


def _math_like(s: str) -> bool:
    """Prose has two or more words; an answer has at most one (a unit, a name)."""
    return len(_WORD.findall(re.sub(r"\\(?:begin|end)\{[^{}]*\}|\\[a-zA-Z]+", " ", s))) <= 1


def gold_answer(gold: str) -> str:
    """A gold given as a worked solution counts by its last box; `$...$` around it is dropped."""
    boxed = last_boxed(gold) if "\\boxed" in gold or "\\fbox" in gold else None
    return _unwrap(boxed if boxed is not None else gold)


# -- normalisation (Hendrycks' strip_string, with the Qwen2.5-Math additions) ------------------------
_REMOVE = ("\n", "\\!", "\\,", "\\;", "\\:", "\\quad", "\\qquad", "\\left", "\\right", "\\displaystyle",
           "^{\\circ}", "^\\circ", "\\circ", "°", "\\$", "$", "\\limits")  # fmt: skip
_WRAPPERS = re.compile(r"\\(?:text|textbf|textit|textnormal|mathrm|mathbf|mathit|mbox|operatorname)\s*\{([^{}]*)\}")
_PERCENT_WORDS = re.compile(r"\s*(?:\\%|%|percentage|percent|pct)\s*$")
_JOINERS = re.compile(r"\s*,?\s*\b(?:and|or)\b\s*")
_UNIT = re.compile(r"(.*?[\d}])\s*[a-zA-Z]{2,}(?:\s+[a-zA-Z]+)*(?:\^\{?\d\}?)?")
_MIXED = re.compile(r"(-?)(\d+)\s*(?:\\frac\{?(\d+)\}?\{?(\d+)\}?|\s(\d+)/(\d+))")
_SUBSCRIPT = re.compile(r"_\{[^{}]*\}|_\w")
_CHAINED = re.compile(r"(.+?)(<=|<|\\leq?|\\lt)([a-zA-Z](?:_\w)?|[a-zA-Z]\([a-zA-Z]\))(<=|<|\\leq?|\\lt)(.+)")
_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d{1,3}(?: \d{3})+(?:\.\d+)?")
_LETTER = re.compile(r"\(([A-Ea-e])\)|([A-E])")


def normalize(answer: str) -> str:
    """One canonical spelling; short answers (nearly all) are cached."""
    return _normalize_cached(answer) if len(answer) <= 512 else _normalize(answer)


@lru_cache(maxsize=65536)
def _normalize_cached(answer: str) -> str:
    return _normalize(answer)


_DOUBLE_ESCAPED = re.compile(r"(?<!\\)\\\\(?=(?:[dtc]?frac|sqrt|left|right|begin|end|pi|infty|text|mathrm|cdot|times|[lg]eq?|neq|boxed))")


def _normalize(answer: str) -> str:
    if len(answer) > _LONG:  # no answer is this long: keep this process's regex work linear, let a worker decide
        return re.sub(r"\s+", "", answer)
    s = _unwrap(answer.strip())
    s = _DOUBLE_ESCAPED.sub(r"\\", s)  # `\\frac` written into JSON twice escaped: `\frac`
    if s.startswith("\\boxed{") and s.endswith("}"):
        s = s[len("\\boxed{") : -1]
    s = re.sub(r"(?<=\d),\\!\s*(?=\d{3})", ",", s)  # MATH's `32,\! 349` is 32349; `32, 349` stays a list
    s = re.sub(r"\s*\{\s*,\s*\}\s*", ",", s)  # `10{,}000`
    s = re.sub(r"(?<!\\)\\ ", " ", s)  # `\ ` (a LaTeX space), not the `\\ ` of a matrix row
    for token in _REMOVE:
        s = s.replace(token, "")
    for variant in ("\\dfrac", "\\tfrac", "\\cfrac"):
        s = s.replace(variant, "\\frac")
    for _ in range(3):  # nested \text{\textbf{...}}
        s = _WRAPPERS.sub(r"\1", s)
    s = re.sub(r"(\d)\s*(?:\^\{?\s*(?:st|nd|rd|th)\s*\}?|(?:st|nd|rd|th)\b)", r"\1", s)  # `12^{\text{th}}` grade
    s = _PERCENT_WORDS.sub("%", s.strip())
    s = _JOINERS.sub(",", s).strip(",")
    if ";" in s and "," not in s:  # `-12;-11;-10`
        s = s.replace(";", ",")
    s = s.replace("infinity", "\\infty").replace("+\\infty", "\\infty")
    if _THOUSANDS.fullmatch(s.strip()):
        s = s.replace(",", "").replace(" ", "")
    s = ",".join(_item(x) for x in split_top(s, ","))
    letter = _LETTER.fullmatch(s)
    return (letter.group(1) or letter.group(2)).upper() if letter else s


def _item(s: str) -> str:
    """One element of a list: names dropped (`x = 5`, `k \\approx 6`), units, mixed numbers, spaces."""
    s = s.strip().rstrip(".").rstrip("\\").strip()
    if "\\approx" in s:
        lhs, _, rhs = s.partition("\\approx")
        s = rhs if _is_name(lhs) else lhs
    parts = split_top(s, "=")
    if len(parts) > 2 or len(parts) == 2 and _is_name(parts[0]):  # `x = 5`; `a+b = 11+9 = 20`: the last
        s = parts[-1] if not re.search(r"[<>!]|\\[lg]e|\\neq?", s) else s
    s = re.sub(r"^[a-zA-Z]\s*\\in\s*", "", s.strip())
    mixed = _MIXED.fullmatch(s)
    if mixed:
        sign, whole, num, den = mixed.group(1), int(mixed.group(2)), mixed.group(3) or mixed.group(5), mixed.group(4) or mixed.group(6)
        s = f"{sign}{whole * int(den) + int(num)}/{den}" if int(den) else s
    unit = _UNIT.fullmatch(s)
    if unit and not re.search(r"(?<![\\a-zA-Z])[a-zA-Z]", unit.group(1)):
        s = unit.group(1)
    s = re.sub(r"\s+", "", s)
    s = re.sub(r"\\sqrt(\w)", r"\\sqrt{\1}", s)
    s = re.sub(r"\\frac(\d)(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\{([^{}]*)\}(\w)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac(\w)\{", r"\\frac{\1}{", s)
    s = re.sub(r"_\{(\w)\}", r"_\1", s)
    s = re.sub(r"(^|[^\d}])\.(\d)", r"\g<1>0.\2", s)  # `.5` -> `0.5`, `{.5}` -> `{0.5}`
    chained = _CHAINED.fullmatch(s)  # `-2\le x\le 7` is the interval [-2,7]
    if chained:
        low, op1, _, op2, high = chained.groups()
        s = ("[" if op1 in ("<=", "\\le", "\\leq") else "(") + f"{low},{high}" + ("]" if op2 in ("<=", "\\le", "\\leq") else ")")
    if "\\pm" in s and s.count("\\pm") == 1:
        s = s.replace("\\pm", "+") + "," + s.replace("\\pm", "-")
    return s


def _is_name(lhs: str) -> bool:
    """`x`, `f(x)`, `(p,q)`, `AB`, `V_1:V_2`, `\\theta`: a left side that names the answer, not an expression."""
    bare = _SUBSCRIPT.sub("", lhs.strip())
    return 0 < len(bare) <= 30 and not re.search(r"[\d+\-*/^<>!]|\\cdot|\\times", bare)


def fast_verdict(gold: str, pred: str) -> bool | None:
    """Settle what strings settle (normalised inputs); None: needs the symbolic check."""
    if gold == pred or len(gold) > 1 and gold.lower() == pred.lower():  # `c` is not choice `C`
        return True
    g, p = plain_number(gold), plain_number(pred)
    if g is not None and p is not None:
        return values_match(g, p, gold, pred)
    g_letter, p_letter = len(gold) == 1 and gold.isupper(), len(pred) == 1 and pred.isupper()
    if g_letter and (p_letter or p is not None) or p_letter and g is not None:
        return False  # a choice letter against another letter or a number
    return None


# -- killable workers -------------------------------------------------------------------------------
def _serve(conn: Connection, memory_bytes: int) -> None:
    """Worker loop: (key, gold, pred) -> (key, status, detail); the parent kills it past the limit."""
    if memory_bytes:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = _address_space() + memory_bytes
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard < 0 else min(limit, hard), hard))
    conn.send("ready")
    while True:
        try:
            key, gold, pred = conn.recv()
        except (EOFError, OSError):
            return
        try:  # looked up per call, so a test's monkeypatch before the fork reaches the worker
            status, detail = ("correct" if second_equiv.answers_equal(gold, pred) else "wrong"), "second grader"
        except MemoryError:
            status, detail = "error", "second grader's symbolic check ran out of memory"
        except Exception as e:  # a bug in our parser is the grader's failure, not the model's
            status, detail = "error", f"second grader failed: {type(e).__name__}: {str(e)[:160]}"
        conn.send((key, status, detail))


def _address_space() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class _Worker:
    def __init__(self, ctx: mp.context.BaseContext, memory_bytes: int):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_serve, args=(child, memory_bytes), daemon=True)
        self.proc.start()
        child.close()
        self.key: object = None
        self.deadline = 0.0
        try:
            ready = self.conn.poll(_START_LIMIT_S) and self.conn.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            self.kill()
            raise RuntimeError(f"a second-grader worker did not start within {_START_LIMIT_S}s")

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join()
        self.conn.close()


class KillablePool:
    """Runs a batch of checks on up to `workers` forked processes, each check under a hard time limit.

    Workers are forked from this process (sympy already imported), start lazily and are reused;
    one that overruns is SIGKILLed and replaced (status timeout), one that dies reports error.
    """

    def __init__(self, workers: int | None = None, time_limit: float = 5.0, memory_mb: int = 4096):
        self.workers = workers or len(os.sched_getaffinity(0))
        self.time_limit = time_limit
        self.memory_bytes = memory_mb * 2**20
        self._ctx = mp.get_context("fork")
        self._pool: list[_Worker] = []

    def run(self, tasks: dict[object, tuple[str, str]]) -> dict[object, tuple[str, str]]:
        """{key: (gold, pred)} -> {key: (status, detail)}; blocks until every check has an outcome."""
        queue, out = deque(tasks.items()), {}
        while queue or any(w.key is not None for w in self._pool):
            self._dispatch(queue)
            busy = [w for w in self._pool if w.key is not None]
            if not busy:  # a send failed and its worker was replaced: dispatch again
                continue
            ready = wait([w.conn for w in busy], timeout=max(0.0, min(w.deadline for w in busy) - time.monotonic()))
            for w in busy:
                if w.conn in ready:
                    out.update([self._collect(w)])
                elif time.monotonic() >= w.deadline:
                    out[w.key] = ("timeout", f"second grader's check exceeded {self.time_limit:g}s and was killed")
                    self._replace(w)
        return out

    def _dispatch(self, queue: deque) -> None:
        while queue:
            idle = next((w for w in self._pool if w.key is None), None)
            if idle is None and len(self._pool) < self.workers:
                idle = _Worker(self._ctx, self.memory_bytes)
                self._pool.append(idle)
            if idle is None:
                return
            key, (gold, pred) = queue.popleft()
            idle.key, idle.deadline = key, time.monotonic() + self.time_limit
            try:
                idle.conn.send((key, gold, pred))
            except (BrokenPipeError, OSError):
                queue.appendleft((key, (gold, pred)))
                idle.key = None
                self._replace(idle)

    def _collect(self, w: _Worker) -> tuple[object, tuple[str, str]]:
        key = w.key
        try:
            _, status, detail = w.conn.recv()
        except (EOFError, OSError):
            code = w.proc.exitcode
            self._replace(w)
            return key, ("error", f"second grader's worker died (exit code {code})")
        w.key = None
        return key, (status, detail)

    def _replace(self, w: _Worker) -> None:
        w.kill()
        self._pool.remove(w)

    def close(self) -> None:
        for w in self._pool:
            w.kill()
        self._pool.clear()


# -- the grader -----------------------------------------------------------------------------------
Row = tuple[str, str, "str | None"]  # (gold, completion, finish_reason)


class SecondGrader:
    """Grades in bulk: each distinct (normalised gold, normalised answer) is decided once.

    time_limit: seconds one symbolic check may take before its worker is killed (status timeout).
    chunk: rows held at once; grades come out in input order, chunk by chunk.
    """

    def __init__(self, time_limit: float = 5.0, workers: int | None = None, memory_mb: int = 4096, chunk: int = 8192):
        self.pool = KillablePool(workers=workers, time_limit=time_limit, memory_mb=memory_mb)
        self.chunk = chunk
        self._verdicts: OrderedDict[tuple[str, str], tuple[str, str]] = OrderedDict()

    def grade(self, rows: Iterable[Row]) -> list[SecondGrade]:
        return list(self.grade_iter(rows))

    def grade_iter(self, rows: Iterable[Row]) -> Iterator[SecondGrade]:
        """Completions: the answer is extracted first (a `length` finish is truncated, `error` an error)."""
        for chunk in _batches(rows, self.chunk):
            yield from self._grade_chunk([(gold_answer(g), *extract(c, fr)) for g, c, fr in chunk])

    def grade_answers(self, pairs: Iterable[tuple[str, str]]) -> list[SecondGrade]:
        """Already-extracted answers: (gold, answer) pairs, no extraction."""
        out: list[SecondGrade] = []
        for chunk in _batches(pairs, self.chunk):
            out += self._grade_chunk([(gold_answer(g), a.strip() or None, "ok" if a.strip() else "no_answer") for g, a in chunk])
        return out

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> "SecondGrader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _grade_chunk(self, found: list[tuple[str, str | None, str]]) -> list[SecondGrade]:
        keys = [(normalize(g), normalize(a)) if a is not None else None for g, a, _ in found]
        todo: dict[tuple[str, str], tuple[str, str]] = {}
        verdicts: dict[tuple[str, str], tuple[str, str]] = {}
        for key in keys:
            if key is None or key in verdicts or key in todo:
                continue
            cached = self._verdicts.get(key)
            fast = fast_verdict(*key) if cached is None else None
            if cached is not None:
                self._verdicts.move_to_end(key)
                verdicts[key] = cached
            elif fast is not None:
                verdicts[key] = ("correct" if fast else "wrong", "strings or numbers")
            else:
                todo[key] = key  # the worker checks the normalised pair
        verdicts.update(self.pool.run(todo))
        for key in todo:
            self._remember(key, verdicts[key])
        return [_final(a, status, verdicts.get(key)) for (_, a, status), key in zip(found, keys)]

    def _remember(self, key: tuple[str, str], verdict: tuple[str, str]) -> None:
        if len(key[0]) + len(key[1]) > _CACHED_KEY_CHARS:
            return
        self._verdicts[key] = verdict
        if len(self._verdicts) > _CACHE_SIZE:
            self._verdicts.popitem(last=False)


def _final(answer: str | None, status: str, verdict: tuple[str, str] | None) -> SecondGrade:
    if answer is None or verdict is None:
        return SecondGrade(False, None, status)
    return SecondGrade(verdict[0] == "correct", answer, verdict[0])


def _batches(rows: Iterable, size: int) -> Iterator[list]:
    it = iter(rows)
    while batch := list(itertools.islice(it, size)):
        yield batch
