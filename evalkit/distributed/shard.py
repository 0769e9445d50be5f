"""Which (problem, sample index) pairs belong to shard I of N: fixed, balanced, order-free.

A pair's shard is (h(problem id) + sample index) mod N, with h a hash of the id alone. So:
- deterministic: it depends on nothing but the pair and N (not on --limit, problem order or --n,
  so extending --n later keeps every existing sample in the shard that drew it);
- balanced: the n samples of every problem are dealt round-robin, so each shard gets n/N of each
  problem (hard and easy problems alike), within one sample; the hash offset spreads the
  remainders over the shards instead of piling them on shard 0.
Shard indices are 0-based (I in 0..N-1), like Slurm's `--array=0-(N-1)`.
"""

from __future__ import annotations

import hashlib
import re

from ..types import EvalkitError

Shard = tuple[int, int]  # (index, count)


def parse_shard(text: str) -> Shard:
    """`I/N` -> (I, N); one line naming the fix otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m:
        raise EvalkitError(f"--shard {text!r} is not I/N; give e.g. --shard 0/4 (0-based index I of N shards)")
    index, count = int(m.group(1)), int(m.group(2))
    if count < 1 or index >= count:
        raise EvalkitError(f"--shard {text}: the index must be in 0..N-1 (0-based), e.g. --shard 0/{max(count, 1)}")
    return index, count


def _offset(problem_id: str) -> int:
    return int.from_bytes(hashlib.sha256(f"shard\x00{problem_id}".encode()).digest()[:8], "little")


def shard_of(problem_id: str, sample_index: int, count: int) -> int:
    """The shard (0..count-1) that owns this pair."""
    return (_offset(problem_id) + sample_index) % count


def in_shard(problem_id: str, sample_index: int, shard: Shard | None) -> bool:
    """True when the pair belongs to `shard`; every pair belongs to the whole run (shard None)."""
    return shard is None or shard_of(problem_id, sample_index, shard[1]) == shard[0]


def shard_label(shard: Shard | None) -> str | None:
    return None if shard is None else f"{shard[0]}/{shard[1]}"
