"""Click commands only: parse arguments, call the pipeline, print. No evaluation logic lives here."""

from __future__ import annotations

import functools
import os
import sys
from typing import Any, Callable

import click

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


def friendly_errors(fn: Callable) -> Callable:
    """One line on stderr and a non-zero exit for every expected failure; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except EvalkitError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted: completed samples are saved; rerun the same command to resume", err=True)
            sys.exit(130)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="evalkit")
def main() -> None:
    """evalkit: sample n completions per problem, grade them, estimate pass@k for every k, compare."""


# -- run --------------------------------------------------------------------------------------
@main.command()
@click.option("--model", "models", required=True, multiple=True, help="Checkpoint dir, hub id, or tiny-arith (built in). Repeat to evaluate several.")
@click.option("--bench", required=True, help="Benchmark name (see `evalkit benchmarks`).")
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
@click.option("--chat/--no-chat", default=None, help="Force the chat template on or off [default: on when the tokenizer has one].")
@click.option("--prompt-template", default=None, help="Prompt template string or file, or a .toml/.json/.yaml prompt config (see `evalkit benchmarks --show-prompt`); {prompt}, {instruction} and metadata fields are filled.")
@click.option("--overwrite", is_flag=True, help="Discard an existing run directory that disagrees with this command.")
@friendly_errors
def run(models: tuple[str, ...], bench: str, ks: tuple[int, ...], n: int | None, **opts: Any) -> None:
    """Draw n samples per problem, grade them, and report pass@k with 95% intervals."""
    from .config import EngineConfig, RunConfig, SamplingConfig
    from .pipeline import run as run_pipeline
    from .report import print_metrics

    n = n if n is not None else max(ks)
    if max(ks) > n:
        raise EvalkitError(f"k={max(ks)} exceeds --n {n}; raise --n to at least {max(ks)} or drop that k")
    sampling = SamplingConfig(
        temperature=opts["temperature"], top_p=opts["top_p"], top_k=opts["top_k"], min_p=opts["min_p"],
        max_tokens=opts["max_tokens"], stop=tuple(opts["stop"]), logprobs=opts["logprobs"],
    )
    engine = EngineConfig(
        backend=opts["backend"], dtype=opts["dtype"], max_model_len=opts["max_model_len"],
        gpu_memory_utilization=opts["gpu_memory_utilization"], tensor_parallel_size=opts["tensor_parallel_size"],
        data_parallel_size=opts["data_parallel_size"], base_url=opts["base_url"],
        api_key=os.environ.get("OPENAI_API_KEY"), concurrency=opts["concurrency"], batch_size=opts["batch_size"],
    )
    if len(models) > 1 and opts["out"]:
        raise EvalkitError("--out names one run directory but several --model were given; drop --out to use results/<model>/<bench>/")
    for model in models:
        config = RunConfig(
            model=model, bench=bench, ks=ks, n=n, sampling=sampling, engine=engine, seed=opts["seed"],
            out=opts["out"], data=opts["data"], limit=opts["limit"], overwrite=opts["overwrite"],
            prompt_template=opts["prompt_template"], chat=opts["chat"],
        )
        result = run_pipeline(config, argv=sys.argv)
        print_metrics(result.metrics, result.out)


# -- score ------------------------------------------------------------------------------------
@main.command()
@click.option("--bench", required=True, help="Benchmark the samples were made for.")
@click.option("--samples", "samples_file", required=True, type=click.Path(dir_okay=False), help="JSONL of {problem_id|task_id, completion|completions}.")
@click.option("--k", "ks", default="1", callback=_parse_ks, show_default=True)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory to write.")
@click.option("--data", type=click.Path(), default=None, help="Local benchmark file or directory.")
@click.option("--model", default=None, help="Label for the model in reports [default: the file name].")
@click.option("--overwrite", is_flag=True, help="Replace an existing run directory made from another file.")
@friendly_errors
def score(bench: str, samples_file: str, ks: tuple[int, ...], out: str, data: str | None, model: str | None, overwrite: bool) -> None:
    """Grade completions produced elsewhere and report pass@k."""
    from .pipeline import score as score_pipeline
    from .report import print_metrics

    result = score_pipeline(bench, samples_file, ks, out, data=data, model=model, overwrite=overwrite, argv=sys.argv)
    print_metrics(result.metrics, result.out)


# -- benchmarks -------------------------------------------------------------------------------
@main.command()
@click.option("--show-prompt", "show_prompt", default=None, metavar="BENCH", help="Print the prompt templates of one benchmark.")
@click.option("--prompt-template", default=None, help="With --show-prompt: apply this override (string, text file or .toml/.json/.yaml config).")
@friendly_errors
def benchmarks(show_prompt: str | None, prompt_template: str | None) -> None:
    """List the benchmarks with their source and size."""
    from .benchmarks.registry import all_benchmarks, get_benchmark
    from .report import print_benchmarks, print_prompt_templates

    if show_prompt:
        print_prompt_templates(get_benchmark(show_prompt), prompt_template)
    else:
        print_benchmarks(all_benchmarks())


if __name__ == "__main__":
    main()
