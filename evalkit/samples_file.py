"""Read completions produced elsewhere (`evalkit score --samples FILE`), as a stream.

Accepted per line (JSON Lines, read with the `jsonlines` library):
    {ID_FIELD: ID, "completion": TEXT}      one sample; repeated lines of a problem are its samples, in file order
    {ID_FIELD: ID, "completions": [TEXT, ...]}
    {ID_FIELD: ID, "solution": TEXT}        EvalPlus's samples format
ID_FIELD is evalkit's `problem_id`, or the field other tools key the benchmark by (`task_id`, MATH-500's
`unique_id`, AIME/AMC/OlympiadBench `id`, Minerva `idx`, LiveCodeBench `question_id`). The id may be
evalkit's (`math500/3`) or the benchmark's own (`test/precalculus/807.json`); grades, metrics and exports
keep one canonical id per problem. One problem named two ways in one file is refused.

The file is read twice and never held: once to check it and count samples per problem (what the run
must hold, before anything is written), once to copy its samples into the run directory.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import jsonlines

from .types import EvalkitError, Problem

ID_FIELDS = ("problem_id", "task_id", "unique_id", "id", "idx", "question_id")
TEXT_FIELDS = ("completion", "completions", "solution")


@dataclass
class SamplesFile:
    """What a first pass over the file found: samples per canonical problem id, and the file's hash."""

    path: Path
    counts: dict[str, int]
    digest: str
    size: int
    aliases: dict[str, str] = field(repr=False, default_factory=dict)


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


def scan(path: str | Path, resolver: IdResolver) -> SamplesFile:
    """First pass: validate every line, count samples per problem, hash the bytes. Holds no text."""
    p = Path(path)
    counts: dict[str, int] = {}
    scheme: dict[str, tuple[str, str, int]] = {}  # canonical id -> (name used, scheme, first line)
    digest = hashlib.sha256()
    for lineno, rec, texts in _records(p, resolver, digest):
        pid, how = rec
        first = scheme.setdefault(pid, (how[0], how[1], lineno))
        if first[1] != how[1]:
            raise EvalkitError(f"{p}:{lineno}: problem {pid} is named {how[0]!r} here but {first[0]!r} on line {first[2]}; "
                               "name each problem one way in a file (evalkit's id or the benchmark's own)")
        counts[pid] = counts.get(pid, 0) + len(texts)
    if not counts:
        raise EvalkitError(f"{p}: no samples found; expected JSON lines with problem_id and completion")
    return SamplesFile(p, counts, "sha256:" + digest.hexdigest()[:16], p.stat().st_size)


def completions(found: SamplesFile, resolver: IdResolver) -> Iterator[tuple[str, int, str]]:
    """Second pass: (canonical id, sample index, text) in file order."""
    index: dict[str, int] = {}
    for _, (pid, _), texts in _records(found.path, resolver, None):
        for text in texts:
            i = index.get(pid, 0)
            index[pid] = i + 1
            yield pid, i, text


def _records(path: Path, resolver: IdResolver, digest) -> Iterator[tuple[int, tuple[str, tuple[str, str]], list[str]]]:
    try:
        f = open(path, "rb")
    except OSError as e:
        raise EvalkitError(f"--samples {path}: cannot read ({e.strerror or e}); check the path") from None
    with f:
        lines = _Lines(f, digest)
        reader = jsonlines.Reader(lines, loads=json.loads)
        try:
            for rec in reader.iter(type=dict, skip_empty=True):
                yield lines.lineno, _identify(path, lines.lineno, rec, resolver), _texts(path, lines.lineno, rec)
        except jsonlines.InvalidLineError as e:
            what = "expected a JSON object per line" if "requested type" in str(e) else "malformed JSON line"
            raise EvalkitError(f"{path}:{e.lineno}: {what}; each line must be one JSON object") from None


class _Lines:
    """The file's lines for the reader, counting them (the current record's line number) and feeding
    every byte to `digest` when one is given."""

    def __init__(self, f, digest):
        self.f, self.digest, self.lineno = f, digest, 0

    def __iter__(self):
        for raw in self.f:
            self.lineno += 1
            if self.digest is not None:
                self.digest.update(raw)
            yield raw


def _identify(path: Path, lineno: int, rec: dict, resolver: IdResolver) -> tuple[str, tuple[str, str]]:
    field_name = next((k for k in ID_FIELDS if rec.get(k) is not None), None)
    if field_name is None:
        raise EvalkitError(f"{path}:{lineno}: no problem id field ({', '.join(ID_FIELDS[:3])}, ...); add \"problem_id\" to each line")
    name = str(rec[field_name])
    pid, how = resolver.resolve(name)
    if pid is None:
        raise EvalkitError(f"{path}:{lineno}: {resolver.unknown(name)}; name problems that way (or pass the --bench these samples were made for)")
    return pid, (name, how)


def _texts(path: Path, lineno: int, rec: dict) -> list[str]:
    if "completions" in rec:
        texts = rec["completions"]
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise EvalkitError(f"{path}:{lineno}: \"completions\" must be a list of strings")
        return texts
    for key in ("completion", "solution"):
        if isinstance(rec.get(key), str):
            return [rec[key]]
    raise EvalkitError(f"{path}:{lineno}: no \"completion\" string, \"completions\" list or \"solution\" string")
