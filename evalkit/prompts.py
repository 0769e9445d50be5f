"""Prompt rendering: a problem becomes the exact text (or chat messages) the model sees.

Chat models get the benchmark's user message ("{prompt}\\n{instruction}" by default) wrapped by the
model's *own* chat template through its tokenizer; base models get the benchmark's plain or few-shot
template. Templates fill {prompt}, {instruction} and any metadata field; other braces (LaTeX
\\boxed{}) pass through. The rendered prompt of every problem is recorded (prompts.jsonl).

Overrides, via `--prompt-template VALUE`:
  * a template string, or a plain text file holding one: replaces the template of the chosen mode;
  * a config file (.toml, .json, .yaml/.yml) with any of these fields, top level for every benchmark
    and in a `[benchmarks.<name>]` table for one:
        user = "{prompt}\\n{instruction}"   # chat user message
        base = "Problem:\\n{prompt}\\n\\nSolution:"   # whole prompt for base models
        system = "..."                      # chat system message
        instruction = "..."                 # what {instruction} expands to
        stop = ["\\n\\nProblem:"]            # stop strings for base prompts
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .adapters.registry import Benchmark
from .types import EvalkitError, Problem

DEFAULT_CHAT_USER = "{prompt}\n{instruction}"
CONFIG_FIELDS = ("user", "base", "system", "instruction", "stop")
_CONFIG_SUFFIXES = (".toml", ".json", ".yaml", ".yml")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")  # only {name} is filled: LaTeX braces like \boxed{} pass through


@dataclass(frozen=True)
class PromptStyle:
    """Which template renders the prompts of a run; its `key` goes into the manifest identity."""

    chat: bool
    template: str
    system: str | None = None
    instruction: str | None = None  # None: the benchmark's own
    stop: tuple[str, ...] = ()  # suggested stop strings (few-shot base prompts)

    @property
    def key(self) -> str:
        parts = self.template if self.system is None and self.instruction is None else json.dumps([self.template, self.system, self.instruction])
        digest = hashlib.sha256(parts.encode()).hexdigest()[:12]
        return f"{'chat' if self.chat else 'base'}:{digest}"


def bench_user_template(bench: Benchmark) -> str:
    return bench.user_template or bench.extra.get("chat_template") or DEFAULT_CHAT_USER


def resolve_style(bench: Benchmark, tokenizer: Any, chat: bool | None, template: str | None) -> PromptStyle:
    """Chat when the tokenizer has a chat template (or when there is no local tokenizer: a server)."""
    has_chat_template = tokenizer is None or bool(getattr(tokenizer, "chat_template", None))
    use_chat = has_chat_template if chat is None else chat
    if use_chat and tokenizer is not None and not getattr(tokenizer, "chat_template", None):
        raise EvalkitError("--chat was asked for but the model's tokenizer has no chat template; drop --chat")
    fields = template_fields(template, bench.name, use_chat)
    stop = fields.get("stop", bench.base_stop if "base" not in fields else ())
    return PromptStyle(
        chat=use_chat,
        template=fields.get("user", bench_user_template(bench)) if use_chat else fields.get("base", bench.base_template),
        system=fields.get("system", bench.system),
        instruction=fields.get("instruction"),
        stop=() if use_chat else tuple(stop),
    )


def template_fields(template: str | None, bench_name: str, chat: bool) -> dict[str, Any]:
    """The override as config fields: a config file is read; a string (or text file) is the template."""
    if template is None:
        return {}
    path = Path(template)
    is_file = len(template) < 4096 and "\n" not in template and path.is_file()
    if is_file and path.suffix.lower() in _CONFIG_SUFFIXES:
        return _config_fields(path, bench_name)
    text = path.read_text(encoding="utf-8") if is_file else template
    if "{prompt}" not in text:  # also catches a mistyped file name, which would read as a template
        what = f"file {template}" if is_file else f"{template!r} is not a file, and as a template it"
        raise EvalkitError(f"--prompt-template {what} has no {{prompt}} placeholder; give a template with {{prompt}} or an existing file")
    return {"user" if chat else "base": text}


def _config_fields(path: Path, bench_name: str) -> dict[str, Any]:
    cfg = _read_config(path)
    per_bench = cfg.get("benchmarks", {}).get(bench_name, {})
    fields = {k: v for k, v in cfg.items() if k != "benchmarks"} | per_bench
    unknown = sorted(set(fields) - set(CONFIG_FIELDS))
    if unknown:
        raise EvalkitError(f"{path}: unknown prompt field {unknown[0]!r}; use {', '.join(CONFIG_FIELDS)}")
    if "stop" in fields and isinstance(fields["stop"], str):
        fields["stop"] = [fields["stop"]]
    bad = [k for k, v in fields.items() if not (isinstance(v, str) or (k == "stop" and isinstance(v, list) and all(isinstance(x, str) for x in v)))]
    if bad:
        raise EvalkitError(f"{path}: prompt field {bad[0]!r} must be a string" + (" or a list of strings" if bad[0] == "stop" else ""))
    missing = [k for k in ("user", "base") if k in fields and "{prompt}" not in fields[k]]
    if missing:
        raise EvalkitError(f"{path}: prompt field {missing[0]!r} has no {{prompt}} placeholder; the question would be left out")
    return fields


def _read_config(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
        if suffix == ".toml":
            import tomllib

            cfg = tomllib.loads(text)
        elif suffix == ".json":
            cfg = json.loads(text)
        else:
            import yaml

            cfg = yaml.safe_load(text)
    except Exception as e:  # any parse error: name the file and the parser's first line
        first = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
        raise EvalkitError(f"{path}: cannot read prompt config ({first}); fix the file")
    if not isinstance(cfg, dict) or not isinstance(cfg.get("benchmarks", {}), dict):
        raise EvalkitError(f"{path}: a prompt config is a table of fields {', '.join(CONFIG_FIELDS)} (plus optional benchmarks.<name> tables)")
    return cfg


def fill(template: str, values: dict[str, Any]) -> str:
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template)


def render(problem: Problem, bench: Benchmark, style: PromptStyle, tokenizer: Any) -> str | list[dict[str, str]]:
    instruction = bench.instruction if style.instruction is None else style.instruction
    text = fill(style.template, {**problem.metadata, "prompt": problem.prompt, "instruction": instruction})
    if not style.chat:
        return text
    messages = ([{"role": "system", "content": style.system}] if style.system else []) + [{"role": "user", "content": text}]
    if tokenizer is None:
        return messages  # a server applies its model's chat template
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def template_text(tokenizer: Any) -> str | None:
    """The tokenizer's chat template as one string (a dict of named templates is joined by name)."""
    template = getattr(tokenizer, "chat_template", None) if tokenizer is not None else None
    if isinstance(template, dict):
        return "\n".join(f"{name}:\n{text}" for name, text in sorted(template.items()))
    return template if isinstance(template, str) and template else None


def template_record(style: PromptStyle, tokenizer: Any, base_url: str | None = None) -> dict[str, Any] | None:
    """manifest.json's `chat_template`: the template the prompts were rendered with, and its hash (a changed
    template is the commonest cause of a reasoning score that does not reproduce). None for base prompts."""
    if not style.chat:
        return None
    if tokenizer is None:  # the server renders the messages: its template is not visible from here
        return {"applied_by": f"the server at {base_url}", "sha256": None, "text": None}
    text = template_text(tokenizer)
    return {"applied_by": "evalkit, with the model's tokenizer", "sha256": hashlib.sha256(text.encode()).hexdigest() if text else None,
            "text": text}


def check_template(old: dict | None, new: dict | None, path: Any) -> None:
    """A resumed run must render with the template its samples were drawn with."""
    a, b = (old or {}).get("chat_template") or {}, new or {}
    if a.get("sha256") and b.get("sha256") and a["sha256"] != b["sha256"]:
        raise EvalkitError(f"{path} was drawn with another chat template (sha256 {a['sha256'][:12]} there, {b['sha256'][:12]} now): "
                           "the model's tokenizer changed; use another --out, or pass --overwrite to discard the run")


def describe(bench: Benchmark, template: str | None = None) -> str:
    """What `evalkit benchmarks --show-prompt` prints: both modes, with any override applied."""
    chat = resolve_style(bench, None, True, template)
    base = resolve_style(bench, None, False, template)
    instruction = bench.instruction if chat.instruction is None else chat.instruction
    lines = [f"# {bench.name}: prompts" + (f" ({bench.prompt_source})" if bench.prompt_source else "")]
    if chat.system:
        lines += ["", "## chat models: system message", chat.system]
    lines += ["", "## chat models: user message (wrapped by the model's own chat template)", chat.template]
    if "{instruction}" in chat.template + base.template:
        lines += ["", "## {instruction} =", instruction]
    for name, value in bench.extra.get("placeholders", {}).items():  # per-problem fields, e.g. LiveCodeBench's {format}
        lines += ["", f"## {{{name}}} =", value]
    lines += ["", "## base models (no chat template): the whole prompt", base.template]
    if base.stop:
        lines += ["", f"## base models stop at: {json.dumps(list(base.stop))}"]
    return "\n".join(lines)
