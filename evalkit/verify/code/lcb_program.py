"""LiveCodeBench samples to programs, and LCB's time rule as CPU limits (text only, nothing executed).

Code comes from the last fenced block, as lcb_runner/utils/extraction_utils.py takes it: the lines
between the last two lines that contain a fence. A completion with a single fence line is a base model
that continued the prompt's open block and closed it: the text before the fence continues the prompt's
code (the starter code). One with no fence at all is taken whole when it parses and, for a call-based
problem, defines `Solution`; otherwise it continues the starter code. (LCB itself would grade a
fenceless chat answer as empty; such an answer that runs correctly passes here.) Every program gets
LCB's import header first (`from typing import *`, `from collections import *`, ...,
`sys.setrecursionlimit(50000)`), since LeetCode starter code uses `List` without importing it.

Time: LCB allows 6 s of wall time per test, and the whole sample (tests + 5) x 6 s. There is no
reference solution to calibrate against, so evalkit keeps LCB's numbers as CPU seconds: each test
may use TEST_CPU s (the per-call CPU limit the judge measures, as for every code benchmark), the whole sample
min(CAP_CPU, TEST_CPU x (tests + 5)) s. CPU time does not grow with the machine's load, as wall time
does; a test that sleeps or blocks is stopped by the per-call wall limit (3 x 6 + 2 = 20 s).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

TEST_CPU = 6.0
CAP_CPU = 120.0
# lcb_runner/evaluation/testing_util.py: import_string, verbatim.
IMPORT_HEADER = (
    "from string import *\nfrom re import *\nfrom datetime import *\nfrom collections import *\nfrom heapq import *\n"
    "from bisect import *\nfrom copy import *\nfrom math import *\nfrom random import *\nfrom statistics import *\n"
    "from itertools import *\nfrom functools import *\nfrom operator import *\nfrom io import *\nfrom sys import *\n"
    "from json import *\nfrom builtins import *\nfrom typing import *\nimport string\nimport re\nimport datetime\n"
    "import collections\nimport heapq\nimport bisect\nimport copy\nimport math\nimport random\nimport statistics\n"
    "import itertools\nimport functools\nimport operator\nimport io\nimport sys\nimport json\nsys.setrecursionlimit(50000)\n"
)


@dataclass(frozen=True)
class LcbProgram:
    program: str | None  # None: no code (see reason)
    shape: str  # "block" | "continued" | "full" | "none"
    reason: str = ""


def cpu_limit(num_tests: int) -> float:
    """The whole sample's CPU seconds, LCB's global timeout read as CPU time, capped."""
    return min(CAP_CPU, TEST_CPU * (num_tests + 5))


def extract(completion: str, starter: str, kind: str) -> LcbProgram:
    lines = completion.split("\n")
    fences = [i for i, line in enumerate(lines) if "```" in line]
    if len(fences) >= 2:
        code = "\n".join(lines[fences[-2] + 1 : fences[-1]])
        shape = "block"
    elif len(fences) == 1:
        code, shape = starter + "\n".join(lines[: fences[0]]), "continued"
    elif _whole(completion, kind):
        code, shape = completion, "full"
    else:
        code, shape = starter + completion, "continued"
    if not code.strip():
        return LcbProgram(None, "none", "no code in the answer")
    return LcbProgram(IMPORT_HEADER + "\n" + code, shape)


def _whole(text: str, kind: str) -> bool:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    if kind == "stdin":
        return True
    return any(isinstance(n, ast.ClassDef) and n.name == "Solution" for n in tree.body)
