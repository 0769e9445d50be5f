"""diff-params: checkpoints built here with a planted set of changed entries; expected counts and norms
are recomputed with torch on the in-memory tensors (whole tensors, bit views, float64), independently
of the streaming reader."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors import safe_open
from safetensors.torch import save_file

from evalkit.analysis.param_diff import checkpoint_tensors, diff_checkpoints, layer_index, module_type
from evalkit.cli import main

_INT_VIEW = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}

# name -> (shape, dtype, module type by hand, layer by hand)
SPEC = {
    "model.embed_tokens.weight": ((97, 33), torch.bfloat16, "embeddings", None),
    "model.layers.0.input_layernorm.weight": ((33,), torch.float16, "norm", 0),
    "model.layers.0.self_attn.q_proj.weight": ((40, 33), torch.bfloat16, "attention", 0),
    "model.layers.0.self_attn.q_proj.bias": ((40,), torch.bfloat16, "attention", 0),
    "model.layers.0.post_attention_layernorm.weight": ((33,), torch.float32, "norm", 0),
    "model.layers.0.mlp.down_proj.weight": ((33, 71), torch.float32, "mlp", 0),
    "model.layers.1.self_attn.o_proj.weight": ((33, 40), torch.bfloat16, "attention", 1),
    "model.layers.1.mlp.gate_proj.weight": ((71, 33), torch.bfloat16, "mlp", 1),
    "model.layers.10.mlp.up_proj.weight": ((71, 33), torch.float64, "mlp", 10),
    "model.norm.weight": ((33,), torch.bfloat16, "norm", None),
    "lm_head.weight": ((97, 33), torch.bfloat16, "lm_head", None),
    "model.rotary.step": ((5,), torch.int64, "other", None),
}


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(_INT_VIEW[t.element_size()]).flatten()


def _make_pair(seed: int = 0) -> tuple[dict, dict]:
    """A base state dict and a checkpoint with changes planted at random positions, special values included."""
    g = torch.Generator().manual_seed(seed)
    base, ckpt = {}, {}
    for i, (name, (shape, dtype, _, _)) in enumerate(SPEC.items()):
        if dtype == torch.int64:
            a = torch.randint(0, 1000, shape, generator=g)
        else:
            a = torch.randn(shape, generator=g, dtype=torch.float64).to(dtype)
        b = a.clone()
        frac = [0.0, 0.01, 0.3, 1.0][i % 4]  # frozen, sparse, medium and dense updates
        mask = torch.rand(shape, generator=g) < frac
        delta = torch.randn(shape, generator=g, dtype=torch.float64) * 10.0 ** torch.randint(-5, 0, shape, generator=g)
        b[mask] = (a.double() + delta)[mask].to(dtype) if dtype != torch.int64 else a[mask] + 1
        base[name], ckpt[name] = a, b
    # NaN in both (identical bits: no update), +0 vs -0 (new bits, within any tol), finite -> NaN (an update).
    a, b = base["model.layers.0.self_attn.q_proj.bias"], ckpt["model.layers.0.self_attn.q_proj.bias"]
    a[0] = b[0] = float("nan")
    b[2] = float("nan")
    a, b = base["model.norm.weight"], ckpt["model.norm.weight"]  # apart from the NaNs so errors cannot cancel
    a[:3], b[:3] = 0.0, -0.0
    return base, ckpt


def _save_sharded(sd: dict, out: Path, groups: list[list[str]], index: bool) -> None:
    out.mkdir(parents=True)
    weight_map = {}
    for i, names in enumerate(groups):
        fname = f"model-{i + 1:05d}-of-{len(groups):05d}.safetensors"
        save_file({n: sd[n] for n in names}, str(out / fname))
        weight_map.update({n: fname for n in names})
    if index:
        (out / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> tuple[Path, Path, dict, dict]:
    base, ckpt = _make_pair()
    names = list(SPEC)
    root = tmp_path_factory.mktemp("ckpts")
    _save_sharded(base, root / "base", [names[:4], names[4:9], names[9:]], index=True)
    _save_sharded(ckpt, root / "ckpt", [names[::2], names[1::2]], index=False)  # other layout, no index
    return root / "base", root / "ckpt", base, ckpt


def _expected(a: torch.Tensor, b: torch.Tensor, tol: float) -> dict:
    same = _bits(a) == _bits(b)
    d = (b.double() - a.double()).flatten()
    d[same] = 0.0
    within = same | (d.abs() <= tol)
    return {"num_identical": int(same.sum()), "num_within_tol": int(within.sum()), "sq_update": float((d * d).sum()), "sq_base": float((a.double() ** 2).sum())}


def test_header_reading_agrees_with_safe_open(pair):
    base_dir = pair[0]
    tensors = checkpoint_tensors(base_dir)
    assert set(tensors) == set(SPEC)
    for name, e in tensors.items():
        with safe_open(str(e.path), "pt") as f:
            sl = f.get_slice(name)
            assert (e.dtype, list(e.shape)) == (sl.get_dtype(), sl.get_shape())


@pytest.mark.parametrize("chunk_bytes", [24, 1000, 1 << 20])  # chunk boundaries inside tensors, and whole tensors
def test_reports_exactly_the_planted_changes(pair, chunk_bytes):
    base_dir, ckpt_dir, base, ckpt = pair
    report = diff_checkpoints(base_dir, ckpt_dir, chunk_bytes=chunk_bytes)
    rows = {r["name"]: r for r in report["tensors"]}
    assert set(rows) == set(SPEC)
    total = {"params": 0, "identical": 0}
    for name, (shape, dtype, kind, layer) in SPEC.items():
        exp, row = _expected(base[name], ckpt[name], 0.0), rows[name]
        assert row["num_params"] == math.prod(shape)
        assert row["num_identical"] == exp["num_identical"], name
        assert row["num_within_tol"] == exp["num_within_tol"], name
        assert (row["module"], row["layer"]) == (kind, layer)
        total["params"] += math.prod(shape)
        total["identical"] += exp["num_identical"]
        if name == "model.layers.0.self_attn.q_proj.bias":
            assert row["rel_update_norm"] is None  # a weight became NaN: the norm is undefined
        else:
            assert row["rel_update_norm"] == pytest.approx(math.sqrt(exp["sq_update"] / exp["sq_base"]), rel=1e-5, abs=1e-12)
    # the planted set spans frozen, sparse and dense tensors
    assert {rows[n]["num_identical"] == rows[n]["num_params"] for n in SPEC} == {True, False}
    assert report["overall"]["num_params"] == total["params"]
    assert report["overall"]["num_identical"] == total["identical"]


def test_groups_sum_their_tensors(pair):
    base_dir, ckpt_dir, base, ckpt = pair
    report = diff_checkpoints(base_dir, ckpt_dir)
    by_kind: dict[str, list[int]] = {}
    by_layer: dict[str, list[int]] = {}
    for name, (shape, _, kind, layer) in SPEC.items():
        n_same = _expected(base[name], ckpt[name], 0.0)["num_identical"]
        for groups, key in ((by_kind, kind), (by_layer, "none" if layer is None else str(layer))):
            acc = groups.setdefault(key, [0, 0])
            acc[0] += math.prod(shape)
            acc[1] += n_same
    assert {k: [v["num_params"], v["num_identical"]] for k, v in report["by_module"].items()} == by_kind
    assert {k: [v["num_params"], v["num_identical"]] for k, v in report["by_layer"].items()} == by_layer
    assert list(report["by_layer"]) == ["0", "1", "10", "none"]


@pytest.mark.parametrize("tol", [1e-6, 3e-4, 0.05, 10.0])
def test_tol_counts_small_updates_as_unchanged(pair, tol):
    base_dir, ckpt_dir, base, ckpt = pair
    rows = {r["name"]: r for r in diff_checkpoints(base_dir, ckpt_dir, tol=tol)["tensors"]}
    for name in SPEC:
        assert rows[name]["num_within_tol"] == _expected(base[name], ckpt[name], tol)["num_within_tol"], name
        assert rows[name]["num_identical"] <= rows[name]["num_within_tol"]


def test_cli_prints_tables_and_writes_json(pair, tmp_path):
    base_dir, ckpt_dir, base, ckpt = pair
    out = tmp_path / "diff.json"
    res = CliRunner().invoke(main, ["diff-params", str(base_dir), str(ckpt_dir), "--tol", "0.05", "--json", str(out)])
    assert res.exit_code == 0, res.output
    report = json.loads(out.read_text())
    assert report["tol"] == 0.05 and report["num_tensors"] == len(SPEC)
    for kind in ("attention", "mlp", "embeddings", "norm", "lm_head"):
        assert any(line.startswith(kind + " ") for line in res.output.splitlines()), kind
    changed = sum(int(torch.sum(_bits(base[n]) != _bits(ckpt[n]))) for n in SPEC)
    overall = next(line for line in res.output.splitlines() if line.startswith("overall"))
    assert f"{changed:,}" in overall.split()


def _mutate(src: Path, dst: Path, fn) -> None:
    sd = {}
    for f in sorted(src.glob("*.safetensors")):
        with safe_open(str(f), "pt") as h:
            sd.update({k: h.get_tensor(k) for k in h.keys()})
    fn(sd)
    dst.mkdir()
    save_file(sd, str(dst / "model.safetensors"))


@pytest.mark.parametrize("change, message", [
    (lambda sd: sd.pop("model.norm.weight"), "'model.norm.weight' is in BASE but not in CKPT"),
    (lambda sd: sd.update({"extra.weight": torch.zeros(2)}), "'extra.weight' is in CKPT but not in BASE"),
    (lambda sd: sd.update({"lm_head.weight": torch.zeros(98, 33, dtype=torch.bfloat16)}), "'lm_head.weight' has shape [97, 33] in BASE but [98, 33]"),
    (lambda sd: sd.update({"lm_head.weight": sd["lm_head.weight"].float()}), "'lm_head.weight' is BF16 in BASE but F32 in CKPT"),
])
def test_mismatch_is_one_line_error_naming_the_tensor(pair, tmp_path, change, message):
    base_dir = pair[0]
    _mutate(base_dir, tmp_path / "bad", change)
    out = tmp_path / "diff.json"
    res = CliRunner().invoke(main, ["diff-params", str(base_dir), str(tmp_path / "bad"), "--json", str(out)])
    assert res.exit_code == 1
    assert res.output.startswith("error: ") and message in res.output and len(res.output.strip().splitlines()) == 1, res.output
    assert not out.exists()


def test_missing_or_empty_checkpoint_or_bad_tol_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    for path, message in ((tmp_path / "nope", "does not exist"), (tmp_path / "empty", "no *.safetensors")):
        res = CliRunner().invoke(main, ["diff-params", str(path), str(path)])
        assert res.exit_code == 1 and message in res.output, res.output
    res = CliRunner().invoke(main, ["diff-params", str(tmp_path), str(tmp_path), "--tol", "-1"])
    assert res.exit_code == 1 and "--tol -1.0 must be a finite number >= 0" in res.output, res.output


def test_module_and_layer_names():
    cases = {
        "transformer.h.3.attn.c_attn.weight": ("attention", 3), "transformer.h.3.mlp.c_fc.weight": ("mlp", 3),
        "transformer.h.3.ln_1.weight": ("norm", 3), "transformer.wte.weight": ("embeddings", None),
        "transformer.ln_f.bias": ("norm", None), "model.layers.7.self_attn.q_norm.weight": ("norm", 7),
        "model.layers.2.block_sparse_moe.experts.0.w1.weight": ("mlp", 2), "score.weight": ("other", None),
        "gpt_neox.layers.4.attention.dense.weight": ("attention", 4), "embed_out.weight": ("lm_head", None),
        "output.weight": ("lm_head", None), "layers.5.attention.wo.weight": ("attention", 5),
        "layers.5.feed_forward.w2.weight": ("mlp", 5), "layers.5.attention_norm.weight": ("norm", 5),
        "bert.encoder.layer.2.attention.output.dense.weight": ("attention", 2),
    }
    assert {n: (module_type(n), layer_index(n)) for n in cases} == cases


_MEASURE = """
import sys, numpy
from evalkit.analysis.param_diff import diff_checkpoints
def hwm():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) * 1024
before = hwm()
r = diff_checkpoints(sys.argv[1], sys.argv[2], chunk_bytes=256 << 10, workers=2)
print(hwm() - before, r["bytes_per_side"], r["overall"]["num_identical"], r["overall"]["num_params"])
"""


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak RSS is read from /proc")
def test_memory_stays_bounded_on_a_multi_shard_checkpoint(tmp_path):
    """Peak RSS growth while diffing 2 x 64 MB stays far below one side (a naive diff holds both)."""
    g = torch.Generator().manual_seed(1)
    changed = 0
    for root in ("base", "ckpt"):
        (tmp_path / root).mkdir()
    for s in range(4):
        base = {f"model.layers.{4 * s + i}.mlp.up_proj.weight": torch.randn(1024, 2048, generator=g).to(torch.bfloat16) for i in range(4)}
        ckpt = {name: t.clone() for name, t in base.items()}
        for name, t in ckpt.items():
            t[::7] += 1.0  # every 7th row moves
            changed += int(torch.sum(_bits(t) != _bits(base[name])))
        save_file(base, str(tmp_path / "base" / f"model-{s}.safetensors"))
        save_file(ckpt, str(tmp_path / "ckpt" / f"model-{s}.safetensors"))
        del base, ckpt
    proc = subprocess.run([sys.executable, "-c", _MEASURE, str(tmp_path / "base"), str(tmp_path / "ckpt")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    growth, per_side, identical, params = map(int, proc.stdout.split())
    assert per_side == 64 << 20
    assert params - identical == changed
    print(f"peak RSS growth {growth / 2**20:.1f} MiB")
    assert growth < per_side / 4, f"peak RSS grew {growth / 2**20:.0f} MiB diffing 2 x {per_side / 2**20:.0f} MiB"


def test_hf_sharded_checkpoint_of_the_tiny_model(tiny_model, tmp_path):
    """save_pretrained's own shards + index: the changed count matches the two state dicts."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.bfloat16)
    model.save_pretrained(tmp_path / "base", max_shard_size="300KB")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        model.model.layers[1].mlp.down_proj.weight[:, ::5] *= 1.5
        model.model.layers[0].self_attn.k_proj.bias.add_(1e-3)
    model.save_pretrained(tmp_path / "ckpt", max_shard_size="300KB")
    assert (tmp_path / "base" / "model.safetensors.index.json").exists()
    report = diff_checkpoints(tmp_path / "base", tmp_path / "ckpt", workers=2)
    after = model.state_dict()
    saved = {r["name"] for r in report["tensors"]}
    expected = {k: int(torch.sum(_bits(before[k]) != _bits(after[k]))) for k in saved}
    assert {r["name"]: r["num_params"] - r["num_identical"] for r in report["tensors"]} == expected
    assert expected["model.layers.1.mlp.down_proj.weight"] > 0 and expected["model.layers.0.self_attn.k_proj.bias"] > 0
    assert report["by_module"]["attention"]["num_identical"] < report["by_module"]["attention"]["num_params"]


def test_truncated_shard_is_an_error(pair, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(pair[0], bad)
    shard = sorted(bad.glob("*.safetensors"))[-1]
    shard.write_bytes(shard.read_bytes()[:-10])
    res = CliRunner().invoke(main, ["diff-params", str(pair[0]), str(bad)])
    assert res.exit_code == 1 and "truncated or corrupt" in res.output and len(res.output.splitlines()) == 1, res.output
