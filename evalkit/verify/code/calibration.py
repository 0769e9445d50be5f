"""What the code verifier learns from a problem's reference solution, and a disk cache of it.

Calibrating runs the reference solution (twice for io problems: under two string-hash seeds). That
takes milliseconds for most problems but a minute for a few MBPP+ ones (Mbpp/255 builds a 1 GB
output), and comparing checkpoints grades the same problems run after run. So the result is kept,
as EvalPlus keeps its ground truth, in $EVALKIT_CACHE_DIR (default ~/.cache/evalkit)/calibration/.
The key covers the problem's tests, the importable modules, FORMAT, the Python version and the
machine (the CPU time is this machine's). A failed reference is never kept: it may be transient.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .procs import codec

FORMAT = 1


@dataclass(frozen=True)
class Calibration:
    cpu_limit: float  # the whole sample's CPU time (RLIMIT_CPU: the backstop)
    expected: list | None = None  # io mode: decoded reference outputs
    error: str = ""  # the reference solution itself failed
    unstable: tuple[int, ...] = ()  # io inputs whose expected output depends on the hash seed
    call_limit: float | None = None  # CPU time of one call of the candidate (measured by the judge)


@dataclass(frozen=True)
class Reference:
    """The measured facts, before the verifier's floor/factor/cap turn the CPU time into a limit."""

    cpu: float
    outputs: list | None  # encoded as the judge reported them (codec JSON, or digest tags)
    unstable: tuple[int, ...] = ()

    def calibration(self, floor: float, factor: float, cap: float, call_floor: float | None = None) -> Calibration:
        """One call may use max(call_floor, factor x the reference's CPU for *all* its calls): no
        correct call of a sample within `factor` of the reference can reach it."""
        limit = min(max(cap, 2 * self.cpu), max(floor, factor * self.cpu))  # the cap never cuts a sample as slow as the reference
        call = None if call_floor is None else min(limit, max(call_floor, factor * self.cpu))
        expected = None if self.outputs is None else [decode_expected(x) for x in self.outputs]
        return Calibration(limit, expected, unstable=self.unstable, call_limit=call)


def decode_expected(x: Any) -> Any:
    if isinstance(x, list) and len(x) == 2 and x[0] == codec.DIGEST_TAG:
        return (codec.DIGEST_TAG, str(x[1]))  # judge.py compares large values by digest
    return codec.decode(x)


class Cache:
    def __init__(self, root: str | os.PathLike | None = None):
        base = root if root is not None else os.environ.get("EVALKIT_CACHE_DIR") or Path.home() / ".cache" / "evalkit"
        self.dir = Path(base) / "calibration"

    @staticmethod
    def key(tests: dict, modules: str) -> str:
        facts = {"format": FORMAT, "python": sys.version, "machine": [platform.node(), platform.machine(), os.cpu_count()],
                 "modules": modules, "tests": tests}
        return hashlib.sha256(json.dumps(facts, sort_keys=True, default=repr).encode()).hexdigest()

    def load(self, key: str) -> Reference | None:
        try:
            raw = json.loads((self.dir / f"{key}.json").read_text())
            return Reference(float(raw["cpu"]), raw["outputs"], tuple(int(i) for i in raw["unstable"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent or unreadable: calibrate again

    def store(self, key: str, ref: Reference) -> None:
        """Atomically (write, then rename); a cache that cannot be written is only a slower run."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=f".{key}.")
            with os.fdopen(fd, "w") as f:
                json.dump({"cpu": ref.cpu, "outputs": ref.outputs, "unstable": list(ref.unstable)}, f)
            os.replace(tmp, self.dir / f"{key}.json")
        except OSError:
            pass
