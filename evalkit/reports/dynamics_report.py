"""`evalkit dynamics` end to end: check every input and output path, count, then write the JSON, the
figure and the page (each atomically) and log to the trackers. A refused input writes nothing."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Sequence

from .. import __version__
from ..types import EvalkitError
from .dynamics import build, plan
from .dynamics_page import write_text_atomic
from .trackers import Trackers, TrackerSpec, metric_names

PLOT_FORMATS = (".png", ".pdf", ".svg")


def check_outputs(json_file: str | None, plot: str | None, html: str | None) -> None:
    """Each output's directory exists and the figure's format is known, before anything is counted."""
    for flag, path in (("--json", json_file), ("--plot", plot), ("--html", html)):
        if path is None:
            continue
        parent = Path(path).resolve().parent
        if not parent.is_dir():
            raise EvalkitError(f"{flag} {path}: directory {parent} does not exist; create it or choose another path")
    if plot is not None and Path(plot).suffix.lower() not in PLOT_FORMATS:
        raise EvalkitError(f"--plot {plot}: give a .png, .pdf or .svg file name")


def dynamics(specs: Sequence[str], ks: Sequence[int] | None, *, step_regex: str | None = None, base_run: str | None = None,
             base_model: str | None = None, json_file: str | None = None, plot: str | None = None, html: str | None = None,
             trackers: Sequence[TrackerSpec] = (), notify: Callable[[str], None] = print) -> tuple[dict, list[str]]:
    """The report and the files written."""
    check_outputs(json_file, plot, html)
    p = plan(specs, ks, step_regex, base_run, base_model, notify)
    report = build(p, notify)
    written = []
    if json_file:
        write_text_atomic(Path(json_file), json.dumps(report, indent=1, allow_nan=False) + "\n", "--json")
        written.append(json_file)
    if plot:
        from .dynamics_plot import write_figure

        write_figure(report, plot)
        written.append(plot)
    if html:
        from .dynamics_page import write_page

        write_page(report, html)
        written.append(html)
    if trackers:
        log_report(report, trackers, notify)
    return report, written


def log_report(report: dict, specs: Sequence[TrackerSpec], notify: Callable[[str], None]) -> None:
    """One tracker run per training run, each checkpoint at its step."""
    sets, warned = [], set()  # one warning per tracker, however many training runs it was to take
    for run in report["runs"]:
        config = {"evalkit_version": __version__, "training_run": run["name"], "benchmark": report["benchmark"],
                  "data_hash": report["data_hash"], "ks": report["ks"], "base_model": report["base_model"],
                  "base_run": (report["base_run"] or {}).get("run_dir")}
        trackers = Trackers(specs, run["name"], config, notify, subdir=True, warned=warned)
        for point in run["points"]:
            trackers.log(point["step"], metric_names(point, report["benchmark"]))
        sets.append(trackers)
    from . import trackers as tracking

    deadline = time.monotonic() + tracking.CLOSE_TIMEOUT  # one wait for all, however many training runs
    for trackers in sets:
        trackers.close(max(0.0, deadline - time.monotonic()))
