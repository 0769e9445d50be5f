"""Benchmark specs and the name -> spec registry.

A benchmark is one `Benchmark` record: where its rows come from (hub id, local file names, or a
built-in generator), how a row becomes a `Problem`, which verifier family grades it and how it is
prompted. Adding a benchmark is one `register(Benchmark(...))` call in a module of this package;
modules are imported lazily the first time the registry is consulted.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable

from ..types import EvalkitError, Problem

# Established instructions (Qwen2.5-Math / DeepSeek-R1 / SimpleRL evaluation).
MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


@dataclass(frozen=True)
class Benchmark:
    name: str
    family: str  # "math" | "code": picks the verifier
    description: str
    to_problem: Callable[[dict[str, Any], int], Problem]
    source: str = ""  # provenance: upstream repo / paper / license
    hub_id: str | None = None
    hub_config: str | None = None
    split: str = "test"
    local_files: tuple[str, ...] = ()  # file names looked up under --data DIR / $EVALKIT_DATA_DIR
    size: int | None = None  # expected number of problems (None: varies by version)
    builtin: Callable[[], list[dict[str, Any]]] | None = None  # rows generated without any data
    instruction: str = MATH_INSTRUCTION  # appended to the question for chat models
    base_template: str = "Problem:\n{prompt}\n\nSolution:"  # for models without a chat template
    extra: dict[str, Any] = field(default_factory=dict)
    user_template: str | None = None  # chat user message [default: "{prompt}\n{instruction}"]
    system: str | None = None  # chat system message, when the established prompt has one
    base_stop: tuple[str, ...] = ()  # stop strings for the base template (few-shot: the next question)
    prompt_source: str = ""  # where the templates come from (paper / harness), shown by --show-prompt
    versions: dict[str, str] = field(default_factory=dict)  # data_hash -> the release it identifies
    prepare_rows: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None  # whole-file fixups before to_problem
    sizes: tuple[int, ...] = ()  # problem counts of the known releases, when `size` does not say it
    # Loading options (`--release-version`, `--start-date`...) for benchmarks released as growing sets of files:
    options: tuple[str, ...] = ()  # the option names it takes; any other is refused
    release_dir: Callable[[Any, dict], tuple[list[Any], str] | None] | None = None  # dir -> (files, release) or None
    hub_files: Callable[[dict], tuple[list[str], str]] | None = None  # the hub repo's files of the release asked for
    select: Callable[[list[dict[str, Any]], dict, str | None], tuple[list[dict[str, Any]], str]] | None = None  # rows -> (chosen, label)
    size_note: str = ""  # problems per release, for `evalkit benchmarks`, where neither size nor sizes says it

    @property
    def release_sizes(self) -> tuple[int, ...]:
        """How many problems a known release of this benchmark has (empty: unknown)."""
        return self.sizes or ((self.size,) if self.size else ())

    @property
    def size_text(self) -> str:
        """`164`, `378|399` (one per known release), or the note of a benchmark released in growing sets."""
        return "|".join(map(str, self.release_sizes)) or self.size_note or "-"


_REGISTRY: dict[str, Benchmark] = {}
_loaded = False


def register(bench: Benchmark, replace: bool = False) -> Benchmark:
    """`replace`: a definition made at run time (custom benchmarks) may supersede an earlier one of its name."""
    if bench.name in _REGISTRY and not replace:
        raise ValueError(f"benchmark {bench.name!r} registered twice")
    _REGISTRY[bench.name] = bench
    return bench


def _import_all() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from .. import adapters as pkg

    for mod in pkgutil.iter_modules(pkg.__path__):
        if mod.name not in ("registry", "loading"):
            importlib.import_module(f"{pkg.__name__}.{mod.name}")


def get_benchmark(name: str) -> Benchmark:
    _import_all()
    if name in _REGISTRY:
        return _REGISTRY[name]
    close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise EvalkitError(f"unknown benchmark {name!r}; {hint}run `evalkit benchmarks` to list them")


def find_benchmark(name: str) -> Benchmark | None:
    """The registered benchmark of that name, or None (a run of a benchmark this version lacks)."""
    _import_all()
    return _REGISTRY.get(name)


def all_benchmarks() -> list[Benchmark]:
    _import_all()
    return sorted(_REGISTRY.values(), key=lambda b: (b.builtin is None, b.family, b.name))
