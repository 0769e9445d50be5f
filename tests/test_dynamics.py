"""evalkit dynamics on planted run directories (no model): steps read from manifests, one-line refusals
that write nothing, unfinished runs left out, mismatched settings marked, the figure's structure, and
trackers that cannot be reached or hang costing one warning. The held-out end-to-end check (a
synthetic training run swept with `evalkit run`) is tests/test_dynamics_run.py."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from evalkit.reports.runs import load_run
from evalkit.reports.steps import compile_step_regex, step_of
from evalkit.store import RunStore
from rundirs import cli_result, make_run

N, PROBLEMS = 8, 24


def finish(run_dir: Path, ks=(1, 4, 8)) -> Path:
    """metrics.json as `evalkit run` writes it once a run is counted (summarize of its table)."""
    run = load_run(run_dir)
    RunStore(run_dir).write_metrics({"benchmark": run.benchmark, "model": run.model, **run.summary(ks)})
    return run_dir


def stopped_at_the_limit(run_dir: Path) -> None:
    """finish_reason `length` for the samples graded `truncated`, as a sampler records them."""
    truncated = {(g["problem_id"], g["sample_index"]) for g in map(json.loads, (run_dir / "grades.jsonl").read_text().splitlines())
                 if g["status"] == "truncated"}
    lines = []
    for line in (run_dir / "samples.jsonl").read_text().splitlines():
        s = json.loads(line)
        if (s["problem_id"], s["sample_index"]) in truncated:
            s["finish_reason"] = "length"
        lines.append(json.dumps(s))
    (run_dir / "samples.jsonl").write_text("\n".join(lines) + "\n")


def set_manifest(run_dir: Path, **fields) -> None:
    m = json.loads((run_dir / "manifest.json").read_text())
    m.update(fields)
    (run_dir / "manifest.json").write_text(json.dumps(m))


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Two training runs over planted grades (AZR: global_step_50/200/300, RLVR: iter_0000100/0000300)
    and a base run; all finished."""
    root = tmp_path_factory.mktemp("dyn")
    rng = np.random.default_rng(7)
    p = rng.beta(0.8, 1.5, PROBLEMS)
    finish(make_run(root / "results" / "base" / "math", rng.random((PROBLEMS, N)) < p[:, None], model="ckpts/base", rng=rng))
    for name, steps, gain in (("azr", (300, 50, 200), 0.04), ("rlvr", (100, 300), 0.08)):
        for step in steps:
            ckpt = f"ckpts/{name}/global_step_{step}" if name == "azr" else f"/abs/megatron/{name}/iter_{step:07d}"
            rows = rng.random((PROBLEMS, N)) < np.clip(p + gain * step / 100, 0, 1)[:, None]
            rows[0, :2] = False  # truncated below
            run = make_run(root / "results" / f"{name}--{step}" / "math", rows, model=ckpt, rng=rng,
                           statuses={(0, i): "truncated" for i in range(N) if not rows[0, i]})
            stopped_at_the_limit(run)
            finish(run)
    return root


def dynamics(root: Path, *args: str) -> tuple[int, str]:
    return cli_result("dynamics", "--run", f"AZR={root}/results/azr--*/math", "--run", f"RLVR={root}/results/rlvr--*/math", *args)


# -- steps ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("path, step", [
    ("ckpts/azr/global_step_200", 200), ("out/checkpoint-1500", 1500), ("runs/x/step_30/actor/huggingface", 30),
    ("runs/step-7", 7), ("megatron/iter_0000200", 200), ("a/global_step_10/b/global_step_20", 20), ("Qwen/Qwen2.5-7B", None),
    ("ckpts/final", None), ("checkpoints/azr", None), ("mystep_5", None),
])
def test_step_of_checkpoint_paths(path, step):
    assert step_of(path) == step


def test_step_regex_takes_its_first_group():
    assert step_of("ckpts/azr-ep3-it120", compile_step_regex(r"it(\d+)")) == 120
    assert step_of("ckpts/azr-ep3-it120", compile_step_regex(r"\d+$")) == 120
    assert step_of("ckpts/final", compile_step_regex(r"it(\d+)")) is None


# -- the report -------------------------------------------------------------------------------------
def test_points_by_step_with_figures_of_summarize(planted, tmp_path):
    out = tmp_path / "d.json"
    code, text = dynamics(planted, "--base-run", str(planted / "results/base/math"), "--k", "1,4,8", "--json", str(out))
    assert code == 0, text
    report = json.loads(out.read_text())
    assert report["schema"] == "evalkit.dynamics/1" and report["ks"] == [1, 4, 8]
    azr, rlvr = report["runs"]
    assert (azr["name"], [p["step"] for p in azr["points"]]) == ("AZR", [50, 200, 300])
    assert (rlvr["name"], [p["step"] for p in rlvr["points"]]) == ("RLVR", [100, 300])
    fields = {"step", "run_dir", "model", "n", "pass_at_k", "ci95", "maj_at_k", "mean_entropy", "mean_tokens", "truncated_rate",
              "sparsity", "update_norm_rel", "delta_vs_base"}
    base = json.loads((planted / "results/base/math/metrics.json").read_text())
    for point in azr["points"] + rlvr["points"]:
        assert fields <= set(point)
        metrics = json.loads((Path(point["run_dir"]) / "metrics.json").read_text())
        for key in ("pass_at_k", "ci95", "maj_at_k", "mean_tokens", "n"):
            assert point[key] == metrics[key], key
        grades = [json.loads(line) for line in (Path(point["run_dir"]) / "grades.jsonl").read_text().splitlines()]
        assert point["truncated_rate"] == sum(g["status"] == "truncated" for g in grades) / len(grades) > 0
        samples = [json.loads(line) for line in (Path(point["run_dir"]) / "samples.jsonl").read_text().splitlines()]
        assert point["mean_entropy"] == pytest.approx(np.mean([s["mean_entropy"] for s in samples]), abs=1e-12)
        for k in ("1", "4", "8"):  # same problems, same n: the paired difference is the difference of means
            d = point["delta_vs_base"][k]
            assert d["diff"] == pytest.approx(metrics["pass_at_k"][k] - base["pass_at_k"][k], abs=1e-12)
            assert d["ci95"][0] <= d["diff"] <= d["ci95"][1] and 0 < d["p"] <= 1
        assert point["sparsity"] is None and point["settings_differ"] == []
    assert "AZR (3 checkpoints)" in text and "RLVR (2 checkpoints)" in text and re.search(r"^50\s+8\s", text, re.M)


def test_unfinished_run_is_left_out_with_a_note(planted, tmp_path):
    late = make_run(planted / "results" / "azr--400" / "math", np.zeros((PROBLEMS, N), bool), model="ckpts/azr/global_step_400")
    try:
        out = tmp_path / "d.json"
        code, text = dynamics(planted, "--json", str(out))
        assert code == 0, text
        report = json.loads(out.read_text())
        assert [p["step"] for p in report["runs"][0]["points"]] == [50, 200, 300]
        assert report["skipped"] == [{"run": "AZR", "step": 400, "run_dir": str(late), "reason": "unfinished (no metrics.json)"}]
        assert "is left out: unfinished" in text
    finally:
        import shutil

        shutil.rmtree(late.parent)


def test_other_sampling_is_marked_other_benchmark_refused(planted, tmp_path):
    odd = finish(make_run(tmp_path / "results" / "rlvr--500" / "math", np.ones((PROBLEMS, N), bool), model="ckpts/rlvr/global_step_500"))
    set_manifest(odd, sampling={"temperature": 0.6, "top_p": 1.0, "top_k": -1, "min_p": 0.0, "max_tokens": 64, "stop": [], "logprobs": None})
    out = tmp_path / "d.json"
    code, text = cli_result("dynamics", "--run", f"AZR={planted}/results/azr--*/math", "--run", f"X={odd}", "--json", str(out), "--k", "1")
    assert code == 0, text
    point = json.loads(out.read_text())["runs"][1]["points"][0]
    assert point["settings_differ"] == ["sampling.temperature: 1.0 vs 0.6"]
    assert "* settings differ from " in text and "(sampling.temperature: 1.0 vs 0.6) at X step 500" in text and "500*" in text
    from evalkit.reports.dynamics_plot import figure

    fig = figure(json.loads(out.read_text()))
    hollow = [line for ax in fig.axes for line in ax.get_lines() if line.get_markerfacecolor() == "white"]
    assert hollow and any("settings differ" in t.get_text() for t in fig.texts)

    set_manifest(odd, benchmark="gsm8k")
    code, text = cli_result("dynamics", "--run", f"AZR={planted}/results/azr--*/math", "--run", f"X={odd}", "--json", str(tmp_path / "e.json"))
    assert code == 1 and "is on benchmark gsm8k" in text and text.count("\n") == 1 and not (tmp_path / "e.json").exists()


# -- bad input: one line, non-zero exit, nothing written ------------------------------------------
def _outputs(tmp_path: Path) -> list[str]:
    return ["--json", str(tmp_path / "o.json"), "--plot", str(tmp_path / "o.png"), "--html", str(tmp_path / "o.html")]


def _nothing_written(tmp_path: Path, root: Path) -> bool:
    return not any((tmp_path / f"o.{ext}").exists() for ext in ("json", "png", "html")) and not list(root.rglob("param_sparsity.json"))


def test_bad_inputs_are_one_line_and_write_nothing(planted, tmp_path):
    import shutil

    import torch
    from safetensors.torch import save_file

    def checkpoint(path: Path, rows: int) -> Path:
        path.mkdir(parents=True)
        save_file({"model.embed_tokens.weight": torch.zeros(rows, 4)}, str(path / "model.safetensors"))
        return path

    base, ckpt = checkpoint(tmp_path / "base", 3), checkpoint(tmp_path / "ckpts" / "global_step_7", 5)  # another shape
    ones = np.ones((PROBLEMS, N), bool)
    real = finish(make_run(tmp_path / "results" / "real--7" / "math", ones, model=str(ckpt)))
    lost = finish(make_run(tmp_path / "results" / "lost--7" / "math", ones, model="nowhere/global_step_7"))
    nostep = finish(make_run(tmp_path / "results" / "final" / "math", ones, model="ckpts/azr/final"))
    shutil.copytree(planted / "results" / "azr--300", tmp_path / "results" / "azr--300")
    finish(make_run(tmp_path / "results" / "azr-copy--300" / "math", ones, model="elsewhere/global_step_300"))
    azr = f"AZR={planted}/results/azr--*/math"
    cases = [
        (["--run", f"AZR={planted}/results/nothing--*/math"], "matches no run directory"),
        (["--run", f"AZR={nostep}"], "gives no training step: it names no global_step_N"),
        (["--run", f"AZR={nostep}", "--step-regex", r"it(\d+)"], "--step-regex 'it(\\\\d+)' does not match it"),
        (["--run", f"AZR={tmp_path}/results/azr*/math"], "are both at step 300"),
        (["--run", f"A={real}", "--base-model", str(base)], "differ: tensor 'model.embed_tokens.weight' has shape [3, 4] in BASE but [5, 4]"),
        (["--run", f"A={lost}", "--base-model", str(base)], "checkpoint 'nowhere/global_step_7' of run"),
        (["--run", azr, "--base-model", str(tmp_path / "missing")], "--base-model"),
        (["--run", azr, "--step-regex", "it(("], "is not a regular expression"),
        (["--run", azr, "--k", "16"], "k=16 exceeds n=8"),
        (["--run", azr, "--log-to", "neptune:proj"], "give tensorboard:DIR, wandb:PROJECT or mlflow:URI"),
        (["--run", azr, "--base-run", str(tmp_path / "nope")], "--base-run"),
    ]
    for args, needle in cases:
        code, text = cli_result("dynamics", *args, *_outputs(tmp_path))
        assert code == 1 and text.startswith("error: ") and needle in text and text.count("\n") == 1, (args, text)
        assert _nothing_written(tmp_path, planted) and _nothing_written(tmp_path, tmp_path), args
    code, text = cli_result("dynamics", "--run", azr, "--plot", str(tmp_path / "o.gif"))
    assert code == 1 and "give a .png, .pdf or .svg" in text


# -- the figure -------------------------------------------------------------------------------------
def test_figure_panels_one_legend_colours_and_fitted_axes(planted, tmp_path):
    from evalkit.reports.dynamics_plot import figure, shown_ks

    out = tmp_path / "d.json"
    code, text = dynamics(planted, "--base-run", str(planted / "results/base/math"), "--k", "1,2,4,8", "--json", str(out),
                          "--plot", str(tmp_path / "d.png"))
    assert code == 0, text
    report = json.loads(out.read_text())
    assert shown_ks([1, 2, 4, 8]) == [1, 2, 8] and shown_ks([1, 16, 256]) == [1, 16, 256]
    fig = figure(report)
    titled = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in titled] == ["pass@1", "pass@2", "pass@8", "token entropy", "length and truncation"]
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)
    assert len(legends) == 1 and [t.get_text() for t in legends[0].get_texts()][:2] == ["AZR", "RLVR"]
    for ax, k in zip(titled[:3], (1, 2, 8)):
        values = [100 * v for r in report["runs"] for p in r["points"] for v in p["ci95"][str(k)]] + [100 * v for v in report["base_run"]["ci95"][str(k)]]
        low, high = ax.get_ylim()
        assert -1 <= low <= min(values) and max(values) <= high <= 101 and high - low < 1.3 * (max(values) - min(values)) + 2
        colors = {line.get_color() for line in ax.get_lines() if len(line.get_xdata()) > 1} - {"0.45"}  # less the base run's line
        assert colors == {"#0072B2", "#D55E00"}  # one colour per training run, the same in every panel
    for run in report["runs"]:  # with a sparsity panel the grid is full: the legend (titled) goes on top
        for point in run["points"]:
            point["sparsity"] = 0.9
    full = figure(report)
    assert len([ax for ax in full.axes if ax.get_title()]) == 6 and full._suptitle is None
    assert len(full.legends) == 1 and full.legends[0].get_title().get_text().startswith("arith: training dynamics")
    from evalkit.reports.dynamics_plot import write_figure

    write_figure(report, tmp_path / "d.svg")
    assert (tmp_path / "d.svg").read_text().startswith("<?xml") and (tmp_path / "d.png").read_bytes()[:4] == b"\x89PNG"
    assert f"wrote {tmp_path / 'd.png'}" in text


# -- trackers that cannot be reached or hang -------------------------------------------------------
def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_trackers_warn_once_and_the_report_is_written(planted, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    pytest.importorskip("wandb")
    import evalkit.reports.trackers as trackers

    monkeypatch.setattr(trackers, "CLOSE_TIMEOUT", 2.0)
    monkeypatch.setattr(trackers, "WANDB_INIT_TIMEOUT", 2.0)
    port = _closed_port()
    monkeypatch.setenv("WANDB_MODE", "online")  # no network: the W&B server cannot be reached
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path))
    out = tmp_path / "d.json"
    code, text = dynamics(planted, "--json", str(out), "--log-to", f"mlflow:http://127.0.0.1:{port}", "--log-to", "wandb:evalkit-test",
                          "--log-to", "mlflow:bogus-scheme://nowhere")
    import wandb

    wandb.teardown()  # wandb's process-wide setup remembers this test's online settings: drop it
    assert code == 0, text
    assert json.loads(out.read_text())["schema"] == "evalkit.dynamics/1"
    warnings = [line for line in text.splitlines() if line.startswith("warning: --log-to")]
    for spec in (f"mlflow:http://127.0.0.1:{port}", "wandb:evalkit-test", "mlflow:bogus-scheme://nowhere"):
        assert sum(spec + ":" in w for w in warnings) == 1, (spec, warnings)  # once, though two training runs logged to each


def test_a_hanging_tracker_never_holds_up_the_caller(monkeypatch):
    """A tracker whose start never returns: logging returns at once, closing gives up after the timeout
    with one warning, and the hung thread is left behind (a daemon)."""
    import evalkit.reports.trackers as trackers

    released = threading.Event()

    class Hangs:
        def __init__(self, *args):
            released.wait()

    monkeypatch.setitem(trackers.BACKENDS, "mlflow", Hangs)
    notes: list[str] = []
    t = trackers.Trackers([trackers.TrackerSpec("mlflow", "http://example.invalid")], "run", {}, notes.append)
    for step in range(100):
        t.log(step, {"eval/x/pass@1": 0.5})
    t.close(timeout=0.2)
    assert not released.is_set() and len(notes) == 1 and "no answer within 0.2s" in notes[0]
    assert t.workers[0].daemon and t.workers[0].is_alive()
    released.set()


def test_run_logger_puts_each_checkpoint_at_its_step(planted, tmp_path):
    """`evalkit run --log-to`'s logger (reports/run_tracking.py) on finished runs, read back with
    TensorBoard's own reader: each checkpoint at the step its path names, with metrics.json's figures;
    a checkpoint that names no step is logged at its place in the run, with a note."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from evalkit.reports.run_tracking import RunLogger
    from evalkit.reports.trackers import TrackerSpec

    notes: list[str] = []
    logger = RunLogger([TrackerSpec("tensorboard", str(tmp_path / "tb"))], "azr", {"benchmark": "math"}, notes.append)
    dirs = {step: planted / "results" / f"azr--{step}" / "math" for step in (50, 200, 300)}
    for run_dir in [*dirs.values(), planted / "results" / "base" / "math"]:
        logger.log(run_dir, (1, 4))
    logger.close()
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    (tag,) = [t for t in acc.Tags()["scalars"] if t.endswith("/pass@1")]
    got = {e.step: e.value for e in acc.Scalars(tag)}
    want = {step: json.loads((d / "metrics.json").read_text())["pass_at_k"]["1"] for step, d in dirs.items()}
    want[3] = json.loads((planted / "results" / "base" / "math" / "metrics.json").read_text())["pass_at_k"]["1"]
    assert got == {s: pytest.approx(v, rel=1e-6) for s, v in want.items()}  # TensorBoard keeps float32
    assert len(notes) == 1 and "ckpts/base names no training step" in notes[0] and "logged at step 3" in notes[0]
