"""Helpers every backend shares."""

from __future__ import annotations

from typing import Sequence


def truncate_at_stop(text: str, stops: Sequence[str]) -> str:
    """Cut at the earliest stop string (excluded), as vLLM and OpenAI servers do."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return text if cut < 0 else text[:cut]
