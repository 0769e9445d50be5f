"""Experiment trackers: `--log-to tensorboard:DIR | wandb:PROJECT | mlflow:URI` on `run` and `dynamics`.

Each checkpoint's figures are logged at its training step, under names that do not change between
versions (`metric_names`), with the run's settings as the tracker run's config. The real libraries do
the writing (torch.utils.tensorboard, wandb, mlflow's MlflowClient: extras `evalkit[tensorboard]`,
`[wandb]`, `[mlflow]`). Each tracker lives on its own daemon thread with a queue: the evaluation only
puts figures on the queue, so a tracker that hangs (a server that does not answer) or fails (a bad
URI, no network, no API key) costs the evaluation nothing but one warning; at the end its thread gets
CLOSE_TIMEOUT seconds to flush, then it is left behind.
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..types import EvalkitError

CLOSE_TIMEOUT = 15.0  # seconds all trackers together get to flush when the evaluation ends
WANDB_INIT_TIMEOUT = 60.0
STEP_KEY = "train/global_step"  # W&B's x axis for evalkit's figures (the name HF Trainer logs its step under)
MLFLOW_EXPERIMENT = "evalkit"  # unless MLFLOW_EXPERIMENT_NAME says otherwise
# kind -> (module that must be importable, extra that installs it, what the target is)
KINDS = {"tensorboard": ("tensorboard", "tensorboard", "DIR"), "wandb": ("wandb", "wandb", "PROJECT"),
         "mlflow": ("mlflow", "mlflow", "URI")}
Notify = Callable[[str], None]
_WARN_LOCK = threading.Lock()


@dataclass(frozen=True)
class TrackerSpec:
    kind: str
    target: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}"


def parse_log_to(values: Sequence[str]) -> list[TrackerSpec]:
    """--log-to values, checked before any work starts: a known kind, a target, its library installed."""
    out = []
    for value in values:
        kind, sep, target = value.partition(":")
        if kind not in KINDS or not sep or not target:
            raise EvalkitError(f"--log-to {value!r}: give tensorboard:DIR, wandb:PROJECT or mlflow:URI (repeat --log-to for several)")
        module, extra, _ = KINDS[kind]
        if importlib.util.find_spec(module) is None:
            raise EvalkitError(f"--log-to {value} needs the {module} package; pip install 'evalkit[{extra}]'")
        out.append(TrackerSpec(kind, target))
    return out


# -- stable names ---------------------------------------------------------------------------------
def metric_names(point: dict, benchmark: str) -> dict[str, float]:
    """A checkpoint's figures (a dynamics point) as tracker metrics; figures not known are left out."""
    p = f"eval/{benchmark}"
    out: dict[str, Any] = {}
    for k, v in point["pass_at_k"].items():
        out[f"{p}/pass@{k}"], (out[f"{p}/pass@{k}_ci_low"], out[f"{p}/pass@{k}_ci_high"]) = v, point["ci95"][k]
    for k, v in (point.get("maj_at_k") or {}).items():
        out[f"{p}/maj@{k}"] = v
    out.update({f"{p}/entropy": point.get("mean_entropy"), f"{p}/tokens": point.get("mean_tokens"),
                f"{p}/truncated_rate": point.get("truncated_rate"), f"{p}/num_problems": point.get("num_problems")})
    for k, d in (point.get("delta_vs_base") or {}).items():
        out[f"{p}/delta_pass@{k}"], (out[f"{p}/delta_pass@{k}_ci_low"], out[f"{p}/delta_pass@{k}_ci_high"]) = d["diff"], d["ci95"]
        out[f"{p}/delta_pass@{k}_p"] = d["p"]
    out["params/sparsity"], out["params/update_norm_rel"] = point.get("sparsity"), point.get("update_norm_rel")
    out.update({f"params/sparsity/{m}": f for m, f in (point.get("sparsity_by_module") or {}).items()})
    return {name: float(v) for name, v in out.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def mlflow_key(name: str) -> str:
    """MLflow allows letters, digits, _ - . space : / in names: `pass@1` is logged there as `pass_at_1`."""
    return name.replace("@", "_at_").replace("^", "_hat_")


def flatten(config: dict, prefix: str = "") -> dict[str, str]:
    """Nested settings as dotted keys with string values (MLflow params, TensorBoard text)."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value if isinstance(value, str) else json.dumps(value)
    return out


# -- the libraries ----------------------------------------------------------------------------------
class _TensorBoard:
    def __init__(self, spec: TrackerSpec, name: str, config: dict, subdir: bool):
        from torch.utils.tensorboard import SummaryWriter

        log_dir = Path(spec.target) / _slug(name) if subdir else Path(spec.target)
        self.writer = SummaryWriter(log_dir=str(log_dir))
        self.writer.add_text("evalkit/config", "```json\n" + json.dumps(config, indent=1) + "\n```", 0)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, global_step=step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class _WandB:
    def __init__(self, spec: TrackerSpec, name: str, config: dict, subdir: bool):
        import wandb

        settings = wandb.Settings(console="off", silent=True, init_timeout=WANDB_INIT_TIMEOUT)
        # WANDB_MODE / WANDB_DIR as they are now (wandb's process-wide setup keeps the first values it saw)
        where = {k: os.environ[v] for k, v in (("mode", "WANDB_MODE"), ("dir", "WANDB_DIR")) if os.environ.get(v)}
        self.run = wandb.init(project=spec.target, name=name, config=config, job_type="eval", reinit="create_new", settings=settings, **where)
        self.run.define_metric(STEP_KEY)
        for group in ("eval/*", "params/*"):
            self.run.define_metric(group, step_metric=STEP_KEY)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self.run.log({STEP_KEY: step, **metrics})

    def close(self) -> None:
        self.run.finish()


class _MLflow:
    def __init__(self, spec: TrackerSpec, name: str, config: dict, subdir: bool):
        if _is_file_store(spec.target):  # MLflow 3 asks file-store users to opt in; --log-to mlflow:DIR is that
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow import MlflowClient
        from mlflow.entities import Param

        self.client = MlflowClient(tracking_uri=spec.target)
        experiment_name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or MLFLOW_EXPERIMENT
        experiment = self.client.get_experiment_by_name(experiment_name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(experiment_name)
        self.run_id = self.client.create_run(experiment_id, run_name=name, tags={"evalkit.name": name}).info.run_id
        params = [Param(k, v[:6000]) for k, v in flatten(config).items()]
        for i in range(0, len(params), 100):  # MLflow's batch limit
            self.client.log_batch(self.run_id, params=params[i:i + 100])

    def log(self, step: int, metrics: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(self.run_id, metrics=[Metric(mlflow_key(k), v, now, step) for k, v in metrics.items()])

    def close(self) -> None:
        self.client.set_terminated(self.run_id)


BACKENDS = {"tensorboard": _TensorBoard, "wandb": _WandB, "mlflow": _MLflow}


def _is_file_store(uri: str) -> bool:
    return uri.startswith("file:") or "://" not in uri and not uri.startswith(("databricks", "sqlite:", "postgresql:", "mysql:"))


def _slug(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9._+-]+", "_", name).strip("_") or "run"


# -- one thread per tracker ---------------------------------------------------------------------------
class _Worker(threading.Thread):
    """Opens one tracker run, logs what the queue brings, closes it; the first failure is one warning,
    after which it only drains the queue."""

    def __init__(self, spec: TrackerSpec, name: str, config: dict, subdir: bool, notify: Notify, warned: set[str]):
        super().__init__(daemon=True, name=f"evalkit-{spec.kind}")
        self.spec, self.name, self.config, self.subdir, self.notify = spec, name, config, subdir, notify
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.failed = False
        self.warned = warned  # trackers already warned about (shared by the tracker runs of one command)
        self.logged = 0

    def run(self) -> None:
        try:
            backend = BACKENDS[self.spec.kind](self.spec, self.name, self.config, self.subdir)
        except BaseException as e:  # noqa: BLE001 (a tracker must never end the evaluation)
            return self.fail(e)
        while (item := self.queue.get()) is not None:
            if not self.failed:
                try:
                    backend.log(*item)
                    self.logged += 1
                except BaseException as e:  # noqa: BLE001
                    self.fail(e)
        try:
            backend.close()
        except BaseException as e:  # noqa: BLE001
            self.fail(e)

    def fail(self, e: BaseException) -> None:
        if not self.failed:
            self.failed = True
            text = (str(e).strip().splitlines() or [""])[0][:200]
            self.warn(f"cannot log ({type(e).__name__}: {text}); the evaluation goes on without it")

    def warn(self, why: str) -> None:
        with _WARN_LOCK:
            if str(self.spec) in self.warned:
                return
            self.warned.add(str(self.spec))
        self.notify(f"warning: --log-to {self.spec}: {why}")


class Trackers:
    """The trackers of one tracker run (a sweep, or one training run of `dynamics`)."""

    def __init__(self, specs: Sequence[TrackerSpec], name: str, config: dict, notify: Notify, subdir: bool = False,
                 warned: set[str] | None = None):
        warned = set() if warned is None else warned
        self.workers = [_Worker(s, name, config, subdir, notify, warned) for s in specs]
        self.notify = notify
        for w in self.workers:
            w.start()

    def log(self, step: int, metrics: dict[str, float]) -> None:
        for w in self.workers:
            w.queue.put((step, metrics))

    def close(self, timeout: float | None = None) -> None:
        """Let each tracker flush, together at most `timeout` seconds (CLOSE_TIMEOUT); then move on."""
        deadline = time.monotonic() + (CLOSE_TIMEOUT if timeout is None else timeout)
        for w in self.workers:
            w.queue.put(None)
        for w in self.workers:
            w.join(max(0.0, deadline - time.monotonic()))
            if w.is_alive() and not w.failed:
                w.failed = True
                w.warn(f"no answer within {CLOSE_TIMEOUT if timeout is None else timeout:g}s; what it had taken is kept, the rest is not logged")

    def __enter__(self) -> "Trackers":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
