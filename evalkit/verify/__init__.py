"""Verifiers, one per benchmark family: math (extraction + equivalence) and code (sandboxed tests)."""

from __future__ import annotations

from ..types import EvalkitError, Verifier


def make_verifier(family: str, **options) -> Verifier:
    if family == "math":
        from .math import MathVerifier

        return MathVerifier(**options)
    if family == "code":
        from .code import CodeVerifier

        return CodeVerifier(**options)
    raise EvalkitError(f"no verifier for benchmark family {family!r}")
