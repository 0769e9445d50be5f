"""Run a whole stdin/stdout program on one test input, inside the sandboxed child (stdlib only).

Why here and not in the judge: the program is model-written, so it runs only in child.py's
confined process; what leaves it is the captured output as a plain string, which the judge compares
(lcb_compare.py). The program runs as `__main__` (so `if __name__ == "__main__":` blocks run), with
`sys.stdin`, `input()`, `open(0)` and `sys.stdin.buffer` reading the test input and `print`,
`sys.stdout` and `sys.stdout.buffer` writing to a buffer, as LiveCodeBench's grader patches them.
`exit()` ends the program normally (LCB swallows SystemExit): the output so far is compared.
"""

from __future__ import annotations

import builtins
import io
import sys


class _Captured(io.TextIOWrapper):
    """stdout that a program may close without losing what it wrote (LCB's Capturing does the same)."""

    def close(self) -> None:
        self.flush()


def _opener(data: bytes, real_open):
    def open_(file, mode="r", *args, **kwargs):
        if file == 0 and type(file) is int:  # open(0).read(): the input, as LCB's mock_open gives it
            raw = io.BytesIO(data)
            return raw if "b" in mode else io.TextIOWrapper(raw, encoding="utf-8")
        return real_open(file, mode, *args, **kwargs)

    return open_


def run_once(code, text: str, limit: int) -> dict:
    """One execution of compiled `code` with `text` on stdin: {"out": stdout's bytes} or {"exc": the exception}
    or {"bad": why}."""
    data = text.encode("utf-8", "surrogatepass")
    raw_out = io.BytesIO()
    stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")
    stdout = _Captured(raw_out, encoding="utf-8", errors="replace", write_through=True)
    saved = sys.stdin, sys.stdout, builtins.open
    sys.stdin, sys.stdout, builtins.open = stdin, stdout, _opener(data, builtins.open)
    failure = None
    try:
        exec(code, {"__name__": "__main__", "__builtins__": builtins})
    except SystemExit:
        pass
    except BaseException as e:  # noqa: BLE001 -- a runtime error fails the test; the judge is told which
        failure = e
    finally:
        sys.stdin, sys.stdout, builtins.open = saved
    try:
        stdout.flush()
    except BaseException:  # noqa: BLE001 -- a program may leave its stdout unusable
        pass
    if failure is not None:
        return {"exc": failure}
    out = raw_out.getvalue()
    if len(out) > limit:
        return {"bad": "output too large"}
    return {"out": out}
