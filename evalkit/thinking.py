"""The thinking section of a completion, in tokens: where it ends, and the prompt that forces it to end.

s1's budget forcing (Muennighoff et al. 2025) stops a reasoning model's thinking after B tokens, appends
the end-of-thinking marker and an answer cue ("Final answer:"), and lets the model answer. Here that is
done on token ids, never on re-tokenised text: the forced prompt is exactly

    prompt ids + the sample's first B drawn token ids + ids(marker) + ids(cue)

so it is a token-for-token prefix of what the engine already computed for the sample (its KV blocks are
in vLLM's prefix cache), and the model sees exactly the thinking it produced.

A completion's thinking length T is the number of drawn tokens before the first end-of-thinking marker;
a completion that never closes its thinking (cut at --max-tokens, or ended without the marker) thinks
for all of its tokens, a final end-of-text token aside. A sample is forced at budget B only when B < T;
otherwise it keeps its own answer.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from .config import DEFAULT_ANSWER_TOKENS, DEFAULT_CUE
from .prompts import template_text
from .types import EvalkitError

# End-of-thinking markers of released reasoning models, most common first.
KNOWN_THINK_ENDS = ("</think>", "</thinking>", "<|end_of_thought|>", "◁/think▷", "</reasoning>", "<|END_THINKING|>")


@dataclass(frozen=True)
class ThinkSettings:
    """What a forced answer is: part of the run's manifest (`think_budgets`) and fixed for its budgets.jsonl."""

    think_end: str
    answer_cue: str = DEFAULT_CUE
    answer_tokens: int = DEFAULT_ANSWER_TOKENS

    def identity(self) -> dict[str, Any]:
        return {"think_end": self.think_end, "answer_cue": self.answer_cue, "answer_tokens": self.answer_tokens}


def marker_in_model(tokenizer: Any) -> str | None:
    """The first known marker the model's chat template mentions or its vocabulary holds as one token."""
    if tokenizer is None:
        return None
    text = template_text(tokenizer) or ""
    try:
        vocab = set(tokenizer.get_vocab())
    except (AttributeError, NotImplementedError, TypeError):
        vocab = set()
    return next((m for m in KNOWN_THINK_ENDS if m in text or m in vocab), None)


def resolve_think_end(given: str | None, tokenizer: Any, completions: Sequence[str] = (), model: str = "the model") -> str:
    """--think-end when given; else the marker the model's template or vocabulary names; else one its
    completions contain (a server's model, whose template is not visible here)."""
    if given is not None:
        if not given:
            raise EvalkitError("--think-end is empty; give the model's end-of-thinking marker, e.g. --think-end '</think>'")
        return given
    found = marker_in_model(tokenizer) or next((m for m in KNOWN_THINK_ENDS if any(m in c for c in completions)), None)
    if found is None:
        raise EvalkitError(f"{model} has no known end-of-thinking marker (its chat template, vocabulary and completions name none of "
                           f"{', '.join(KNOWN_THINK_ENDS)}); pass --think-end with the marker its thinking ends with")
    return found


def think_length(ids: Sequence[int], marker_ids: Sequence[int], ends_with_eos: bool = False,
                 decode: Callable[[Sequence[int]], str] | None = None, marker: str | None = None) -> tuple[int, bool]:
    """(T, closed): the drawn tokens before the first end-of-thinking marker, and whether there is one.

    The marker is found as a run of token ids (the usual case: one added token); failing that, and given
    `decode`, in the decoded text (a marker the model spelled in pieces), T then being the tokens whose
    text lies wholly before it. Without a marker T is every token, the end-of-text token that ended the
    sample (`ends_with_eos`; vLLM and the hf backend record it) aside.
    """
    at = _find_run(ids, marker_ids)
    if at >= 0:
        return at, True
    if decode is not None and marker:
        cut = _text_position(ids, marker, decode)
        if cut is not None:
            return cut, True
    return len(ids) - (1 if ends_with_eos and ids else 0), False


def ends_with_eos(ids: Sequence[int], finish_reason: str, special_ids: Any, stops: Sequence[str]) -> bool:
    """Whether a sample's last drawn token is the end-of-text that stopped it: a special token, or (with no
    stop strings, when the special ids are unknown) any sample that stopped on its own."""
    if finish_reason != "stop" or not ids:
        return False
    return ids[-1] in special_ids if special_ids else not stops


def _find_run(ids: Sequence[int], run: Sequence[int]) -> int:
    if not run:
        return -1
    first, size = run[0], len(run)
    start = 0
    ids = list(ids)
    while True:
        try:
            at = ids.index(first, start)
        except ValueError:
            return -1
        if ids[at:at + size] == list(run):
            return at
        start = at + 1


def _text_position(ids: Sequence[int], marker: str, decode: Callable[[Sequence[int]], str]) -> int | None:
    """The largest j whose decoded prefix ends before the marker starts; None when the text lacks it."""
    text = decode(ids)
    where = text.find(marker)
    if where < 0:
        return None
    lo, hi = 0, len(ids)
    while lo < hi:  # decoded length grows with the prefix: the last prefix that fits before the marker
        mid = (lo + hi + 1) // 2
        if len(decode(ids[:mid])) <= where:
            lo = mid
        else:
            hi = mid - 1
    return lo


def forced_prompt(prompt_ids: Sequence[int], ids: Sequence[int], budget: int, marker_ids: Sequence[int], cue_ids: Sequence[int]) -> list[int]:
    """The prompt a forced answer continues: the drawn prefix, cut at `budget` thinking tokens, closed."""
    return [*prompt_ids, *ids[:budget], *marker_ids, *cue_ids]


def budget_seed(sample_seed: int, budget: int) -> int:
    """The seed of a forced answer, a pure function of its sample's seed and the budget (< 2**62)."""
    digest = hashlib.sha256(f"{sample_seed}\x00budget\x00{budget}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 2


def graded_text(settings: ThinkSettings, answer: str) -> str:
    """What the verifier reads of a forced answer: the marker, the cue and the answer (graders read only
    the text after the last end-of-thinking marker, as for a sample that closed its thinking itself)."""
    return settings.think_end + settings.answer_cue + answer


def describe(settings: ThinkSettings) -> str:
    return f"--think-end {json.dumps(settings.think_end)} --answer-cue {json.dumps(settings.answer_cue)} --answer-tokens {settings.answer_tokens}"
