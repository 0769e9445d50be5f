"""One resident vLLM engine for the checkpoints of a training run (`evalkit run --model 'ckpts/step_*'`).

Starting a vLLM engine (process start-up, weight loading, KV-cache allocation, CUDA-graph capture on a
GPU) costs far more than loading a checkpoint's weights. When consecutive checkpoints share what the
engine was built from (config.json, tokenizer, special-token ids, tensor names and shapes, and the
same engine arguments), the engine stays up and the next checkpoint's weights are read into it in
place through vLLM's own RL weight-update path, `LLM.collective_rpc("reload_weights",
weights_path=...)` (vllm/model_executor/model_loader/reload). The prefix cache is then reset, so no
KV block computed with one checkpoint's weights serves another. A checkpoint that differs in any of
those, or whose reload fails, gets a fresh engine, and the run says so.

Every sample is a function of its own seed, prompt and weights, so a checkpoint's samples are those
of a separate `evalkit run` of it (tests/test_sweep.py checks this on the CPU engine).
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .config import RunConfig
from .types import EvalkitError

# Files that decide how text becomes token ids and back; a difference means another engine.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
                   "vocab.json", "merges.txt", "tokenizer.model", "chat_template.jinja", "chat_template.json")
WORKER_EXTENSION = "evalkit.samplers.vllm_swap.WeightSwap"  # in-place weight loading inside vLLM's workers
# config.json entries that name or date the file rather than describe the model.
_NOT_ARCHITECTURE = ("_name_or_path", "transformers_version")

Notify = Callable[[str], None]


def _stderr(message: str) -> None:
    print(f"evalkit: {message}", file=sys.stderr, flush=True)


# -- what an engine is built from -------------------------------------------------------------
def checkpoint_fingerprint(path: str) -> dict | None:
    """What a running engine depends on besides the weights' values; None when `path` is not a
    local checkpoint directory (a hub id is never swapped into a running engine)."""
    p = Path(path)
    if not (p / "config.json").is_file():
        return None
    config = {k: v for k, v in _read_json(p / "config.json").items() if k not in _NOT_ARCHITECTURE}
    generation = _read_json(p / "generation_config.json") if (p / "generation_config.json").is_file() else {}
    tokenizer = hashlib.sha256()
    for name in TOKENIZER_FILES:
        if (p / name).is_file():
            tokenizer.update(name.encode() + b"\0" + (p / name).read_bytes() + b"\0")
    return {
        "config.json": config,
        # vLLM reads the special-token ids of generation_config.json (eos) even with generation_config="vllm"
        "special token ids": {k: v for k, v in generation.items() if k.endswith(("token_id", "token_ids"))},
        "tokenizer": tokenizer.hexdigest(),
        "tensors": tensor_signature(p),
    }


def tensor_signature(path: Path) -> dict[str, list]:
    """name -> [dtype, shape] of every tensor in the checkpoint's safetensors files, read from their
    headers only (no tensor data). Empty for other formats (config equality has to do there)."""
    out: dict[str, list] = {}
    for f in sorted(path.glob("*.safetensors")):
        try:
            with open(f, "rb") as fh:
                (length,) = struct.unpack("<Q", fh.read(8))
                header = json.loads(fh.read(length))
        except (OSError, ValueError, struct.error) as e:
            raise EvalkitError(f"{f}: unreadable safetensors header ({e}); is the checkpoint complete?") from None
        out.update({name: [t["dtype"], t["shape"]] for name, t in header.items() if name != "__metadata__"})
    return out


def difference(a: dict, b: dict) -> str | None:
    """The first field in which two fingerprints differ, readable; None when equal."""
    for field in a:
        x, y = a[field], b.get(field)
        if x == y:
            continue
        if isinstance(x, dict) and isinstance(y, dict):
            keys = [k for k in dict.fromkeys([*x, *y]) if x.get(k) != y.get(k)]
            shown = ", ".join(f"{k}: {_short(x.get(k))} vs {_short(y.get(k))}" for k in keys[:3])
            return f"{field} differs ({shown}{', ...' if len(keys) > 3 else ''})"
        return f"{field} differs"
    return None


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise EvalkitError(f"{path}: unreadable ({e}); is the checkpoint complete?") from None
    return data if isinstance(data, dict) else {}


def _short(v: Any) -> str:
    s = json.dumps(v, sort_keys=True) if not isinstance(v, str) else v
    return s if len(s) <= 40 else s[:37] + "..."


# -- the resident engine ----------------------------------------------------------------------
class ResidentEngine:
    """At most one vllm.LLM, moved from checkpoint to checkpoint by loading weights in place."""

    def __init__(self, notify: Notify = _stderr):
        self.llm: Any = None
        self.model: str | None = None  # the checkpoint whose weights the engine holds
        self._built_from: tuple[dict, dict | None] | None = None  # (engine arguments, fingerprint)
        self.notify = notify
        self.starts = self.swaps = 0

    def holds(self, path: str) -> bool:
        return self.llm is not None and self.model == path

    def activate(self, config: RunConfig) -> Any:
        """The engine, holding `config.model`'s weights: as it is, after an in-place weight load,
        or freshly started when the checkpoint cannot take the running one's place."""
        from .models import resolve_model
        from .samplers.vllm import engine_kwargs

        path = resolve_model(config.model)
        if self.holds(path):
            return self.llm
        kwargs = {k: v for k, v in engine_kwargs(path, config.sampling, config.engine).items() if k != "model"}
        fingerprint = checkpoint_fingerprint(path)
        if self.llm is not None:
            why = self._cannot_swap(kwargs, fingerprint)
            if why is None:
                try:
                    self._swap(path)
                    return self.llm
                except Exception as e:  # the engine's state is unknown now: replace it
                    why = f"loading its weights into the running engine failed ({_summary(e)})"
            self.notify(f"{config.model}: {why}; starting a fresh vLLM engine")
            self.close()
        self._start(path, config)
        self._built_from = (kwargs, fingerprint)
        return self.llm

    def _cannot_swap(self, kwargs: dict, fingerprint: dict | None) -> str | None:
        built_kwargs, built_fingerprint = self._built_from
        if fingerprint is None:
            return "not a local checkpoint directory, so its architecture cannot be checked against the running engine's"
        if built_fingerprint is None:
            return f"the running engine's model {self.model} is not a local checkpoint directory to check it against"
        if kwargs != built_kwargs:
            changed = [k for k in dict.fromkeys([*kwargs, *built_kwargs]) if kwargs.get(k) != built_kwargs.get(k)]
            return f"engine arguments differ ({', '.join(changed)})"
        why = difference(built_fingerprint, fingerprint)
        return f"{why} from the running engine's checkpoint {self.model}" if why else None

    def _swap(self, path: str) -> None:
        t0 = time.perf_counter()
        self.llm.collective_rpc("evalkit_load_checkpoint", args=(str(Path(path).resolve()),))
        if not self.llm.reset_prefix_cache():  # no KV block computed with the old weights may be reused
            raise RuntimeError("vLLM did not reset its prefix cache")
        self.model = path
        self.swaps += 1
        self.notify(f"{path}: weights loaded into the running vLLM engine in {time.perf_counter() - t0:.2f}s (prefix cache reset)")

    def _start(self, path: str, config: RunConfig) -> None:
        from .samplers.vllm import build_llm

        self.llm = build_llm(path, config.sampling, config.engine, worker_extension_cls=WORKER_EXTENSION)
        self.model = path
        self.starts += 1

    def close(self) -> None:
        if self.llm is not None:
            llm, self.llm, self.model, self._built_from = self.llm, None, None, None
            llm.llm_engine.engine_core.shutdown()


class CheckpointLLM:
    """What `pipeline.run(config, llm=...)` draws with for one checkpoint of a sweep: the resident
    engine, switched to this checkpoint on first use, so a checkpoint with nothing left to draw (a
    resumed sweep) never loads anything. Until then the tokenizer is the checkpoint's own, read from
    disk, as in a separate run."""

    def __init__(self, resident: ResidentEngine, config: RunConfig):
        self._resident, self._config = resident, config
        self._tokenizer: Any = None

    def get_tokenizer(self) -> Any:
        from .models import load_tokenizer, resolve_model

        path = resolve_model(self._config.model)
        if self._resident.holds(path):
            return self._resident.llm.get_tokenizer()
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self._config.model, path)
        return self._tokenizer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._resident.activate(self._config), name)


# -- running several configs ------------------------------------------------------------------
def shares_engine(config: RunConfig) -> bool:
    """Runs the resident engine can serve: the vllm backend in this process (data parallelism starts
    its own engines in child processes)."""
    return config.engine.backend == "vllm" and config.engine.data_parallel_size == 1


class Sweep:
    """Runs configs one after another through pipeline.run; vLLM runs share one resident engine."""

    def __init__(self, argv: Iterable[str] = (), notify: Notify = _stderr):
        self.argv = list(argv)
        self.resident = ResidentEngine(notify)

    def run(self, config: RunConfig) -> Any:
        from .pipeline import run

        if shares_engine(config):
            return run(config, self.argv, llm=CheckpointLLM(self.resident, config))
        return run(config, self.argv)

    def close(self) -> None:
        self.resident.close()

    def __enter__(self) -> "Sweep":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_all(configs: list[RunConfig], argv: Iterable[str] = (), notify: Notify = _stderr) -> Iterator[Any]:
    """Each config's RunResult in order. One config runs as always; several share a resident engine,
    which is shut down when the last is done, on an error, or when the caller stops early."""
    if len(configs) < 2:
        from .pipeline import run

        yield from (run(c, list(argv)) for c in configs)
        return
    with Sweep(argv, notify) as sweep:
        for config in configs:
            yield sweep.run(config)


def _summary(e: BaseException) -> str:
    text = str(e).strip()
    return (text.splitlines()[-1] if text else e.__class__.__name__)[:200]
