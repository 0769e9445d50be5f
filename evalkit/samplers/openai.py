"""OpenAI-compatible server backend (`--backend openai --base-url URL`): vllm serve, SGLang, ...

Chat prompts (message lists) go to /chat/completions, where the server applies its model's chat
template; plain text prompts (`--no-chat`) go to /completions. Each sample is one request with n=1
and the sample's derived seed, so resume and `--n` extension work as with the offline engine.
Every sampling parameter is sent explicitly, the vLLM/SGLang extras (top_k, min_p,
repetition_penalty) included: a server otherwise fills what is missing from the checkpoint's
generation_config.json.

At most `--concurrency` requests are in flight. The openai client retries transient errors
(connection drops, timeouts, 408/409/429, 5xx) with exponential backoff, `--max-retries` times.
A sample whose retries run out is not written (the run reports it and a rerun retries it); a
request the server rejects outright (4xx: wrong model name, bad parameter) stops the run.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any, Awaitable, Callable, Iterable, Iterator, Sequence, TypeVar

from ..config import EngineConfig, SamplingConfig
from ..types import EvalkitError, Sample, SampleRequest
from .base import Continuation, Continued
from .entropy import mean_entropy_and_logprob

log = logging.getLogger(__name__)

FINISHED_OK = ("stop", "length")
TRANSIENT_STATUS = (408, 409, 429)
T = TypeVar("T")


class OpenAISampler:
    def __init__(self, model: str, sampling: SamplingConfig, engine: EngineConfig):
        if not engine.base_url:
            raise EvalkitError("--backend openai needs --base-url, e.g. http://127.0.0.1:8000/v1")
        try:
            import openai  # noqa: F401
        except ImportError:
            raise EvalkitError("the openai backend needs the openai package; pip install 'evalkit[openai]'")
        self.model, self.sampling, self.engine = model, sampling, engine
        self._check_server()

    def close(self) -> None:
        pass

    def _check_server(self) -> None:
        check_server(self.engine, self.model, "--base-url", "--model")

    # -- sampling ---------------------------------------------------------------------------
    def sample(self, requests: Sequence[SampleRequest]) -> Iterator[Sample]:
        """Yield each sample as its request returns."""
        if not requests:
            return
        for req, task in stream_requests(self.engine, requests, self._draw):
            sample = self._outcome(task, req)
            if sample is not None:
                yield sample

    async def _draw(self, client: Any, req: SampleRequest) -> Sample | None:
        if isinstance(req.prompt, str):
            resp = await client.completions.create(prompt=req.prompt, **self._params(req.seed, chat=False))
            choice = resp.choices[0]
            steps, chosen = _completion_logprobs(choice.logprobs)
            text = choice.text
        else:
            resp = await client.chat.completions.create(messages=list(req.prompt), **self._params(req.seed, chat=True))
            choice = resp.choices[0]
            steps, chosen = _chat_logprobs(choice.logprobs)
            text = choice.message.content or ""
        if choice.finish_reason not in FINISHED_OK:
            log.warning("server ended %s #%d with finish_reason=%r; it will be retried on rerun", req.problem_id, req.sample_index, choice.finish_reason)
            return None
        entropy, logprob = mean_entropy_and_logprob(steps, chosen) if self.sampling.logprobs else (None, None)
        tokens = resp.usage.completion_tokens if resp.usage is not None else len(chosen)
        prompt_tokens, cached = _usage(resp)
        return Sample(
            problem_id=req.problem_id, sample_index=req.sample_index, seed=req.seed, completion=text,
            finish_reason=choice.finish_reason, num_tokens=tokens, mean_entropy=entropy, mean_logprob=logprob,
            token_ids=_token_ids(choice), prompt_tokens=prompt_tokens, cached_tokens=cached,
        )

    # -- forced answers (budget forcing) ------------------------------------------------------------
    def continue_tokens(self, continuations: Iterable[Continuation], max_tokens: int) -> Iterator[Continued]:
        """Each forced prompt goes to /completions as token ids: a continuation of the drawn prefix."""
        params = {**self._params(0, chat=False), "max_tokens": max_tokens}
        params.pop("logprobs", None)

        async def call(client: Any, c: Continuation) -> Continued | None:
            resp = await client.completions.create(prompt=list(c.prompt_ids), **{**params, "seed": c.seed})
            choice = resp.choices[0]
            if choice.finish_reason not in FINISHED_OK:
                return None
            used = resp.usage.completion_tokens if resp.usage is not None else 0
            return Continued(c, choice.text, choice.finish_reason, used, _usage(resp)[1])

        for c, task in stream_requests(self.engine, continuations, call, window=4 * self.engine.concurrency):
            done = task_outcome(task, self.engine, f"{c.problem_id} #{c.sample_index} at budget {c.budget}", "check --model and the flags",
                                "completed forced answers are saved")
            if done is not None:
                yield done

    @property
    def tokenizer(self) -> "ServerTokenizer":
        return ServerTokenizer(self.engine, self.model)

    def prompt_ids(self, prompt: Any) -> list[int]:
        """The token ids the server drew a prompt from: /tokenize renders chat messages with its template."""
        return self.tokenizer.prompt_ids(prompt)

    def request_settings(self) -> dict[str, Any]:
        return {"api": f"OpenAI-compatible server at {self.engine.base_url}", "chat": self._params(0, chat=True),
                "completions": self._params(0, chat=False), "seed": "per sample: config.sample_seed(seed, problem_id, sample_index)"}

    def _params(self, seed: int, chat: bool) -> dict[str, Any]:
        """Every parameter that changes a sample, explicitly (never the server's defaults)."""
        sp = self.sampling
        params: dict[str, Any] = dict(
            model=self.model, n=1, seed=seed, temperature=sp.temperature, top_p=sp.top_p,
            max_tokens=sp.max_tokens, stop=list(sp.stop) or None, presence_penalty=0.0, frequency_penalty=0.0,
            extra_body={"top_k": sp.top_k, "min_p": sp.min_p, "repetition_penalty": 1.0, "min_tokens": 0,
                        "ignore_eos": False, "skip_special_tokens": True, "include_stop_str_in_output": False,
                        "return_token_ids": True},  # vLLM: the drawn ids, which budget forcing continues from
        )
        if sp.logprobs and chat:
            params.update(logprobs=True, top_logprobs=sp.logprobs)
        elif sp.logprobs:
            params.update(logprobs=sp.logprobs)
        return params

    def _outcome(self, task: asyncio.Task, req: SampleRequest) -> Sample | None:
        """The task's sample; None for a transient failure; EvalkitError for one that will not pass."""
        return task_outcome(task, self.engine, f"{req.problem_id} #{req.sample_index}", "check --model and the sampling flags",
                            "completed samples are saved")


# -- the machinery the sampler and the audit's judge (reports/audit_judge.py) share --------------------
def client_args(engine: EngineConfig) -> dict[str, Any]:
    """openai client arguments: the client itself retries transient errors with exponential backoff."""
    e = engine
    return dict(base_url=e.base_url, api_key=e.api_key or "EMPTY", max_retries=e.max_retries, timeout=e.request_timeout)


def check_server(engine: EngineConfig, model: str, url_flag: str, model_flag: str) -> None:
    """Fail fast, in one line, on an unreachable server or a model it does not serve."""
    import openai

    try:
        with openai.OpenAI(**{**client_args(engine), "max_retries": min(2, engine.max_retries), "timeout": 30.0}) as c:
            served = [m.id for m in c.models.list()]
    except openai.APIConnectionError as e:
        raise EvalkitError(f"cannot reach an OpenAI-compatible server at {engine.base_url} ({e}); start it or fix {url_flag}")
    except openai.APIStatusError:
        return  # a server without /models: the first request will tell
    if served and model not in served:
        raise EvalkitError(f"the server at {engine.base_url} serves {', '.join(served)}, not {model!r}; pass that name as {model_flag}")


def stream_requests(engine: EngineConfig, items: Iterable[T], call: Callable[[Any, T], Awaitable[Any]],
                    window: int | None = None) -> Iterator[tuple[T, asyncio.Task]]:
    """Run `await call(client, item)` for every item, at most `engine.concurrency` in flight, on a
    private event loop driven from this generator; yield (item, finished task) as each completes.

    window: items taken from `items` ahead of their turn (None: all at once). A bounded window keeps
    memory flat when items are built lazily from a large file.
    """
    import openai

    loop = asyncio.new_event_loop()
    client = openai.AsyncOpenAI(**client_args(engine))
    gate = asyncio.Semaphore(engine.concurrency)

    async def bounded(item: T) -> Any:
        async with gate:
            return await call(client, item)

    source = iter(items)
    tasks: dict[asyncio.Task, T] = {}

    def refill() -> None:
        for item in itertools.islice(source, None if window is None else max(0, window - len(tasks))):
            tasks[loop.create_task(bounded(item))] = item

    try:
        refill()
        while tasks:
            done, _ = loop.run_until_complete(asyncio.wait(set(tasks), return_when=asyncio.FIRST_COMPLETED))
            for task in done:
                yield tasks.pop(task), task
            refill()
    finally:
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(client.close())
        loop.close()


def task_outcome(task: asyncio.Task, engine: EngineConfig, what: str, reject_fix: str, saved: str) -> Any:
    """A finished request's result; None for a transient failure whose retries ran out (rerun retries
    it); EvalkitError for one that will not pass (lost server, a request the server rejects)."""
    import openai

    try:
        return task.result()
    except openai.APITimeoutError:
        log.warning("request for %s timed out after %d retries", what, engine.max_retries)
    except openai.APIConnectionError as e:
        raise EvalkitError(f"lost the server at {engine.base_url} ({e}) after {engine.max_retries} retries; {saved}, rerun to resume")
    except openai.APIStatusError as e:
        if e.status_code not in TRANSIENT_STATUS and e.status_code < 500:
            raise EvalkitError(f"the server rejected a request (HTTP {e.status_code}: {_message(e)}); {reject_fix}")
        log.warning("request for %s failed (HTTP %d) after %d retries", what, e.status_code, engine.max_retries)
    return None


def _chat_logprobs(lp: Any) -> tuple[list[list[float]], list[float]]:
    content = (lp.content if lp is not None else None) or []
    return [[t.logprob for t in c.top_logprobs] for c in content], [c.logprob for c in content]


def _completion_logprobs(lp: Any) -> tuple[list[list[float]], list[float]]:
    """/completions keys top logprobs by token *text*: two tokens that decode alike share a slot."""
    if lp is None or not lp.token_logprobs:
        return [], []
    return [list((d or {}).values()) for d in lp.top_logprobs or []], [x for x in lp.token_logprobs if x is not None]


def _token_ids(choice: Any) -> list[int] | None:
    """The drawn token ids a vLLM server returns with return_token_ids (None from servers that do not)."""
    ids = getattr(choice, "token_ids", None)
    return [int(t) for t in ids] if isinstance(ids, list) else None


def _usage(resp: Any) -> tuple[int | None, int | None]:
    """(prompt tokens, prompt tokens served from the prefix cache) as the server reports them."""
    usage = getattr(resp, "usage", None)
    if usage is None:
        return None, None
    details = getattr(usage, "prompt_tokens_details", None)
    return usage.prompt_tokens, getattr(details, "cached_tokens", None) if details is not None else None


class ServerTokenizer:
    """The server's own tokenizer, through vLLM's /tokenize and /detokenize (beside /v1): what budget
    forcing needs of a model it cannot load here."""

    chat_template = None
    all_special_ids: list[int] = []

    def __init__(self, engine: EngineConfig, model: str):
        self.root, self.model = engine.base_url.rstrip("/").removesuffix("/v1"), model
        self.headers = {"Authorization": f"Bearer {engine.api_key or 'EMPTY'}"}
        self.timeout = engine.request_timeout

    def _post(self, path: str, body: dict) -> dict:
        import httpx

        try:
            r = httpx.post(self.root + path, json={"model": self.model, **body}, headers=self.headers, timeout=self.timeout)
        except httpx.HTTPError as e:
            raise EvalkitError(f"cannot reach {self.root}{path} ({e}); budget forcing on the openai backend needs the server running")
        if r.status_code != 200:
            raise EvalkitError(f"{self.root}{path} answered HTTP {r.status_code}; budget forcing on the openai backend needs a server "
                               "with vLLM's /tokenize and /detokenize (vllm serve)")
        return r.json()

    def encode(self, text: str, add_special_tokens: bool = False) -> list[int]:
        return list(self._post("/tokenize", {"prompt": text, "add_special_tokens": add_special_tokens})["tokens"])

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        return str(self._post("/detokenize", {"tokens": list(ids)})["prompt"])

    def prompt_ids(self, prompt: Any) -> list[int]:
        if isinstance(prompt, str):  # /completions adds the model's special tokens (BOS) to a text prompt
            return self.encode(prompt, add_special_tokens=True)
        return list(self._post("/tokenize", {"messages": list(prompt), "add_generation_prompt": True})["tokens"])

    def get_vocab(self) -> dict:
        raise NotImplementedError  # not served: the marker is looked for in the completions instead


def _message(e: Any) -> str:
    body = getattr(e, "body", None)
    msg = body.get("message") if isinstance(body, dict) else None
    return str(msg or e).splitlines()[0][:200]
