"""Prompt rendering: a problem becomes the exact text (or chat messages) the model sees.

Chat models get the benchmark's instruction wrapped by the model's *own* chat template (through its
tokenizer); base models get the benchmark's plain template. A user template (`--prompt-template`,
a string or a file) overrides either; it may use {prompt}, {instruction} and any metadata field.
The rendered prompt of every problem is recorded in the run directory (prompts.jsonl).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from typing import Any

from .benchmarks.registry import Benchmark
from .types import EvalkitError, Problem

DEFAULT_CHAT_USER = "{prompt}\n{instruction}"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")  # only {name} is filled: LaTeX braces like \boxed{} pass through


@dataclass(frozen=True)
class PromptStyle:
    """Which template renders the prompts of a run; its `key` goes into the manifest identity."""

    chat: bool
    template: str

    @property
    def key(self) -> str:
        digest = hashlib.sha256(self.template.encode()).hexdigest()[:12]
        return f"{'chat' if self.chat else 'base'}:{digest}"


def resolve_style(bench: Benchmark, tokenizer: Any, chat: bool | None, template: str | None) -> PromptStyle:
    """Chat when the tokenizer has a chat template (or when there is no local tokenizer: a server)."""
    has_chat_template = tokenizer is None or bool(getattr(tokenizer, "chat_template", None))
    use_chat = has_chat_template if chat is None else chat
    if use_chat and tokenizer is not None and not getattr(tokenizer, "chat_template", None):
        raise EvalkitError("--chat was asked for but the model's tokenizer has no chat template; drop --chat")
    if template is not None and os.path.isfile(template):
        template = open(template, encoding="utf-8").read()
    if template is None:
        template = bench.extra.get("chat_template", DEFAULT_CHAT_USER) if use_chat else bench.base_template
    return PromptStyle(chat=use_chat, template=template)


def render(problem: Problem, bench: Benchmark, style: PromptStyle, tokenizer: Any) -> str | list[dict[str, str]]:
    values = {**problem.metadata, "prompt": problem.prompt, "instruction": bench.instruction}
    text = _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), style.template)
    if not style.chat:
        return text
    messages = [{"role": "user", "content": text}]
    if tokenizer is None:
        return messages  # a server applies its model's chat template
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
