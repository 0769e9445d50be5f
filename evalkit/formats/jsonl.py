"""JSON Lines records of a samples file, streamed: one line in memory, every byte fed to a digest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import jsonlines

from ..types import EvalkitError


def open_bytes(path: Path):
    try:
        return open(path, "rb")
    except OSError as e:
        raise EvalkitError(f"--samples {path}: cannot read ({e.strerror or e}); check the path") from None


def records(path: Path, digest: Any) -> Iterator[tuple[int, dict]]:
    """(line number, record) of every non-empty line; a malformed line or a non-object is one error line."""
    with open_bytes(path) as f:
        lines = _Lines(f, digest)
        reader = jsonlines.Reader(lines, loads=json.loads)
        try:
            for rec in reader.iter(type=dict, skip_empty=True):
                yield lines.lineno, rec
        except jsonlines.InvalidLineError as e:
            what = "expected a JSON object per line" if "requested type" in str(e) else "malformed JSON line"
            raise EvalkitError(f"{path}:{e.lineno}: {what}; each line must be one JSON object") from None


def hash_file(path: Path, digest: Any) -> None:
    """Feed the whole file to `digest` (formats not read line by line)."""
    if digest is None:
        return
    with open_bytes(path) as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)


def strings(value: Any, where: str, field: str) -> list[str]:
    """A list of strings, or one error line naming the field."""
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise EvalkitError(f"{where}: \"{field}\" must be a list of strings")
    return value


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
