"""The one place the stages are wired together:

    load problems -> render prompts -> draw missing samples -> grade ungraded samples -> metrics

Each stage reads what the run directory already holds and writes only what is new, so a fresh
run, a resumed run, an `--n` extension and `evalkit score` (samples made elsewhere) all take the
same path. Everything that can be validated is validated before the directory is touched.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from tqdm import tqdm

from . import __version__
from .adapters.loading import LoadedBenchmark, load
from .config import RunConfig, sample_seed
from .scoring.metrics import compute_metrics
from .scoring.passk import check_ks
from .prompts import render, resolve_style
from .store import RunStore, default_run_dir
from .types import EvalkitError, Problem, Sample, SampleRequest
from .verify import make_verifier

import numpy as np


@dataclass
class RunResult:
    out: Path
    metrics: dict
    drawn: int  # samples drawn by this invocation
    graded: int  # samples graded by this invocation


# -- evalkit run ------------------------------------------------------------------------------
def run(config: RunConfig, argv: Sequence[str] = ()) -> RunResult:
    prep = prepare(config, argv)
    drawn = 0
    if prep.todo:
        from .samplers import make_sampler

        sampler = make_sampler(prep.model_path, prep.config.sampling, config.engine)
        try:
            drawn = _append_samples(prep.store, sampler.sample(prep.todo), len(prep.todo))
        finally:
            sampler.close()
    return complete(prep, drawn)


@dataclass
class PreparedRun:
    """A run up to the sampler: directory opened, prompts written, `todo` = the missing samples.

    Split from `run` so another scheduler (evalkit.distributed.ray_runner) can draw `todo`.
    """

    config: RunConfig
    loaded: LoadedBenchmark
    problems: list[Problem]
    store: RunStore
    model_path: str
    todo: list[SampleRequest]


def prepare(config: RunConfig, argv: Sequence[str] = ()) -> PreparedRun:
    from .shard import in_shard, shard_label
    from .tiny_model import resolve_builtin

    loaded = load(config.bench, config.data)
    problems = loaded.select(config.limit)
    check_ks(np.array([config.n]), config.ks)
    model_path = resolve_builtin(config.model)
    tokenizer = load_tokenizer(model_path, config)
    style = resolve_style(loaded.bench, tokenizer, config.chat, config.prompt_template)
    if style.stop and not config.sampling.stop:  # few-shot base prompts end where the next question starts
        config = dataclasses.replace(config, sampling=dataclasses.replace(config.sampling, stop=style.stop))
    prompts = {p.id: render(p, loaded.bench, style, tokenizer) for p in problems}

    store = RunStore(config.out or default_run_dir(config.model, config.bench))
    manifest = build_manifest(config, loaded, argv, prompt_template=style.key, ks=list(config.ks), shard=shard_label(config.shard))
    store.open(manifest, overwrite=config.overwrite)
    store.append_prompts(prompts.items())

    have = store.samples()
    todo = [
        SampleRequest(p.id, i, sample_seed(config.seed, p.id, i), prompts[p.id])
        for pos, p in enumerate(problems)
        for i in range(config.n)
        if (p.id, i) not in have and in_shard(pos, i, config.shard, len(problems))
    ]
    if todo:
        store.invalidate_metrics()
    return PreparedRun(config, loaded, problems, store, model_path, todo)


def complete(prep: PreparedRun, drawn: int) -> RunResult:
    """Grade and aggregate. A shard grades its own samples but leaves metrics to `evalkit merge`."""
    c = prep.config
    return finish(
        prep.store, prep.loaded, prep.problems, c.n, c.ks, model=c.model, seed=c.seed, drawn=drawn,
        write_metrics=c.shard is None, regrade=c.regrade,
    )


def load_tokenizer(model_path: str, config: RunConfig) -> Any:
    """The tokenizer decides the prompt format; loading it first also validates the model path."""
    from .samplers import resolve_backend

    backend = resolve_backend(config.engine)
    if backend == "openai":
        return None
    looks_local = model_path.startswith(("/", ".", "~")) or model_path.count("/") > 1
    if looks_local and not os.path.isdir(os.path.expanduser(model_path)):
        raise EvalkitError(f"model path {model_path!r} does not exist; pass a checkpoint directory, a hub id, or tiny-arith")
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(model_path)
    except Exception as e:  # missing dir, offline hub, no tokenizer files
        first = str(e).strip().splitlines()[0][:140] if str(e).strip() else e.__class__.__name__
        raise EvalkitError(f"cannot load model {model_path!r} ({first}); pass a local checkpoint directory (or tiny-arith)")


def build_manifest(config: RunConfig, loaded: LoadedBenchmark, argv: Sequence[str], **extra: Any) -> dict:
    return _manifest(
        config.model, loaded, argv,
        sampling=config.sampling.to_json(),
        seed=config.seed,
        n=config.n,
        limit=config.limit,
        backend=config.engine.backend,
        engine={k: v for k, v in vars(config.engine).items() if k != "api_key"},
        **extra,
    )


def _manifest(model: str, loaded: LoadedBenchmark, argv: Sequence[str], **fields: Any) -> dict:
    """What every run directory records, whatever made its samples (`run` or `score`)."""
    return {
        "model": model,
        "benchmark": loaded.bench.name,
        "data_source": loaded.source,
        "data_hash": loaded.data_hash,
        "data_version": loaded.version,
        "num_problems_total": len(loaded.problems),
        **fields,
        "versions": versions(),
        "command": list(argv) or sys.argv,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"evalkit": __version__, "python": sys.version.split()[0]}
    for pkg in ("vllm", "transformers", "torch", "math-verify"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def _append_samples(store: RunStore, stream: Iterable[Sample], total: int) -> int:
    count = 0
    with store.sample_appender() as out, tqdm(total=total, desc="sampling", unit="sample", disable=None) as bar:
        for s in stream:
            out.write(s.to_json())
            count += 1
            bar.update(1)
    if count < total:
        raise EvalkitError(f"{total - count} of {total} samples were not drawn (backend errors); rerun the same command to retry them")
    return count


# -- grading and aggregation (shared by run and score) ----------------------------------------
def finish(
    store: RunStore,
    loaded: LoadedBenchmark,
    problems: Sequence[Problem],
    n: int | dict[str, int],
    ks: Sequence[int],
    *,
    model: str,
    seed: int,
    drawn: int = 0,
    regrade: bool = False,
    write_metrics: bool = True,
) -> RunResult:
    """Grade what is not graded yet, then write metrics.json atomically."""
    samples = store.samples()
    if regrade:
        store.invalidate_metrics()
        store.reset_grades()
    grades = store.grades()
    by_id = {p.id: p for p in problems}
    wanted = lambda pid, i: pid in by_id and i < (n if isinstance(n, int) else n[pid])  # noqa: E731
    pending = [(by_id[pid], s) for (pid, i), s in samples.items() if wanted(pid, i) and (pid, i) not in grades]
    graded = 0
    if pending:
        store.invalidate_metrics()
        graded = grade_into(store, loaded.bench.family, pending, grades)
    if not write_metrics:  # a shard: its samples alone are not the run; `evalkit merge` aggregates
        return RunResult(store.path, {}, drawn, graded)
    metrics = compute_metrics(problems, grades, samples, n, ks, benchmark=loaded.bench.name, model=model, seed=seed)
    metrics["data_hash"] = loaded.data_hash
    store.write_metrics(metrics)
    return RunResult(store.path, metrics, drawn, graded)


def grade_into(store: RunStore, family: str, pending: list[tuple[Problem, Sample]], grades: dict) -> int:
    verifier = make_verifier(family)
    count = 0
    try:
        with store.grade_appender() as out, tqdm(total=len(pending), desc="grading", unit="sample", disable=None) as bar:
            for g in verifier.grade(pending):
                out.write(g.to_json())
                grades[(g.problem_id, g.sample_index)] = g
                count += 1
                bar.update(1)
    finally:  # on Ctrl-C or an error too: no worker process outlives the run
        verifier.close()
    return count


# -- evalkit score ----------------------------------------------------------------------------
def score(
    bench: str,
    samples_file: str,
    ks: Sequence[int],
    out: str,
    *,
    data: str | None = None,
    model: str | None = None,
    overwrite: bool = False,
    regrade: bool = False,
    argv: Sequence[str] = (),
) -> RunResult:
    """Grade completions produced elsewhere: the same path as `run`, with the file as the sampler."""
    from .samples_file import read_samples_file

    loaded = load(bench, data)
    completions, file_hash = read_samples_file(samples_file, {p.id for p in loaded.problems})
    problems = [p for p in loaded.problems if p.id in completions]
    counts = {pid: len(c) for pid, c in completions.items()}
    check_ks(np.array(list(counts.values())), ks)
    store = RunStore(out)
    label = model or Path(samples_file).stem
    manifest = _manifest(
        label, loaded, argv, samples_file=str(samples_file), samples_hash=file_hash,
        sampling=None, seed=None, prompt_template=None,
    )
    store.open(manifest, overwrite=overwrite)
    have = store.samples()
    fresh = [
        Sample(problem_id=pid, sample_index=i, seed=None, completion=c, finish_reason="stop")
        for pid, cs in completions.items()
        for i, c in enumerate(cs)
        if (pid, i) not in have
    ]
    drawn = _append_samples(store, fresh, len(fresh)) if fresh else 0
    return finish(store, loaded, problems, counts, ks, model=label, seed=0, drawn=drawn, regrade=regrade)
