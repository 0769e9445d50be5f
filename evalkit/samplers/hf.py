"""Hugging Face transformers backend (`--backend hf`): CPU-friendly, exact entropy from full logits.

`generate()` cannot give each row of a batch its own seed, so this backend runs its own decoding
loop: the samples of one prompt share a batch (no padding, one KV cache), and row i draws from its
own `torch.Generator` seeded with the sample's derived seed. A sample is therefore the same whether
it is drawn alone, in a batch of 64, or after a resume.

A decoding step costs about the same for 3 rows as for 64 on a small model (the per-step work outside
the matrix products dominates), so an adaptive design's rounds, a few samples of many prompts each,
would pay several times per sample what a fixed n pays. With `pack_prompts` (set for adaptive runs)
the samples of prompts of equal token length share a batch too: still no padding, and each row
attends to its own prompt only.
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from typing import Iterable, Iterator, Sequence

from ..config import EngineConfig, SamplingConfig
from ..types import EvalkitError, Sample, SampleRequest
from .base import Continuation, Continued, truncate_at_stop


class HFSampler:
    def __init__(self, model: str, sampling: SamplingConfig, engine: EngineConfig, tokenizer=None, pack_prompts: bool = False):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.sampling, self.engine, self.pack_prompts = sampling, engine, pack_prompts
        dtype = {"auto": torch.float32, "float32": torch.float32, "bfloat16": torch.bfloat16,
                 "float16": torch.float16}.get(engine.dtype, torch.float32)
        try:
            self.tokenizer = tokenizer if tokenizer is not None else AutoTokenizer.from_pretrained(model)
            self.model = AutoModelForCausalLM.from_pretrained(model, dtype=dtype).eval()
        except OSError as e:
            raise EvalkitError(f"cannot load model {model!r} with transformers ({str(e).splitlines()[0][:120]}); pass a checkpoint directory")
        self.eos_ids = _eos_ids(self.tokenizer, self.model)
        # transformers >= 5.2x renamed the KV cache argument and output `past_key_values` -> `cache`
        self._cache_arg = "cache" if "cache" in inspect.signature(self.model.forward).parameters else "past_key_values"

    def close(self) -> None:
        pass

    def sample(self, requests: Sequence[SampleRequest]) -> Iterator[Sample]:
        for batch in self._batches(requests):
            yield from self._decode(batch)

    def _batches(self, requests: Sequence[SampleRequest]) -> Iterator[list[SampleRequest]]:
        """A prompt's samples in batches of --batch-size consecutive requests; with pack_prompts the
        batches of prompts of equal token length are filled up with each other's."""
        by_prompt: dict[str, list[SampleRequest]] = defaultdict(list)
        for r in requests:
            by_prompt[r.prompt if isinstance(r.prompt, str) else repr(r.prompt)].append(r)
        bs = max(1, self.engine.batch_size)
        chunks = [group[start : start + bs] for group in by_prompt.values() for start in range(0, len(group), bs)]
        if not self.pack_prompts:
            yield from chunks
            return
        by_length: dict[int, list[list[SampleRequest]]] = defaultdict(list)
        for chunk in chunks:
            by_length[len(self._text_ids(chunk[0].prompt))].append(chunk)
        for same in by_length.values():
            batch: list[SampleRequest] = []
            for chunk in same:
                if batch and len(batch) + len(chunk) > bs:
                    yield batch
                    batch = []
                batch += chunk
            yield batch

    def _text_ids(self, prompt: object) -> list[int]:
        if not isinstance(prompt, str):
            raise EvalkitError("the hf backend needs text prompts; chat messages need a tokenizer chat template")
        return self.prompt_ids(prompt)

    def _decode(self, batch: list[SampleRequest]) -> Iterator[Sample]:
        ids = {p: self._text_ids(p) for p in {id(r.prompt): r.prompt for r in batch}.values()}  # by identity: chat lists are unhashable
        prompts = [ids[r.prompt] for r in batch]
        rows = self._generate(prompts, [r.seed for r in batch], self.sampling.max_tokens)
        for r, prompt, row in zip(batch, prompts, rows):
            text = truncate_at_stop(self.tokenizer.decode(row.tokens, skip_special_tokens=True), self.sampling.stop)
            steps = max(1, row.count)
            yield Sample(
                problem_id=r.problem_id,
                sample_index=r.sample_index,
                seed=r.seed,
                completion=text,
                finish_reason=row.finish,
                num_tokens=row.count,
                mean_entropy=row.entropy / steps,
                mean_logprob=row.logprob / steps,
                token_ids=row.drawn,
                prompt_tokens=len(prompt),
            )

    def prompt_ids(self, prompt: str) -> list[int]:
        """As the vllm backend: add BOS unless the rendered (chat) prompt already starts with it."""
        bos = self.tokenizer.bos_token
        return self.tokenizer(prompt, add_special_tokens=not (bos and prompt.startswith(bos)))["input_ids"]

    def continue_tokens(self, continuations: Iterable[Continuation], max_tokens: int) -> Iterator[Continued]:
        """Forced answers, one at a time (each prompt is its own), each row with its continuation's seed."""
        for c in continuations:
            row = self._generate([list(c.prompt_ids)], [c.seed], max_tokens)[0]
            text = truncate_at_stop(self.tokenizer.decode(row.tokens, skip_special_tokens=True), self.sampling.stop)
            yield Continued(c, text, row.finish, row.count, None)

    def request_settings(self) -> dict:
        sp = self.sampling
        return {"api": "transformers (evalkit's decoding loop)", "temperature": sp.temperature, "top_p": sp.top_p, "top_k": sp.top_k,
                "min_p": sp.min_p, "max_tokens": sp.max_tokens, "stop": list(sp.stop), "eos_token_ids": list(self.eos_ids),
                "repetition_penalty": 1.0, "dtype": str(self.model.dtype).removeprefix("torch."),
                "seed": "per sample: config.sample_seed(seed, problem_id, sample_index), one torch.Generator per row"}

    def _generate(self, prompts: list[list[int]], seeds: list[int], max_tokens: int) -> list["_Row"]:
        """Row i continues prompts[i] (all of one length: no padding; one prompt shares its KV cache),
        drawing from its own generator."""
        import torch

        sp = self.sampling
        n = len(seeds)
        gens = [torch.Generator().manual_seed(seed % (2**63)) for seed in seeds]
        rows = [_Row() for _ in range(n)]
        first = prompts[0]
        same = all(p is first or p == first for p in prompts)
        past, step_input = None, torch.tensor([first]).expand(n, -1) if same else torch.tensor(prompts)
        with torch.inference_mode():
            for _ in range(max_tokens):
                out = self.model(input_ids=step_input, use_cache=True, **{self._cache_arg: past})
                past = out[self._cache_arg]
                raw = out.logits[:, -1, :].float()
                logp_raw = torch.log_softmax(raw, dim=-1)
                step_entropy = -(logp_raw.exp() * logp_raw).nansum(dim=-1)  # exact, whole vocabulary
                probs = _sampling_probs(raw, sp)
                nxt = torch.zeros(n, dtype=torch.long)
                for i, row in enumerate(rows):
                    tok = self.eos_ids[0] if row.done else int(torch.multinomial(probs[i], 1, generator=gens[i]))
                    nxt[i] = tok
                    if not row.done:
                        row.add(tok, float(step_entropy[i]), float(logp_raw[i, tok]), tok in self.eos_ids)
                        if not row.done and sp.stop and _hits_stop(self.tokenizer, row.tokens, sp.stop):
                            row.done, row.finish = True, "stop"
                if all(row.done for row in rows):
                    break
                step_input = nxt[:, None]
        return rows


class _Row:
    """One row of a decoding batch: its tokens (`drawn` keeps a final end-of-text, as vLLM's token ids do)."""

    def __init__(self) -> None:
        self.tokens: list[int] = []
        self.drawn: list[int] = []
        self.count, self.entropy, self.logprob = 0, 0.0, 0.0
        self.done, self.finish = False, "length"

    def add(self, tok: int, entropy: float, logprob: float, eos: bool) -> None:
        self.count += 1
        self.entropy += entropy
        self.logprob += logprob
        self.drawn.append(tok)
        if eos:
            self.done, self.finish = True, "stop"
        else:
            self.tokens.append(tok)


def _sampling_probs(logits, sp: SamplingConfig):
    """softmax(logits / T) restricted by top-k, top-p and min-p, as vLLM applies them."""
    import torch

    if sp.temperature <= 0:
        probs = torch.zeros_like(logits)
        probs[torch.arange(len(logits)), logits.argmax(-1)] = 1.0
        return probs
    logits = logits / sp.temperature
    if sp.top_k and sp.top_k > 0:
        kth = torch.topk(logits, min(sp.top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if sp.top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        keep_sorted = (sorted_p.cumsum(-1) - sorted_p) < sp.top_p
        keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
        probs = probs * keep
    if sp.min_p > 0:
        probs = probs * (probs >= sp.min_p * probs.max(dim=-1, keepdim=True).values)
    return probs / probs.sum(-1, keepdim=True)


def _hits_stop(tokenizer, tokens: list[int], stops: Sequence[str]) -> bool:
    tail = tokenizer.decode(tokens[-16:], skip_special_tokens=True)
    return any(s in tail for s in stops)


def _eos_ids(tokenizer, model) -> list[int]:
    ids = model.generation_config.eos_token_id if model.generation_config is not None else None
    ids = ids if isinstance(ids, list) else [ids] if ids is not None else []
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    if not ids:
        raise EvalkitError("the model has no eos token; set eos_token_id in its config")
    return ids
