"""Shared fixtures: real benchmark files (skip with a reason when absent) and the tiny checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def calibration_cache(tmp_path_factory) -> Path:
    """Code calibrations go to a directory of this test session, not the user's ~/.cache/evalkit."""
    d = tmp_path_factory.mktemp("evalkit-cache")
    os.environ["EVALKIT_CACHE_DIR"] = str(d)
    return d


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """../shared/data via EVALKIT_DATA_DIR; tests needing real benchmark files skip without it."""
    d = os.environ.get("EVALKIT_DATA_DIR")
    if not d or not Path(d).is_dir():
        pytest.skip("EVALKIT_DATA_DIR is not set to the shared benchmark data (../shared/data); .ci/run sets it")
    return Path(d)


@pytest.fixture(scope="session")
def eval_dir(data_dir: Path) -> Path:
    """../shared/eval (recorded generations with reference figures) sits beside the data dir."""
    d = data_dir.parent / "eval"
    if not d.is_dir():
        pytest.skip(f"{d} (recorded generations) is missing")
    return d


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    """The shipped tiny Qwen2 checkpoint (head_dim 64, so vLLM's CPU attention accepts it)."""
    from evalkit.tiny_model import ASSET_DIR

    return ASSET_DIR
