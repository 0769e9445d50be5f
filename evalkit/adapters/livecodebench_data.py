"""LiveCodeBench's release files: which files a release is, their rows' tests decoded safely, errata.

Facts from LiveCodeBench (github.com/LiveCodeBench/LiveCodeBench, MIT; hub dataset
livecodebench/code_generation_lite): the release files are test.jsonl (release_v1) and the deltas
test2.jsonl ... test6.jsonl; a version tag names their union (release_vN: test.jsonl..testN), one delta
(vN: that file alone), a span of deltas (vA_vB) or all of them (release_latest). `private_test_cases`
is JSON, or base64 of zlib of a pickle of that JSON string. Why a restricted unpickler: a pickle runs
whatever its opcodes name, so only the one thing the format stores, a plain str, is admitted.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import pickle
import re
import zlib
from typing import Any

from ..types import EvalkitError

LATEST = 6
RELEASE_SIZES = {1: 400, 2: 511, 3: 612, 4: 713, 5: 880, 6: 1055}  # release_vN problem counts
FILES = {n: "test.jsonl" if n == 1 else f"test{n}.jsonl" for n in range(1, LATEST + 1)}

# LiveCodeBench ERRATA.md (commit 28fef95): problems that cannot be graded as released. LeetCode entries
# are title slugs, matched against the slug of question_title as well as question_id.
ERRATA = {
    **dict.fromkeys(("abc311_c", "abc326_d", "abc327_b", "abc333_e", "abc343_e", "abc362_c", "find-words-containing-character",
                     "find-the-peaks", "generate-binary-strings-without-adjacent-zeros", "arc185_c", "abc343_a"),
                    "multiple solutions accepted"),
    **dict.fromkeys(("abc337_e", "abc355_e"), "interactive problem"),
    "abc350_c": "erroneous test cases",
    "apply-operations-to-make-string-empty": "erroneous test case of empty string",
    "most-frequent-ids": "adversarial input not following constraints",
    "arc189_a": "single erroneous test case with incorrect output",
}


def release_files(tag: str) -> tuple[int, ...]:
    """The delta numbers (1..6) a version tag names, as lcb_runner's version_tag does."""
    t = tag.strip().lower()
    if t in ("latest", "release_latest"):
        return tuple(range(1, LATEST + 1))
    m = re.fullmatch(r"release_v(\d)", t) or re.fullmatch(r"v(\d)", t) or re.fullmatch(r"v(\d)_v(\d)", t)
    nums = [int(g) for g in m.groups()] if m else []
    if not nums or not all(1 <= n <= LATEST for n in nums) or (len(nums) == 2 and nums[0] > nums[1]):
        raise EvalkitError(f"--release-version {tag!r} is not a LiveCodeBench version; use release_v1..release_v{LATEST}, "
                           f"release_latest (latest), a delta v1..v{LATEST}, or a span such as v2_v{LATEST}")
    if t.startswith("release_"):
        return tuple(range(1, nums[0] + 1))
    return tuple(range(nums[0], nums[-1] + 1))


def release_name(nums: tuple[int, ...]) -> str:
    if nums[0] == 1:
        return f"release_v{nums[-1]}"
    return f"v{nums[0]}" if len(nums) == 1 else f"v{nums[0]}_v{nums[-1]}"


def expected_size(nums: tuple[int, ...]) -> int:
    return RELEASE_SIZES[nums[-1]] - RELEASE_SIZES.get(nums[0] - 1, 0)


class _OnlyStr(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refused to load {module}.{name}")


def private_tests(value: Any, qid: str) -> list[dict]:
    """`private_test_cases`: JSON text, or base64(zlib(pickle(JSON text))); anything else is refused."""
    if isinstance(value, list):
        return value
    if not isinstance(value, str) or not value.strip():
        return []
    try:
        return _test_list(json.loads(value), qid)
    except json.JSONDecodeError:
        pass
    try:
        raw = zlib.decompress(base64.b64decode(value.encode(), validate=False))
        text = _OnlyStr(io.BytesIO(raw)).load()
    except (binascii.Error, zlib.error, pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError,
            AttributeError, KeyError, RecursionError, MemoryError) as e:
        raise EvalkitError(f"problem {qid}: private_test_cases is neither JSON nor an encoded JSON string "
                           f"({type(e).__name__}: {str(e)[:80]}); refused, nothing of it was run") from None
    if type(text) is not str:
        raise EvalkitError(f"problem {qid}: private_test_cases decodes to a {type(text).__name__}, not the JSON string "
                           "LiveCodeBench stores; refused")
    try:
        return _test_list(json.loads(text), qid)
    except json.JSONDecodeError as e:
        raise EvalkitError(f"problem {qid}: decoded private_test_cases is not JSON ({e.msg}); check the file") from None


def _test_list(obj: Any, qid: str) -> list[dict]:
    if not (isinstance(obj, list) and all(isinstance(t, dict) and {"input", "output"} <= set(t) for t in obj)):
        raise EvalkitError(f"problem {qid}: tests are not a list of {{input, output, testtype}}; check the file")
    return obj


def public_tests(value: Any, qid: str) -> list[dict]:
    if isinstance(value, list):
        return _test_list(value, qid)
    try:
        return _test_list(json.loads(value), qid)
    except (json.JSONDecodeError, TypeError):
        raise EvalkitError(f"problem {qid}: public_test_cases is not JSON; check the file") from None


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def erratum(row: dict) -> str | None:
    """Why ERRATA.md lists this problem, or None."""
    return ERRATA.get(str(row.get("question_id", ""))) or ERRATA.get(slug(str(row.get("question_title", ""))))
