"""Helpers for the tests that drive the real vLLM engine (CPU build in CI)."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from pathlib import Path

import pytest

needs_vllm = pytest.mark.skipif(importlib.util.find_spec("vllm") is None, reason="vLLM is not installed (pip install -e .[cpu])")

# A Qwen-style template that wraps the user turn the way the tiny model was trained.
CHAT_TEMPLATE = "{% for m in messages %}Question: {{ m['content'] }}\nAnswer:{% endfor %}"

# What a checkpoint may ship and what must never leak into evalkit's sampling.
TRAP_GENERATION_CONFIG = {"temperature": 0.05, "top_k": 1, "top_p": 0.1, "repetition_penalty": 1.8,
                          "max_new_tokens": 2, "bos_token_id": 0, "eos_token_id": 0, "pad_token_id": 1, "do_sample": True}


def trap_checkpoint(src: Path, dst: Path) -> Path:
    """A copy of the tiny checkpoint with a chat template and a generation_config.json that would
    make every sample greedy and 2 tokens long if the backend let it apply."""
    shutil.copytree(src, dst)
    cfg_path = dst / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["chat_template"] = CHAT_TEMPLATE
    cfg_path.write_text(json.dumps(cfg, indent=2))
    (dst / "generation_config.json").write_text(json.dumps(TRAP_GENERATION_CONFIG, indent=2))
    return dst


def cpu_engine_env(base: dict | None = None) -> dict:
    """A 1 GiB KV cache on CPU (instead of a fraction of the machine's RAM), which also skips warmup."""
    env = dict(os.environ if base is None else base)
    env["VLLM_CPU_KVCACHE_SPACE"] = "1"
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env
