"""Which (problem, sample index) pairs belong to shard I of N: fixed, balanced, order-free.

Work is dealt in blocks of BLOCK consecutive sample indices of one problem, round-robin, block
layer by block layer (all problems' first blocks, then all second blocks, ...):

    shard(problem at position p of P, index i) = ((i // BLOCK) * P + p) mod N

- deterministic: it depends only on the pair's place in the run (fixed by the data hash and
  --limit), not on --n, so extending --n later keeps every existing sample in its shard;
- balanced: the blocks form one round-robin sequence, so shard sizes differ by at most one block;
- bit-identical: the hf backend decodes a prompt's samples in batches of --batch-size consecutive
  indices, so when --batch-size divides BLOCK a shard forms exactly the batches a single run forms,
  and even the float diagnostics (entropy, logprob) come out equal to the last bit.
Shard indices are 0-based (I in 0..N-1), like Slurm's `--array=0-(N-1)`.
"""

from __future__ import annotations

import re

from .types import EvalkitError

BLOCK = 64  # sample indices per unit of work; the hf backend's default --batch-size
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


def shard_of(position: int, sample_index: int, count: int, num_problems: int) -> int:
    """The shard (0..count-1) owning sample `sample_index` of problem `position` of `num_problems`."""
    return ((sample_index // BLOCK) * num_problems + position) % count


def in_shard(position: int, sample_index: int, shard: Shard | None, num_problems: int) -> bool:
    """True when the pair belongs to `shard`; every pair belongs to the whole run (shard None)."""
    return shard is None or shard_of(position, sample_index, shard[1], num_problems) == shard[0]


def shard_label(shard: Shard | None) -> str | None:
    return None if shard is None else f"{shard[0]}/{shard[1]}"
