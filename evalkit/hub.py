"""Whether the Hugging Face hub can be reached, decided once and in seconds.

Offline, transformers and datasets retry a missing model or dataset for most of a minute (with a dozen
warnings) before they fail; a mistyped `--model tiny-arth` should fail at once. `offline()` honours
HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE / HF_DATASETS_OFFLINE, else probes the hub's host (or the HTTPS proxy)
with one short TCP connect, and callers then load from the local cache only.
"""

from __future__ import annotations

import os
import socket
from functools import lru_cache
from urllib.parse import urlparse

_TRUE = ("1", "true", "yes", "on")
PROBE_TIMEOUT_S = 3.0


@lru_cache(maxsize=1)
def offline() -> bool:
    if any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")):
        return True
    proxy = next((os.environ[v] for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy") if os.environ.get(v)), None)
    url = urlparse(proxy if proxy and "://" in proxy else os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=PROBE_TIMEOUT_S):
            return False
    except OSError:
        return True
