"""Program assembly: turn a sample into the program the sandbox runs (text only, nothing executed).

Three shapes of sample are recognised:
- chat answers with fenced code blocks: the last block that defines the entry point is the solution
  (none does: the sample fails with that reason);
- full solutions (parse on their own and define the entry point at top level, e.g. EvalPlus's
  sanitized outputs or a base model that repeats the prompt);
- completions that continue the prompt (HumanEval style).
The prompt is always put first, so its imports and helper functions exist; a full solution that
redefines them wins, as it would in the model's own file.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.S)


@dataclass(frozen=True)
class Assembled:
    program: str | None  # None: nothing runnable (see reason)
    shape: str  # "block" | "full" | "completion" | "none"
    reason: str = ""


def defines(code: str, name: str) -> bool:
    """True when `code` parses and defines `name` at top level (function, class or assignment)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return True
    return False


def code_blocks(text: str) -> list[str]:
    return [body for lang, body in _FENCE.findall(text) if lang.lower() in ("", "python", "py", "python3")]


def assemble(prompt: str, completion: str, entry_point: str) -> Assembled:
    if "```" in completion:
        blocks = [b for b in code_blocks(completion) if defines(b, entry_point)]
        if not blocks:
            return Assembled(None, "none", f"no code block defines {entry_point}")
        return Assembled(prompt + "\n\n" + blocks[-1], "block")
    if defines(completion, entry_point):
        return Assembled(prompt + "\n\n" + completion, "full")
    return Assembled(prompt + completion, "completion")
