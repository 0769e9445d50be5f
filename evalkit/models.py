"""Which checkpoint a `--model` names, and its tokenizer, loaded once.

A model is a built-in name (`tiny-arith`, shipped in the package), a local checkpoint directory, or a
hub id (from the local cache, or downloaded when the hub is reachable). Anything else fails in one line
within seconds, with the closest built-in name when there is one. The tokenizer decides the prompt
format and is handed on to the transformers backend, so it is read from disk once per run.
"""

from __future__ import annotations

import difflib
import os
from typing import Any

from .tiny_model import BUILTIN_NAME, resolve_builtin
from .types import EvalkitError

BUILTINS = (BUILTIN_NAME,)


def resolve_model(model: str) -> str:
    """The path (or hub id) to load; a local-looking path that does not exist is an error."""
    path = resolve_builtin(model)
    looks_local = path.startswith(("/", ".", "~")) or path.count("/") > 1
    if looks_local and not os.path.isdir(os.path.expanduser(path)):
        raise EvalkitError(f"model path {model!r} does not exist; pass a checkpoint directory, a hub id, or {_builtins()}{_did_you_mean(model)}")
    return os.path.expanduser(path) if looks_local else path


def load_tokenizer(model: str, path: str) -> Any:
    """The model's tokenizer: local directory, hub cache, or (online) the hub; one line when it fails."""
    from .hub import offline

    local = os.path.isdir(path)
    if not local and offline() and not _in_hub_cache(path):  # decided before transformers' slow import
        why = f"not a local directory, not in the Hugging Face cache, and the hub is unreachable (offline){_did_you_mean(model)}"
        raise EvalkitError(f"cannot load model {model!r}: {why}; pass a local checkpoint directory or {_builtins()}")
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path, local_files_only=local or offline())
    except Exception as e:  # missing files, not in the cache, gated, no tokenizer: all end the same way
        first = str(e).strip().splitlines()[0][:140] if str(e).strip() else e.__class__.__name__
        if not local and offline():
            why = f"not a local directory, not in the Hugging Face cache, and the hub is unreachable (offline){_did_you_mean(model)}"
            raise EvalkitError(f"cannot load model {model!r}: {why}; pass a local checkpoint directory or {_builtins()}") from None
        raise EvalkitError(f"cannot load model {model!r} ({first}){_did_you_mean(model)}; pass a local checkpoint directory or {_builtins()}") from None


def _in_hub_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache

        return any(isinstance(try_to_load_from_cache(repo_id, name), str) for name in ("config.json", "tokenizer_config.json"))
    except Exception:  # an id the hub library rejects is not in its cache either
        return False


def _builtins() -> str:
    return " or ".join(BUILTINS) + " (built in)"


def _did_you_mean(model: str) -> str:
    close = difflib.get_close_matches(os.path.basename(model.rstrip("/")), BUILTINS, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
