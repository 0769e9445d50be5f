"""Plain-data wire format for values returned by model-written code (stdlib only).

Why: a returned object must never reach a comparison with its own methods (an `__eq__` that is
always True, a `str` subclass...), and bytes from the sandboxed program must never be unpickled by a
trusted process. `encode` accepts only exact built-in types (plus exact numpy scalars/arrays) and
turns them into JSON; `decode` rebuilds fresh built-in objects from that JSON and nothing else.
"""

from __future__ import annotations

import collections
import json
import sys
from typing import Any

MAX_DEPTH = 200
DIGEST_OVER = 1 << 20  # encoded values larger than this are compared by digest (exact encoding equality)
DIGEST_TAG = "__evalkit_digest__"


class Unencodable(Exception):
    """The value has a type that cannot be compared safely outside the sandbox."""


_SCALARS = (bool, int, float, str, type(None))
_DICTS = (dict, collections.Counter, collections.OrderedDict, collections.defaultdict)  # captured before model code runs
_BIG = 4000 * 3  # bits: beyond ~4000 digits str(int) is refused (CVE-2020-10735 limit), hex is not


def encode(obj: Any, depth: int = 0) -> Any:
    t = type(obj)
    if t is int and obj.bit_length() > _BIG:
        return ["I", hex(obj)]
    if t in _SCALARS:
        return obj
    if depth > MAX_DEPTH:
        raise Unencodable("value nested too deeply")
    d = depth + 1
    if t is list:
        return ["L", [encode(x, d) for x in obj]]
    if t is tuple:
        return ["T", [encode(x, d) for x in obj]]
    if t in _DICTS:
        return ["D", [[encode(k, d), encode(v, d)] for k, v in obj.items()]]
    if t is set or t is frozenset:
        return ["S" if t is set else "Z", [encode(x, d) for x in obj]]
    if t is bytes:
        return ["B", obj.hex()]
    if t is complex:
        return ["C", obj.real, obj.imag]
    np = sys.modules.get("numpy")
    if np is not None:
        if t is np.ndarray and obj.dtype.kind in "biufcU":
            return ["N", obj.dtype.str, encode(obj.tolist(), d)]
        if t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
                 np.float16, np.float32, np.float64, np.complex64, np.complex128, np.str_):
            return ["P", t.__name__, encode(obj.item(), d)]
    raise Unencodable(f"returned a {t.__module__}.{t.__qualname__}")


def dumps(obj: Any) -> str:
    return json.dumps(encode(obj))


def decode(x: Any) -> Any:
    if not isinstance(x, list):
        if x is None or type(x) in (bool, int, float, str):
            return x
        raise ValueError("malformed value")
    tag, body = x[0], x[1]
    if tag == "L":
        return [decode(v) for v in body]
    if tag == "I":
        return int(str(body), 16)
    if tag == "T":
        return tuple(decode(v) for v in body)
    if tag == "D":
        return {decode(k): decode(v) for k, v in body}
    if tag == "S":
        return {decode(v) for v in body}
    if tag == "Z":
        return frozenset(decode(v) for v in body)
    if tag == "B":
        return bytes.fromhex(body)
    if tag == "C":
        return complex(float(body), float(x[2]))
    if tag in ("N", "P"):
        import numpy as np

        value = decode(x[2])
        if tag == "N":
            dtype = np.dtype(str(body))
            if dtype.kind not in "biufcU":
                raise ValueError("malformed array")
            return np.array(value, dtype=dtype)
        if str(body) not in _NP_SCALARS:
            raise ValueError("malformed numpy scalar")
        return getattr(np, str(body))(value)
    raise ValueError("malformed value")


_NP_SCALARS = {"bool", "bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
               "float32", "float64", "complex64", "complex128", "str_"}


def loads(text: str | bytes) -> Any:
    return decode(json.loads(text))


def digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def digest_of(value: Any) -> str:
    return digest(dumps(value))
