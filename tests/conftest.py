"""Shared fixtures: real benchmark files (skip with a reason when absent) and the tiny checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import tiers


NEEDS_DATA = "needs the public benchmark files"


def pytest_addoption(parser) -> None:
    parser.addoption(tiers.OPTION, action="store_true", help="List the evalkit modules this selection runs no function of (tests/tiers.py).")


def pytest_sessionstart(session) -> None:
    if session.config.getoption(tiers.OPTION):
        tiers.start()


def pytest_terminal_summary(terminalreporter) -> None:
    """Say plainly how many tests did not run for want of the benchmark files, and how to get them."""
    if terminalreporter.config.getoption(tiers.OPTION):
        tiers.stop()
        tiers.report(terminalreporter)
    skipped = terminalreporter.stats.get("skipped", [])
    missing = [r for r in skipped if NEEDS_DATA in str(getattr(r, "longrepr", ""))]
    if missing:
        terminalreporter.write_line(
            f"{len(missing)} tests were skipped because they need the public benchmark files (MATH-500, GSM8K, "
            "HumanEval+, ... and recorded generations): put them in a directory (layout: see docs/testing.md) and "
            "set EVALKIT_DATA_DIR to it; .ci/run uses ../shared/data beside the checkout.", yellow=True)


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
        where = f"EVALKIT_DATA_DIR={d} is not a directory" if d else "EVALKIT_DATA_DIR is not set"
        pytest.skip(f"{NEEDS_DATA}: {where}")
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
