"""Click commands only: parse arguments, call the pipeline, print. No evaluation logic lives here."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Any, Callable

import click

from .formats import NAMES as SAMPLE_FORMATS  # light: the readers load when a file is read
from .types import EvalkitError


def _parse_ks(ctx: click.Context | None, param: Any, value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        ks = tuple(int(x) for x in value.replace(" ", "").split(",") if x)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of integers, e.g. 1,8,64")
    if not ks:
        raise click.BadParameter("give at least one k, e.g. --k 1,8,64")
    bad = [k for k in ks if k <= 0]
    if bad:
        raise click.BadParameter(f"k={bad[0]} is not positive; every k must be >= 1")
    return ks


def _parse_budgets(ctx: click.Context | None, param: Any, value: str | None) -> tuple[int, ...] | None:
    if value is None:
        return None
    try:
        budgets = tuple(sorted({int(x) for x in value.replace(" ", "").split(",") if x}))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of token counts, e.g. 1024,2048,4096")
    if not budgets or budgets[0] < 1:
        raise click.BadParameter("give positive token counts, e.g. --think-budgets 1024,2048,4096")
    return budgets


def _unescape(value: str) -> str:
    """--answer-cue and --think-end read \\n and \\t as a newline and a tab (shells make those hard to type)."""
    return value.replace("\\n", "\n").replace("\\t", "\t")


def think_options(fn: Callable) -> Callable:
    """--think-budgets / --think-end / --answer-cue / --answer-tokens: budget forcing (docs/reasoning-length.md)."""
    from .config import DEFAULT_ANSWER_TOKENS, DEFAULT_CUE

    fn = click.option("--answer-tokens", type=click.IntRange(min=1), default=DEFAULT_ANSWER_TOKENS, show_default=True, help="Budget forcing: tokens a forced answer may take.")(fn)
    fn = click.option("--answer-cue", default=DEFAULT_CUE.replace("\n", "\\n"), show_default=True, help="Budget forcing: text appended after the end-of-thinking marker (\\n is a newline).")(fn)
    fn = click.option("--think-end", default=None, help="Budget forcing: the model's end-of-thinking marker [default: the one its chat template or vocabulary names, e.g. </think>].")(fn)
    return fn


def make_think(budgets: tuple[int, ...] | None, opts: dict) -> Any:
    """The BudgetConfig the flags describe, or None without --think-budgets."""
    if budgets is None:
        return None
    from .config import BudgetConfig

    think_end = _unescape(opts["think_end"]) if opts.get("think_end") is not None else None
    return BudgetConfig(budgets, think_end=think_end, answer_cue=_unescape(opts["answer_cue"]), answer_tokens=opts["answer_tokens"])


def design_options(fn: Callable) -> Callable:
    """--min-n / --stop-at / --step: the adaptive sampling design (with --n as its largest n)."""
    fn = click.option("--step", type=click.IntRange(min=1), default=None, help="Adaptive: samples per further block [default: --min-n].")(fn)
    fn = click.option("--stop-at", type=click.IntRange(min=1), default=None, help="Adaptive: a problem stops at a block end once it has this many correct samples.")(fn)
    fn = click.option("--min-n", type=click.IntRange(min=1), default=None, help="Adaptive: samples every problem draws first (k <= min-n); then blocks up to --n while below --stop-at.")(fn)
    return fn


def selection_options(fn: Callable) -> Callable:
    """--release-version / --start-date / --end-date / --exclude-errata: which problems of a dated benchmark (livecodebench)."""
    fn = click.option("--exclude-errata", is_flag=True, default=False, help="livecodebench: leave out the problems LCB's ERRATA.md lists.")(fn)
    fn = click.option("--end-date", default=None, metavar="YYYY-MM-DD", help="livecodebench: only problems with contest_date <= this day (midnight, as lcb_runner).")(fn)
    fn = click.option("--start-date", default=None, metavar="YYYY-MM-DD", help="livecodebench: only problems with contest_date >= this day.")(fn)
    fn = click.option("--release-version", default=None, metavar="TAG", help="livecodebench: release_v1..release_v6, release_latest, a delta v1..v6 or a span v2_v6 (the test*.jsonl of a --data directory) [default: every release file there].")(fn)
    return fn


def custom_options(fn: Callable) -> Callable:
    """--family / --id-field / ...: a custom benchmark given as `--bench custom:NAME` (adapters/custom.py)."""
    fn = click.option("--entry-point-field", default=None, metavar="FIELD", help="custom:NAME, code: the field naming the function the tests call [default: entry_point].")(fn)
    fn = click.option("--solution-field", default=None, metavar="FIELD", help="custom:NAME, code: the field holding a reference program (run once to set time limits).")(fn)
    fn = click.option("--answer-field", default=None, metavar="FIELD", help="custom:NAME: the field holding the gold answer (math) or the test code (code).")(fn)
    fn = click.option("--question-field", default=None, metavar="FIELD", help="custom:NAME: the field holding the question (the prompt).")(fn)
    fn = click.option("--id-field", default=None, metavar="FIELD", help="custom:NAME: the field holding each problem's id [default: NAME/<row>].")(fn)
    fn = click.option("--family", type=click.Choice(["math", "code"]), default=None, help="custom:NAME: which verifier grades it.")(fn)
    return fn


def custom_flags(opts: dict) -> dict:
    keys = ("family", "id_field", "question_field", "answer_field", "solution_field", "entry_point_field")
    return {k: opts.pop(k, None) for k in keys}


def make_selection(opts: dict) -> dict:
    """The loading options given on the command line (adapters/loading.py checks them against the benchmark)."""
    keys = ("release_version", "start_date", "end_date", "exclude_errata")
    return {k: opts[k] for k in keys if opts.get(k) not in (None, False)}


def make_design(min_n: int | None, n: int | None, stop_at: int | None, step: int | None) -> Any:
    """The adaptive design the flags describe, or None (fixed n); partial flags are an error."""
    given = {"--min-n": min_n, "--stop-at": stop_at}
    if all(v is None for v in given.values()) and step is None:
        return None
    missing = [flag for flag, v in given.items() if v is None] + (["--n"] if n is None else [])
    if missing:
        raise EvalkitError(f"an adaptive design needs --min-n, --n and --stop-at (missing {', '.join(missing)}); e.g. --min-n 16 --n 128 --stop-at 4")
    from .scoring.adaptive import Design

    return Design(min_n, n, stop_at, step)


def friendly_errors(fn: Callable) -> Callable:
    """One line on stderr and a non-zero exit for every expected failure; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .interrupts import stop_on_interrupt

        try:
            with stop_on_interrupt("interrupted: completed samples and grades are saved; rerun the same command to resume"):
                return fn(*args, **kwargs)
        except EvalkitError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(e.exit_code)
        except BrokenPipeError:  # the reader of our output went away (`evalkit benchmarks | head`): not an error of ours
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except OSError as e:  # a file evalkit reads or writes outside the run directory's own handling
            where = f" ({e.filename})" if getattr(e, "filename", None) else ""
            click.echo(f"error: {e.strerror or e}{where}; check the path, its permissions and the free disk space", err=True)
            sys.exit(1)

    return wrapper


ERROR_EXIT = {"gate": 2, "reproduce": 2}  # commands whose exit 1 is a verdict (a regression, a difference)


class Commands(click.Group):
    """The `evalkit` group: a bad argument (`--k 0`, a missing option, a typo) is the same one line
    `error: ...` as every other failure, with the command's error exit code (1; 2 for gate and reproduce)."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.NoArgsIsHelpError as e:  # `evalkit` alone: the help, as a help request
            click.echo(e.format_message())
            sys.exit(0)
        except click.UsageError as e:
            command = e.ctx.command.name if e.ctx is not None and e.ctx.command is not self else None
            where = f"evalkit {command} --help" if command else "evalkit --help"
            message = e.format_message().rstrip(".")
            click.echo(f"error: {message[:1].lower() + message[1:]} (see `{where}`)", err=True)
            sys.exit(ERROR_EXIT.get(command or "", 1))
        except click.ClickException as e:
            click.echo(f"error: {e.format_message()}", err=True)
            sys.exit(e.exit_code)
        except click.Abort:  # Ctrl-C outside a command's own handling
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="evalkit")
def main() -> None:
    """evalkit: sample n completions per problem, grade them, estimate pass@k for every k, compare."""


# -- run --------------------------------------------------------------------------------------
@main.command()
@click.option("--model", "models", required=True, multiple=True, help="Checkpoint dir, hub id, or tiny-arith (built in). Repeat to evaluate several.")
@click.option("--bench", required=True, help="Benchmark name (see `evalkit benchmarks`), a custom benchmark (a task file, or custom:NAME with --family/--*-field), or a suite: math500,aime24,aime25.")
@click.option("--k", "ks", default="1", callback=_parse_ks, show_default=True, help="Comma-separated k values, e.g. 1,8,64.")
@click.option("--n", type=click.IntRange(min=1), default=None, help="Samples per problem [default: largest k].")
@click.option("--temperature", type=click.FloatRange(min=0), default=1.0, show_default=True)
@click.option("--top-p", type=click.FloatRange(0, 1, min_open=True), default=1.0, show_default=True)
@click.option("--top-k", type=int, default=-1, show_default=True, help="-1 disables top-k.")
@click.option("--min-p", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("--max-tokens", type=click.IntRange(min=1), default=1024, show_default=True)
@click.option("--stop", multiple=True, help="Stop string (repeatable).")
@click.option("--logprobs", type=click.IntRange(min=1), default=None, help="Record top-K logprobs per token for the entropy estimate.")
@click.option("--seed", type=int, default=0, show_default=True, help="Base seed; each sample's seed derives from it.")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Run directory [default: results/<model-slug>/<bench>/].")
@click.option("--data", type=click.Path(), default=None, help="Local benchmark file or directory (offline).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N problems.")
@click.option("--backend", type=click.Choice(["auto", "hf", "vllm", "openai"]), default="auto", show_default=True, help="auto: vllm if installed, else hf.")
@click.option("--base-url", default=None, help="OpenAI-compatible server URL (implies --backend openai).")
@click.option("--dtype", default="auto", show_default=True)
@click.option("--max-model-len", type=int, default=None)
@click.option("--gpu-memory-utilization", type=float, default=0.9, show_default=True)
@click.option("--tensor-parallel-size", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--data-parallel-size", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True, help="hf backend: rows per decoding batch.")
@click.option("--concurrency", type=click.IntRange(min=1), default=64, show_default=True, help="openai backend: requests in flight.")
@click.option("--max-num-seqs", type=click.IntRange(min=1), default=None, help="vllm backend: sequences decoded at once [default: vLLM's].")
@click.option("--max-retries", type=click.IntRange(min=0), default=5, show_default=True, help="openai backend: retries of a transient error (backoff).")
@click.option("--request-timeout", type=click.FloatRange(min=0, min_open=True), default=600.0, show_default=True, help="openai backend: seconds per request.")
@click.option("--chat/--no-chat", default=None, help="Force the chat template on or off [default: on when the tokenizer has one].")
@click.option("--prompt-template", default=None, help="Prompt template string or file, or a .toml/.json/.yaml prompt config (see `evalkit benchmarks --show-prompt`); {prompt}, {instruction} and metadata fields are filled.")
@click.option("--overwrite", is_flag=True, help="Discard an existing run directory that disagrees with this command.")
@click.option("--regrade", is_flag=True, help="Grade every sample again (keeps the samples), e.g. after a verifier upgrade.")
@click.option("--label", default=None, help="How reports and leaderboards name this run [default: the model, plus non-default sampling/seed].")
@click.option("--allow-unknown-data", is_flag=True, help="Grade a benchmark file that matches no known release (every result is marked).")
@click.option("--shard", default=None, metavar="I/N", help="Draw and grade only shard I of N (0-based); combine the N run dirs with `evalkit merge`.")
@click.option("--watch", type=click.FloatRange(min=1), default=None, metavar="SECONDS", help="With a glob --model: evaluate its checkpoints as they are completely written, exit once none has appeared for SECONDS.")
@click.option("--deterministic", is_flag=True, help="vllm backend: vLLM's batch-invariant kernels (VLLM_BATCH_INVARIANT=1; NVIDIA compute capability 8.0+, AMD Instinct, Intel XPU), recorded in manifest.json.")
@click.option("--ray", "ray_address", is_flag=False, flag_value="", default=None, metavar="[ADDRESS]", help="Spread the work over a Ray cluster (extra `ray`): ADDRESS, or $RAY_ADDRESS / a local cluster when omitted.")
@click.option("--log-to", "log_to", multiple=True, metavar="KIND:TARGET", help="Log each checkpoint's figures at its step to tensorboard:DIR, wandb:PROJECT or mlflow:URI (repeatable).")
@click.option("--think-budgets", "think_budgets", default=None, callback=_parse_budgets, metavar="B1,B2,...", help="Also report pass@k with the thinking cut at each budget (tokens; s1-style forcing of this draw's samples, each budget <= --max-tokens).")
@think_options
@design_options
@selection_options
@custom_options
@friendly_errors
def run(models: tuple[str, ...], bench: str, ks: tuple[int, ...], n: int | None, **opts: Any) -> None:
    """Draw n samples per problem, grade them, and report pass@k with 95% intervals."""
    from .config import EngineConfig, SamplingConfig
    from .reports.trackers import parse_log_to

    trackers = parse_log_to(opts["log_to"])  # checked before any work: a kind, a target, its library
    design = make_design(opts["min_n"], n, opts["stop_at"], opts["step"])
    n = n if n is not None else max(ks)
    sampling = SamplingConfig(
        temperature=opts["temperature"], top_p=opts["top_p"], top_k=opts["top_k"], min_p=opts["min_p"],
        max_tokens=opts["max_tokens"], stop=tuple(opts["stop"]), logprobs=opts["logprobs"],
    )
    engine = EngineConfig(
        backend=opts["backend"], dtype=opts["dtype"], max_model_len=opts["max_model_len"],
        gpu_memory_utilization=opts["gpu_memory_utilization"], tensor_parallel_size=opts["tensor_parallel_size"],
        data_parallel_size=opts["data_parallel_size"], base_url=opts["base_url"],
        api_key=os.environ.get("OPENAI_API_KEY"), concurrency=opts["concurrency"], batch_size=opts["batch_size"],
        max_num_seqs=opts["max_num_seqs"], max_retries=opts["max_retries"], request_timeout=opts["request_timeout"],
        deterministic=opts["deterministic"],
    )
    from .adapters.suite import parse_benches
    from .checkpoints import check_distinct_run_dirs, expand_models
    from .shard import parse_shard
    from .sweep import run_all
    from .watch import check_watch_args, watch

    choices = parse_benches(bench, opts["data"], custom_flags(opts))
    patterns, watching = models, check_watch_args(models, opts)  # --watch: a glob, one process, one dir per checkpoint
    if watching and len(choices) > 1:
        raise EvalkitError("--watch evaluates one benchmark per checkpoint; run one `evalkit run --watch` per benchmark of the suite")
    models = tuple(expand_models(models, allow_empty=watching))  # `--model 'ckpts/global_step_*'` in training order
    if len(models) > 1 and opts["out"]:
        raise EvalkitError("--out names one run directory but several --model were given; drop --out to use results/<model>/<bench>/")
    shard = parse_shard(opts["shard"]) if opts["shard"] is not None else None
    single = len(models) == 1 and not watching
    think = make_think(opts["think_budgets"], opts)
    if think is not None and opts["ray_address"] is not None:
        raise EvalkitError("--think-budgets cannot be combined with --ray; draw with --ray, then force the budgets of the finished "
                           "run with `evalkit budgets RUN_DIR --think-budgets ...`")
    config_for = functools.partial(_run_config, choice=choices[0], suite=len(choices) > 1, ks=ks, n=n, sampling=sampling, engine=engine,
                                   shard=shard, label=opts["label"] if single else None, design=design, think=think, opts=opts)
    configs = [config_for(model, choice=c) for model in models for c in choices]  # model-major: a suite shares its engine
    if not opts["out"]:
        check_distinct_run_dirs(configs)
    if watching:  # checkpoints as training writes them; one resident vLLM engine (evalkit/watch.py)
        results = watch(patterns, config_for, opts["watch"], argv=sys.argv)
    elif opts["ray_address"] is not None:
        from .distributed.ray_runner import run_ray

        results = iter(run_ray(configs, address=opts["ray_address"] or None, argv=sys.argv))
    else:  # several vLLM checkpoints share one resident engine (evalkit/sweep.py)
        results = run_all(configs, argv=sys.argv)
    logger = _run_logger(trackers, patterns, opts, bench=bench, n=n, ks=ks, sampling=sampling, engine=engine, design=design)
    finished = _report_results(results, opts, ks, logger)
    if len(finished) > 1:  # several checkpoints: one comparison against the first
        from .reports.compare import compare_dirs
        from .reports.tables import render

        click.echo("\n" + render(compare_dirs(finished, ks=ks)[1], "table"))


def _run_logger(trackers: list, patterns: tuple[str, ...], opts: dict, **settings: Any) -> Any:
    """The --log-to trackers of this run (one tracker run for all its checkpoints), or None."""
    if not trackers:
        return None
    from .reports.run_tracking import RunLogger, run_settings

    config = run_settings(patterns, seed=opts["seed"], limit=opts["limit"], prompt_template=opts["prompt_template"], **settings)
    return RunLogger(trackers, opts["label"] or ", ".join(patterns), config, lambda line: click.echo(line, err=True))


def _report_results(results: Any, opts: dict, ks: tuple[int, ...], logger: Any) -> list:
    """Print each checkpoint's figures as it is counted (and log them to the trackers); the finished run dirs."""
    from .reports.console import print_metrics

    finished = []
    try:
        for result in results:
            if result.metrics:
                print_metrics(result.metrics, result.out)
                finished.append(result.out)
                if logger is not None:
                    logger.log(result.out, ks)
            else:
                click.echo(f"shard {opts['shard']}: drew {result.drawn}, graded {result.graded} samples in {result.out}; "
                           "when every shard is done, combine them with `evalkit merge DIR... --out DIR`")
    finally:
        if logger is not None:
            logger.close()
    return finished


def _run_config(model: str, *, choice: Any, suite: bool, ks: tuple[int, ...], n: int, sampling: Any, engine: Any, shard: Any,
                label: str | None, design: Any, think: Any, opts: dict) -> Any:
    """The validated RunConfig of one --model and benchmark of `evalkit run` (several for a sweep, a suite or --watch)."""
    from .config import RunConfig

    return RunConfig(
        model=model, bench=choice.name, ks=ks, n=n, sampling=sampling, engine=engine, seed=opts["seed"],
        out=choice.out_dir(opts["out"], suite), data=choice.data, limit=opts["limit"], overwrite=opts["overwrite"],
        regrade=opts["regrade"], prompt_template=opts["prompt_template"], chat=opts["chat"], shard=shard, label=label,
        allow_unknown_data=opts["allow_unknown_data"], design=design, selection=make_selection(opts), custom=choice.custom,
        think=think,
    ).validate()


# -- score ------------------------------------------------------------------------------------
@main.command()
@click.option("--bench", required=True, help="Benchmark the samples were made for: a name, a custom task file, or custom:NAME with --family/--*-field.")
@click.option("--samples", "samples_file", required=True, type=click.Path(dir_okay=False), help="evalkit/EvalPlus JSONL ({problem_id|task_id|..., completion|completions|solution}), or another harness's output as it writes it (see --format).")
@click.option("--format", "samples_format", type=click.Choice(["auto", *SAMPLE_FORMATS]), default="auto", show_default=True, help="The samples file's format: lm-eval samples_*.jsonl, lighteval details_*.parquet, Qwen2.5-Math/math-evaluation-harness .jsonl, SkyThought results.json; auto detects it.")
@click.option("--k", "ks", default="1", callback=_parse_ks, show_default=True)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory to write.")
@click.option("--data", type=click.Path(), default=None, help="Local benchmark file or directory.")
@click.option("--model", default=None, help="Label for the model in reports [default: the file name].")
@click.option("--overwrite", is_flag=True, help="Replace an existing run directory made from another file.")
@click.option("--regrade", is_flag=True, help="Grade every sample again, e.g. after a verifier upgrade.")
@click.option("--allow-unknown-data", is_flag=True, help="Grade a benchmark file that matches no known release (every result is marked).")
@click.option("--n", type=click.IntRange(min=1), default=None, help="Adaptive design only: the largest n the samples were drawn with.")
@design_options
@selection_options
@custom_options
@friendly_errors
def score(bench: str, samples_file: str, samples_format: str, ks: tuple[int, ...], out: str, data: str | None, model: str | None,
          overwrite: bool, regrade: bool, allow_unknown_data: bool, n: int | None, min_n: int | None, stop_at: int | None,
          step: int | None, **selection: Any) -> None:
    """Grade completions produced elsewhere and report pass@k. With --min-n/--n/--stop-at the file's
    samples of a problem are in draw order of that adaptive design, and its estimator is used."""
    from .adapters.suite import parse_benches
    from .pipeline import ScoreConfig
    from .pipeline import score as score_pipeline
    from .reports.console import print_metrics

    design = make_design(min_n, n, stop_at, step)
    if n is not None and design is None:
        raise EvalkitError("score takes --n only with an adaptive design (--min-n, --stop-at); a file's samples per problem are its own n")
    choices = parse_benches(bench, data, custom_flags(selection))
    if len(choices) > 1:
        raise EvalkitError(f"score grades one benchmark's samples file, but --bench {bench} names {len(choices)}; score each "
                           "benchmark's file into its own --out, then `evalkit compare` / `export` them together for the suite row")
    config = ScoreConfig(choices[0].name, samples_file, ks, out, data=choices[0].data, model=model, overwrite=overwrite, regrade=regrade,
                         allow_unknown_data=allow_unknown_data, design=design, selection=make_selection(selection),
                         format=None if samples_format == "auto" else samples_format, custom=choices[0].custom)
    result = score_pipeline(config, argv=sys.argv)
    for note in result.notes:
        click.echo(note)
    print_metrics(result.metrics, result.out)


# -- budgets ----------------------------------------------------------------------------------
@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--think-budgets", "think_budgets", required=True, callback=_parse_budgets, metavar="B1,B2,...", help="Thinking budgets in tokens (each <= the run's --max-tokens).")
@think_options
@click.option("--data", type=click.Path(), default=None, help="Benchmark file [default: where the run read it].")
@click.option("--backend", type=click.Choice(["auto", "hf", "vllm", "openai"]), default=None, help="[default: the run's].")
@click.option("--base-url", default=None, help="OpenAI-compatible server serving the run's model (implies --backend openai).")
@click.option("--dtype", default=None, help="[default: the run's].")
@click.option("--max-model-len", type=int, default=None, help="[default: the run's].")
@click.option("--gpu-memory-utilization", type=float, default=None, help="[default: the run's].")
@click.option("--tensor-parallel-size", type=click.IntRange(min=1), default=None, help="[default: the run's].")
@click.option("--max-num-seqs", type=click.IntRange(min=1), default=None, help="vllm backend: sequences decoded at once.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="hf backend: rows per decoding batch.")
@click.option("--concurrency", type=click.IntRange(min=1), default=None, help="openai backend: requests in flight.")
@friendly_errors
def budgets(run_dir: str, think_budgets: tuple[int, ...], data: str | None, **opts: Any) -> None:
    """Force thinking budgets on a run evalkit drew: pass@k with the thinking cut at each budget (s1), from its samples."""
    from .budgets import engine_options, force_budgets
    from .reports.console import print_metrics

    engine = engine_options(opts, ("backend", "base_url", "dtype", "max_model_len", "gpu_memory_utilization", "tensor_parallel_size",
                                   "max_num_seqs", "batch_size", "concurrency"))
    result = force_budgets(run_dir, make_think(think_budgets, opts), engine, data=data)
    print_metrics(result.metrics, result.out)


# -- merge ------------------------------------------------------------------------------------
@main.command()
@click.argument("dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory to write the merged run to.")
@click.option("--k", "ks", default=None, callback=_parse_ks, help="k values [default: those the shards were run with].")
@click.option("--data", type=click.Path(), default=None, help="Benchmark file [default: where the shards read it].")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out that holds a different run.")
@friendly_errors
def merge(dirs: tuple[str, ...], out: str, ks: tuple[int, ...] | None, data: str | None, overwrite: bool) -> None:
    """Combine shards (or partial runs) of one run into a run identical to a single-machine one."""
    from .distributed.merge import merge as merge_runs
    from .reports.console import print_metrics

    result = merge_runs(dirs, out, ks=ks, data=data, overwrite=overwrite, argv=sys.argv)
    print_metrics(result.metrics, result.out)


# -- reproduce --------------------------------------------------------------------------------
@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--samples", type=click.IntRange(min=1), default=64, show_default=True, help="How many stored samples to draw again (a random subset).")
@click.option("--pick-seed", type=int, default=0, show_default=True, help="Seed of the subset's choice.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False), default=None, help="Write the report, every mismatch included.")
def reproduce(run_dir: str, samples: int, pick_seed: int, json_file: str | None) -> None:
    """Re-draw a random subset of a run's samples with its manifest's settings; count the bit-identical ones.

    Exit 0 when all are identical, 1 when some differ, 2 when the run cannot be re-drawn."""
    from .reproduce import format_report
    from .reproduce import reproduce as redraw
    from .store import check_output_file, write_json_atomic

    try:
        if json_file:
            check_output_file(json_file, "--json")
        report = redraw(run_dir, samples=samples, pick_seed=pick_seed)
        if json_file:
            write_json_atomic(Path(json_file), report)
    except (EvalkitError, OSError) as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)  # cannot tell, which must never read as "differs" (1)
    except KeyboardInterrupt:
        click.echo("interrupted: nothing was written", err=True)
        sys.exit(130)
    for line in format_report(report):
        click.echo(line)
    sys.exit(0 if report["identical"] == report["samples"] else 1)


# -- benchmarks -------------------------------------------------------------------------------
@main.command()
@click.option("--show-prompt", "show_prompt", default=None, metavar="BENCH", help="Print the prompt templates of one benchmark.")
@click.option("--prompt-template", default=None, help="With --show-prompt: apply this override (string, text file or .toml/.json/.yaml config).")
@click.option("--files", is_flag=True, help="Every file name each benchmark is read from in a data directory.")
@friendly_errors
def benchmarks(show_prompt: str | None, prompt_template: str | None, files: bool) -> None:
    """List the benchmarks: size, the file EVALKIT_DATA_DIR needs (found or missing there), source."""
    from .adapters.registry import all_benchmarks, get_benchmark
    from .reports.console import print_benchmarks, print_data_files, print_prompt_templates

    if show_prompt:
        print_prompt_templates(get_benchmark(show_prompt), prompt_template)
    elif files:
        print_data_files(all_benchmarks())
    else:
        print_benchmarks(all_benchmarks(), os.environ.get("EVALKIT_DATA_DIR") or None)


# -- diff-params ------------------------------------------------------------------------------
@main.command("diff-params")
@click.argument("base", type=click.Path())
@click.argument("ckpt", type=click.Path())
@click.option("--tol", type=float, default=0.0, show_default=True, help="Also count entries with |ckpt - base| <= tol as unchanged.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False), default=None, help="Write the full report (overall, per module, layer, tensor) here.")
@click.option("--per-tensor", is_flag=True, help="Also print one row per tensor.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Threads, each holding one 1 MiB chunk per side [default: min(8, CPUs)].")
@friendly_errors
def diff_params(base: str, ckpt: str, tol: float, json_file: str | None, per_tensor: bool, workers: int | None) -> None:
    """Fraction of parameters CKPT left unchanged from BASE (safetensors dirs), and relative update norms."""
    import time

    from .analysis.param_diff import DEFAULT_WORKERS, diff_checkpoints, format_report, write_report
    from .store import check_output_file

    if json_file:
        check_output_file(json_file, "--json", make_parents=True)
    t0 = time.perf_counter()
    report = diff_checkpoints(base, ckpt, tol=tol, workers=workers or DEFAULT_WORKERS)
    seconds = time.perf_counter() - t0
    for line in format_report(report, per_tensor=per_tensor):
        click.echo(line)
    click.echo(f"read {2 * report['bytes_per_side'] / 1e9:.2f} GB in {seconds:.1f}s ({2 * report['bytes_per_side'] / 1e9 / max(seconds, 1e-9):.2f} GB/s)")
    if json_file:
        write_report(report, json_file)
        click.echo(f"wrote {json_file}")


# -- dynamics ---------------------------------------------------------------------------------
@main.command()
@click.option("--run", "runs", multiple=True, metavar="NAME=GLOB", help="A training run: its name and a glob of its checkpoints' run directories (repeatable), e.g. AZR='results/azr--global_step_*/math500'.")
@click.option("--base-run", type=click.Path(file_okay=False), default=None, help="Run directory of the starting checkpoint: paired differences and crossover k against it.")
@click.option("--base-model", type=click.Path(), default=None, help="The checkpoint training started from: each checkpoint's update sparsity against it (cached beside its run).")
@click.option("--k", "ks", default=None, callback=_parse_ks, help="Comma-separated k values [default: powers of 4 up to n, and n].")
@click.option("--step-regex", default=None, metavar="REGEX", help="How to read the step from a checkpoint path when it names no global_step_N / checkpoint-N / step_N / iter_N (its first group).")
@click.option("--json", "json_file", type=click.Path(dir_okay=False), default=None, help="Write the report (schema evalkit.dynamics/1).")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="Write the figure (.png, .pdf or .svg): pass@k, entropy, length, sparsity against step.")
@click.option("--html", type=click.Path(dir_okay=False), default=None, help="Write one offline HTML page of the same figures and table.")
@click.option("--log-to", "log_to", multiple=True, metavar="KIND:TARGET", help="Also log every point at its step to tensorboard:DIR, wandb:PROJECT or mlflow:URI (repeatable).")
@friendly_errors
def dynamics(runs: tuple[str, ...], base_run: str | None, base_model: str | None, ks: tuple[int, ...] | None, step_regex: str | None,
             json_file: str | None, plot: str | None, html: str | None, log_to: tuple[str, ...]) -> None:
    """pass@k, maj@k, entropy, length, truncation and update sparsity against training step, training runs side by side."""
    from .reports.dynamics_report import dynamics as run_dynamics
    from .reports.dynamics_table import render_text
    from .reports.trackers import parse_log_to

    trackers = parse_log_to(log_to)
    report, written = run_dynamics(runs, ks, step_regex=step_regex, base_run=base_run, base_model=base_model, json_file=json_file,
                                   plot=plot, html=html, trackers=trackers, notify=lambda line: click.echo(line, err=True))
    click.echo(render_text(report))
    for path in written:
        click.echo(f"wrote {path}")


# -- plan -------------------------------------------------------------------------------------
@main.command()
@click.argument("pilot", type=click.Path(file_okay=False))
@click.option("--budget", type=click.FloatRange(min=1), required=True, help="Average samples per problem you can afford.")
@click.option("--k", "k", type=click.IntRange(min=1), required=True, help="The largest k you will report (the design is chosen for it).")
@click.option("--max-n", type=click.IntRange(min=1), default=None, help="Cap on any problem's samples [default: 8 x budget].")
@click.option("--max-blocks", type=click.IntRange(min=1), default=16, show_default=True, help="Most blocks a design may have.")
@click.option("--problems", type=click.IntRange(min=1), default=None, help="Problems the run will have, for the time estimate [default: the pilot's benchmark size].")
@friendly_errors
def plan(pilot: str, budget: float, k: int, max_n: int | None, max_blocks: int, problems: int | None) -> None:
    """Suggest an adaptive design (--min-n/--step/--stop-at/--n) from a pilot run (or a run of another
    checkpoint): the narrowest interval of pass@K at the budget, and the saving against a fixed n."""
    from .reports.runs import load_run
    from .scoring.planner import plan as make_plan

    from .cost import time_estimate

    run = load_run(pilot)
    result = make_plan(run.table.n, run.table.c, budget, k, max_blocks=max_blocks, max_n=max_n)
    click.echo(result.summary())
    d = result.recommended
    if d.min_n == d.n_max:
        click.echo(f"use: evalkit run ... --k {k} --n {d.n_max}")
    else:
        click.echo(f"use: evalkit run ... --k {k} --min-n {d.min_n} --step {d.step} --stop-at {d.stop_at} --n {d.n_max}")
    known = run.table.tokens[run.table.tokens > 0]
    tokens = float(known.mean()) if len(known) else None
    problems = problems or run.manifest.get("num_problems_total") or len(run.problem_ids)
    click.echo(time_estimate(run.manifest.get("cost"), tokens, result.expected_samples, problems))


# -- audit ------------------------------------------------------------------------------------
@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--json", "json_file", type=click.Path(dir_okay=False), default=None, help="Write the report (every disagreeing sample) here.")
@click.option("--k", "ks", default=None, callback=_parse_ks, help="Comma-separated k values [default: powers of 4 up to n, and n].")
@click.option("--data", type=click.Path(), default=None, help="Benchmark file the run was graded on [default: where the run read it].")
@click.option("--show", type=click.IntRange(min=0), default=20, show_default=True, help="Disagreeing samples to print (the JSON has all).")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Processes for the second grader's symbolic checks [default: all cores].")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=5.0, show_default=True, help="Seconds one symbolic check may take.")
@click.option("--judge-url", default=None, help="OpenAI-compatible server of an LLM judge, asked about the disagreeing samples only.")
@click.option("--judge-model", default=None, help="The judge's model name on that server.")
@click.option("--judge-no-answer", is_flag=True, help="Also ask the judge about samples either grader found no answer in.")
@click.option("--judge-concurrency", type=click.IntRange(min=1), default=16, show_default=True, help="Judge requests in flight.")
@click.option("--judge-max-tokens", type=click.IntRange(min=1), default=2048, show_default=True, help="Tokens the judge may reply with.")
@click.option("--max-retries", type=click.IntRange(min=0), default=5, show_default=True, help="Judge: retries of a transient error (backoff).")
@click.option("--request-timeout", type=click.FloatRange(min=0, min_open=True), default=600.0, show_default=True, help="Judge: seconds per request.")
@friendly_errors
def audit(run_dir: str, json_file: str | None, ks: tuple[int, ...] | None, data: str | None, show: int, workers: int | None,
          time_limit: float, **judge_opts: Any) -> None:
    """Re-grade a math run with a second, independent grader: agreement, each disagreement, and pass@k
    for primary / second / both / any (and judged, with an LLM judge on the disagreements)."""
    from .reports.audit import audit as run_audit
    from .reports.audit import write_report
    from .reports.console import print_audit
    from .store import check_output_file

    judge = _judge_config(**judge_opts)
    if json_file:
        check_output_file(json_file, "--json")
    report = run_audit(run_dir, data=data, ks=ks, workers=workers, time_limit=time_limit, judge=judge)
    print_audit(report, show)
    if json_file:
        write_report(json_file, report)
        click.echo(f"wrote {json_file}")


def _judge_config(judge_url: str | None, judge_model: str | None, judge_no_answer: bool, judge_concurrency: int,
                  judge_max_tokens: int, max_retries: int, request_timeout: float) -> Any:
    if (judge_url is None) != (judge_model is None):
        raise EvalkitError("the judge needs both --judge-url and --judge-model, e.g. --judge-url http://127.0.0.1:8000/v1 --judge-model NAME")
    if judge_url is None:
        if judge_no_answer:
            raise EvalkitError("--judge-no-answer needs a judge; add --judge-url and --judge-model")
        return None
    from .reports.audit_judge import JudgeConfig

    return JudgeConfig(judge_url, judge_model, api_key=os.environ.get("OPENAI_API_KEY"), concurrency=judge_concurrency,
                       max_retries=max_retries, timeout=request_timeout, max_tokens=judge_max_tokens, no_answer=judge_no_answer)


# -- compare / gate / export -------------------------------------------------------------------
@main.command()
@click.argument("run_dirs", nargs=-1, type=click.Path(file_okay=False))
@click.option("--baseline", "baselines", multiple=True, type=click.Path(file_okay=False), help="Run to compare against (one per benchmark) [default: the first RUN_DIR].")
@click.option("--k", "ks", default=None, callback=_parse_ks, help="Comma-separated k values [default: powers of 4 up to n, and n].")
@click.option("--format", "fmt", type=click.Choice(["table", "markdown", "csv", "json"]), default="table", show_default=True)
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="Write a PNG of pass@k curves (log k, 95% bands).")
@click.option("--plot-panels", default=None, metavar="all|entropy,logprob,tokens", help="With --plot: also pass@k against these per-checkpoint statistics.")
@friendly_errors
def compare(run_dirs: tuple[str, ...], baselines: tuple[str, ...], ks: tuple[int, ...] | None, fmt: str, plot: str | None,
            plot_panels: str | None) -> None:
    """pass@k tables with intervals, paired differences against a baseline, crossover k, solved-only problems."""
    from .reports.compare import compare_dirs
    from .reports.plots import parse_panels
    from .reports.tables import render
    from .store import check_output_file

    panels = parse_panels(plot_panels)
    if panels and not plot:
        raise EvalkitError("--plot-panels needs --plot FILE.png")
    if plot:
        check_output_file(plot, "--plot")
    groups, report = compare_dirs(run_dirs, baselines, ks)
    if plot:
        from .reports.plots import plot_comparison

        plot_comparison(groups, report, plot, panels)
    click.echo(render(report, fmt))
    if plot:
        click.echo(f"wrote {plot}", err=fmt in ("csv", "json"))


@main.command()
@click.argument("run_dirs", nargs=-1, type=click.Path(file_okay=False))
@click.option("--baseline", "baselines", multiple=True, type=click.Path(file_okay=False), help="Run to compare against [default: the first RUN_DIR].")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write one self-contained HTML file (opens offline, from disk).")
@click.option("--serve", is_flag=True, help="Serve the page from a local HTTP server that loads any sample's full text.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True, help="--serve: port (0 picks a free one).")
@click.option("--host", default="127.0.0.1", show_default=True, help="--serve: address to bind (loopback only unless changed).")
@click.option("--max-samples", type=click.IntRange(min=0), default=4, show_default=True, help="Sample texts embedded per problem and checkpoint.")
@click.option("--data", type=click.Path(), default=None, help="Benchmark file (metadata, gold answers, code programs) [default: the runs' own].")
@friendly_errors
def view(run_dirs: tuple[str, ...], baselines: tuple[str, ...], out: str | None, serve: bool, port: int, host: str,
         max_samples: int, data: str | None) -> None:
    """A results page: pass@k curves, paired differences, and every problem's samples, checkpoint by checkpoint."""
    from .reports import view as pages

    if bool(out) == serve:
        raise EvalkitError("give --out report.html (one offline file) or --serve (a local server), one of them")
    if out:
        from .store import check_output_file

        check_output_file(out, "--out")
        path, size, v = pages.build_report(run_dirs, out, baselines, max_samples, data)
        click.echo(f"wrote {path}: {size / 1e6:.1f} MB, {len(pages.problem_ids(v))} problems x {len(v.runs)} checkpoint{'s' if len(v.runs) > 1 else ''}, "
                   f"up to {max_samples} sample texts per problem and checkpoint")
        if v.problems is None:
            click.echo(f"note: {v.data_note}")
        return
    server = pages.make_server(pages.load_view(run_dirs, baselines, data), host, port, max_samples)
    bound_host, bound_port = server.server_address[:2]
    reach = "loopback only: reachable from this machine alone" if pages.is_loopback(host) else "NOT loopback: reachable from the network"
    click.echo(f"serving http://{bound_host}:{bound_port}/ (bound to {bound_host}, {reach}); Ctrl-C stops")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        server.server_close()


@main.command()
@click.option("--baseline", required=True, type=click.Path(file_okay=False), help="Run directory of the reference checkpoint.")
@click.option("--candidate", required=True, type=click.Path(file_okay=False), help="Run directory of the checkpoint under test.")
@click.option("--metric", "metrics", multiple=True, default=("pass@1",), show_default=True, help="pass@K, pass^K or maj@K; pass@K:any (primary|second|both|any|judged) gates on an `evalkit audit` reading; repeat or comma-separate.")
@click.option("--max-drop", type=click.FloatRange(0, 1), default=0.0, show_default=True, help="Allowed drop as a fraction (0.02 = 2 points).")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05, show_default=True, help="Significance level of the one-sided test, per metric.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False), default=None, help="Write a JSON report for CI systems.")
def gate(baseline: str, candidate: str, metrics: tuple[str, ...], max_drop: float, alpha: float, json_file: str | None) -> None:
    """Exit 0 if no metric dropped by more than --max-drop with significance, 1 if one did, 2 on errors."""
    from .reports.gate import error_report, run_gate, write_report

    from .store import check_output_file

    names = [m for entry in metrics for m in entry.split(",") if m.strip()]
    try:
        if json_file:
            check_output_file(json_file, "--json")  # before the gate: a report that cannot be written is no verdict
    except EvalkitError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    try:
        report = run_gate(baseline, candidate, names, max_drop, alpha)
    except EvalkitError as e:
        if json_file:
            try:
                write_report(json_file, error_report(str(e)))
            except EvalkitError:
                pass
        click.echo(f"error: {e}", err=True)
        sys.exit(2)  # a gate that cannot decide must never read as a regression (1)
    except Exception:  # a bug, not a verdict: show it, and exit 2 rather than 1
        import traceback

        traceback.print_exc()
        sys.exit(2)
    for warning in report.get("warnings", []):
        click.echo(f"warning: {warning}", err=True)
    for m in report["metrics"]:
        click.echo(m["reason"])
    click.echo(f"gate: {report['decision']} ({report['num_shared_problems']} shared problems, max-drop {100 * max_drop:.1f} points, alpha {alpha:g})")
    if json_file:
        try:
            write_report(json_file, report)
        except EvalkitError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(2)
    sys.exit(report["exit_code"])


@main.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option("--out", required=True, type=click.Path(), help="leaderboard: the JSON file to create or merge into; lm-eval / every-eval-ever: a directory.")
@click.option("--format", "fmt", type=click.Choice(["leaderboard", "lm-eval", "every-eval-ever"]), default="leaderboard", show_default=True,
              help="leaderboard: evalkit's schema; lm-eval: results_<date>.json + samples_<task>_<date>.jsonl as lm-eval writes them; "
                   "every-eval-ever: aggregate .json + instance-level _samples.jsonl (schema 0.3.0).")
@click.option("--k", "ks", default=None, callback=_parse_ks, help="Comma-separated k values [default: powers of 4 up to n, and n].")
@click.option("--allow-partial", is_flag=True, help="Export runs that cover only part of their benchmark (the entry records its coverage).")
@click.option("--source-org", default="unknown", show_default=True, help="every-eval-ever: source_organization_name (who publishes the records).")
@click.option("--evaluator-relationship", default="other", show_default=True, type=click.Choice(["first_party", "third_party", "collaborative", "other"]),
              help="every-eval-ever: who ran the evaluation, relative to the model's developer.")
@friendly_errors
def export(run_dirs: tuple[str, ...], out: str, fmt: str, ks: tuple[int, ...] | None, allow_partial: bool, source_org: str,
           evaluator_relationship: str) -> None:
    """Merge runs into a leaderboard JSON (schema: evalkit/schemas/leaderboard.schema.json; re-export replaces), or
    write them in lm-eval's or Every Eval Ever's schema. Several benchmarks add a suite (macro average)."""
    if fmt == "lm-eval":
        from .reports.export_formats import export_lm_eval

        paths = export_lm_eval(run_dirs, out, ks, allow_partial=allow_partial)
    elif fmt == "every-eval-ever":
        from .reports.export_formats import export_every_eval_ever

        paths = export_every_eval_ever(run_dirs, out, ks, allow_partial=allow_partial, source_org=source_org,
                                       relationship=evaluator_relationship)
    else:
        from .reports.export import export as export_runs
        from .store import check_output_file

        check_output_file(out, "--out")

        board, added, replaced = export_runs(run_dirs, out, ks, allow_partial=allow_partial)
        suites = f", {len(board['suites'])} suites" if board.get("suites") else ""
        click.echo(f"wrote {out}: {added} added, {replaced} replaced, {len(board['entries'])} entries{suites}")
        return
    click.echo(f"wrote {len(paths)} files under {out} ({fmt}): " + ", ".join(str(Path(p).relative_to(out)) for p in paths[:4])
               + (f", ... ({len(paths) - 4} more)" if len(paths) > 4 else ""))


if __name__ == "__main__":
    main()
