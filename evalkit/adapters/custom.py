"""Custom benchmarks: a user's own data file, graded and reported under its own name.

Defined by a task file (TOML, or YAML when PyYAML is installed), given as `--bench my_task.toml`:

    name = "geometry-v2"           # reported as benchmark "custom:geometry-v2"
    family = "math"                # math | code: picks the verifier
    data = "geometry.jsonl"        # JSONL / JSON / parquet; relative to the task file
    id_field = "id"                # optional: problem ids [default: <name>/<row>]
    question_field = "problem"
    answer_field = "answer"        # math: the gold answer; code: the test code (check(candidate) or bare asserts)
    solution_field = "solution"    # code only: a reference program, run once to set time limits
    entry_point_field = "entry_point"  # code only [default: entry_point]
    [prompt]                       # optional: user / base / system / instruction / stop (as --prompt-template)
    [verifier]                     # optional: math time_limit; code cpu_factor, memory_mb, modules

or by flags: `--bench custom:NAME --family math --data FILE --id-field F --question-field F --answer-field F`.
The benchmark is "custom:NAME": never one of evalkit's own, whatever NAME is; its data_hash covers the
problems' content, and manifests record the whole definition (`custom`), so compare, export, view,
audit and merge read such runs back without the task file.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..types import CodeTests, EvalkitError, Problem
from .registry import Benchmark, register

PREFIX = "custom:"
FAMILIES = ("math", "code")
TASK_SUFFIXES = (".toml", ".yaml", ".yml", ".json")
PROMPT_KEYS = ("user", "base", "system", "instruction", "stop")
VERIFIER_KEYS = {"math": ("time_limit",), "code": ("cpu_factor", "cpu_floor", "memory_mb", "modules")}


@dataclass(frozen=True)
class CustomSpec:
    name: str
    family: str
    data: str
    question_field: str
    answer_field: str
    id_field: str | None = None
    solution_field: str | None = None
    entry_point_field: str = "entry_point"
    prompt: dict = field(default_factory=dict)
    verifier: dict = field(default_factory=dict)

    @property
    def benchmark(self) -> str:
        return PREFIX + self.name

    def to_json(self) -> dict:
        return asdict(self)


def is_task_file(bench: str) -> bool:
    return bench.lower().endswith(TASK_SUFFIXES) and not bench.startswith(PREFIX)


def read_task_file(path: str | Path, data: str | None = None) -> CustomSpec:
    """The task file's definition; a missing or wrong field is one line naming it. `data` overrides the file's."""
    p = Path(path)
    if not p.is_file():
        raise EvalkitError(f"--bench {p}: no such task file; pass a .toml/.yaml task file or a benchmark name")
    fields = _parse(p)
    where = f"task file {p}"
    for key in ("name", "family", "data", "question_field", "answer_field"):
        if key == "data" and data is not None:
            continue
        if not isinstance(fields.get(key), str) or not fields[key].strip():
            raise EvalkitError(f"{where}: missing field `{key}` (a string); see docs/custom-benchmarks.md")
    unknown = sorted(set(fields) - {f for f in CustomSpec.__dataclass_fields__})
    if unknown:
        raise EvalkitError(f"{where}: unknown field `{unknown[0]}`; the fields are {', '.join(CustomSpec.__dataclass_fields__)}")
    source = data if data is not None else str((p.parent / fields["data"]).resolve())
    return make_spec({**fields, "data": source}, where)


def make_spec(fields: dict[str, Any], where: str) -> CustomSpec:
    """A checked definition from a task file's fields or from the command-line flags."""
    family = fields.get("family")
    if family not in FAMILIES:
        raise EvalkitError(f"{where}: `family` is {family!r}; use math or code")
    if family == "code" and not fields.get("solution_field"):
        raise EvalkitError(f"{where}: missing field `solution_field` (a code benchmark needs a reference program, run once to set time limits)")
    for table, allowed in (("prompt", PROMPT_KEYS), ("verifier", VERIFIER_KEYS[family])):
        value = fields.get(table) or {}
        bad = [k for k in value if k not in allowed] if isinstance(value, dict) else [table]
        if bad:
            raise EvalkitError(f"{where}: [{table}] has `{bad[0]}`; allowed there: {', '.join(allowed)}")
    name = str(fields.get("name") or "").strip()
    if not name or any(c in name for c in "/\\:,") or name.startswith("."):
        raise EvalkitError(f"{where}: `name` {name!r} must be non-empty, without / \\ : , (it names run directories)")
    data = Path(str(fields.get("data") or ""))
    if not data.is_file():
        raise EvalkitError(f"{where}: `data` {str(data)!r} is not a file; give the benchmark's JSONL/JSON/parquet file")
    known = {k: fields[k] for k in CustomSpec.__dataclass_fields__ if fields.get(k) is not None}
    return CustomSpec(**{**known, "name": name, "data": str(data.resolve()), "prompt": dict(fields.get("prompt") or {}),
                         "verifier": dict(fields.get("verifier") or {})})


def _parse(path: Path) -> dict:
    try:
        if path.suffix.lower() == ".toml":
            return tomllib.loads(path.read_text(encoding="utf-8"))
        if path.suffix.lower() == ".json":
            return json.loads(path.read_text(encoding="utf-8"))
        import yaml  # PyYAML: installed with transformers/datasets, not required otherwise

        obj = yaml.safe_load(path.read_text(encoding="utf-8"))
        return obj if isinstance(obj, dict) else {}
    except ModuleNotFoundError:
        raise EvalkitError(f"task file {path}: reading YAML needs PyYAML (pip install pyyaml); or write the task file as TOML") from None
    except Exception as e:  # noqa: BLE001 -- tomllib / json / yaml each raise their own; all are one line for the user
        raise EvalkitError(f"task file {path}: cannot parse it ({str(e).splitlines()[0][:160]}); fix the file") from None


def register_custom(spec: CustomSpec) -> Benchmark:
    """Make `custom:NAME` loadable in this process (replacing an earlier definition of that name)."""
    prompt = spec.prompt
    style: dict[str, Any] = {}
    if spec.family == "code":  # EvalPlus's prompts, as the code benchmarks have them
        from .code import CODE_INSTRUCTION, CODE_USER

        style = {"instruction": CODE_INSTRUCTION, "base_template": "{prompt}", "user_template": CODE_USER}
    for key, attr in (("instruction", "instruction"), ("base", "base_template"), ("user", "user_template"), ("system", "system")):
        if prompt.get(key) is not None:
            style[attr] = prompt[key]
    bench = Benchmark(
        name=spec.benchmark, family=spec.family, description=f"custom benchmark {spec.name} ({spec.family})",
        to_problem=_to_problem(spec), source=f"custom: {spec.data}", local_files=(), **style,
        base_stop=tuple(prompt.get("stop") or ()), prompt_source="the custom task file" if prompt else "",
        extra={"custom": spec.to_json(), "verifier": dict(spec.verifier)},
    )
    return register(bench, replace=True)


def define(bench: str, data: str | None, flags: dict[str, Any]) -> CustomSpec | None:
    """The custom definition a `--bench` value and the custom flags give, or None for a built-in benchmark."""
    given = {k: v for k, v in flags.items() if v is not None}
    if is_task_file(bench):
        if given:
            raise EvalkitError(f"--{next(iter(given)).replace('_', '-')} goes in the task file {bench} (or use --bench custom:NAME with flags)")
        return read_task_file(bench, data)
    if not bench.startswith(PREFIX):
        if given:
            raise EvalkitError(f"--{next(iter(given)).replace('_', '-')} defines a custom benchmark; use it with --bench custom:NAME")
        return None
    missing = [f"--{k.replace('_', '-')}" for k in ("family", "question_field", "answer_field") if k not in given]
    if data is None:
        missing.insert(0, "--data")
    if missing:
        raise EvalkitError(f"--bench {bench} needs {', '.join(missing)} (or a task file: --bench my_task.toml); see docs/custom-benchmarks.md")
    return make_spec({**given, "name": bench[len(PREFIX):], "data": data}, f"--bench {bench}")


def from_manifest(manifest: dict) -> None:
    """Register the custom benchmark a run was made on (manifest `custom`), so its readers can load it."""
    spec = manifest.get("custom")
    if isinstance(spec, dict) and manifest.get("benchmark") == PREFIX + str(spec.get("name")):
        register_custom(CustomSpec(**{k: v for k, v in spec.items() if k in CustomSpec.__dataclass_fields__}))


def dir_name(bench: str) -> str:
    """A benchmark's name as a directory name (`custom:geo` -> `custom-geo`)."""
    return bench.replace(":", "-")


def _to_problem(spec: CustomSpec):
    def to_problem(row: dict[str, Any], index: int) -> Problem:
        for key in (spec.question_field, spec.answer_field, spec.id_field, spec.solution_field if spec.family == "code" else None):
            if key is not None and row.get(key) is None:
                raise KeyError(f"no field {key!r}; the row has {', '.join(sorted(row)[:10])}")
        pid = str(row[spec.id_field]) if spec.id_field else f"{spec.name}/{index}"
        used = {spec.question_field, spec.answer_field, spec.id_field, spec.solution_field, spec.entry_point_field}
        meta = {k: v for k, v in row.items() if k not in used and isinstance(v, (str, int, float, bool))}
        prompt = str(row[spec.question_field])
        if spec.family == "math":
            return Problem(id=pid, prompt=prompt.strip(), answer=_answer(row[spec.answer_field]), metadata=meta)
        return Problem(id=pid, prompt=prompt, tests=_code_tests(spec, row, prompt), metadata=meta)

    return to_problem


def _answer(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _code_tests(spec: CustomSpec, row: dict[str, Any], prompt: str) -> CodeTests:
    entry = row.get(spec.entry_point_field)
    if not isinstance(entry, str) or not entry:
        raise KeyError(f"no entry point {spec.entry_point_field!r} (the function the tests call)")
    solution = str(row[spec.solution_field])
    canonical = solution if f"def {entry}" in solution else prompt + solution
    test = str(row[spec.answer_field])
    return CodeTests("check", entry, canonical=canonical, test=test, check_fn="check" if "def check(" in test else None)
