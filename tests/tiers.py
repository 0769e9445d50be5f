"""Which evalkit modules a test selection never runs: `python -m pytest -m "not slow" --untested-modules`.

The fast tier (`-m "not slow"`) must still exercise every module. With --untested-modules, every
Python function call in this process (and its threads) is recorded while the tests run, and the
terminal summary lists each evalkit module none of whose functions or methods was called, so a module
whose only tests were marked slow shows up. Code that only runs at import (module and class bodies)
does not count. Not seen: subprocesses (the CLI run as a program, Ray actors, vLLM engine processes)
and the code that only ever runs in another process: the sandbox's scripts (evalkit/verify/code/procs/),
which the code verifier's tests drive from outside, and vLLM's worker extension (OUT_OF_PROCESS).
"""

from __future__ import annotations

import inspect
import sys
import threading
from pathlib import Path

OPTION = "--untested-modules"
OUT_OF_PROCESS = {"evalkit.samplers.vllm_swap"}  # mixed into vLLM's worker processes (tests/test_sweep.py drives it)
_called: set[str] = set()


def _root() -> Path:
    import evalkit

    return Path(evalkit.__file__).resolve().parent


def _record(frame, event: str, arg: object) -> None:
    if event == "call" and frame.f_code.co_flags & inspect.CO_OPTIMIZED:  # functions and methods, not module/class bodies
        _called.add(frame.f_code.co_filename)


def start() -> None:
    sys.setprofile(_record)
    threading.setprofile(_record)


def stop() -> None:
    sys.setprofile(None)
    threading.setprofile(None)


def modules(root: Path) -> dict[str, Path]:
    """evalkit's importable modules, as tests/test_layout.py lists them (the sandbox's scripts excluded)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        if "procs" in rel.parts or "sandboxed" in rel.parts:
            continue
        out[".".join(("evalkit", *rel.parts)).removesuffix(".__init__")] = path
    return out


def has_functions(path: Path) -> bool:
    import ast

    return any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) for node in ast.walk(ast.parse(path.read_text())))


def untested() -> list[str]:
    """Modules with functions none of which ran."""
    called = {str(Path(f).resolve()) for f in _called if not f.startswith("<")}
    return [name for name, path in modules(_root()).items()
            if name not in OUT_OF_PROCESS and has_functions(path) and str(path.resolve()) not in called]


def report(terminalreporter) -> None:
    missing = untested()
    if missing:
        terminalreporter.write_line(f"{len(missing)} evalkit modules ran no function in this selection: {', '.join(missing)}", red=True)
    else:
        terminalreporter.write_line(f"every evalkit module ran in this selection ({len(modules(_root()))} modules)", green=True)
