"""What a run can promise about reproducing its samples, said in its manifest.

evalkit gives every sample its own seed, so *which* random numbers a sample uses never depends on
batching. The logits they are applied to can: GPU kernels choose their reduction order (split-K
matmuls, attention splits) from the batch's shape, so the same request computed beside other
requests can round differently, and one flipped token changes the rest of the completion. Greedy
decoding (temperature 0) is no exception: an argmax between two near-equal logits flips the same way.
vLLM's batch-invariant mode (VLLM_BATCH_INVARIANT=1) replaces those kernels with fixed-order ones, so
a request's logits no longer depend on its batch. Even then results still change with the GPU model,
the tensor-parallel size and the vLLM / torch versions.

`--deterministic` turns that mode on where vLLM supports it (vllm/model_executor/determinism/
batch_invariant.py; docs: features/batch_invariance): NVIDIA GPUs of compute capability 8.0 or
higher, AMD Instinct gfx90a/gfx942/gfx950, Intel XPUs. Elsewhere (the CPU engine, older GPUs, other
backends) it is refused, rather than recorded as a promise nobody kept.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

from .types import EvalkitError

ENV = "VLLM_BATCH_INVARIANT"
ROCM_ARCHS = ("gfx90a", "gfx942", "gfx950")
VARIES_ALWAYS = ["hardware (GPU model)", "tensor-parallel size", "vLLM and torch versions", "dtype"]
VARIES_WITHOUT = ["batch composition (what else is queued, max-num-seqs, prefix-cache hits)"]


def requested_by_env() -> bool:
    """vLLM's own reading of VLLM_BATCH_INVARIANT (an integer, non-zero means on)."""
    try:
        return bool(int(os.environ.get(ENV, "0")))
    except ValueError:
        return False


def support() -> tuple[bool, str]:
    """(supported, what was found): whether the installed vLLM has a batch-invariant mode for this
    machine's accelerator, by the rules of vLLM's own batch_invariant module."""
    if importlib.util.find_spec("vllm") is None:
        return False, "vLLM is not installed"
    if importlib.util.find_spec("vllm.model_executor.determinism.batch_invariant") is None and \
            importlib.util.find_spec("vllm.model_executor.layers.batch_invariant") is None:
        return False, "the installed vLLM has no batch-invariant mode (upgrade vLLM)"
    from vllm.platforms import current_platform

    if current_platform.is_rocm():
        arch = _rocm_arch()
        return arch in ROCM_ARCHS, f"AMD GPU {arch or 'of unknown architecture'} (batch invariance needs {'/'.join(ROCM_ARCHS)})"
    if current_platform.is_cuda():
        cap = current_platform.get_device_capability()
        name = current_platform.get_device_name()
        if cap is None:
            return False, f"{name}: compute capability unknown"
        ok = cap.to_int() >= 80
        return ok, f"{name}, compute capability {cap.major}.{cap.minor}" + ("" if ok else " (batch invariance needs 8.0 or higher)")
    if current_platform.is_xpu():
        return True, "Intel XPU"
    kind = "CPU" if current_platform.is_cpu() else str(getattr(current_platform, "device_name", "this platform"))
    return False, f"the {kind} engine has no batch-invariant kernels (vLLM has them for NVIDIA GPUs of compute capability 8.0+, AMD Instinct {'/'.join(ROCM_ARCHS)} and Intel XPUs)"


def _rocm_arch() -> str | None:
    try:
        import torch

        return str(torch.cuda.get_device_properties(0).gcnArchName).split(":")[0]
    except Exception:  # no device visible, or a torch without ROCm
        return None


def manifest_fields(engine: Any, sampling: Any) -> dict:
    """`deterministic` and `determinism` for manifest.json; refuses `--deterministic` where it
    cannot be honoured (before anything is written)."""
    wanted = bool(getattr(engine, "deterministic", False))
    if engine.backend != "vllm":
        if wanted:
            raise EvalkitError(f"--deterministic is vLLM's batch-invariant mode, the {engine.backend} backend has none; "
                               "use --backend vllm on a supported GPU, or drop --deterministic")
        return {"deterministic": False, "determinism": _record(False, f"{engine.backend} backend", sampling)}
    on = wanted or requested_by_env()
    ok, found = support() if on else (False, "")
    if wanted and not ok:
        raise EvalkitError(f"--deterministic needs vLLM's batch-invariant mode, which is not available here: {found}; "
                           "drop --deterministic (the run then records deterministic: false)")
    return {"deterministic": on and ok, "determinism": _record(on and ok, found or "batch-invariant mode off", sampling)}


def _record(invariant: bool, found: str, sampling: Any) -> dict:
    out = {"batch_invariant": invariant, "found": found,
           "varies_with": VARIES_ALWAYS + ([] if invariant else VARIES_WITHOUT)}
    if not invariant and getattr(sampling, "temperature", None) == 0:
        out["note"] = "greedy decoding is not deterministic without batch invariance: near-tied logits flip with batch composition"
    return out


def apply(engine: Any) -> None:
    """Set VLLM_BATCH_INVARIANT=1 for an engine about to start (inherited by its worker processes).
    Where the engine has no batch-invariant kernels, a VLLM_BATCH_INVARIANT=1 inherited from the
    environment is dropped instead (the CPU engine dies at its first step with it; the manifest
    already records deterministic: false)."""
    if getattr(engine, "deterministic", False):
        os.environ[ENV] = "1"
    elif requested_by_env():
        ok, found = support()
        if not ok:
            del os.environ[ENV]
            print(f"evalkit: {ENV}=1 ignored: {found}", file=sys.stderr)
