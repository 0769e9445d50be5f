"""The held-out check of `evalkit dynamics`: a synthetic training run whose checkpoints are the tiny
model with known fractions of its parameters changed (evalkit.tiny_model.sparse_update_checkpoint),
swept with `evalkit run --backend hf --watch` and logged to TensorBoard, MLflow and W&B (offline) as it goes;
then `evalkit dynamics`: steps, sparsity exactly the planted fractions, every figure equal to each
run's metrics.json (entropy and truncation recounted from the run's files), the values read back
with each tracker's own reader, the sparsity cache warm on a second call, and the page in Chromium.

One module-scoped sweep (6 tiny runs of 6 problems x 4 samples) keeps the CI cost low.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from rundirs import cli_result

pytestmark = pytest.mark.slow

# step -> which tensors (by name) get which fraction of their entries changed
PLANTED = {
    "A": {10: {"mlp": 0.25}, 20: {"mlp": 0.5, "self_attn": 0.25}, 30: {"mlp": 0.75, "self_attn": 0.5, "embed_tokens": 0.1}},
    "B": {5: {"self_attn": 0.1}, 15: {"mlp": 0.3, "self_attn": 0.3}},
}
MODULE_OF = {"mlp": "mlp", "self_attn": "attention", "embed_tokens": "embeddings", "norm": "norm"}  # by hand, for the tiny Qwen2
RUN = ["--bench", "arith", "--limit", "6", "--n", "4", "--k", "1,4", "--max-tokens", "12", "--backend", "hf"]
CHROMIUM = "/usr/bin/chromium"


def checkpoint_dir(name: str, step: int) -> str:
    return f"ckpts/{name}/global_step_{step}" if name == "A" else f"ckpts/{name}/checkpoint-{step}"


def expected_sparsity(base: Path, ckpt: Path) -> tuple[float, dict[str, float], int]:
    """Fraction of bit-identical parameters, overall and per module type, from whole tensors in torch
    (float32 compared as int32 bit patterns); and the number of parameters."""
    import torch
    from safetensors.torch import load_file

    bits = lambda t: t.contiguous().view(-1).view(torch.int32)  # noqa: E731
    a, b = load_file(base / "model.safetensors"), load_file(ckpt / "model.safetensors")
    same, total = {}, {}
    for name, t in a.items():
        module = next(m for key, m in MODULE_OF.items() if key in name)
        same[module] = same.get(module, 0) + int((bits(t) == bits(b[name])).sum())
        total[module] = total.get(module, 0) + t.numel()
    return sum(same.values()) / sum(total.values()), {m: same[m] / total[m] for m in total}, sum(total.values())


@pytest.fixture(scope="module")
def sweep(tmp_path_factory, tiny_model):
    """The checkpoints, the swept run directories and the trackers' files; cwd is the sweep's root."""
    pytest.importorskip("mlflow")
    pytest.importorskip("wandb")
    pytest.importorskip("tensorboard")
    from evalkit.tiny_model import sparse_update_checkpoint

    root = tmp_path_factory.mktemp("training")
    changed = {}
    shutil.copytree(tiny_model, root / "ckpts" / "base")
    for name, steps in PLANTED.items():
        for step, fractions in steps.items():
            changed[(name, step)] = sparse_update_checkpoint(tiny_model, root / checkpoint_dir(name, step), fractions, seed=step, scale=1.0)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        for key, value in {"WANDB_MODE": "offline", "WANDB_DIR": str(root), "WANDB_CONFIG_DIR": str(root / "wandb-config"),
                           "WANDB_CACHE_DIR": str(root / "wandb-cache"), "WANDB_SILENT": "true", "TOKENIZERS_PARALLELISM": "false"}.items():
            mp.setenv(key, value)
        # --watch: the checkpoints are taken as a watcher finds them, then it exits after 1 s without news
        code, out_a = cli_result("run", "--model", "ckpts/A/global_step_*", *RUN, "--watch", "1", "--log-to", "tensorboard:tb",
                                 "--log-to", "mlflow:mlruns", "--log-to", "wandb:evalkit-test")
        assert code == 0, out_a
        import evalkit.reports.trackers as trackers

        mp.setattr(trackers, "CLOSE_TIMEOUT", 1.0)
        code, out_b = cli_result("run", "--model", "ckpts/B/checkpoint-*", "--model", "ckpts/base", *RUN,
                                 "--log-to", f"mlflow:http://127.0.0.1:{_closed_port()}")
        assert code == 0, out_b
        yield {"root": root, "changed": changed, "out_a": out_a, "out_b": out_b}


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_dir(root: Path, name: str, step: int | None) -> Path:
    slug = "base" if step is None else Path(checkpoint_dir(name, step)).relative_to("ckpts").as_posix().replace("/", "--")
    (d,) = (root / "results" / slug).iterdir()
    return d


@pytest.fixture(scope="module")
def report(sweep, tiny_model):
    root = sweep["root"]
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        code, text = cli_result("dynamics", "--run", "A=results/A--global_step_*/*", "--run", "B=results/B--checkpoint-*/*",
                                "--base-run", str(run_dir(root, "", None)), "--base-model", "ckpts/base", "--k", "1,4",
                                "--json", "d.json", "--plot", "d.png", "--html", "d.html", "--log-to", "tensorboard:tb-dynamics")
        assert code == 0, text
    return json.loads((root / "d.json").read_text()), text


# -- the sweep itself ---------------------------------------------------------------------------------
def test_an_unreachable_tracker_does_not_fail_the_run(sweep):
    out = sweep["out_b"]
    warnings = [line for line in out.splitlines() if line.startswith("warning: --log-to mlflow:http://127.0.0.1:")]
    assert len(warnings) == 1, out
    for step in PLANTED["B"]:
        assert (run_dir(sweep["root"], "B", step) / "metrics.json").is_file()


# -- the report ---------------------------------------------------------------------------------------
def test_steps_sparsity_and_figures(sweep, report, tiny_model):
    data, text = report
    root = sweep["root"]
    assert [(r["name"], [p["step"] for p in r["points"]]) for r in data["runs"]] == [("A", [10, 20, 30]), ("B", [5, 15])]
    for run in data["runs"]:
        for point in run["points"]:
            ckpt = root / checkpoint_dir(run["name"], point["step"])
            overall, by_module, size = expected_sparsity(tiny_model, ckpt)
            planted = sweep["changed"][(run["name"], point["step"])]
            assert overall == (size - sum(planted.values())) / size  # the known fraction, exactly
            assert point["sparsity"] == overall and point["sparsity_by_module"] == by_module
            assert point["update_norm_rel"] > 0
            metrics = json.loads((Path(point["run_dir"]) / "metrics.json").read_text())
            for key in ("pass_at_k", "ci95", "maj_at_k", "mean_tokens", "n", "num_problems"):
                assert point[key] == metrics[key], key
            samples = [json.loads(line) for line in (Path(point["run_dir"]) / "samples.jsonl").read_text().splitlines()]
            assert point["mean_entropy"] == pytest.approx(np.mean([s["mean_entropy"] for s in samples]), rel=1e-12)
            grades = [json.loads(line) for line in (Path(point["run_dir"]) / "grades.jsonl").read_text().splitlines()]
            assert point["truncated_rate"] == sum(g["status"] == "truncated" for g in grades) / len(grades)
            base = json.loads((Path(data["base_run"]["run_dir"]) / "metrics.json").read_text())
            for k in ("1", "4"):
                assert point["delta_vs_base"][k]["diff"] == pytest.approx(metrics["pass_at_k"][k] - base["pass_at_k"][k], abs=1e-12)
    values = {p["pass_at_k"]["4"] for r in data["runs"] for p in r["points"]}
    assert len(values) > 1  # the planted updates changed what the checkpoints solve: a real curve
    assert "A (3 checkpoints)" in text and "sparsity%" in text and f"wrote d.png" in text


def test_sparsity_cache_is_reused_and_keyed_by_content(sweep, report, monkeypatch, tmp_path, tiny_model):
    """A second call reads no weights; a copied checkpoint is matched by content; a changed one is not."""
    import evalkit.analysis.sparsity as sparsity

    root = sweep["root"]
    data, _ = report
    calls = []
    real = sparsity.diff_checkpoints
    monkeypatch.setattr(sparsity, "diff_checkpoints", lambda *a, **k: calls.append(a) or real(*a, **k))
    monkeypatch.chdir(root)
    code, text = cli_result("dynamics", "--run", "A=results/A--global_step_*/*", "--base-model", "ckpts/base", "--k", "1,4", "--json", str(tmp_path / "w.json"))
    assert code == 0 and calls == [], text
    warm = json.loads((tmp_path / "w.json").read_text())["runs"][0]["points"]
    assert [p["sparsity"] for p in warm] == [p["sparsity"] for p in data["runs"][0]["points"]]
    os.utime(root / "ckpts" / "A" / "global_step_20" / "model.safetensors")  # touched, same content: hashed, then reused
    code, text = cli_result("dynamics", "--run", "A=results/A--global_step_*/*", "--base-model", "ckpts/base", "--k", "1", "--json", str(tmp_path / "w.json"))
    assert code == 0 and calls == [], text
    cache = json.loads((run_dir(root, "A", 20) / "param_sparsity.json").read_text())
    assert cache["schema"] == "evalkit.sparsity-cache/1" and cache["entries"][0]["ckpt"]["digest"].startswith("blake2b-")

    # a copy of step 30's run and checkpoint elsewhere: matched by content; then its weights change: diffed again
    from evalkit.tiny_model import sparse_update_checkpoint

    copy_ckpt, copy_run = tmp_path / "moved" / "global_step_30", tmp_path / "results" / "C--global_step_30" / "arith"
    shutil.copytree(root / "ckpts" / "A" / "global_step_30", copy_ckpt)
    shutil.copytree(run_dir(root, "A", 30), copy_run)
    manifest = json.loads((copy_run / "manifest.json").read_text())
    (copy_run / "manifest.json").write_text(json.dumps({**manifest, "model": str(copy_ckpt)}))
    args = ["dynamics", "--run", f"C={copy_run}", "--base-model", str(root / "ckpts" / "base"), "--k", "1", "--json", str(tmp_path / "c.json")]
    code, text = cli_result(*args)
    assert code == 0 and calls == [], text
    assert json.loads((tmp_path / "c.json").read_text())["runs"][0]["points"][0]["sparsity"] == data["runs"][0]["points"][2]["sparsity"]
    shutil.rmtree(copy_ckpt)
    sparse_update_checkpoint(root / "ckpts" / "base", copy_ckpt, {"mlp": 0.1}, seed=99)  # same names and sizes, other weights
    code, text = cli_result(*args)
    assert code == 0 and len(calls) == 1, text
    assert json.loads((tmp_path / "c.json").read_text())["runs"][0]["points"][0]["sparsity"] == expected_sparsity(tiny_model, copy_ckpt)[0]


# -- trackers, read back with their own readers ----------------------------------------------------
def test_tensorboard_has_each_checkpoint_at_its_step(sweep, report):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root, data = sweep["root"], report[0]
    acc = EventAccumulator(str(root / "tb"), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    for step in PLANTED["A"]:
        metrics = json.loads((run_dir(root, "A", step) / "metrics.json").read_text())
        for name, want in (("pass@1", metrics["pass_at_k"]["1"]), ("pass@4_ci_low", metrics["ci95"]["4"][0]), ("maj@4", metrics["maj_at_k"]["4"])):
            got = {e.step: e.value for e in acc.Scalars(f"eval/arith/{name}")}
            assert got[step] == pytest.approx(want, rel=1e-6, abs=1e-7)  # TensorBoard keeps float32
    assert "evalkit/config/text_summary" in acc.Tags()["tensors"]
    dyn = EventAccumulator(str(root / "tb-dynamics" / "A"), size_guidance={"scalars": 0})
    dyn.Reload()
    got = {e.step: e.value for e in dyn.Scalars("params/sparsity")}
    assert got == {p["step"]: pytest.approx(p["sparsity"], rel=1e-6) for p in data["runs"][0]["points"]}


def test_mlflow_has_each_checkpoint_at_its_step(sweep):
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow import MlflowClient

    root = sweep["root"]
    client = MlflowClient(tracking_uri=str(root / "mlruns"))
    (run,) = client.search_runs([client.get_experiment_by_name("evalkit").experiment_id])
    assert run.info.run_name == "ckpts/A/global_step_*" and run.data.params["benchmark"] == "arith" and run.data.params["n"] == "4"
    assert json.loads(run.data.params["sampling.temperature"]) == 1.0
    history = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "eval/arith/pass_at_1")}
    ci_high = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "eval/arith/pass_at_4_ci_high")}
    for step in PLANTED["A"]:
        metrics = json.loads((run_dir(root, "A", step) / "metrics.json").read_text())
        assert history[step] == metrics["pass_at_k"]["1"] and ci_high[step] == metrics["ci95"]["4"][1]


def wandb_records(path: Path) -> list:
    """The records of an offline W&B run file (LevelDB log framing: 7-byte W&B header, 32 KiB blocks of
    records with a 7-byte header each), decoded with wandb's own protobuf Record."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    records, pending, pos = [], b"", 7
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # block trailer
            pos += 32768 - pos % 32768
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (1, 4):  # FULL, LAST
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending + chunk)
            records.append(record)
            pending = b""
        elif kind in (2, 3):  # FIRST, MIDDLE
            pending += chunk
    return records


def test_wandb_offline_run_has_each_checkpoint_at_its_step(sweep):
    root = sweep["root"]
    (path,) = (root / "wandb").glob("offline-run-*/run-*.wandb")
    records = wandb_records(path)
    (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    config = {u.key: json.loads(u.value_json) for u in run.config.update}
    assert run.display_name == "ckpts/A/global_step_*" and config["benchmark"] == "arith" and config["ks"] == [1, 4]
    rows = [{(i.key or "/".join(i.nested_key)): json.loads(i.value_json) for i in r.history.item}
            for r in records if r.WhichOneof("record_type") == "history"]
    by_step = {row["train/global_step"]: row for row in rows}
    for step in PLANTED["A"]:
        metrics = json.loads((run_dir(root, "A", step) / "metrics.json").read_text())
        assert by_step[step]["eval/arith/pass@1"] == metrics["pass_at_k"]["1"]
        assert by_step[step]["eval/arith/tokens"] == metrics["mean_tokens"]


# -- the figure and the page ----------------------------------------------------------------------------
def test_figure_has_a_sparsity_panel(sweep, report):
    from evalkit.reports.dynamics_plot import figure

    titles = [ax.get_title() for ax in figure(report[0]).axes if ax.get_title()]
    assert titles == ["pass@1", "pass@4", "token entropy", "length and truncation", "update sparsity"]
    assert (sweep["root"] / "d.png").read_bytes()[:4] == b"\x89PNG"


def test_page_in_chromium_draws_the_reports_numbers_offline(sweep, report, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
    data, page_file = report[0], sweep["root"] / "d.html"
    html = page_file.read_text()
    assert "default-src 'none'" in html and "https://" not in html.split("evalkit-data")[0]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 950})
        requests, errors = [], []
        page.on("request", lambda r: requests.append(r.url))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(page_file.as_uri())
        page.wait_for_selector("body[data-ready]", timeout=30_000)
        assert page.evaluate("document.body.dataset.ready") == "1" and not errors
        for j, run in enumerate(data["runs"]):
            for point in run["points"]:
                at = f'[data-run="{j}"][data-step="{point["step"]}"]'
                for k in data["ks"]:
                    assert float(page.get_attribute(f'[data-fig="pass"][data-k="{k}"]{at}', "data-value")) == point["pass_at_k"][str(k)]
                    assert float(page.get_attribute(f'[data-fig="table-pass"][data-k="{k}"]{at}', "data-value")) == point["pass_at_k"][str(k)]
                    assert float(page.get_attribute(f'[data-fig="table-delta"][data-k="{k}"]{at}', "data-value")) == point["delta_vs_base"][str(k)]["diff"]
                assert float(page.get_attribute(f'[data-fig="sparsity"]{at}', "data-value")) == point["sparsity"]
                assert float(page.get_attribute(f'[data-fig="entropy"]{at}', "data-value")) == point["mean_entropy"]
                assert float(page.get_attribute(f'[data-fig="truncated"]{at}', "data-value")) == pytest.approx(point["truncated_rate"], abs=1e-15)
        assert page.inner_text("#legend").split()[:2] == ["A", "B"]
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        browser.close()
    assert requests == [page_file.as_uri()], requests  # the page itself, nothing else
