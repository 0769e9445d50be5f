"""Helpers every backend shares, and the records of a forced continuation (budget forcing).

Every backend draws forced answers the same way: `continue_tokens(continuations, max_tokens)` yields
a `Continued` for each `Continuation` as it finishes, in any order, with the run's sampling settings
but at most `max_tokens` new tokens and the continuation's own seed. A backend that fails a request
yields nothing for it (a rerun retries it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


def truncate_at_stop(text: str, stops: Sequence[str]) -> str:
    """Cut at the earliest stop string (excluded), as vLLM and OpenAI servers do."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return text if cut < 0 else text[:cut]


@dataclass(frozen=True)
class Continuation:
    """One forced answer to draw: the engine continues `prompt_ids` (prompt + drawn thinking prefix +
    end-of-thinking marker + answer cue, evalkit/thinking.py) for at most the answer budget."""

    problem_id: str
    sample_index: int
    budget: int
    seed: int
    prompt_ids: tuple[int, ...]
    token_source: str = "recorded"  # "retokenized": the sample's ids were not recorded (forcing.retokenized)


@dataclass
class Continued:
    """What came back for a Continuation: the answer text and how it ended, and the prompt tokens the
    engine found in its prefix cache (None where the backend does not say)."""

    request: Continuation
    text: str
    finish_reason: str
    num_tokens: int
    cached_tokens: int | None = None
