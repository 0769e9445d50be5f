"""What a `--bench` value names: one benchmark, a custom one (task file or `custom:NAME` + flags), or a
suite (`math500,aime24,aime25`: several, run one after another by one command, reported together)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..types import EvalkitError
from .custom import PREFIX, define, dir_name, is_task_file
from .registry import get_benchmark

CUSTOM_FLAGS = ("family", "id_field", "question_field", "answer_field", "solution_field", "entry_point_field")


@dataclass(frozen=True)
class BenchChoice:
    name: str  # as runs record it: `math500`, `custom:geo`
    data: str | None  # --data, or a custom benchmark's file
    custom: dict | None = None  # a custom benchmark's definition (CustomSpec.to_json)

    def out_dir(self, out: str | None, suite: bool) -> str | None:
        """--out names the run directory; for a suite, the directory holding one per benchmark."""
        if out is None or not suite:
            return out
        return str(Path(out) / dir_name(self.name))


def parse_benches(value: str, data: str | None, flags: dict[str, Any]) -> list[BenchChoice]:
    """Every benchmark the value names, checked before anything runs (unknown names, a custom
    benchmark's missing fields, --data that cannot serve a suite: one line each)."""
    items = [b.strip() for b in value.split(",") if b.strip()]
    if not items:
        raise EvalkitError("--bench is empty; give a benchmark name (see `evalkit benchmarks`), a task file, or a comma-separated suite")
    if len(set(items)) != len(items):
        dup = next(b for b in items if items.count(b) > 1)
        raise EvalkitError(f"--bench names {dup} twice; name each benchmark of a suite once")
    suite = len(items) > 1
    if suite and any(flags.get(k) is not None for k in CUSTOM_FLAGS):
        raise EvalkitError("the custom-benchmark flags define one benchmark; in a suite, give custom benchmarks as task files (--bench math500,my_task.toml)")
    if suite and data is not None and not Path(data).is_dir():
        raise EvalkitError(f"--data {data} is a file, but the suite {value} has several benchmarks; pass a directory holding each one's file")
    return [_choice(item, data, flags, suite) for item in items]


def _choice(item: str, data: str | None, flags: dict[str, Any], suite: bool) -> BenchChoice:
    if suite and item.startswith(PREFIX):
        raise EvalkitError(f"{item} in a suite: give a custom benchmark of a suite as a task file (--bench math500,my_task.toml)")
    own_data = None if suite and is_task_file(item) else data  # in a suite, a task file names its own data
    spec = define(item, own_data, {k: flags.get(k) for k in CUSTOM_FLAGS})
    if spec is not None:
        return BenchChoice(spec.benchmark, spec.data, spec.to_json())
    get_benchmark(item)  # unknown names fail here, with a suggestion
    return BenchChoice(item, data)
