"""`evalkit run --log-to ...`: each checkpoint of a run, sweep or `--watch` logged as soon as it is counted.

The figures are those `evalkit dynamics` reports for the same run directory (dynamics.checkpoint_figures
on the run read back through RunData), at the step its checkpoint path names (steps.step_of). All
checkpoints of one invocation go to one tracker run, so a sweep is one set of curves over steps.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from .. import __version__
from .dynamics import checkpoint_figures
from .runs import load_run
from .steps import STEP_NAMES, step_of
from .trackers import Trackers, TrackerSpec, metric_names


def run_settings(patterns: Sequence[str], *, bench: str, n: int, ks: Sequence[int], sampling: Any, engine: Any, design: Any,
                 seed: int, limit: int | None, prompt_template: str | None) -> dict:
    """A tracker run's config: what was evaluated and how (the settings every checkpoint shares)."""
    return {
        "evalkit_version": __version__, "models": list(patterns), "benchmark": bench, "n": n, "ks": list(ks),
        "sampling": sampling.to_json(), "seed": seed, "backend": engine.backend, "limit": limit, "prompt_template": prompt_template,
        **({"design": design.as_dict()} if design is not None else {}),
    }


class RunLogger:
    """Logs each finished checkpoint of one `evalkit run` to the --log-to trackers."""

    def __init__(self, specs: Sequence[TrackerSpec], name: str, settings: dict, notify: Callable[[str], None]):
        self.trackers = Trackers(specs, name, settings, notify) if specs else None
        self.notify = notify
        self.position = 0

    def log(self, run_dir: Any, ks: Sequence[int]) -> None:
        """Read the counted run back and hand its figures to the trackers (which never block this)."""
        if self.trackers is None:
            return
        run = load_run(run_dir)
        step = step_of(run.model)
        if step is None:
            step = self.position
            self.notify(f"note: --log-to: {run.model} names no training step ({STEP_NAMES}); logged at step {step}, its place in this run")
        self.position += 1
        self.trackers.log(step, metric_names(checkpoint_figures(run, ks), run.benchmark))

    def close(self) -> None:
        if self.trackers is not None:
            self.trackers.close()
