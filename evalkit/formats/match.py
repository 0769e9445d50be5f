"""Which benchmark problem a samples-file record is: by an id, or by its question text.

evalkit's own lines name the problem by an id (evalkit's `math500/3` or the benchmark's own
`test/precalculus/807.json`); other harnesses' records carry the dataset row (or its question) and a
position. Ids are tried first, each checked against the record's question when it has one (an `id` of
another copy of the benchmark may name another problem); then the question itself: equal after
normalising (Unicode NFKC, case, runs of whitespace), else the benchmark problem whose text the question
contains (a task template around it), the longest such. A position the tool assigned is only a hint.
"""

from __future__ import annotations

import difflib
import unicodedata
from typing import Sequence

from ..types import EvalkitError, Problem
from . import Entry

MIN_CONTAINED = 12  # a benchmark question shorter than this (normalised) is never found inside another text


def normalise(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


class IdResolver:
    """Maps every accepted name of a problem to its canonical id, and says what the names look like."""

    def __init__(self, bench: str, problems: Sequence[Problem]):
        self.bench = bench
        self.canonical = {p.id: p.id for p in problems}
        upstream: dict[str, list[str]] = {}
        for p in problems:
            source = p.metadata.get("source_id") if p.metadata else None
            if source is not None and str(source) != p.id:
                upstream.setdefault(str(source), []).append(p.id)
        # an upstream id that names two problems (or clashes with a canonical id) is not accepted
        self.upstream = {s: ids[0] for s, ids in upstream.items() if len(ids) == 1 and s not in self.canonical}
        self.example = problems[0] if problems else None

    def resolve(self, name: str) -> tuple[str | None, str]:
        """(canonical id or None, which scheme the name uses: "evalkit" or "upstream")."""
        if name in self.canonical:
            return name, "evalkit"
        return self.upstream.get(name), "upstream"

    def unknown(self, name: str) -> str:
        """The one-line hint for an id that names no problem: an example of each accepted form."""
        close = difflib.get_close_matches(name, [*self.canonical, *self.upstream][:5000], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        forms = [f"{self.example.id!r}"] if self.example else []
        source = self.example.metadata.get("source_id") if self.example and self.example.metadata else None
        if source is not None and str(source) in self.upstream:
            forms.append(f"the benchmark's own id, e.g. {str(source)!r}")
        return f"unknown problem {name!r}{hint}; {self.bench} problems are named like {' or '.join(forms)}"


class ProblemMatcher(IdResolver):
    """IdResolver plus the question texts: finds the problem of any format's `Entry`."""

    def __init__(self, bench: str, problems: Sequence[Problem]):
        super().__init__(bench, problems)
        self.problems = list(problems)
        self.texts = {p.id: normalise(p.prompt) for p in problems}
        self.exact: dict[str, list[str]] = {}
        for pid, text in self.texts.items():
            self.exact.setdefault(text, []).append(pid)
        self.longest_first = sorted((pid for pid, t in self.texts.items() if len(t) >= MIN_CONTAINED), key=lambda p: -len(self.texts[p]))
        self._found: dict[str, str | None] = {}  # normalised question -> problem, for texts found by search

    def identify(self, entry: Entry) -> tuple[str, tuple[str, str]]:
        """(canonical id, (the name used, how it was found)); one error line when nothing matches."""
        if entry.name is not None:
            pid, how = self.resolve(entry.name)
            if pid is None:
                raise EvalkitError(f"{entry.where}: {self.unknown(entry.name)}; name problems that way (or pass the --bench these samples were made for)")
            return pid, (entry.name, how)
        question = normalise(entry.question) if entry.question else None
        for value in entry.ids:
            pid, _ = self.resolve(value)
            if pid is not None and (question is None or self.agrees(pid, question)):
                return pid, (value, "doc id")
        if question is not None:
            pid = self.by_question(question, entry.index)
            if pid is not None:
                return pid, ("question", "question")
        raise EvalkitError(f"{entry.where}: {self._no_match(entry)}; is this file from {self.bench}? pass the --bench "
                           "(and --data) its samples were made for")

    def agrees(self, pid: str, question: str) -> bool:
        text = self.texts[pid]
        return text == question or (len(text) >= MIN_CONTAINED and text in question) or (len(question) >= MIN_CONTAINED and question in text)

    def by_question(self, question: str, hint: int | None) -> str | None:
        exact = self.exact.get(question)
        if exact:
            if len(exact) == 1:
                return exact[0]
            chosen = [pid for pid in exact if hint is not None and 0 <= hint < len(self.problems) and self.problems[hint].id == pid]
            return (chosen or exact)[0]
        if hint is not None and 0 <= hint < len(self.problems) and self.agrees(self.problems[hint].id, question):
            return self.problems[hint].id
        if question not in self._found:
            self._found[question] = next((pid for pid in self.longest_first if self.texts[pid] in question), None)
        return self._found[question]

    def _no_match(self, entry: Entry) -> str:
        ids = f"its id{'s' if len(entry.ids) > 1 else ''} {', '.join(repr(i) for i in entry.ids[:3])} name{'' if len(entry.ids) > 1 else 's'} no {self.bench} problem" \
            if entry.ids else "it carries no id of the benchmark"
        if entry.question is None:
            return f"{ids}, and it has no question text to match"
        shown = " ".join(entry.question.split())[:60]
        return f"{ids}, and its question ({shown!r}...) matches none of {self.bench}'s {len(self.problems)} problems"
