"""Read completions produced elsewhere (`evalkit score --samples FILE`), as a stream.

The file is evalkit's own lines or another harness's output as that harness writes it (lm-eval
samples, lighteval details parquet, Qwen2.5-Math / math-evaluation-harness outputs, SkyThought
results.json, EvalPlus samples): evalkit/formats/ has one reader per format, and the format is detected
from the file or named with --format. Each record's problem is found by its id or its question text
(formats/match.py); grades, metrics and exports keep one canonical id per problem. In evalkit's own
lines an id may be evalkit's (`math500/3`) or the benchmark's own (`test/precalculus/807.json`); one
problem named two ways in one file is refused.

The file is read twice and never held (except a SkyThought results.json, one JSON document): once to
check it and count samples per problem (what the run must hold, before anything is written), once to
copy its samples into the run directory.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from .formats import Entry, Format, detect
from .formats.match import IdResolver, ProblemMatcher  # noqa: F401 -- IdResolver is part of this module's interface
from .types import EvalkitError


@dataclass
class SamplesFile:
    """What a first pass over the file found: samples per canonical problem id, and the file's hash."""

    path: Path
    counts: dict[str, int]
    digest: str
    size: int
    format: str = "evalkit"
    aliases: dict[str, str] = field(repr=False, default_factory=dict)


def scan(path: str | Path, resolver: ProblemMatcher, fmt: Format | None = None) -> SamplesFile:
    """First pass: validate every record, count samples per problem, hash the bytes. Holds no text."""
    p = Path(path)
    fmt = fmt or detect(p)
    counts: dict[str, int] = {}
    scheme: dict[str, tuple[str, str, str]] = {}  # canonical id -> (name used, scheme, where first)
    digest = hashlib.sha256()
    for entry in _entries(p, fmt, digest):
        pid, how = resolver.identify(entry)
        first = scheme.setdefault(pid, (how[0], how[1], entry.where))
        if first[1] != how[1] and entry.name is not None:
            raise EvalkitError(f"{entry.where}: problem {pid} is named {how[0]!r} here but {first[0]!r} on line "
                               f"{first[2].rsplit(':', 1)[-1]}; name each problem one way in a file (evalkit's id or the benchmark's own)")
        counts[pid] = counts.get(pid, 0) + len(entry.texts)
    if not counts:
        raise EvalkitError(f"{p}: no samples found; expected JSON lines with problem_id and completion")
    return SamplesFile(p, counts, "sha256:" + digest.hexdigest()[:16], _size(p), fmt.name)


def completions(found: SamplesFile, resolver: ProblemMatcher, fmt: Format | None = None) -> Iterator[tuple[str, int, str, int]]:
    """Second pass: (canonical id, sample index, text, completion tokens or 0) in file order."""
    index: dict[str, int] = {}
    for entry in _entries(found.path, fmt or detect(found.path, found.format), None):
        pid, _ = resolver.identify(entry)
        for j, text in enumerate(entry.texts):
            i = index.get(pid, 0)
            index[pid] = i + 1
            yield pid, i, text, (entry.tokens[j] if entry.tokens else 0)


def _entries(path: Path, fmt: Format, digest) -> Iterator[Entry]:
    if not path.is_file():
        raise EvalkitError(f"--samples {path}: cannot read (no such file); check the path")
    return fmt.records(path, digest)


def _size(path: Path) -> int:
    return path.stat().st_size
