"""Plain-data wire format for values returned by model-written code (stdlib only).

Why: a returned object must never reach a comparison with its own methods (an `__eq__` that is
always True, a `str` subclass...), and bytes from the sandboxed program must never be unpickled by a
trusted process. `encode` accepts only exact built-in types (plus exact numpy scalars/arrays) and
turns them into JSON; `decode` rebuilds fresh built-in objects from that JSON and nothing else.

Decoding is bounded by construction, since the judge decodes what a hostile program sent: the
JSON itself is capped in size before it is read (channel.py); a declared size is checked before
anything is allocated for it (a numpy array's item size times its items, MAX_ARRAY_BYTES); nesting
is capped (MAX_DEPTH); and a set or dict is built only when at most MAX_SAME_HASH of its elements
share one hash value, since equal hashes make each insertion compare against all the others
(60,000 integers n * (2**61 - 1) once cost the judge 20 s). Anything else is a ValueError: the
value is unusable, and the verdict `wrong`.
"""

from __future__ import annotations

import collections
import json
import sys
from typing import Any

MAX_DEPTH = 200
MAX_ARRAY_BYTES = 64 << 20  # a decoded numpy array's size
MAX_SAME_HASH = 8  # elements of one set (keys of one dict) that may share a hash value
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
    """Fresh built-in values from codec JSON; ValueError for anything malformed or too costly to build."""
    try:
        return _decode(x, 0)
    except (TypeError, OverflowError, KeyError, IndexError) as e:
        raise ValueError(f"malformed value ({type(e).__name__})") from None


def _decode(x: Any, depth: int) -> Any:
    if not isinstance(x, list):
        if x is None or type(x) in (bool, int, float, str):
            return x
        raise ValueError("malformed value")
    if depth > MAX_DEPTH + 2:
        raise ValueError("value nested too deeply")
    d = depth + 1
    tag, body = x[0], x[1]
    if tag == "L":
        return [_decode(v, d) for v in body]
    if tag == "T":
        return tuple(_decode(v, d) for v in body)
    if tag in ("S", "Z"):
        items = [_decode(v, d) for v in body]
        spread_ok(items)
        return set(items) if tag == "S" else frozenset(items)
    if tag == "D":
        pairs = [(_decode(k, d), _decode(v, d)) for k, v in body]
        spread_ok(k for k, _ in pairs)
        return dict(pairs)
    if tag == "I":
        return int(str(body), 16)
    if tag == "B":
        return bytes.fromhex(body)
    if tag == "C":
        return complex(float(body), float(x[2]))
    if tag in ("N", "P"):
        return _numpy(tag, str(body), _decode(x[2], d))
    raise ValueError("malformed value")


def spread_ok(items) -> None:
    """ValueError when more than MAX_SAME_HASH of `items` share a hash value (or one is unhashable):
    building a set or dict of them would cost time quadratic in their number."""
    counts: dict[int, int] = {}
    for item in items:
        h = hash(item)
        counts[h] = counts.get(h, 0) + 1
        if counts[h] > MAX_SAME_HASH:
            raise ValueError(f"a set or dict with more than {MAX_SAME_HASH} elements of one hash value")


def _numpy(tag: str, name: str, value: Any) -> Any:
    import numpy as np

    if tag == "P":
        if name not in _NP_SCALARS:
            raise ValueError("malformed numpy scalar")
        return getattr(np, name)(value)
    dtype = np.dtype(name)
    if dtype.kind not in "biufcU" or dtype.itemsize * max(1, _leaves(value)) > MAX_ARRAY_BYTES:
        raise ValueError(f"numpy array of {name} too large or of an unsupported type")
    return np.array(value, dtype=dtype)


def _leaves(value: Any) -> int:
    if type(value) is not list:
        return 1
    return sum(_leaves(v) for v in value) or 1


_NP_SCALARS = {"bool", "bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
               "float32", "float64", "complex64", "complex128", "str_"}


def loads(text: str | bytes) -> Any:
    return decode(json.loads(text))


def digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def digest_of(value: Any) -> str:
    return digest(dumps(value))
